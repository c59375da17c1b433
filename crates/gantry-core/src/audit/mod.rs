//! Checkpoint 4, audit: every trace of identity the config and the standard name, in
//! every instance, at every depth, and the plan of each instance (`crate::plan`). The
//! check it defines ([`CheckContext`]) is also checkpoint 8's (`crate::verify`), at the
//! verify stage, and export's safe gate.

mod report;

use std::collections::HashMap;
use std::time::Instant;

use dicom_object::InMemDicomObject;
use gantry_store::StoredInstance;
use rayon::prelude::*;
use sha2::{Digest, Sha256};

pub use report::{Finding, RiskReport, Stage, Unreadable};

use crate::config::Config;
use crate::engine::{ElementFinding, Engine, PatientContext, marker_findings};
use crate::error::{GantryError, Result};
use crate::identity::{Demographics, IdentifierSet, patient_key};
use crate::pseudonym::Secret;
use crate::rules::{DatePolicy, Rules};
use crate::session::Session;

/// Everything the per-instance work needs, shared by the threads.
pub(crate) struct Prepared {
    pub config: Config,
    pub secret: Secret,
    pub patients: HashMap<String, PatientContext>,
    /// Patient keys linked to another (one ID whose issuer is missing or differs on some
    /// files, with a name or birth date in common).
    pub links: HashMap<String, String>,
    /// The identifiers of every patient and staff member of the session.
    pub everyone: crate::identity::EchoMatcher,
    /// A digest of them (a cached verification depends on it).
    pub everyone_digest: [u8; 32],
    pub fingerprint: String,
    /// The store's instance generation the identities were collected at.
    pub generation: i64,
}

impl Prepared {
    /// The patient a key belongs to, following links.
    pub fn patient(&self, key: &str) -> Option<&PatientContext> {
        let key = self.links.get(key).map(String::as_str).unwrap_or(key);
        self.patients.get(key)
    }

    pub fn rules(&self) -> Rules<'_> {
        Rules::new(&self.config)
    }

    pub fn engine<'a>(&'a self, rules: &'a Rules<'a>) -> Engine<'a> {
        Engine {
            rules,
            secret: &self.secret,
            everyone: &self.everyone,
        }
    }
}

/// The SOP Class UID of a header (empty when absent).
pub(crate) fn sop_class(header: &InMemDicomObject) -> String {
    crate::header::text(header, dicom_dictionary_std::tags::SOP_CLASS_UID).unwrap_or_default()
}

