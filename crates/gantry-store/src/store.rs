//! The SQLite database: opening, locking, and the typed reads and writes.

use std::fs::{File, TryLockError};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use rusqlite::{Connection, OptionalExtension, Row, params};

use crate::derived::PIXEL_COLUMNS;
use crate::error::{Result, StoreError};
use crate::instance::{Column, FileOutcome, FileRecord, InstanceFilter, InstanceRecord};
use crate::schema::{self, MigrateError, SCHEMA_VERSION};
use crate::source::{PixelLocation, SkipReason, SourceStamp, SourceSyntax};

/// The Gantry database: one SQLite file in WAL mode, held by one process at a time.
///
/// All writes go through [`Store::write`], which runs a closure in one transaction, so a
/// batch lands whole or not at all.
pub struct Store {
    pub(crate) conn: Connection,
    pub(crate) path: PathBuf,
    // Held for the store's lifetime, and dropped after `conn`: the OS releases the lock
    // when the process dies, so a killed run never leaves the database locked.
    _lock: (File, File),
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").field("path", &self.path).finish()
    }
}

/// What the store knows of a file from an earlier ingest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileState {
    /// Size and mtime when last looked at.
    pub stamp: SourceStamp,
    /// What came of it.
    pub outcome: FileOutcome,
}

impl Store {
    /// Opens (creating if needed) the database at `path`, takes its lock, and migrates
    /// the schema.
    ///
    /// The database is named by its real path ([`crate::canonical_path`]), so every link
    /// to it shares its lock and sidecar. A new database (and its WAL, SHM and lock files)
    /// is created owner-only; an existing one that others can read is refused.
    pub fn open(path: impl AsRef<Path>) -> Result<Store> {
        let given = path.as_ref();
        let path = crate::private::canonical_path(given).map_err(|source| StoreError::Io {
            path: given.to_path_buf(),
            source,
        })?;
        let lock = take_lock(&path)?;
        let db_err = |source| StoreError::Database {
            path: path.clone(),
            source,
        };
        let mut conn = Connection::open(&path).map_err(db_err)?;
        conn.execute_batch(
            "PRAGMA journal_mode = WAL;
             PRAGMA synchronous = NORMAL;
             PRAGMA foreign_keys = ON;
             PRAGMA busy_timeout = 5000;
             PRAGMA cache_size = -16384;
             PRAGMA wal_autocheckpoint = 16384;",
        )
        .map_err(db_err)?;
        match schema::migrate(&mut conn) {
            Ok(_) => {}
            Err(MigrateError::TooNew(found)) => {
                return Err(StoreError::SchemaTooNew {
                    path,
                    found,
                    supported: SCHEMA_VERSION,
                });
            }
            Err(MigrateError::Sql(e)) => return Err(db_err(e)),
        }
        Ok(Store {
            conn,
            path,
            _lock: lock,
        })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    pub(crate) fn db_err(&self) -> impl Fn(rusqlite::Error) -> StoreError + '_ {
        move |source| StoreError::Database {
            path: self.path.clone(),
            source,
        }
    }

    /// Runs `f` in one transaction; it commits when `f` returns `Ok`.
    pub fn write<T>(&mut self, f: impl FnOnce(&StoreTx<'_>) -> Result<T>) -> Result<T> {
        let path = self.path.clone();
        let db_err = |source| StoreError::Database {
            path: path.clone(),
            source,
        };
        let tx = self.conn.transaction().map_err(db_err)?;
        let out = f(&StoreTx {
            tx: &tx,
            path: &path,
        })?;
        tx.commit().map_err(db_err)?;
        Ok(out)
    }

    /// What an earlier ingest recorded for `path`.
    pub fn file_state(&self, path: &Path) -> Result<Option<FileState>> {
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT size, mtime_ns, outcome FROM files WHERE path = ?1
                 UNION ALL
                 SELECT source_size, source_mtime_ns, 'indexed' FROM instances
                 WHERE source_path = ?1",
            )
            .map_err(self.db_err())?;
        stmt.query_row([path_text(path)], |row| {
            Ok(FileState {
                stamp: SourceStamp {
                    size: row.get::<_, i64>(0)? as u64,
                    mtime_ns: row.get(1)?,
                },
                outcome: FileOutcome::parse(&row.get::<_, String>(2)?),
            })
        })
        .optional()
        .map_err(self.db_err())
    }

