//! Checkpoints 4, 6 and 8 on the synthetic dump: every planted identity trace is found,
//! removed or pseudonymized, and verify proves it.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use dicom_core::Tag;
use dicom_core::header::Header;
use dicom_dictionary_std::tags;
use dicom_object::InMemDicomObject;
use gantry_core::{RuleSource, Secret, Session};
use gantry_store::{decode_header, read_source};
use gantry_synth::{DumpSpec, SyntheticDump, generate};

const CONFIG: &str = r#"
version: "2.0"
privacy_profile: basic
profile_options: [retain_longitudinal_modified_dates]
date_jitter: { min_days: -400, max_days: -30 }
remove_private_tags: true
phi_tags:
  "0008,103E": { action: REPLACE, value: "SERIES" }
"#;

struct Fixture {
    _dir: tempfile::TempDir,
    dump: SyntheticDump,
    session: Session,
}

fn secret() -> Secret {
    Secret::from_hex(&"5a".repeat(32)).unwrap()
}

fn fixture(config: &str) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let dump = generate(&dir.path().join("dump"), &DumpSpec::default()).unwrap();
    let mut session = Session::builder()
        .database(dir.path().join("gantry.db"))
        .secret(secret())
        .open()
        .unwrap();
    session.ingest(&dump.root).unwrap();
    let path = dir.path().join("config.yaml");
    // Rules for the devices that burn text in, so pixel risks do not hide metadata results.
    std::fs::write(&path, format!("{config}{}", dump.machine_rules())).unwrap();
    session.load_config(&path).unwrap();
    Fixture {
        _dir: dir,
        dump,
        session,
    }
}

/// The fixture, audited and anonymized, with every de-identified header.
fn anonymized(config: &str) -> (Fixture, BTreeMap<String, (InMemDicomObject, Vec<u8>)>) {
    let mut fixture = fixture(config);
    fixture.session.audit().unwrap();
    fixture.session.anonymize_metadata().unwrap();
    let headers = deidentified(&fixture.session);
    (fixture, headers)
}

/// Every de-identified header, by original SOP Instance UID, with its blob.
fn deidentified(session: &Session) -> BTreeMap<String, (InMemDicomObject, Vec<u8>)> {
    let mut out = BTreeMap::new();
    let mut after = 0;
    loop {
        let batch = session.store().instances_after(after, 100).unwrap();
        let Some(last) = batch.last() else { break };
        after = last.record.id;
        for stored in batch {
            let blob = stored
                .deidentified
                .expect("every instance is de-identified");
            out.insert(
                stored.record.sop_instance_uid.clone(),
                (decode_header(&blob).unwrap(), blob),
            );
        }
    }
    out
}

fn text(obj: &InMemDicomObject, tag: Tag) -> Option<String> {
    obj.get(tag)
        .and_then(|e| e.to_str().ok())
        .map(|s| s.trim_end_matches(['\0', ' ']).to_string())
}

fn all_uids(obj: &InMemDicomObject, out: &mut Vec<(Tag, String)>) {
    for e in obj.iter() {
        if let Some(items) = e.items() {
            for item in items {
                all_uids(item, out);
            }
        } else if e.vr() == dicom_core::VR::UI {
            for v in e.to_multi_str().unwrap().iter() {
                out.push((e.tag(), v.trim_end_matches(['\0', ' ']).to_string()));
            }
        }
    }
}

