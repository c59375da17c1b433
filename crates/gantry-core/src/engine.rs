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

// The text of an element, for comparisons and echo searches (UN and OB as the text their
// bytes hold).
use gantry_store::element_text as value_text;

use crate::dates::{shift_da, shift_dt};
use crate::detect::{DateRewrite, PhiKind};
use crate::header::TagPath;
use crate::identity::EchoMatcher;
use crate::pseudonym::Secret;
use crate::rules::{DatePolicy, Planned, RuleSource, Rules};
use crate::vr::{dummy_text, effective_vr, is_free_text, is_text, is_well_known_uid, max_len};

/// What is known about the patient an object belongs to.
pub(crate) struct PatientContext {
    /// The patient's pseudonym (for Patient's Name and Patient ID).
    pub pseudonym: String,
    /// The date offset in days (0 when dates are not shifted).
    pub offset: i32,
    /// Every identifier of the patient, for echo searches.
    pub matcher: crate::identity::LazyMatcher,
    /// A digest of those identifiers: what a cached verification result depends on.
    pub identity_digest: [u8; 32],
}

/// One element that is not as the rules want it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
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
    /// The identifiers of every patient and staff member of the session.
    pub everyone: &'a EchoMatcher,
}

/// What becomes of a kept text value once its content is read.
#[derive(Debug, Clone, PartialEq, Eq)]
enum TextOutcome {
    /// Nothing identifying in it.
    Clean,
    /// Identifying parts removed (or dates shifted): this text instead.
    Rewritten(String, RuleSource),
    /// So much of it identified someone that the rest means nothing: removed whole.
    Remove(RuleSource),
}

fn trimmed(text: &str) -> &str {
    text.trim_matches(|c: char| c == '\0' || c == ' ')
}

pub(crate) fn is_empty(element: &InMemElement) -> bool {
    match element.value() {
        Value::Primitive(PrimitiveValue::Empty) => true,
        Value::Primitive(p) => p.to_bytes().iter().all(|b| *b == 0 || *b == b' '),
        Value::Sequence(s) => s.items().is_empty(),
        Value::PixelSequence(s) => s.fragments().is_empty(),
    }
}

/// The Private Creator reserving the block of a private element, in the same data set;
/// for a Private Creator element (gggg,0010-00FF), its own value, so the rules can keep a
/// creator whose block holds a safe attribute (without it, the kept attribute would be
/// exported orphaned, and verify would find it unsafe).
fn creator_of(object: &InMemDicomObject, tag: Tag) -> Option<String> {
    if tag.group().is_multiple_of(2) {
        return None;
    }
    match tag.element() {
        0x0010..=0x00FF => crate::header::text(object, tag),
        0x1000.. => crate::header::text(object, Tag(tag.group(), tag.element() >> 8)),
        _ => None,
    }
}

