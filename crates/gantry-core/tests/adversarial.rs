//! The adversarial corpus: identity hidden where no table row looks. After the whole
//! pipeline, a scan of every output file, decoded and as raw bytes, finds none of the
//! planted strings in any case, no original UID in any VR, and every date written in free
//! text shifted by that patient's offset.

mod common;

use std::collections::BTreeMap;

use dicom_core::header::Header;
use dicom_core::value::Value;
use dicom_dictionary_std::tags;
use dicom_object::InMemDicomObject;
use gantry_core::Session;
use gantry_synth::{AdversarialCorpus, write_adversarial};

/// Every text of an object at every depth, as decoded (binary values as lossy text).
fn texts(object: &InMemDicomObject, out: &mut Vec<String>) {
    for element in object.iter() {
        match element.value() {
            Value::Sequence(seq) => {
                for item in seq.items() {
                    texts(item, out);
                }
            }
            Value::Primitive(p) => {
                if element.vr() == dicom_core::VR::UN || element.vr() == dicom_core::VR::OB {
                    out.push(String::from_utf8_lossy(&p.to_bytes()).into_owned());
                }
                out.push(p.to_str().into_owned());
            }
            Value::PixelSequence(_) => {}
        }
    }
}

fn variants(secret: &str) -> Vec<String> {
    let mut out = vec![
        secret.to_lowercase(),
        secret.replace('^', " ").to_lowercase(),
    ];
    out.dedup();
    out
}

/// A session in `dir` with the corpus ingested (every vector indexed) and its config loaded.
fn configured(corpus: &AdversarialCorpus, dir: &std::path::Path) -> Session {
    let mut session = Session::builder()
        .database(dir.join("gantry.db"))
        .open()
        .unwrap();
    let ingest = session.ingest(&corpus.root).unwrap();
    assert_eq!(ingest.indexed as usize, corpus.vectors.len(), "{ingest}");
    let config = dir.join("config.yaml");
    std::fs::write(&config, &corpus.config).unwrap();
    session.load_config(&config).unwrap();
    session
}

struct Output {
    texts: Vec<String>,
    bytes: Vec<u8>,
    file: dicom_object::DefaultDicomObject,
}

fn run(
    corpus: &AdversarialCorpus,
    dir: &std::path::Path,
) -> (BTreeMap<u32, Output>, gantry_core::ExportReport) {
    let mut session = configured(corpus, dir);
    session.audit().unwrap();
    session.anonymize_metadata().unwrap();
    session.redact_pixels().unwrap();
    let verify = session.verify().unwrap();
    let out = dir.join("out");
    let export = session.export(&out).run().unwrap();
    let mut outputs = BTreeMap::new();
    for path in common::dicom_files(&out) {
        let bytes = std::fs::read(&path).unwrap();
        let file = dicom_object::open_file(&path).unwrap();
        let mut all = Vec::new();
        texts(&file, &mut all);
        let number: u32 = file
            .element(tags::INSTANCE_NUMBER)
            .unwrap()
            .to_str()
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        outputs.insert(
            number,
            Output {
                texts: all,
                bytes,
                file,
            },
        );
    }
    assert!(export.blocked.is_empty() || !verify.is_clean(), "{export}");
    (outputs, export)
}

