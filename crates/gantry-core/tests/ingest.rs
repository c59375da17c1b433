//! Checkpoints 1 and 2 on real and synthetic dumps.

mod common;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use gantry_core::{FileOutcome, Session};
use gantry_synth::{DumpSpec, generate};

fn samples() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/data/pydicom")
}

fn names(paths: impl IntoIterator<Item = PathBuf>) -> BTreeSet<String> {
    paths
        .into_iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect()
}

#[test]
fn pydicom_samples_are_indexed_or_skipped_with_their_reason() {
    let dir = tempfile::tempdir().unwrap();
    let mut session = Session::open(dir.path().join("gantry.db")).unwrap();
    let report = session.ingest(samples()).unwrap();

    let skipped: BTreeSet<(String, &str)> = report
        .skipped
        .iter()
        .map(|f| {
            (
                f.path.file_name().unwrap().to_string_lossy().into_owned(),
                f.reason.code(),
            )
        })
        .collect();
    let expected: BTreeSet<(String, &str)> = [
        ("MR_truncated.dcm", "truncated"),
        ("rtplan_truncated.dcm", "truncated"),
        ("no_meta.dcm", "not_dicom"),
        ("PYDICOM-TEST-FILES-README.txt", "not_dicom"),
        // A private sequence with VR UN and undefined length holds implicit VR items
        // (CP-246); dicom-parser reads them as explicit VR and finds absurd lengths.
        ("UN_sequence.dcm", "absurd_length"),
        // Parser test fragments, not instances: no SOP Instance UID to index them by.
        ("empty_charset_LEI.dcm", "missing_sop_instance_uid"),
        ("meta_missing_tsyntax.dcm", "missing_sop_instance_uid"),
        ("nested_priv_SQ.dcm", "missing_sop_instance_uid"),
        ("no_meta_group_length.dcm", "missing_sop_instance_uid"),
        ("priv_SQ.dcm", "missing_sop_instance_uid"),
    ]
    .into_iter()
    .map(|(n, c)| (n.to_string(), c))
    .collect();
    assert_eq!(skipped, expected);

    // Same SOP Instance UID in several sample files: copies and variants of one image.
    let indexed = session.store().files(FileOutcome::Indexed).unwrap();
    let duplicates = session.store().files(FileOutcome::Duplicate).unwrap();
    let conflicts = session.store().files(FileOutcome::Conflict).unwrap();
    assert_eq!(
        indexed.len() + duplicates.len() + conflicts.len() + skipped.len(),
        79,
        "every file has exactly one outcome"
    );
    assert_eq!(report.seen, 79);
    assert_eq!(report.indexed as usize, indexed.len());
    let indexed_names = names(indexed.iter().map(|f| f.path.clone()));
    for must in [
        "CT_small.dcm",
        "image_dfl.dcm",
        "ExplVR_BigEndNoMeta.dcm",
        "rtstruct.dcm",
        "SC_rgb_jpeg.dcm",
        "waveform_ecg.dcm",
    ] {
        let in_some_set = indexed_names.contains(must)
            || names(conflicts.iter().map(|f| f.path.clone())).contains(must)
            || names(duplicates.iter().map(|f| f.path.clone())).contains(must);
        assert!(in_some_set, "{must} was read");
    }
    for conflict in &conflicts {
        let detail = conflict.detail.as_deref().unwrap_or_default();
        assert!(detail.contains("already indexed from"), "{detail}");
    }
    assert_eq!(
        session.store().instance_count().unwrap() as usize,
        indexed.len()
    );
}

