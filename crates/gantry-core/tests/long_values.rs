//! Values far longer than any identifier (a hostile or broken sender): every step stays
//! linear, and the value is treated as PHI (removed), never kept or slowed on.

mod common;

use std::time::Instant;

use dicom_core::{DataElement, PrimitiveValue, Tag, VR};
use dicom_dictionary_std::{tags, uids};
use dicom_object::InMemDicomObject;
use gantry_core::Session;

fn instance(len: usize, pattern: &[u8]) -> InMemDicomObject {
    let long: String = (0..len)
        .map(|i| pattern[i % pattern.len()] as char)
        .collect();
    let put = |o: &mut InMemDicomObject, tag, vr, v: &str| {
        o.put(DataElement::new(tag, vr, PrimitiveValue::from(v)));
    };
    let mut o = InMemDicomObject::new_empty();
    put(&mut o, tags::SOP_CLASS_UID, VR::UI, uids::CT_IMAGE_STORAGE);
    put(
        &mut o,
        tags::SOP_INSTANCE_UID,
        VR::UI,
        &format!("1.2.826.0.1.{len}"),
    );
    put(&mut o, tags::STUDY_INSTANCE_UID, VR::UI, "1.2.826.0.2");
    put(&mut o, tags::SERIES_INSTANCE_UID, VR::UI, "1.2.826.0.3");
    put(&mut o, tags::MODALITY, VR::CS, "CT");
    put(&mut o, tags::PATIENT_ID, VR::LO, &long);
    put(&mut o, tags::PATIENT_NAME, VR::PN, &long);
    put(&mut o, tags::ACCESSION_NUMBER, VR::SH, &long);
    put(&mut o, tags::STUDY_DESCRIPTION, VR::LO, &long);
    put(
        &mut o,
        tags::IMAGE_COMMENTS,
        VR::LT,
        &format!("seen {long} today"),
    );
    // Kept by the Retain Institution Identity option, but no institution name is this long.
    put(&mut o, tags::INSTITUTION_NAME, VR::LO, &long);
    o.put(DataElement::new(
        Tag(0x0028, 0x0010),
        VR::US,
        PrimitiveValue::from(2u16),
    ));
    o
}

/// Digits, letters and separators, so name parts, digit runs and repeats all form.
const PATTERN: &[u8] = b"AB12 CD^34-EF56";

#[test]
fn values_of_a_million_characters_are_handled_in_linear_time_and_removed() {
    for len in [100usize, 10_000, 1_000_000] {
        let dir = tempfile::tempdir().unwrap();
        let dump = dir.path().join("dump");
        std::fs::create_dir(&dump).unwrap();
        common::write_instance_as(
            &dump.join("long.dcm"),
            instance(len, PATTERN),
            "1.2.840.10008.1.2",
        );
        let mut session = Session::builder()
            .database(dir.path().join("gantry.db"))
            .open()
            .unwrap();
        let started = Instant::now();
        let ingest = session.ingest(&dump).unwrap();
        assert_eq!(ingest.indexed, 1, "{len}: {ingest}");
        std::fs::write(
            dir.path().join("c.yaml"),
            "version: \"2.0\"\nprofile_options: [retain_institution_identity]\n",
        )
        .unwrap();
        session.load_config(dir.path().join("c.yaml")).unwrap();
        let audit = session.audit().unwrap();
        assert!(
            len < 256
                || audit
                    .by_rule
                    .contains_key("value too long for an identifier"),
            "{len}: {audit}"
        );
        session.anonymize_metadata().unwrap();
        let verify = session.verify().unwrap();
        let export = session.export(dir.path().join("out")).run().unwrap();
        eprintln!("{len} characters: {:?}", started.elapsed());
        assert_eq!(export.written, 1, "{len}: {verify}");
        let out = common::dicom_files(&dir.path().join("out"));
        let bytes = std::fs::read(&out[0]).unwrap();
        let needle = b"AB12 CD^34-EF56AB12";
        assert!(
            !bytes.windows(needle.len()).any(|w| w == needle),
            "{len}: the long value survived"
        );
    }
}

/// A value too long for its VR's 16-bit length is stored as UN (CP 1066). The rules still
/// read it with its dictionary VR: a name outside the profile table is still a person name,
/// a date is still shifted, and a Patient ID is still an identifier whose echoes are cleaned.
#[test]
fn standard_attributes_stored_as_un_are_handled_by_their_dictionary_vr() {
    let dir = tempfile::tempdir().unwrap();
    let dump = dir.path().join("dump");
    std::fs::create_dir(&dump).unwrap();
    let id: String = (0..70_000).map(|i| b"QX7ID90"[i % 7] as char).collect();
    let evaluator: String = (0..70_000)
        .map(|i| b"EVALUATORNAME^"[i % 14] as char)
        .collect();
    let dates = vec!["20200101"; 8_000].join("\\");
    let mut o = InMemDicomObject::new_empty();
    let mut put = |tag, vr, v: &str| o.put(DataElement::new(tag, vr, PrimitiveValue::from(v)));
    put(tags::SOP_CLASS_UID, VR::UI, uids::CT_IMAGE_STORAGE);
    put(tags::SOP_INSTANCE_UID, VR::UI, "1.2.826.0.1.77");
    put(tags::STUDY_INSTANCE_UID, VR::UI, "1.2.826.0.2.77");
    put(tags::SERIES_INSTANCE_UID, VR::UI, "1.2.826.0.3.77");
    put(tags::MODALITY, VR::CS, "CT");
    put(tags::PATIENT_ID, VR::LO, &id);
    // Evaluator Name: a person name PS3.15 Table E.1-1 does not list.
    put(Tag(0x0014, 0x2006), VR::PN, &evaluator);
    put(tags::STUDY_DATE, VR::DA, &dates);
    // Kept and cleaned under Clean Descriptors: the echo of the Patient ID must go.
    put(
        tags::SERIES_DESCRIPTION,
        VR::LO,
        &format!("CHEST for {}", &id[..100]),
    );
    common::write_instance_as(&dump.join("un.dcm"), o, "1.2.840.10008.1.2");

    let mut session = Session::open(dir.path().join("gantry.db")).unwrap();
    let ingest = session.ingest(&dump).unwrap();
    assert_eq!(ingest.indexed, 1, "{ingest}");
    let config = dir.path().join("c.yaml");
    std::fs::write(
        &config,
        "version: \"2.0\"\nprofile_options: [retain_longitudinal_modified_dates, clean_descriptors]\n",
    )
    .unwrap();
    session.load_config(&config).unwrap();
    session.audit().unwrap();
    session.anonymize_metadata().unwrap();
    let verify = session.verify().unwrap();
    let export = session.export(dir.path().join("out")).run().unwrap();
    assert_eq!(export.written, 1, "{verify}\n{export}");

    let out = common::dicom_files(&dir.path().join("out"));
    let bytes = std::fs::read(&out[0]).unwrap();
    let contains = |needle: &[u8]| bytes.windows(needle.len()).any(|w| w == needle);
    assert!(
        !contains(b"EVALUATORNAME"),
        "a long person name outside the table survived"
    );
    assert!(!contains(b"20200101"), "a long date value was not shifted");
    assert!(
        !contains(&id.as_bytes()[..40]),
        "the Patient ID echo survived"
    );
    let file = dicom_object::open_file(&out[0]).unwrap();
    let description = file
        .element(tags::SERIES_DESCRIPTION)
        .unwrap()
        .to_str()
        .unwrap();
    assert!(description.starts_with("CHEST for "), "{description}");
}