#[test]
fn planted_phi_is_found_removed_and_verified_gone() {
    let Fixture {
        _dir,
        dump,
        mut session,
    } = fixture(CONFIG);
    assert!(gantry_synth::PLANTED_PLACES.len() >= 30);

    let audit = session.audit().unwrap();
    assert!(!audit.is_clean());
    assert_eq!(audit.instances as usize, dump.expected_indexed());
    assert_eq!(audit.instances_with_findings, audit.instances);
    assert!(audit.nested > 0, "findings inside sequences");
    for rule in ["profile", "private tag", "config", "identity marker"] {
        assert!(
            audit.by_rule.contains_key(rule),
            "{rule} in {:?}",
            audit.by_rule
        );
    }
    // Every planted place is a finding somewhere (by its own tag).
    for tag in [
        "(0010,0010)",
        "(0010,0020)",
        "(0010,0030)",
        "(0010,1000)",
        "(0010,1002)",
        "(0010,1040)",
        "(0010,2154)",
        "(0010,1060)",
        "(0010,4000)",
        "(0010,21B0)",
        "(0008,0050)",
        "(0020,0010)",
        "(0008,1030)",
        "(0008,103E)",
        "(0020,4000)",
        "(0008,0080)",
        "(0008,0081)",
        "(0008,0090)",
        "(0008,0092)",
        "(0008,1050)",
        "(0008,1070)",
        "(0032,1032)",
        "(0038,0010)",
        "(0008,1010)",
        "(0018,1000)",
        "(0020,000D)",
        "(0020,000E)",
        "(0008,0018)",
        "(0020,0052)",
        "(0040,0275)",
        "(0008,1032)",
        "(0009,1010)",
        "(0009,1011)",
        "(0009,1020)",
        "(0008,0020)",
        "(0008,002A)",
        "(6000,3000)",
        "(6000,0022)",
        "(0008,1140)",
        "(0008,1120)",
    ] {
        assert!(
            audit.by_tag.keys().any(|k| k.starts_with(tag)) || nested_finding(&mut session, tag),
            "{tag} found: {:?}",
            audit.by_tag.keys().collect::<Vec<_>>()
        );
    }
    let text_report = audit.to_string();
    assert!(text_report.contains("NOT CLEAN"));
    assert!(
        !text_report.contains(&dump.patients[0].family),
        "values are masked in the display"
    );
    // Each instance's findings are stored, as their summary: counts per action and why
    // each that blocks does, never a value.
    let stored = session
        .store()
        .findings(audit.examples[0].instance, "audit")
        .unwrap()
        .unwrap();
    let summary: serde_json::Value = serde_json::from_str(&stored).unwrap();
    assert!(
        summary["by_action"]
            .as_object()
            .is_some_and(|counts| !counts.is_empty()),
        "{stored}"
    );
    assert!(!stored.contains(&dump.patients[0].family), "{stored}");

    let anonymized = session.anonymize_metadata().unwrap();
    assert_eq!(anonymized.written as usize, dump.expected_indexed());
    assert!(anonymized.failed.is_empty(), "{anonymized}");

    let redacted = session.redact_pixels().unwrap();
    assert!(redacted.failed.is_empty(), "{redacted}");
    let verify = session.verify().unwrap();
    assert!(verify.is_clean(), "{verify}");

    // A byte scan of every written header finds none of the planted strings, in any letter
    // case, with ^ as a space too.
    let planted: Vec<String> = dump.planted_identifiers();
    let headers = deidentified(&session);
    for (uid, (_, blob)) in &headers {
        let lower: Vec<u8> = blob.iter().map(u8::to_ascii_lowercase).collect();
        for needle in &planted {
            for form in [
                needle.to_lowercase(),
                needle.to_lowercase().replace('^', " "),
            ] {
                assert!(
                    !lower.windows(form.len()).any(|w| w == form.as_bytes()),
                    "{form:?} survives in the header of {uid}"
                );
            }
        }
    }
}

fn nested_finding(session: &mut Session, tag: &str) -> bool {
    let mut after = 0;
    loop {
        let batch = session.store().instances_after(after, 100).unwrap();
        let Some(last) = batch.last() else {
            return false;
        };
        after = last.record.id;
        // The store keeps each instance's findings as a summary: `show` gives them whole.
        for stored in batch {
            let preview = session
                .show(stored.record.source_path.to_str().unwrap(), false)
                .unwrap();
            if preview
                .attributes
                .iter()
                .any(|a| a.rule.is_some() && a.path.to_string().contains(tag))
            {
                return true;
            }
        }
    }
}

