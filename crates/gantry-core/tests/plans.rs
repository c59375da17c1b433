//! The plan audit makes for each instance is acted on only while it is current: an
//! ingest after the audit (new identities to look for), or another config, makes seal
//! and anonymize derive the instance afresh or refuse, never reuse the old plan.

mod common;

use dicom_core::{DataElement, PrimitiveValue, VR};
use dicom_dictionary_std::tags;
use dicom_object::InMemDicomObject;
use gantry_core::{KeyFile, Session};

const CONFIG: &str = "version: \"2.0\"\nprofile_options: [clean_descriptors]\n";

fn instance(n: u32, id: &str, name: &str, description: &str) -> InMemDicomObject {
    let mut o = InMemDicomObject::new_empty();
    let mut put = |tag, vr, value: &str| {
        o.put(DataElement::new(tag, vr, PrimitiveValue::from(value)));
    };
    put(tags::SOP_CLASS_UID, VR::UI, "1.2.840.10008.5.1.4.1.1.88.22");
    put(tags::SOP_INSTANCE_UID, VR::UI, &format!("2.25.71000{n}"));
    put(tags::STUDY_INSTANCE_UID, VR::UI, &format!("2.25.72000{n}"));
    put(tags::SERIES_INSTANCE_UID, VR::UI, &format!("2.25.73000{n}"));
    put(tags::MODALITY, VR::CS, "SR");
    put(tags::STUDY_DATE, VR::DA, "20210304");
    put(tags::STUDY_DESCRIPTION, VR::LO, description);
    put(tags::PATIENT_NAME, VR::PN, name);
    put(tags::PATIENT_ID, VR::LO, id);
    o
}

/// Study Description of each de-identified header, by SOP Instance UID of the original.
fn descriptions(session: &Session) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for stored in session.store().instances_after(0, 100).unwrap() {
        let blob = stored.deidentified.expect("de-identified");
        let header = gantry_store::decode_header(&blob).unwrap();
        let text = header
            .get(tags::STUDY_DESCRIPTION)
            .and_then(|e| e.to_str().ok())
            .map(|s| s.trim_end_matches(['\0', ' ']).to_string())
            .unwrap_or_default();
        out.push((stored.record.sop_instance_uid, text));
    }
    out.sort();
    out
}

#[test]
fn a_plan_made_before_an_ingest_is_not_acted_on_after_it() {
    let dir = tempfile::tempdir().unwrap();
    let (first, second) = (dir.path().join("first"), dir.path().join("second"));
    std::fs::create_dir_all(&first).unwrap();
    std::fs::create_dir_all(&second).unwrap();
    // The first file names someone only the second file says is a patient: an uncommon
    // name no word list knows, so only the collected identities can find it.
    common::write_instance(
        &first.join("a.dcm"),
        instance(1, "P1", "DOE^JANE", "Second opinion for Zombrik Qxvaldt"),
    );
    common::write_instance(
        &second.join("b.dcm"),
        instance(2, "P2", "QXVALDT^ZOMBRIK", "Chest"),
    );
    let config = dir.path().join("config.yaml");
    std::fs::write(&config, CONFIG).unwrap();

    let mut session = Session::open(dir.path().join("gantry.db")).unwrap();
    session.ingest(&first).unwrap();
    session.load_config(&config).unwrap();
    session.audit().unwrap();
    // Planned on the first file alone, the description keeps the name.
    session.anonymize_metadata().unwrap();
    let alone = descriptions(&session);
    assert!(alone[0].1.contains("Zombrik"), "{alone:?}");

    session.ingest(&second).unwrap();
    let report = session.anonymize_metadata().unwrap();
    assert!(report.failed.is_empty(), "{report}");
    let after = descriptions(&session);
    assert_eq!(after.len(), 2);
    assert!(
        !after
            .iter()
            .any(|(_, d)| d.contains("Zombrik") || d.contains("Qxvaldt")),
        "the plan made before the second ingest was acted on: {after:?}"
    );

    // The same as a session that saw both files before its audit.
    let mut fresh = Session::open(dir.path().join("fresh.db")).unwrap();
    fresh.ingest(&first).unwrap();
    fresh.ingest(&second).unwrap();
    fresh.load_config(&config).unwrap();
    fresh.audit().unwrap();
    fresh.anonymize_metadata().unwrap();
    let fresh_descriptions = descriptions(&fresh);
    assert_eq!(after.len(), fresh_descriptions.len());
    // Pseudonymized values depend on the project secret, which differs: compare what
    // the rules kept of the text.
    assert_eq!(
        after.iter().map(|(_, d)| d.clone()).collect::<Vec<_>>(),
        fresh_descriptions
            .iter()
            .map(|(_, d)| d.clone())
            .collect::<Vec<_>>()
    );
}

#[test]
fn a_plan_of_another_config_is_refused_and_a_new_audit_replans() {
    let dir = tempfile::tempdir().unwrap();
    let dump = dir.path().join("dump");
    std::fs::create_dir_all(&dump).unwrap();
    common::write_instance(&dump.join("a.dcm"), instance(1, "P1", "DOE^JANE", "Knee"));
    let config = dir.path().join("config.yaml");
    std::fs::write(&config, CONFIG).unwrap();
    let mut session = Session::open(dir.path().join("gantry.db")).unwrap();
    session.ingest(&dump).unwrap();
    session.load_config(&config).unwrap();
    session.audit().unwrap();
    session
        .enable_reversible_anonymization(KeyFile::create_or_open(dir.path().join("k.key")).unwrap())
        .unwrap();
    session.preserve_identities().unwrap();

    // Descriptions are now removed, not cleaned: the old audit's plans no longer apply.
    std::fs::write(&config, "version: \"2.0\"\n").unwrap();
    session.load_config(&config).unwrap();
    let refused = session.anonymize_metadata().unwrap_err();
    assert!(
        refused.to_string().contains("changed since this audit"),
        "{refused}"
    );
    session.audit().unwrap();
    // The originals sealed under the old plan no longer match what anonymize removes.
    let stale = session.anonymize_metadata().unwrap();
    assert_eq!(stale.failed.len(), 1, "{stale}");
    assert!(stale.failed[0].detail.contains("stale"), "{stale}");
    session.preserve_identities().unwrap();
    let report = session.anonymize_metadata().unwrap();
    assert!(report.failed.is_empty(), "{report}");
    assert_eq!(
        descriptions(&session)[0].1,
        "",
        "removed under the new config"
    );
}