    /// What earlier ingests recorded for each of `paths` (absent when never seen), in one
    /// query per call.
    pub fn file_states<P: AsRef<Path>>(&self, paths: &[P]) -> Result<Vec<Option<FileState>>> {
        let mut found = std::collections::HashMap::with_capacity(paths.len());
        for chunk in paths.chunks(512) {
            let placeholders = vec!["?"; chunk.len()].join(",");
            let sql = format!(
                "SELECT path, size, mtime_ns, outcome FROM files WHERE path IN ({placeholders})
                 UNION ALL
                 SELECT source_path, source_size, source_mtime_ns, 'indexed' FROM instances
                 WHERE source_path IN ({placeholders})"
            );
            let mut stmt = self.conn.prepare_cached(&sql).map_err(self.db_err())?;
            let texts: Vec<std::borrow::Cow<'_, str>> =
                chunk.iter().map(|p| path_text(p.as_ref()).into()).collect();
            let rows = stmt
                .query_map(
                    rusqlite::params_from_iter(texts.iter().chain(texts.iter())),
                    |row| {
                        Ok((
                            row.get::<_, String>(0)?,
                            FileState {
                                stamp: SourceStamp {
                                    size: row.get::<_, i64>(1)? as u64,
                                    mtime_ns: row.get(2)?,
                                },
                                outcome: FileOutcome::parse(&row.get::<_, String>(3)?),
                            },
                        ))
                    },
                )
                .map_err(self.db_err())?;
            for row in rows {
                let (path, state) = row.map_err(self.db_err())?;
                found.insert(path, state);
            }
        }
        Ok(paths
            .iter()
            .map(|p| found.remove(&path_text(p.as_ref())))
            .collect())
    }

    /// Files with the given outcome, in path order.
    pub fn files(&self, outcome: FileOutcome) -> Result<Vec<FileRecord>> {
        let sql = if outcome == FileOutcome::Indexed {
            "SELECT source_path, source_size, source_mtime_ns, ?1, NULL, NULL, sop_instance_uid,
                    NULL
             FROM instances ORDER BY source_path"
        } else {
            "SELECT path, size, mtime_ns, outcome, reason_code, reason, sop_instance_uid,
                    reason_json
             FROM files WHERE outcome = ?1 ORDER BY path"
        };
        let mut stmt = self.conn.prepare_cached(sql).map_err(self.db_err())?;
        let rows = stmt
            .query_map([outcome.as_str()], file_from_row)
            .map_err(self.db_err())?;
        rows.collect::<rusqlite::Result<_>>().map_err(self.db_err())
    }

    /// How many files have each outcome.
    pub fn file_outcome_counts(&self) -> Result<Vec<(FileOutcome, u64)>> {
        self.pairs(
            "SELECT 'indexed', COUNT(*) FROM instances
             UNION ALL
             SELECT outcome, COUNT(*) FROM files GROUP BY outcome",
            |row| {
                Ok((
                    FileOutcome::parse(&row.get::<_, String>(0)?),
                    row.get::<_, i64>(1)? as u64,
                ))
            },
        )
    }

    /// The number of indexed instances.
    pub fn instance_count(&self) -> Result<u64> {
        self.conn
            .query_row("SELECT COUNT(*) FROM instances", [], |r| r.get::<_, i64>(0))
            .map(|n| n as u64)
            .map_err(self.db_err())
    }

    /// The number of distinct non-null values of `column`.
    pub fn distinct_count(&self, column: Column) -> Result<u64> {
        let sql = format!(
            "SELECT COUNT(DISTINCT {c}) FROM instances WHERE {c} IS NOT NULL",
            c = column.sql()
        );
        self.conn
            .query_row(&sql, [], |r| r.get::<_, i64>(0))
            .map(|n| n as u64)
            .map_err(self.db_err())
    }

    /// Instance counts per value of `column` (absent values as `None`), most common first.
    pub fn group_counts(&self, column: Column) -> Result<Vec<(Option<String>, u64)>> {
        let sql = format!(
            "SELECT CAST({c} AS TEXT), COUNT(*) FROM instances GROUP BY 1 ORDER BY 2 DESC, 1",
            c = column.sql()
        );
        self.pairs(&sql, |row| Ok((row.get(0)?, row.get::<_, i64>(1)? as u64)))
    }

    /// Instances per (Patient ID, Issuer, Patient's Name, Birth Date) as indexed: what
    /// patient linkage conflicts are found in.
    pub fn patient_identity_counts(&self) -> Result<Vec<PatientIdentityCount>> {
        self.pairs(
            "SELECT patient_id, issuer_of_patient_id, patient_name, patient_birth_date, COUNT(*)
             FROM instances GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4",
            |row| {
                Ok(PatientIdentityCount {
                    patient_id: row.get(0)?,
                    issuer: row.get(1)?,
                    name: row.get(2)?,
                    birth_date: row.get(3)?,
                    instances: row.get::<_, i64>(4)? as u64,
                })
            },
        )
    }

    /// Instance, series and study counts per device (manufacturer, model, serial).
    pub fn device_counts(&self) -> Result<Vec<DeviceCount>> {
        self.pairs(
            "SELECT manufacturer, model_name, serial_number, COUNT(*),
                    COUNT(DISTINCT series_instance_uid), group_concat(DISTINCT modality),
                    SUM(upper(trim(burned_in_annotation)) = 'YES')
             FROM instances GROUP BY 1, 2, 3 ORDER BY 4 DESC, 1, 2, 3",
            |row| {
                Ok(DeviceCount {
                    manufacturer: row.get(0)?,
                    model_name: row.get(1)?,
                    serial_number: row.get(2)?,
                    instances: row.get::<_, i64>(3)? as u64,
                    series: row.get::<_, i64>(4)? as u64,
                    modalities: row
                        .get::<_, Option<String>>(5)?
                        .map(|m| m.split(',').map(str::to_string).collect())
                        .unwrap_or_default(),
                    burned_in_yes: row.get::<_, Option<i64>>(6)?.unwrap_or(0) as u64,
                })
            },
        )
    }