#[test]
fn synthetic_dump_is_indexed_as_generated() {
    let dir = tempfile::tempdir().unwrap();
    let dump = generate(&dir.path().join("dump"), &DumpSpec::default()).unwrap();
    let mut session = Session::open(dir.path().join("gantry.db")).unwrap();
    let report = session.ingest(&dump.root).unwrap();

    assert_eq!(report.indexed as usize, dump.expected_indexed());
    assert_eq!(
        report.guessed_syntax, 1,
        "the data set written without meta"
    );
    let skipped: BTreeSet<(PathBuf, &str)> = report
        .skipped
        .iter()
        .map(|f| (f.path.clone(), f.reason.code()))
        .collect();
    let expected: BTreeSet<(PathBuf, &str)> = dump
        .junk
        .iter()
        .map(|j| (j.path.clone(), j.expected_reason))
        .collect();
    assert_eq!(skipped, expected);
    assert_eq!(
        names(report.duplicates.iter().map(|n| n.path.clone())),
        names(dump.duplicates.clone())
    );
    assert_eq!(
        names(report.conflicts.iter().map(|n| n.path.clone())),
        names(dump.conflicts.clone())
    );

    let inventory = session.examine().unwrap();
    assert_eq!(inventory.patients as usize, dump.patients.len());
    assert_eq!(inventory.instances as usize, dump.expected_indexed());
    let studies: BTreeSet<&str> = dump
        .instances
        .iter()
        .map(|i| i.study_instance_uid.as_str())
        .collect();
    assert_eq!(inventory.studies as usize, studies.len());
    let us = inventory
        .modalities
        .iter()
        .find(|m| m.value.as_deref() == Some("US"));
    let us_truth = dump
        .instances
        .iter()
        .filter(|i| i.geometry.samples == 3)
        .count();
    assert_eq!(us.map(|m| m.instances as usize), Some(us_truth));
    assert!(
        inventory
            .devices
            .iter()
            .any(|d| d.model_name.as_deref() == Some("LOGIQ9"))
            || !dump
                .instances
                .iter()
                .any(|i| i.device == gantry_synth::Device::GeLogiqUs)
    );
    let text = inventory.to_string();
    assert!(text.contains("burned in annotation"), "{text}");
    let json = serde_json::to_value(&inventory).unwrap();
    assert_eq!(json["instances"], inventory.instances);

    // The query API narrows by attribute.
    let acme = session.query().manufacturer("ACME Imaging").list().unwrap();
    let acme_truth = dump
        .instances
        .iter()
        .filter(|i| i.device == gantry_synth::Device::AcmeUs)
        .count();
    assert_eq!(acme.len(), acme_truth);
    assert!(
        acme.iter()
            .all(|i| i.burned_in_annotation.as_deref() == Some("YES"))
    );
}

#[test]
fn reingest_reads_only_what_changed() {
    let dir = tempfile::tempdir().unwrap();
    let dump = generate(&dir.path().join("dump"), &DumpSpec::default()).unwrap();
    let mut session = Session::open(dir.path().join("gantry.db")).unwrap();
    let first = session.ingest(&dump.root).unwrap();

    let again = session.ingest(&dump.root).unwrap();
    assert_eq!(again.unchanged, first.seen);
    assert_eq!(again.indexed, 0);
    assert!(again.skipped.is_empty());

    // Rewrite one instance with different content: it is re-read and replaces the old row.
    let target = &dump.instances[0];
    let mut obj = dicom_object::open_file(&target.path).unwrap();
    obj.put(dicom_core::DataElement::new(
        dicom_dictionary_std::tags::STUDY_DESCRIPTION,
        dicom_core::VR::LO,
        dicom_core::PrimitiveValue::from("changed"),
    ));
    std::thread::sleep(std::time::Duration::from_millis(20));
    obj.write_to_file(&target.path).unwrap();
    let third = session.ingest(&dump.root).unwrap();
    assert_eq!(third.indexed, 1);
    assert_eq!(third.reindexed, 1);
    assert_eq!(third.unchanged, first.seen - 1);
    assert_eq!(
        session.store().instance_count().unwrap() as usize,
        dump.expected_indexed()
    );
}

#[test]
fn inputs_are_never_modified() {
    let dir = tempfile::tempdir().unwrap();
    let dump = generate(&dir.path().join("dump"), &DumpSpec::default()).unwrap();
    let before: Vec<(PathBuf, Vec<u8>)> = dump
        .instances
        .iter()
        .map(|i| (i.path.clone(), std::fs::read(&i.path).unwrap()))
        .collect();
    let mut session = Session::open(dir.path().join("gantry.db")).unwrap();
    session.ingest(&dump.root).unwrap();
    for (path, bytes) in before {
        assert_eq!(std::fs::read(&path).unwrap(), bytes, "{}", path.display());
    }
}

#[cfg(unix)]
#[test]
fn symlink_loops_are_reported_not_followed_forever() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("tree");
    std::fs::create_dir_all(root.join("a")).unwrap();
    std::fs::copy(samples().join("CT_small.dcm"), root.join("a/ct.dcm")).unwrap();
    std::os::unix::fs::symlink(&root, root.join("a/back_to_top")).unwrap();
    let mut session = Session::open(dir.path().join("gantry.db")).unwrap();
    let report = session.ingest(&root).unwrap();
    assert_eq!(report.indexed, 1);
    assert!(
        report.walk_errors.iter().any(|e| e.detail.contains("loop")),
        "{report}"
    );
}

#[test]
fn a_missing_root_is_an_error_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let mut session = Session::open(dir.path().join("gantry.db")).unwrap();
    let err = session.ingest(dir.path().join("nope")).unwrap_err();
    assert!(err.to_string().contains("nope"), "{err}");
}