#[test]
fn no_planted_identity_survives_the_pipeline_in_any_output_file() {
    let dir = tempfile::tempdir().unwrap();
    let corpus = write_adversarial(&dir.path().join("corpus")).unwrap();
    assert!(
        corpus.vectors.len() >= 40,
        "{} vectors",
        corpus.vectors.len()
    );
    let (outputs, export) = run(&corpus, dir.path());

    let mut leaks = Vec::new();
    for vector in &corpus.vectors {
        let mut secrets: Vec<String> = vector.planted.clone();
        secrets.extend(vector.dates.iter().map(|d| d.written()));
        for secret in &secrets {
            for variant in variants(secret) {
                for (number, output) in &outputs {
                    let lower = String::from_utf8_lossy(&output.bytes).to_lowercase();
                    let decoded = output
                        .texts
                        .iter()
                        .any(|t| t.to_lowercase().contains(&variant));
                    if decoded || lower.contains(&variant) {
                        leaks.push(format!(
                            "{} planted {secret:?}, found in output #{number}",
                            vector.name
                        ));
                    }
                }
            }
        }
    }
    for uid in &corpus.uids {
        for (number, output) in &outputs {
            let raw = output.bytes.windows(uid.len()).any(|w| w == uid.as_bytes());
            if raw || output.texts.iter().any(|t| t.contains(uid.as_str())) {
                leaks.push(format!("original UID {uid} in output #{number}"));
            }
        }
    }
    leaks.sort();
    leaks.dedup();
    assert!(
        leaks.is_empty(),
        "{} leaks:\n{}",
        leaks.len(),
        leaks.join("\n")
    );

    // Blocked files are not leaks, but a safe tool should make every one of these safe.
    let written: Vec<u32> = outputs.keys().copied().collect();
    let missing: Vec<&str> = corpus
        .vectors
        .iter()
        .filter(|v| !written.contains(&v.instance_number))
        .map(|v| v.name)
        .collect();
    assert!(missing.is_empty(), "not exported: {missing:?}\n{export}");
}

#[test]
fn dates_written_in_free_text_are_shifted_by_the_patients_offset() {
    let dir = tempfile::tempdir().unwrap();
    let corpus = write_adversarial(&dir.path().join("corpus")).unwrap();
    let (outputs, _) = run(&corpus, dir.path());
    let mut checked = 0;
    for vector in corpus.vectors.iter().filter(|v| !v.dates.is_empty()) {
        let output = outputs
            .get(&vector.instance_number)
            .unwrap_or_else(|| panic!("{} was not exported", vector.name));
        let patient = &corpus.patients[vector.patient];
        let shifted = output
            .file
            .element(tags::STUDY_DATE)
            .unwrap()
            .to_str()
            .unwrap()
            .trim()
            .to_string();
        let offset = gantry_core::dates::days_between(&patient.study_date, &shifted).unwrap();
        assert!(offset != 0, "{}: study date not shifted", vector.name);
        for date in &vector.dates {
            let (y, m, d) = date.ymd;
            let moved = gantry_core::dates::shift_ymd(y, m, d, offset as i32).unwrap();
            let expected = date.render(moved);
            assert!(
                output.texts.iter().any(|t| t.contains(&expected)),
                "{}: {} should read {expected} (offset {offset}); texts: {:?}",
                vector.name,
                date.written(),
                output
                    .texts
                    .iter()
                    .filter(|t| t.chars().any(char::is_alphabetic))
                    .collect::<Vec<_>>()
            );
            checked += 1;
        }
    }
    assert!(checked >= 7, "{checked} dates checked");
}

