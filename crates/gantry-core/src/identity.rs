//! Who an object is about: the patient key, and every identifier that must not echo in
//! text anywhere (names, IDs, birth dates, accession numbers, addresses, telephones).

use std::collections::BTreeSet;

use aho_corasick::{AhoCorasick, AhoCorasickBuilder, MatchKind};
use dicom_core::{Tag, VR};
use dicom_object::InMemDicomObject;
use serde::Serialize;

use crate::config::ProfileOption;

/// What kind of identifier was echoed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum IdentifierKind {
    /// A part of a person's name (patient, relative, staff).
    Name,
    /// A patient, record, accession, admission or procedure identifier.
    Id,
    /// The patient's birth date, in any common spelling.
    BirthDate,
    /// An address or telephone number.
    Contact,
    /// An institution or station name.
    Institution,
}

impl IdentifierKind {
    /// A short label for reports.
    pub fn label(self) -> &'static str {
        match self {
            IdentifierKind::Name => "name",
            IdentifierKind::Id => "identifier",
            IdentifierKind::BirthDate => "birth date",
            IdentifierKind::Contact => "address or telephone",
            IdentifierKind::Institution => "institution",
        }
    }
}

/// The key that groups a patient's objects: Patient ID with its issuer; without an ID,
/// the name and birth date; without those, the study (so one study never spans keys).
pub fn patient_key(header: &InMemDicomObject) -> String {
    let text = |g, e| crate::header::text(header, Tag(g, e)).unwrap_or_default();
    let id = text(0x0010, 0x0020);
    if !id.is_empty() {
        return format!("id:{id}|{}", text(0x0010, 0x0021));
    }
    let name = text(0x0010, 0x0010);
    let birth = text(0x0010, 0x0030);
    if !name.is_empty() || !birth.is_empty() {
        return format!("name:{name}|{birth}");
    }
    format!("study:{}", text(0x0020, 0x000D))
}

/// [`patient_key`] from the indexed attributes alone, when the instance has a Patient ID
/// (the common case), so a caller need not decode the header for it.
pub fn patient_key_of(record: &gantry_store::InstanceRecord) -> Option<String> {
    let id = record.patient_id.as_deref().filter(|id| !id.is_empty())?;
    Some(format!(
        "id:{id}|{}",
        record.issuer_of_patient_id.as_deref().unwrap_or("")
    ))
}

/// Words that occur in names without identifying anyone.
const NOT_IDENTIFYING: &[&str] = &[
    "dr",
    "md",
    "mr",
    "mrs",
    "ms",
    "miss",
    "phd",
    "prof",
    "sir",
    "jr",
    "sr",
    "ii",
    "iii",
    "anonymous",
    "anonymized",
    "anon",
    "unknown",
    "none",
    "patient",
    "test",
    "the",
    "and",
];

/// Identifiers shorter than this are matched only as whole words.
const WHOLE_WORD_BELOW: usize = 5;

/// Collects the identifiers of an object.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IdentifierSet {
    items: BTreeSet<(String, IdentifierKind)>,
}

impl IdentifierSet {
    fn add(&mut self, text: &str, kind: IdentifierKind) {
        let normal = normalize(text);
        let normal = normal.trim();
        if normal.chars().count() < 2 || NOT_IDENTIFYING.contains(&normal) {
            return;
        }
        // Pure numbers shorter than 4 digits (study "1", series "2") identify nothing.
        if normal.chars().all(|c| c.is_ascii_digit()) && normal.len() < 4 {
            return;
        }
        self.items.insert((normal.to_string(), kind));
    }

    fn add_id(&mut self, value: &str) {
        let value = value.trim();
        if value.chars().count() >= 4 {
            self.add(value, IdentifierKind::Id);
        }
        // The digits of an MRN often turn up alone, inside UIDs or file names.
        let mut run = String::new();
        for c in value.chars().chain(std::iter::once(' ')) {
            if c.is_ascii_digit() {
                run.push(c);
            } else {
                if run.len() >= 6 {
                    self.add(&run, IdentifierKind::Id);
                }
                run.clear();
            }
        }
    }

    fn add_name(&mut self, value: &str) {
        for person in value.split('\\') {
            for group in person.split('=') {
                for part in group.split(['^', ' ', ',']) {
                    let part = part.trim_matches(|c: char| !c.is_alphanumeric());
                    if part.chars().count() >= 2 {
                        self.add(part, IdentifierKind::Name);
                    }
                }
            }
        }
    }

    fn add_birth_date(&mut self, value: &str) {
        let v = value.trim();
        if v.len() != 8 || !v.bytes().all(|b| b.is_ascii_digit()) {
            self.add(v, IdentifierKind::BirthDate);
            return;
        }
        let (y, m, d) = (&v[..4], &v[4..6], &v[6..8]);
        for spelling in [
            v.to_string(),
            format!("{y}-{m}-{d}"),
            format!("{y}/{m}/{d}"),
            format!("{d}/{m}/{y}"),
            format!("{m}/{d}/{y}"),
            format!("{d}.{m}.{y}"),
            format!("{d}-{m}-{y}"),
        ] {
            self.add(&spelling, IdentifierKind::BirthDate);
        }
    }