    /// The earliest and latest Study Date among instances that have a well-formed one.
    pub fn study_date_range(&self) -> Result<Option<(String, String)>> {
        self.conn
            .query_row(
                "SELECT MIN(study_date), MAX(study_date) FROM instances
                 WHERE length(study_date) = 8 AND study_date GLOB '[0-9]*'",
                [],
                |r| {
                    Ok((
                        r.get::<_, Option<String>>(0)?,
                        r.get::<_, Option<String>>(1)?,
                    ))
                },
            )
            .map(|(a, b)| a.zip(b))
            .map_err(self.db_err())
    }

    fn pairs<T>(
        &self,
        sql: &str,
        f: impl FnMut(&Row<'_>) -> rusqlite::Result<T>,
    ) -> Result<Vec<T>> {
        let mut stmt = self.conn.prepare_cached(sql).map_err(self.db_err())?;
        let rows = stmt.query_map([], f).map_err(self.db_err())?;
        rows.collect::<rusqlite::Result<_>>().map_err(self.db_err())
    }

    /// Instances matching `filter`, in row order.
    pub fn list_instances(&self, filter: &InstanceFilter) -> Result<Vec<InstanceRecord>> {
        let mut sql = format!("SELECT {INSTANCE_COLUMNS} FROM instances WHERE 1 = 1");
        let mut args: Vec<&dyn rusqlite::ToSql> = Vec::new();
        let conditions: [(&str, &Option<String>); 9] = [
            ("patient_id", &filter.patient_id),
            ("study_instance_uid", &filter.study_instance_uid),
            ("series_instance_uid", &filter.series_instance_uid),
            ("modality", &filter.modality),
            ("manufacturer", &filter.manufacturer),
            ("model_name", &filter.model_name),
            ("serial_number", &filter.serial_number),
            ("transfer_syntax", &filter.transfer_syntax),
            ("burned_in_annotation", &filter.burned_in_annotation),
        ];
        for (column, value) in conditions {
            if let Some(value) = value {
                args.push(value);
                sql.push_str(&format!(" AND {column} = ?{}", args.len()));
            }
        }
        sql.push_str(" ORDER BY id");
        if let Some(limit) = filter.limit {
            sql.push_str(&format!(" LIMIT {limit}"));
        }
        let mut stmt = self.conn.prepare(&sql).map_err(self.db_err())?;
        let rows = stmt
            .query_map(args.as_slice(), instance_from_row)
            .map_err(self.db_err())?;
        rows.collect::<rusqlite::Result<_>>().map_err(self.db_err())
    }

    /// Up to `limit` instances with row id greater than `after`, in row order, with their
    /// header blobs: the way to stream over every instance in bounded memory.
    pub fn instances_after(&self, after: i64, limit: usize) -> Result<Vec<StoredInstance>> {
        let sql = format!(
            "SELECT {INSTANCE_COLUMNS}, h.original, h.deidentified, s.key_id, s.digest, s.item, {PIXEL_COLUMNS}, v.inputs, fa.detail, fr.detail,
                    pl.basis, pl.deidentified, pl.modified, pl.pixels_clean
             FROM instances JOIN headers h ON h.instance_id = id
             LEFT JOIN plans pl ON pl.instance_id = id
             LEFT JOIN sealed s ON s.instance_id = id
             LEFT JOIN pixels p ON p.instance_id = id
             LEFT JOIN verified v ON v.instance_id = id
             LEFT JOIN failures fa ON fa.instance_id = id AND fa.checkpoint = 'anonymize'
             LEFT JOIN failures fr ON fr.instance_id = id AND fr.checkpoint = 'redact'
             WHERE id > ?1 ORDER BY id LIMIT ?2"
        );
        let mut stmt = self.conn.prepare_cached(&sql).map_err(self.db_err())?;
        let rows = stmt
            .query_map(params![after, limit as i64], |row| {
                Ok(StoredInstance {
                    record: instance_from_row(row)?,
                    original: row.get(INSTANCE_COLUMN_COUNT)?,
                    deidentified: row.get(INSTANCE_COLUMN_COUNT + 1)?,
                    sealed: crate::derived::sealed_from_row(row, INSTANCE_COLUMN_COUNT + 2)?,
                    redacted: crate::derived::redacted_from_row(row, INSTANCE_COLUMN_COUNT + 5)?,
                    verified: row.get(INSTANCE_COLUMN_COUNT + 11)?,
                    anonymize_failure: row.get(INSTANCE_COLUMN_COUNT + 12)?,
                    redact_failure: row.get(INSTANCE_COLUMN_COUNT + 13)?,
                    plan: crate::derived::plan_from_row(row, INSTANCE_COLUMN_COUNT + 14)?,
                })
            })
            .map_err(self.db_err())?;
        rows.collect::<rusqlite::Result<_>>().map_err(self.db_err())
    }

    /// The de-identified header blob of an instance, if anonymize has written one.
    pub fn deidentified_header(&self, id: i64) -> Result<Option<Vec<u8>>> {
        self.conn
            .query_row(
                "SELECT deidentified FROM headers WHERE instance_id = ?1",
                [id],
                |r| r.get(0),
            )
            .optional()
            .map_err(self.db_err())?
            .ok_or(StoreError::NoSuchInstance(id))
    }

    /// The findings stored for an instance at a stage (a JSON array), if any.
    pub fn findings(&self, instance_id: i64, stage: &str) -> Result<Option<String>> {
        self.conn
            .query_row(
                "SELECT data FROM findings WHERE instance_id = ?1 AND stage = ?2",
                params![instance_id, stage],
                |r| r.get(0),
            )
            .optional()
            .map_err(self.db_err())
    }

    /// The newest report of a stage (JSON), with its row id.
    pub fn latest_report(&self, stage: &str) -> Result<Option<(i64, String)>> {
        self.conn
            .query_row(
                "SELECT id, data FROM reports WHERE stage = ?1 ORDER BY id DESC LIMIT 1",
                [stage],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()
            .map_err(self.db_err())
    }

    /// Instances that have a de-identified header.
    pub fn deidentified_count(&self) -> Result<u64> {
        self.conn
            .query_row(
                "SELECT COUNT(*) FROM headers WHERE deidentified IS NOT NULL",
                [],
                |r| r.get::<_, i64>(0),
            )
            .map(|n| n as u64)
            .map_err(self.db_err())
    }

    /// One instance id per series of a device (absent attributes match absent), at most
    /// `limit`: a sample that sees every kind of image the device made.
    pub fn series_representatives(
        &self,
        manufacturer: Option<&str>,
        model_name: Option<&str>,
        serial_number: Option<&str>,
        limit: usize,
    ) -> Result<Vec<i64>> {
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT MIN(id) FROM instances
                 WHERE manufacturer IS ?1 AND model_name IS ?2 AND serial_number IS ?3
                 GROUP BY series_instance_uid ORDER BY 1 LIMIT ?4",
            )
            .map_err(self.db_err())?;
        let rows = stmt
            .query_map(
                params![manufacturer, model_name, serial_number, limit as i64],
                |r| r.get(0),
            )
            .map_err(self.db_err())?;
        rows.collect::<rusqlite::Result<_>>().map_err(self.db_err())
    }

    /// One instance by row id.
    pub fn instance(&self, id: i64) -> Result<InstanceRecord> {
        let sql = format!("SELECT {INSTANCE_COLUMNS} FROM instances WHERE id = ?1");
        self.conn
            .query_row(&sql, [id], instance_from_row)
            .optional()
            .map_err(self.db_err())?
            .ok_or(StoreError::NoSuchInstance(id))
    }

    /// The original header blob of an instance.
    pub fn original_header(&self, id: i64) -> Result<Vec<u8>> {
        self.conn
            .query_row(
                "SELECT original FROM headers WHERE instance_id = ?1",
                [id],
                |r| r.get(0),
            )
            .optional()
            .map_err(self.db_err())?
            .ok_or(StoreError::NoSuchInstance(id))
    }

    /// A value from the key/value table.
    pub fn meta_get(&self, key: &str) -> Result<Option<Vec<u8>>> {
        self.conn
            .query_row("SELECT value FROM meta WHERE key = ?1", [key], |r| r.get(0))
            .optional()
            .map_err(self.db_err())
    }

    /// Sets a value in the key/value table (its own transaction).
    pub fn meta_set(&mut self, key: &str, value: &[u8]) -> Result<()> {
        self.write(|tx| tx.meta_set(key, value))
    }

    /// SQLite's own consistency check; `"ok"` when the file is sound.
    pub fn integrity_check(&self) -> Result<String> {
        self.conn
            .query_row("PRAGMA integrity_check", [], |r| r.get(0))
            .map_err(self.db_err())
    }

    /// Writes the WAL into the main file, so the database is one self-contained file.
    pub fn checkpoint(&self) -> Result<()> {
        self.conn
            .execute_batch("PRAGMA wal_checkpoint(TRUNCATE);")
            .map_err(self.db_err())
    }
}

/// An instance as stored: its row and its header blobs.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredInstance {
    /// The indexed attributes.
    pub record: InstanceRecord,
    /// The header as ingested.
    pub original: Vec<u8>,
    /// The de-identified header, once anonymize has run.
    pub deidentified: Option<Vec<u8>>,
    /// The sealed originals, once sealed.
    pub sealed: Option<crate::SealedItem>,
    /// The redacted pixel data, once redacted.
    pub redacted: Option<crate::RedactedPixels>,
    /// The digest of the inputs verify last found clean, if it did.
    pub verified: Option<Vec<u8>>,
    /// Why anonymize last failed for it, if it did (and has not succeeded since).
    pub anonymize_failure: Option<String>,
    /// Why redact last failed for it, if it did (and has not succeeded since).
    pub redact_failure: Option<String>,
    /// What audit planned for it, if audit has run since it was indexed.
    pub plan: Option<crate::InstancePlan>,
}

