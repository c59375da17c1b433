//! What the later checkpoints derive from an instance: its sealed originals, its redacted
//! pixels, and the files export wrote.

use std::path::{Path, PathBuf};

use rusqlite::{OptionalExtension, Row, params};
use serde::{Deserialize, Serialize};

use crate::columns::Columns;
use crate::error::{Result, StoreError};
use crate::sidecar::SidecarAddress;
use crate::store::{Store, StoreTx, path_from_text, path_text};

/// Redacted pixel data of an instance.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RedactedPixels {
    /// The sidecar record holding the new pixel value.
    pub address: SidecarAddress,
    /// The transfer syntax of that value.
    pub transfer_syntax: String,
    /// Header elements describing the new pixels (photometric interpretation, planar
    /// configuration, burned-in annotation, lossy compression history), as an Explicit VR
    /// Little Endian data set, to lay over the header.
    pub attributes: Vec<u8>,
    /// What was done (zones, fill, rule), as JSON for the checkpoint that wrote it.
    pub redaction: String,
    /// Identifies the rule and decoder output it came from: an unchanged fingerprint
    /// means redacting again would write the same record.
    pub fingerprint: String,
}

/// The sealed originals of an instance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SealedItem {
    /// The identifier of the key they were sealed for (hex).
    pub key_id: String,
    /// A keyed digest of what was sealed, to tell whether sealing again is needed.
    pub digest: Vec<u8>,
    /// The Encrypted Attributes Sequence item, Explicit VR Little Endian.
    pub item: Vec<u8>,
}

/// What audit planned for an instance, from one decode of its original header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstancePlan {
    /// What the plan was made on (an opaque digest the checkpoint that made it chose):
    /// a plan whose basis differs from the current one is stale.
    pub basis: Vec<u8>,
    /// The de-identified header (markers included, no seal), Explicit VR Little Endian.
    pub deidentified: Vec<u8>,
    /// The originals of every attribute de-identification changes or removes: the item
    /// seal keeps, Explicit VR Little Endian.
    pub modified: Vec<u8>,
    /// The key of a search of the source pixels in which the text detector found nothing
    /// (chosen by the checkpoint that searched), if one was made.
    pub pixels_clean: Option<Vec<u8>>,
    /// What verify needs of the original header besides the de-identified one, made from
    /// the same decode (opaque here: the checkpoint that made it reads it), if it was made.
    pub expected: Option<Vec<u8>>,
}

/// A file written by export.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExportRecord {
    /// The instance.
    pub instance_id: i64,
    /// The path, relative to the output folder.
    pub path: PathBuf,
    /// The SOP Instance UID written.
    pub sop_instance_uid: String,
    /// SHA-256 of the file, hex.
    pub sha256: String,
    /// Its size in bytes.
    pub size: u64,
    /// Whether it passed the safe gate (false: written by an explicitly unsafe export).
    pub safe: bool,
    /// What was done to and known of its pixels (`searched`, `redacted`, ...), as the
    /// manifest says it.
    pub pixels: String,
    /// The findings the config's waivers accepted in it, each with the waiver's reason
    /// (`; `-separated; empty when none).
    pub waived: String,
}

/// The `sealed` columns [`sealed_from_row`] reads, from a join on `sealed s`.
pub(crate) const SEALED_COLUMNS: &str =
    "s.key_id AS seal_key_id, s.digest AS seal_digest, s.item AS seal_item";

/// The `pixels` columns [`redacted_from_row`] reads, from a join on `pixels p`.
pub(crate) const PIXEL_COLUMNS: &str = "p.sidecar_offset AS pixel_offset, \
    p.sidecar_length AS pixel_length, p.pixel_syntax AS pixel_syntax, \
    p.attributes AS pixel_attributes, p.redaction AS pixel_redaction, \
    p.fingerprint AS pixel_fingerprint";

/// The `plans` columns [`plan_from_row`] reads, from a join on `plans pl`.
pub(crate) const PLAN_COLUMNS: &str = "pl.basis AS plan_basis, \
    pl.deidentified AS plan_deidentified, pl.modified AS plan_modified, \
    pl.pixels_clean AS plan_pixels_clean, pl.expected AS plan_expected";

