//! Shards: the partition by patient, the identifier exchange, and the merge, measured
//! against a single run on the same dump.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use dicom_core::{DataElement, PrimitiveValue, VR};
use dicom_dictionary_std::tags;
use gantry_core::{GantryError, MergeError, NoProgress, Secret, Session, Shard, merge_shards};
use gantry_synth::{DumpSpec, SyntheticDump};

const SECRET: &str = "5ec2e75ec2e75ec2e75ec2e75ec2e75ec2e75ec2e75ec2e75ec2e75ec2e75ec2";
const OTHER_SECRET: &str = "0badc0de0badc0de0badc0de0badc0de0badc0de0badc0de0badc0de0badc0de";

/// Keeps Image Comments (free text the profile removes), where one patient's file will
/// name another patient: only the identifiers of the whole dump find that name.
const CONFIG: &str = r#"
version: "2.0"
privacy_profile: basic
remove_private_tags: true
phi_tags:
  ImageComments: { action: KEEP }
"#;

fn secret(hex: &str) -> Secret {
    Secret::from_hex(hex).unwrap()
}

fn dump(dir: &Path, patients: usize) -> SyntheticDump {
    gantry_synth::generate(
        &dir.join("dump"),
        &DumpSpec {
            seed: 77,
            patients,
            ..Default::default()
        },
    )
    .unwrap()
}

fn write_config(work: &Path, text: &str) -> PathBuf {
    std::fs::create_dir_all(work).unwrap();
    let path = work.join("config.yaml");
    std::fs::write(&path, text).unwrap();
    path
}

/// The SOP Instance UIDs a session indexed, with each one's Patient ID.
fn indexed(session: &Session) -> BTreeMap<String, Option<String>> {
    session
        .store()
        .instances_after(0, 1_000_000)
        .unwrap()
        .into_iter()
        .map(|i| (i.record.sop_instance_uid, i.record.patient_id))
        .collect()
}

/// Checkpoints 2 to 9 on a session that has ingested, exporting to `out`.
fn finish(session: &mut Session, config: &Path, out: &Path) -> gantry_core::ExportReport {
    session.load_config(config).unwrap();
    session.audit().unwrap();
    session.anonymize_metadata().unwrap();
    session.redact_pixels().unwrap();
    session.verify().unwrap();
    session.export(out).run().unwrap()
}

/// The whole dump in one session; its export is `work/single`.
fn single_run(work: &Path, dump: &Path, config: &str, hex: &str) -> PathBuf {
    let config = write_config(work, config);
    let mut session = Session::builder()
        .database(work.join("single.db"))
        .secret(secret(hex))
        .open()
        .unwrap();
    session.ingest(dump).unwrap();
    let out = work.join("single");
    let report = finish(&mut session, &config, &out);
    std::fs::write(work.join("export.txt"), report.to_string()).unwrap();
    out
}

/// Phase one of a sharded run: shard `index` of `count` ingests and writes its
/// identifiers into `work/ids`.
fn shard_ingest(work: &Path, dump: &Path, config: &str, hex: &str, index: u32, count: u32) {
    let config = write_config(work, config);
    let mut session = Session::builder()
        .database(work.join(format!("shard{index}.db")))
        .secret(secret(hex))
        .shard(Shard::new(index, count).unwrap())
        .open()
        .unwrap();
    session.ingest(dump).unwrap();
    session.load_config(&config).unwrap();
    std::fs::create_dir_all(work.join("ids")).unwrap();
    session
        .export_identities(work.join(format!("ids/shard-{index}.identities")))
        .unwrap();
}

/// Phase two: the shard (its database remembers which it is) imports the others'
/// identifiers and runs to export, in `work/out{index}`.
fn shard_finish(work: &Path, dump: &Path, index: u32) -> PathBuf {
    let mut session = Session::open(work.join(format!("shard{index}.db"))).unwrap();
    session.import_identities(&[work.join("ids")]).unwrap();
    session.ingest(dump).unwrap();
    let out = work.join(format!("out{index}"));
    finish(&mut session, &work.join("config.yaml"), &out);
    out
}

fn sharded_run(work: &Path, dump: &Path, config: &str, hex: &str, count: u32) -> Vec<PathBuf> {
    for index in 1..=count {
        shard_ingest(work, dump, config, hex, index, count);
    }
    (1..=count).map(|i| shard_finish(work, dump, i)).collect()
}

