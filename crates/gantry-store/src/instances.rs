//! The `instances` and `headers` tables: one row per indexed instance with the attributes
//! the inventory groups by, and its original header; the inventory's queries; and
//! [`StoredInstance`], an instance with everything the checkpoints derived for it.

use std::path::{Path, PathBuf};

use rusqlite::{OptionalExtension, Row, params};

use crate::columns::Columns;
use crate::derived::{
    PIXEL_COLUMNS, PLAN_COLUMNS, SEALED_COLUMNS, plan_from_row, redacted_from_row, sealed_from_row,
};
use crate::error::{Result, StoreError};
use crate::instance::{Column, InstanceFilter, InstanceRecord};
use crate::source::{PixelLocation, SourceStamp, SourceSyntax};
use crate::store::{Store, StoreTx, hash_from_sql, path_from_text, path_text};

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
    /// The findings waivers accepted in that verdict (JSON), if any.
    pub verified_waived: Option<String>,
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

fn instance_from_row(c: &Columns, row: &Row<'_>) -> rusqlite::Result<InstanceRecord> {
    let location: Option<String> = c.get(row, "pixel_location")?;
    let notes: Option<String> = c.get(row, "notes")?;
    Ok(InstanceRecord {
        id: c.get(row, "id")?,
        sop_instance_uid: c.get(row, "sop_instance_uid")?,
        sop_class_uid: c.get(row, "sop_class_uid")?,
        patient_id: c.get(row, "patient_id")?,
        issuer_of_patient_id: c.get(row, "issuer_of_patient_id")?,
        patient_birth_date: c.get(row, "patient_birth_date")?,
        patient_name: c.get(row, "patient_name")?,
        study_instance_uid: c.get(row, "study_instance_uid")?,
        series_instance_uid: c.get(row, "series_instance_uid")?,
        study_date: c.get(row, "study_date")?,
        modality: c.get(row, "modality")?,
        manufacturer: c.get(row, "manufacturer")?,
        model_name: c.get(row, "model_name")?,
        serial_number: c.get(row, "serial_number")?,
        rows: c.get(row, "rows")?,
        columns: c.get(row, "columns")?,
        frames: c.get(row, "frames")?,
        bits_allocated: c.get(row, "bits_allocated")?,
        samples_per_pixel: c.get(row, "samples_per_pixel")?,
        photometric: c.get(row, "photometric")?,
        burned_in_annotation: c.get(row, "burned_in_annotation")?,
        syntax: SourceSyntax {
            uid: c.get(row, "transfer_syntax")?,
            guessed: c.get(row, "syntax_guess")?,
        },
        source_path: path_from_text(c.get::<String>(row, "source_path")?),
        stamp: SourceStamp {
            size: c.get::<i64>(row, "source_size")? as u64,
            mtime_ns: c.get(row, "source_mtime_ns")?,
        },
        content_hash: hash_from_sql(c.get(row, "content_hash")?),
        pixels: location.and_then(|l| serde_json::from_str::<PixelLocation>(&l).ok()),
        notes: notes
            .map(|n| n.lines().map(str::to_string).collect())
            .unwrap_or_default(),
    })
}

