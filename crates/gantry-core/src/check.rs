//! The check of one instance, shared by audit (checkpoint 4), verify (checkpoint 8) and
//! export's safe gate: at the audit stage, the findings in the original header and pixels
//! and the instance's plan, from one decode; at the verify stage, the findings in what
//! export would write (the de-identified header, checked against the original, and the
//! pixels searched again after redaction). The audit keeps with each plan what verify
//! needs of the original, so verify decodes only the header export writes.

use std::time::Instant;

use dicom_core::Tag;
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
                                        let json = gantry_store::StoreError::json(
                                            "findings",
                                            &crate::risk::FindingsSummary::of(findings),
                                        )?;
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
                                            &crate::risk::FindingsSummary {
                                                by_action: Default::default(),
                                                blocks: vec![error.to_string()],
                                            },
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

/// What verify needs of an original header besides the plan's de-identified header, kept
/// with the plan ([`gantry_store::InstancePlan::expected`]).
#[derive(serde::Serialize, serde::Deserialize)]
struct Expected {
    /// The patient key the identities were looked up by.
    patient: String,
    /// The digest of that patient's identity, and of everyone's, when it was made.
    identity: [u8; 32],
    everyone: [u8; 32],
    /// SHA-256 of the encoded header the findings were made in (the plan's).
    header: [u8; 32],
    /// The rules' findings in the plan's de-identified header, checked against the original.
    findings: Vec<ElementFinding>,
    /// The paths of keyed outputs in it, each with the part of it a person chose.
    generated: Vec<(TagPath, String)>,
    /// The original's UIDs, sorted.
    uids: Vec<String>,
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
    ///
    /// At verify, an instance whose plan stands for its original is checked from the plan
    /// ([`CheckContext::check_planned`]): only the header export writes is decoded.
    pub fn check(
        &self,
        stored: &StoredInstance,
    ) -> std::result::Result<Vec<ElementFinding>, InstanceError> {
        if self.stage == Stage::Verify
            && let Some(planned) = self.check_planned(stored)
        {
            return planned;
        }
        self.check_original(stored)
    }

    /// [`CheckContext::check`] from a decode of the original header.
    pub(crate) fn check_original(
        &self,
        stored: &StoredInstance,
    ) -> std::result::Result<Vec<ElementFinding>, InstanceError> {
        let original = crate::header::decode_instance(stored)
            .map_err(InstanceError::Original)?
            .0;
        self.check_decoded(stored, &original, &mut None)
    }

    /// What verify will need of `original` besides the plan's de-identified header
    /// (`deidentified`, as made, and as encoded), made at audit from its one decode: the
    /// rules' findings in that header checked against the original, the paths of keyed
    /// outputs, the original's UIDs, and the identities all that was made with. `None`
    /// when it cannot be made (verify then decodes the original).
    fn expected(
        &self,
        stored: &StoredInstance,
        original: &InMemDicomObject,
        (deidentified, encoded): (&InMemDicomObject, &[u8]),
    ) -> Option<Vec<u8>> {
        let key = patient_key(original);
        let patient = self.prepared.patient(&key)?;
        let (findings, generated) =
            self.engine
                .check_generated(deidentified, original, &sop_class(original), patient);
        let expected = Expected {
            patient: key,
            identity: patient.identity_digest,
            everyone: self.prepared.everyone_digest,
            header: Sha256::digest(encoded).into(),
            findings,
            generated,
            uids: original_uids(self, stored, original),
        };
        serde_json::to_vec(&expected).ok()
    }

