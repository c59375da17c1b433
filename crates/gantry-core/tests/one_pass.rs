//! One pass per instance: audit decodes each original header once and plans what seal and
//! anonymize do; they act on the plan without decoding an original again, in this process
//! or in a later one. Alone in its binary: the decode counters are per process, and a
//! test running beside it would add its own decodes.

mod common;

use gantry_core::{KeyFile, Session, decode_counts};
use gantry_synth::{DumpSpec, generate};

#[test]
fn seal_and_anonymize_act_on_the_audits_plan_without_decoding_an_original() {
    let dir = tempfile::tempdir().unwrap();
    let dump = generate(&dir.path().join("dump"), &DumpSpec::many_small_files(120)).unwrap();
    let config = dir.path().join("config.yaml");
    std::fs::write(
        &config,
        format!("version: \"2.0\"\n{}", dump.machine_rules()),
    )
    .unwrap();
    let database = dir.path().join("gantry.db");
    let key_path = dir.path().join("master.key");
    let indexed = {
        let mut session = Session::open(&database).unwrap();
        let ingest = session.ingest(&dump.root).unwrap();
        session.load_config(&config).unwrap();
        let before = decode_counts();
        session.audit().unwrap();
        let after = decode_counts();
        // Identities come from what ingest kept (no decode), then each instance is
        // audited and planned from one decode: never a second.
        assert_eq!(after.original - before.original, ingest.indexed);
        ingest.indexed
    };

    // A later process, as the CLI's `lock` and `anonymize` are: it resumes from the plans.
    let mut session = Session::open(&database).unwrap();
    session.last_audit().unwrap();
    session
        .enable_reversible_anonymization(KeyFile::create_or_open(&key_path).unwrap())
        .unwrap();
    let before = decode_counts();
    let sealed = session.preserve_identities().unwrap();
    let anonymized = session.anonymize_metadata().unwrap();
    let after = decode_counts();
    assert_eq!(sealed.sealed, indexed, "{sealed}");
    assert!(anonymized.failed.is_empty(), "{anonymized}");
    assert_eq!(anonymized.written, indexed);
    assert_eq!(
        (
            after.original - before.original,
            after.deidentified - before.deidentified
        ),
        (0, 0),
        "seal and anonymize decoded headers instead of acting on the plans"
    );

    // What they wrote is what verify and export accept: every header carries its seal,
    // and the planted identities are gone.
    // Redact reads only the pixel module and the device of each image: no original is
    // decoded whole when no machine rule has conditions.
    let before = decode_counts();
    let redacted = session.redact_pixels().unwrap();
    let after = decode_counts();
    assert!(redacted.redacted > 0, "{redacted}");
    assert_eq!(after.original - before.original, 0, "{redacted}");
    assert!(
        after.partial - before.partial >= redacted.redacted,
        "{redacted}"
    );
    // Verify checks the header export writes, decoded once, against what audit planned
    // from its decode of the original: no original is decoded whole again. Export's gate
    // then reuses verify's verdicts.
    let before = decode_counts();
    let verify = session.verify().unwrap();
    let after = decode_counts();
    assert_eq!(
        (
            after.original - before.original,
            after.deidentified - before.deidentified
        ),
        (0, indexed),
        "{verify}"
    );
    let out = dir.path().join("out");
    let before = decode_counts();
    let export = session.export(&out).run().unwrap();
    let after = decode_counts();
    assert_eq!(
        (
            after.original - before.original,
            after.deidentified - before.deidentified
        ),
        (0, 0),
        "{export}"
    );
    assert!(export.written > 0, "{export}\n{verify}");
    let planted = dump.planted_identifiers();
    let mut sealed_files = 0;
    for path in common::files_under(&out) {
        if path.extension().is_none_or(|e| e != "dcm") {
            continue;
        }
        let bytes = std::fs::read(&path).unwrap();
        for identifier in &planted {
            assert!(
                !contains(&bytes, identifier.as_bytes()),
                "{identifier} left in {}",
                path.display()
            );
        }
        let object = dicom_object::open_file(&path).unwrap();
        if object
            .element(gantry_crypto_tag())
            .is_ok_and(|e| e.items().is_some_and(|i| i.len() == 1))
        {
            sealed_files += 1;
        }
    }
    assert_eq!(
        sealed_files as u64, export.written,
        "every exported file is sealed"
    );
}

fn gantry_crypto_tag() -> dicom_core::Tag {
    dicom_core::Tag(0x0400, 0x0500)
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && haystack.windows(needle.len()).any(|w| w == needle)
}
