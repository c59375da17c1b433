use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use dicom_core::dictionary::{DataDictionary, DataDictionaryEntry};
use dicom_dictionary_std::StandardDataDictionary;
use gantry_store::InstanceRecord;
use serde::{Deserialize, Serialize};

use crate::engine::ElementFinding;
use crate::error::InstanceError;
use crate::report::duration_secs;

/// Which checkpoint produced a report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    /// Checkpoint 4, on the original headers.
    Audit,
    /// Checkpoint 8, on the de-identified headers.
    Verify,
}

impl Stage {
    /// The stage's name in the store.
    pub fn as_str(self) -> &'static str {
        match self {
            Stage::Audit => "audit",
            Stage::Verify => "verify",
        }
    }
}

/// One finding, with the instance it is in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Finding {
    /// The instance's row id in the store.
    pub instance: i64,
    /// The instance's original SOP Instance UID.
    pub sop_instance_uid: String,
    /// Its modality.
    pub modality: Option<String>,
    /// What was found.
    #[serde(flatten)]
    pub element: ElementFinding,
}

/// An instance that could not be checked at all (a failure, which is never clean).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Unreadable {
    /// The instance's original SOP Instance UID.
    pub sop_instance_uid: String,
    /// Why.
    pub detail: String,
}

impl Unreadable {
    /// Writes `  {label} {uid}: {detail}` for each, the way every report lists them.
    pub(crate) fn list(
        f: &mut fmt::Formatter<'_>,
        label: &str,
        items: &[Unreadable],
    ) -> fmt::Result {
        for item in items {
            writeln!(f, "  {label} {}: {}", item.sop_instance_uid, item.detail)?;
        }
        Ok(())
    }
}

/// How many examples a report keeps (each instance's findings are summarised in the store).
const EXAMPLES: usize = 200;

/// The findings of an audit or a verify: counts by rule, tag, modality and action, and
/// examples. Each instance's findings are kept in the database as their summary (counts
/// per action, and why each that blocks does), and the report itself too:
/// [`crate::Session::last_audit`] reads it back (without its examples).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RiskReport {
    /// The report's row in the store.
    pub id: i64,
    /// The edition of the confidentiality profile table the rules come from.
    #[serde(default)]
    pub profile: String,
    /// Audit or verify.
    pub stage: Stage,
    /// Identifies the config and secret it was made with.
    pub fingerprint: String,
    /// Identifies the config alone (empty in reports of earlier versions).
    #[serde(default)]
    pub config_digest: String,
    /// Instances checked.
    pub instances: u64,
    /// Instances with at least one finding.
    pub instances_with_findings: u64,
    /// Findings in all.
    pub findings: u64,
    /// Findings per rule.
    pub by_rule: BTreeMap<String, u64>,
    /// Findings per tag (the element's own tag, at any depth).
    pub by_tag: BTreeMap<String, u64>,
    /// Findings per modality.
    pub by_modality: BTreeMap<String, u64>,
    /// Findings per action.
    pub by_action: BTreeMap<String, u64>,
    /// Findings deeper than the top level (inside sequences).
    pub nested: u64,
    /// The first findings, as examples.
    #[serde(skip_deserializing)]
    pub examples: Vec<Finding>,
    /// The first findings no action resolves (`block`: what export will refuse unless
    /// the config changes), whatever the examples hold; `gantry audit --instances` lists
    /// every one.
    #[serde(default)]
    pub blocks: Vec<Finding>,
    /// Findings that block, in all.
    #[serde(default)]
    pub blocking: u64,
    /// The attributes the config's `phi_tags` keep as they are (`KEEP`): not findings, so
    /// listed here, so that nothing the config lets through is silent.
    #[serde(default)]
    pub kept_by_config: Vec<String>,
    /// Instances that could not be checked.
    pub unreadable: Vec<Unreadable>,
    /// Findings the config's waivers accepted (verify): they do not block, and are not
    /// counted in `findings`.
    #[serde(default)]
    pub waived: u64,
    /// Those findings per waiver reason.
    #[serde(default)]
    pub by_waiver: BTreeMap<String, u64>,
    /// Wall-clock time.
    #[serde(
        serialize_with = "duration_secs",
        deserialize_with = "crate::report::secs_duration"
    )]
    pub duration: Duration,
}

