//! The identity pass (every patient's identifiers, from every original) decodes no
//! original: ingest keeps beside each header what the pass takes from it, and the pass's
//! result is kept in the database until an instance changes (`identity_fallback.rs`:
//! facts missing, or another Gantry's). Alone in its binary: the decode counters are per process.

mod common;

use gantry_core::{Session, decode_counts};

#[test]
fn a_later_session_reads_the_identity_pass_until_an_instance_changes() {
    let dir = tempfile::tempdir().unwrap();
    let (dump, config) = common::dump_keeping_comments(dir.path(), 90);
    let database = dir.path().join("gantry.db");
    let indexed = {
        let mut session = Session::open(&database).unwrap();
        let ingest = session.ingest(&dump.root).unwrap();
        session.load_config(&config).unwrap();
        let before = decode_counts();
        session.audit().unwrap();
        let after = decode_counts();
        // One decode each, the audit's check: none for the identity pass.
        assert_eq!(after.original - before.original, ingest.indexed);
        ingest.indexed
    };

    // A new session verifies: from the plans audit stored (no original decoded), and
    // none for identities.
    let mut session = Session::open(&database).unwrap();
    session.anonymize_metadata().unwrap();
    session.redact_pixels().unwrap();
    let before = decode_counts();
    assert!(session.verify().unwrap().is_clean());
    let after = decode_counts();
    assert_eq!(after.original - before.original, 0);
    assert_eq!(after.deidentified - before.deidentified, indexed);
    drop(session);

    // One file changes: a patient is renamed, and another patient's kept comments name
    // the new name. The pass runs again, and the echo of the new name is found.
    let other = common::plant_renamed_echo(&dump.root);

    let mut session = Session::open(&database).unwrap();
    session.ingest(&dump.root).unwrap();
    let before = decode_counts();
    let audit = session.audit().unwrap();
    let after = decode_counts();
    assert_eq!(
        after.original - before.original,
        indexed,
        "one decode each, the audit's check"
    );
    // The pass ran again, on what ingest kept of the changed files: the echo of the new
    // name is found.
    assert!(audit.by_rule.contains_key("identifier echo"));
    // The comments naming the renamed patient do not leave as they are: the new name is
    // another patient's identifier now (a stale pass would keep them).
    let preview = session.show(other.to_str().unwrap(), false).unwrap();
    let comments = preview
        .attributes
        .iter()
        .find(|a| a.path.to_string() == "(0020,4000)")
        .unwrap();
    assert!(
        !matches!(comments.outcome, gantry_core::Outcome::Kept)
            && comments
                .new_value
                .as_deref()
                .is_none_or(|v| !v.contains("Quillfeather")),
        "the new name is among the identifiers: {comments:?}"
    );
    drop(session);

    // Shards: the pass `export_identities` made serves the audit after the other shard's
    // identifiers are imported (which makes plans stale, not the shard's own pass).
    let secret = gantry_core::Secret::from_hex(&"ab".repeat(32)).unwrap();
    let ids = dir.path().join("ids");
    for index in 1..=2 {
        let mut shard = Session::builder()
            .database(dir.path().join(format!("shard{index}.db")))
            .secret(secret.clone())
            .shard(gantry_core::Shard::new(index, 2).unwrap())
            .open()
            .unwrap();
        shard.ingest(&dump.root).unwrap();
        shard.load_config(&config).unwrap();
        shard
            .export_identities(ids.join(format!("shard-{index}.identities")))
            .unwrap();
    }
    let mut shard = Session::open(dir.path().join("shard1.db")).unwrap();
    shard.import_identities(&[&ids]).unwrap();
    let held = shard.store().instance_count().unwrap();
    assert!(held > 0);
    let before = decode_counts();
    shard.audit().unwrap();
    let after = decode_counts();
    assert_eq!(
        after.original - before.original,
        held,
        "one decode each: the audit's"
    );
}
