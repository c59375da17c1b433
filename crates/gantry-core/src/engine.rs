//! Applying the rules to one header, and checking a header against them.
//!
//! `anonymize` builds the de-identified header from the original. `check` walks a header
//! (the original, for an audit; the de-identified one, for verify) and reports every
//! element whose current value is not what the rules ask for, given the original value at
//! the same tag path. On an original every action is still to do; after anonymize, none.

use dicom_core::header::Header;
use dicom_core::value::{DataSetSequence, PrimitiveValue, Value};
use dicom_core::{DataElement, Tag, VR};
use dicom_object::InMemDicomObject;
use dicom_object::mem::InMemElement;
use serde::Serialize;

use crate::dates::{shift_da, shift_dt};
use crate::header::TagPath;
use crate::identity::EchoMatcher;
use crate::pseudonym::Secret;
use crate::rules::{
    DatePolicy, Planned, RuleSource, Rules, dummy_text, effective_vr, is_text, is_well_known_uid,
    max_len,
};

/// What is known about the patient an object belongs to.
pub(crate) struct PatientContext {
    /// The patient's pseudonym (for Patient's Name and Patient ID).
    pub pseudonym: String,
    /// The date offset in days (0 when dates are not shifted).
    pub offset: i32,
    /// Every identifier of the patient, for echo searches.
    pub matcher: EchoMatcher,
    /// A digest of those identifiers: what a cached verification result depends on.
    pub identity_digest: [u8; 32],
}

/// One element that is not as the rules want it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ElementFinding {
    /// Where it is.
    pub path: TagPath,
    /// Its VR.
    pub vr: String,
    /// Its current value, cut to 64 characters.
    pub value: String,
    /// The rule that wants it changed.
    pub rule: RuleSource,
    /// What will be (or should have been) done.
    pub action: Planned,
}

pub(crate) struct Engine<'a> {
    pub rules: &'a Rules<'a>,
    pub secret: &'a Secret,
}

/// The text of an element, for comparisons and echo searches (UN as lossy UTF-8).
fn value_text(element: &InMemElement) -> Option<String> {
    match element.value() {
        Value::Primitive(PrimitiveValue::Empty) => Some(String::new()),
        Value::Primitive(p) if element.vr() == VR::UN || element.vr() == VR::OB => {
            Some(String::from_utf8_lossy(&p.to_bytes()).into_owned())
        }
        Value::Primitive(p) => Some(p.to_str().into_owned()),
        _ => None,
    }
}

fn trimmed(text: &str) -> &str {
    text.trim_matches(|c: char| c == '\0' || c == ' ')
}

fn is_empty(element: &InMemElement) -> bool {
    match element.value() {
        Value::Primitive(PrimitiveValue::Empty) => true,
        Value::Primitive(p) => p.to_bytes().iter().all(|b| *b == 0 || *b == b' '),
        Value::Sequence(s) => s.items().is_empty(),
        Value::PixelSequence(s) => s.fragments().is_empty(),
    }
}

/// The Private Creator reserving the block of a private element, in the same data set.
fn creator_of(object: &InMemDicomObject, tag: Tag) -> Option<String> {
    if tag.group().is_multiple_of(2) || tag.element() < 0x1000 {
        return None;
    }
    let creator = Tag(tag.group(), tag.element() >> 8);
    crate::header::text(object, creator)
}