impl Session {
    /// Collects each patient's identifiers (from all their instances) and derives their
    /// pseudonym and date offset: what every later step needs about patients.
    pub(crate) fn prepare(&mut self) -> Result<std::sync::Arc<Prepared>> {
        let config = self.config()?.clone();
        let secret = self.secret()?;
        let fingerprint = fingerprint(&config, &secret)?;
        let store_generation = self.store.instances_generation()?;
        // Identities depend only on the original headers, the config and the secret: a
        // session that has not ingested since reuses them (audit, then anonymize, ...).
        if let Some((generation, prepared)) = &self.prepared
            && *generation == self.generation
            && prepared.fingerprint == fingerprint
            && prepared.generation == store_generation
        {
            return Ok(prepared.clone());
        }
        let identities: std::sync::Mutex<HashMap<String, (IdentifierSet, Demographics)>> =
            Default::default();
        let options = config.options.clone();
        self.for_each_instance(
            "identities",
            |stored| {
                let header = crate::header::decode_original(&stored.original).ok()?;
                let mut set = IdentifierSet::default();
                set.collect(&header, &options);
                Some((patient_key(&header), set, Demographics::of(&header)))
            },
            |_, batch| {
                let mut map = identities.lock().map_err(|_| {
                    GantryError::Order("identity collection was interrupted".into())
                })?;
                for (_, found) in batch {
                    if let Some((key, set, demographics)) = found {
                        let entry = map.entry(key).or_default();
                        entry.0.extend(&set);
                        entry.1.extend(demographics);
                    }
                }
                Ok(())
            },
        )?;
        let identities = identities
            .into_inner()
            .map_err(|_| GantryError::Order("identity collection was interrupted".into()))?;
        let links = crate::identity::link_patients(
            identities.iter().map(|(key, (_, d))| (key.as_str(), d)),
            config.patient_linkage,
        );
        let mut linked: HashMap<String, IdentifierSet> = HashMap::new();
        for (key, (set, _)) in identities {
            let target = links.get(&key).cloned().unwrap_or(key);
            linked.entry(target).or_default().extend(&set);
        }
        let identities = linked;
        let mut everyone = IdentifierSet::default();
        for set in identities.values() {
            everyone.extend(set);
        }
        let everyone = everyone.without_ordinary_words();
        let everyone_digest = everyone.digest();
        let everyone = everyone.matcher();
        let rules = Rules::new(&config);
        let jitter = config.date_jitter.unwrap_or_default();
        let recent = crate::identity::LazyMatcher::recent();
        let patients = identities
            .into_par_iter()
            .map(|(key, set)| {
                let offset = match rules.dates {
                    DatePolicy::Shift => secret.date_offset(&key, jitter.min_days, jitter.max_days),
                    _ => 0,
                };
                let context = PatientContext {
                    pseudonym: secret.patient_pseudonym(&config.pseudonym_prefix, &key),
                    offset,
                    identity_digest: set.digest(),
                    matcher: crate::identity::LazyMatcher::new(set, recent.clone()),
                };
                (key, context)
            })
            .collect();
        let prepared = std::sync::Arc::new(Prepared {
            config,
            secret,
            patients,
            links,
            everyone,
            everyone_digest,
            fingerprint,
            generation: store_generation,
        });
        self.prepared = Some((self.generation, prepared.clone()));
        Ok(prepared)
    }

    /// Checkpoint 4: finds every PHI risk in the ingested headers. The findings are stored
    /// per instance; the report holds the counts and examples.
    pub fn audit(&mut self) -> Result<RiskReport> {
        let prepared = self.prepare()?;
        self.check(Stage::Audit, &prepared)
    }

    /// The newest audit of this session, as stored (its examples are not kept): what a
    /// later process (the CLI's `anonymize`, `lock`) acts on.
    pub fn last_audit(&self) -> Result<RiskReport> {
        let (id, json) = self
            .store
            .latest_report(Stage::Audit.as_str())?
            .ok_or_else(|| {
                GantryError::Order(
                    "no audit has been run on this database: run `gantry audit` first".into(),
                )
            })?;
        let mut report: RiskReport = serde_json::from_str(&json).map_err(|e| {
            GantryError::Order(format!("the stored audit report is unreadable: {e}"))
        })?;
        report.id = id;
        Ok(report)
    }

