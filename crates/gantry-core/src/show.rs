//! The preview of one instance, before anything changes: every attribute of its original
//! header with what de-identification does to it (the action, the rule that decides, the
//! value export writes), and whether export will write or block it, and why.
//!
//! The new values are read from the de-identified header audit's plan would write, not
//! predicted beside it: what the preview says is what anonymize does.

use std::collections::HashMap;
use std::fmt;
use std::path::PathBuf;

use dicom_core::VR;
use dicom_core::header::Header;
use dicom_core::value::Value;
use dicom_object::InMemDicomObject;
use dicom_object::mem::InMemElement;
use serde::Serialize;

use crate::check::{CheckContext, deidentified_findings};
use crate::engine::{ElementFinding, Engine, is_empty, is_length_element};
use crate::error::{GantryError, InstanceError, Result};
use crate::header::TagPath;
use crate::identity::patient_key;
use crate::prepared::sop_class;
use crate::risk::{Stage, block_reason, keyword, mask};
use crate::rules::{Planned, RuleSource};
use crate::session::Session;

/// What happened to an attribute, read from the original and the de-identified header
/// (not from the rule that asked for it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Written as it is.
    Kept,
    /// Written with another value.
    Changed,
    /// Written empty.
    Emptied,
    /// Not written.
    Removed,
    /// Written by Gantry; not in the original (the de-identification markers).
    Added,
}

impl Outcome {
    fn label(self) -> &'static str {
        match self {
            Outcome::Kept => "kept",
            Outcome::Changed => "changed",
            Outcome::Emptied => "emptied",
            Outcome::Removed => "removed",
            Outcome::Added => "added",
        }
    }
}

/// One attribute of the preview.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AttributePreview {
    /// Where it is.
    pub path: TagPath,
    /// Its keyword in the standard's dictionary (`private` or empty when it has none).
    pub name: String,
    /// Its VR.
    pub vr: String,
    /// Its value in the original (masked unless revealed); `None` when Gantry added it.
    pub original: Option<String>,
    /// What the rules ask for.
    pub action: Planned,
    /// Which rule decides (`None` for Group Length elements, which are never written).
    pub rule: Option<RuleSource>,
    /// What export writes.
    pub outcome: Outcome,
    /// The value export writes: Gantry's own values (pseudonyms, shifted dates, new UIDs,
    /// hashes, dummies, markers) in full; values from the original (kept, or text with
    /// parts removed) masked unless revealed; `None` when removed.
    pub new_value: Option<String>,
}

/// What export will do with the instance, as far as it can be told before anything
/// changes: the header anonymize will write is checked as verify checks it (sealing
/// aside), and the pixels by audit's findings. Text left in the pixels after redaction is
/// found only when verify searches the redacted pixels.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "verdict", rename_all = "snake_case")]
pub enum ExportVerdict {
    /// Export writes it.
    Write,
    /// Export writes it once redact has blanked these regions (and verify finds no text
    /// left).
    WriteAfterRedaction {
        /// What will be blanked.
        regions: Vec<String>,
    },
    /// The safe gate blocks it.
    Block {
        /// Why, each naming the tag path or pixel region.
        reasons: Vec<String>,
    },
}

/// Every attribute of one instance with its action and new value, and export's verdict:
/// [`Session::show`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct InstancePreview {
    /// The instance's row id.
    pub instance: i64,
    /// The file it was indexed from.
    #[serde(serialize_with = "crate::report::path_text")]
    pub source_path: PathBuf,
    /// Its modality.
    pub modality: Option<String>,
    /// Whether values from the original are shown unmasked.
    pub revealed: bool,
    /// Every attribute of the original at every depth, then those Gantry adds.
    pub attributes: Vec<AttributePreview>,
    /// What export will do.
    pub export: ExportVerdict,
    /// Findings in the header anonymize writes that the config's waivers accept.
    pub waived: Vec<crate::waiver::WaivedFinding>,
}

impl InstancePreview {
    /// The attribute at `path`, if the original or the de-identified header has one.
    pub fn attribute(&self, path: &TagPath) -> Option<&AttributePreview> {
        self.attributes.iter().find(|a| &a.path == path)
    }
}