/// Which shard of `count` each patient of `dump` lands in (by a scratch ingest).
fn partition(work: &Path, dump: &SyntheticDump, count: u32) -> Vec<u32> {
    let mut shard_of = vec![0; dump.patients.len()];
    for index in 1..=count {
        let mut session = Session::builder()
            .database(work.join(format!("scratch{index}.db")))
            .secret(secret(SECRET))
            .shard(Shard::new(index, count).unwrap())
            .open()
            .unwrap();
        session.ingest(&dump.root).unwrap();
        let uids = indexed(&session);
        for truth in &dump.instances {
            if uids.contains_key(&truth.sop_instance_uid) {
                shard_of[truth.patient] = index;
            }
        }
    }
    shard_of
}

/// A patient of shard 1 of 2, and one of shard 2.
fn one_patient_of_each_shard(work: &Path, dump: &SyntheticDump) -> (usize, usize) {
    let shard_of = partition(work, dump, 2);
    let of = |shard| (0..dump.patients.len()).find(|&p| shard_of[p] == shard);
    (of(1).unwrap(), of(2).unwrap())
}

/// Adds to the dump a copy of one of `patient`'s files (a new instance) whose kept Image
/// Comments name `other`, another patient; returns the new file's SOP Instance UID.
fn plant_echo(dump: &SyntheticDump, patient: usize, other: usize) -> String {
    let truth = dump
        .instances
        .iter()
        .find(|i| i.patient == patient && i.burned_in_band.is_none())
        .unwrap();
    let mut object = dicom_object::open_file(&truth.path).unwrap().into_inner();
    let uid = format!("{}.777", truth.sop_instance_uid);
    object.put(DataElement::new(
        tags::SOP_INSTANCE_UID,
        VR::UI,
        PrimitiveValue::from(uid.as_str()),
    ));
    let named = &dump.patients[other];
    object.put(DataElement::new(
        tags::IMAGE_COMMENTS,
        VR::LT,
        PrimitiveValue::from(format!(
            "Compared with the prior study of {} {} (MRN {}), unchanged.",
            named.given, named.family, named.mrn
        )),
    ));
    common::write_instance_as(
        &dump.root.join("planted-echo.dcm"),
        object,
        &truth.transfer_syntax,
    );
    uid
}

fn description(dir: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(dir.join("dataset.json")).unwrap()).unwrap()
}

/// Asserts the merged dataset in `merged` is the single run's in `single`, file for file;
/// the descriptions differ only in how many shards were merged.
fn assert_same_dataset(single: &Path, merged: &Path, shards: u32) {
    let rel = |root: &Path| -> Vec<PathBuf> {
        common::files_under(root)
            .into_iter()
            .map(|p| p.strip_prefix(root).unwrap().to_path_buf())
            .collect()
    };
    assert_eq!(rel(single), rel(merged), "the same files");
    for file in rel(single) {
        if file == Path::new("dataset.json") {
            continue;
        }
        assert!(
            std::fs::read(single.join(&file)).unwrap()
                == std::fs::read(merged.join(&file)).unwrap(),
            "{} differs",
            file.display()
        );
    }
    let (mut a, mut b) = (description(single), description(merged));
    assert_eq!(a["shards"], 1);
    assert_eq!(b["shards"], shards);
    a["shards"] = 0.into();
    b["shards"] = 0.into();
    assert_eq!(a, b);
}