    /// The verify check of `stored` from its plan: the header export writes, decoded
    /// once, checked by the rules' findings audit made in the plan's de-identified header
    /// against the original (the elements describing redacted pixels, laid over it since,
    /// checked now), by everything that needs of the original only its UIDs (kept with
    /// the plan), and, for the pixels, by the few original attributes the pixel plan
    /// reads. `None` when the plan cannot stand for the original: missing, stale, made for
    /// other identities, or not the header anonymize stored (the seal aside); the
    /// original is then decoded.
    pub(crate) fn check_planned(
        &self,
        stored: &StoredInstance,
    ) -> Option<std::result::Result<Vec<ElementFinding>, InstanceError>> {
        let plan = stored.plan.as_ref()?;
        if plan.basis != crate::plan::basis(&self.prepared.fingerprint, self.prepared.generation) {
            return None;
        }
        let expected: Expected = serde_json::from_slice(plan.expected.as_deref()?).ok()?;
        let key = crate::identity::patient_key_of(&stored.record)?;
        let patient = self.prepared.patient(&key)?;
        if expected.patient != key
            || expected.identity != patient.identity_digest
            || expected.everyone != self.prepared.everyone_digest
        {
            return None;
        }
        // What anonymize stored is the plan's header, byte for byte, with at most the seal
        // added, and the header the expected findings were made in; a seal where none is
        // required is for the rules to judge (decoded path).
        let blob = stored.deidentified.as_ref()?;
        let unsealed = gantry_store::subset_header(blob, |t| {
            t != gantry_crypto::ENCRYPTED_ATTRIBUTES_SEQUENCE
        })?;
        if unsealed != plan.deidentified
            || <[u8; 32]>::from(Sha256::digest(&unsealed)) != expected.header
            || (unsealed.len() != blob.len() && self.required_key.is_none())
        {
            return None;
        }
        // The pixel side reads the image pixel module, the device and what says whether
        // the image is at risk; float pixel data, where an image has no other, too.
        let reads = crate::pixels::plan_reads(&self.prepared.config)?;
        let part = crate::header::decode_instance_part(stored, |t| {
            reads(t) || t == Tag(0x7FE0, 0x0008) || t == Tag(0x7FE0, 0x0009)
        })
        .ok()?;
        let pixel_plan = crate::pixels::plan(&self.prepared.config, &part, &stored.record);
        // Overlay planes and icons kept are searched in the original: decoded whole.
        if pixel_plan.overlays_kept || pixel_plan.icons_kept {
            return None;
        }
        let laid = match &stored.redacted {
            Some(r) if !r.attributes.is_empty() => {
                match crate::pixels::redacted_attributes(&r.attributes) {
                    Ok(laid) => laid,
                    Err(e) => return Some(Err(e)),
                }
            }
            _ => InMemDicomObject::new_empty(),
        };
        // The elements laid over the plan's header are checked against the original's
        // values, which the pixel side read: only while they are among those.
        if laid.iter().any(|e| !reads(e.header().tag)) {
            return None;
        }
        Some(self.check_expected(stored, (blob, expected, &laid), &part, patient, &pixel_plan))
    }