#[cfg(unix)]
#[test]
fn links_leaving_the_roots_are_noted_and_skipped_unless_allowed() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("dump");
    let elsewhere = dir.path().join("elsewhere");
    std::fs::create_dir_all(root.join("inside")).unwrap();
    std::fs::create_dir_all(&elsewhere).unwrap();
    std::fs::copy(samples().join("CT_small.dcm"), root.join("inside/ct.dcm")).unwrap();
    std::fs::copy(samples().join("MR_small.dcm"), elsewhere.join("mr.dcm")).unwrap();
    // A link inside the roots is followed; links to a file and to a folder outside are not.
    std::os::unix::fs::symlink(root.join("inside"), root.join("again")).unwrap();
    std::os::unix::fs::symlink(elsewhere.join("mr.dcm"), root.join("mr_link.dcm")).unwrap();
    std::os::unix::fs::symlink(&elsewhere, root.join("out_link")).unwrap();

    let mut session = Session::open(dir.path().join("gantry.db")).unwrap();
    let report = session.ingest(&root).unwrap();
    assert_eq!(report.indexed, 1, "{report}");
    let outside: Vec<_> = report
        .walk_errors
        .iter()
        .filter(|e| e.detail.contains("outside the ingest roots"))
        .map(|e| e.path.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    assert_eq!(outside, ["mr_link.dcm", "out_link"], "{report}");
    drop(session);

    let mut session = Session::builder()
        .database(dir.path().join("follow.db"))
        .follow_links(true)
        .open()
        .unwrap();
    let report = session.ingest(&root).unwrap();
    assert_eq!(report.indexed, 2, "{report}");
    assert!(
        !report
            .walk_errors
            .iter()
            .any(|e| e.detail.contains("outside")),
        "{report}"
    );
}

#[cfg(unix)]
#[test]
fn fifos_and_sockets_are_noted_and_skipped_without_blocking() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("dump");
    std::fs::create_dir_all(&root).unwrap();
    std::fs::copy(samples().join("CT_small.dcm"), root.join("ct.dcm")).unwrap();
    let fifo = root.join("pipe.dcm");
    let name = std::ffi::CString::new(fifo.as_os_str().as_encoded_bytes()).unwrap();
    // SAFETY: a valid NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(name.as_ptr(), 0o600) }, 0);
    let _socket = std::os::unix::net::UnixListener::bind(root.join("sock.dcm")).unwrap();

    let mut session = Session::open(dir.path().join("gantry.db")).unwrap();
    let report = session.ingest(&root).unwrap();
    assert_eq!(report.indexed, 1, "{report}");
    let note = |name: &str| {
        report
            .walk_errors
            .iter()
            .find(|e| e.path.ends_with(name))
            .map(|e| e.detail.clone())
            .unwrap_or_default()
    };
    assert!(note("pipe.dcm").contains("FIFO"), "{report}");
    assert!(note("sock.dcm").contains("socket"), "{report}");
    // Named as an ingest root, a FIFO is noted the same way.
    let report = session.ingest(&fifo).unwrap();
    assert!(
        report.walk_errors.iter().any(|e| e.detail.contains("FIFO")),
        "{report}"
    );
}

#[cfg(unix)]
#[test]
fn a_file_whose_name_is_not_utf8_goes_through_every_checkpoint() {
    use std::os::unix::ffi::OsStrExt;
    let work = tempfile::tempdir().unwrap();
    let source = work.path().join("in");
    std::fs::create_dir_all(&source).unwrap();
    let sample = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/data/pydicom/CT_small.dcm");
    // "MÜLLER" in Latin-1, as old archives name files.
    let name = source.join(std::ffi::OsStr::from_bytes(b"M\xdcLLER.dcm"));
    std::fs::copy(&sample, &name).unwrap();
    // And a broken one, whose name every report that lists it must carry.
    std::fs::write(
        source.join(std::ffi::OsStr::from_bytes(b"\xc9TIENNE.dcm")),
        b"",
    )
    .unwrap();
    // And an ultrasound no rule covers, which is blocked: the report names it.
    let mut us = dicom_object::open_file(&sample).unwrap();
    us.put(dicom_core::DataElement::new(
        dicom_core::Tag(0x0008, 0x0060),
        dicom_core::VR::CS,
        dicom_core::PrimitiveValue::from("US"),
    ));
    us.put(dicom_core::DataElement::new(
        dicom_core::Tag(0x0008, 0x0018),
        dicom_core::VR::UI,
        dicom_core::PrimitiveValue::from("1.2.826.0.1.3680043.2.1125.77.1"),
    ));
    us.write_to_file(source.join(std::ffi::OsStr::from_bytes(b"B\xc9B\xc9.dcm")))
        .unwrap();
    let report = common::run_checkpoints(work.path(), &source, "version: \"2.0\"\n", true);
    assert_eq!((report.written, report.blocked.len()), (1, 1), "{report}");
    let json = serde_json::to_string(&report).unwrap();
    assert!(json.contains("B\u{FFFD}B\u{FFFD}.dcm"), "{json}");
}