/// The seal of a joined row ([`SEALED_COLUMNS`]), if it has one.
pub(crate) fn sealed_from_row(c: &Columns, row: &Row<'_>) -> rusqlite::Result<Option<SealedItem>> {
    let key_id: Option<String> = c.get(row, "seal_key_id")?;
    let Some(key_id) = key_id else {
        return Ok(None);
    };
    Ok(Some(SealedItem {
        key_id,
        digest: c.get(row, "seal_digest")?,
        item: c.get(row, "seal_item")?,
    }))
}

/// The plan of a joined row ([`PLAN_COLUMNS`]), if it has one.
pub(crate) fn plan_from_row(c: &Columns, row: &Row<'_>) -> rusqlite::Result<Option<InstancePlan>> {
    let basis: Option<Vec<u8>> = c.get(row, "plan_basis")?;
    let Some(basis) = basis else {
        return Ok(None);
    };
    Ok(Some(InstancePlan {
        basis,
        deidentified: c.get(row, "plan_deidentified")?,
        modified: c.get(row, "plan_modified")?,
        pixels_clean: c.get(row, "plan_pixels_clean")?,
        expected: c.get(row, "plan_expected")?,
    }))
}

/// The redacted pixels of a joined row ([`PIXEL_COLUMNS`]), if it has them.
pub(crate) fn redacted_from_row(
    c: &Columns,
    row: &Row<'_>,
) -> rusqlite::Result<Option<RedactedPixels>> {
    let offset: Option<i64> = c.get(row, "pixel_offset")?;
    let Some(offset) = offset else {
        return Ok(None);
    };
    Ok(Some(RedactedPixels {
        address: SidecarAddress {
            offset: offset as u64,
            length: c.get::<i64>(row, "pixel_length")? as u64,
        },
        transfer_syntax: c.get(row, "pixel_syntax")?,
        attributes: c.get(row, "pixel_attributes")?,
        redaction: c.get(row, "pixel_redaction")?,
        fingerprint: c.get(row, "pixel_fingerprint")?,
    }))
}

impl Store {
    /// How many times an instance was inserted or deleted since the database was made:
    /// the set of instances (and so of collected identities) is the same while it is.
    pub fn instances_generation(&self) -> Result<i64> {
        self.conn
            .query_row(
                "SELECT value FROM meta WHERE key = 'instances.generation'",
                [],
                |r| r.get(0),
            )
            .map_err(self.db_err())
    }

    /// Marks every plan stale without changing an instance: what the plans rest on beyond
    /// the instances changed (another shard's identifiers, which free text is checked
    /// against).
    pub fn bump_instances_generation(&mut self) -> Result<()> {
        self.write(|tx| {
            tx.tx
                .execute(
                    "UPDATE meta SET value = value + 1 WHERE key = 'instances.generation'",
                    [],
                )
                .map_err(tx.db_err())?;
            Ok(())
        })
    }

    /// Instances without a plan made on `basis`: those a checkpoint that consumes plans
    /// must derive afresh.
    pub fn unplanned_count(&self, basis: &[u8]) -> Result<u64> {
        self.conn
            .query_row(
                "SELECT COUNT(*) FROM instances LEFT JOIN plans pl ON pl.instance_id = id
                 WHERE pl.basis IS NOT ?1",
                [basis],
                |r| r.get::<_, i64>(0),
            )
            .map(|n| n as u64)
            .map_err(self.db_err())
    }

    /// Every sidecar record the database refers to, in file order.
    pub fn sidecar_addresses(&self) -> Result<Vec<(i64, SidecarAddress)>> {
        let mut stmt = self
            .conn
            .prepare("SELECT instance_id, sidecar_offset, sidecar_length FROM pixels ORDER BY 2")
            .map_err(self.db_err())?;
        let c = Columns::of(&stmt);
        let rows = stmt
            .query_map([], |r| {
                Ok((
                    c.get(r, "instance_id")?,
                    SidecarAddress {
                        offset: c.get::<i64>(r, "sidecar_offset")? as u64,
                        length: c.get::<i64>(r, "sidecar_length")? as u64,
                    },
                ))
            })
            .map_err(self.db_err())?;
        rows.collect::<rusqlite::Result<_>>().map_err(self.db_err())
    }