    /// [`CheckContext::check_planned`] once the plan is known to stand for the original.
    fn check_expected(
        &self,
        stored: &StoredInstance,
        (blob, expected, laid): (&[u8], Expected, &InMemDicomObject),
        part: &InMemDicomObject,
        patient: &PatientContext,
        pixel_plan: &crate::pixels::PixelPlan<'_>,
    ) -> std::result::Result<Vec<ElementFinding>, InstanceError> {
        let mut current =
            crate::header::decode_deidentified(blob).map_err(InstanceError::Deidentified)?;
        for element in laid.iter() {
            current.put(element.clone());
        }
        let sealed = self.required_key.is_some()
            && current.remove_element(gantry_crypto::ENCRYPTED_ATTRIBUTES_SEQUENCE);
        let (mut findings, mut generated) = (expected.findings, expected.generated);
        if laid.iter().next().is_some() {
            let at_laid = |path: &TagPath| path.top().is_some_and(|t| laid.get(t).is_some());
            findings.retain(|f| !at_laid(&f.path));
            generated.retain(|(path, _)| !at_laid(path));
            let (more, more_generated) =
                self.engine
                    .check_generated(laid, part, &sop_class(part), patient);
            findings.extend(more);
            generated.extend(more_generated);
            // In the order a walk of the whole header gives: by top-level tag.
            findings.sort_by_key(|f| f.path.top());
        }
        independent_findings(
            self,
            (&current, sealed),
            &expected.uids,
            (patient, &generated),
            &mut findings,
        );
        let searched_clean = stored.plan.as_ref().and_then(|p| p.pixels_clean.as_deref());
        let identify = |text: &str| self.engine.holds(text, patient);
        findings.extend(crate::pixels::findings(
            pixel_plan,
            &stored.record,
            part,
            (stored.redacted.as_ref(), stored.redact_failure.as_deref()),
            self.sidecar,
            (true, &identify),
            (searched_clean, &mut None),
        ));
        Ok(findings)
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
                crate::plan::make_decoded(
                    self.prepared,
                    self.engine,
                    self.engine.rules,
                    (&original, raw.as_ref()),
                    basis,
                )
                .ok()
            })
            .flatten()
            .map(|(plan, deidentified)| gantry_store::InstancePlan {
                pixels_clean: pixels_clean.map(|k| k.to_vec()),
                expected: self.expected(stored, &original, (&deidentified, &plan.deidentified)),
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
    let original_uids = original_uids(context, stored, original);
    independent_findings(
        context,
        (&current, sealed),
        &original_uids,
        (patient, &generated),
        &mut findings,
    );
    Ok(findings)
}

/// The original's UIDs (sorted, each once; none under Retain UIDs): what must not leave
/// in a UI element or in text.
fn original_uids(
    context: &CheckContext<'_>,
    stored: &StoredInstance,
    original: &InMemDicomObject,
) -> Vec<String> {
    let mut uids = Vec::new();
    if context
        .prepared
        .config
        .has_option(crate::settings::ProfileOption::RetainUids)
    {
        return uids;
    }
    collect_uids(original, None, &mut |_, v| uids.push(v.to_string()));
    // A `keep_all` copy is read with a UID of its own: the UID its file really has is
    // an original UID all the same, and must not leave anywhere.
    if crate::header::copy_uid(&stored.record.sop_instance_uid).is_some()
        && let Some((file_uid, _)) = stored.record.sop_instance_uid.split_once('#')
    {
        uids.push(file_uid.to_string());
    }
    uids.sort();
    uids.dedup();
    uids
}

/// The checks of the header export writes (`current`, its seal taken out; `sealed` says
/// whether it had one) that need nothing of the original but its UIDs, added to the
/// rules' `findings`: the de-identification markers, original UIDs in UI elements,
/// verify's independent scan of every value, and the seal.
fn independent_findings(
    context: &CheckContext<'_>,
    (current, sealed): (&InMemDicomObject, bool),
    original_uids: &[String],
    (patient, generated): (&PatientContext, &[(TagPath, String)]),
    findings: &mut Vec<ElementFinding>,
) {
    findings.extend(marker_findings(current));
    findings.extend(surviving_uids(current, original_uids));
    let original_uids = crate::engine::OriginalUids::new(original_uids);
    // The independent scan: a place already reported is not reported twice.
    for extra in context
        .engine
        .scan_exported(current, &original_uids, patient, generated)
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
}

/// The header an instance is exported with: the de-identified header, with the elements
/// that describe its redacted pixels laid over it.
pub(crate) fn final_header(
    deidentified: &[u8],
    redacted: Option<&gantry_store::RedactedPixels>,
) -> std::result::Result<InMemDicomObject, InstanceError> {
    let mut header =
        crate::header::decode_deidentified(deidentified).map_err(InstanceError::Deidentified)?;
    if let Some(r) = redacted {
        crate::pixels::overlay(&mut header, &r.attributes)?;
    }
    Ok(header)
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::KeyFile;

    /// Verify from the plan finds exactly what verify from a decode of the original finds,
    /// instance by instance, on the synthetic dump (machine rules, so redacted pixels with
    /// their attributes laid over the header), the adversarial corpus (character sets,
    /// UN-encoded attributes, nested sequences, echoes) and pydicom's files, under configs
    /// that keep free text, retain UIDs or shift dates, sealed or not. It stands in for the
    /// original nearly always, and never when what it rests on changed.
    #[test]
    fn verify_from_the_plan_finds_what_verify_from_the_original_finds() {
        let dir = tempfile::tempdir().unwrap();
        let source = dir.path().join("source");
        let dump = gantry_synth::generate(
            &source.join("dump"),
            &gantry_synth::DumpSpec::many_small_files(60),
        )
        .unwrap();
        gantry_synth::write_adversarial(&source.join("adversarial")).unwrap();
        let pydicom =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/data/pydicom");
        std::fs::create_dir_all(source.join("pydicom")).unwrap();
        for entry in std::fs::read_dir(&pydicom).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "dcm") {
                std::fs::copy(
                    &path,
                    source.join("pydicom").join(path.file_name().unwrap()),
                )
                .unwrap();
            }
        }
        let configs = [
            (
                format!(
                    "version: \"2.0\"\nphi_tags:\n  ImageComments: {{ action: KEEP }}\n{}",
                    dump.machine_rules()
                ),
                true,
            ),
            (
                format!(
                    // Burned In Annotation removed: the redaction's own, laid over the
                    // header after audit, is then a finding the plan cannot hold.
                    "version: \"2.0\"\nprofile_options: [retain_uids, retain_longitudinal_modified_dates, clean_descriptors]\nphi_tags:\n  BurnedInAnnotation: {{ action: REMOVE }}\n{}",
                    dump.machine_rules()
                ),
                false,
            ),
            ("version: \"2.0\"\n".to_string(), true),
        ];
        for (n, (config, sealed)) in configs.iter().enumerate() {
            let work = dir.path().join(format!("run{n}"));
            std::fs::create_dir_all(&work).unwrap();
            let mut session = Session::builder()
                .database(work.join("gantry.db"))
                .open()
                .unwrap();
            session.ingest(&source).unwrap();
            std::fs::write(work.join("config.yaml"), config).unwrap();
            session.load_config(work.join("config.yaml")).unwrap();
            session.audit().unwrap();
            if *sealed {
                session
                    .enable_reversible_anonymization(
                        KeyFile::create_or_open(work.join("master.key")).unwrap(),
                    )
                    .unwrap();
                session.preserve_identities().unwrap();
            }
            session.anonymize_metadata().unwrap();
            let redacted = session.redact_pixels().unwrap();

            let prepared = session.prepare().unwrap();
            let rules = prepared.rules();
            let engine = prepared.engine(&rules);
            let required_key = session.required_key_id().unwrap();
            session.sidecar().unwrap();
            let sidecar = session.sidecar.take();
            let context = CheckContext {
                stage: Stage::Verify,
                engine: &engine,
                prepared: &prepared,
                sidecar: sidecar.as_ref(),
                required_key: required_key.as_deref(),
            };
            let instances = session.store.instances_after(0, 100_000).unwrap();
            let (mut planned, mut overlaid, mut with_findings) = (0, 0, 0);
            for stored in &instances {
                let from_original = context.check_original(stored);
                let Some(from_plan) = context.check_planned(stored) else {
                    continue;
                };
                assert_eq!(
                    format!("{from_plan:?}"),
                    format!("{from_original:?}"),
                    "config {n}, {}",
                    stored.record.source_path.display()
                );
                planned += 1;
                overlaid += stored.redacted.is_some() as usize;
                with_findings += from_original.is_ok_and(|f| !f.is_empty()) as usize;

                // What the plan rests on, changed: the original is decoded instead.
                let mut changed = stored.clone();
                if let Some(blob) = changed.deidentified.as_mut() {
                    // In the first element: its value, or its length.
                    blob[9] ^= 0x20;
                }
                assert!(
                    context.check_planned(&changed).is_none(),
                    "a changed header"
                );
                let mut changed = stored.clone();
                if let (Some(plan), Some(blob)) =
                    (changed.plan.as_mut(), changed.deidentified.as_mut())
                {
                    plan.deidentified[9] ^= 0x20;
                    blob[9] ^= 0x20;
                }
                assert!(
                    context.check_planned(&changed).is_none(),
                    "a header changed with its plan"
                );
                let mut changed = stored.clone();
                if let Some(plan) = changed.plan.as_mut() {
                    plan.basis[0] ^= 1;
                }
                assert!(context.check_planned(&changed).is_none(), "a stale plan");
            }
            assert!(
                planned * 10 >= instances.len() * 9,
                "config {n}: {planned} of {} checked from the plan",
                instances.len()
            );
            if n < 2 {
                assert!(
                    redacted.redacted > 0 && overlaid > 0,
                    "config {n}: {redacted}"
                );
            }
            assert!(
                with_findings > 0,
                "config {n}: no instance had a finding to compare"
            );
        }
    }
}
