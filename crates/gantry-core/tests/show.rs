//! `Session::show`: the preview of one instance before anything changes. Every planted
//! attribute is listed with its action and the value anonymize then really writes; values
//! from the original are masked unless revealed; export's verdict names the pixel region
//! or tag path that blocks.

use dicom_core::Tag;
use dicom_dictionary_std::tags;
use gantry_core::{ExportVerdict, GantryError, Outcome, Planned, Secret, Session, TagPath};
use gantry_store::decode_header;
use gantry_synth::{DumpSpec, generate};

mod common;

fn session(
    dir: &std::path::Path,
    config: impl Fn(&gantry_synth::SyntheticDump) -> String,
) -> (Session, gantry_synth::SyntheticDump) {
    let dump = generate(&dir.join("dump"), &DumpSpec::default()).unwrap();
    let config = config(&dump);
    let mut session = Session::builder()
        .database(dir.join("gantry.db"))
        .secret(Secret::from_hex(&"3c".repeat(32)).unwrap())
        .open()
        .unwrap();
    session.ingest(&dump.root).unwrap();
    let path = dir.join("config.yaml");
    std::fs::write(&path, config).unwrap();
    session.load_config(&path).unwrap();
    (session, dump)
}

/// The text of an element at `path` of a header.
fn text_at(header: &dicom_object::InMemDicomObject, path: &TagPath) -> Option<String> {
    path.resolve(header).map(|e| {
        e.to_str()
            .map(|s| s.trim_end_matches(['\0', ' ']).to_string())
            .unwrap_or_default()
    })
}

#[test]
fn show_lists_every_planted_attribute_with_the_value_anonymize_writes() {
    let dir = tempfile::tempdir().unwrap();
    let (mut session, dump) = session(dir.path(), |dump| {
        format!(
            "version: \"2.0\"\nprofile_options: [retain_longitudinal_modified_dates]\n{}",
            dump.machine_rules()
        )
    });
    let truth = &dump.instances[0];
    let patient = &dump.patients[truth.patient];

    let preview = session.show(&truth.sop_instance_uid, false).unwrap();
    let by_path = |tag: Tag| {
        preview
            .attribute(&TagPath::root(tag))
            .unwrap_or_else(|| panic!("{tag} is not in the preview"))
    };
    // The planted identity, each with what is done to it.
    let name = by_path(tags::PATIENT_NAME);
    assert_eq!(name.action, Planned::Pseudonym);
    assert_eq!(name.outcome, Outcome::Changed);
    let id = by_path(tags::PATIENT_ID);
    assert_eq!(id.action, Planned::Pseudonym);
    assert_eq!(by_path(tags::SOP_INSTANCE_UID).action, Planned::RemapUid);
    let date = by_path(tags::STUDY_DATE);
    assert_eq!(date.action, Planned::Shift);
    assert_ne!(date.new_value.as_deref(), Some(truth.study_date.as_str()));
    for tag in [
        tags::PATIENT_ADDRESS,
        tags::PATIENT_TELEPHONE_NUMBERS,
        tags::PATIENT_MOTHER_BIRTH_NAME,
        tags::OTHER_PATIENT_I_DS_SEQUENCE,
    ] {
        assert_eq!(by_path(tag).outcome, Outcome::Removed, "{tag}");
        assert!(by_path(tag).new_value.is_none());
    }
    // A value nested in a sequence has its own row.
    let nested = preview
        .attributes
        .iter()
        .find(|a| a.path.depth() > 0)
        .expect("nested attributes are listed");
    assert!(nested.rule.is_some());
    // Gantry's markers are listed as added.
    let marker = by_path(tags::PATIENT_IDENTITY_REMOVED);
    assert_eq!(marker.outcome, Outcome::Added);
    assert_eq!(marker.new_value.as_deref(), Some("YES"));
    // Masked: no value of the patient's shows.
    // (The source path is the operator's own, shown as is.)
    let shown = serde_json::to_string(&(&preview.attributes, &preview.export)).unwrap();
    for planted in [&patient.mrn, &patient.family, &patient.address] {
        assert!(
            !shown.contains(planted.as_str()),
            "{planted} shows unmasked"
        );
    }
    assert!(matches!(
        preview.export,
        ExportVerdict::Write | ExportVerdict::WriteAfterRedaction { .. }
    ));
    // Nothing changed: no audit is stored.
    assert!(matches!(session.last_audit(), Err(GantryError::NoAudit)));

    // Revealed, the originals show.
    let revealed = session.show(&truth.sop_instance_uid, true).unwrap();
    let name = revealed
        .attribute(&TagPath::root(tags::PATIENT_NAME))
        .unwrap();
    assert!(name.original.as_deref().unwrap().contains(&patient.family));

    // What the preview says is what anonymize writes, at every path it lists.
    session.audit().unwrap();
    session.anonymize_metadata().unwrap();
    let stored = session
        .store()
        .instances_after(preview.instance - 1, 1)
        .unwrap()
        .remove(0);
    let written = decode_header(stored.deidentified.as_ref().unwrap()).unwrap();
    let mut compared = 0;
    for attribute in &revealed.attributes {
        let now = attribute.path.resolve(&written);
        match attribute.outcome {
            Outcome::Removed => assert!(now.is_none(), "{} was written", attribute.path),
            _ => assert!(now.is_some(), "{} was not written", attribute.path),
        }
        if let (Some(value), Some(now)) = (&attribute.new_value, now)
            && now.items().is_none()
            && !value.ends_with('…')
            && !value.ends_with(" bytes)")
        {
            assert_eq!(
                Some(value.clone()),
                text_at(&written, &attribute.path),
                "{}",
                attribute.path
            );
            compared += 1;
        }
    }
    assert!(compared > 20, "only {compared} values compared");
}

