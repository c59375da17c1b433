//! Checkpoint 5 end to end: originals sealed before anonymize, carried in every exported
//! file, recovered with the key or the password and with nothing else.

use std::path::PathBuf;

use dicom_dictionary_std::tags;
mod common;
use common::{dicom_files, write_instance};
use gantry_core::{Credential, KeyFile, Secret, Session, recover_identities};
use gantry_synth::{DumpSpec, SyntheticDump, generate};

const CONFIG: &str = r#"
version: "2.0"
profile_options: [retain_longitudinal_modified_dates]
"#;

struct Fixture {
    dir: tempfile::TempDir,
    dump: SyntheticDump,
    session: Session,
}

fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let dump = generate(&dir.path().join("dump"), &DumpSpec::default()).unwrap();
    let mut session = Session::builder()
        .database(dir.path().join("gantry.db"))
        .secret(Secret::from_hex(&"77".repeat(32)).unwrap())
        .open()
        .unwrap();
    session.ingest(&dump.root).unwrap();
    let path = dir.path().join("config.yaml");
    std::fs::write(&path, format!("{CONFIG}{}", dump.machine_rules())).unwrap();
    session.load_config(&path).unwrap();
    Fixture { dir, dump, session }
}

#[test]
fn anonymize_refuses_what_is_not_sealed_when_reversible() {
    let Fixture {
        dir,
        dump,
        mut session,
    } = fixture();
    let key = KeyFile::create(dir.path().join("master.key")).unwrap();
    session.enable_reversible_anonymization(key).unwrap();
    session.audit().unwrap();
    let anonymized = session.anonymize_metadata().unwrap();
    assert_eq!(
        anonymized.failed.len(),
        dump.expected_indexed(),
        "{anonymized}"
    );
    assert!(anonymized.failed[0].detail.contains("not sealed"));
    session.redact_pixels().unwrap();
    let report = session.export(dir.path().join("out")).run().unwrap();
    assert_eq!(report.written, 0);
    assert_eq!(report.blocked.len(), dump.expected_indexed());

    // A later session on the same database remembers the requirement, without the key.
    let db = session.database().to_path_buf();
    drop(session);
    let mut again = Session::open(&db).unwrap();
    again.audit().unwrap();
    assert_eq!(again.anonymize_metadata().unwrap().written, 0);
}

