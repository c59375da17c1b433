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

/// `gantry ingest DATA` into `db`, which must succeed.
fn ingest(db: &Path, data: &Path) {
    let out = gantry()
        .args(["-q", "--db"])
        .arg(db)
        .arg("ingest")
        .arg(data)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The synthetic dump under `dir`, and a config with rules for every device but the
/// screen captures (which are then blocked).
fn dump_without_capture_rules(
    dir: &Path,
) -> (
    std::path::PathBuf,
    gantry_synth::SyntheticDump,
    std::path::PathBuf,
) {
    let data = dir.join("dump");
    let dump = gantry_synth::generate(&data, &gantry_synth::DumpSpec::default()).unwrap();
    let config = dir.join("config.yaml");
    std::fs::write(
        &config,
        format!(
            "version: \"2.0\"\n{}",
            dump.machine_rules_for(|d| d != gantry_synth::Device::ScreenCapture)
        ),
    )
    .unwrap();
    (data, dump, config)
}

#[test]
fn run_blocks_what_has_no_rule_and_recover_opens_what_lock_sealed() {
    let dir = tempfile::tempdir().unwrap();
    let (data, dump, config) = dump_without_capture_rules(dir.path());
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

/// Runs `gantry --db DB ARGS --json` and returns its exit code and parsed stdout.
fn json_of(db: &Path, args: &[&std::ffi::OsStr]) -> (Option<i32>, serde_json::Value) {
    let out = gantry()
        .args(["-q", "--json", "--db"])
        .arg(db)
        .args(args)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let value = serde_json::from_str(&text).unwrap_or_else(|e| {
        panic!(
            "{args:?}: stdout is not JSON ({e}):\n{text}\nstderr: {}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (out.status.code(), value)
}

/// The JSON of a library value, as the CLI would print it.
fn library<T: serde::Serialize>(value: &T) -> serde_json::Value {
    serde_json::to_value(value).unwrap()
}

/// The keys of a JSON object (what "the same shape" means for reports with timings).
fn keys(value: &serde_json::Value) -> Vec<String> {
    value
        .as_object()
        .map(|o| o.keys().cloned().collect())
        .unwrap_or_default()
}

#[test]
fn every_command_prints_the_librarys_report_as_json() {
    let dir = tempfile::tempdir().unwrap();
    let p = |name: &str| dir.path().join(name);
    let os = |s: &'static str| std::ffi::OsStr::new(s);
    let db = p("g.db");
    let data = p("dump");

    let (code, synth) = json_of(
        &db,
        &[
            os("synth"),
            data.as_os_str(),
            os("--rules"),
            p("rules.yaml").as_os_str(),
        ],
    );
    assert_eq!(code, Some(0));
    assert!(synth["instances"].as_u64().unwrap() > 30);
    let (code, ingest) = json_of(&db, &[os("ingest"), data.as_os_str()]);
    assert_eq!(code, Some(0));
    assert!(!ingest["skipped"].as_array().unwrap().is_empty());
    let config = p("config.yaml");
    std::fs::write(
        &config,
        format!(
            "version: \"2.0\"\n{}",
            std::fs::read_to_string(p("rules.yaml")).unwrap()
        ),
    )
    .unwrap();
    let (_, init) = json_of(
        &db,
        &[os("config"), os("init"), p("skeleton.yaml").as_os_str()],
    );
    assert!(p("skeleton.yaml").exists());
    assert!(init.is_object());
    let (code, check) = json_of(&db, &[os("config"), os("check"), config.as_os_str()]);
    assert_eq!(code, Some(0));
    assert!(check.is_object());

    // Equal to the library's own serde output on the same database.
    let (_, examine) = json_of(&db, &[os("examine")]);
    // (One process at a time holds a database: the library's session is closed while
    // the CLI runs.)
    let uid = {
        let session = gantry::Session::open(&db).unwrap();
        assert_eq!(examine, library(&session.examine().unwrap()));
        let record = &session.store().instances_after(0, 1).unwrap()[0].record;
        record.sop_instance_uid.clone()
    };
    let (_, show) = json_of(&db, &[os("show"), std::ffi::OsStr::new(&uid)]);
    {
        let mut session = gantry::Session::open(&db).unwrap();
        assert_eq!(show, library(&session.show(&uid, false).unwrap()));
    }
    let (_, shown) = json_of(
        &db,
        &[
            os("show"),
            std::ffi::OsStr::new(&uid),
            os("--config"),
            config.as_os_str(),
        ],
    );
    assert!(shown["attributes"].as_array().unwrap().len() > 30);

    let (code, audit) = json_of(&db, &[os("audit")]);
    assert_eq!(code, Some(0));
    let key = p("k.key");
    let (_, keygen) = json_of(&db, &[os("keygen"), key.as_os_str()]);
    assert_eq!(keygen["created"], true);
    let (code, lock) = json_of(&db, &[os("lock"), os("--key"), key.as_os_str()]);
    assert_eq!(code, Some(0));
    let (_, anonymize) = json_of(&db, &[os("anonymize")]);
    let (_, redact) = json_of(&db, &[os("redact")]);
    let (code, verify) = json_of(&db, &[os("verify")]);
    assert_eq!(code, Some(0), "{verify}");
    let out = p("out");
    let (code, export) = json_of(&db, &[os("export"), out.as_os_str()]);
    assert_eq!(code, Some(0), "{export}");
    let (code, recover) = json_of(
        &db,
        &[os("recover"), os("--key"), key.as_os_str(), out.as_os_str()],
    );
    assert_eq!(code, Some(0));
    let (_, compact) = json_of(&db, &[os("compact")]);
    let (code, secret) = json_of(&db, &[os("secret"), p("secret.hex").as_os_str()]);
    assert_eq!(code, Some(0));
    assert_eq!(secret["fingerprint"].as_str().map(str::len), Some(16));
    let again = gantry()
        .arg("secret")
        .arg(p("secret.hex"))
        .output()
        .unwrap();
    assert_eq!(
        again.status.code(),
        Some(2),
        "a secret file is never overwritten"
    );
    let (code, identities) = json_of(&db, &[os("identities"), p("all.identities").as_os_str()]);
    assert_eq!(code, Some(0));
    assert!(
        identities["identifiers"].as_u64().unwrap() > 10,
        "{identities}"
    );
    {
        let mut session = gantry::Session::open(&db).unwrap();
        let stored = session.last_audit().unwrap();
        // Audit's stored report drops the examples; the rest is field for field.
        assert_eq!(audit["findings"], library(&stored)["findings"]);
        assert_eq!(keys(&audit), keys(&library(&stored)));
        let verified = session.verify().unwrap();
        assert_eq!(keys(&verify), keys(&library(&verified)));
        assert_eq!(verify["findings"], library(&verified)["findings"]);
    }
    for (name, report) in [
        ("lock", &lock),
        ("anonymize", &anonymize),
        ("redact", &redact),
        ("export", &export),
        ("recover", &recover),
        ("compact", &compact),
        ("identities", &identities),
    ] {
        assert!(
            report.is_object() && !keys(report).is_empty(),
            "{name}: {report}"
        );
    }
    assert!(export["written"].as_u64().unwrap() > 30);

    // `--json=FILE`: the table on stdout, the JSON in the file (owner-only).
    let file = p("verify.json");
    let both = gantry()
        .args(["-q", "--db"])
        .arg(&db)
        .arg("verify")
        .arg(format!("--json={}", file.display()))
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&both.stdout).contains("CLEAN"));
    let written: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
    assert_eq!(written["findings"], 0);
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&file).unwrap().permissions().mode() & 0o077,
        0
    );

    // `run`, all nine reports in one object.
    let (code, run) = json_of(
        &p("run.db"),
        &[
            os("run"),
            data.as_os_str(),
            os("--config"),
            config.as_os_str(),
            os("--out"),
            p("out2").as_os_str(),
            os("--key"),
            p("new.key").as_os_str(),
        ],
    );
    assert_eq!(code, Some(0), "{run}");
    for section in [
        "ingest",
        "inventory",
        "audit",
        "seal",
        "anonymize",
        "redact",
        "verify",
        "export",
    ] {
        assert!(run[section].is_object(), "run has no {section}");
    }
    assert_eq!(run["key"]["created"], true, "run says it created the key");
}

#[test]
fn errors_name_what_to_run_next() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("none.db");
    let out = gantry().arg("--db").arg(&db).arg("audit").output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("gantry ingest"), "{err}");
    assert!(
        !db.exists(),
        "a command that needs data creates no empty database"
    );

    let data = dir.path().join("dump");
    gantry_synth::generate(&data, &gantry_synth::DumpSpec::many_small_files(20)).unwrap();
    ingest(&db, &data);
    let out = gantry()
        .args(["-q", "--db"])
        .arg(&db)
        .arg("audit")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        err.contains("gantry config init") && err.contains("--config"),
        "{err}"
    );

    let missing = dir.path().join("missing.key");
    let out = gantry()
        .args(["-q", "--db"])
        .arg(&db)
        .arg("lock")
        .arg("--key")
        .arg(&missing)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("gantry keygen"), "{err}");
    assert!(!missing.exists(), "lock never creates a key");

    let help = gantry().arg("--help").output().unwrap();
    assert!(String::from_utf8_lossy(&help.stdout).contains("Exit codes"));
}

