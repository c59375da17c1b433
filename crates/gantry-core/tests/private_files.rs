//! Files that hold PHI are private whatever the umask, a database others can read is
//! refused, and every name of a database meets one lock and one sidecar.
//!
//! One test function: the umask is per process, and the suites of one binary run on
//! threads of one process.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use gantry_core::{GantryError, Session};
use gantry_store::StoreError;
use gantry_synth::{DumpSpec, generate};

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

fn companions(db: &Path) -> Vec<std::path::PathBuf> {
    ["-wal", "-shm", ".lock"]
        .iter()
        .map(|s| {
            let mut name = db.as_os_str().to_owned();
            name.push(s);
            name.into()
        })
        .collect()
}

/// Ingests and redacts a small dump with the database at `db` (a folder Gantry creates).
fn run_to_redact(dump: &gantry_synth::SyntheticDump, db: &Path, config: &Path) -> Session {
    let mut session = Session::open(db).unwrap();
    session.ingest(&dump.root).unwrap();
    session.load_config(config).unwrap();
    let redact = session.redact_pixels().unwrap();
    assert!(redact.redacted > 0, "{redact}");
    session
}

fn set_umask(mask: u32) -> u32 {
    // SAFETY: umask only swaps the process's file-creation mask.
    unsafe { libc::umask(mask as libc::mode_t) as u32 }
}

#[test]
fn phi_files_are_private_whatever_the_umask_and_links_share_one_database() {
    let dir = tempfile::tempdir().unwrap();
    let spec = DumpSpec {
        patients: 1,
        ..DumpSpec::default()
    };
    let dump = generate(&dir.path().join("dump"), &spec).unwrap();
    let config = dir.path().join("config.yaml");
    std::fs::write(
        &config,
        format!("version: \"2.0\"\n{}", dump.machine_rules()),
    )
    .unwrap();

    let before = set_umask(0o022);
    for umask in [0o000, 0o022] {
        set_umask(umask);
        let db = dir.path().join(format!("umask{umask:03o}/state/gantry.db"));
        let session = run_to_redact(&dump, &db, &config);
        let sidecar = session.sidecar_path().unwrap();
        for file in [db.clone(), sidecar].into_iter().chain(companions(&db)) {
            assert_eq!(mode(&file), 0o600, "umask {umask:03o}: {}", file.display());
        }
        // Folders Gantry made for them.
        assert_eq!(mode(db.parent().unwrap()), 0o700, "umask {umask:03o}");
        assert_eq!(mode(db.parent().unwrap().parent().unwrap()), 0o700);
        drop(session);
    }
    set_umask(before);

    // A database others can read is refused, with the chmod to run.
    let db = dir.path().join("umask022/state/gantry.db");
    std::fs::set_permissions(&db, std::fs::Permissions::from_mode(0o644)).unwrap();
    match Session::open(&db) {
        Err(GantryError::Store(StoreError::NotPrivate { mode: 0o644, path })) => {
            assert_eq!(path, std::fs::canonicalize(&db).unwrap());
        }
        other => panic!("a world-readable database was opened: {other:?}"),
    }
    let message = Session::open(&db).unwrap_err().to_string();
    assert!(message.contains("chmod 600"), "{message}");
    std::fs::set_permissions(&db, std::fs::Permissions::from_mode(0o600)).unwrap();

    // A symbolic link and a hard link to the database are the same database: one lock,
    // one sidecar.
    let link = dir.path().join("alias.db");
    std::os::unix::fs::symlink(&db, &link).unwrap();
    let hard = db.with_file_name("hard.db");
    std::fs::hard_link(&db, &hard).unwrap();
    let through_link = Session::open(&link).unwrap();
    for other in [&db, &hard] {
        match Session::open(other) {
            Err(GantryError::Store(StoreError::Locked { .. })) => {}
            other => panic!("a second process could open the database: {other:?}"),
        }
    }
    let real_sidecar = std::fs::canonicalize(&db)
        .unwrap()
        .with_file_name("gantry_pixels.bin");
    assert_eq!(through_link.sidecar_path().unwrap(), real_sidecar);
    assert!(!dir.path().join("alias_pixels.bin").exists());
    drop(through_link);

    // What redact recorded through one name, export reads through the other.
    let mut session = Session::open(&link).unwrap();
    session.load_config(&config).unwrap();
    session.audit().unwrap();
    session.anonymize_metadata().unwrap();
    let export = session.export(dir.path().join("out")).run().unwrap();
    assert!(
        export.blocked.iter().all(|b| !b
            .reasons
            .iter()
            .any(|r| r.contains("beyond") || r.contains("sidecar"))),
        "{export}"
    );
    assert!(export.written > 0, "{export}");
}