impl Engine<'_> {
    /// What the rules decide for `element` of the data set `object` (its effective VR, and
    /// the decision): the one place `anonymize`, `check` and the preview ask it.
    pub fn decision(
        &self,
        object: &InMemDicomObject,
        element: &InMemElement,
        sop_class: &str,
    ) -> (VR, crate::rules::Decision) {
        let tag = element.tag();
        let vr = effective_vr(tag, element.vr());
        let creator = creator_of(object, tag);
        let decision = overlong(
            element,
            vr,
            self.rules.decide(tag, vr, sop_class, creator.as_deref()),
        );
        (vr, decision)
    }

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

    /// How dates written inside text move for this patient.
    fn date_rewrite(&self, patient: &PatientContext) -> DateRewrite {
        match self.rules.dates {
            DatePolicy::Shift => DateRewrite::Shift(patient.offset),
            DatePolicy::Keep => DateRewrite::Keep,
            DatePolicy::Empty => DateRewrite::Remove,
        }
    }

    /// What `text` (read off the pixels, say) holds, as [`Engine::read_text`] searches a
    /// kept value: the patient's identifiers, then, with those masked, anyone else's in the
    /// session, then every kind of PHI the detector finds. Labels for a reason ("the
    /// patient's name", "another person's identifier", "a date"); empty when none is found.
    pub fn holds(&self, text: &str, patient: &PatientContext) -> Vec<String> {
        let mut what = Vec::new();
        let matcher = patient.matcher.get();
        let mut rest = std::borrow::Cow::Borrowed(text);
        if let Some(kind) = matcher.find(text) {
            what.push(format!("the patient's {}", kind.label()));
            rest = matcher.clean(text).into();
        }
        if let Some(kind) = self.everyone.find(&rest) {
            what.push(format!("another person's {}", kind.label()));
        }
        for span in crate::detect::detect(text) {
            let label = format!("a {}", span.kind.label());
            if !what.contains(&label) {
                what.push(label);
            }
        }
        what
    }

    /// Reads a kept text value: identifiers of the patient and of everyone else in the
    /// session are removed; with `full` (free text), so is everything the PHI detector
    /// finds, dates shifted by the patient's offset and UIDs remapped.
    /// `required`: the attribute is one the standard requires where it occurs (a code
    /// meaning of Gantry's known-safe table): gutted text stays, masked, so the object
    /// stays valid.
    fn read_text(
        &self,
        value: &str,
        vr: VR,
        full: bool,
        required: bool,
        patient: &PatientContext,
    ) -> TextOutcome {
        if !reads_as_text(vr) || value.is_empty() {
            return TextOutcome::Clean;
        }
        let mut text = std::borrow::Cow::Borrowed(value);
        let mut source = None;
        let normal = crate::identity::normalize(value);
        if let Some(kind) = patient.matcher.find_normalized(&normal) {
            text = patient.matcher.clean(&text).into();
            source = Some(RuleSource::IdentifierEcho { identifier: kind });
        }
        let everyone = match source {
            // Cleaned text is normalized again; the common case reuses the first form.
            Some(_) => self.everyone.find(&text),
            None => self.everyone.find_normalized(&normal),
        };
        if let Some(kind) = everyone {
            text = self.everyone.clean(&text).into();
            source.get_or_insert(RuleSource::OtherIdentifier { identifier: kind });
        }
        if full
            && let Some(found) = crate::detect::rewrite(&text, self.date_rewrite(patient), &|uid| {
                self.secret.uid(uid)
            })
        {
            source.get_or_insert(RuleSource::Detected {
                phi: found.kinds[0],
            });
            text = found.text.into();
        }
        let Some(source) = source else {
            return TextOutcome::Clean;
        };
        if says_nothing(&text) && !required {
            TextOutcome::Remove(source)
        } else {
            TextOutcome::Rewritten(text.into_owned(), source)
        }
    }

    /// At verify: what the detector finds wrong in a kept text value (with `full`), given
    /// the original at its place: anything it finds, except dates that are the original's
    /// shifted by the patient's offset and UIDs that are not the original's.
    fn verify_text(
        &self,
        current: &str,
        original: Option<&str>,
        vr: VR,
        full: bool,
        patient: &PatientContext,
    ) -> Option<RuleSource> {
        // Identifiers (the patient's and everyone's) are verify's own scan's to find, in
        // every element: `scan_exported`.
        if !reads_as_text(vr) || !full {
            return None;
        }
        let spans = crate::detect::detect(current);
        if spans.is_empty() {
            return None;
        }
        // The original as anonymize read it: identifiers masked first, then dates found.
        let original = original.unwrap_or("");
        let original = self.everyone.clean(&patient.matcher.clean(original));
        let original = original.as_str();
        let accepted_dates = match self.date_rewrite(patient) {
            DateRewrite::Shift(days) => crate::detect::shifted_dates(original, days),
            DateRewrite::Keep => crate::detect::shifted_dates(original, 0),
            DateRewrite::Remove => Vec::new(),
        };
        spans
            .iter()
            .find(|span| {
                let piece = &current[span.start..span.end];
                match span.kind {
                    PhiKind::Date => !accepted_dates.iter().any(|d| d == piece),
                    PhiKind::Uid => !is_well_known_uid(piece) && original.contains(piece),
                    _ => true,
                }
            })
            .map(|span| RuleSource::Detected { phi: span.kind })
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
            let (vr, decision) = self.decision(object, element, sop_class);
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
                    let full = decision.planned == Planned::Clean;
                    let required = decision.source == RuleSource::KnownSafe;
                    match self.read_text(&text(), vr, full, required, patient) {
                        TextOutcome::Clean => {
                            out.put(element.clone());
                        }
                        TextOutcome::Rewritten(value, _) => put_text(&mut out, value),
                        TextOutcome::Remove(_) => {}
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
        self.check_generated(current, original, sop_class, patient)
            .0
    }

    /// [`Engine::check`], and the paths whose value is a keyed output of the rules (a
    /// hash, the patient's pseudonym) equal to what they make: values no identity can be
    /// read from (a run of their hex digits that spells somebody's number is chance), each
    /// with the part of it a person chose (a pseudonym's prefix), which verify's
    /// independent scan still searches.
    pub fn check_generated(
        &self,
        current: &InMemDicomObject,
        original: &InMemDicomObject,
        sop_class: &str,
        patient: &PatientContext,
    ) -> (Vec<ElementFinding>, Vec<(TagPath, String)>) {
        let mut out = Vec::new();
        let mut generated = Vec::new();
        // An audit checks the original against itself; verify, the de-identified header.
        let verify = !std::ptr::eq(current, original);
        self.check_set(
            current,
            None,
            original,
            sop_class,
            patient,
            verify,
            (&mut out, &mut generated),
            0,
        );
        (out, generated)
    }

    #[allow(clippy::too_many_arguments)]
    fn check_set(
        &self,
        object: &InMemDicomObject,
        parent: Option<(&TagPath, usize)>,
        original: &InMemDicomObject,
        sop_class: &str,
        patient: &PatientContext,
        verify: bool,
        (out, generated): (&mut Vec<ElementFinding>, &mut Vec<(TagPath, String)>),
        depth: usize,
    ) {
        for element in object.iter() {
            let tag = element.tag();
            if is_length_element(tag) {
                continue;
            }
            let path = TagPath::under(parent, tag);
            let (vr, decision) = self.decision(object, element, sop_class);
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
                Planned::Hash if verify => generated.push((path.clone(), String::new())),
                Planned::RemapUid if !same(original_text().map(|o| self.remap_uids(&o))) => {
                    finding(decision.source, decision.planned)
                }
                Planned::Pseudonym if !same(Some(patient.pseudonym.clone())) => {
                    finding(decision.source, decision.planned)
                }
                Planned::Pseudonym if verify => generated.push((
                    path.clone(),
                    patient
                        .pseudonym
                        .rsplit_once('-')
                        .map_or(String::new(), |(prefix, _)| prefix.to_string()),
                )),
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
                                verify,
                                (&mut *out, &mut *generated),
                                depth + 1,
                            );
                        }
                    }
                }
                Planned::Clean | Planned::Keep if is_text(vr) => {
                    let full = decision.planned == Planned::Clean;
                    let Some(value) = current().clone() else {
                        continue;
                    };
                    if verify {
                        let original = original_text();
                        if let Some(source) =
                            self.verify_text(&value, original.as_deref(), vr, full, patient)
                        {
                            finding(source, Planned::Clean);
                        }
                    } else {
                        let required = decision.source == RuleSource::KnownSafe;
                        match self.read_text(&value, vr, full, required, patient) {
                            TextOutcome::Clean => {}
                            TextOutcome::Rewritten(_, source) => finding(source, Planned::Clean),
                            TextOutcome::Remove(source) => finding(source, Planned::Remove),
                        }
                    }
                }
                _ => {}
            }
        }
    }
}

