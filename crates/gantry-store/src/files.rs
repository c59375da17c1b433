//! The `files` table: every file ingest looked at, with its stamp and what came of it
//! (indexed, skipped with its reason, a duplicate, a conflict).

use std::path::Path;

use rusqlite::{OptionalExtension, Row, params};

use crate::columns::Columns;
use crate::error::{Result, StoreError};
use crate::instance::{FileOutcome, FileRecord};
use crate::reason::SkipReason;
use crate::source::SourceStamp;
use crate::store::{Store, StoreTx, path_from_text, path_text};

/// What the store knows of a file from an earlier ingest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileState {
    /// Size and mtime when last looked at.
    pub stamp: SourceStamp,
    /// What came of it.
    pub outcome: FileOutcome,
}

fn file_from_row(c: &Columns, row: &Row<'_>) -> rusqlite::Result<FileRecord> {
    let outcome = FileOutcome::parse(&c.get::<String>(row, "outcome")?);
    let code: Option<String> = c.get(row, "reason_code")?;
    let text: Option<String> = c.get(row, "reason")?;
    let json: Option<String> = c.get(row, "reason_json")?;
    let stored = json.and_then(|j| serde_json::from_str::<SkipReason>(&j).ok());
    let (reason, detail) = match (stored, code) {
        (Some(reason), _) => (Some(reason), None),
        (None, Some(code)) => (Some(reason_from_code(&code, text.clone())), None),
        (None, None) => (None, text),
    };
    Ok(FileRecord {
        path: path_from_text(c.get::<String>(row, "path")?),
        stamp: SourceStamp {
            size: c.get::<i64>(row, "size")? as u64,
            mtime_ns: c.get(row, "mtime_ns")?,
        },
        outcome,
        reason,
        detail,
        sop_instance_uid: c.get(row, "sop_instance_uid")?,
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

impl Store {
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
        let c = Columns::of(&stmt);
        stmt.query_row([path_text(path)], |row| {
            Ok(FileState {
                stamp: SourceStamp {
                    size: c.get::<i64>(row, "size")? as u64,
                    mtime_ns: c.get(row, "mtime_ns")?,
                },
                outcome: FileOutcome::parse(&c.get::<String>(row, "outcome")?),
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
            let c = Columns::of(&stmt);
            let texts: Vec<std::borrow::Cow<'_, str>> =
                chunk.iter().map(|p| path_text(p.as_ref()).into()).collect();
            let rows = stmt
                .query_map(
                    rusqlite::params_from_iter(texts.iter().chain(texts.iter())),
                    |row| {
                        Ok((
                            c.get::<String>(row, "path")?,
                            FileState {
                                stamp: SourceStamp {
                                    size: c.get::<i64>(row, "size")? as u64,
                                    mtime_ns: c.get(row, "mtime_ns")?,
                                },
                                outcome: FileOutcome::parse(&c.get::<String>(row, "outcome")?),
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
            "SELECT source_path AS path, source_size AS size, source_mtime_ns AS mtime_ns,
                    ?1 AS outcome, NULL AS reason_code, NULL AS reason, sop_instance_uid,
                    NULL AS reason_json
             FROM instances ORDER BY source_path"
        } else {
            "SELECT path, size, mtime_ns, outcome, reason_code, reason, sop_instance_uid,
                    reason_json
             FROM files WHERE outcome = ?1 ORDER BY path"
        };
        let mut stmt = self.conn.prepare_cached(sql).map_err(self.db_err())?;
        let c = Columns::of(&stmt);
        let rows = stmt
            .query_map([outcome.as_str()], |row| file_from_row(&c, row))
            .map_err(self.db_err())?;
        rows.collect::<rusqlite::Result<_>>().map_err(self.db_err())
    }

    /// How many files have each outcome.
    pub fn file_outcome_counts(&self) -> Result<Vec<(FileOutcome, u64)>> {
        self.pairs(
            "SELECT 'indexed' AS outcome, COUNT(*) AS files FROM instances
             UNION ALL
             SELECT outcome, COUNT(*) FROM files GROUP BY outcome",
            |c, row| {
                Ok((
                    FileOutcome::parse(&c.get::<String>(row, "outcome")?),
                    c.get::<i64>(row, "files")? as u64,
                ))
            },
        )
    }
}

impl StoreTx<'_> {
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

    /// Drops the record of a file that was not indexed (it is indexed now, or gone).
    pub fn forget_file(&self, path: &Path) -> Result<()> {
        self.tx
            .prepare_cached("DELETE FROM files WHERE path = ?1")
            .and_then(|mut s| s.execute([path_text(path)]))
            .map_err(self.db_err())?;
        Ok(())
    }
}
