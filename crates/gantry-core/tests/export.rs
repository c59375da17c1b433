//! Checkpoint 9 end to end on the synthetic dump: what the safe export writes is valid
//! DICOM, carries no planted identifier anywhere, has its burned-in band blank, and is
//! the same bytes every time; what it blocks is listed with its reason.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use dicom_dictionary_std::tags;
use dicom_pixeldata::PixelDecoder;
mod common;
use common::{dicom_files, files_under, write_instance};
use gantry_core::{Secret, Session};
use gantry_synth::{Device, DumpSpec, SyntheticDump, generate};

const CONFIG: &str = r#"
version: "2.0"
privacy_profile: basic
profile_options: [retain_longitudinal_modified_dates]
date_jitter: { min_days: -400, max_days: -30 }
"#;

fn secret() -> Secret {
    Secret::from_hex(&"3c".repeat(32)).unwrap()
}

/// Rules for every device that burns text in, except the screen capture workstation.
fn rules_without_screen_capture(dump: &SyntheticDump) -> String {
    dump.machine_rules_for(|d| d != Device::ScreenCapture)
}

/// A session in `dir` with the dump ingested and `config` loaded.
fn configured(dir: &Path, dump: &SyntheticDump, config: &str) -> Session {
    let mut session = Session::builder()
        .database(dir.join("gantry.db"))
        .secret(secret())
        .open()
        .unwrap();
    session.ingest(&dump.root).unwrap();
    let path = dir.join("config.yaml");
    std::fs::write(&path, config).unwrap();
    session.load_config(&path).unwrap();
    session
}

fn run_pipeline(
    dir: &Path,
    dump: &SyntheticDump,
    config: &str,
    out: &Path,
) -> (Session, gantry_core::ExportReport) {
    let mut session = configured(dir, dump, config);
    session.audit().unwrap();
    session.anonymize_metadata().unwrap();
    let redacted = session.redact_pixels().unwrap();
    assert!(redacted.failed.is_empty(), "{redacted}");
    let report = session.export(out).run().unwrap();
    (session, report)
}

#[test]
fn safe_export_writes_only_clean_valid_files_and_blocks_the_rest_with_reasons() {
    let dir = tempfile::tempdir().unwrap();
    let dump = generate(&dir.path().join("dump"), &DumpSpec::default()).unwrap();
    let config = format!("{CONFIG}{}", rules_without_screen_capture(&dump));
    let out = dir.path().join("out");
    let (session, report) = run_pipeline(dir.path(), &dump, &config, &out);

    // Blocked: exactly the screen captures (text where no rule looks), each with a reason.
    let screen: BTreeSet<PathBuf> = dump
        .instances
        .iter()
        .filter(|i| i.device == Device::ScreenCapture)
        .map(|i| i.path.canonicalize().unwrap())
        .collect();
    assert!(!screen.is_empty());
    let blocked: BTreeSet<PathBuf> = report
        .blocked
        .iter()
        .map(|b| b.source_path.clone())
        .collect();
    assert_eq!(blocked, screen, "{report}");
    for b in &report.blocked {
        assert!(
            b.reasons.iter().any(|r| r.contains("no machine rule")),
            "{:?}",
            b.reasons
        );
    }
    assert_eq!(
        report.written as usize,
        dump.expected_indexed() - screen.len(),
        "{report}"
    );
    assert!(report.safe);

    // Every file is valid DICOM that dicom-rs reads back, with its pixels.
    let files: Vec<PathBuf> = dicom_files(&out);
    assert_eq!(files.len() as u64, report.written);
    // A byte scan of all output: no planted identifier in any letter case, with `^` as a
    // space too.
    let planted: Vec<String> = dump
        .planted_identifiers()
        .into_iter()
        .flat_map(|p| [p.clone(), p.replace('^', " ")])
        .collect();
    let scanner = aho_corasick::AhoCorasick::builder()
        .ascii_case_insensitive(true)
        .build(&planted)
        .unwrap();
    for file in files_under(&out) {
        let bytes = std::fs::read(&file).unwrap();
        if let Some(m) = scanner.find(&bytes) {
            panic!(
                "{:?} found in {}",
                planted[m.pattern().as_usize()],
                file.display()
            );
        }
    }
    let mut banded = 0;
    for file in &files {
        let obj = dicom_object::open_file(file).unwrap();
        assert_eq!(
            obj.element(tags::PATIENT_IDENTITY_REMOVED)
                .unwrap()
                .to_str()
                .unwrap()
                .trim(),
            "YES"
        );
        let sop = obj
            .element(tags::SOP_INSTANCE_UID)
            .unwrap()
            .to_str()
            .unwrap()
            .trim_end_matches('\0')
            .to_string();
        assert_eq!(
            obj.meta()
                .media_storage_sop_instance_uid()
                .trim_end_matches('\0'),
            sop
        );
        let burned = obj
            .element(tags::BURNED_IN_ANNOTATION)
            .ok()
            .map(|e| e.to_str().unwrap().trim().to_string());
        assert_ne!(burned.as_deref(), Some("YES"), "{}", file.display());
        if burned.as_deref() == Some("NO") {
            banded += 1;
        }
        obj.decode_pixel_data().unwrap();
    }
    assert!(banded > 0, "redacted ultrasound was exported");
    // The manifest lists every file, pseudonymous values only (scanned above).
    let csv = std::fs::read_to_string(&report.manifest_csv).unwrap();
    assert_eq!(csv.lines().count() as u64, report.written + 1);
    drop(session);
}