#[test]
fn sealed_originals_travel_with_the_files_and_only_the_key_or_password_opens_them() {
    let Fixture {
        dir,
        dump,
        mut session,
    } = fixture();
    let key_path = dir.path().join("master.key");
    let key = KeyFile::create(&key_path).unwrap();
    let secret_hex = key.secret_hex().to_string();
    session
        .enable_reversible_anonymization_with_password(key.clone(), "open sesame")
        .unwrap();
    session.audit().unwrap();
    let sealed = session.preserve_identities().unwrap();
    assert_eq!(sealed.sealed as usize, dump.expected_indexed(), "{sealed}");
    assert!(sealed.password);
    // Sealing again with nothing changed seals nothing.
    assert_eq!(
        session.preserve_identities().unwrap().unchanged,
        sealed.sealed
    );
    let anonymized = session.anonymize_metadata().unwrap();
    assert!(anonymized.failed.is_empty(), "{anonymized}");
    session.redact_pixels().unwrap();
    let verify = session.verify().unwrap();
    assert!(verify.is_clean(), "{verify}");
    let out = dir.path().join("out");
    let report = session.export(&out).run().unwrap();
    assert!(report.is_complete(), "{report}");

    // The key never reaches the output.
    for file in dicom_files(&out) {
        let bytes = std::fs::read(&file).unwrap();
        let text = String::from_utf8_lossy(&bytes).to_lowercase();
        assert!(!text.contains(&secret_hex));
        assert!(!bytes.windows(16).any(|w| hex::encode(w) == secret_hex));
    }

    // The key and the password each recover every file's originals.
    let truth = &dump.instances[0];
    let patient = &dump.patients[truth.patient];
    for credential in [Credential::Key(&key), Credential::Password("open sesame")] {
        let recovered = recover_identities(&out, credential, None).unwrap();
        assert!(recovered.failed.is_empty(), "{recovered}");
        assert_eq!(recovered.recovered.len() as u64, report.written);
        assert!(recovered.recovered.iter().any(|f| {
            f.originals
                .get("0010,0010")
                .is_some_and(|n| n.trim() == patient.dicom_name())
        }));
    }

    // Anything else gets a specific error for every file.
    let other = KeyFile::create(dir.path().join("other.key")).unwrap();
    let wrong_key = recover_identities(&out, Credential::Key(&other), None).unwrap();
    assert!(wrong_key.recovered.is_empty());
    assert!(
        wrong_key
            .failed
            .iter()
            .all(|f| f.detail.contains("sealed for key")),
        "{wrong_key}"
    );
    let wrong_password = recover_identities(&out, Credential::Password("guess"), None).unwrap();
    assert!(
        wrong_password
            .failed
            .iter()
            .all(|f| f.detail.contains("wrong password")),
        "{wrong_password}"
    );

    // Re-identified copies carry the originals, UIDs included.
    let back = dir.path().join("back");
    let recovered = recover_identities(&out, Credential::Key(&key), Some(&back)).unwrap();
    let mut names = std::collections::BTreeSet::new();
    let mut originals: std::collections::BTreeSet<String> = dump
        .instances
        .iter()
        .map(|i| i.sop_instance_uid.clone())
        .collect();
    if let Some(path) = &dump.without_meta {
        let header = gantry_store::read_source(path).unwrap().header;
        originals.insert(
            header
                .get(tags::SOP_INSTANCE_UID)
                .unwrap()
                .to_str()
                .unwrap()
                .trim_end_matches('\0')
                .to_string(),
        );
    }
    // They hold identities again: owner-only, like the database.
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&back), 0o700);
        for file in &recovered.recovered {
            assert_eq!(mode(file.written.as_ref().unwrap()), 0o600);
        }
    }
    for file in &recovered.recovered {
        let copy = dicom_object::open_file(file.written.as_ref().unwrap()).unwrap();
        let sop = copy
            .element(tags::SOP_INSTANCE_UID)
            .unwrap()
            .to_str()
            .unwrap()
            .trim_end_matches('\0')
            .to_string();
        assert!(originals.contains(&sop), "{sop}");
        assert_eq!(
            copy.meta()
                .media_storage_sop_instance_uid()
                .trim_end_matches('\0'),
            sop
        );
        assert_eq!(
            copy.element(tags::PATIENT_IDENTITY_REMOVED)
                .unwrap()
                .to_str()
                .unwrap()
                .trim(),
            "NO"
        );
        assert!(copy.element(gantry_crypto_tag()).is_err());
        names.insert(
            copy.element(tags::PATIENT_NAME)
                .unwrap()
                .to_str()
                .unwrap()
                .trim()
                .to_string(),
        );
    }
    assert!(names.contains(&patient.dicom_name()));

    // A damaged file gets its reason, and the rest are recovered. One has a private
    // element before its pixel data claiming 3 GB, one such an element after them: dicom-rs,
    // which reads a whole file to write its copy, would zero-fill 3 GB for each.
    let claim = |bytes: &mut Vec<u8>, at: usize| {
        let mut element = vec![0x09, 0x00, 0x01, 0x10, b'O', b'B', 0, 0];
        element.extend_from_slice(&0xC000_0000u32.to_le_bytes());
        element.extend_from_slice(&[0; 4]);
        bytes.splice(at..at, element);
    };
    let with_pixels: Vec<PathBuf> = dicom_files(&out)
        .into_iter()
        .filter(|p| {
            let bytes = std::fs::read(p).unwrap();
            bytes
                .windows(5)
                .any(|w| w == [0xE0, 0x7F, 0x10, 0x00, b'O'])
        })
        .take(2)
        .collect();
    assert_eq!(with_pixels.len(), 2);
    let mut before = std::fs::read(&with_pixels[0]).unwrap();
    let pixels_at = before
        .windows(5)
        .position(|w| w == [0xE0, 0x7F, 0x10, 0x00, b'O'])
        .unwrap();
    claim(&mut before, pixels_at);
    std::fs::write(&with_pixels[0], before).unwrap();
    let mut after = std::fs::read(&with_pixels[1]).unwrap();
    let end = after.len();
    claim(&mut after, end);
    std::fs::write(&with_pixels[1], after).unwrap();
    let damaged = recover_identities(&out, Credential::Key(&key), None).unwrap();
    assert_eq!(
        damaged.recovered.len() as u64,
        report.written - 2,
        "{damaged}"
    );
    let detail = |path: &PathBuf| {
        damaged
            .failed
            .iter()
            .find(|f| f.path == *path)
            .map(|f| f.detail.clone())
            .unwrap_or_default()
    };
    assert!(detail(&with_pixels[0]).contains("(0009,1001)"), "{damaged}");
    assert!(
        detail(&with_pixels[1]).contains("after its Pixel Data"),
        "{damaged}"
    );
}