#[test]
fn one_patient_lands_in_one_shard_whatever_the_file_order_and_machine() {
    let dir = tempfile::tempdir().unwrap();
    let dump = dump(dir.path(), 12);
    // The same files elsewhere, under other names in another order (another machine's
    // mount of the archive).
    let moved = dir.path().join("elsewhere");
    for (n, file) in common::files_under(&dump.root).iter().rev().enumerate() {
        let target = moved.join(format!("{:03}/z{n:05}.dcm", n % 7));
        std::fs::create_dir_all(target.parent().unwrap()).unwrap();
        std::fs::copy(file, target).unwrap();
    }
    let mut whole = Session::builder()
        .database(dir.path().join("whole.db"))
        .open()
        .unwrap();
    whole.ingest(&dump.root).unwrap();
    let whole = indexed(&whole);
    let count = 3;
    let mut seen: BTreeMap<String, u32> = BTreeMap::new();
    let mut by_patient: BTreeMap<Option<String>, BTreeSet<u32>> = BTreeMap::new();
    for index in 1..=count {
        let mut here = BTreeMap::new();
        for (name, root) in [("a", &dump.root), ("b", &moved)] {
            let mut session = Session::builder()
                .database(dir.path().join(format!("{name}{index}.db")))
                .secret(secret(SECRET))
                .shard(Shard::new(index, count).unwrap())
                .open()
                .unwrap();
            let report = session.ingest(root).unwrap();
            assert!(report.other_shard > 0, "{report}");
            here.insert(name, indexed(&session));
        }
        assert_eq!(
            here["a"], here["b"],
            "shard {index} holds the same instances from either tree"
        );
        for (uid, patient) in &here["a"] {
            assert_eq!(seen.insert(uid.clone(), index), None, "{uid} in two shards");
            by_patient.entry(patient.clone()).or_default().insert(index);
        }
    }
    assert_eq!(
        seen.keys().collect::<Vec<_>>(),
        whole.keys().collect::<Vec<_>>(),
        "together the shards hold what one session holds"
    );
    for (patient, shards) in &by_patient {
        assert_eq!(shards.len(), 1, "{patient:?} is in shards {shards:?}");
    }
    let used: BTreeSet<u32> = seen.values().copied().collect();
    assert!(
        used.len() > 1,
        "12 patients spread over more than one shard"
    );
}

#[test]
fn bad_files_are_recorded_by_the_first_shard_alone() {
    let dir = tempfile::tempdir().unwrap();
    let dump = dump(dir.path(), 4);
    let mut skipped = Vec::new();
    for index in 1..=2 {
        let mut session = Session::builder()
            .database(dir.path().join(format!("s{index}.db")))
            .secret(secret(SECRET))
            .shard(Shard::new(index, 2).unwrap())
            .open()
            .unwrap();
        let report = session.ingest(&dump.root).unwrap();
        skipped.push(report.skipped.len());
        // A second ingest reads nothing again, other shards' files included.
        let again = session.ingest(&dump.root).unwrap();
        assert_eq!(again.unchanged, again.seen, "{again}");
    }
    assert!(skipped[0] >= dump.junk.len(), "{skipped:?}");
    assert_eq!(skipped[1], 0);
}

#[test]
fn merged_shards_equal_a_single_run_even_where_free_text_names_another_shards_patient() {
    let dir = tempfile::tempdir().unwrap();
    let dump = dump(dir.path(), 8);
    let (a, b) = one_patient_of_each_shard(&dir.path().join("scratch"), &dump);
    // A file of patient b (shard 2) names patient a (shard 1).
    let planted = plant_echo(&dump, b, a);
    let config = &format!("{CONFIG}{}", dump.machine_rules());

    let single = single_run(&dir.path().join("one"), &dump.root, config, SECRET);
    let blocked = description(&single)["blocked"].as_u64().unwrap();
    assert_eq!(
        blocked,
        0,
        "every instance of the dump is written: {}",
        std::fs::read_to_string(dir.path().join("one/export.txt")).unwrap()
    );
    let work = dir.path().join("two");
    let outs = sharded_run(&work, &dump.root, config, SECRET, 2);
    let merged = work.join("merged");
    let report = merge_shards(&outs, &merged, &NoProgress).unwrap();
    assert_eq!(report.shards.len(), 2);
    assert_eq!(report.linked + report.copied, report.dataset.files);
    assert_same_dataset(&single, &merged, 2);

    // The name of a, in b's kept comments, is gone from what left.
    let named = &dump.patients[a];
    let mut found = false;
    for file in common::dicom_files(&merged) {
        let object = dicom_object::open_file(&file).unwrap();
        let comments = object
            .element(tags::IMAGE_COMMENTS)
            .ok()
            .and_then(|e| e.to_str().ok().map(|s| s.into_owned()));
        if let Some(comments) = comments.filter(|c| c.contains("prior study")) {
            found = true;
            for id in [&named.family, &named.mrn] {
                assert!(!comments.contains(id.as_str()), "{comments}");
            }
        }
    }
    assert!(
        found,
        "the planted file {planted} was exported, its comments cleaned"
    );

    // Three shards merge into the same dataset too.
    let work = dir.path().join("three");
    let outs = sharded_run(&work, &dump.root, config, SECRET, 3);
    merge_shards(&outs, work.join("merged"), &NoProgress).unwrap();
    assert_same_dataset(&single, &work.join("merged"), 3);

    // A merge run again into its own folder finds everything in place.
    let again = merge_shards(&outs, work.join("merged"), &NoProgress).unwrap();
    assert_eq!(again.unchanged, again.dataset.files);
}