impl Engine<'_> {
    /// Verify's own scan of what will be exported, independent of the rules: every element
    /// at every depth, in any VR, is searched for the identifiers of the patient and of
    /// everyone else in the session (text as decoded, binary values as bytes) and, outside
    /// UI elements, for the original's UIDs. Each finding names its tag path, VR and whose
    /// identifier it is.
    pub fn scan_exported(
        &self,
        current: &InMemDicomObject,
        original_uids: &OriginalUids,
        patient: &PatientContext,
        generated: &[(TagPath, String)],
    ) -> Vec<ElementFinding> {
        let mut out = Vec::new();
        self.scan_set(
            current,
            None,
            original_uids,
            (patient, generated),
            &mut out,
            0,
        );
        out
    }

    fn scan_set(
        &self,
        object: &InMemDicomObject,
        parent: Option<(&TagPath, usize)>,
        original_uids: &OriginalUids,
        (patient, generated): (&PatientContext, &[(TagPath, String)]),
        out: &mut Vec<ElementFinding>,
        depth: usize,
    ) {
        for element in object.iter() {
            let tag = element.tag();
            let path = TagPath::under(parent, tag);
            if let Some(items) = element.items() {
                if depth < gantry_store::MAX_SEQUENCE_DEPTH {
                    for (index, item) in items.iter().enumerate() {
                        self.scan_set(
                            item,
                            Some((&path, index)),
                            original_uids,
                            (patient, generated),
                            out,
                            depth + 1,
                        );
                    }
                }
                continue;
            }
            // A keyed output of the rules is searched only in the part a person chose.
            let chosen = generated
                .iter()
                .find(|(p, _)| *p == path)
                .map(|(_, chosen)| chosen.as_str());
            if crate::rules::MARKER_TAGS.contains(&tag)
                || tag == Tag(0x7FE0, 0x0010)
                || chosen == Some("")
            {
                continue;
            }
            let vr = effective_vr(tag, element.vr());
            let mut found = |rule: RuleSource, action: Planned, value: &str| {
                out.push(ElementFinding {
                    path: path.clone(),
                    vr: vr.to_string().to_string(),
                    value: value.chars().take(64).collect(),
                    rule,
                    action,
                });
            };
            if reads_as_text(vr) {
                let Some(text) = value_text(element) else {
                    continue;
                };
                let normal = crate::identity::normalize(chosen.unwrap_or(&text));
                if let Some(kind) = patient.matcher.find_normalized(&normal) {
                    found(
                        RuleSource::IdentifierEcho { identifier: kind },
                        Planned::Clean,
                        &text,
                    );
                } else if let Some(kind) = self.everyone.find_normalized(&normal) {
                    found(
                        RuleSource::OtherIdentifier { identifier: kind },
                        Planned::Clean,
                        &text,
                    );
                } else if vr != VR::UI
                    && let Some(uid) = original_uids.find(text.as_bytes())
                {
                    found(RuleSource::Survived, Planned::RemapUid, uid);
                } else if is_free_text(vr)
                    && let Some(phi) = crate::detect::unmistakable_phi(&text)
                {
                    found(RuleSource::Detected { phi }, Planned::Clean, &text);
                }
            } else if matches!(
                vr,
                VR::OB | VR::OW | VR::UN | VR::OL | VR::OD | VR::OF | VR::OV
            ) && let Value::Primitive(p) = element.value()
            {
                let bytes = p.to_bytes();
                // The patient's own identifiers are looked for in every binary value, as
                // the whole header's bytes were before. Everyone else's (many more, so
                // more chance matches in numbers) and UIDs only where the value is mostly
                // printable, as text hidden in bytes is.
                let printable = bytes
                    .iter()
                    .filter(|b| b.is_ascii_graphic() || **b == b' ')
                    .count();
                let texty = printable * 10 >= bytes.len() * 9;
                if let Some((id, kind)) = patient.matcher.find_in_bytes(&bytes) {
                    found(
                        RuleSource::IdentifierEcho { identifier: kind },
                        Planned::Remove,
                        &id,
                    );
                } else if texty && let Some((id, kind)) = self.everyone.find_in_bytes(&bytes) {
                    found(
                        RuleSource::OtherIdentifier { identifier: kind },
                        Planned::Remove,
                        id,
                    );
                } else if texty && let Some(uid) = original_uids.find(&bytes) {
                    found(RuleSource::Survived, Planned::Remove, uid);
                }
            }
        }
    }
}

