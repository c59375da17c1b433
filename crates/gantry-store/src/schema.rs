//! The database schema, as an ordered list of migrations.
//!
//! `PRAGMA user_version` holds the number of migrations applied. A migration is never
//! edited once released; a change is a new entry at the end.

use rusqlite::Connection;

/// Each entry moves the schema from version `i` to `i + 1`.
const MIGRATIONS: &[&str] = &[
    // 1: the index of sources and instances, with their original headers.
    r#"
    CREATE TABLE meta (
        key   TEXT PRIMARY KEY,
        value BLOB NOT NULL
    );
    -- Files ingest looked at and did not index, and why. An indexed file is its
    -- instance row (source_path, source_size, source_mtime_ns); it has no row here.
    CREATE TABLE files (
        path             TEXT PRIMARY KEY,
        size             INTEGER NOT NULL,
        mtime_ns         INTEGER NOT NULL,
        outcome          TEXT NOT NULL
                         CHECK (outcome IN ('duplicate', 'conflict', 'skipped')),
        reason_code      TEXT,
        reason           TEXT,
        sop_instance_uid TEXT
    );
    CREATE TABLE instances (
        id                   INTEGER PRIMARY KEY,
        sop_instance_uid     TEXT NOT NULL UNIQUE,
        sop_class_uid        TEXT,
        patient_id           TEXT,
        issuer_of_patient_id TEXT,
        patient_name         TEXT,
        study_instance_uid   TEXT,
        series_instance_uid  TEXT,
        study_date           TEXT,
        modality             TEXT,
        manufacturer         TEXT,
        model_name           TEXT,
        serial_number        TEXT,
        rows                 INTEGER,
        columns              INTEGER,
        frames               INTEGER,
        bits_allocated       INTEGER,
        samples_per_pixel    INTEGER,
        photometric          TEXT,
        burned_in_annotation TEXT,
        transfer_syntax      TEXT NOT NULL,
        syntax_guess         TEXT,
        source_path          TEXT NOT NULL,
        source_size          INTEGER NOT NULL,
        source_mtime_ns      INTEGER NOT NULL,
        content_hash         BLOB,
        pixel_location       TEXT,
        notes                TEXT
    );
    -- Only the lookups ingest makes per file are indexed: every other query scans or
    -- groups the whole table, and each extra index would cost every insert.
    CREATE INDEX instances_source ON instances (source_path);
    -- The header as read, Explicit VR Little Endian without Pixel Data. Kept apart from
    -- the instance row so that scans of the indexed columns never page through blobs.
    CREATE TABLE headers (
        instance_id INTEGER PRIMARY KEY REFERENCES instances (id) ON DELETE CASCADE,
        original    BLOB NOT NULL
    );
    "#,
    // 2: what the checkpoints conclude and change.
    r#"
    -- The de-identified header, derived from the original, the config and the secret.
    ALTER TABLE headers ADD COLUMN deidentified BLOB;
    -- Findings of an audit or a verify, one row per instance (a JSON array), so a report
    -- can be rebuilt and a resumed session knows where it stands.
    CREATE TABLE findings (
        instance_id INTEGER NOT NULL REFERENCES instances (id) ON DELETE CASCADE,
        stage       TEXT NOT NULL,
        count       INTEGER NOT NULL,
        data        TEXT NOT NULL,
        PRIMARY KEY (instance_id, stage)
    );
    -- Each checkpoint's report, as JSON.
    CREATE TABLE reports (
        id         INTEGER PRIMARY KEY,
        stage      TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        data       TEXT NOT NULL
    );
    -- What changed, when, by which checkpoint.
    CREATE TABLE audit_log (
        id          INTEGER PRIMARY KEY,
        instance_id INTEGER,
        checkpoint  TEXT NOT NULL,
        at          INTEGER NOT NULL,
        detail      TEXT NOT NULL
    );
    "#,
    // 3: sealed originals, redacted pixels, exported files.
    r#"
    -- The Encrypted Attributes Sequence item of an instance (Explicit VR Little Endian),
    -- the key it was sealed for, and a keyed digest of what it holds, so that sealing
    -- again is needed only when the originals or the key change.
    CREATE TABLE sealed (
        instance_id INTEGER PRIMARY KEY REFERENCES instances (id) ON DELETE CASCADE,
        key_id      TEXT NOT NULL,
        digest      BLOB NOT NULL,
        item        BLOB NOT NULL
    );
    -- Redacted pixel data: where its sidecar record is, its transfer syntax, the header
    -- elements that describe it (Explicit VR Little Endian), and what was done (JSON).
    CREATE TABLE pixels (
        instance_id     INTEGER PRIMARY KEY REFERENCES instances (id) ON DELETE CASCADE,
        sidecar_offset  INTEGER NOT NULL,
        sidecar_length  INTEGER NOT NULL,
        pixel_syntax    TEXT NOT NULL,
        attributes      BLOB NOT NULL,
        redaction       TEXT NOT NULL,
        fingerprint     TEXT NOT NULL
    );
    -- Files written by export, per output folder.
    CREATE TABLE exports (
        out_dir          TEXT NOT NULL,
        instance_id      INTEGER NOT NULL REFERENCES instances (id) ON DELETE CASCADE,
        path             TEXT NOT NULL,
        sop_instance_uid TEXT NOT NULL,
        sha256           TEXT NOT NULL,
        size             INTEGER NOT NULL,
        safe             INTEGER NOT NULL,
        PRIMARY KEY (out_dir, instance_id)
    );
    CREATE UNIQUE INDEX exports_path ON exports (out_dir, path);
    "#,
    // 4: what verify found clean, and of what exactly.
    r#"
    -- A digest of every input of an instance's verification (original and de-identified
    -- headers, redacted pixels, rules, secret, the patient's identifiers, the sealing
    -- key) when verify found it clean: a later check of the same inputs is the same.
    CREATE TABLE verified (
        instance_id INTEGER PRIMARY KEY REFERENCES instances (id) ON DELETE CASCADE,
        inputs      BLOB NOT NULL
    );
    "#,
    // 5: why a checkpoint failed for an instance, so a block can name its first cause.
    r#"
    -- The latest failure of a checkpoint (anonymize, redact) for an instance; the row
    -- goes when the checkpoint next succeeds for it.
    CREATE TABLE failures (
        instance_id INTEGER NOT NULL REFERENCES instances (id) ON DELETE CASCADE,
        checkpoint  TEXT NOT NULL,
        detail      TEXT NOT NULL,
        PRIMARY KEY (instance_id, checkpoint)
    );
    "#,
    // 6: the birth date, so examine can list one Patient ID with several birth dates (rows
    // indexed before it have none until they are indexed again).
    r#"
    ALTER TABLE instances ADD COLUMN patient_birth_date TEXT;
    "#,
    // 7: what was done to and known of each exported file's pixels, for the manifest
    // (files exported before it say `unrecorded`).
    r#"
    ALTER TABLE exports ADD COLUMN pixels TEXT NOT NULL DEFAULT 'unrecorded';
    "#,
    // 8: a skipped file's reason as JSON, so every reason (its tag, length, limit) comes
    // back as it was; rows written before it are rebuilt from their code and sentence.
    r#"
    ALTER TABLE files ADD COLUMN reason_json TEXT;
    "#,
    // 9: each instance's plan, made by audit from one decode of its original header: the
    // de-identified header anonymize writes and the originals seal keeps (both Explicit VR
    // Little Endian), and the basis they were made on (Gantry's version, the config, the
    // secret and the set of instances whose identities were collected). The set changes
    // with every instance inserted or deleted: the counter below, kept by triggers, says
    // when, so a plan made before is stale without anyone having to remember it.
    r#"
    CREATE TABLE plans (
        instance_id  INTEGER PRIMARY KEY REFERENCES instances (id) ON DELETE CASCADE,
        basis        BLOB NOT NULL,
        deidentified BLOB NOT NULL,
        modified     BLOB NOT NULL
    );
    INSERT OR IGNORE INTO meta (key, value) VALUES ('instances.generation', 0);
    CREATE TRIGGER instances_generation_insert AFTER INSERT ON instances BEGIN
        UPDATE meta SET value = value + 1 WHERE key = 'instances.generation';
    END;
    CREATE TRIGGER instances_generation_delete AFTER DELETE ON instances BEGIN
        UPDATE meta SET value = value + 1 WHERE key = 'instances.generation';
    END;
    "#,
    // 10: when audit searched an instance's source pixels and the text detector found
    // nothing, the key of that search (detector, pixel plan, source stamp): verify and
    // export's gate then need not read, decode and search the same pixels again.
    r#"
    ALTER TABLE plans ADD COLUMN pixels_clean BLOB;
    "#,
    // 11: the findings the config's waivers accepted, as JSON: beside a clean verdict
    // (so export's gate, reusing it, still knows them) and beside each exported file (for
    // the manifest). Rows written before it accepted none.
    r#"
    ALTER TABLE verified ADD COLUMN waived TEXT;
    ALTER TABLE exports ADD COLUMN waived TEXT NOT NULL DEFAULT '';
    "#,
    // 12: files a sharded session leaves to another shard (its patients'), recorded so a
    // later ingest does not read them again. SQLite cannot change a CHECK: the table is
    // rebuilt with the rows it has.
    r#"
    CREATE TABLE files_new (
        path             TEXT PRIMARY KEY,
        size             INTEGER NOT NULL,
        mtime_ns         INTEGER NOT NULL,
        outcome          TEXT NOT NULL
                         CHECK (outcome IN ('duplicate', 'conflict', 'skipped', 'other_shard')),
        reason_code      TEXT,
        reason           TEXT,
        sop_instance_uid TEXT,
        reason_json      TEXT
    );
    INSERT INTO files_new (path, size, mtime_ns, outcome, reason_code, reason,
                           sop_instance_uid, reason_json)
        SELECT path, size, mtime_ns, outcome, reason_code, reason, sop_instance_uid,
               reason_json
        FROM files;
    DROP TABLE files;
    ALTER TABLE files_new RENAME TO files;
    "#,
    // 13: what the identity pass takes from an original header (its patient key, the
    // values of its identifier-bearing attributes, its demographics), taken at ingest from
    // the header already parsed, so that the pass decodes nothing. Rows indexed before it
    // have none, and the pass decodes their originals as it did.
    r#"
    ALTER TABLE headers ADD COLUMN identity BLOB;
    "#,
    // 14: beside each plan, what verify needs of the original header (its UIDs, and the
    // rules' findings in the planned de-identified header checked against it), made from
    // audit's one decode, so that verify decodes only the header export writes. Plans
    // made before it have none, and verify decodes their originals as it did.
    r#"
    ALTER TABLE plans ADD COLUMN expected BLOB;
    "#,
];

/// The schema version this build writes.
pub const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

/// Brings the database up to [`SCHEMA_VERSION`]; returns the version found before.
pub(crate) fn migrate(conn: &mut Connection) -> Result<i64, MigrateError> {
    let found: i64 = conn.query_row("PRAGMA user_version", [], |row| row.get(0))?;
    if found > SCHEMA_VERSION {
        return Err(MigrateError::TooNew(found));
    }
    for (version, sql) in MIGRATIONS.iter().enumerate().skip(found as usize) {
        let tx = conn.transaction()?;
        tx.execute_batch(sql)?;
        tx.pragma_update(None, "user_version", version as i64 + 1)?;
        tx.commit()?;
    }
    Ok(found)
}

pub(crate) enum MigrateError {
    TooNew(i64),
    Sql(rusqlite::Error),
}

impl From<rusqlite::Error> for MigrateError {
    fn from(e: rusqlite::Error) -> Self {
        MigrateError::Sql(e)
    }
}
