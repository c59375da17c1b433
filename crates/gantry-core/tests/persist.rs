//! Persistence: a session reopened from its database resumes where it stood, and
//! compaction reclaims the sidecar space of superseded redactions without losing any.

use gantry_core::{Secret, Session};
use gantry_synth::{Device, DumpSpec, generate};

#[test]
fn a_reopened_session_resumes_and_compaction_keeps_every_live_pixel_record() {
    let dir = tempfile::tempdir().unwrap();
    let dump = generate(&dir.path().join("dump"), &DumpSpec::default()).unwrap();
    let db = dir.path().join("gantry.db");
    let config = dir.path().join("config.yaml");
    let secret = Secret::from_hex(&"c0".repeat(32)).unwrap();
    {
        let mut session = Session::builder()
            .database(&db)
            .secret(secret.clone())
            .open()
            .unwrap();
        session.ingest(&dump.root).unwrap();
        // First rules: every burning device, with its band widened by one row.
        let wide = dump
            .machine_rules()
            .replace("]\n", "]\n      - [0, 1, 0, 1]\n");
        std::fs::write(&config, format!("version: \"2.0\"\n{wide}")).unwrap();
        session.load_config(&config).unwrap();
        session.audit().unwrap();
        session.anonymize_metadata().unwrap();
        assert!(session.redact_pixels().unwrap().redacted > 0);
        session.save().unwrap();
    }
    // A new process: everything it needs is in the database and the sidecar.
    let mut session = Session::open(&db).unwrap();
    let before = std::fs::metadata(session.sidecar_path().unwrap())
        .unwrap()
        .len();
    let verify = session.verify().unwrap();
    assert!(verify.is_clean(), "{verify}");
    // New rules supersede every redaction: the old records become garbage.
    std::fs::write(
        &config,
        format!("version: \"2.0\"\n{}", dump.machine_rules()),
    )
    .unwrap();
    session.load_config(&config).unwrap();
    session.audit().unwrap();
    session.anonymize_metadata().unwrap();
    let again = session.redact_pixels().unwrap();
    assert!(again.redacted > 0 && again.unchanged == 0, "{again}");
    let grown = std::fs::metadata(session.sidecar_path().unwrap())
        .unwrap()
        .len();
    assert!(grown > before);
    let compacted = session.compact().unwrap();
    assert_eq!(compacted.records, again.redacted);
    assert!(
        compacted.bytes_after < compacted.bytes_before,
        "{compacted}"
    );
    assert_eq!(
        std::fs::metadata(session.sidecar_path().unwrap())
            .unwrap()
            .len(),
        compacted.bytes_after
    );
    // Every live record still reads and checks out, in this session and the next.
    assert!(session.verify().unwrap().is_clean());
    drop(session);
    let mut session = Session::open(&db).unwrap();
    assert!(session.verify().unwrap().is_clean());
    let report = session.export(dir.path().join("out")).run().unwrap();
    let screen = dump
        .instances
        .iter()
        .filter(|i| i.device == Device::ScreenCapture)
        .count();
    assert_eq!(
        report.written as usize,
        dump.expected_indexed(),
        "{report} ({screen} screen captures have rules too)"
    );
}
