//! Checkpoint 6, anonymize: apply the audited actions to every instance's header.

use std::fmt;
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::error::{InstanceError, Result};
use crate::plan::{seal_digest, with_seal};
use crate::report::{duration_secs, per_second};
use crate::risk::Unreadable;
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
    /// Whether the originals were sealed into each header (reversible anonymization).
    pub sealed: bool,
    /// Wall-clock time.
    #[serde(serialize_with = "duration_secs")]
    pub duration: Duration,
}

impl fmt::Display for AnonymizeReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "Anonymized {} instances in {:.2} s ({:.0}/s){}: {} written, {} already up to date, {} failed",
            self.instances,
            self.duration.as_secs_f64(),
            per_second(self.instances, self.duration),
            if self.sealed {
                " with sealed originals"
            } else {
                ""
            },
            self.written,
            self.unchanged,
            self.failed.len()
        )?;
        Unreadable::list(f, "failed", &self.failed)
    }
}

impl Session {
    /// Checkpoint 6: writes the de-identified header of every instance, as the last audit
    /// (stored in the database) planned; an audit made with another config or secret is an
    /// error naming which changed. The result depends only on the original header, the config, the
    /// project secret and the sealed originals, so running it again changes nothing.
    ///
    /// With reversible anonymization on, an instance whose current originals are not
    /// sealed for the session's key is refused (and any earlier de-identified header of it
    /// dropped): nothing is changed that could not be recovered.
    pub fn anonymize_metadata(&mut self) -> Result<AnonymizeReport> {
        let started = Instant::now();
        let report = self.last_audit()?;
        let plans = self.plans_for(&report)?;
        let required_key = self.required_key_id()?;
        let mut out = AnonymizeReport {
            instances: 0,
            written: 0,
            unchanged: 0,
            failed: Vec::new(),
            sealed: required_key.is_some(),
            duration: Duration::ZERO,
        };
        let prepared = plans.prepared.clone();
        crate::plan::with_derive(prepared.as_deref(), |derive| {
            self.for_each_instance(
                "anonymize",
                |stored| -> std::result::Result<Vec<u8>, InstanceError> {
                    let plan = plans.of(stored, derive)?;
                    let Some(key_id) = &required_key else {
                        return Ok(match plan {
                            std::borrow::Cow::Borrowed(plan) => plan.deidentified.clone(),
                            std::borrow::Cow::Owned(plan) => plan.deidentified,
                        });
                    };
                    let wanted = seal_digest(&plans.secret, key_id, &plan.modified);
                    match &stored.sealed {
                        Some(sealed) if sealed.key_id == *key_id && sealed.digest == wanted => {
                            with_seal(&plan.deidentified, &sealed.item)
                        }
                        Some(sealed) if sealed.key_id != *key_id => {
                            Err(InstanceError::SealedForAnotherKey {
                                sealed: sealed.key_id.clone(),
                                session: key_id.clone(),
                            })
                        }
                        Some(_) => Err(InstanceError::StaleSeal),
                        None => Err(InstanceError::NotSealed),
                    }
                },
                |store, batch| {
                    store.write(|tx| {
                        for (stored, blob) in &batch {
                            let id = stored.record.id;
                            match blob {
                                Ok(blob) if stored.deidentified.as_ref() == Some(blob) => {}
                                Ok(blob) => {
                                    tx.set_deidentified(id, blob)?;
                                    tx.log(Some(id), "anonymize", "de-identified header written")?;
                                }
                                Err(detail) => {
                                    tx.clear_deidentified(id)?;
                                    tx.log(Some(id), "anonymize", &format!("failed: {detail}"))?;
                                }
                            }
                            if blob.is_err() || stored.anonymize_failure.is_some() {
                                let detail = blob.as_ref().err().map(ToString::to_string);
                                tx.set_failure(id, "anonymize", detail.as_deref())?;
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
                            Err(error) => out.failed.push(Unreadable {
                                sop_instance_uid: stored.record.sop_instance_uid.clone(),
                                detail: error.to_string(),
                            }),
                        }
                    }
                    Ok(())
                },
            )
        })?;
        out.duration = started.elapsed();
        let json = gantry_store::StoreError::json("the anonymize report", &out)?;
        self.store.write(|tx| tx.add_report("anonymize", &json))?;
        Ok(out)
    }
}
