//! The `findings`, `reports` and `log` tables: each instance's findings per stage, the
//! reports of each checkpoint run, and the log of what was done.

use rusqlite::{OptionalExtension, params};

use crate::error::Result;
use crate::store::{Store, StoreTx, unix_now};

impl Store {
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

    /// Up to `limit` instances with findings at `stage` whose row id is greater than
    /// `after`, in row order: (row id, source file, count, findings as a JSON array). The
    /// way to list every instance's findings in bounded memory.
    pub fn findings_after(
        &self,
        stage: &str,
        after: i64,
        limit: usize,
    ) -> Result<Vec<(i64, std::path::PathBuf, u64, String)>> {
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT f.instance_id, i.source_path, f.count, f.data
                 FROM findings f JOIN instances i ON i.id = f.instance_id
                 WHERE f.stage = ?1 AND f.instance_id > ?2
                 ORDER BY f.instance_id LIMIT ?3",
            )
            .map_err(self.db_err())?;
        let rows = stmt
            .query_map(params![stage, after, limit as i64], |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    crate::store::path_from_text(r.get::<_, String>(1)?),
                    r.get::<_, i64>(2)? as u64,
                    r.get::<_, String>(3)?,
                ))
            })
            .map_err(self.db_err())?;
        rows.collect::<rusqlite::Result<_>>().map_err(self.db_err())
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
}

impl StoreTx<'_> {
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
}