fn gantry_crypto_tag() -> dicom_core::Tag {
    dicom_core::Tag(0x0400, 0x0500)
}

/// Where the value of Encrypted Content (0400,0520) lies in an exported file (Explicit VR
/// Little Endian: tag, `OB`, two reserved bytes, a 4-byte length).
fn encrypted_content_range(bytes: &[u8]) -> std::ops::Range<usize> {
    let at = bytes
        .windows(6)
        .position(|w| w == [0x00, 0x04, 0x20, 0x05, b'O', b'B'])
        .expect("an Encrypted Content element");
    let len = u32::from_le_bytes(bytes[at + 8..at + 12].try_into().unwrap()) as usize;
    at + 12..at + 12 + len
}

#[test]
fn two_sealed_runs_differ_only_inside_encrypted_content() {
    let dir = tempfile::tempdir().unwrap();
    let key = KeyFile::create(dir.path().join("master.key")).unwrap();
    let mut outputs = Vec::new();
    for run in 0..2 {
        let Fixture {
            dir: work,
            dump: _,
            mut session,
        } = fixture();
        session
            .enable_reversible_anonymization(key.clone())
            .unwrap();
        session.audit().unwrap();
        session.preserve_identities().unwrap();
        session.anonymize_metadata().unwrap();
        session.redact_pixels().unwrap();
        let out = dir.path().join(format!("out{run}"));
        assert!(session.export(&out).run().unwrap().is_complete());
        outputs.push(out);
        drop(work);
    }
    let (a, b) = (dicom_files(&outputs[0]), dicom_files(&outputs[1]));
    assert_eq!(a.len(), b.len());
    assert!(!a.is_empty());
    for (fa, fb) in a.iter().zip(&b) {
        assert_eq!(
            fa.strip_prefix(&outputs[0]).unwrap(),
            fb.strip_prefix(&outputs[1]).unwrap()
        );
        let (x, y) = (std::fs::read(fa).unwrap(), std::fs::read(fb).unwrap());
        assert_eq!(x.len(), y.len(), "{}", fa.display());
        let sealed = encrypted_content_range(&x);
        assert_eq!(sealed, encrypted_content_range(&y));
        let differing: Vec<usize> = (0..x.len()).filter(|&i| x[i] != y[i]).collect();
        assert!(!differing.is_empty(), "random content keys and IVs differ");
        assert!(
            differing.iter().all(|i| sealed.contains(i)),
            "{}: bytes outside Encrypted Content differ",
            fa.display()
        );
    }
    // The manifests differ only in the checksums of those files.
    let manifest = |out: &PathBuf| -> Vec<(String, String, String)> {
        std::fs::read_to_string(out.join("manifest.csv"))
            .unwrap()
            .lines()
            .map(|l| {
                let f: Vec<&str> = l.split(',').collect();
                (f[0].to_string(), f[1].to_string(), f[3].to_string())
            })
            .collect()
    };
    assert_eq!(manifest(&outputs[0]), manifest(&outputs[1]));
}