#[test]
fn audit_lists_every_instance_with_its_actions_and_what_blocks_it() {
    let dir = tempfile::tempdir().unwrap();
    let (data, dump, config) = dump_without_capture_rules(dir.path());
    let db = dir.path().join("g.db");
    ingest(&db, &data);
    let out = gantry()
        .args(["-q", "--json", "--db"])
        .arg(&db)
        .args(["audit", "--instances", "--config"])
        .arg(&config)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    // The report (pretty JSON), then one line per instance.
    let lines: Vec<serde_json::Value> = text
        .lines()
        .filter(|l| l.starts_with("{\"instance\""))
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    // Every instance indexed (the dump's, and its file without a meta group).
    assert_eq!(lines.len(), instance_count(&db).unwrap() as usize);
    let blocked: Vec<&serde_json::Value> = lines
        .iter()
        .filter(|l| !l["blocks"].as_array().unwrap().is_empty())
        .collect();
    let captures = dump
        .instances
        .iter()
        .filter(|i| i.device == gantry_synth::Device::ScreenCapture)
        .count();
    assert_eq!(blocked.len(), captures, "{text}");
    for line in &lines {
        assert!(
            line["by_action"]["pseudonym"].as_u64().unwrap() >= 1,
            "{line}"
        );
        for block in line["blocks"].as_array().unwrap() {
            let block = block.as_str().unwrap();
            assert!(
                block.starts_with("pixels: ") && block.contains("fix: "),
                "{block}"
            );
        }
    }
}

/// `gantry ... | head`: the reader goes away after its first lines. The command ends
/// without a panic (exit code 101, "failed printing to stdout"), as its work is done.
#[test]
fn a_reader_that_goes_away_does_not_make_gantry_panic() {
    let dir = tempfile::tempdir().unwrap();
    let dump = dir.path().join("dump");
    let synth = gantry().arg("synth").arg(&dump).output().unwrap();
    assert!(synth.status.success());
    let mut child = gantry()
        .args(["-q", "--db"])
        .arg(dir.path().join("g.db"))
        .arg("ingest")
        .arg(&dump)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let output = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(output.status.code(), Some(0), "{stderr}");
}