#[test]
fn a_shard_does_not_audit_without_every_other_shards_identifiers() {
    let dir = tempfile::tempdir().unwrap();
    let dump = dump(dir.path(), 4);
    let work = dir.path().to_path_buf();
    for index in 1..=3 {
        shard_ingest(&work, &dump.root, CONFIG, SECRET, index, 3);
    }
    std::fs::remove_file(work.join("ids/shard-3.identities")).unwrap();
    let mut session = Session::open(work.join("shard1.db")).unwrap();
    let import = session.import_identities(&[work.join("ids")]).unwrap();
    assert_eq!(import.missing, vec![3]);
    session.load_config(work.join("config.yaml")).unwrap();
    match session.audit() {
        Err(GantryError::MissingPeerIdentities { missing, .. }) => assert_eq!(missing, vec![3]),
        other => panic!("audit ran without shard 3's identifiers: {other:?}"),
    }

    // Identifiers made with another secret, or changed since, are refused.
    let foreign = dir.path().join("foreign");
    shard_ingest(&foreign, &dump.root, CONFIG, OTHER_SECRET, 3, 3);
    let error = session
        .import_identities(&[foreign.join("ids/shard-3.identities")])
        .unwrap_err();
    assert!(
        error.to_string().contains("another project secret"),
        "{error}"
    );
    let (file, mut json) = (1..=2)
        .map(|i| work.join(format!("ids/shard-{i}.identities")))
        .map(|f| {
            let json: serde_json::Value =
                serde_json::from_slice(&std::fs::read(&f).unwrap()).unwrap();
            (f, json)
        })
        .find(|(_, json)| !json["set"]["identifiers"][0].is_null())
        .unwrap();
    json["set"]["identifiers"][0][0] = "someone else".into();
    std::fs::write(&file, json.to_string()).unwrap();
    let error = session.import_identities(&[&file]).unwrap_err();
    assert!(error.to_string().contains("changed since"), "{error}");

    // Identifiers collected with another config are refused at audit.
    let changed = dir.path().join("changed");
    shard_ingest(
        &changed,
        &dump.root,
        &format!("{CONFIG}  StudyDescription: {{ action: KEEP }}\n"),
        SECRET,
        3,
        3,
    );
    session
        .import_identities(&[changed.join("ids/shard-3.identities")])
        .unwrap();
    drop(session);
    let mut session = Session::open(work.join("shard1.db")).unwrap();
    let error = session.audit().unwrap_err();
    assert!(
        error.to_string().contains("collected with config"),
        "{error}"
    );
}