#[test]
fn show_names_the_pixel_region_that_blocks_and_finds_by_path() {
    let dir = tempfile::tempdir().unwrap();
    // No machine rules: images that burn text in are blocked under `pixel_policy: block`.
    let (mut session, dump) = session(dir.path(), |_| {
        "version: \"2.0\"\npixel_policy: block\n".to_string()
    });
    let burned = dump
        .instances
        .iter()
        .find(|i| i.burned_in_band.is_some())
        .expect("the dump has images with burned-in text");
    let preview = session.show(&burned.path.to_string_lossy(), false).unwrap();
    assert_eq!(preview.source_path, burned.path);
    let ExportVerdict::Block { reasons } = &preview.export else {
        panic!("an image with burned-in text and no rule is not blocked: {preview}");
    };
    assert!(
        reasons.iter().any(|r| r.starts_with("pixels:")),
        "{reasons:?}"
    );
    assert!(preview.to_string().contains("BLOCK"));

    match session.show("1.2.3.4.5.6.7.8.9", false) {
        Err(GantryError::NoSuchInstance { selector }) => assert_eq!(selector, "1.2.3.4.5.6.7.8.9"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn every_block_reason_of_an_end_to_end_run_names_its_place_and_a_fix() {
    let dir = tempfile::tempdir().unwrap();
    let dump = generate(&dir.path().join("dump"), &DumpSpec::default()).unwrap();
    let work = dir.path().join("work");
    std::fs::create_dir(&work).unwrap();
    // Rules for all but the screen captures, which are blocked.
    let config = format!(
        "version: \"2.0\"\n{}",
        dump.machine_rules_for(|d| d != gantry_synth::Device::ScreenCapture)
    );
    let export = common::run_checkpoints(&work, &dump.root, &config, true);
    assert!(!export.blocked.is_empty());
    let mut reasons = 0;
    for blocked in &export.blocked {
        for reason in &blocked.reasons {
            reasons += 1;
            let place = reason.starts_with("pixels: ")
                || reason.starts_with('(')
                || reason.starts_with("anonymize failed");
            assert!(place, "{}: {reason}", blocked.source_path.display());
            assert!(
                reason.contains("fix: ") || reason.starts_with("anonymize failed"),
                "{}: {reason}",
                blocked.source_path.display()
            );
        }
    }
    assert!(reasons > 0);
}

#[test]
fn acting_on_a_stale_audit_names_what_changed() {
    let dir = tempfile::tempdir().unwrap();
    let (mut session, _) = session(dir.path(), |_| "version: \"2.0\"\n".to_string());
    session.audit().unwrap();
    // Another config, loaded after the audit.
    let other = dir.path().join("other.yaml");
    std::fs::write(&other, "version: \"2.0\"\nunlisted_text: clean\n").unwrap();
    session.load_config(&other).unwrap();
    match session.anonymize_metadata() {
        Err(GantryError::StaleAudit { changed }) => {
            assert!(changed.contains("configuration"), "{changed}");
            assert!(changed.contains("other.yaml"), "{changed}");
        }
        other => panic!("{other:?}"),
    }
    // Seal and anonymize act on the stored audit: after auditing again, they run.
    session.audit().unwrap();
    session.anonymize_metadata().unwrap();
}

#[test]
fn the_audit_report_holds_every_kind_of_block_and_what_the_config_keeps() {
    let dir = tempfile::tempdir().unwrap();
    let (mut session, dump) = session(dir.path(), |dump| {
        format!(
            "version: \"2.0\"\nphi_tags:\n  PatientSex: {{ action: KEEP }}\n{}",
            dump.machine_rules_for(|d| d != gantry_synth::Device::ScreenCapture)
        )
    });
    let audit = session.audit().unwrap();
    let captures = dump
        .instances
        .iter()
        .filter(|i| i.device == gantry_synth::Device::ScreenCapture)
        .count();
    // Thousands of findings come first; the blocks are kept apart all the same.
    assert!(audit.findings > 1000);
    assert_eq!(audit.blocking as usize, captures, "{audit}");
    assert_eq!(audit.blocks.len(), captures);
    assert!(
        audit
            .kept_by_config
            .iter()
            .any(|k| k.contains("PatientSex"))
    );
    let text = audit.to_string();
    assert!(
        text.contains("no action resolves") && text.contains("fix: "),
        "{text}"
    );
    assert!(text.contains("(0010,0040) PatientSex"), "{text}");
    // The stored report keeps them.
    let stored = session.last_audit().unwrap();
    assert_eq!(stored.blocks, audit.blocks);
    assert_eq!(stored.kept_by_config, audit.kept_by_config);
}