#[test]
fn reversible_mode_seals_and_recovers_utf8_latin1_and_iso_2022_names() {
    let dir = tempfile::tempdir().unwrap();
    let corpus = write_adversarial(&dir.path().join("corpus")).unwrap();
    let mut session = configured(&corpus, dir.path());
    let key = gantry_core::KeyFile::create(dir.path().join("master.key")).unwrap();
    session
        .enable_reversible_anonymization(key.clone())
        .unwrap();
    session.audit().unwrap();
    let sealed = session.preserve_identities().unwrap();
    assert!(sealed.failed.is_empty(), "{sealed}");
    let anonymized = session.anonymize_metadata().unwrap();
    assert!(anonymized.failed.is_empty(), "{anonymized}");
    session.redact_pixels().unwrap();
    let out = dir.path().join("out");
    let export = session.export(&out).run().unwrap();
    let back = dir.path().join("back");
    let recovered =
        gantry_core::recover_identities(&out, gantry_core::Credential::Key(&key), Some(&back))
            .unwrap();
    assert!(recovered.failed.is_empty(), "{recovered}");
    assert_eq!(recovered.recovered.len() as u64, export.written);
    // Every top-level attribute of every source comes back with its bytes (and its VR).
    let recovered_files: BTreeMap<String, dicom_object::DefaultDicomObject> =
        common::dicom_files(&back)
            .into_iter()
            .map(|p| {
                let f = dicom_object::open_file(&p).unwrap();
                let n = f
                    .element(tags::INSTANCE_NUMBER)
                    .unwrap()
                    .to_str()
                    .unwrap()
                    .trim()
                    .to_string();
                (n, f)
            })
            .collect();
    for vector in &corpus.vectors {
        let file = &recovered_files[&vector.instance_number.to_string()];
        let source = dicom_object::open_file(&vector.path).unwrap();
        for element in source.iter() {
            let tag = element.tag();
            if tag == tags::PATIENT_IDENTITY_REMOVED {
                continue;
            }
            let back = file
                .element(tag)
                .unwrap_or_else(|_| panic!("{}: {tag} not recovered", vector.name));
            // A value stored as UN may come back with its dictionary VR: the same bytes.
            if element.vr() != dicom_core::VR::UN {
                assert_eq!(back.vr(), element.vr(), "{}: {tag}", vector.name);
            }
            if let (Value::Primitive(a), Value::Primitive(b)) = (element.value(), back.value()) {
                assert_eq!(a.to_bytes(), b.to_bytes(), "{}: {tag}", vector.name);
            }
        }
    }
    // Each patient's name comes back as written, in its character set.
    for (index, patient) in corpus.patients.iter().enumerate() {
        let vector = corpus.vectors.iter().find(|v| v.patient == index).unwrap();
        let found = common::dicom_files(&back).into_iter().find_map(|p| {
            let f = dicom_object::open_file(&p).ok()?;
            let number = f
                .element(tags::INSTANCE_NUMBER)
                .ok()?
                .to_str()
                .ok()?
                .trim()
                .to_string();
            (number == vector.instance_number.to_string()).then_some(f)
        });
        let file = found.unwrap_or_else(|| panic!("{} not recovered", vector.name));
        let text = |tag| {
            file.element(tag)
                .unwrap()
                .to_str()
                .unwrap()
                .trim()
                .to_string()
        };
        let charset = text(tags::SPECIFIC_CHARACTER_SET);
        let name = text(tags::PATIENT_NAME);
        if index == 2 {
            // ISO 2022 comes back in its own encoding, byte for byte (PS3.5 H.3.1).
            assert_eq!(charset, "ISO 2022 IR 6\\ISO 2022 IR 87");
            let escaped: String = b"Yamada^Tarou=\x1b$B;3ED\x1b(B^\x1b$BB@O:\x1b(B=\x1b$B$d$^$@\x1b(B^\x1b$B$?$m$&\x1b(B"
                .iter()
                .map(|b| *b as char)
                .collect();
            assert_eq!(name, escaped);
        } else {
            assert_eq!(name, patient.name, "{charset}");
        }
        assert_eq!(text(tags::PATIENT_ID), patient.id);
        assert_eq!(text(tags::PATIENT_BIRTH_DATE), patient.birth_date);
    }
}

#[test]
fn files_whose_elements_are_all_un_are_indexed_by_their_real_uids() {
    let dir = tempfile::tempdir().unwrap();
    let corpus = write_adversarial(&dir.path().join("corpus")).unwrap();
    let mut session = Session::builder()
        .database(dir.path().join("gantry.db"))
        .open()
        .unwrap();
    session.ingest(&corpus.root).unwrap();
    let records = session.query().list().unwrap();
    assert_eq!(records.len(), corpus.vectors.len());
    for record in &records {
        assert!(
            corpus.uids.contains(&record.sop_instance_uid),
            "indexed as {:?}",
            record.sop_instance_uid
        );
        assert!(
            record
                .patient_id
                .as_deref()
                .is_some_and(|id| id.starts_with("ADV"))
        );
    }
}