/// Two files holding one SOP Instance UID with different content, the first (in name
/// order) modified `first_age` seconds ago and the second `second_age`.
fn conflicting_pair(dir: &std::path::Path, names: [&str; 2], ages: [u64; 2]) {
    use dicom_core::{DataElement, PrimitiveValue, VR};
    use dicom_dictionary_std::tags;
    for (i, (name, age)) in names.iter().zip(ages).enumerate() {
        let mut obj = dicom_object::InMemDicomObject::new_empty();
        for (tag, vr, value) in [
            (tags::SOP_CLASS_UID, VR::UI, "1.2.840.10008.5.1.4.1.1.7"),
            (tags::SOP_INSTANCE_UID, VR::UI, "1.2.826.0.1.3680043.9.88.1"),
            (tags::PATIENT_ID, VR::LO, "P1"),
            (tags::MODALITY, VR::CS, "OT"),
        ] {
            obj.put(DataElement::new(tag, vr, PrimitiveValue::from(value)));
        }
        obj.put(DataElement::new(
            tags::PATIENT_COMMENTS,
            VR::LT,
            PrimitiveValue::from(format!("copy {i}")),
        ));
        let path = dir.join(name);
        common::write_instance(&path, obj);
        let when = std::time::SystemTime::now() - std::time::Duration::from_secs(age);
        std::fs::File::options()
            .write(true)
            .open(&path)
            .unwrap()
            .set_modified(when)
            .unwrap();
    }
}

#[test]
fn a_uid_conflict_keeps_the_copy_the_policy_names_and_says_which() {
    use gantry_core::UidConflict;
    for (policy, names, ages, kept) in [
        // keep_first: the first in the walk's (name) order, though it is older.
        (
            UidConflict::KeepFirst,
            ["a.dcm", "b.dcm"],
            [3600, 60],
            "a.dcm",
        ),
        // keep_newest: the one modified last, though it comes second.
        (
            UidConflict::KeepNewest,
            ["a.dcm", "b.dcm"],
            [3600, 60],
            "b.dcm",
        ),
        // keep_newest, the newer first: it stays.
        (
            UidConflict::KeepNewest,
            ["a.dcm", "b.dcm"],
            [60, 3600],
            "a.dcm",
        ),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        std::fs::create_dir(&data).unwrap();
        conflicting_pair(&data, names, ages);
        let mut session = Session::builder()
            .database(dir.path().join("g.db"))
            .on_uid_conflict(policy)
            .open()
            .unwrap();
        let report = session.ingest(&data).unwrap();
        let context = format!("{policy:?} {ages:?}");
        assert_eq!(report.conflicts.len(), 1, "{context}: {report}");
        let note = &report.conflicts[0];
        let kept_path = data.join(kept).canonicalize().unwrap();
        assert_eq!(note.kept.as_deref(), Some(kept_path.as_path()), "{context}");
        assert_ne!(note.path, kept_path, "{context}");
        assert!(note.detail.contains("which is kept"), "{}", note.detail);
        let indexed = session.store().files(FileOutcome::Conflict).unwrap();
        assert_eq!(indexed.len(), 1);
        assert_eq!(indexed[0].path, note.path, "{context}");
        let instances = session.store().list_instances(&Default::default()).unwrap();
        assert_eq!(instances.len(), 1);
        assert_eq!(instances[0].source_path, kept_path, "{context}");
        // Ingesting again changes nothing.
        let again = session.ingest(&data).unwrap();
        assert_eq!(again.unchanged, 2, "{context}: {again}");
        assert!(again.conflicts.is_empty());
        let instances = session.store().list_instances(&Default::default()).unwrap();
        assert_eq!(instances[0].source_path, kept_path, "{context}");
    }
}