/// Instances per indexed patient identity (ID, issuer, name), for linkage checks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PatientIdentityCount {
    /// Patient ID.
    pub patient_id: Option<String>,
    /// Issuer of Patient ID.
    pub issuer: Option<String>,
    /// Patient's Name.
    pub name: Option<String>,
    /// Patient's Birth Date.
    pub birth_date: Option<String>,
    /// Instances with these four values.
    pub instances: u64,
}

/// Instances per device, for inventories.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct DeviceCount {
    /// Manufacturer.
    pub manufacturer: Option<String>,
    /// Manufacturer's Model Name.
    pub model_name: Option<String>,
    /// Device Serial Number.
    pub serial_number: Option<String>,
    /// Instances from this device.
    pub instances: u64,
    /// Series from this device.
    pub series: u64,
    /// The modalities it produced.
    pub modalities: Vec<String>,
    /// Instances whose Burned In Annotation is YES.
    pub burned_in_yes: u64,
}

/// The writes of one transaction; see [`Store::write`].
pub struct StoreTx<'a> {
    pub(crate) tx: &'a rusqlite::Transaction<'a>,
    pub(crate) path: &'a Path,
}

/// An indexed instance that a newly read file collides with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexedSource {
    /// Row id.
    pub id: i64,
    /// The file it was indexed from.
    pub source_path: PathBuf,
    /// That file's stamp when indexed.
    pub stamp: SourceStamp,
    /// SHA-256 of that file, if already computed.
    pub content_hash: Option<[u8; 32]>,
}