impl Engine<'_> {
    /// The UIDs of a (possibly multi-valued) UI value, remapped; well-known ones kept.
    fn remap_uids(&self, value: &str) -> String {
        value
            .split('\\')
            .map(|v| {
                let v = trimmed(v);
                if v.is_empty() || is_well_known_uid(v) {
                    v.to_string()
                } else {
                    self.secret.uid(v)
                }
            })
            .collect::<Vec<_>>()
            .join("\\")
    }

    /// The shifted value of a date element; `None` when it must be emptied (not a date).
    fn shifted(&self, vr: VR, value: &str, patient: &PatientContext) -> Option<String> {
        match vr {
            VR::DA => shift_da(trimmed(value), patient.offset),
            VR::DT => shift_dt(trimmed(value), patient.offset),
            _ => Some(value.to_string()),
        }
    }

    fn hashed(&self, vr: VR, value: &str) -> String {
        match vr {
            VR::UI => self.remap_uids(value),
            _ => self.secret.hash_text(trimmed(value), max_len(vr)),
        }
    }

    /// The de-identified copy of `original` (markers are added by the caller).
    pub fn anonymize(
        &self,
        original: &InMemDicomObject,
        sop_class: &str,
        patient: &PatientContext,
    ) -> InMemDicomObject {
        self.apply(original, sop_class, patient, 0)
    }

    fn apply(
        &self,
        object: &InMemDicomObject,
        sop_class: &str,
        patient: &PatientContext,
        depth: usize,
    ) -> InMemDicomObject {
        let mut out = InMemDicomObject::new_empty();
        for element in object.iter() {
            let tag = element.tag();
            if is_length_element(tag) {
                // Retired group lengths would be wrong once elements are removed.
                continue;
            }
            let vr = effective_vr(tag, element.vr());
            let creator = creator_of(object, tag);
            let decision = overlong(
                element,
                vr,
                self.rules.decide(tag, vr, sop_class, creator.as_deref()),
            );
            let text = || value_text(element).unwrap_or_default();
            let put_text = |out: &mut InMemDicomObject, value: String| {
                out.put(DataElement::new(tag, vr, text_value(vr, value)));
            };
            match decision.planned {
                Planned::Remove => {}
                Planned::Empty => {
                    let value = if vr == VR::SQ {
                        Value::Sequence(DataSetSequence::empty())
                    } else {
                        Value::Primitive(PrimitiveValue::Empty)
                    };
                    out.put(DataElement::new(tag, vr, value));
                }
                Planned::Dummy => {
                    out.put(DataElement::new(tag, vr, dummy(vr)));
                }
                Planned::Replace(value) => put_text(&mut out, value),
                Planned::Hash => put_text(&mut out, self.hashed(vr, &text())),
                Planned::RemapUid => put_text(&mut out, self.remap_uids(&text())),
                Planned::Pseudonym => put_text(&mut out, patient.pseudonym.clone()),
                Planned::Shift => match self.shifted(vr, &text(), patient) {
                    Some(value) => put_text(&mut out, value),
                    None => {
                        out.put(DataElement::new(tag, vr, PrimitiveValue::Empty));
                    }
                },
                Planned::Recurse if depth < gantry_store::MAX_SEQUENCE_DEPTH => {
                    let items: Vec<InMemDicomObject> = element
                        .items()
                        .map(|items| {
                            items
                                .iter()
                                .map(|item| self.apply(item, sop_class, patient, depth + 1))
                                .collect()
                        })
                        .unwrap_or_default();
                    out.put(DataElement::new(tag, VR::SQ, DataSetSequence::from(items)));
                }
                Planned::Recurse => {} // deeper than any real object: dropped, not kept
                Planned::Clean | Planned::Keep if is_text(vr) => {
                    let value = text();
                    if patient.matcher.find(&value).is_some() {
                        put_text(&mut out, patient.matcher.clean(&value));
                    } else {
                        out.put(element.clone());
                    }
                }
                Planned::Clean
                | Planned::Keep
                | Planned::AddMarker
                | Planned::Redact
                | Planned::Block => {
                    out.put(element.clone());
                }
            }
        }
        out
    }

    /// Every element of `current` that is not as the rules want it, compared with the
    /// original at the same path.
    pub fn check(
        &self,
        current: &InMemDicomObject,
        original: &InMemDicomObject,
        sop_class: &str,
        patient: &PatientContext,
    ) -> Vec<ElementFinding> {
        let mut out = Vec::new();
        self.check_set(current, None, original, sop_class, patient, &mut out, 0);
        out
    }

    #[allow(clippy::too_many_arguments)]
    fn check_set(
        &self,
        object: &InMemDicomObject,
        parent: Option<(&TagPath, usize)>,
        original: &InMemDicomObject,
        sop_class: &str,
        patient: &PatientContext,
        out: &mut Vec<ElementFinding>,
        depth: usize,
    ) {
        for element in object.iter() {
            let tag = element.tag();
            if is_length_element(tag) {
                continue;
            }
            let vr = effective_vr(tag, element.vr());
            let path = match parent {
                Some((p, index)) => p.child(index, tag),
                None => TagPath::root(tag),
            };
            let creator = creator_of(object, tag);
            let decision = overlong(
                element,
                vr,
                self.rules.decide(tag, vr, sop_class, creator.as_deref()),
            );
            // Rendering a binary value as text is costly and rarely needed: only on demand.
            let current_cell = std::cell::OnceCell::new();
            let current = || current_cell.get_or_init(|| value_text(element));
            let original_text = || path.resolve(original).and_then(value_text);
            let mut finding = |rule: RuleSource, action: Planned| {
                let mut value = current().clone().unwrap_or_else(|| "(sequence)".into());
                if value.chars().count() > 64 {
                    value = value.chars().take(64).collect();
                }
                out.push(ElementFinding {
                    path: path.clone(),
                    vr: vr.to_string().to_string(),
                    value,
                    rule,
                    action,
                });
            };
            let same = |expected: Option<String>| match (current(), expected) {
                (Some(c), Some(e)) => trimmed(c) == trimmed(&e),
                _ => false,
            };
            match &decision.planned {
                Planned::Remove => finding(decision.source, decision.planned),
                Planned::Empty if !is_empty(element) => finding(decision.source, decision.planned),
                Planned::Dummy if !is_dummy(element) => finding(decision.source, decision.planned),
                Planned::Replace(value) if !same(Some(value.clone())) => {
                    finding(decision.source, decision.planned.clone())
                }
                Planned::Hash if !same(original_text().map(|o| self.hashed(vr, &o))) => {
                    finding(decision.source, decision.planned)
                }
                Planned::RemapUid if !same(original_text().map(|o| self.remap_uids(&o))) => {
                    finding(decision.source, decision.planned)
                }
                Planned::Pseudonym if !same(Some(patient.pseudonym.clone())) => {
                    finding(decision.source, decision.planned)
                }
                Planned::Shift if matches!(vr, VR::DA | VR::DT) => {
                    let expected =
                        original_text().map(|o| self.shifted(vr, &o, patient).unwrap_or_default());
                    if !is_empty(element) && !same(expected) {
                        finding(decision.source, decision.planned);
                    }
                }
                Planned::Recurse => {
                    if let Some(items) = element.items()
                        && depth < gantry_store::MAX_SEQUENCE_DEPTH
                    {
                        for (index, item) in items.iter().enumerate() {
                            self.check_set(
                                item,
                                Some((&path, index)),
                                original,
                                sop_class,
                                patient,
                                out,
                                depth + 1,
                            );
                        }
                    }
                }
                Planned::Clean | Planned::Keep if is_text(vr) => {
                    if let Some(kind) = current().as_deref().and_then(|v| patient.matcher.find(v)) {
                        let source = match decision.planned {
                            Planned::Clean => decision.source,
                            _ => RuleSource::IdentifierEcho { identifier: kind },
                        };
                        finding(source, Planned::Clean);
                    }
                }
                _ => {}
            }
        }
    }
}