impl Session {
    /// The preview of one instance, named by its SOP Instance UID or the path of its file:
    /// every attribute with its action, rule and new value, and whether export will write
    /// or block it, and why. Nothing is written to the database. Values from the original
    /// are masked unless `reveal`.
    pub fn show(&mut self, selector: &str, reveal: bool) -> Result<InstancePreview> {
        let ids = self.store.find_instances(selector)?;
        let Some(&id) = ids.first() else {
            return Err(GantryError::NoSuchInstance {
                selector: selector.to_string(),
            });
        };
        let stored = self
            .store
            .instances_after(id - 1, 1)?
            .into_iter()
            .next()
            .ok_or_else(|| GantryError::NoSuchInstance {
                selector: selector.to_string(),
            })?;
        let prepared = self.prepare()?;
        let rules = prepared.rules();
        let engine = prepared.engine(&rules);
        let basis = crate::plan::basis(&prepared.fingerprint, prepared.generation);
        let audit = CheckContext {
            stage: Stage::Audit,
            engine: &engine,
            prepared: &prepared,
            sidecar: None,
            required_key: None,
        };
        let failed = |source| GantryError::Preview {
            instance: id,
            source,
        };
        let (findings, plan) = audit.audit(&stored, &basis);
        let findings = findings.map_err(failed)?;
        let plan = plan.ok_or(failed(InstanceError::NoPlan))?;
        let original = crate::header::decode_instance(&stored)
            .map(|(original, _)| original)
            .map_err(|e| failed(InstanceError::Original(e)))?;
        let deidentified = crate::header::decode_deidentified(&plan.deidentified)
            .map_err(|e| failed(InstanceError::Deidentified(e)))?;

        let mut attributes = Vec::new();
        let context = Walk {
            engine: &engine,
            sop_class: sop_class(&original),
            findings: findings.iter().rev().map(|f| (f.path.clone(), f)).collect(),
            deidentified: &deidentified,
            reveal,
        };
        context.original(&original, None, None, &mut attributes, 0);
        added(&deidentified, &original, None, &mut attributes, 0);

        // The header export writes, checked as verify will check it.
        let verify = CheckContext {
            stage: Stage::Verify,
            ..audit
        };
        let patient = prepared
            .patient(&patient_key(&original))
            .ok_or(failed(InstanceError::PatientNotCollected))?;
        let planned = gantry_store::StoredInstance {
            deidentified: Some(plan.deidentified.clone()),
            redacted: None,
            ..stored.clone()
        };
        let left = deidentified_findings(&verify, &planned, &original, &context.sop_class, patient)
            .map_err(failed)?;
        let (left, waived) = verify.waive(&planned, left);
        let export = verdict(&findings, &left);
        Ok(InstancePreview {
            instance: id,
            source_path: stored.record.source_path.clone(),
            modality: stored.record.modality.clone(),
            revealed: reveal,
            attributes,
            export,
            waived,
        })
    }
}

/// Export's verdict from audit's findings (pixels, and what no action can fix) and the
/// findings left in the header anonymize writes.
fn verdict(audit: &[ElementFinding], left: &[ElementFinding]) -> ExportVerdict {
    let mut reasons = Vec::new();
    let mut regions = Vec::new();
    for finding in audit {
        match (&finding.rule, &finding.action) {
            (RuleSource::PixelRisk, Planned::Redact) => regions.push(finding.value.clone()),
            (_, Planned::Block) => reasons.push(block_reason(finding)),
            _ => {}
        }
    }
    for finding in left {
        let reason = block_reason(finding);
        if !reasons.contains(&reason) {
            reasons.push(reason);
        }
    }
    if !reasons.is_empty() {
        ExportVerdict::Block { reasons }
    } else if !regions.is_empty() {
        ExportVerdict::WriteAfterRedaction { regions }
    } else {
        ExportVerdict::Write
    }
}