impl StoreTx<'_> {
    pub(crate) fn db_err(&self) -> impl Fn(rusqlite::Error) -> StoreError + '_ {
        move |source| StoreError::Database {
            path: self.path.to_path_buf(),
            source,
        }
    }

    /// The instance already indexed under `sop_instance_uid`, if any.
    pub fn instance_by_sop(&self, sop_instance_uid: &str) -> Result<Option<IndexedSource>> {
        self.indexed_source("sop_instance_uid", sop_instance_uid)
    }

    /// The instance indexed from the file at `path`, if any.
    pub fn instance_by_path(&self, path: &Path) -> Result<Option<IndexedSource>> {
        self.indexed_source("source_path", &path_text(path))
    }

    fn indexed_source(&self, column: &str, value: &str) -> Result<Option<IndexedSource>> {
        let sql = format!(
            "SELECT id, source_path, source_size, source_mtime_ns, content_hash
             FROM instances WHERE {column} = ?1"
        );
        let mut stmt = self.tx.prepare_cached(&sql).map_err(self.db_err())?;
        stmt.query_row([value], |row| {
            Ok(IndexedSource {
                id: row.get(0)?,
                source_path: path_from_text(row.get::<_, String>(1)?),
                stamp: SourceStamp {
                    size: row.get::<_, i64>(2)? as u64,
                    mtime_ns: row.get(3)?,
                },
                content_hash: hash_from_sql(row.get(4)?),
            })
        })
        .optional()
        .map_err(self.db_err())
    }

    /// Inserts an instance and its original header; returns its row id.
    pub fn insert_instance(&self, record: &InstanceRecord, header: &[u8]) -> Result<i64> {
        let mut stmt = self
            .tx
            .prepare_cached(&format!(
                "INSERT INTO instances ({INSERT_COLUMNS}) VALUES ({INSERT_PLACEHOLDERS})"
            ))
            .map_err(self.db_err())?;
        let location = record
            .pixels
            .as_ref()
            .map(|l| StoreError::json("a pixel location", l))
            .transpose()?;
        let notes = (!record.notes.is_empty()).then(|| record.notes.join("\n"));
        stmt.execute(params![
            record.sop_instance_uid,
            record.sop_class_uid,
            record.patient_id,
            record.issuer_of_patient_id,
            record.patient_name,
            record.study_instance_uid,
            record.series_instance_uid,
            record.study_date,
            record.modality,
            record.manufacturer,
            record.model_name,
            record.serial_number,
            record.rows,
            record.columns,
            record.frames,
            record.bits_allocated,
            record.samples_per_pixel,
            record.photometric,
            record.burned_in_annotation,
            record.syntax.uid,
            record.syntax.guessed,
            path_text(&record.source_path),
            record.stamp.size as i64,
            record.stamp.mtime_ns,
            record.content_hash.map(|h| h.to_vec()),
            location,
            notes,
            record.patient_birth_date,
        ])
        .map_err(self.db_err())?;
        let id = self.tx.last_insert_rowid();
        self.tx
            .prepare_cached("INSERT INTO headers (instance_id, original) VALUES (?1, ?2)")
            .and_then(|mut s| s.execute(params![id, header]))
            .map_err(self.db_err())?;
        Ok(id)
    }

    /// Removes an instance and everything recorded about it.
    pub fn delete_instance(&self, id: i64) -> Result<()> {
        self.tx
            .prepare_cached("DELETE FROM instances WHERE id = ?1")
            .and_then(|mut s| s.execute([id]))
            .map_err(self.db_err())?;
        Ok(())
    }

    /// Records the SHA-256 of an instance's source file.
    pub fn set_content_hash(&self, id: i64, hash: &[u8; 32]) -> Result<()> {
        self.tx
            .prepare_cached("UPDATE instances SET content_hash = ?2 WHERE id = ?1")
            .and_then(|mut s| s.execute(params![id, hash.to_vec()]))
            .map_err(self.db_err())?;
        Ok(())
    }

    /// Records (or replaces) what ingest concluded about a file that it did not index.
    /// An indexed file needs no record: its instance row says it all; call
    /// [`StoreTx::forget_file`] if the file had an earlier record.
    pub fn record_file(&self, record: &FileRecord) -> Result<()> {
        if record.outcome == FileOutcome::Indexed {
            return self.forget_file(&record.path);
        }
        let reason_text = record
            .reason
            .as_ref()
            .map(|r| r.to_string())
            .or_else(|| record.detail.clone());
        let reason_json = record
            .reason
            .as_ref()
            .map(|r| StoreError::json("a skip reason", r))
            .transpose()?;
        self.tx
            .prepare_cached(
                "INSERT OR REPLACE INTO files
                 (path, size, mtime_ns, outcome, reason_code, reason, sop_instance_uid,
                  reason_json)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            )
            .and_then(|mut s| {
                s.execute(params![
                    path_text(&record.path),
                    record.stamp.size as i64,
                    record.stamp.mtime_ns,
                    record.outcome.as_str(),
                    record.reason.as_ref().map(|r| r.code()),
                    reason_text,
                    record.sop_instance_uid,
                    reason_json,
                ])
            })
            .map_err(self.db_err())?;
        Ok(())
    }

    /// Stores the de-identified header of an instance.
    pub fn set_deidentified(&self, instance_id: i64, blob: &[u8]) -> Result<()> {
        self.tx
            .prepare_cached("UPDATE headers SET deidentified = ?2 WHERE instance_id = ?1")
            .and_then(|mut s| s.execute(params![instance_id, blob]))
            .map_err(self.db_err())?;
        Ok(())
    }

    /// Records why `checkpoint` failed for an instance (replacing an earlier reason), or,
    /// with `None`, that it succeeded.
    pub fn set_failure(
        &self,
        instance_id: i64,
        checkpoint: &str,
        detail: Option<&str>,
    ) -> Result<()> {
        match detail {
            Some(detail) => self
                .tx
                .prepare_cached(
                    "INSERT OR REPLACE INTO failures (instance_id, checkpoint, detail) VALUES (?1, ?2, ?3)",
                )
                .and_then(|mut s| s.execute(params![instance_id, checkpoint, detail])),
            None => self
                .tx
                .prepare_cached("DELETE FROM failures WHERE instance_id = ?1 AND checkpoint = ?2")
                .and_then(|mut s| s.execute(params![instance_id, checkpoint])),
        }
        .map_err(self.db_err())?;
        Ok(())
    }

    /// Drops the de-identified header of an instance (it can no longer be trusted).
    pub fn clear_deidentified(&self, instance_id: i64) -> Result<()> {
        self.tx
            .prepare_cached("UPDATE headers SET deidentified = NULL WHERE instance_id = ?1")
            .and_then(|mut s| s.execute([instance_id]))
            .map_err(self.db_err())?;
        Ok(())
    }

    /// Stores the findings of an instance at a stage, replacing earlier ones; an empty
    /// list removes the row.
    pub fn set_findings(
        &self,
        instance_id: i64,
        stage: &str,
        count: usize,
        json: &str,
    ) -> Result<()> {
        if count == 0 {
            self.tx
                .prepare_cached("DELETE FROM findings WHERE instance_id = ?1 AND stage = ?2")
                .and_then(|mut s| s.execute(params![instance_id, stage]))
                .map_err(self.db_err())?;
            return Ok(());
        }
        self.tx
            .prepare_cached(
                "INSERT OR REPLACE INTO findings (instance_id, stage, count, data) VALUES (?1, ?2, ?3, ?4)",
            )
            .and_then(|mut s| s.execute(params![instance_id, stage, count as i64, json]))
            .map_err(self.db_err())?;
        Ok(())
    }

    /// Removes every finding of a stage (before a new run of it).
    pub fn clear_findings(&self, stage: &str) -> Result<()> {
        self.tx
            .prepare_cached("DELETE FROM findings WHERE stage = ?1")
            .and_then(|mut s| s.execute([stage]))
            .map_err(self.db_err())?;
        Ok(())
    }

    /// Stores a checkpoint's report; returns its row id.
    pub fn add_report(&self, stage: &str, json: &str) -> Result<i64> {
        self.tx
            .prepare_cached("INSERT INTO reports (stage, created_at, data) VALUES (?1, ?2, ?3)")
            .and_then(|mut s| s.execute(params![stage, unix_now(), json]))
            .map_err(self.db_err())?;
        Ok(self.tx.last_insert_rowid())
    }

    /// Appends to the log of what changed.
    pub fn log(&self, instance_id: Option<i64>, checkpoint: &str, detail: &str) -> Result<()> {
        self.tx
            .prepare_cached(
                "INSERT INTO audit_log (instance_id, checkpoint, at, detail) VALUES (?1, ?2, ?3, ?4)",
            )
            .and_then(|mut s| s.execute(params![instance_id, checkpoint, unix_now(), detail]))
            .map_err(self.db_err())?;
        Ok(())
    }

    /// Drops the record of a file that was not indexed (it is indexed now, or gone).
    pub fn forget_file(&self, path: &Path) -> Result<()> {
        self.tx
            .prepare_cached("DELETE FROM files WHERE path = ?1")
            .and_then(|mut s| s.execute([path_text(path)]))
            .map_err(self.db_err())?;
        Ok(())
    }

    /// Sets a value in the key/value table.
    pub fn meta_set(&self, key: &str, value: &[u8]) -> Result<()> {
        self.tx
            .prepare_cached("INSERT OR REPLACE INTO meta (key, value) VALUES (?1, ?2)")
            .and_then(|mut s| s.execute(params![key, value]))
            .map_err(self.db_err())?;
        Ok(())
    }
}