/// `decision`, unless it would keep (or clean) a value of an identifier-bearing attribute
/// that is longer than any identifier: such a value is removed whole (PHI until proven
/// otherwise), never matched piece by piece.
fn overlong(
    element: &InMemElement,
    vr: VR,
    decision: crate::rules::Decision,
) -> crate::rules::Decision {
    if !matches!(decision.planned, Planned::Keep | Planned::Clean)
        || crate::identity::identifier_role(element.tag(), vr, false, false).is_none()
    {
        return decision;
    }
    match value_text(element) {
        Some(text) if crate::identity::is_overlong(&text) => crate::rules::Decision {
            planned: Planned::Remove,
            source: RuleSource::OverlongValue,
        },
        _ => decision,
    }
}

/// Group Length (gggg,0000) and Length to End (0008,0001): retired counts of bytes that
/// removing elements would falsify, and that carry nothing about anyone.
fn is_length_element(tag: Tag) -> bool {
    tag.element() == 0x0000 || tag == Tag(0x0008, 0x0001)
}

/// A text value of a VR (empty text as an empty value).
fn text_value(vr: VR, value: String) -> PrimitiveValue {
    if value.is_empty() {
        return PrimitiveValue::Empty;
    }
    match vr {
        VR::UN | VR::OB => PrimitiveValue::from(value.into_bytes()),
        _ => PrimitiveValue::from(value),
    }
}