    fn add_contact(&mut self, value: &str) {
        self.add(value, IdentifierKind::Contact);
        for part in value.split([',', '^', '\\', ';']) {
            if part.trim().chars().count() >= 6 {
                self.add(part, IdentifierKind::Contact);
            }
        }
        let digits: String = value.chars().filter(char::is_ascii_digit).collect();
        if digits.len() >= 7 {
            self.add(&digits, IdentifierKind::Contact);
        }
    }

    /// Adds every identifier found in `header`, at any depth.
    pub fn collect(&mut self, header: &InMemDicomObject, options: &[ProfileOption]) {
        let keep_institution = options.contains(&ProfileOption::RetainInstitutionIdentity);
        let keep_device = options.contains(&ProfileOption::RetainDeviceIdentity);
        self.walk(header, keep_institution, keep_device, 0);
    }

    fn walk(
        &mut self,
        object: &InMemDicomObject,
        keep_institution: bool,
        keep_device: bool,
        depth: usize,
    ) {
        if depth > gantry_store::MAX_SEQUENCE_DEPTH {
            return;
        }
        for element in object.iter() {
            let tag = element.header().tag;
            if let Some(items) = element.items() {
                for item in items {
                    self.walk(item, keep_institution, keep_device, depth + 1);
                }
                continue;
            }
            let vr = element.header().vr;
            // Identifiers are text (and the birth date); rendering binary values is costly.
            if !crate::rules::is_text(vr) && vr != VR::DA {
                continue;
            }
            let Ok(value) = element.to_str() else {
                continue;
            };
            match (tag.group(), tag.element()) {
                _ if vr == VR::PN => self.add_name(&value),
                (0x0010, 0x0020)
                | (0x0010, 0x1000)
                | (0x0010, 0x1090)
                | (0x0008, 0x0050)
                | (0x0038, 0x0010)
                | (0x0040, 0x1001)
                | (0x0040, 0x0009)
                | (0x0040, 0x0253)
                | (0x0040, 0x2016)
                | (0x0040, 0x2017)
                | (0x0020, 0x0010)
                | (0x0040, 0xA124)
                | (0x0010, 0x2160) => {
                    for v in value.split('\\') {
                        self.add_id(v);
                    }
                }
                (0x0010, 0x0030) => self.add_birth_date(&value),
                (0x0010, 0x1040)
                | (0x0010, 0x2154)
                | (0x0010, 0x2155)
                | (0x0008, 0x0092)
                | (0x0008, 0x0094) => self.add_contact(&value),
                (0x0008, 0x0080) | (0x0008, 0x0081) | (0x0008, 0x1040) if !keep_institution => {
                    self.add_contact(&value);
                    self.add(&value, IdentifierKind::Institution);
                }
                (0x0008, 0x1010) if !keep_device => self.add(&value, IdentifierKind::Institution),
                _ => {}
            }
        }
    }

    /// Merges another set into this one.
    pub fn extend(&mut self, other: &IdentifierSet) {
        self.items.extend(other.items.iter().cloned());
    }

    /// A digest of the set (sorted, so the same identifiers give the same digest).
    pub fn digest(&self) -> [u8; 32] {
        use sha2::{Digest, Sha256};
        let mut hasher = Sha256::new();
        for (text, kind) in &self.items {
            hasher.update((text.len() as u64).to_le_bytes());
            hasher.update(text.as_bytes());
            hasher.update([*kind as u8]);
        }
        hasher.finalize().into()
    }

    /// A matcher for finding these identifiers in text.
    pub fn matcher(&self) -> EchoMatcher {
        let patterns: Vec<&str> = self.items.iter().map(|(t, _)| t.as_str()).collect();
        let automaton = AhoCorasickBuilder::new()
            .ascii_case_insensitive(true)
            .match_kind(MatchKind::LeftmostLongest)
            .build(&patterns)
            .ok();
        // The raw scan looks for identifiers of 4 or more characters anywhere in encoded
        // bytes, where word boundaries mean nothing.
        let raw: Vec<&str> = self
            .items
            .iter()
            .map(|(t, _)| t.as_str())
            .filter(|t| t.len() >= 4 && t.is_ascii())
            .collect();
        let raw_automaton = AhoCorasickBuilder::new()
            .ascii_case_insensitive(true)
            .build(&raw)
            .ok();
        EchoMatcher {
            automaton,
            raw_automaton,
            raw: raw.into_iter().map(str::to_string).collect(),
            items: self.items.iter().cloned().collect(),
        }
    }
}

/// Lower case, with the PN separator as a space: the form text is searched in.
pub fn normalize(text: &str) -> String {
    text.to_lowercase().replace('^', " ")
}

/// Finds identifiers echoed in text.
#[derive(Debug, Clone)]
pub struct EchoMatcher {
    automaton: Option<AhoCorasick>,
    raw_automaton: Option<AhoCorasick>,
    raw: Vec<String>,
    items: Vec<(String, IdentifierKind)>,
}