    pub(crate) fn check(&mut self, stage: Stage, prepared: &Prepared) -> Result<RiskReport> {
        let started = Instant::now();
        let rules = prepared.rules();
        let engine = prepared.engine(&rules);
        let required_key = self.required_key_id()?;
        self.sidecar()?;
        let sidecar = self.sidecar.take();
        let mut report = RiskReport::new(stage, prepared.fingerprint.clone());
        let basis = crate::plan::basis(&prepared.fingerprint, prepared.generation);
        let context = CheckContext {
            stage,
            engine: &engine,
            prepared,
            sidecar: sidecar.as_ref(),
            required_key: required_key.as_deref(),
        };
        let result = self
            .store
            .write(|tx| tx.clear_findings(stage.as_str()))
            .map_err(GantryError::from)
            .and_then(|_| {
                self.for_each_instance(
                    stage.as_str(),
                    |stored| {
                        if stage == Stage::Audit {
                            let (findings, plan) = context.audit(stored, &basis);
                            return (findings, None, plan);
                        }
                        let findings = context.check(stored);
                        let clean = matches!(&findings, Ok(f) if f.is_empty());
                        let inputs = clean.then(|| context.inputs(stored)).flatten();
                        (findings, inputs, None)
                    },
                    |store, batch| {
                        store.write(|tx| {
                            for (stored, (outcome, inputs, plan)) in &batch {
                                match stage {
                                    Stage::Verify => tx.set_verified(
                                        stored.record.id,
                                        inputs.as_ref().map(|i| &i[..]),
                                    )?,
                                    Stage::Audit => match plan {
                                        Some(plan) => tx.set_plan(stored.record.id, plan)?,
                                        None => tx.clear_plan(stored.record.id)?,
                                    },
                                }
                                match outcome {
                                    Ok(findings) => {
                                        let json =
                                            gantry_store::StoreError::json("findings", findings)?;
                                        tx.set_findings(
                                            stored.record.id,
                                            stage.as_str(),
                                            findings.len(),
                                            &json,
                                        )?;
                                    }
                                    Err(detail) => {
                                        let json =
                                            gantry_store::StoreError::json("findings", &[detail])?;
                                        tx.set_findings(
                                            stored.record.id,
                                            stage.as_str(),
                                            1,
                                            &json,
                                        )?;
                                    }
                                }
                            }
                            Ok(())
                        })?;
                        for (stored, (outcome, _, _)) in batch {
                            report.add(&stored.record, outcome);
                        }
                        Ok(())
                    },
                )
            });
        self.sidecar = sidecar;
        result?;
        report.duration = started.elapsed();
        let json = gantry_store::StoreError::json("the risk report", &report)?;
        report.id = self
            .store
            .write(|tx| tx.add_report(stage.as_str(), &json))?;
        Ok(report)
    }
}

/// What checking one instance needs; shared by the threads.
pub(crate) struct CheckContext<'a> {
    pub stage: Stage,
    pub engine: &'a Engine<'a>,
    pub prepared: &'a Prepared,
    pub sidecar: Option<&'a gantry_store::PixelSidecar>,
    /// The key whose seal every de-identified header must carry, when reversible.
    pub required_key: Option<&'a str>,
}