/// Whether an element holds exactly the dummy value of its VR (a sequence never does).
fn is_dummy(element: &InMemElement) -> bool {
    match element.value() {
        Value::Primitive(p) => trimmed(&p.to_str()) == trimmed(&dummy(element.vr()).to_str()),
        _ => false,
    }
}

/// The dummy value of any VR: text for text VRs, zeros for binary ones.
fn dummy(vr: VR) -> PrimitiveValue {
    match vr {
        VR::FL | VR::OF => PrimitiveValue::from(0f32),
        VR::FD | VR::OD => PrimitiveValue::from(0f64),
        VR::SS => PrimitiveValue::from(0i16),
        VR::US | VR::OW => PrimitiveValue::from(0u16),
        VR::SL => PrimitiveValue::from(0i32),
        VR::UL | VR::OL => PrimitiveValue::from(0u32),
        VR::SV => PrimitiveValue::from(0i64),
        VR::UV | VR::OV => PrimitiveValue::from(0u64),
        VR::OB | VR::UN => PrimitiveValue::from(vec![0u8, 0u8]),
        VR::AT => PrimitiveValue::Tags(smallvec::smallvec![Tag(0, 0)]),
        _ => PrimitiveValue::from(dummy_text(vr)),
    }
}

/// The markers of a de-identified object (PS3.15 E.1.1 and PS3.3 C.12.1.1.3).
pub(crate) fn add_markers(object: &mut InMemDicomObject, rules: &Rules<'_>) {
    use dicom_dictionary_std::tags;
    object.put(DataElement::new(
        tags::PATIENT_IDENTITY_REMOVED,
        VR::CS,
        PrimitiveValue::from("YES"),
    ));
    let mut codes = vec![("113100", "Basic Application Confidentiality Profile")];
    codes.extend(rules.config.options.iter().map(|o| o.code()));
    let mut method = vec![format!(
        "Gantry {}: PS3.15 Basic Profile",
        env!("CARGO_PKG_VERSION")
    )];
    method.extend(
        rules
            .config
            .options
            .iter()
            .map(|o| o.config_name().to_string()),
    );
    object.put(DataElement::new(
        tags::DEIDENTIFICATION_METHOD,
        VR::LO,
        PrimitiveValue::Strs(
            method
                .into_iter()
                .map(|m| m.chars().take(64).collect())
                .collect(),
        ),
    ));
    let items: Vec<InMemDicomObject> = codes
        .into_iter()
        .map(|(value, meaning)| {
            InMemDicomObject::from_element_iter([
                DataElement::new(tags::CODE_VALUE, VR::SH, PrimitiveValue::from(value)),
                DataElement::new(
                    tags::CODING_SCHEME_DESIGNATOR,
                    VR::SH,
                    PrimitiveValue::from("DCM"),
                ),
                DataElement::new(tags::CODE_MEANING, VR::LO, PrimitiveValue::from(meaning)),
            ])
        })
        .collect();
    object.put(DataElement::new(
        tags::DEIDENTIFICATION_METHOD_CODE_SEQUENCE,
        VR::SQ,
        DataSetSequence::from(items),
    ));
    let temporal = match rules.dates {
        DatePolicy::Shift => "MODIFIED",
        DatePolicy::Keep => "UNMODIFIED",
        DatePolicy::Empty => "REMOVED",
    };
    object.put(DataElement::new(
        tags::LONGITUDINAL_TEMPORAL_INFORMATION_MODIFIED,
        VR::CS,
        PrimitiveValue::from(temporal),
    ));
}

/// Findings about missing markers, for objects not yet de-identified.
pub(crate) fn marker_findings(object: &InMemDicomObject) -> Vec<ElementFinding> {
    use dicom_dictionary_std::tags;
    let removed = crate::header::text(object, tags::PATIENT_IDENTITY_REMOVED);
    let has_method = object.get(tags::DEIDENTIFICATION_METHOD).is_some()
        || object
            .get(tags::DEIDENTIFICATION_METHOD_CODE_SEQUENCE)
            .is_some();
    if removed.as_deref() == Some("YES") && has_method {
        return Vec::new();
    }
    vec![ElementFinding {
        path: TagPath::root(tags::PATIENT_IDENTITY_REMOVED),
        vr: "CS".into(),
        value: removed.unwrap_or_else(|| "(absent)".into()),
        rule: RuleSource::IdentityMarker,
        action: Planned::AddMarker,
    }]
}