#[test]
fn two_runs_with_the_same_secret_write_identical_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let dump = generate(&dir.path().join("dump"), &DumpSpec::default()).unwrap();
    let config = format!("{CONFIG}{}", dump.machine_rules());
    let a = dir.path().join("a");
    let b = dir.path().join("b");
    std::fs::create_dir_all(&a).unwrap();
    std::fs::create_dir_all(&b).unwrap();
    let (_, first) = run_pipeline(&a, &dump, &config, &a.join("out"));
    let (_, second) = run_pipeline(&b, &dump, &config, &b.join("out"));
    assert!(first.is_complete(), "{first}");
    let list = |root: &Path| -> Vec<(PathBuf, Vec<u8>)> {
        files_under(root)
            .into_iter()
            .map(|p| {
                (
                    p.strip_prefix(root).unwrap().to_path_buf(),
                    std::fs::read(&p).unwrap(),
                )
            })
            .collect()
    };
    let (x, y) = (list(&a.join("out")), list(&b.join("out")));
    assert_eq!(x.len(), y.len());
    for ((pa, ba), (pb, bb)) in x.iter().zip(y.iter()) {
        assert_eq!(pa, pb);
        assert!(ba == bb, "{} differs", pa.display());
    }
    assert_eq!(second.written, first.written);
}

#[test]
fn exporting_again_rewrites_nothing_and_a_newly_blocked_file_is_removed() {
    let dir = tempfile::tempdir().unwrap();
    let dump = generate(&dir.path().join("dump"), &DumpSpec::default()).unwrap();
    let config = format!("{CONFIG}{}", dump.machine_rules());
    let out = dir.path().join("out");
    let (mut session, first) = run_pipeline(dir.path(), &dump, &config, &out);
    assert!(first.is_complete(), "{first}");
    let again = session.export(&out).run().unwrap();
    assert_eq!(again.written, 0);
    assert_eq!(again.unchanged, first.written);

    // Drop the rules: the ultrasound is unsafe now, and its files must go.
    let path = dir.path().join("config.yaml");
    std::fs::write(&path, CONFIG).unwrap();
    session.load_config(&path).unwrap();
    session.audit().unwrap();
    session.anonymize_metadata().unwrap();
    session.redact_pixels().unwrap();
    let third = session.export(&out).run().unwrap();
    assert!(!third.blocked.is_empty());
    assert_eq!(third.removed as usize, third.blocked.len());
    let left = dicom_files(&out).len();
    assert_eq!(left as u64, third.unchanged + third.written);
}

#[test]
fn float_pixel_data_that_may_carry_text_is_blocked() {
    use dicom_core::{DataElement, PrimitiveValue, VR};
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("input");
    std::fs::create_dir_all(&input).unwrap();
    let obj = dicom_object::InMemDicomObject::from_element_iter([
        DataElement::new(
            tags::SOP_CLASS_UID,
            VR::UI,
            PrimitiveValue::from("1.2.840.10008.5.1.4.1.1.30"),
        ),
        DataElement::new(
            tags::SOP_INSTANCE_UID,
            VR::UI,
            PrimitiveValue::from("1.2.3.4.5.6"),
        ),
        DataElement::new(tags::PATIENT_ID, VR::LO, PrimitiveValue::from("P1")),
        DataElement::new(tags::MODALITY, VR::CS, PrimitiveValue::from("OT")),
        DataElement::new(tags::ROWS, VR::US, PrimitiveValue::from(2u16)),
        DataElement::new(tags::COLUMNS, VR::US, PrimitiveValue::from(2u16)),
        DataElement::new(
            tags::FLOAT_PIXEL_DATA,
            VR::OF,
            PrimitiveValue::F32(smallvec::smallvec![0f32, 1.0, 2.0, 3.0]),
        ),
    ]);
    write_instance(&input.join("map.dcm"), obj);
    let mut session = Session::builder()
        .database(dir.path().join("g.db"))
        .open()
        .unwrap();
    session.ingest(&input).unwrap();
    let config = dir.path().join("config.yaml");
    std::fs::write(&config, "version: \"2.0\"\n").unwrap();
    session.load_config(&config).unwrap();
    session.audit().unwrap();
    session.anonymize_metadata().unwrap();
    let report = session.export(dir.path().join("out")).run().unwrap();
    assert_eq!(report.written, 0);
    assert!(
        report.blocked[0].reasons.iter().any(
            |r| r.contains("float pixel data") && r.contains("fix: no zone and no text search")
        ),
        "{report}"
    );
    // Nothing says a CT's float map carries text, but nothing can look either: blocked.
    let mut ct = dicom_object::open_file(input.join("map.dcm")).unwrap();
    ct.put(DataElement::new(
        tags::MODALITY,
        VR::CS,
        PrimitiveValue::from("CT"),
    ));
    ct.write_to_file(input.join("map.dcm")).unwrap();
    session.ingest(&input).unwrap();
    session.audit().unwrap();
    session.anonymize_metadata().unwrap();
    let report = session.export(dir.path().join("out")).run().unwrap();
    assert_eq!(report.written, 0, "{report}");
}

