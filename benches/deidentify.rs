//! Audit + anonymize (+ verify) throughput, and what sealing costs on top.
//!
//! ```text
//! cargo bench --bench deidentify                          # 10,000 small files
//! GANTRY_BENCH_FILES=2000 cargo bench --bench deidentify
//! ```
//!
//! Each round starts from a fresh database (ingest is not timed). Target: audit +
//! anonymize at 5,000 files/s or more on 2 cores. Sealing is reported as a ratio to
//! anonymize alone, measured in the same rounds.

mod common;

use std::time::Duration;

use gantry::{KeyFile, Secret, Session};

const CONFIG: &str = "version: \"2.0\"\nprofile_options: [retain_longitudinal_modified_dates]\n";

fn main() {
    if common::probing() {
        return;
    }
    common::quiet_backtraces();
    let files = common::files_from_env();
    let (data, rules) = common::dataset(files);
    let n = common::list(&data).len() as f64;
    let work = tempfile::tempdir().expect("temporary folder");
    let config = work.path().join("config.yaml");
    std::fs::write(&config, format!("{CONFIG}{rules}")).expect("config");

    let (mut audit_t, mut anon_t, mut verify_t, mut seal_t, mut sealed_anon_t) = (
        Duration::MAX,
        Duration::MAX,
        Duration::MAX,
        Duration::MAX,
        Duration::MAX,
    );
    for round in 0..3 {
        let open = |name: &str| {
            let mut s = Session::builder()
                .database(work.path().join(format!("{name}{round}.db")))
                .secret(Secret::from_hex(&"42".repeat(32)).expect("secret"))
                .open()
                .expect("session");
            s.ingest(&data).expect("ingest");
            s.load_config(&config).expect("config");
            s
        };
        // Without sealing.
        let mut session = open("plain");
        let mut audit = None;
        audit_t = audit_t.min(common::time(|| {
            audit = Some(session.audit().expect("audit"))
        }));
        audit.expect("audit ran");
        anon_t = anon_t.min(common::time(|| {
            session.anonymize_metadata().expect("anonymize");
        }));
        verify_t = verify_t.min(common::time(|| {
            session.verify().expect("verify");
        }));
        // With sealing: the seal, and anonymize that checks and carries it.
        let mut session = open("sealed");
        let key = KeyFile::create(work.path().join(format!("k{round}.key"))).expect("key");
        session
            .enable_reversible_anonymization(key)
            .expect("enable");
        session.audit().expect("audit");
        seal_t = seal_t.min(common::time(|| {
            session.preserve_identities().expect("seal");
        }));
        sealed_anon_t = sealed_anon_t.min(common::time(|| {
            session.anonymize_metadata().expect("anonymize");
        }));
    }
    let rate = |d: Duration| n / d.as_secs_f64();
    println!(
        "deidentify bench: {n} files, {} threads",
        rayon::current_num_threads()
    );
    println!(
        "  audit                          {:>9.0} files/s",
        rate(audit_t)
    );
    println!(
        "  anonymize                      {:>9.0} files/s",
        rate(anon_t)
    );
    println!(
        "  audit + anonymize              {:>9.0} files/s   (target 5,000)",
        rate(audit_t + anon_t)
    );
    println!(
        "  verify                         {:>9.0} files/s",
        rate(verify_t)
    );
    println!(
        "  audit + anonymize + verify     {:>9.0} files/s",
        rate(audit_t + anon_t + verify_t)
    );
    println!(
        "  seal (preserve_identities)     {:>9.0} files/s   {:.2}x the cost of anonymize alone",
        rate(seal_t),
        seal_t.as_secs_f64() / anon_t.as_secs_f64()
    );
    println!(
        "  anonymize with sealed originals{:>9.0} files/s   {:.2}x the cost without",
        rate(sealed_anon_t),
        sealed_anon_t.as_secs_f64() / anon_t.as_secs_f64()
    );
    println!(
        "  peak RSS                       {:>9.1} MB",
        common::peak_rss_mb()
    );
}