impl RiskReport {
    pub(crate) fn new(stage: Stage, fingerprint: String) -> RiskReport {
        RiskReport {
            id: 0,
            profile: crate::settings::PROFILE_EDITION.to_string(),
            stage,
            fingerprint,
            config_digest: String::new(),
            instances: 0,
            instances_with_findings: 0,
            findings: 0,
            by_rule: BTreeMap::new(),
            by_tag: BTreeMap::new(),
            by_modality: BTreeMap::new(),
            by_action: BTreeMap::new(),
            nested: 0,
            examples: Vec::new(),
            blocks: Vec::new(),
            blocking: 0,
            kept_by_config: Vec::new(),
            unreadable: Vec::new(),
            waived: 0,
            by_waiver: BTreeMap::new(),
            duration: Duration::ZERO,
        }
    }

    /// Counts the findings waivers accepted in one instance.
    pub(crate) fn add_waived(&mut self, waived: &[crate::waiver::WaivedFinding]) {
        for w in waived {
            self.waived += 1;
            *self.by_waiver.entry(w.reason.clone()).or_default() += 1;
        }
    }

    pub(crate) fn add(
        &mut self,
        record: &InstanceRecord,
        outcome: Result<Vec<ElementFinding>, InstanceError>,
    ) {
        self.instances += 1;
        let findings = match outcome {
            Ok(findings) => findings,
            Err(error) => {
                self.unreadable.push(Unreadable {
                    sop_instance_uid: record.sop_instance_uid.clone(),
                    detail: error.to_string(),
                });
                return;
            }
        };
        if findings.is_empty() {
            return;
        }
        self.instances_with_findings += 1;
        let modality = record.modality.as_deref().unwrap_or("(none)");
        count(&mut self.by_modality, modality, findings.len() as u64);
        // Most keys are counted already: each is only looked up, not allocated.
        let mut tag = String::new();
        for finding in findings {
            self.findings += 1;
            count(&mut self.by_rule, finding.rule.label(), 1);
            count(&mut self.by_action, finding.action.label(), 1);
            tag.clear();
            match finding.path.tag() {
                Some(t) => write_tag_name(&mut tag, t),
                None => tag.push_str("(whole header)"),
            }
            count(&mut self.by_tag, &tag, 1);
            if finding.path.depth() > 0 {
                self.nested += 1;
            }
            if finding.action == crate::rules::Planned::Block {
                self.blocking += 1;
                if self.blocks.len() < EXAMPLES {
                    self.blocks.push(Finding {
                        instance: record.id,
                        sop_instance_uid: record.sop_instance_uid.clone(),
                        modality: record.modality.clone(),
                        element: finding.clone(),
                    });
                }
            }
            if self.examples.len() < EXAMPLES {
                self.examples.push(Finding {
                    instance: record.id,
                    sop_instance_uid: record.sop_instance_uid.clone(),
                    modality: record.modality.clone(),
                    element: finding,
                });
            }
        }
    }

    /// No finding, and every instance could be checked.
    pub fn is_clean(&self) -> bool {
        self.findings == 0 && self.unreadable.is_empty()
    }
}

/// Adds `n` to the count of `key`.
fn count(counts: &mut BTreeMap<String, u64>, key: &str, n: u64) {
    match counts.get_mut(key) {
        Some(c) => *c += n,
        None => {
            counts.insert(key.to_string(), n);
        }
    }
}

/// What is kept of one instance's findings at a stage, and all a listing of them reads:
/// how many there are per action, and why each that blocks does (never a value). A few
/// dozen bytes where the findings themselves, values and paths, were kilobytes; `gantry
/// show` derives them whole again for one instance.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct FindingsSummary {
    /// Findings per action (`remove`, `pseudonym`, `redact pixels`, ...).
    pub by_action: BTreeMap<String, u64>,
    /// [`block_reason`] of each finding that blocks.
    pub blocks: Vec<String>,
}