#[test]
fn a_block_names_its_first_cause_not_only_the_missing_step() {
    let dir = tempfile::tempdir().unwrap();
    let dump = generate(&dir.path().join("dump"), &DumpSpec::default()).unwrap();
    let config = format!("{CONFIG}{}", dump.machine_rules());
    let mut session = configured(dir.path(), &dump, &config);

    // Redact cannot read one file: it changed after ingest (an operator's copy, a disk
    // error). Its block says so, not "run redact".
    let victim = dump
        .instances
        .iter()
        .find(|i| i.burned_in_band.is_some())
        .expect("a device that burns text in");
    let bytes = std::fs::read(&victim.path).unwrap();
    std::fs::write(&victim.path, &bytes[..bytes.len() - 100]).unwrap();
    let redact = session.redact_pixels().unwrap();
    assert_eq!(redact.failed.len(), 1, "{redact}");

    // Anonymize refuses everything: reversible mode is on and nothing was sealed.
    let key = gantry_core::KeyFile::create(dir.path().join("k.key")).unwrap();
    session.enable_reversible_anonymization(key).unwrap();
    session.audit().unwrap();
    let anonymized = session.anonymize_metadata().unwrap();
    assert!(!anonymized.failed.is_empty());

    let report = session.export(dir.path().join("out")).run().unwrap();
    assert_eq!(report.written, 0, "{report}");
    for blocked in &report.blocked {
        let reasons = blocked.reasons.join("; ");
        assert!(
            reasons.contains("anonymize failed: originals are not sealed"),
            "{}: {reasons}",
            blocked.source_path.display()
        );
    }
    // With the seal in place, the header blocks go; the redact failure stays named.
    session.audit().unwrap();
    session.preserve_identities().unwrap();
    session.anonymize_metadata().unwrap();
    let export = session.export(dir.path().join("out")).run().unwrap();
    let victim_block = export
        .blocked
        .iter()
        .find(|b| b.source_path == victim.path)
        .expect("the changed file is blocked");
    let reasons = victim_block.reasons.join("; ");
    assert!(
        reasons.contains("redact failed") && reasons.contains("changed since it was indexed"),
        "{reasons}"
    );
    assert!(!reasons.contains("run redact"), "{reasons}");
}

#[test]
fn a_safe_private_attribute_is_exported_with_its_creator() {
    use dicom_core::{DataElement, PrimitiveValue, Tag, VR};
    use dicom_dictionary_std::tags;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir(&data).unwrap();
    let mut obj = dicom_object::InMemDicomObject::new_empty();
    for (tag, vr, value) in [
        (tags::SOP_CLASS_UID, VR::UI, "1.2.840.10008.5.1.4.1.1.2"),
        (tags::SOP_INSTANCE_UID, VR::UI, "1.2.826.0.1.3680043.9.89.1"),
        (tags::PATIENT_ID, VR::LO, "P1"),
        (tags::MODALITY, VR::CS, "CT"),
        (Tag(0x0009, 0x0010), VR::LO, "ACME 1.1"),
        (Tag(0x0009, 0x1010), VR::LO, "KERNEL B30F"),
        (Tag(0x0009, 0x1011), VR::LO, "not declared safe"),
    ] {
        obj.put(DataElement::new(tag, vr, PrimitiveValue::from(value)));
    }
    common::write_instance(&data.join("a.dcm"), obj);
    let work = dir.path().join("work");
    std::fs::create_dir(&work).unwrap();
    let export = common::run_checkpoints(
        &work,
        &data,
        "version: \"2.0\"\nprofile_options: [retain_safe_private]\nsafe_private_tags:\n  - { group: 0x0009, creator: \"ACME 1.1\", element: 0x10 }\n",
        true,
    );
    assert_eq!(export.written, 1, "{export}");
    let out = dicom_object::open_file(&common::dicom_files(&work.join("out"))[0]).unwrap();
    let text = |tag| {
        out.element(tag)
            .ok()
            .map(|e| e.to_str().unwrap().trim().to_string())
    };
    // The safe attribute keeps the creator that says what it is; the rest of the block goes.
    assert_eq!(text(Tag(0x0009, 0x0010)).as_deref(), Some("ACME 1.1"));
    assert_eq!(text(Tag(0x0009, 0x1010)).as_deref(), Some("KERNEL B30F"));
    assert!(text(Tag(0x0009, 0x1011)).is_none());
}
