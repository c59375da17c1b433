//! The check of one instance, shared by audit (checkpoint 4), verify (checkpoint 8) and
//! export's safe gate: at the audit stage, the findings in the original header and pixels
//! and the instance's plan, from one decode; at the verify stage, the findings in what
//! export would write (the de-identified header, checked against the original, and the
//! pixels searched again after redaction).

use std::time::Instant;

use dicom_object::InMemDicomObject;
use gantry_store::StoredInstance;
use sha2::{Digest, Sha256};

use crate::engine::{ElementFinding, Engine, PatientContext, marker_findings};
use crate::error::{GantryError, InstanceError, Result};
use crate::header::TagPath;
use crate::identity::patient_key;
use crate::prepared::{Prepared, sop_class};
use crate::risk::{RiskReport, Stage};
use crate::rules::{Planned, RuleSource};
use crate::session::Session;
use crate::vr::{is_class_uid_tag, is_well_known_uid};
use crate::waiver::WaivedFinding;

impl Session {
    /// Runs the check of `stage` over every instance, stores each instance's findings (and,
    /// at audit, its plan; at verify, the inputs of a clean verdict) and the report.
    pub(crate) fn check(&mut self, stage: Stage, prepared: &Prepared) -> Result<RiskReport> {
        let started = Instant::now();
        let rules = prepared.rules();
        let engine = prepared.engine(&rules);
        let required_key = self.required_key_id()?;
        self.sidecar()?;
        let sidecar = self.sidecar.take();
        let mut report = RiskReport::new(stage, prepared.fingerprint.clone());
        report.config_digest = crate::prepared::config_digest(&prepared.config)?;
        report.kept_by_config = prepared
            .config
            .tag_rules
            .iter()
            .filter(|r| r.action == Some(crate::settings::Action::Keep))
            .map(|r| crate::risk::tag_name(r.tag))
            .collect();
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
                            return (findings, (None, Vec::new()), plan);
                        }
                        let (findings, waived) = match context.check(stored) {
                            Ok(findings) => {
                                let (blocking, waived) = context.waive(stored, findings);
                                (Ok(blocking), waived)
                            }
                            Err(e) => (Err(e), Vec::new()),
                        };
                        let clean = matches!(&findings, Ok(f) if f.is_empty());
                        let inputs = clean.then(|| context.inputs(stored)).flatten();
                        (findings, (inputs, waived), None)
                    },
                    |store, batch| {
                        store.write(|tx| {
                            for (stored, (outcome, inputs, plan)) in &batch {
                                match stage {
                                    Stage::Verify => {
                                        let (inputs, waived) = inputs;
                                        let waived = match inputs {
                                            Some(_) if !waived.is_empty() => {
                                                Some(gantry_store::StoreError::json(
                                                    "waived findings",
                                                    waived,
                                                )?)
                                            }
                                            _ => None,
                                        };
                                        tx.set_verified(
                                            stored.record.id,
                                            inputs.as_ref().map(|i| &i[..]),
                                            waived.as_deref(),
                                        )?
                                    }
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
                                    Err(error) => {
                                        let json = gantry_store::StoreError::json(
                                            "findings",
                                            &[error.to_string()],
                                        )?;
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
                        for (stored, (outcome, (_, waived), _)) in batch {
                            report.add_waived(&waived);
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

    /// The gate of export: the findings that block the instance, and those the config's
    /// waivers accept. Clean (with the waivers verify applied) when verify found these very
    /// inputs clean, else a fresh check.
    pub fn gate(
        &self,
        stored: &StoredInstance,
    ) -> std::result::Result<(Vec<ElementFinding>, Vec<WaivedFinding>), InstanceError> {
        if let (Some(verified), Some(inputs)) = (&stored.verified, self.inputs(stored))
            && verified.as_slice() == inputs
        {
            let waived = match &stored.verified_waived {
                Some(json) => serde_json::from_str(json)
                    .map_err(|e| InstanceError::StoredWaivers(e.to_string()))?,
                None => Vec::new(),
            };
            return Ok((Vec::new(), waived));
        }
        let findings = self.check(stored)?;
        Ok(self.waive(stored, findings))
    }

    /// `findings` of the verify stage split into those that block and those the config's
    /// waivers accept.
    pub fn waive(
        &self,
        stored: &StoredInstance,
        findings: Vec<ElementFinding>,
    ) -> (Vec<ElementFinding>, Vec<WaivedFinding>) {
        crate::waiver::split(&self.prepared.config.waivers, &stored.record, findings)
    }

    /// The findings of one instance, or why it could not be checked. At verify this is
    /// also the safe gate of export: any finding blocks the instance.
    pub fn check(
        &self,
        stored: &StoredInstance,
    ) -> std::result::Result<Vec<ElementFinding>, InstanceError> {
        let original = crate::header::decode_instance(stored)
            .map_err(InstanceError::Original)?
            .0;
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
        std::result::Result<Vec<ElementFinding>, InstanceError>,
        Option<gantry_store::InstancePlan>,
    ) {
        let (original, raw) = match crate::header::decode_instance(stored) {
            Ok(decoded) => decoded,
            Err(e) => return (Err(InstanceError::Original(e)), None),
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
    ) -> std::result::Result<Vec<ElementFinding>, InstanceError> {
        let key = patient_key(original);
        let patient = self
            .prepared
            .patient(&key)
            .ok_or(InstanceError::PatientNotCollected)?;
        let sop = sop_class(original);
        let plan = crate::pixels::plan(&self.prepared.config, original, &stored.record);
        // A search of these very source pixels that found nothing need not be made again.
        let searched_clean = stored.plan.as_ref().and_then(|p| p.pixels_clean.as_deref());
        // What a reading of burned-in text holds (feature `ocr`).
        let identify = |text: &str| self.engine.holds(text, patient);
        let mut pixel_findings = |verify: bool| {
            crate::pixels::findings(
                &plan,
                &stored.record,
                original,
                (stored.redacted.as_ref(), stored.redact_failure.as_deref()),
                self.sidecar,
                (verify, &identify),
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
                let mut findings = deidentified_findings(self, stored, original, &sop, patient)?;
                findings.extend(pixel_findings(true));
                Ok(findings)
            }
        }
    }
}

/// The findings in the header an instance is exported with (its pixels aside), checked
/// against its `original`.
pub(crate) fn deidentified_findings(
    context: &CheckContext<'_>,
    stored: &StoredInstance,
    original: &InMemDicomObject,
    sop: &str,
    patient: &PatientContext,
) -> std::result::Result<Vec<ElementFinding>, InstanceError> {
    let Some(blob) = &stored.deidentified else {
        return Ok(vec![ElementFinding {
            path: TagPath::default(),
            vr: String::new(),
            value: "(not de-identified)".into(),
            rule: RuleSource::Survived,
            action: Planned::Block,
        }]);
    };
    let mut current = final_header(blob, stored.redacted.as_ref())?;
    // Gantry's own seal is ciphertext for the session's key: it is checked by
    // its presence, not by the rules, which count any other Encrypted
    // Attributes Sequence as identity to remove.
    let sealed = context.required_key.is_some()
        && current.remove_element(gantry_crypto::ENCRYPTED_ATTRIBUTES_SEQUENCE);
    let (mut findings, generated) = context
        .engine
        .check_generated(&current, original, sop, patient);
    findings.extend(marker_findings(&current));
    // The original's UIDs, collected once: for UI elements and for text.
    let mut original_uids = Vec::new();
    if !context
        .prepared
        .config
        .has_option(crate::settings::ProfileOption::RetainUids)
    {
        collect_uids(original, None, &mut |_, v| {
            original_uids.push(v.to_string())
        });
        // A `keep_all` copy is read with a UID of its own: the UID its file really has is
        // an original UID all the same, and must not leave anywhere.
        if crate::header::copy_uid(&stored.record.sop_instance_uid).is_some()
            && let Some((file_uid, _)) = stored.record.sop_instance_uid.split_once('#')
        {
            original_uids.push(file_uid.to_string());
        }
        original_uids.sort();
        original_uids.dedup();
    }
    findings.extend(surviving_uids(&current, &original_uids));
    let original_uids = crate::engine::OriginalUids::new(&original_uids);
    // The independent scan: a place already reported is not reported twice.
    for extra in context
        .engine
        .scan_exported(&current, &original_uids, patient, &generated)
    {
        if !findings.iter().any(|f| f.path == extra.path) {
            findings.push(extra);
        }
    }
    if let Some(key_id) = context.required_key
        && !sealed
    {
        findings.push(ElementFinding {
            path: TagPath::root(gantry_crypto::ENCRYPTED_ATTRIBUTES_SEQUENCE),
            vr: "SQ".into(),
            value: format!("originals not sealed for key {key_id}"),
            rule: RuleSource::IdentityMarker,
            action: Planned::Block,
        });
    }
    Ok(findings)
}

/// The header an instance is exported with: the de-identified header, with the elements
/// that describe its redacted pixels laid over it.
pub(crate) fn final_header(
    deidentified: &[u8],
    redacted: Option<&gantry_store::RedactedPixels>,
) -> std::result::Result<InMemDicomObject, InstanceError> {
    let header =
        crate::header::decode_deidentified(deidentified).map_err(InstanceError::Deidentified)?;
    match redacted {
        Some(r) => crate::pixels::overlay(&header, &r.attributes),
        None => Ok(header),
    }
}

/// UI values of the de-identified header that are UIDs of the original (`originals`,
/// sorted; empty under Retain UIDs).
fn surviving_uids(current: &InMemDicomObject, originals: &[String]) -> Vec<ElementFinding> {
    let mut out = Vec::new();
    if originals.is_empty() {
        return out;
    }
    collect_uids(current, None, &mut |path, v| {
        if originals.binary_search_by(|o| o.as_str().cmp(v)).is_ok() {
            out.push(ElementFinding {
                path: path.clone(),
                vr: "UI".into(),
                value: v.chars().take(64).collect(),
                rule: RuleSource::Survived,
                action: Planned::RemapUid,
            });
        }
    });
    out
}

fn collect_uids(
    object: &InMemDicomObject,
    parent: Option<(&TagPath, usize)>,
    found: &mut dyn FnMut(&TagPath, &str),
) {
    use dicom_core::header::Header;
    for element in object.iter() {
        let tag = element.tag();
        let path = TagPath::under(parent, tag);
        if let Some(items) = element.items() {
            if path.depth() < gantry_store::MAX_SEQUENCE_DEPTH {
                for (i, item) in items.iter().enumerate() {
                    collect_uids(item, Some((&path, i)), found);
                }
            }
        } else if element.vr() == dicom_core::VR::UI
            && !is_class_uid_tag(tag)
            && let Ok(values) = element.to_multi_str()
        {
            for v in values.iter() {
                let v = v.trim_end_matches(['\0', ' ']);
                if !v.is_empty() && !is_well_known_uid(v) {
                    found(&path, v);
                }
            }
        }
    }
}