    /// Up to `limit` files export recorded for `out_dir`, in path order, after the path
    /// `after` (from the first for `None`): the way to read them all in bounded memory.
    pub fn exports_page(
        &self,
        out_dir: &Path,
        after: Option<&Path>,
        limit: usize,
    ) -> Result<Vec<ExportRecord>> {
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT instance_id, path, sop_instance_uid, sha256, size, safe, pixels, waived FROM exports
                 WHERE out_dir = ?1 AND (?2 IS NULL OR path > ?2) ORDER BY path LIMIT ?3",
            )
            .map_err(self.db_err())?;
        let c = Columns::of(&stmt);
        let rows = stmt
            .query_map(
                params![path_text(out_dir), after.map(path_text), limit as i64],
                |row| export_from_row(&c, row),
            )
            .map_err(self.db_err())?;
        rows.collect::<rusqlite::Result<_>>().map_err(self.db_err())
    }

    /// Whether every file export recorded for `out_dir` passed the safe gate (true when
    /// there is none).
    pub fn exports_all_safe(&self, out_dir: &Path) -> Result<bool> {
        self.conn
            .query_row(
                "SELECT COUNT(*) = 0 FROM exports WHERE out_dir = ?1 AND safe = 0",
                [path_text(out_dir)],
                |r| r.get(0),
            )
            .map_err(self.db_err())
    }

    /// The files export recorded in `out_dir` for the instances with row ids in
    /// `first..=last` (a batch), in id order.
    pub fn exports_between(
        &self,
        out_dir: &Path,
        first: i64,
        last: i64,
    ) -> Result<Vec<ExportRecord>> {
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT instance_id, path, sop_instance_uid, sha256, size, safe, pixels, waived FROM exports
                 WHERE out_dir = ?1 AND instance_id BETWEEN ?2 AND ?3 ORDER BY instance_id",
            )
            .map_err(self.db_err())?;
        let c = Columns::of(&stmt);
        let rows = stmt
            .query_map(params![path_text(out_dir), first, last], |row| {
                export_from_row(&c, row)
            })
            .map_err(self.db_err())?;
        rows.collect::<rusqlite::Result<_>>().map_err(self.db_err())
    }

    /// Which instance owns each of `paths` in `out_dir`, for those recorded.
    pub fn export_owners(
        &self,
        out_dir: &Path,
        paths: &[&Path],
    ) -> Result<std::collections::HashMap<PathBuf, i64>> {
        let mut owners = std::collections::HashMap::new();
        for chunk in paths.chunks(400) {
            let placeholders = vec!["?"; chunk.len()].join(",");
            let sql = format!(
                "SELECT path, instance_id FROM exports WHERE out_dir = ? AND path IN ({placeholders})"
            );
            let mut stmt = self.conn.prepare_cached(&sql).map_err(self.db_err())?;
            let mut args = vec![path_text(out_dir)];
            args.extend(chunk.iter().map(|p| path_text(p)));
            let rows = stmt
                .query_map(rusqlite::params_from_iter(args.iter()), |r| {
                    Ok((path_from_text(r.get::<_, String>(0)?), r.get::<_, i64>(1)?))
                })
                .map_err(self.db_err())?;
            for row in rows {
                let (path, owner) = row.map_err(self.db_err())?;
                owners.insert(path, owner);
            }
        }
        Ok(owners)
    }
}

fn export_from_row(c: &Columns, r: &Row<'_>) -> rusqlite::Result<ExportRecord> {
    Ok(ExportRecord {
        instance_id: c.get(r, "instance_id")?,
        path: path_from_text(c.get::<String>(r, "path")?),
        sop_instance_uid: c.get(r, "sop_instance_uid")?,
        sha256: c.get(r, "sha256")?,
        size: c.get::<i64>(r, "size")? as u64,
        safe: c.get::<i64>(r, "safe")? != 0,
        pixels: c.get(r, "pixels")?,
        waived: c.get(r, "waived")?,
    })
}