impl Store {
    /// Calls `f` with what ingest kept of each instance for the identity pass
    /// ([`StoreTx::insert_instance`]), `None` for an instance indexed without it;
    /// rows are streamed, not collected. Stops at the first error `f` returns.
    pub fn for_each_identity<E: From<StoreError>>(
        &self,
        mut f: impl FnMut(Option<&[u8]>) -> std::result::Result<(), E>,
    ) -> std::result::Result<(), E> {
        let mut stmt = self
            .conn
            .prepare("SELECT identity FROM headers ORDER BY instance_id")
            .map_err(self.db_err())?;
        let mut rows = stmt.query([]).map_err(self.db_err())?;
        while let Some(row) = rows.next().map_err(self.db_err())? {
            let identity = row
                .get_ref(0)
                .and_then(|v| v.as_blob_or_null().map_err(rusqlite::Error::from))
                .map_err(self.db_err())?;
            f(identity)?;
        }
        Ok(())
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
            "SELECT CAST({c} AS TEXT) AS value, COUNT(*) AS instances FROM instances
             GROUP BY 1 ORDER BY 2 DESC, 1",
            c = column.sql()
        );
        self.pairs(&sql, |c, row| {
            Ok((c.get(row, "value")?, c.get::<i64>(row, "instances")? as u64))
        })
    }

    /// Instances per (Patient ID, Issuer, Patient's Name, Birth Date) as indexed: what
    /// patient linkage conflicts are found in.
    pub fn patient_identity_counts(&self) -> Result<Vec<PatientIdentityCount>> {
        self.pairs(
            "SELECT patient_id, issuer_of_patient_id, patient_name, patient_birth_date,
                    COUNT(*) AS instances
             FROM instances GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4",
            |c, row| {
                Ok(PatientIdentityCount {
                    patient_id: c.get(row, "patient_id")?,
                    issuer: c.get(row, "issuer_of_patient_id")?,
                    name: c.get(row, "patient_name")?,
                    birth_date: c.get(row, "patient_birth_date")?,
                    instances: c.get::<i64>(row, "instances")? as u64,
                })
            },
        )
    }

    /// The distinct (Patient ID, Patient's Name, Birth Date, Study Instance UID) of the
    /// instances, as indexed: what a shard's patients are told from.
    pub fn patient_study_keys(&self) -> Result<Vec<[Option<String>; 4]>> {
        self.pairs(
            "SELECT DISTINCT patient_id, patient_name, patient_birth_date, study_instance_uid
             FROM instances",
            |c, row| {
                Ok([
                    c.get(row, "patient_id")?,
                    c.get(row, "patient_name")?,
                    c.get(row, "patient_birth_date")?,
                    c.get(row, "study_instance_uid")?,
                ])
            },
        )
    }

    /// Instance, series and study counts per device (manufacturer, model, serial).
    pub fn device_counts(&self) -> Result<Vec<DeviceCount>> {
        self.pairs(
            "SELECT manufacturer, model_name, serial_number, COUNT(*) AS instances,
                    COUNT(DISTINCT series_instance_uid) AS series,
                    group_concat(DISTINCT modality) AS modalities,
                    SUM(upper(trim(burned_in_annotation)) = 'YES') AS burned_in_yes
             FROM instances GROUP BY 1, 2, 3 ORDER BY 4 DESC, 1, 2, 3",
            |c, row| {
                Ok(DeviceCount {
                    manufacturer: c.get(row, "manufacturer")?,
                    model_name: c.get(row, "model_name")?,
                    serial_number: c.get(row, "serial_number")?,
                    instances: c.get::<i64>(row, "instances")? as u64,
                    series: c.get::<i64>(row, "series")? as u64,
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
        let c = Columns::of(&stmt);
        let rows = stmt
            .query_map(args.as_slice(), |row| instance_from_row(&c, row))
            .map_err(self.db_err())?;
        rows.collect::<rusqlite::Result<_>>().map_err(self.db_err())
    }

    /// Up to `limit` instances with row id greater than `after`, in row order, with their
    /// header blobs: the way to stream over every instance in bounded memory.
    pub fn instances_after(&self, after: i64, limit: usize) -> Result<Vec<StoredInstance>> {
        let sql = format!(
            "SELECT {INSTANCE_COLUMNS}, h.original, h.deidentified, {SEALED_COLUMNS}, {PIXEL_COLUMNS},
                    v.inputs AS verified_inputs, v.waived AS verified_waived,
                    fa.detail AS anonymize_failure,
                    fr.detail AS redact_failure, {PLAN_COLUMNS}
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
        let c = Columns::of(&stmt);
        let rows = stmt
            .query_map(params![after, limit as i64], |row| {
                Ok(StoredInstance {
                    record: instance_from_row(&c, row)?,
                    original: c.get(row, "original")?,
                    deidentified: c.get(row, "deidentified")?,
                    sealed: sealed_from_row(&c, row)?,
                    redacted: redacted_from_row(&c, row)?,
                    verified: c.get(row, "verified_inputs")?,
                    verified_waived: c.get(row, "verified_waived")?,
                    anonymize_failure: c.get(row, "anonymize_failure")?,
                    redact_failure: c.get(row, "redact_failure")?,
                    plan: plan_from_row(&c, row)?,
                })
            })
            .map_err(self.db_err())?;
        rows.collect::<rusqlite::Result<_>>().map_err(self.db_err())
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
        let mut stmt = self.conn.prepare_cached(&sql).map_err(self.db_err())?;
        let c = Columns::of(&stmt);
        stmt.query_row([id], |row| instance_from_row(&c, row))
            .optional()
            .map_err(self.db_err())?
            .ok_or(StoreError::NoSuchInstance(id))
    }

    /// The row ids of the instances `selector` names: the SOP Instance UID, or the path of
    /// the file it was indexed from (as given, or in its canonical form).
    pub fn find_instances(&self, selector: &str) -> Result<Vec<i64>> {
        let mut paths = vec![path_text(Path::new(selector))];
        if let Ok(canonical) = crate::private::canonical_path(Path::new(selector)) {
            paths.push(path_text(&canonical));
        }
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT id FROM instances
                 WHERE sop_instance_uid = ?1 OR source_path = ?2 OR source_path = ?3
                 ORDER BY id",
            )
            .map_err(self.db_err())?;
        let canonical = paths.last().cloned().unwrap_or_default();
        let rows = stmt
            .query_map(params![selector, paths[0], canonical], |r| r.get(0))
            .map_err(self.db_err())?;
        rows.collect::<rusqlite::Result<_>>().map_err(self.db_err())
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
}

impl StoreTx<'_> {
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
        let c = Columns::of(&stmt);
        stmt.query_row([value], |row| {
            Ok(IndexedSource {
                id: c.get(row, "id")?,
                source_path: path_from_text(c.get::<String>(row, "source_path")?),
                stamp: SourceStamp {
                    size: c.get::<i64>(row, "source_size")? as u64,
                    mtime_ns: c.get(row, "source_mtime_ns")?,
                },
                content_hash: hash_from_sql(c.get(row, "content_hash")?),
            })
        })
        .optional()
        .map_err(self.db_err())
    }

    /// Inserts an instance and its original header, with what the identity pass takes from
    /// that header when the caller has it (opaque to the store; see
    /// [`Store::for_each_identity`]); returns its row id.
    pub fn insert_instance(
        &self,
        record: &InstanceRecord,
        header: &[u8],
        identity: Option<&[u8]>,
    ) -> Result<i64> {
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
            .prepare_cached(
                "INSERT INTO headers (instance_id, original, identity) VALUES (?1, ?2, ?3)",
            )
            .and_then(|mut s| s.execute(params![id, header, identity]))
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
}