#[test]
fn a_sources_own_sealed_originals_never_travel_but_are_sealed_again() {
    use dicom_core::value::DataSetSequence;
    use dicom_core::{DataElement, PrimitiveValue, VR};
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("input");
    std::fs::create_dir_all(&input).unwrap();
    // Another tool's seal: to us, bytes for some other recipient (here plainly readable).
    let foreign = dicom_object::InMemDicomObject::from_element_iter([
        DataElement::new(
            tags::ENCRYPTED_CONTENT_TRANSFER_SYNTAX_UID,
            VR::UI,
            PrimitiveValue::from("1.2.840.10008.1.2.1"),
        ),
        DataElement::new(
            tags::ENCRYPTED_CONTENT,
            VR::OB,
            PrimitiveValue::from(b"MOLINARI^SILVANA MRN5550123".to_vec()),
        ),
    ]);
    let obj = dicom_object::InMemDicomObject::from_element_iter([
        DataElement::new(
            tags::SOP_CLASS_UID,
            VR::UI,
            PrimitiveValue::from("1.2.840.10008.5.1.4.1.1.2"),
        ),
        DataElement::new(
            tags::SOP_INSTANCE_UID,
            VR::UI,
            PrimitiveValue::from("1.2.3.4.5.7"),
        ),
        DataElement::new(tags::PATIENT_ID, VR::LO, PrimitiveValue::from("P1")),
        DataElement::new(tags::MODALITY, VR::CS, PrimitiveValue::from("CT")),
        DataElement::new(
            tags::ENCRYPTED_ATTRIBUTES_SEQUENCE,
            VR::SQ,
            DataSetSequence::from(vec![foreign]),
        ),
    ]);
    write_instance(&input.join("ct.dcm"), obj);
    let export = |sealed: bool| {
        let work = dir.path().join(format!("work{sealed}"));
        let mut session = Session::builder()
            .database(work.join("g.db"))
            .open()
            .unwrap();
        session.ingest(&input).unwrap();
        let config = work.join("config.yaml");
        std::fs::write(&config, "version: \"2.0\"\n").unwrap();
        session.load_config(&config).unwrap();
        let audit = session.audit().unwrap();
        assert!(
            audit.by_rule.contains_key("foreign sealed originals"),
            "{audit}"
        );
        let key = KeyFile::create(work.join("k.key")).unwrap();
        if sealed {
            session
                .enable_reversible_anonymization(key.clone())
                .unwrap();
            session.preserve_identities().unwrap();
        }
        session.anonymize_metadata().unwrap();
        let verify = session.verify().unwrap();
        assert!(verify.is_clean(), "{verify}");
        let out = work.join("out");
        assert!(session.export(&out).run().unwrap().is_complete());
        (dicom_files(&out).remove(0), key)
    };
    let (plain, _) = export(false);
    let bytes = std::fs::read(&plain).unwrap();
    assert!(!String::from_utf8_lossy(&bytes).contains("MOLINARI"));
    assert!(
        dicom_object::open_file(&plain)
            .unwrap()
            .element(tags::ENCRYPTED_ATTRIBUTES_SEQUENCE)
            .is_err()
    );

    let (sealed, key) = export(true);
    let bytes = std::fs::read(&sealed).unwrap();
    assert!(!String::from_utf8_lossy(&bytes).contains("MOLINARI"));
    // Only Gantry's seal is in the file, and the foreign one is among the originals it holds.
    let recovered = recover_identities(&sealed, Credential::Key(&key), None).unwrap();
    assert!(
        recovered.recovered[0].originals.contains_key("0400,0500"),
        "{recovered}"
    );
}