impl FindingsSummary {
    /// The summary of `findings`.
    pub fn of(findings: &[ElementFinding]) -> FindingsSummary {
        let mut summary = FindingsSummary::default();
        for finding in findings {
            *summary
                .by_action
                .entry(finding.action.label().to_string())
                .or_default() += 1;
            if finding.action == crate::rules::Planned::Block {
                summary.blocks.push(block_reason(finding));
            }
        }
        summary
    }
}

/// Why a finding blocks an instance, as the export report, `show` and the HTML report
/// give it: the tag path and keyword (or the pixel region, in Gantry's own sentence), the
/// rule that fired and its action, and the config change or command that resolves it.
/// Never the value.
pub(crate) fn block_reason(finding: &ElementFinding) -> String {
    let (place, fix) = if finding.rule == crate::rules::RuleSource::PixelRisk {
        (
            format!("pixels: {}", finding.value),
            pixel_fix(&finding.value),
        )
    } else {
        match finding.path.tag() {
            Some(tag) => (
                format!("{} {}", finding.path, keyword(tag)),
                header_fix(finding, tag),
            ),
            None => (
                format!("(whole header) {}", finding.value),
                match finding.value.as_str() {
                    "(not de-identified)" => "run `gantry anonymize`".to_string(),
                    _ => "look at the instance with `gantry show`; it cannot be made safe as it is"
                        .to_string(),
                },
            ),
        }
    };
    if finding.rule == crate::rules::RuleSource::PixelRisk {
        format!("{place}; fix: {fix}")
    } else {
        format!(
            "{} {}: {} ({}); fix: {fix}",
            place.trim_end(),
            finding.vr,
            finding.rule.label(),
            finding.action.label()
        )
    }
}

/// A tag as reports name it: `(0010,0040) PatientSex`.
pub(crate) fn tag_name(tag: dicom_core::Tag) -> String {
    let mut name = String::new();
    write_tag_name(&mut name, tag);
    name
}

/// [`tag_name`], written at the end of `out`.
fn write_tag_name(out: &mut String, tag: dicom_core::Tag) {
    use std::fmt::Write;
    let _ = write!(out, "{tag} {}", keyword(tag));
}

/// The dictionary keyword of a tag (`private` for private tags it does not know).
pub(crate) fn keyword(tag: dicom_core::Tag) -> &'static str {
    StandardDataDictionary
        .by_tag(tag)
        .map(|e| e.alias())
        .unwrap_or(if tag.group() % 2 == 1 { "private" } else { "" })
}

/// What resolves a finding in a header value.
fn header_fix(finding: &ElementFinding, tag: dicom_core::Tag) -> String {
    if finding.path.tag() == Some(gantry_crypto::ENCRYPTED_ATTRIBUTES_SEQUENCE)
        && finding.rule == crate::rules::RuleSource::IdentityMarker
    {
        return "seal the originals: `gantry lock --key FILE`, then anonymize again".into();
    }
    format!(
        "remove it with `phi_tags: {{\"{:04X},{:04X}\": {{action: REMOVE}}}}`, or, once a person has \
         looked, accept it with a waiver `{{path: \"{}\", rule: {}, reason: ...}}`",
        tag.group(),
        tag.element(),
        finding.path,
        finding.rule.label()
    )
}

/// What resolves a pixel finding, from Gantry's sentence about it.
fn pixel_fix(sentence: &str) -> String {
    let fix = if sentence.contains("no machine rule matches") {
        "add a machine rule for the device with its zones (`gantry config init` proposes them \
         from the text it finds), attest `burned_in_text: none` once a person has looked at its \
         images, or let the text detector decide (`pixel_policy: detect`)"
    } else if sentence.contains("lists no zone") {
        "add the device's zones to that rule, or attest `burned_in_text: none` once a person \
         has looked at its images"
    } else if sentence.contains("text detector finds") {
        "add the proposed zones to the device's machine rule, or blank what the detector finds \
         (`pixel_policy: redact_detected`); text in the pixels is never waivable"
    } else if sentence.contains("run redact") || sentence.contains("redact failed") {
        "run `gantry redact` (and see its report for a failure)"
    } else if sentence.contains("float pixel data") {
        "no zone and no text search reaches float pixel data: leave the instance out of the \
         dump; it stays blocked"
    } else if sentence.contains("no decoder") || sentence.contains("cannot be") {
        "use a build with the codec (JPEG-LS: cargo feature `charls`), or convert the file to \
         a syntax this build decodes; until its pixels are searched it stays blocked"
    } else {
        "look at the image with `gantry show`; until its pixels are searched and clean it stays \
         blocked"
    };
    fix.to_string()
}