#[test]
fn uids_are_remapped_and_references_follow() {
    let (Fixture { _dir, dump, .. }, headers) = anonymized(CONFIG);

    let new_uid_of: HashMap<&str, String> = headers
        .iter()
        .map(|(old, (h, _))| (old.as_str(), text(h, tags::SOP_INSTANCE_UID).unwrap()))
        .collect();
    for truth in &dump.instances {
        let (header, _) = &headers[&truth.sop_instance_uid];
        let original = read_source(&truth.path).unwrap().header;
        let mut before = Vec::new();
        all_uids(&original, &mut before);
        let before: BTreeSet<String> = before
            .into_iter()
            .filter(|(_, v)| !v.starts_with("1.2.840.10008."))
            .map(|(_, v)| v)
            .collect();
        let mut after = Vec::new();
        all_uids(header, &mut after);
        for (tag, value) in &after {
            assert!(!before.contains(value), "{tag} keeps {value}");
        }
        if let Some(referenced) = &truth.references {
            let seq = header
                .get(tags::REFERENCED_IMAGE_SEQUENCE)
                .expect("reference kept");
            let item = &seq.items().unwrap()[0];
            assert_eq!(
                text(item, tags::REFERENCED_SOP_INSTANCE_UID).as_ref(),
                new_uid_of.get(referenced.as_str()),
                "the reference resolves to the remapped UID of the instance it pointed at"
            );
        }
        // Same study, same new study UID, in every instance.
        let study = text(header, tags::STUDY_INSTANCE_UID).unwrap();
        assert!(study.starts_with("2.25."));
    }
    let studies: BTreeSet<String> = headers
        .values()
        .map(|(h, _)| text(h, tags::STUDY_INSTANCE_UID).unwrap())
        .collect();
    let original_studies: BTreeSet<&str> = dump
        .instances
        .iter()
        .map(|i| i.study_instance_uid.as_str())
        .collect();
    assert_eq!(studies.len(), original_studies.len());
}

#[test]
fn each_patient_keeps_one_pseudonym_and_the_intervals_between_dates() {
    let (Fixture { _dir, dump, .. }, headers) = anonymized(CONFIG);

    let mut pseudonym_of: HashMap<usize, BTreeSet<(String, String)>> = HashMap::new();
    let mut dates_of: HashMap<usize, Vec<(String, String)>> = HashMap::new();
    for truth in &dump.instances {
        let (header, _) = &headers[&truth.sop_instance_uid];
        pseudonym_of.entry(truth.patient).or_default().insert((
            text(header, tags::PATIENT_ID).unwrap(),
            text(header, tags::PATIENT_NAME).unwrap(),
        ));
        dates_of.entry(truth.patient).or_default().push((
            truth.study_date.clone(),
            text(header, tags::STUDY_DATE).unwrap(),
        ));
        // The birth date is emptied (Z): the Modified Dates option does not cover it.
        assert_eq!(text(header, tags::PATIENT_BIRTH_DATE).as_deref(), Some(""));
        let created = text(header, tags::INSTANCE_CREATION_DATE).unwrap();
        let shifted_study = text(header, tags::STUDY_DATE).unwrap();
        assert_eq!(
            gantry_core::dates::days_between(&shifted_study, &created),
            Some(0),
            "instance-level dates move with the study date"
        );
        // DT with a time-zone offset keeps its time and zone.
        let dt = text(header, tags::ACQUISITION_DATE_TIME);
        if let Some(dt) = dt {
            assert!(dt.ends_with(".123456+0100"), "{dt}");
        }
    }
    let mut seen = BTreeSet::new();
    for (patient, pseudonyms) in &pseudonym_of {
        assert_eq!(
            pseudonyms.len(),
            1,
            "patient {patient} has one pseudonym everywhere"
        );
        let (id, name) = pseudonyms.iter().next().unwrap();
        assert!(id.starts_with("ANON-") && id == name);
        assert!(seen.insert(id.clone()), "two patients share {id}");
    }
    for (patient, dates) in dates_of {
        let (first_before, first_after) = &dates[0];
        assert_ne!(first_before, first_after, "dates moved");
        for (before, after) in &dates {
            assert_eq!(
                gantry_core::dates::days_between(first_before, before),
                gantry_core::dates::days_between(first_after, after),
                "patient {patient}: intervals unchanged"
            );
        }
    }
}

#[test]
fn known_failures_of_the_original_are_fixed() {
    let (Fixture { _dir, dump, .. }, headers) = anonymized(CONFIG);
    for truth in &dump.instances {
        let (header, _) = &headers[&truth.sop_instance_uid];
        // The config tag written "0008,103E" in upper case applies.
        assert_eq!(
            text(header, tags::SERIES_DESCRIPTION).as_deref(),
            Some("SERIES")
        );
        // PHI in nested sequences is removed: the request (three levels) and the private
        // sequence are gone; nothing private is left.
        assert!(header.get(tags::REQUEST_ATTRIBUTES_SEQUENCE).is_none());
        assert!(
            header.iter().all(|e| e.tag().group() % 2 == 0),
            "no private tags"
        );
        // Instance-level attributes are enforced, not only patient and study ones.
        assert!(header.get(tags::IMAGE_COMMENTS).is_none());
        assert_ne!(
            text(header, tags::INSTANCE_CREATION_DATE).unwrap(),
            truth.study_date
        );
        // The markers.
        assert_eq!(
            text(header, tags::PATIENT_IDENTITY_REMOVED).as_deref(),
            Some("YES")
        );
        assert_eq!(
            text(header, tags::LONGITUDINAL_TEMPORAL_INFORMATION_MODIFIED).as_deref(),
            Some("MODIFIED")
        );
        let codes: Vec<String> = header
            .get(tags::DEIDENTIFICATION_METHOD_CODE_SEQUENCE)
            .unwrap()
            .items()
            .unwrap()
            .iter()
            .map(|i| text(i, tags::CODE_VALUE).unwrap())
            .collect();
        assert_eq!(codes, ["113100", "113107"]);
    }
}

