//! The `gantry` binary as users run it: exit codes, messages, and surviving SIGKILL.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn gantry() -> Command {
    Command::new(env!("CARGO_BIN_EXE_gantry"))
}

/// Counts rows without taking Gantry's lock, the way a monitoring tool would.
fn instance_count(db: &Path) -> Option<i64> {
    let conn = rusqlite::Connection::open_with_flags(
        db,
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .ok()?;
    conn.query_row("SELECT COUNT(*) FROM instances", [], |r| r.get(0))
        .ok()
}

#[test]
fn killed_ingest_resumes_to_a_complete_consistent_index() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("dump");
    let dump =
        gantry_synth::generate(&data, &gantry_synth::DumpSpec::many_small_files(6000)).unwrap();
    let db = dir.path().join("gantry.db");

    let mut child = gantry()
        .args(["--quiet", "--threads", "1", "--db"])
        .arg(&db)
        .arg("ingest")
        .arg(&data)
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    // Kill it once some batches have committed, well before the end.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let n = instance_count(&db).unwrap_or(0);
        if n > 0 || Instant::now() > deadline {
            break;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    let partial = instance_count(&db).unwrap_or(0);
    assert!(
        (partial as usize) < dump.instances.len(),
        "killed before the end ({partial} of {})",
        dump.instances.len()
    );

    let status = gantry()
        .args(["--quiet", "--db"])
        .arg(&db)
        .arg("ingest")
        .arg(&data)
        .stdout(Stdio::null())
        .status()
        .unwrap();
    assert!(status.success());

    let store = gantry_store::Store::open(&db).unwrap();
    assert_eq!(store.integrity_check().unwrap(), "ok");
    assert_eq!(
        store.instance_count().unwrap() as usize,
        dump.instances.len(),
        "none lost, none twice"
    );
    let indexed = store.files(gantry_store::FileOutcome::Indexed).unwrap();
    let mut uids: Vec<_> = indexed
        .iter()
        .filter_map(|f| f.sop_instance_uid.clone())
        .collect();
    uids.sort();
    uids.dedup();
    assert_eq!(uids.len(), dump.instances.len());
    assert!(
        store
            .files(gantry_store::FileOutcome::Skipped)
            .unwrap()
            .is_empty()
    );
}

#[test]
fn errors_exit_non_zero_with_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let out = gantry()
        .arg("--db")
        .arg(dir.path().join("g.db"))
        .arg("ingest")
        .arg(dir.path().join("missing"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.starts_with("gantry: ") && err.contains("missing"),
        "{err}"
    );
}

#[test]
fn examine_json_is_machine_readable() {
    let dir = tempfile::tempdir().unwrap();
    let samples = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/data/pydicom");
    let db = dir.path().join("g.db");
    let ingest = gantry()
        .arg("-q")
        .arg("--db")
        .arg(&db)
        .arg("ingest")
        .arg(&samples)
        .output()
        .unwrap();
    assert!(ingest.status.success());
    let text = String::from_utf8_lossy(&ingest.stdout);
    assert!(text.contains("skipped"), "{text}");
    let out = gantry()
        .arg("--db")
        .arg(&db)
        .args(["examine", "--json"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(json["instances"].as_u64().unwrap() > 30);
    assert!(json["transfer_syntaxes"].as_array().unwrap().len() > 5);
}

#[test]
fn run_blocks_what_has_no_rule_and_recover_opens_what_lock_sealed() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("dump");
    let dump = gantry_synth::generate(&data, &gantry_synth::DumpSpec::default()).unwrap();
    let config = dir.path().join("config.yaml");
    std::fs::write(
        &config,
        format!(
            "version: \"2.0\"\n{}",
            dump.machine_rules_for(|d| d != gantry_synth::Device::ScreenCapture)
        ),
    )
    .unwrap();
    let db = dir.path().join("g.db");
    let key = dir.path().join("master.key");
    let keygen = gantry().arg("keygen").arg(&key).output().unwrap();
    assert!(keygen.status.success());
    let again = gantry().arg("keygen").arg(&key).output().unwrap();
    assert!(!again.status.success(), "a key is never overwritten");
    let out = dir.path().join("out");
    let run = gantry()
        .args(["-q", "--db"])
        .arg(&db)
        .arg("run")
        .arg(&data)
        .arg("--config")
        .arg(&config)
        .arg("--out")
        .arg(&out)
        .arg("--key")
        .arg(&key)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&run.stdout);
    assert_eq!(
        run.status.code(),
        Some(1),
        "blocked screen captures: exit 1\n{text}"
    );
    for checkpoint in 1..=9 {
        assert!(text.contains(&format!("== {checkpoint}.")), "{text}");
    }
    assert!(text.contains("no machine rule matches"), "{text}");
    let verify = gantry()
        .args(["-q", "--db"])
        .arg(&db)
        .arg("verify")
        .output()
        .unwrap();
    assert_eq!(verify.status.code(), Some(1), "not clean: exit 1");

    let recover = gantry()
        .arg("recover")
        .arg("--key")
        .arg(&key)
        .arg(&out)
        .arg("--json")
        .output()
        .unwrap();
    assert!(
        recover.status.success(),
        "{}",
        String::from_utf8_lossy(&recover.stderr)
    );
    let json: serde_json::Value = serde_json::from_slice(&recover.stdout).unwrap();
    let recovered = json["recovered"].as_array().unwrap();
    assert!(!recovered.is_empty());
    let names: Vec<&str> = recovered
        .iter()
        .filter_map(|f| f["originals"]["0010,0010"].as_str())
        .collect();
    assert!(
        dump.patients
            .iter()
            .any(|p| names.iter().any(|n| n.trim() == p.dicom_name()))
    );
}