impl StoreTx<'_> {
    /// Stores what audit planned for an instance, replacing an earlier plan.
    pub fn set_plan(&self, instance_id: i64, plan: &InstancePlan) -> Result<()> {
        self.tx
            .prepare_cached(
                "INSERT OR REPLACE INTO plans (instance_id, basis, deidentified, modified,
                 pixels_clean, expected) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            )
            .and_then(|mut s| {
                s.execute(params![
                    instance_id,
                    plan.basis,
                    plan.deidentified,
                    plan.modified,
                    plan.pixels_clean,
                    plan.expected
                ])
            })
            .map_err(self.db_err())?;
        Ok(())
    }

    /// Forgets the plan of an instance (audit could not make one).
    pub fn clear_plan(&self, instance_id: i64) -> Result<()> {
        self.tx
            .prepare_cached("DELETE FROM plans WHERE instance_id = ?1")
            .and_then(|mut s| s.execute([instance_id]))
            .map_err(self.db_err())?;
        Ok(())
    }

    /// Stores the sealed originals of an instance, replacing earlier ones.
    pub fn set_sealed(
        &self,
        instance_id: i64,
        key_id: &str,
        digest: &[u8],
        item: &[u8],
    ) -> Result<()> {
        self.tx
            .prepare_cached(
                "INSERT OR REPLACE INTO sealed (instance_id, key_id, digest, item) VALUES (?1, ?2, ?3, ?4)",
            )
            .and_then(|mut s| s.execute(params![instance_id, key_id, digest, item]))
            .map_err(self.db_err())?;
        Ok(())
    }

    /// Records the redacted pixels of an instance, replacing earlier ones.
    pub fn set_redacted(&self, instance_id: i64, pixels: &RedactedPixels) -> Result<()> {
        self.tx
            .prepare_cached(
                "INSERT OR REPLACE INTO pixels (instance_id, sidecar_offset, sidecar_length,
                 pixel_syntax, attributes, redaction, fingerprint)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            )
            .and_then(|mut s| {
                s.execute(params![
                    instance_id,
                    pixels.address.offset as i64,
                    pixels.address.length as i64,
                    pixels.transfer_syntax,
                    pixels.attributes,
                    pixels.redaction,
                    pixels.fingerprint,
                ])
            })
            .map_err(self.db_err())?;
        Ok(())
    }

    /// Forgets the redacted pixels of an instance (its rule no longer applies).
    pub fn clear_redacted(&self, instance_id: i64) -> Result<()> {
        self.tx
            .prepare_cached("DELETE FROM pixels WHERE instance_id = ?1")
            .and_then(|mut s| s.execute([instance_id]))
            .map_err(self.db_err())?;
        Ok(())
    }

    /// Moves a sidecar record (after compaction).
    pub fn move_redacted(&self, instance_id: i64, address: SidecarAddress) -> Result<()> {
        self.tx
            .prepare_cached(
                "UPDATE pixels SET sidecar_offset = ?2, sidecar_length = ?3 WHERE instance_id = ?1",
            )
            .and_then(|mut s| {
                s.execute(params![
                    instance_id,
                    address.offset as i64,
                    address.length as i64
                ])
            })
            .map_err(self.db_err())?;
        Ok(())
    }

    /// Records that verify found an instance clean, for these inputs, with the findings
    /// waivers accepted (JSON, `None` for none); `None` inputs forget it.
    pub fn set_verified(
        &self,
        instance_id: i64,
        inputs: Option<&[u8]>,
        waived: Option<&str>,
    ) -> Result<()> {
        match inputs {
            Some(inputs) => self
                .tx
                .prepare_cached(
                    "INSERT OR REPLACE INTO verified (instance_id, inputs, waived)
                     VALUES (?1, ?2, ?3)",
                )
                .and_then(|mut s| s.execute(params![instance_id, inputs, waived])),
            None => self
                .tx
                .prepare_cached("DELETE FROM verified WHERE instance_id = ?1")
                .and_then(|mut s| s.execute([instance_id])),
        }
        .map_err(self.db_err())?;
        Ok(())
    }

    /// Records a file written by export into `out_dir`.
    pub fn record_export(&self, out_dir: &Path, record: &ExportRecord) -> Result<()> {
        self.tx
            .prepare_cached(
                "INSERT OR REPLACE INTO exports
                 (out_dir, instance_id, path, sop_instance_uid, sha256, size, safe, pixels,
                  waived)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
            )
            .and_then(|mut s| {
                s.execute(params![
                    path_text(out_dir),
                    record.instance_id,
                    path_text(&record.path),
                    record.sop_instance_uid,
                    record.sha256,
                    record.size as i64,
                    record.safe as i64,
                    record.pixels,
                    record.waived,
                ])
            })
            .map_err(self.db_err())?;
        Ok(())
    }

    /// Forgets what export recorded for an instance in `out_dir` (it is blocked now).
    pub fn forget_export(&self, out_dir: &Path, instance_id: i64) -> Result<()> {
        self.tx
            .prepare_cached("DELETE FROM exports WHERE out_dir = ?1 AND instance_id = ?2")
            .and_then(|mut s| s.execute(params![path_text(out_dir), instance_id]))
            .map_err(self.db_err())?;
        Ok(())
    }
}

impl Store {
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
}

impl StoreTx<'_> {
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
}