#[test]
fn anonymizing_twice_changes_nothing_more() {
    let Fixture {
        _dir, mut session, ..
    } = fixture(CONFIG);
    session.audit().unwrap();
    let first = session.anonymize_metadata().unwrap();
    let before = deidentified(&session);
    let second = session.anonymize_metadata().unwrap();
    assert_eq!(second.written, 0);
    assert_eq!(second.unchanged, first.written);
    let after = deidentified(&session);
    assert!(before.iter().zip(after.iter()).all(|(a, b)| a.1.1 == b.1.1));
}

#[test]
fn echoes_in_kept_text_are_found_and_cleaned() {
    // Keep free text the profile would remove: echoes of the name and MRN must go anyway.
    let config = format!(
        "{CONFIG}  ImageComments: {{ action: KEEP }}\n  \"0010,4000\": {{ action: CLEAN }}\n"
    );
    let Fixture {
        _dir,
        dump,
        mut session,
    } = fixture(&config);
    let audit = session.audit().unwrap();
    assert!(
        audit.by_rule.contains_key("identifier echo"),
        "{:?}",
        audit.by_rule
    );
    session.anonymize_metadata().unwrap();
    session.redact_pixels().unwrap();
    let verify = session.verify().unwrap();
    assert!(verify.is_clean(), "{verify}");
    let headers = deidentified(&session);
    let truth = &dump.instances[0];
    let patient = &dump.patients[truth.patient];
    let (header, _) = &headers[&truth.sop_instance_uid];
    let comments = text(header, tags::IMAGE_COMMENTS).unwrap();
    assert!(
        comments.contains("tolerated the exam"),
        "the rest of the text is kept: {comments}"
    );
    for id in [&patient.family, &patient.given, &patient.mrn] {
        assert!(
            !comments.to_lowercase().contains(&id.to_lowercase()),
            "{comments}"
        );
    }
}

#[test]
fn verify_catches_a_header_that_was_tampered_with() {
    let Fixture {
        _dir,
        dump,
        mut session,
    } = fixture(CONFIG);
    session.audit().unwrap();
    session.anonymize_metadata().unwrap();
    // Put the patient's name back into one de-identified header, deep in a sequence.
    let first = session.store().instances_after(0, 1).unwrap().remove(0);
    let mut header = decode_header(first.deidentified.as_ref().unwrap()).unwrap();
    let truth = dump
        .instances
        .iter()
        .find(|i| i.sop_instance_uid == first.record.sop_instance_uid)
        .unwrap();
    let name = dump.patients[truth.patient].dicom_name();
    header.put(dicom_core::DataElement::new(
        tags::ADDITIONAL_PATIENT_HISTORY,
        dicom_core::VR::LT,
        dicom_core::PrimitiveValue::from(format!("for {name}")),
    ));
    let blob = gantry_store::encode_header(&header).unwrap();
    drop(header);
    // Write it through a second connection, as a careless script might.
    let db = session.database().to_path_buf();
    drop(session);
    {
        let conn = rusqlite::Connection::open(&db).unwrap();
        conn.execute(
            "UPDATE headers SET deidentified = ?1 WHERE instance_id = ?2",
            rusqlite::params![blob, first.record.id],
        )
        .unwrap();
    }
    let mut session = Session::builder()
        .database(&db)
        .secret(secret())
        .open()
        .unwrap();
    session.redact_pixels().unwrap();
    let verify = session.verify().unwrap();
    assert!(!verify.is_clean());
    assert_eq!(verify.instances_with_findings, 1, "{verify}");
    assert!(verify.examples.iter().any(|f| matches!(
        f.element.rule,
        RuleSource::Profile { .. } | RuleSource::IdentifierEcho { .. } | RuleSource::Survived
    )));
}