fn is_word_char(c: Option<char>) -> bool {
    c.is_some_and(char::is_alphanumeric)
}

impl EchoMatcher {
    /// Every echo in `text`: byte ranges in the normalized text, and what they are.
    fn matches(&self, normal: &str) -> Vec<(usize, usize, IdentifierKind)> {
        let Some(automaton) = &self.automaton else {
            return Vec::new();
        };
        automaton
            .find_iter(normal)
            .map(|m| (m.start(), m.end(), m.pattern().as_usize()))
            .filter_map(|(start, end, pattern)| {
                let (text, kind) = &self.items[pattern];
                if text.chars().count() < WHOLE_WORD_BELOW {
                    let before = normal[..start].chars().next_back();
                    let after = normal[end..].chars().next();
                    if is_word_char(before) || is_word_char(after) {
                        return None;
                    }
                }
                Some((start, end, *kind))
            })
            .collect()
    }

    /// The first identifier echoed in `text`, if any.
    pub fn find(&self, text: &str) -> Option<IdentifierKind> {
        self.matches(&normalize(text)).first().map(|m| m.2)
    }

    /// `text` with every echoed identifier replaced by `*`.
    pub fn clean(&self, text: &str) -> String {
        let normal = normalize(text);
        // Lower-casing can change byte lengths outside ASCII; clean on the normalized
        // text then, which loses the original case but never an echo.
        let source = if normal.len() == text.len() {
            text.to_string()
        } else {
            normal.clone()
        };
        let mut spans = self.matches(&normal);
        spans.sort();
        let mut out = String::with_capacity(source.len());
        let mut at = 0;
        for (start, end, _) in spans {
            if start < at {
                continue;
            }
            out.push_str(&source[at..start]);
            out.push('*');
            at = end;
        }
        out.push_str(&source[at..]);
        out
    }

    /// Whether `bytes` contain an identifier of at least 4 characters (a raw scan of an
    /// encoded header, where word boundaries mean nothing).
    pub fn find_in_bytes(&self, bytes: &[u8]) -> Option<&str> {
        let found = self.raw_automaton.as_ref()?.find(bytes)?;
        Some(self.raw[found.pattern().as_usize()].as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(names: &[&str], ids: &[&str]) -> IdentifierSet {
        let mut s = IdentifierSet::default();
        for n in names {
            s.add_name(n);
        }
        for i in ids {
            s.add_id(i);
        }
        s
    }

    #[test]
    fn echoes_are_found_in_any_case_and_spelling() {
        let m = set(&["KOWALCZYK^Genevieve^Eustace"], &["MRN46310803"]).matcher();
        assert_eq!(
            m.find("Patient genevieve kowalczyk"),
            Some(IdentifierKind::Name)
        );
        assert_eq!(
            m.find("re: KOWALCZYK^GENEVIEVE"),
            Some(IdentifierKind::Name)
        );
        assert_eq!(m.find("id mrn46310803 seen"), Some(IdentifierKind::Id));
        assert_eq!(m.find("uid 1.2.3.46310803.1"), Some(IdentifierKind::Id));
        assert_eq!(m.find("CT CHEST W CONTRAST"), None);
    }

    #[test]
    fn short_names_match_only_as_words() {
        let m = set(&["NG^Li"], &[]).matcher();
        assert_eq!(m.find("Lightspeed ANGIO"), None);
        assert_eq!(m.find("seen by Li today"), Some(IdentifierKind::Name));
        assert_eq!(m.find("NG, Li"), Some(IdentifierKind::Name));
    }

    #[test]
    fn cleaning_replaces_each_echo() {
        let m = set(&["OKONKWO^Philippa"], &["MRN84911251"]).matcher();
        assert_eq!(
            m.clean("Follow-up for Okonkwo (MRN84911251), philippa ok"),
            "Follow-up for * (*), * ok"
        );
        assert_eq!(m.clean("nothing here"), "nothing here");
    }

    #[test]
    fn raw_byte_scan_finds_identifiers_of_four_or_more_in_any_case() {
        let m = set(&["OKONKWO^Li"], &["MRN84911251"]).matcher();
        assert_eq!(m.find_in_bytes(b"\x00\x10PN\x0cOkOnKwO^x"), Some("okonkwo"));
        assert_eq!(m.find_in_bytes(b"uid 1.2.84911251.7"), Some("84911251"));
        assert_eq!(m.find_in_bytes(b"Li is too short to scan raw"), None);
    }

    #[test]
    fn birth_dates_in_common_spellings() {
        let mut s = IdentifierSet::default();
        s.add_birth_date("19710523");
        let m = s.matcher();
        for text in [
            "born 19710523",
            "DOB 1971-05-23",
            "23/05/1971",
            "05/23/1971",
            "23.05.1971",
        ] {
            assert_eq!(m.find(text), Some(IdentifierKind::BirthDate), "{text}");
        }
    }
}
