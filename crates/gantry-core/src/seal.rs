//! Checkpoint 5, backup: the original values of every attribute anonymize will change or
//! remove are sealed inside each object (PS3.15 E.1.2), so authorised people can recover
//! them with the key or the password, with Gantry or with standard tools.

use std::fmt;
use std::time::{Duration, Instant};

use gantry_crypto::{KeyFile, Sealer};
use gantry_store::encode_header;
use serde::Serialize;

use crate::error::{GantryError, InstanceError, Result};
use crate::plan::seal_digest;
use crate::report::{duration_secs, per_second};
use crate::risk::{RiskReport, Unreadable};
use crate::session::{SEALING_KEY_ID, Sealing, Session};

/// A seal made for one instance.
struct NewSeal {
    digest: Vec<u8>,
    blob: Vec<u8>,
    attributes: u64,
}

/// What sealing did.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SealReport {
    /// Instances looked at.
    pub instances: u64,
    /// Instances whose originals were sealed now.
    pub sealed: u64,
    /// Instances already sealed with the same key and the same originals.
    pub unchanged: u64,
    /// Instances that could not be sealed (anonymize will refuse them).
    pub failed: Vec<Unreadable>,
    /// Attributes sealed, over all instances (top-level elements; a sequence counts once).
    pub attributes: u64,
    /// The key identifier (not secret).
    pub key_id: String,
    /// Whether a password recipient was added.
    pub password: bool,
    /// Wall-clock time.
    #[serde(serialize_with = "duration_secs")]
    pub duration: Duration,
}

impl fmt::Display for SealReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "Sealed the originals of {} of {} instances in {:.2} s ({:.0}/s) for key {}{}: {} attributes, {} already sealed, {} failed",
            self.sealed,
            self.instances,
            self.duration.as_secs_f64(),
            per_second(self.instances, self.duration),
            self.key_id,
            if self.password { " and a password" } else { "" },
            self.attributes,
            self.unchanged,
            self.failed.len()
        )?;
        Unreadable::list(f, "failed", &self.failed)
    }
}

impl Session {
    /// Turns on reversible anonymization with `key`: from now on (in this session and
    /// every later one on this database) anonymize refuses to change an instance whose
    /// originals are not sealed for this key. The key itself is never stored.
    pub fn enable_reversible_anonymization(&mut self, key: KeyFile) -> Result<()> {
        self.enable_sealing(key, None)
    }

    /// Like [`Session::enable_reversible_anonymization`], adding a password recipient,
    /// so that tools without the key file (OpenSSL, GDCM `gdcmanon -d -p`) can open the
    /// sealed originals with the password.
    pub fn enable_reversible_anonymization_with_password(
        &mut self,
        key: KeyFile,
        password: &str,
    ) -> Result<()> {
        if password.is_empty() {
            return Err(GantryError::EmptyPassword);
        }
        self.enable_sealing(key, Some(password))
    }

    fn enable_sealing(&mut self, key: KeyFile, password: Option<&str>) -> Result<()> {
        let sealer = Sealer::new(Some(&key), password)?;
        self.store
            .meta_set(SEALING_KEY_ID, key.id_hex().as_bytes())?;
        self.sealing = Some(Sealing { key, sealer });
        Ok(())
    }

    /// Checkpoint 5: seals, inside each instance, the originals of every attribute the
    /// audited actions will change or remove, as the last audit (stored in the database)
    /// planned; an audit made with another config or secret is an error naming which
    /// changed.
    pub fn preserve_identities(&mut self) -> Result<SealReport> {
        let started = Instant::now();
        let Some(sealing) = self.sealing.take() else {
            return Err(GantryError::NoSealingKey);
        };
        let result = self
            .last_audit()
            .and_then(|report| self.seal_all(&report, &sealing, started));
        self.sealing = Some(sealing);
        result
    }

    fn seal_all(
        &mut self,
        report: &RiskReport,
        sealing: &Sealing,
        started: Instant,
    ) -> Result<SealReport> {
        let plans = self.plans_for(report)?;
        let key_id = sealing.key.id_hex();
        let mut out = SealReport {
            instances: 0,
            sealed: 0,
            unchanged: 0,
            failed: Vec::new(),
            attributes: 0,
            key_id: key_id.clone(),
            password: false,
            duration: Duration::ZERO,
        };
        let prepared = plans.prepared.clone();
        crate::plan::with_derive(prepared.as_deref(), |derive| {
            self.for_each_instance(
                "seal",
                |stored| -> std::result::Result<Option<NewSeal>, InstanceError> {
                    let plan = plans.of(stored, derive)?;
                    let digest = seal_digest(&plans.secret, &key_id, &plan.modified);
                    if stored
                        .sealed
                        .as_ref()
                        .is_some_and(|s| s.key_id == key_id && s.digest == digest)
                    {
                        return Ok(None);
                    }
                    // The planned originals are sealed as encoded, never decoded again.
                    // (Counted by a walk of their top level; only one the walk does not know,
                    // such as a UN value of undefined length, is decoded to be counted.)
                    let attributes = match gantry_store::scan_header(&plan.modified, &[]) {
                        Some(scan) => scan.count,
                        None => gantry_store::decode_header(&plan.modified)
                            .map_err(|source| InstanceError::Decode {
                                what: "planned originals",
                                source,
                            })?
                            .iter()
                            .count(),
                    } as u64;
                    let item = sealing
                        .sealer
                        .seal_encoded(&plan.modified)
                        .map_err(InstanceError::Seal)?;
                    let blob = encode_header(&item).map_err(|source| InstanceError::Encode {
                        what: "sealed item",
                        source,
                    })?;
                    Ok(Some(NewSeal {
                        digest,
                        blob,
                        attributes,
                    }))
                },
                |store, batch| {
                    store.write(|tx| {
                        for (stored, outcome) in &batch {
                            if let Ok(Some(seal)) = outcome {
                                tx.set_sealed(stored.record.id, &key_id, &seal.digest, &seal.blob)?;
                            }
                        }
                        Ok(())
                    })?;
                    for (stored, outcome) in batch {
                        out.instances += 1;
                        match outcome {
                            Ok(None) => out.unchanged += 1,
                            Ok(Some(seal)) => {
                                out.sealed += 1;
                                out.attributes += seal.attributes;
                            }
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
        out.password = sealing.sealer.has_password();
        out.duration = started.elapsed();
        let json = gantry_store::StoreError::json("the seal report", &out)?;
        self.store.write(|tx| tx.add_report("seal", &json))?;
        Ok(out)
    }
}
