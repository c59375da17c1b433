//! Waivers: a finding of verify a person accepts, by selector and with a reason, no longer
//! blocks export, and is listed in the verify report, the export report and the
//! manifest. Exactly the waived finding goes through: the same finding at another tag or
//! in another instance still blocks, and text in the pixels cannot be waived.

mod common;

use dicom_core::{DataElement, PrimitiveValue, Tag, VR};
use dicom_dictionary_std::tags;
use dicom_object::InMemDicomObject;
use gantry_core::{Config, Session};

/// A CT header without pixels whose safe private attributes (kept under Retain Safe
/// Private, and binary, so anonymize does not read them as text) hold the patient's name:
/// what verify's independent scan finds.
fn instance(n: u32, private_tag: Tag) -> InMemDicomObject {
    let mut obj = InMemDicomObject::new_empty();
    let text = |obj: &mut InMemDicomObject, tag, vr, value: &str| {
        obj.put(DataElement::new(tag, vr, PrimitiveValue::from(value)));
    };
    text(
        &mut obj,
        tags::SOP_CLASS_UID,
        VR::UI,
        "1.2.840.10008.5.1.4.1.1.2",
    );
    text(
        &mut obj,
        tags::SOP_INSTANCE_UID,
        VR::UI,
        &format!("1.2.826.0.1.3680043.9.77.{n}"),
    );
    text(
        &mut obj,
        tags::STUDY_INSTANCE_UID,
        VR::UI,
        "1.2.826.0.1.3680043.9.77.100",
    );
    text(
        &mut obj,
        tags::SERIES_INSTANCE_UID,
        VR::UI,
        "1.2.826.0.1.3680043.9.77.200",
    );
    text(&mut obj, tags::MODALITY, VR::CS, "CT");
    text(&mut obj, tags::PATIENT_NAME, VR::PN, "QUIMBY^ROSALIND");
    text(&mut obj, tags::PATIENT_ID, VR::LO, "MRN7730215");
    text(&mut obj, Tag(0x0009, 0x0010), VR::LO, "ACME 1.1");
    obj.put(DataElement::new(
        private_tag,
        VR::OB,
        PrimitiveValue::from(b"operator note: QUIMBY ROSALIND".to_vec()),
    ));
    obj
}

const CONFIG: &str = r#"version: "2.0"
profile_options: [retain_safe_private]
safe_private_tags:
  - { group: 0x0009, creator: "ACME 1.1", element: 0x10 }
  - { group: 0x0009, creator: "ACME 1.1", element: 0x11 }
"#;