/// VRs whose values are numbers or tags: nothing a person can be read from.
fn is_numeric(vr: VR) -> bool {
    matches!(
        vr,
        VR::US | VR::SS | VR::UL | VR::SL | VR::FL | VR::FD | VR::AT | VR::SV | VR::UV
    )
}

/// A value as the preview shows it, cut to 64 characters: sequences and binary data by
/// their size, text as text.
fn render(element: &InMemElement) -> (String, bool) {
    let value = match element.value() {
        Value::Sequence(s) => {
            let n = s.items().len();
            return (
                format!("({n} item{})", if n == 1 { "" } else { "s" }),
                false,
            );
        }
        Value::PixelSequence(s) => {
            return (format!("({} fragments)", s.fragments().len()), false);
        }
        Value::Primitive(p) => p,
    };
    let binary = matches!(
        element.vr(),
        VR::OB | VR::OW | VR::OF | VR::OD | VR::OL | VR::OV | VR::UN
    );
    if binary {
        let bytes = value.to_bytes();
        let text = String::from_utf8(bytes.to_vec()).ok().filter(|t| {
            t.trim_end_matches(['\0', ' '])
                .chars()
                .all(|c| !c.is_control() || c == '\n' || c == '\r' || c == '\t')
        });
        return match text {
            Some(text) if !text.is_empty() => (cut(text.trim_end_matches(['\0', ' '])), true),
            _ => (format!("({} bytes)", bytes.len()), false),
        };
    }
    let text = value.to_str();
    (cut(text.trim_end_matches(['\0', ' '])), true)
}

fn cut(text: &str) -> String {
    cut_to(text, 64)
}

/// What walking the original needs.
struct Walk<'a> {
    engine: &'a Engine<'a>,
    sop_class: String,
    /// Audit's findings by path (the first at each).
    findings: HashMap<TagPath, &'a ElementFinding>,
    deidentified: &'a InMemDicomObject,
    reveal: bool,
}

impl Walk<'_> {
    /// `value` as shown: masked unless revealed, when it is a value (not a size) that a
    /// person could be read from.
    fn shown(&self, (value, is_value): (String, bool), vr: VR) -> String {
        if self.reveal || !is_value || is_numeric(vr) {
            value
        } else {
            mask(&value)
        }
    }

    /// The rows of `object`'s elements. `removed`: the action and rule that remove the
    /// sequence `object` is an item of (its elements go with it, whatever their own rule).
    fn original(
        &self,
        object: &InMemDicomObject,
        parent: Option<(&TagPath, usize)>,
        removed: Option<(&Planned, &Option<RuleSource>)>,
        out: &mut Vec<AttributePreview>,
        depth: usize,
    ) {
        for element in object.iter() {
            let tag = element.tag();
            let path = TagPath::under(parent, tag);
            let (vr, decision) = self.engine.decision(object, element, &self.sop_class);
            let (action, rule) = if let Some((action, rule)) = removed {
                (action.clone(), rule.clone())
            } else if is_length_element(tag) {
                (Planned::Remove, None)
            } else if let Some(finding) = self.findings.get(&path) {
                (finding.action.clone(), Some(finding.rule.clone()))
            } else {
                (decision.planned.clone(), Some(decision.source.clone()))
            };
            let now = path.resolve(self.deidentified);
            let outcome = match now {
                None => Outcome::Removed,
                Some(now) if now == element => Outcome::Kept,
                Some(now) if is_empty(now) && !is_empty(element) => Outcome::Emptied,
                Some(_) => Outcome::Changed,
            };
            let new_value = now.map(|now| {
                let rendered = render(now);
                let generated = outcome == Outcome::Changed
                    && matches!(
                        action,
                        Planned::Pseudonym
                            | Planned::Hash
                            | Planned::RemapUid
                            | Planned::Shift
                            | Planned::Replace(_)
                            | Planned::Dummy
                    );
                if generated {
                    rendered.0
                } else {
                    self.shown(rendered, vr)
                }
            });
            let row = AttributePreview {
                path: path.clone(),
                name: keyword(tag).to_string(),
                vr: vr.to_string().to_string(),
                original: Some(self.shown(render(element), vr)),
                action,
                rule,
                outcome,
                new_value,
            };
            let inherited =
                (outcome == Outcome::Removed).then(|| (row.action.clone(), row.rule.clone()));
            out.push(row);
            if let Some(items) = element.items()
                && depth < gantry_store::MAX_SEQUENCE_DEPTH
            {
                for (i, item) in items.iter().enumerate() {
                    let removed = inherited.as_ref().map(|(a, r)| (a, r));
                    self.original(item, Some((&path, i)), removed, out, depth + 1);
                }
            }
        }
    }
}