const INSERT_COLUMNS: &str = "sop_instance_uid, sop_class_uid, patient_id, issuer_of_patient_id, \
    patient_name, study_instance_uid, series_instance_uid, study_date, modality, manufacturer, \
    model_name, serial_number, rows, columns, frames, bits_allocated, samples_per_pixel, \
    photometric, burned_in_annotation, transfer_syntax, syntax_guess, source_path, source_size, \
    source_mtime_ns, content_hash, pixel_location, notes, patient_birth_date";
const INSERT_PLACEHOLDERS: &str = "?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, \
    ?15, ?16, ?17, ?18, ?19, ?20, ?21, ?22, ?23, ?24, ?25, ?26, ?27, ?28";
const INSTANCE_COLUMNS: &str = "id, sop_instance_uid, sop_class_uid, patient_id, \
    issuer_of_patient_id, patient_name, study_instance_uid, series_instance_uid, study_date, \
    modality, manufacturer, model_name, serial_number, rows, columns, frames, bits_allocated, \
    samples_per_pixel, photometric, burned_in_annotation, transfer_syntax, syntax_guess, \
    source_path, source_size, source_mtime_ns, content_hash, pixel_location, notes, \
    patient_birth_date";
const INSTANCE_COLUMN_COUNT: usize = 29;