#[test]
fn shards_that_are_not_one_run_are_refused_with_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    let dump = dump(dir.path(), 8);
    let work = dir.path().join("run");
    let outs = sharded_run(&work, &dump.root, CONFIG, SECRET, 2);
    // The merge's refusal (any other outcome fails the test).
    let merge = |dirs: &[&Path], name: &str| -> Result<(), MergeError> {
        match merge_shards(dirs, dir.path().join(name), &NoProgress) {
            Ok(report) => panic!("merged: {report}"),
            Err(GantryError::Merge(e)) => Err(*e),
            Err(other) => panic!("{other}"),
        }
    };

    // A shard missing, or given twice.
    match merge(&[&outs[0]], "m1") {
        Err(MergeError::Missing { count: 2, missing }) => {
            assert_eq!(missing, vec![2])
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        merge(&[&outs[0], &outs[0]], "m2"),
        Err(MergeError::SameShard { .. })
    ));

    // A shard of a run with another secret.
    let foreign = dir.path().join("foreign");
    let foreign_outs = sharded_run(&foreign, &dump.root, CONFIG, OTHER_SECRET, 2);
    match merge(&[&outs[0], &foreign_outs[1]], "m3") {
        Err(MergeError::Differ { what, .. }) => {
            assert_eq!(what, "project secrets")
        }
        other => panic!("{other:?}"),
    }

    // A whole-dump export is not a shard.
    let single = single_run(&dir.path().join("one"), &dump.root, CONFIG, SECRET);
    assert!(matches!(
        merge(&[&single], "m4"),
        Err(MergeError::NotAShard { .. })
    ));

    // Another config, profile edition or Gantry version, as their descriptions say.
    for (field, what) in [
        ("config", "configurations"),
        ("profile", "profile editions"),
        ("gantry", "Gantry versions"),
    ] {
        let copy = dir.path().join(format!("copy-{field}"));
        copy_tree(&outs[1], &copy);
        let mut d = description(&copy);
        d[field] = "something else".into();
        std::fs::write(copy.join("dataset.json"), d.to_string()).unwrap();
        match merge(&[&outs[0], &copy], &format!("m-{field}")) {
            Err(MergeError::Differ { what: w, .. }) => assert_eq!(w, what),
            other => panic!("{field}: {other:?}"),
        }
    }

    // A description naming a shard that cannot be one (7 of 2) is not a shard.
    let copy = dir.path().join("copy-index");
    copy_tree(&outs[1], &copy);
    let mut d = description(&copy);
    d["shard"]["index"] = 7.into();
    std::fs::write(copy.join("dataset.json"), d.to_string()).unwrap();
    assert!(matches!(
        merge(&[&outs[0], &outs[1], &copy], "m-index"),
        Err(MergeError::NotAShard { .. })
    ));

    // One patient in two shards.
    let copy = dir.path().join("copy-patient");
    copy_tree(&outs[1], &copy);
    let mut d = description(&copy);
    let stolen = description(&outs[0])["patients"][0].clone();
    d["patients"].as_array_mut().unwrap().push(stolen);
    std::fs::write(copy.join("dataset.json"), d.to_string()).unwrap();
    assert!(matches!(
        merge(&[&outs[0], &copy], "m5"),
        Err(MergeError::Patient { .. })
    ));

    // A file a manifest lists that is not there as listed: nothing is placed.
    let copy = dir.path().join("copy-file");
    copy_tree(&outs[1], &copy);
    let victim = common::dicom_files(&copy).remove(0);
    std::fs::write(&victim, b"short").unwrap();
    assert!(matches!(
        merge(&[&outs[0], &copy], "m6"),
        Err(MergeError::File {
            detail: gantry_core::FileMismatch::Size { found: 5, .. },
            ..
        })
    ));
    assert!(!dir.path().join("m6").exists());
    // One of the same size, changed (or a link in its place): refused too.
    let copy = dir.path().join("copy-bytes");
    copy_tree(&outs[1], &copy);
    let victim = common::dicom_files(&copy).remove(0);
    let mut bytes = std::fs::read(&victim).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0xFF;
    std::fs::write(&victim, &bytes).unwrap();
    match merge(&[&outs[0], &copy], "m7") {
        Err(MergeError::File { detail, .. }) => {
            assert!(
                matches!(detail, gantry_core::FileMismatch::Digest { .. }),
                "{detail}"
            );
            assert!(detail.to_string().contains("SHA-256"), "{detail}")
        }
        other => panic!("{other:?}"),
    }
    std::fs::remove_file(&victim).unwrap();
    std::os::unix::fs::symlink(common::dicom_files(&outs[0]).remove(0), &victim).unwrap();
    assert!(matches!(
        merge(&[&outs[0], &copy], "m8"),
        Err(MergeError::File {
            detail: gantry_core::FileMismatch::NotRegular,
            ..
        })
    ));

    // A manifest entry that is not read as one (a line rewritten by hand) leaves a file
    // uncounted: refused, not merged without it.
    let copy = dir.path().join("copy-manifest");
    copy_tree(&outs[1], &copy);
    let manifest = std::fs::read_to_string(copy.join("manifest.json")).unwrap();
    std::fs::write(
        copy.join("manifest.json"),
        manifest.replacen("{\"path\"", "{ \"path\"", 1),
    )
    .unwrap();
    match merge(&[&outs[0], &copy], "m9") {
        Err(MergeError::Manifest { detail, .. }) => assert!(detail.contains("counts"), "{detail}"),
        other => panic!("{other:?}"),
    }

    // A folder that holds something else.
    let busy = dir.path().join("busy");
    std::fs::create_dir_all(&busy).unwrap();
    std::fs::write(busy.join("notes.txt"), b"mine").unwrap();
    assert!(matches!(
        merge(&[&outs[0], &outs[1]], "busy"),
        Err(MergeError::OutNotEmpty { .. })
    ));
}