#[test]
fn a_waiver_lets_exactly_the_waived_finding_through_and_the_manifest_lists_it() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir(&data).unwrap();
    // Instance 1 and 2 carry the name at (0009,1010); instance 3 at (0009,1011).
    common::write_instance(&data.join("a.dcm"), instance(1, Tag(0x0009, 0x1010)));
    common::write_instance(&data.join("b.dcm"), instance(2, Tag(0x0009, 0x1010)));
    common::write_instance(&data.join("c.dcm"), instance(3, Tag(0x0009, 0x1011)));

    // Without a waiver, verify finds the name in all three and export blocks them.
    let plain = dir.path().join("plain");
    std::fs::create_dir(&plain).unwrap();
    let export = common::run_checkpoints(&plain, &data, CONFIG, true);
    assert_eq!(export.blocked.len(), 3, "{export}");
    assert!(export.waived.is_empty());

    // A waiver for (0009,1010) of instance 1 only.
    let waived = format!(
        "{CONFIG}waivers:\n  - path: \"(0009,1010)\"\n    instance: \"1.2.826.0.1.3680043.9.77.1\"\n    reason: \"operator notes reviewed by the DPO, ticket 4711\"\n"
    );
    let work = dir.path().join("waived");
    std::fs::create_dir(&work).unwrap();
    let export = common::run_checkpoints(&work, &data, &waived, true);
    let blocked: Vec<String> = export
        .blocked
        .iter()
        .map(|b| {
            b.source_path
                .file_name()
                .unwrap()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    assert_eq!(blocked, ["b.dcm", "c.dcm"], "{export}");
    assert_eq!(export.written, 1);
    assert_eq!(export.waived.len(), 1);
    assert!(export.waived[0].waived.contains("(0009,1010)"));
    assert!(export.waived[0].waived.contains("ticket 4711"));
    // The manifest lists it beside the file; the name itself is nowhere in it.
    let manifest = std::fs::read_to_string(work.join("out/manifest.json")).unwrap();
    assert!(manifest.contains("ticket 4711"), "{manifest}");
    assert!(!manifest.to_uppercase().contains("QUIMBY"));
    let csv = std::fs::read_to_string(work.join("out/manifest.csv")).unwrap();
    assert!(csv.lines().next().unwrap().ends_with(",waived"));
    assert!(csv.contains("ticket 4711"));
    // The verify report counts it apart.
    let mut session = Session::open(work.join("gantry.db")).unwrap();
    let verify = session.verify().unwrap();
    assert_eq!(verify.waived, 1, "{verify}");
    assert_eq!(
        verify
            .by_waiver
            .get("operator notes reviewed by the DPO, ticket 4711"),
        Some(&1)
    );
    assert_eq!(verify.instances_with_findings, 2);

    // A waiver by tag and rule for every instance lets all three through.
    let broad = format!(
        "{CONFIG}waivers:\n  - tag: \"0009,1010\"\n    reason: \"notes reviewed\"\n  - tag: \"0009,1011\"\n    reason: \"notes reviewed\"\n"
    );
    let work = dir.path().join("broad");
    std::fs::create_dir(&work).unwrap();
    let export = common::run_checkpoints(&work, &data, &broad, true);
    assert!(export.is_complete(), "{export}");
    assert_eq!(export.waived.len(), 3);
}

#[test]
fn waivers_without_a_reason_or_selector_or_on_pixel_text_are_refused() {
    for (waiver, expected) in [
        ("  - tag: \"0009,1010\"\n", "needs a reason"),
        (
            "  - tag: \"0009,1010\"\n    reason: \"  \"\n",
            "needs a reason",
        ),
        (
            "  - reason: \"everything is fine\"\n",
            "at least one selector",
        ),
        (
            "  - rule: pixel risk\n    reason: \"we looked\"\n",
            "never waivable",
        ),
        (
            "  - rule: vibes\n    reason: \"we looked\"\n",
            "unknown rule",
        ),
        (
            "  - tag: \"0009,1010\"\n    reason: x\n    becuase: y\n",
            "becuase",
        ),
    ] {
        let text = format!("version: \"2.0\"\nwaivers:\n{waiver}");
        let error = Config::parse(&text, "w.yaml").unwrap_err();
        assert!(error.to_string().contains(expected), "{waiver}: {error}");
    }
}

#[test]
fn show_says_which_finding_a_waiver_accepts() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir(&data).unwrap();
    common::write_instance(&data.join("a.dcm"), instance(1, Tag(0x0009, 0x1010)));
    let mut session = Session::open(dir.path().join("gantry.db")).unwrap();
    session.ingest(&data).unwrap();
    let config = dir.path().join("c.yaml");
    std::fs::write(&config, CONFIG).unwrap();
    session.load_config(&config).unwrap();
    let uid = "1.2.826.0.1.3680043.9.77.1";
    let preview = session.show(uid, false).unwrap();
    let gantry_core::ExportVerdict::Block { reasons } = &preview.export else {
        panic!("{preview}");
    };
    assert!(
        reasons.iter().any(|r| r.contains("(0009,1010)")),
        "{reasons:?}"
    );
    std::fs::write(
        &config,
        format!("{CONFIG}waivers:\n  - tag: \"0009,1010\"\n    reason: \"reviewed\"\n"),
    )
    .unwrap();
    session.load_config(&config).unwrap();
    let preview = session.show(uid, false).unwrap();
    assert_eq!(
        preview.export,
        gantry_core::ExportVerdict::Write,
        "{preview}"
    );
    assert_eq!(preview.waived.len(), 1);
    assert!(preview.to_string().contains("waived: (0009,1010)"));
}