fn instance_from_row(row: &Row<'_>) -> rusqlite::Result<InstanceRecord> {
    let location: Option<String> = row.get(26)?;
    let notes: Option<String> = row.get(27)?;
    Ok(InstanceRecord {
        id: row.get(0)?,
        sop_instance_uid: row.get(1)?,
        sop_class_uid: row.get(2)?,
        patient_id: row.get(3)?,
        issuer_of_patient_id: row.get(4)?,
        patient_birth_date: row.get(28)?,
        patient_name: row.get(5)?,
        study_instance_uid: row.get(6)?,
        series_instance_uid: row.get(7)?,
        study_date: row.get(8)?,
        modality: row.get(9)?,
        manufacturer: row.get(10)?,
        model_name: row.get(11)?,
        serial_number: row.get(12)?,
        rows: row.get(13)?,
        columns: row.get(14)?,
        frames: row.get(15)?,
        bits_allocated: row.get(16)?,
        samples_per_pixel: row.get(17)?,
        photometric: row.get(18)?,
        burned_in_annotation: row.get(19)?,
        syntax: SourceSyntax {
            uid: row.get(20)?,
            guessed: row.get(21)?,
        },
        source_path: path_from_text(row.get::<_, String>(22)?),
        stamp: SourceStamp {
            size: row.get::<_, i64>(23)? as u64,
            mtime_ns: row.get(24)?,
        },
        content_hash: hash_from_sql(row.get(25)?),
        pixels: location.and_then(|l| serde_json::from_str::<PixelLocation>(&l).ok()),
        notes: notes
            .map(|n| n.lines().map(str::to_string).collect())
            .unwrap_or_default(),
    })
}

fn file_from_row(row: &Row<'_>) -> rusqlite::Result<FileRecord> {
    let outcome = FileOutcome::parse(&row.get::<_, String>(3)?);
    let code: Option<String> = row.get(4)?;
    let text: Option<String> = row.get(5)?;
    let json: Option<String> = row.get(7)?;
    let stored = json.and_then(|j| serde_json::from_str::<SkipReason>(&j).ok());
    let (reason, detail) = match (stored, code) {
        (Some(reason), _) => (Some(reason), None),
        (None, Some(code)) => (Some(reason_from_code(&code, text.clone())), None),
        (None, None) => (None, text),
    };
    Ok(FileRecord {
        path: path_from_text(row.get::<_, String>(0)?),
        stamp: SourceStamp {
            size: row.get::<_, i64>(1)? as u64,
            mtime_ns: row.get(2)?,
        },
        outcome,
        reason,
        detail,
        sop_instance_uid: row.get(6)?,
    })
}