/// The attributes of `deidentified` that the original does not have at their path.
fn added(
    deidentified: &InMemDicomObject,
    original: &InMemDicomObject,
    parent: Option<(&TagPath, usize)>,
    out: &mut Vec<AttributePreview>,
    depth: usize,
) {
    for element in deidentified.iter() {
        let tag = element.tag();
        let path = TagPath::under(parent, tag);
        if path.resolve(original).is_none() {
            out.push(AttributePreview {
                path: path.clone(),
                name: keyword(tag).to_string(),
                vr: element.vr().to_string().to_string(),
                original: None,
                action: Planned::AddMarker,
                rule: Some(RuleSource::IdentityMarker),
                outcome: Outcome::Added,
                new_value: Some(render(element).0),
            });
        }
        if let Some(items) = element.items()
            && depth < gantry_store::MAX_SEQUENCE_DEPTH
        {
            for (index, item) in items.iter().enumerate() {
                added(item, original, Some((&path, index)), out, depth + 1);
            }
        }
    }
}

fn rule_label(rule: &Option<RuleSource>) -> String {
    match rule {
        None => "group length".into(),
        Some(RuleSource::Profile { code, resolved }) if code == resolved || code == "-" => {
            format!("profile {resolved}")
        }
        Some(RuleSource::Profile { code, resolved }) => format!("profile {code}→{resolved}"),
        Some(RuleSource::Config { action }) => format!("config {action}"),
        Some(rule) => rule.label().to_string(),
    }
}

impl fmt::Display for InstancePreview {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "instance {} ({}) from {}",
            self.instance,
            self.modality.as_deref().unwrap_or("no modality"),
            self.source_path.display()
        )?;
        match &self.export {
            ExportVerdict::Write => writeln!(f, "  export: WRITE")?,
            ExportVerdict::WriteAfterRedaction { regions } => {
                writeln!(f, "  export: WRITE once redact blanks")?;
                for region in regions {
                    writeln!(f, "    {region}")?;
                }
            }
            ExportVerdict::Block { reasons } => {
                writeln!(f, "  export: BLOCK")?;
                for reason in reasons {
                    writeln!(f, "    {reason}")?;
                }
            }
        }
        for waived in &self.waived {
            writeln!(f, "  waived: {}", waived.line())?;
        }
        writeln!(
            f,
            "  {:<52} {:<2} {:<26} {:<8} {:<26} rule",
            if self.revealed {
                "attribute (values revealed)"
            } else {
                "attribute (values masked)"
            },
            "VR",
            "original",
            "outcome",
            "new value",
        )?;
        for a in &self.attributes {
            let place = format!("{}{} {}", "  ".repeat(a.path.depth()), a.path, a.name);
            writeln!(
                f,
                "  {:<52} {:<2} {:<26} {:<8} {:<26} {} ({})",
                cut_to(&place, 52),
                a.vr,
                cut_to(a.original.as_deref().unwrap_or("-"), 26),
                a.outcome.label(),
                cut_to(a.new_value.as_deref().unwrap_or("-"), 26),
                rule_label(&a.rule),
                a.action.label(),
            )?;
        }
        Ok(())
    }
}

/// `text` in at most `width` characters (a table column that long values cannot break).
pub(crate) fn cut_to(text: &str, width: usize) -> String {
    if text.chars().count() <= width {
        text.to_string()
    } else {
        let mut out: String = text.chars().take(width.saturating_sub(1)).collect();
        out.push('…');
        out
    }
}