/// The original's UIDs, searched for in exported text and bytes in one pass per value.
/// UIDs of fewer than three components or eight characters ("1", "1.2") are not looked for
/// outside UI elements: they would be found in any number.
pub(crate) struct OriginalUids {
    uids: Vec<String>,
    automaton: Option<aho_corasick::AhoCorasick>,
}

impl OriginalUids {
    pub fn new(uids: &[String]) -> OriginalUids {
        let uids: Vec<String> = uids
            .iter()
            .filter(|u| u.len() >= 8 && u.matches('.').count() >= 2)
            .cloned()
            .collect();
        // A build failure leaves no automaton: then every value is compared one by one.
        // Built for one instance and used once: the automaton cheapest to build.
        let automaton = aho_corasick::AhoCorasick::builder()
            .kind(Some(aho_corasick::AhoCorasickKind::NoncontiguousNFA))
            .build(&uids)
            .ok();
        OriginalUids { uids, automaton }
    }

    /// The first original UID `haystack` holds whole (not inside a longer number or UID).
    fn find(&self, haystack: &[u8]) -> Option<&str> {
        let part = |b: Option<&u8>| b.is_some_and(|b| b.is_ascii_digit() || *b == b'.');
        let whole = |start: usize, end: usize| {
            !part(start.checked_sub(1).and_then(|i| haystack.get(i))) && !part(haystack.get(end))
        };
        match &self.automaton {
            Some(automaton) => automaton
                .find_overlapping_iter(haystack)
                .find(|m| whole(m.start(), m.end()))
                .map(|m| self.uids[m.pattern().as_usize()].as_str()),
            None => self.uids.iter().map(String::as_str).find(|uid| {
                haystack
                    .windows(uid.len())
                    .enumerate()
                    .any(|(at, w)| w == uid.as_bytes() && whole(at, at + uid.len()))
            }),
        }
    }
}