#[test]
fn keep_all_exports_every_copy_with_its_own_new_uid_and_seals_the_true_one() {
    use dicom_dictionary_std::tags;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir(&data).unwrap();
    conflicting_pair(&data, ["a.dcm", "b.dcm"], [3600, 60]);
    let mut session = Session::builder()
        .database(dir.path().join("g.db"))
        .on_uid_conflict(gantry_core::UidConflict::KeepAll)
        .open()
        .unwrap();
    let report = session.ingest(&data).unwrap();
    assert_eq!(report.indexed, 2, "{report}");
    assert_eq!(report.conflicts.len(), 1);
    assert!(report.conflicts[0].detail.contains("keep_all"));
    // Ingesting again changes nothing.
    let again = session.ingest(&data).unwrap();
    assert_eq!((again.unchanged, again.indexed), (2, 0), "{again}");

    let config = dir.path().join("c.yaml");
    std::fs::write(&config, "version: \"2.0\"\n").unwrap();
    session.load_config(&config).unwrap();
    session.audit().unwrap();
    let key = gantry_core::KeyFile::create(dir.path().join("k.key")).unwrap();
    session
        .enable_reversible_anonymization(key.clone())
        .unwrap();
    session.preserve_identities().unwrap();
    session.anonymize_metadata().unwrap();
    session.redact_pixels().unwrap();
    let verify = session.verify().unwrap();
    assert!(verify.is_clean(), "{verify}");
    let out = dir.path().join("out");
    let export = session.export(&out).run().unwrap();
    assert_eq!(export.written, 2, "{export}");

    let files = common::dicom_files(&out);
    let uids: BTreeSet<String> = files
        .iter()
        .map(|f| {
            let obj = dicom_object::open_file(f).unwrap();
            obj.element(tags::SOP_INSTANCE_UID)
                .unwrap()
                .to_str()
                .unwrap()
                .trim_end_matches('\0')
                .to_string()
        })
        .collect();
    assert_eq!(uids.len(), 2, "each copy has its own new UID: {uids:?}");
    assert!(!uids.contains("1.2.826.0.1.3680043.9.88.1"));
    // Both copies recover the UID their file really had.
    let recovered =
        gantry_core::recover_identities(&out, gantry_core::Credential::Key(&key), None).unwrap();
    assert_eq!(recovered.recovered.len(), 2, "{recovered}");
    for file in &recovered.recovered {
        assert_eq!(
            file.originals
                .get("0008,0018")
                .map(|u| u.trim_end_matches('\0')),
            Some("1.2.826.0.1.3680043.9.88.1"),
            "{:?}",
            file.originals
        );
    }
}

#[test]
fn a_keep_all_copys_own_uid_left_in_a_kept_value_is_still_found() {
    use dicom_core::{DataElement, PrimitiveValue, Tag, VR};
    use dicom_dictionary_std::tags;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir(&data).unwrap();
    let uid = "1.2.826.0.1.3680043.9.88.7";
    for (i, name) in ["a.dcm", "b.dcm"].iter().enumerate() {
        let mut obj = dicom_object::InMemDicomObject::new_empty();
        for (tag, vr, value) in [
            (tags::SOP_CLASS_UID, VR::UI, "1.2.840.10008.5.1.4.1.1.2"),
            (tags::SOP_INSTANCE_UID, VR::UI, uid),
            (tags::PATIENT_ID, VR::LO, "P1"),
            (tags::MODALITY, VR::CS, "CT"),
            (Tag(0x0009, 0x0010), VR::LO, "ACME 1.1"),
        ] {
            obj.put(DataElement::new(tag, vr, PrimitiveValue::from(value)));
        }
        // A safe private binary value (kept, not read as text) holding the file's UID.
        obj.put(DataElement::new(
            Tag(0x0009, 0x1010),
            VR::OB,
            PrimitiveValue::from(format!("copy {i} of {uid}").into_bytes()),
        ));
        common::write_instance(&data.join(name), obj);
    }
    let mut session = Session::builder()
        .database(dir.path().join("g.db"))
        .on_uid_conflict(gantry_core::UidConflict::KeepAll)
        .open()
        .unwrap();
    assert_eq!(session.ingest(&data).unwrap().indexed, 2);
    let config = dir.path().join("c.yaml");
    std::fs::write(
        &config,
        "version: \"2.0\"\nprofile_options: [retain_safe_private]\nsafe_private_tags:\n  - { group: 0x0009, creator: \"ACME 1.1\", element: 0x10 }\n",
    )
    .unwrap();
    session.load_config(&config).unwrap();
    session.audit().unwrap();
    session.anonymize_metadata().unwrap();
    let verify = session.verify().unwrap();
    // Both copies, the one read with a UID of its own included, leak the file's UID.
    assert_eq!(verify.instances_with_findings, 2, "{verify}");
    let export = session.export(dir.path().join("out")).run().unwrap();
    assert_eq!(export.written, 0, "{export}");
}