/// Rebuilds a reason from its stored code and sentence, for rows written before reasons
/// were stored as JSON. The sentence is what users read, so it is kept whole in the
/// `detail`-style field of the variant.
fn reason_from_code(code: &str, text: Option<String>) -> SkipReason {
    let detail = text.unwrap_or_default();
    match code {
        "empty" => SkipReason::Empty,
        "missing_sop_instance_uid" => SkipReason::MissingSopInstanceUid,
        "not_dicom" => SkipReason::NotDicom {
            detail: strip_prefix(&detail, "not DICOM: "),
        },
        "truncated" => SkipReason::Truncated {
            detail: strip_prefix(&detail, "truncated: "),
        },
        "unreadable_meta" => SkipReason::UnreadableMeta {
            detail: strip_prefix(&detail, "unreadable file meta group: "),
        },
        "unsupported_transfer_syntax" => SkipReason::UnsupportedTransferSyntax {
            uid: strip_prefix(&detail, "unsupported transfer syntax "),
        },
        "unencodable" => SkipReason::Unencodable {
            detail: strip_prefix(&detail, "header cannot be re-encoded: "),
        },
        "unreadable" => SkipReason::Unreadable {
            detail: strip_prefix(&detail, "unreadable: "),
        },
        _ => SkipReason::Malformed {
            detail: strip_prefix(&detail, "malformed data set: "),
        },
    }
}

fn strip_prefix(text: &str, prefix: &str) -> String {
    text.strip_prefix(prefix).unwrap_or(text).to_string()
}

fn hash_from_sql(bytes: Option<Vec<u8>>) -> Option<[u8; 32]> {
    bytes.and_then(|b| b.try_into().ok())
}

fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// Marks a path stored by its bytes: a NUL never occurs in a path, so no UTF-8 path
/// stored as itself starts with it.
const RAW_PATH: &str = "\0raw:";

/// A path as stored: itself when it is UTF-8; otherwise (a Latin-1 name from an old
/// archive, say) its bytes in hex behind [`RAW_PATH`], so that two names differing only in
/// bytes that are not UTF-8 stay two, and the file can be opened again.
pub(crate) fn path_text(path: &Path) -> String {
    if let Some(text) = path.to_str() {
        return text.to_string();
    }
    #[cfg(unix)]
    {
        use std::fmt::Write;
        use std::os::unix::ffi::OsStrExt;
        let mut out = String::from(RAW_PATH);
        for b in path.as_os_str().as_bytes() {
            let _ = write!(out, "{b:02x}");
        }
        out
    }
    #[cfg(not(unix))]
    {
        path.to_string_lossy().into_owned()
    }
}

/// The path a stored text names (the inverse of [`path_text`]).
pub(crate) fn path_from_text(text: String) -> PathBuf {
    #[cfg(unix)]
    if let Some(hex) = text.strip_prefix(RAW_PATH) {
        use std::os::unix::ffi::OsStringExt;
        let bytes: Option<Vec<u8>> = (0..hex.len())
            .step_by(2)
            .map(|i| {
                hex.get(i..i + 2)
                    .and_then(|h| u8::from_str_radix(h, 16).ok())
            })
            .collect();
        if let Some(bytes) = bytes {
            return PathBuf::from(std::ffi::OsString::from_vec(bytes));
        }
    }
    PathBuf::from(text)
}

/// The files of a database besides the main one: what SQLite keeps beside it in WAL
/// mode, and the lock (with the holder's pid).
fn companions(db: &Path) -> [PathBuf; 3] {
    ["-wal", "-shm", ".lock"].map(|suffix| {
        let mut name = db.as_os_str().to_owned();
        name.push(suffix);
        PathBuf::from(name)
    })
}

/// Creates the database file owner-only if it is new, refuses it (and its companions)
/// when others can read it, and takes the lock: an exclusive `flock` on the database file
/// itself, so every name of the file (links, hard links) meets the same lock. SQLite's own
/// locks are POSIX record locks, which `flock` does not touch; the descriptor is closed
/// only after the connection (field order in [`Store`]), so SQLite's locks are never
/// dropped by its closing.
fn take_lock(db: &Path) -> Result<(File, File)> {
    let io_err = |path: &Path| {
        let path = path.to_path_buf();
        move |source| StoreError::Io {
            path: path.clone(),
            source,
        }
    };
    let file = crate::private::open_private(db).map_err(io_err(db))?;
    let [wal, shm, pid_path] = companions(db);
    for path in [db, &wal, &shm, &pid_path] {
        if let Some(mode) = crate::private::others_can_access(path).map_err(io_err(path))? {
            return Err(StoreError::NotPrivate {
                path: path.to_path_buf(),
                mode,
            });
        }
    }
    let mut pid_file = crate::private::open_private(&pid_path).map_err(io_err(&pid_path))?;
    match file.try_lock() {
        Ok(()) => {
            pid_file.set_len(0).map_err(io_err(&pid_path))?;
            write!(pid_file, "{}", std::process::id()).map_err(io_err(&pid_path))?;
            Ok((file, pid_file))
        }
        Err(TryLockError::WouldBlock) => {
            let mut holder = String::new();
            let _ = pid_file.read_to_string(&mut holder);
            let holder = holder.trim();
            Err(StoreError::Locked {
                path: db.to_path_buf(),
                holder: if holder.is_empty() {
                    String::new()
                } else {
                    format!(" (pid {holder})")
                },
            })
        }
        Err(TryLockError::Error(source)) => Err(io_err(db)(source)),
    }
}
