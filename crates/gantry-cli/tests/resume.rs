//! Killed with SIGKILL in the middle of anonymize, redact or export, then run again: the
//! database is sound, every instance is exported exactly once, the files match the
//! manifest, and the output is byte for byte what an uninterrupted run writes.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

const SECRET: &str = "5eed5eed5eed5eed5eed5eed5eed5eed5eed5eed5eed5eed5eed5eed5eed5eed";

fn gantry(db: &Path, dir: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_gantry"));
    c.arg("--quiet")
        .arg("--db")
        .arg(db)
        .arg("--secret-file")
        .arg(dir.join("secret"));
    c
}

fn ok(mut c: Command) {
    let out = c.stdout(Stdio::null()).output().unwrap();
    assert!(
        out.status.success() || out.status.code() == Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn count(db: &Path, sql: &str) -> i64 {
    rusqlite::Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
        .ok()
        .and_then(|c| c.query_row(sql, [], |r| r.get(0)).ok())
        .unwrap_or(0)
}

/// A dump, ingested and audited, with a config whose rules cover every burned-in band.
fn prepared(dir: &Path) -> (PathBuf, PathBuf, usize) {
    std::fs::write(dir.join("secret"), SECRET).unwrap();
    let data = dir.join("dump");
    let dump =
        gantry_synth::generate(&data, &gantry_synth::DumpSpec::many_small_files(2000)).unwrap();
    let config = dir.join("config.yaml");
    std::fs::write(
        &config,
        format!("version: \"2.0\"\n{}", dump.machine_rules()),
    )
    .unwrap();
    (data, config, dump.instances.len())
}

/// A folder `name` under `dir` holding a copy of the project secret: where one run works.
fn folder_with_secret(dir: &Path, name: &str) -> PathBuf {
    let folder = dir.join(name);
    std::fs::create_dir_all(&folder).unwrap();
    std::fs::copy(dir.join("secret"), folder.join("secret")).unwrap();
    folder
}

/// Ingest, config, audit: what every scenario starts from.
fn start(dir: &Path, data: &Path, config: &Path) -> PathBuf {
    let db = dir.join("gantry.db");
    let mut c = gantry(&db, dir);
    c.arg("ingest").arg(data);
    ok(c);
    let mut c = gantry(&db, dir);
    c.args(["config", "check"]).arg(config);
    ok(c);
    let mut c = gantry(&db, dir);
    c.arg("audit");
    ok(c);
    db
}

fn step(db: &Path, dir: &Path, args: &[&str]) {
    let mut c = gantry(db, dir);
    c.args(args);
    ok(c);
}

/// Starts `args`, kills the process (SIGKILL) as soon as `ready` holds, and returns
/// whether it was still running then.
fn kill_when(db: &Path, dir: &Path, args: &[&str], ready: impl Fn() -> bool) -> bool {
    let mut child = gantry(db, dir)
        .args(["--threads", "1"])
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(120);
    while !ready() && Instant::now() < deadline {
        if child.try_wait().unwrap().is_some() {
            return false;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    true
}

/// Starts `args`, kills the process once `progress` (a count query) is past zero and
/// short of `total`, and says how far it had got.
fn kill_midway(db: &Path, dir: &Path, args: &[&str], progress: &str, total: i64) -> i64 {
    kill_when(db, dir, args, || count(db, progress) > 0);
    let done = count(db, progress);
    assert!(
        done > 0 && done < total,
        "{args:?} was killed midway ({done} of {total})"
    );
    done
}

/// Every file under `out`, relative path → bytes.
fn tree(out: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    fn walk(root: &Path, dir: &Path, into: &mut BTreeMap<PathBuf, Vec<u8>>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(root, &path, into);
            } else {
                into.insert(
                    path.strip_prefix(root).unwrap().to_path_buf(),
                    std::fs::read(&path).unwrap(),
                );
            }
        }
    }
    let mut into = BTreeMap::new();
    walk(out, out, &mut into);
    into
}

/// Integrity, exactly once, checksums: what any finished export must satisfy.
fn check_finished(db: &Path, out: &Path, instances: usize) -> BTreeMap<PathBuf, Vec<u8>> {
    let store = gantry_store::Store::open(db).unwrap();
    assert_eq!(store.integrity_check().unwrap(), "ok");
    drop(store);
    let files = tree(out);
    let manifest = String::from_utf8(files[Path::new("manifest.csv")].clone()).unwrap();
    let rows: Vec<&str> = manifest.lines().skip(1).collect();
    let dicom: Vec<&PathBuf> = files
        .keys()
        .filter(|p| p.extension().is_some_and(|e| e == "dcm"))
        .collect();
    assert_eq!(rows.len(), dicom.len(), "one manifest row per file");
    assert!(
        files
            .keys()
            .all(|p| !p.to_string_lossy().ends_with(".gantry-tmp")),
        "no temporary file left"
    );
    let mut sops = std::collections::BTreeSet::new();
    for row in rows {
        let fields: Vec<&str> = row.split(',').collect();
        let bytes = &files[Path::new(fields[0])];
        assert_eq!(
            hex::encode(Sha256::digest(bytes)),
            fields[2],
            "{}",
            fields[0]
        );
        assert_eq!(bytes.len().to_string(), fields[3]);
        assert!(
            sops.insert(fields[1].to_string()),
            "{} exported twice",
            fields[1]
        );
    }
    // Blocked instances aside (none here: every band has its rule), all are exported.
    assert_eq!(
        sops.len(),
        instances,
        "every instance exported exactly once"
    );
    files
}

/// The uninterrupted run, for comparison.
fn reference(
    dir: &Path,
    data: &Path,
    config: &Path,
    instances: usize,
) -> BTreeMap<PathBuf, Vec<u8>> {
    let db = start(dir, data, config);
    for args in [&["anonymize"][..], &["redact"], &["export"]] {
        let mut a = args.to_vec();
        let out = dir.join("out");
        let out = out.to_str().unwrap().to_string();
        if args[0] == "export" {
            a.push(&out);
            step(&db, dir, &a);
        } else {
            step(&db, dir, &a);
        }
    }
    check_finished(&db, &dir.join("out"), instances)
}

fn scenario(kill: &str) {
    let dir = tempfile::tempdir().unwrap();
    let (data, config, instances) = prepared(dir.path());
    let run = folder_with_secret(dir.path(), "run");
    let db = start(&run, &data, &config);
    let out = run.join("out");
    let out_arg = out.to_str().unwrap().to_string();
    let total = instances as i64;
    let steps: [(&str, Vec<&str>, &str); 3] = [
        (
            "anonymize",
            vec!["anonymize"],
            "SELECT COUNT(*) FROM headers WHERE deidentified IS NOT NULL",
        ),
        ("redact", vec!["redact"], "SELECT COUNT(*) FROM pixels"),
        (
            "export",
            vec!["export", &out_arg],
            "SELECT COUNT(*) FROM exports",
        ),
    ];
    for (name, args, progress) in &steps {
        if *name == kill {
            let total = if *name == "redact" {
                count(
                    &db,
                    "SELECT COUNT(*) FROM instances WHERE upper(burned_in_annotation) = 'YES' OR modality IN ('US', 'OT')",
                )
            } else {
                total
            };
            kill_midway(&db, &run, args, progress, total);
        }
        step(&db, &run, args);
    }
    let resumed = check_finished(&db, &out, instances);
    same_as_uninterrupted(dir.path(), &data, &config, instances, &resumed, kill);
}

/// The resumed output is byte for byte what an uninterrupted run in `dir/reference` writes.
fn same_as_uninterrupted(
    dir: &Path,
    data: &Path,
    config: &Path,
    instances: usize,
    resumed: &BTreeMap<PathBuf, Vec<u8>>,
    killed: &str,
) {
    let reference_dir = folder_with_secret(dir, "reference");
    let expected = reference(&reference_dir, data, config, instances);
    assert_eq!(resumed.len(), expected.len());
    for (path, bytes) in &expected {
        assert!(
            resumed.get(path) == Some(bytes),
            "{} differs after the resumed {killed}",
            path.display()
        );
    }
}

#[test]
fn killed_anonymize_resumes_to_the_same_output() {
    scenario("anonymize");
}

#[test]
fn killed_redact_resumes_to_the_same_output() {
    scenario("redact");
}

#[test]
fn killed_export_resumes_to_the_same_output() {
    scenario("export");
}

/// The index as a set of rows that must not depend on how the ingest got there.
fn index(db: &Path) -> Vec<(String, String, String, String)> {
    let conn =
        rusqlite::Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .unwrap();
    let mut rows: Vec<(String, String, String, String)> = conn
        .prepare("SELECT sop_instance_uid, source_path, content_hash, h.original FROM instances JOIN headers h ON h.instance_id = id")
        .unwrap()
        .query_map([], |r| {
            let blob: Vec<u8> = r.get(3)?;
            Ok((r.get(0)?, r.get(1)?, format!("{:?}", r.get_ref(2)?), hex::encode(Sha256::digest(blob))))
        })
        .unwrap()
        .map(Result::unwrap)
        .collect();
    let mut files: Vec<(String, String, String, String)> = conn
        .prepare("SELECT path, outcome, COALESCE(reason, ''), '' FROM files")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    rows.append(&mut files);
    rows.sort();
    rows
}

#[test]
fn killed_ingest_resumes_to_the_same_index() {
    let dir = tempfile::tempdir().unwrap();
    let (data, _, instances) = prepared(dir.path());
    let db = dir.path().join("killed.db");
    let landed = kill_when(&db, dir.path(), &["ingest", data.to_str().unwrap()], || {
        let n = count(&db, "SELECT COUNT(*) FROM instances");
        n > 0 && n < instances as i64
    });
    assert!(landed, "ingest finished before it could be killed midway");
    let partial = count(&db, "SELECT COUNT(*) FROM instances");
    assert!(partial > 0 && partial < instances as i64, "{partial}");
    step(&db, dir.path(), &["ingest", data.to_str().unwrap()]);
    let store = gantry_store::Store::open(&db).unwrap();
    assert_eq!(store.integrity_check().unwrap(), "ok");
    drop(store);

    let reference = dir.path().join("reference.db");
    step(&reference, dir.path(), &["ingest", data.to_str().unwrap()]);
    let resumed = index(&db);
    assert_eq!(
        count(&db, "SELECT COUNT(*) FROM instances"),
        instances as i64
    );
    assert!(resumed == index(&reference), "the resumed index differs");
}

#[test]
fn killed_between_rename_and_record_resumes_to_the_same_output() {
    let dir = tempfile::tempdir().unwrap();
    let (data, config, instances) = prepared(dir.path());
    let run = folder_with_secret(dir.path(), "run");
    let db = start(&run, &data, &config);
    step(&db, &run, &["anonymize"]);
    step(&db, &run, &["redact"]);
    let out = run.join("out");
    // Files already under their final names, none of them recorded yet: the window
    // between a batch's renames and the transaction that records them.
    let renamed_not_recorded = || {
        count(&db, "SELECT COUNT(*) FROM exports") == 0
            && std::fs::read_dir(&out).is_ok()
            && common_final_files(&out) > 0
    };
    let landed = kill_when(
        &db,
        &run,
        &["export", out.to_str().unwrap()],
        renamed_not_recorded,
    );
    assert!(
        landed,
        "export finished before it could be killed in its rename step"
    );
    assert!(common_final_files(&out) > 0);
    assert_eq!(count(&db, "SELECT COUNT(*) FROM exports"), 0);
    step(&db, &run, &["export", out.to_str().unwrap()]);
    let resumed = check_finished(&db, &out, instances);
    same_as_uninterrupted(
        dir.path(),
        &data,
        &config,
        instances,
        &resumed,
        "export rename",
    );
}

/// Files under `out` with their final name (`.dcm`, not a temporary).
fn common_final_files(out: &Path) -> usize {
    fn walk(dir: &Path) -> usize {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return 0;
        };
        entries
            .filter_map(|e| e.ok())
            .map(|e| {
                let path = e.path();
                if path.is_dir() {
                    walk(&path)
                } else {
                    usize::from(path.extension().is_some_and(|x| x == "dcm"))
                }
            })
            .sum()
    }
    walk(out)
}
