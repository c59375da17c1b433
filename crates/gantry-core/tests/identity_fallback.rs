//! A database whose instances have no identity facts this Gantry can use (indexed before
//! ingest kept them, or by another Gantry) gets the identity pass from the decoded
//! originals. Alone in its binary: the decode counters are per process.

mod common;

use gantry_core::{Session, decode_counts};

/// With the facts gone or another Gantry's, the pass decodes every original and finds what
/// it found from the facts: the renamed patient's name echoed in another's comments.
#[test]
fn instances_without_usable_facts_get_the_pass_from_their_originals() {
    let dir = tempfile::tempdir().unwrap();
    let (dump, config) = common::dump_keeping_comments(dir.path(), 90);
    common::plant_renamed_echo(&dump.root);
    for (case, unusable) in [
        ("none kept", "UPDATE headers SET identity = NULL"),
        (
            "another Gantry's",
            "UPDATE headers SET identity = CAST(json_set(CAST(identity AS TEXT), '$.gantry', '0.0.0') AS BLOB)",
        ),
    ] {
        let database = dir.path().join(format!("{case}.db"));
        let indexed = {
            let mut session = Session::open(&database).unwrap();
            let indexed = session.ingest(&dump.root).unwrap().indexed;
            session.load_config(&config).unwrap();
            indexed
        };
        let connection = rusqlite::Connection::open(&database).unwrap();
        assert_eq!(connection.execute(unusable, []).unwrap() as u64, indexed);
        drop(connection);

        let mut session = Session::open(&database).unwrap();
        let before = decode_counts();
        let audit = session.audit().unwrap();
        let after = decode_counts();
        assert_eq!(
            after.original - before.original,
            2 * indexed,
            "{case}: the pass decodes every original, then the audit's check"
        );
        assert!(
            audit.by_rule.contains_key("identifier echo"),
            "{case}: {audit}"
        );
    }
}