#[test]
fn one_original_uid_in_two_shards_is_refused_by_the_merge() {
    let dir = tempfile::tempdir().unwrap();
    let dump = dump(dir.path(), 8);
    let (a, b) = one_patient_of_each_shard(&dir.path().join("scratch"), &dump);
    // A file of patient a, relabelled as patient b: one SOP Instance UID, two patients.
    let truth = dump.instances.iter().find(|i| i.patient == a).unwrap();
    let mut object = dicom_object::open_file(&truth.path).unwrap().into_inner();
    let other = dump
        .instances
        .iter()
        .find(|i| i.patient == b)
        .map(|i| dicom_object::open_file(&i.path).unwrap().into_inner())
        .unwrap();
    for tag in [
        tags::PATIENT_ID,
        tags::PATIENT_NAME,
        tags::PATIENT_BIRTH_DATE,
    ] {
        if let Some(e) = other.get(tag) {
            object.put(e.clone());
        }
    }
    common::write_instance(&dump.root.join("relabelled.dcm"), object);
    let work = dir.path().join("run");
    let outs = sharded_run(&work, &dump.root, CONFIG, SECRET, 2);
    match merge_shards(&outs, work.join("merged"), &NoProgress) {
        Err(GantryError::Merge(e)) if matches!(*e, MergeError::Uid { .. }) => {}
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_shard_does_not_export_into_another_shards_folder() {
    let dir = tempfile::tempdir().unwrap();
    let dump = dump(dir.path(), 4);
    let work = dir.path().to_path_buf();
    let outs = sharded_run(&work, &dump.root, CONFIG, SECRET, 2);
    // Shard 1 exports again into its own folder: fine. Into shard 2's: refused.
    let mut session = Session::open(work.join("shard1.db")).unwrap();
    session.export(&outs[0]).run().unwrap();
    let before = common::files_under(&outs[1]);
    match session.export(&outs[1]).run() {
        Err(GantryError::AnothersExport { detail, .. }) => {
            assert!(detail.contains("shard 2/2"), "{detail}")
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        common::files_under(&outs[1]),
        before,
        "nothing written there"
    );
    // Nor into a merged dataset.
    let merged = work.join("merged");
    merge_shards(&outs, &merged, &NoProgress).unwrap();
    assert!(matches!(
        session.export(&merged).run(),
        Err(GantryError::AnothersExport { .. })
    ));
}

#[test]
fn a_database_keeps_its_shard_and_a_shard_needs_the_shared_secret() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("s.db");
    let error = Session::builder()
        .database(&db)
        .shard(Shard::new(1, 2).unwrap())
        .open()
        .unwrap_err();
    assert!(
        matches!(error, GantryError::ShardNeedsSecret { .. }),
        "{error}"
    );
    let session = Session::builder()
        .database(&db)
        .secret(secret(SECRET))
        .shard(Shard::new(1, 2).unwrap())
        .open()
        .unwrap();
    drop(session);
    assert_eq!(Session::open(&db).unwrap().shard(), Shard::new(1, 2));
    let error = Session::builder()
        .database(&db)
        .shard(Shard::new(2, 2).unwrap())
        .open()
        .unwrap_err();
    assert!(
        matches!(error, GantryError::ShardMismatch { .. }),
        "{error}"
    );

    // A database that indexed the whole dump does not become a shard of it.
    let dump = dump(dir.path(), 2);
    let whole = dir.path().join("whole.db");
    Session::builder()
        .database(&whole)
        .secret(secret(SECRET))
        .open()
        .unwrap()
        .ingest(&dump.root)
        .unwrap();
    let error = Session::builder()
        .database(&whole)
        .shard(Shard::new(1, 2).unwrap())
        .open()
        .unwrap_err();
    assert!(
        matches!(error, GantryError::ShardOfWholeDatabase { .. }),
        "{error}"
    );
}

#[test]
fn a_failed_shard_runs_again_from_its_database() {
    let dir = tempfile::tempdir().unwrap();
    let dump = dump(dir.path(), 6);
    let single = single_run(&dir.path().join("one"), &dump.root, CONFIG, SECRET);
    let work = dir.path().join("two");
    for index in 1..=2 {
        shard_ingest(&work, &dump.root, CONFIG, SECRET, index, 2);
    }
    // Shard 1 dies after its audit, before it wrote anything.
    {
        let mut session = Session::open(work.join("shard1.db")).unwrap();
        session.import_identities(&[work.join("ids")]).unwrap();
        session.load_config(work.join("config.yaml")).unwrap();
        session.audit().unwrap();
        session.anonymize_metadata().unwrap();
    }
    let second = shard_finish(&work, &dump.root, 2);
    // Shard 2 finished, then lost files of its output.
    let lost = common::dicom_files(&second);
    std::fs::remove_file(&lost[0]).unwrap();
    // Both tasks run again, whole, as an engine re-runs a failed task.
    let first = shard_finish(&work, &dump.root, 1);
    let second = shard_finish(&work, &dump.root, 2);
    merge_shards(&[first, second], work.join("merged"), &NoProgress).unwrap();
    assert_same_dataset(&single, &work.join("merged"), 2);
}

fn copy_tree(from: &Path, to: &Path) {
    for file in common::files_under(from) {
        let target = to.join(file.strip_prefix(from).unwrap());
        std::fs::create_dir_all(target.parent().unwrap()).unwrap();
        std::fs::copy(&file, &target).unwrap();
    }
}

#[test]
fn a_merge_again_into_its_folder_removes_what_no_shard_lists_any_more() {
    let dir = tempfile::tempdir().unwrap();
    let dump = dump(dir.path(), 6);
    let with_rules = format!("{CONFIG}{}", dump.machine_rules());
    let work = dir.path().join("run");
    let outs = sharded_run(&work, &dump.root, &with_rules, SECRET, 2);
    let merged = work.join("merged");
    let first = merge_shards(&outs, &merged, &NoProgress).unwrap();
    assert_eq!(first.dataset.blocked, 0);
    // Without the machine rules, images with burned-in text are blocked now: the shards'
    // exports drop them, and so must the merged dataset.
    let outs = sharded_run(&work, &dump.root, CONFIG, SECRET, 2);
    // A file no merge placed is not the merge's to remove.
    std::fs::write(merged.join("NOTES.txt"), b"mine").unwrap();
    let second = merge_shards(&outs, &merged, &NoProgress).unwrap();
    assert!(second.dataset.blocked > 0);
    assert_eq!(second.removed, second.dataset.blocked, "{second}");
    assert!(merged.join("NOTES.txt").exists());
    std::fs::remove_file(merged.join("NOTES.txt")).unwrap();
    let single = single_run(&dir.path().join("one"), &dump.root, CONFIG, SECRET);
    assert_same_dataset(&single, &merged, 2);
}

#[test]
fn the_adversarial_corpus_sharded_leaves_exactly_what_a_single_run_leaves() {
    // 46 files that each hide identity one way (other people's names, SR trees, UN
    // values, character sets, ...) across several patients: split three ways, the merge
    // must be the single run's dataset, byte for byte.
    let dir = tempfile::tempdir().unwrap();
    let corpus = gantry_synth::write_adversarial(&dir.path().join("corpus")).unwrap();
    let single = single_run(
        &dir.path().join("one"),
        &corpus.root,
        &corpus.config,
        SECRET,
    );
    let work = dir.path().join("three");
    let outs = sharded_run(&work, &corpus.root, &corpus.config, SECRET, 3);
    let report = merge_shards(&outs, work.join("merged"), &NoProgress).unwrap();
    assert!(
        report
            .shards
            .iter()
            .filter(|s| s.description.instances > 0)
            .count()
            > 1,
        "{report}"
    );
    let files = common::dicom_files(&single);
    assert!(files.len() >= 30, "{} files", files.len());
    assert_same_dataset(&single, &work.join("merged"), 3);
}
