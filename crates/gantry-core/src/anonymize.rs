//! Checkpoint 6, anonymize: apply the audited actions to every instance's header.

use std::fmt;
use std::time::{Duration, Instant};

use gantry_store::{decode_header, encode_header};
use serde::Serialize;

use crate::audit::{RiskReport, Stage, Unreadable, sop_class};
use crate::engine::add_markers;
use crate::error::{GantryError, Result};
use crate::identity::patient_key;
use crate::report::{duration_secs, per_second};
use crate::session::Session;

/// What anonymize did.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AnonymizeReport {
    /// Instances processed.
    pub instances: u64,
    /// Instances whose de-identified header was written (new or changed).
    pub written: u64,
    /// Instances whose de-identified header was already exactly this.
    pub unchanged: u64,
    /// Instances that could not be de-identified (never exported).
    pub failed: Vec<Unreadable>,
    /// Wall-clock time.
    #[serde(serialize_with = "duration_secs")]
    pub duration: Duration,
}

impl fmt::Display for AnonymizeReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "Anonymized {} instances in {:.2} s ({:.0}/s): {} written, {} already up to date, {} failed",
            self.instances,
            self.duration.as_secs_f64(),
            per_second(self.instances, self.duration),
            self.written,
            self.unchanged,
            self.failed.len()
        )?;
        for failure in &self.failed {
            writeln!(
                f,
                "  failed {}: {}",
                failure.sop_instance_uid, failure.detail
            )?;
        }
        Ok(())
    }
}

impl Session {
    /// Checkpoint 6: writes the de-identified header of every instance, as the audit
    /// `report` planned. The result depends only on the original header, the config and
    /// the project secret, so running it again changes nothing.
    pub fn anonymize_metadata(&mut self, report: &RiskReport) -> Result<AnonymizeReport> {
        if report.stage != Stage::Audit {
            return Err(GantryError::Order(
                "anonymize needs the report of an audit, not of a verify".into(),
            ));
        }
        let started = Instant::now();
        let prepared = self.prepare()?;
        if report.fingerprint != prepared.fingerprint {
            return Err(GantryError::Order(
                "the configuration or the project secret changed since this audit; run the audit again"
                    .into(),
            ));
        }
        let rules = prepared.rules();
        let engine = prepared.engine(&rules);
        let mut out = AnonymizeReport {
            instances: 0,
            written: 0,
            unchanged: 0,
            failed: Vec::new(),
            duration: Duration::ZERO,
        };
        self.for_each_instance(
            "anonymize",
            |stored| -> std::result::Result<Vec<u8>, String> {
                let original = decode_header(&stored.original)
                    .map_err(|e| format!("stored header cannot be decoded: {e}"))?;
                let patient = prepared
                    .patients
                    .get(&patient_key(&original))
                    .ok_or("patient identity was not collected")?;
                let mut header = engine.anonymize(&original, &sop_class(&original), patient);
                add_markers(&mut header, &rules);
                encode_header(&header).map_err(|e| format!("cannot encode: {e}"))
            },
            |store, batch| {
                store.write(|tx| {
                    for (stored, blob) in &batch {
                        match blob {
                            Ok(blob) if stored.deidentified.as_ref() == Some(blob) => {}
                            Ok(blob) => {
                                tx.set_deidentified(stored.record.id, blob)?;
                                tx.log(
                                    Some(stored.record.id),
                                    "anonymize",
                                    "de-identified header written",
                                )?;
                            }
                            Err(detail) => {
                                tx.log(
                                    Some(stored.record.id),
                                    "anonymize",
                                    &format!("failed: {detail}"),
                                )?;
                            }
                        }
                    }
                    Ok(())
                })?;
                for (stored, blob) in batch {
                    out.instances += 1;
                    match blob {
                        Ok(blob) if stored.deidentified.as_ref() == Some(&blob) => {
                            out.unchanged += 1
                        }
                        Ok(_) => out.written += 1,
                        Err(detail) => out.failed.push(Unreadable {
                            sop_instance_uid: stored.record.sop_instance_uid.clone(),
                            detail,
                        }),
                    }
                }
                Ok(())
            },
        )?;
        out.duration = started.elapsed();
        let json = serde_json::to_string(&out).unwrap_or_default();
        self.store.write(|tx| tx.add_report("anonymize", &json))?;
        Ok(out)
    }
}