/// Whether a cleaned text has lost its meaning: no word is left but labels and little
/// words ("Dr. *", "MRN: *", "signed by *"). Such a value is removed whole.
fn says_nothing(text: &str) -> bool {
    const LABELS: &[&str] = &[
        "dr",
        "mr",
        "mrs",
        "ms",
        "miss",
        "prof",
        "mrn",
        "id",
        "no",
        "nr",
        "patient",
        "pt",
        "name",
        "by",
        "of",
        "the",
        "and",
        "for",
        "signed",
        "dictated",
        "read",
        "seen",
        "on",
        "at",
        "to",
        "in",
        "is",
        "was",
        "with",
        "tel",
        "phone",
        "fax",
        "email",
        "mail",
        "date",
        "dob",
        "born",
        "acc",
        "accession",
        "ref",
        "see",
        "call",
        "or",
        "a",
        "an",
    ];
    !text
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| w.chars().count() >= 2)
        .any(|w| !LABELS.contains(&w.to_lowercase().as_str()))
}

/// Whether values of the VR are read for their content: text, but not the numbers, times
/// and code strings of numeric and temporal VRs (a StudyTime equal to the digits of an
/// MRN is a time).
fn reads_as_text(vr: VR) -> bool {
    is_text(vr) && !matches!(vr, VR::DS | VR::IS | VR::TM | VR::DA | VR::DT | VR::AS)
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
pub(crate) fn is_length_element(tag: Tag) -> bool {
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