/// A value as the human report shows it: enough to recognise, not to read.
pub fn mask(value: &str) -> String {
    let chars: Vec<char> = value.chars().collect();
    match chars.len() {
        0 => String::new(),
        1..=2 => "*".repeat(chars.len()),
        n => format!(
            "{}{}{} ({n} chars)",
            chars[0],
            "*".repeat((n - 2).min(8)),
            chars[n - 1]
        ),
    }
}

impl fmt::Display for RiskReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let verdict = if self.is_clean() {
            "CLEAN"
        } else {
            "NOT CLEAN"
        };
        writeln!(
            f,
            "{} of {} instances in {:.2} s: {verdict}",
            match self.stage {
                Stage::Audit => "Audit",
                Stage::Verify => "Verify",
            },
            self.instances,
            self.duration.as_secs_f64()
        )?;
        writeln!(f, "  rules: {}", self.profile)?;
        writeln!(
            f,
            "  {} findings in {} instances ({} inside sequences)",
            self.findings, self.instances_with_findings, self.nested
        )?;
        let section = |f: &mut fmt::Formatter<'_>,
                       title: &str,
                       map: &BTreeMap<String, u64>,
                       limit: usize|
         -> fmt::Result {
            if map.is_empty() {
                return Ok(());
            }
            writeln!(f, "  by {title}")?;
            let mut rows: Vec<(&String, &u64)> = map.iter().collect();
            rows.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
            for (key, count) in rows.iter().take(limit) {
                writeln!(f, "    {key:<48} {count:>8}")?;
            }
            if rows.len() > limit {
                writeln!(f, "    ... and {} more", rows.len() - limit)?;
            }
            Ok(())
        };
        section(f, "rule", &self.by_rule, 20)?;
        section(f, "action", &self.by_action, 20)?;
        section(f, "modality", &self.by_modality, 20)?;
        section(f, "tag", &self.by_tag, 25)?;
        if self.waived > 0 {
            writeln!(
                f,
                "  {} findings accepted by waivers (not counted above)",
                self.waived
            )?;
            section(f, "waiver", &self.by_waiver, 20)?;
        }
        if !self.examples.is_empty() {
            writeln!(f, "  examples (values masked)")?;
            for e in self.examples.iter().take(15) {
                let path = e.element.path.to_string();
                writeln!(
                    f,
                    "    {:<44} {:<3} {:<24} {:<16} {}",
                    if path.is_empty() {
                        "(header bytes)".to_string()
                    } else {
                        path
                    },
                    e.element.vr,
                    match e.element.rule {
                        // Gantry's own sentence, not a header value.
                        crate::rules::RuleSource::PixelRisk => e.element.value.clone(),
                        _ => mask(&e.element.value),
                    },
                    e.element.rule.label(),
                    e.element.action.label()
                )?;
            }
        }
        if self.blocking > 0 {
            writeln!(
                f,
                "  {} findings no action resolves (export blocks them unless the config changes); the first:",
                self.blocking
            )?;
            for b in self.blocks.iter().take(10) {
                writeln!(f, "    {}", block_reason(&b.element))?;
            }
        }
        if !self.kept_by_config.is_empty() {
            writeln!(
                f,
                "  kept as they are by the config (phi_tags KEEP; not findings): {}",
                self.kept_by_config.join(", ")
            )?;
        }
        for u in &self.unreadable {
            writeln!(
                f,
                "  could not check {}: {}",
                mask(&u.sop_instance_uid),
                u.detail
            )?;
        }
        Ok(())
    }
}
