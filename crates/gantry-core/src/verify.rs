//! Checkpoint 8, verify: the audit of the de-identified headers, plus checks that trust
//! nothing anonymize did: every rule satisfied again, no original UID left, no identifier
//! of the patient (or of anyone in the session) in any text or byte of the header, the
//! seal present, and the pixels searched again after redaction. The same check is export's
//! safe gate, which trusts a verdict only for the very inputs verify found clean.

use dicom_object::InMemDicomObject;
use gantry_store::StoredInstance;

use crate::audit::{CheckContext, RiskReport, Stage};
use crate::engine::{ElementFinding, PatientContext, marker_findings};
use crate::error::Result;
use crate::header::TagPath;
use crate::rules::{Planned, RuleSource, is_class_uid_tag, is_well_known_uid};
use crate::session::Session;

impl Session {
    /// Checkpoint 8 (metadata): audits the de-identified headers again. Clean means every
    /// rule is satisfied, no original UID survives, and no identifier of the patient is
    /// found anywhere in the header's text or bytes.
    pub fn verify(&mut self) -> Result<RiskReport> {
        let prepared = self.prepare()?;
        self.check(Stage::Verify, &prepared)
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
) -> std::result::Result<Vec<ElementFinding>, String> {
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
        .has_option(crate::config::ProfileOption::RetainUids)
    {
        collect_uids(original, None, &mut |_, v| {
            original_uids.push(v.to_string())
        });
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
) -> std::result::Result<InMemDicomObject, String> {
    let header = crate::header::decode_deidentified(deidentified)
        .map_err(|e| format!("de-identified header cannot be decoded: {e}"))?;
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
        let path = match parent {
            Some((p, i)) => p.child(i, tag),
            None => TagPath::root(tag),
        };
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