#[test]
fn verify_blocks_a_name_in_context_even_where_the_config_keeps_the_text() {
    use dicom_core::{DataElement, PrimitiveValue, VR};
    let dir = tempfile::tempdir().unwrap();
    let dump = dir.path().join("dump");
    std::fs::create_dir_all(&dump).unwrap();
    let mut o = InMemDicomObject::new_empty();
    for (tag, vr, value) in [
        (tags::SOP_CLASS_UID, VR::UI, "1.2.840.10008.5.1.4.1.1.88.22"),
        (tags::SOP_INSTANCE_UID, VR::UI, "2.25.77001"),
        (tags::STUDY_INSTANCE_UID, VR::UI, "2.25.77002"),
        (tags::SERIES_INSTANCE_UID, VR::UI, "2.25.77003"),
        (tags::MODALITY, VR::CS, "SR"),
        (tags::PATIENT_ID, VR::LO, "Q7700"),
        (tags::PATIENT_NAME, VR::PN, "DOE^JOHN"),
        (
            tags::IMAGE_COMMENTS,
            VR::LT,
            "Dictated by Dr. Aurelio Vanterpool",
        ),
    ] {
        o.put(DataElement::new(tag, vr, PrimitiveValue::from(value)));
    }
    common::write_instance(&dump.join("a.dcm"), o);
    let mut session = Session::open(dir.path().join("gantry.db")).unwrap();
    session.ingest(&dump).unwrap();
    let config = dir.path().join("c.yaml");
    std::fs::write(
        &config,
        "version: \"2.0\"\nphi_tags:\n  ImageComments: { action: KEEP }\n",
    )
    .unwrap();
    session.load_config(&config).unwrap();
    session.audit().unwrap();
    session.anonymize_metadata().unwrap();
    let verify = session.verify().unwrap();
    assert!(!verify.is_clean(), "{verify}");
    let export = session.export(dir.path().join("out")).run().unwrap();
    assert_eq!(export.written, 0, "{export}");
    let reasons = export.blocked[0].reasons.join("\n");
    assert!(
        reasons.contains("(0020,4000)") && reasons.contains("PHI detector"),
        "{reasons}"
    );
}

#[test]
fn the_patients_name_inside_a_kept_binary_value_blocks_export() {
    use dicom_core::{DataElement, PrimitiveValue, Tag, VR};
    let dir = tempfile::tempdir().unwrap();
    let dump = dir.path().join("dump");
    std::fs::create_dir_all(&dump).unwrap();
    let mut o = InMemDicomObject::new_empty();
    for (tag, vr, value) in [
        (tags::SOP_CLASS_UID, VR::UI, "1.2.840.10008.5.1.4.1.1.88.22"),
        (tags::SOP_INSTANCE_UID, VR::UI, "2.25.78001"),
        (tags::STUDY_INSTANCE_UID, VR::UI, "2.25.78002"),
        (tags::SERIES_INSTANCE_UID, VR::UI, "2.25.78003"),
        (tags::MODALITY, VR::CS, "SR"),
        (tags::PATIENT_ID, VR::LO, "Q7800"),
        (tags::PATIENT_NAME, VR::PN, "WOJCIECHOWSKI^JAN"),
        (Tag(0x0029, 0x0010), VR::LO, "ACME BLOB"),
    ] {
        o.put(DataElement::new(tag, vr, PrimitiveValue::from(value)));
    }
    // Mostly binary, with the name inside: a vendor blob a config keeps.
    let mut blob: Vec<u8> = (0..200u8).map(|i| i.wrapping_mul(37) | 0x80).collect();
    blob.extend_from_slice(b"Wojciechowski");
    blob.extend((0..100u8).map(|i| i | 0x80));
    o.put(DataElement::new(
        Tag(0x0029, 0x1010),
        VR::OB,
        PrimitiveValue::from(blob),
    ));
    common::write_instance(&dump.join("a.dcm"), o);
    let mut session = Session::open(dir.path().join("gantry.db")).unwrap();
    session.ingest(&dump).unwrap();
    let config = dir.path().join("c.yaml");
    std::fs::write(&config, "version: \"2.0\"\nremove_private_tags: false\n").unwrap();
    session.load_config(&config).unwrap();
    session.audit().unwrap();
    session.anonymize_metadata().unwrap();
    let export = session.export(dir.path().join("out")).run().unwrap();
    assert_eq!(export.written, 0, "{export}");
    let reasons = export.blocked[0].reasons.join("\n");
    assert!(reasons.contains("(0029,1010)"), "{reasons}");
}