impl CheckContext<'_> {
    /// A digest of everything [`CheckContext::check`] at verify depends on: the original
    /// and de-identified headers, the redacted pixels (their record and the attributes
    /// describing them), the rules and secret, the patient's identifiers, the sealing key,
    /// Gantry's version and its codecs. Equal digests mean equal results.
    pub fn inputs(&self, stored: &StoredInstance) -> Option<[u8; 32]> {
        let deidentified = stored.deidentified.as_ref()?;
        let key = match crate::identity::patient_key_of(&stored.record) {
            Some(key) => key,
            None => patient_key(&crate::header::decode_original(&stored.original).ok()?),
        };
        let patient = self.prepared.patient(&key)?;
        let mut hasher = Sha256::new();
        let mut part = |bytes: &[u8]| {
            hasher.update((bytes.len() as u64).to_le_bytes());
            hasher.update(bytes);
        };
        part(env!("CARGO_PKG_VERSION").as_bytes());
        // What this build can decode decides some findings, and what its text detector
        // finds others: a verdict of another detector is not this one's.
        part(&[cfg!(feature = "charls") as u8]);
        part(gantry_redact::DETECTOR.as_bytes());
        part(&stored.original);
        part(deidentified);
        match &stored.redacted {
            Some(r) => {
                part(r.fingerprint.as_bytes());
                part(r.transfer_syntax.as_bytes());
                part(&r.address.offset.to_le_bytes());
                part(&r.address.length.to_le_bytes());
                part(&r.attributes);
            }
            None => part(b"no redaction"),
        }
        part(self.prepared.fingerprint.as_bytes());
        part(&patient.identity_digest);
        part(&self.prepared.everyone_digest);
        part(self.required_key.unwrap_or("").as_bytes());
        Some(hasher.finalize().into())
    }

    /// The gate of export: clean when verify found these very inputs clean, else the
    /// findings of a fresh check.
    pub fn gate(
        &self,
        stored: &StoredInstance,
    ) -> std::result::Result<Vec<ElementFinding>, String> {
        if let (Some(verified), Some(inputs)) = (&stored.verified, self.inputs(stored))
            && verified.as_slice() == inputs
        {
            return Ok(Vec::new());
        }
        self.check(stored)
    }

    /// The findings of one instance, or why it could not be checked. At verify this is
    /// also the safe gate of export: any finding blocks the instance.
    pub fn check(
        &self,
        stored: &StoredInstance,
    ) -> std::result::Result<Vec<ElementFinding>, String> {
        let original = crate::header::decode_original(&stored.original)
            .map_err(|e| format!("stored header cannot be decoded: {e}"))?;
        self.check_decoded(stored, &original, &mut None)
    }

    /// Audit of one instance from one decode of its original: its findings, and its plan
    /// (the de-identified header and the originals to seal) made on `basis`, which seal
    /// and anonymize then act on. No plan when the findings could not be made (the
    /// instance is then unreadable to every step) or de-identification failed.
    pub fn audit(
        &self,
        stored: &StoredInstance,
        basis: &[u8],
    ) -> (
        std::result::Result<Vec<ElementFinding>, String>,
        Option<gantry_store::InstancePlan>,
    ) {
        let (original, raw) = match crate::header::decode_original_and_raw(&stored.original) {
            Ok(decoded) => decoded,
            Err(e) => return (Err(format!("stored header cannot be decoded: {e}")), None),
        };
        let mut pixels_clean = None;
        let findings = self.check_decoded(stored, &original, &mut pixels_clean);
        let plan = findings
            .is_ok()
            .then(|| {
                crate::plan::make(
                    self.prepared,
                    self.engine,
                    self.engine.rules,
                    (&original, raw.as_ref()),
                    basis,
                )
                .ok()
            })
            .flatten()
            .map(|plan| gantry_store::InstancePlan {
                pixels_clean: pixels_clean.map(|k| k.to_vec()),
                ..plan
            });
        (findings, plan)
    }

    /// The findings of one decoded instance. `pixels_clean` receives the key of a search
    /// of the source pixels that found no text, when one was made now.
    fn check_decoded(
        &self,
        stored: &StoredInstance,
        original: &InMemDicomObject,
        pixels_clean: &mut Option<[u8; 32]>,
    ) -> std::result::Result<Vec<ElementFinding>, String> {
        let key = patient_key(original);
        let patient = self
            .prepared
            .patient(&key)
            .ok_or_else(|| "patient identity was not collected".to_string())?;
        let sop = sop_class(original);
        let plan = crate::pixels::plan(&self.prepared.config, original, &stored.record);
        // A search of these very source pixels that found nothing need not be made again.
        let searched_clean = stored.plan.as_ref().and_then(|p| p.pixels_clean.as_deref());
        let mut pixel_findings = |verify: bool| {
            crate::pixels::findings(
                &plan,
                &stored.record,
                original,
                (stored.redacted.as_ref(), stored.redact_failure.as_deref()),
                self.sidecar,
                verify,
                (searched_clean, &mut *pixels_clean),
            )
        };
        match self.stage {
            Stage::Audit => {
                let mut findings = self.engine.check(original, original, &sop, patient);
                findings.extend(marker_findings(original));
                findings.extend(pixel_findings(false));
                Ok(findings)
            }
            Stage::Verify => {
                let mut findings =
                    crate::verify::deidentified_findings(self, stored, original, &sop, patient)?;
                findings.extend(pixel_findings(true));
                Ok(findings)
            }
        }
    }
}

/// Identifies the rules and secret a report was made with, without revealing either. A
/// config that cannot be serialized is an error: an empty stand-in would give two configs
/// one fingerprint, and verify's cached verdicts would pass for the other.
pub(crate) fn fingerprint(config: &Config, secret: &Secret) -> Result<String> {
    let mut hasher = Sha256::new();
    hasher.update(gantry_store::StoreError::json("the configuration", config)?.as_bytes());
    hasher.update(Sha256::digest(secret.bytes()));
    Ok(hex::encode(&hasher.finalize()[..8]))
}
