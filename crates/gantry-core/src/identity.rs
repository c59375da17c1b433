//! Who an object is about: the patient key, and every identifier that must not echo in
//! text anywhere (names, IDs, birth dates, accession numbers, addresses, telephones).

use std::collections::BTreeSet;

use aho_corasick::{AhoCorasick, AhoCorasickBuilder, AhoCorasickKind, MatchKind};
use dicom_core::{Tag, VR};
use dicom_object::InMemDicomObject;
use serde::{Deserialize, Serialize};

use crate::settings::ProfileOption;

/// What kind of identifier was echoed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
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

/// The names and birth dates seen under one patient key: what decides whether two keys
/// of one Patient ID are one person.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Demographics {
    names: BTreeSet<String>,
    births: BTreeSet<String>,
}

impl Demographics {
    /// The Patient's Name (normalized) and Birth Date of a header.
    pub fn of(header: &InMemDicomObject) -> Demographics {
        let mut out = Demographics::default();
        let text = |g, e| crate::header::text(header, Tag(g, e)).unwrap_or_default();
        let name = normalize(text(0x0010, 0x0010).trim());
        if !name.trim().is_empty() {
            out.names.insert(name.trim().to_string());
        }
        let birth = text(0x0010, 0x0030).trim().to_string();
        if !birth.is_empty() {
            out.births.insert(birth);
        }
        out
    }

    /// Adds what another header of the same key showed.
    pub fn extend(&mut self, other: Demographics) {
        self.names.extend(other.names);
        self.births.extend(other.births);
    }
}

/// Which patient keys of one Patient ID are one patient.
///
/// Under [`PatientLinkage::Id`] (the default), keys that differ only by Issuer of Patient
/// ID (missing on some files, or different) are linked unless name and birth date both
/// disagree; under [`PatientLinkage::IdAndIssuer`], never. Returns, for each key linked
/// to another, the key it is linked to: the smallest of its group (so a group with files
/// lacking an issuer keeps the key of those files).
pub(crate) fn link_patients<'a>(
    keys: impl Iterator<Item = (&'a str, &'a Demographics)>,
    linkage: crate::settings::PatientLinkage,
) -> std::collections::HashMap<String, String> {
    let mut links = std::collections::HashMap::new();
    if linkage == crate::settings::PatientLinkage::IdAndIssuer {
        return links;
    }
    let mut by_id: std::collections::BTreeMap<&str, Vec<(&str, &Demographics)>> =
        Default::default();
    for (key, demographics) in keys {
        if let Some(rest) = key.strip_prefix("id:")
            && let Some((id, _issuer)) = rest.rsplit_once('|')
        {
            by_id.entry(id).or_default().push((key, demographics));
        }
    }
    for (_, mut group) in by_id {
        if group.len() < 2 {
            continue;
        }
        group.sort_by(|a, b| a.0.cmp(b.0));
        // Union-find over the group's keys. Two keys are one patient unless both their
        // names and their birth dates disagree: they share a name, or a birth date, or one
        // of them lacks either (then it joins everyone). Joining each key to the first key
        // seen with each of its values finds the same groups in linear time.
        let mut parent: Vec<usize> = (0..group.len()).collect();
        fn root(parent: &mut [usize], mut i: usize) -> usize {
            while parent[i] != i {
                parent[i] = parent[parent[i]];
                i = parent[i];
            }
            i
        }
        fn join(parent: &mut [usize], a: usize, b: usize) {
            let (ra, rb) = (root(parent, a), root(parent, b));
            let (low, high) = (ra.min(rb), ra.max(rb));
            parent[high] = low;
        }
        let mut first_with: std::collections::HashMap<(bool, &str), usize> = Default::default();
        let mut wildcard: Option<usize> = None;
        for (i, (_, demographics)) in group.iter().enumerate() {
            if demographics.names.is_empty() || demographics.births.is_empty() {
                match wildcard {
                    Some(w) => join(&mut parent, w, i),
                    None => wildcard = Some(i),
                }
            }
            let values = demographics
                .names
                .iter()
                .map(|n| (true, n.as_str()))
                .chain(demographics.births.iter().map(|b| (false, b.as_str())));
            for value in values {
                match first_with.get(&value) {
                    Some(&j) => join(&mut parent, j, i),
                    None => {
                        first_with.insert(value, i);
                    }
                }
            }
        }
        // A key lacking names or births is compatible with every key.
        if let Some(w) = wildcard {
            for i in 0..group.len() {
                join(&mut parent, w, i);
            }
        }
        for i in 0..group.len() {
            let r = root(&mut parent, i);
            if r != i {
                links.insert(group[i].0.to_string(), group[r].0.to_string());
            }
        }
    }
    links
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

/// How an attribute's value is collected as identifiers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Role {
    Name,
    Id,
    BirthDate,
    Contact,
    Institution,
    Device,
}

/// Which identifiers an attribute carries, if any: every person name, the patient's and
/// the visit's identifiers, the birth date, addresses and telephones, and (unless the
/// options retain them) institution and station names.
pub(crate) fn identifier_role(
    tag: Tag,
    vr: VR,
    keep_institution: bool,
    keep_device: bool,
) -> Option<Role> {
    Some(match (tag.group(), tag.element()) {
        _ if vr == VR::PN => Role::Name,
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
        | (0x0010, 0x2160) => Role::Id,
        (0x0010, 0x0030) => Role::BirthDate,
        (0x0010, 0x1040)
        | (0x0010, 0x2154)
        | (0x0010, 0x2155)
        | (0x0008, 0x0092)
        | (0x0008, 0x0094) => Role::Contact,
        (0x0008, 0x0080) | (0x0008, 0x0081) | (0x0008, 0x1040) if !keep_institution => {
            Role::Institution
        }
        (0x0008, 0x1010) if !keep_device => Role::Device,
        _ => return None,
    })
}

/// The value of every identifier-bearing attribute of `header`, at any depth, with its
/// role: institution and station names included (whether they count depends on the
/// profile options, applied by [`IdentifierSet::add_values`]).
pub(crate) fn role_values(header: &InMemDicomObject) -> Vec<(Role, String)> {
    fn walk(object: &InMemDicomObject, depth: usize, out: &mut Vec<(Role, String)>) {
        if depth > gantry_store::MAX_SEQUENCE_DEPTH {
            return;
        }
        for element in object.iter() {
            let tag = element.header().tag;
            if let Some(items) = element.items() {
                for item in items {
                    walk(item, depth + 1, out);
                }
                continue;
            }
            let vr = crate::vr::effective_vr(tag, element.header().vr);
            // Identifiers are text (and the birth date); rendering binary values is costly.
            if !crate::vr::is_text(vr) && vr != VR::DA {
                continue;
            }
            let Some(role) = identifier_role(tag, vr, false, false) else {
                continue;
            };
            // A standard attribute stored as UN holds its text as bytes.
            if let Some(value) = gantry_store::element_text(element) {
                out.push((role, value));
            }
        }
    }
    let mut out = Vec::new();
    walk(header, 0, &mut out);
    out
}

/// What the identity pass takes from one original header: its patient key, the values of
/// its identifier-bearing attributes with their roles, and its demographics. Ingest takes
/// it from the header it has just parsed (as the rules read it) and keeps it beside the
/// header, so the pass decodes no original.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct IdentityFacts {
    /// The Gantry that took them: another one may read other attributes as identifiers,
    /// so its facts are not this one's ([`IdentityFacts::current`]).
    pub gantry: String,
    /// [`patient_key`].
    pub key: String,
    /// [`role_values`].
    pub values: Vec<(Role, String)>,
    /// [`Demographics::of`].
    pub demographics: Demographics,
}

impl IdentityFacts {
    /// The facts of `header` (as the rules read it: UN re-read, character sets decoded).
    pub fn of(header: &InMemDicomObject) -> IdentityFacts {
        IdentityFacts {
            gantry: env!("CARGO_PKG_VERSION").to_string(),
            key: patient_key(header),
            values: role_values(header),
            demographics: Demographics::of(header),
        }
    }

    /// Whether this Gantry took them.
    pub fn current(&self) -> bool {
        self.gantry == env!("CARGO_PKG_VERSION")
    }
}

/// No identifier has a value this long (LO holds 64 characters, a PN component group 64):
/// a value of an identifier-bearing attribute beyond it is PHI nobody can vouch for, and
/// it is removed whole rather than matched.
const MAX_IDENTIFIER_CHARS: usize = 256;

/// Whether one of the values (of an identifier-bearing attribute) is longer than any
/// identifier ([`MAX_IDENTIFIER_CHARS`]).
pub(crate) fn is_overlong(value: &str) -> bool {
    value
        .split('\\')
        .any(|v| v.chars().nth(MAX_IDENTIFIER_CHARS).is_some())
}

/// Patterns are cut to this many characters: an echo of a longer identifier contains its
/// first part, and building the matcher stays linear in the number of identifiers (the
/// automaton's construction is superlinear in the length of a repetitive pattern).
const MAX_PATTERN_CHARS: usize = 64;

/// At most this many identifiers sharing one pattern are tried at a match (longest first),
/// so that many long identifiers with one first part cannot make matching superlinear;
/// when none of them fits, the echo runs to the end of the text.
const MAX_SHARED_PATTERN: usize = 8;

/// Identifiers shorter than this are matched only as whole words.
const WHOLE_WORD_BELOW: usize = 5;

/// Collects the identifiers of an object.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
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
                    // Each half of a hyphenated name identifies on its own (SANTOS of
                    // OLIVEIRA-SANTOS); a code such as CQ500-CT-310 is not split.
                    if part.contains('-') && part.chars().all(|c| c.is_alphabetic() || c == '-') {
                        for half in part.split('-') {
                            if half.chars().count() >= 2 {
                                self.add(half, IdentifierKind::Name);
                            }
                        }
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
        self.add_values(&role_values(header), options);
    }

    /// Adds the identifiers of values found with their roles ([`role_values`]), leaving
    /// out institution and station names when `options` retain them.
    pub(crate) fn add_values(&mut self, values: &[(Role, String)], options: &[ProfileOption]) {
        let keep_institution = options.contains(&ProfileOption::RetainInstitutionIdentity);
        let keep_device = options.contains(&ProfileOption::RetainDeviceIdentity);
        for (role, value) in values {
            match role {
                Role::Name => self.add_name(value),
                Role::Id => {
                    for v in value.split('\\') {
                        self.add_id(v);
                    }
                }
                Role::BirthDate => self.add_birth_date(value),
                Role::Contact => self.add_contact(value),
                Role::Institution if !keep_institution => {
                    self.add_contact(value);
                    self.add(value, IdentifierKind::Institution);
                }
                Role::Device if !keep_device => self.add(value, IdentifierKind::Institution),
                Role::Institution | Role::Device => {}
            }
        }
    }

    /// This set without name parts that are ordinary words (what is searched for in the
    /// text of other patients' objects; a patient's own set keeps them all).
    pub fn without_ordinary_words(mut self) -> IdentifierSet {
        self.items.retain(|(text, kind)| {
            *kind != IdentifierKind::Name || !crate::detect::is_ordinary_word(text)
        });
        self
    }

    /// The identifiers, normalized, with their kinds, in order.
    pub fn items(&self) -> impl Iterator<Item = &(String, IdentifierKind)> {
        self.items.iter()
    }

    /// A set of identifiers already normalized (another shard's [`IdentifierSet::items`]).
    pub(crate) fn from_items(items: impl Iterator<Item = (String, IdentifierKind)>) -> Self {
        IdentifierSet {
            items: items.collect(),
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
        self.clone().into_matcher()
    }

    /// [`IdentifierSet::matcher`], taking the set: its identifiers move into the matcher
    /// instead of being copied (everyone's identifiers grow with the dump).
    pub fn into_matcher(self) -> EchoMatcher {
        // Identifiers whose patterns coincide (one of 64 characters, and the cut first part
        // of a longer one) share a pattern; a match takes the longest that fits the text.
        let items: Vec<(String, IdentifierKind)> = self.items.into_iter().collect();
        let mut patterns: Vec<&str> = Vec::new();
        let mut groups: Vec<Vec<usize>> = Vec::new();
        let mut index: std::collections::HashMap<&str, usize> = Default::default();
        for (at, (text, _)) in items.iter().enumerate() {
            let pattern = pattern_of(text);
            let group = *index.entry(pattern).or_insert_with(|| {
                patterns.push(pattern);
                groups.push(Vec::new());
                groups.len() - 1
            });
            groups[group].push(at);
        }
        for group in &mut groups {
            group.sort_by_key(|&at| std::cmp::Reverse(items[at].0.len()));
        }
        // A contiguous NFA, never a DFA: a case-insensitive DFA of one patient's dozen
        // identifiers takes about 400 KB, and one matcher is kept per patient for the whole
        // run (at 10,000 files that was two thirds of the heap, and it grew with every
        // patient); the NFA takes a few KB and scans these short values as fast.
        let automaton = AhoCorasickBuilder::new()
            .ascii_case_insensitive(true)
            .match_kind(MatchKind::LeftmostLongest)
            .kind(Some(AhoCorasickKind::ContiguousNFA))
            .build(&patterns)
            .ok();
        // The raw scan looks for identifiers of 4 or more characters anywhere in encoded
        // bytes, where word boundaries mean nothing.
        // Each by its identifier (the group's longest) and the length of its pattern.
        let raw: Vec<(usize, usize)> = patterns
            .iter()
            .zip(&groups)
            .filter(|(t, _)| t.len() >= 4 && t.is_ascii())
            .map(|(t, group)| (group[0], t.len()))
            .collect();
        let raw_automaton = AhoCorasickBuilder::new()
            .ascii_case_insensitive(true)
            .kind(Some(AhoCorasickKind::ContiguousNFA))
            .build(raw.iter().map(|&(at, len)| &items[at].0[..len]))
            .ok();
        EchoMatcher {
            automaton,
            raw_automaton,
            raw,
            groups,
            items,
        }
    }
}

/// The part of an identifier the automaton looks for: all of it, or its first
/// [`MAX_PATTERN_CHARS`] characters.
fn pattern_of(text: &str) -> &str {
    match text.char_indices().nth(MAX_PATTERN_CHARS) {
        Some((end, _)) => &text[..end],
        None => text,
    }
}

/// Lower case without diacritics, compatibility forms folded, the PN separator as a space:
/// the form text is searched in.
///
/// Lower-cased a character at a time (no final-sigma rule), so that every text and every
/// identifier are normalized alike and [`EchoMatcher::clean`] can map offsets back.
pub fn normalize(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        fold(c, &mut out);
    }
    out
}

/// The searched form of one character: `^` as a space; otherwise its compatibility
/// decomposition (NFKD: full-width and ligature forms to their letters) without combining
/// marks (so NFC and NFD spellings, and "Muller" for "Müller", meet), lower-cased.
fn fold(c: char, out: &mut String) {
    if c == '^' {
        out.push(' ');
        return;
    }
    if c.is_ascii() {
        out.push(c.to_ascii_lowercase());
        return;
    }
    let before = out.len();
    unicode_normalization::char::decompose_compatible(c, |d| {
        if !unicode_normalization::char::is_combining_mark(d) {
            out.extend(d.to_lowercase());
        }
    });
    if out.len() == before && !unicode_normalization::char::is_combining_mark(c) {
        out.extend(c.to_lowercase());
    }
}

/// [`normalize`], with the original byte range of the character behind each byte.
fn normalize_mapped(text: &str) -> (String, Vec<(usize, usize)>) {
    let mut normal = String::with_capacity(text.len());
    let mut origin = Vec::with_capacity(text.len());
    for (at, c) in text.char_indices() {
        let range = (at, at + c.len_utf8());
        let before = normal.len();
        fold(c, &mut normal);
        origin.extend(std::iter::repeat_n(range, normal.len() - before));
    }
    (normal, origin)
}

/// Finds identifiers echoed in text.
#[derive(Debug, Clone)]
pub struct EchoMatcher {
    automaton: Option<AhoCorasick>,
    raw_automaton: Option<AhoCorasick>,
    /// The raw scan's patterns: the identifier each is the start of (an index into
    /// `items`), and its length in bytes.
    raw: Vec<(usize, usize)>,
    /// For each pattern, the identifiers it stands for, longest first.
    groups: Vec<Vec<usize>>,
    items: Vec<(String, IdentifierKind)>,
}

/// Letters of scripts written without spaces between words (CJK ideographs, kana, Thai,
/// Lao, Khmer, Myanmar): a name in them is found as a substring.
fn is_unspaced_script(c: char) -> bool {
    matches!(c as u32,
        0x0E00..=0x0EFF // Thai, Lao
        | 0x1000..=0x109F // Myanmar
        | 0x1780..=0x17FF // Khmer
        | 0x3040..=0x30FF // Hiragana, Katakana
        | 0x3400..=0x4DBF // CJK Extension A
        | 0x4E00..=0x9FFF // CJK Unified Ideographs
        | 0xF900..=0xFAFF // CJK Compatibility Ideographs
        | 0xFF66..=0xFF9F // half-width Katakana
        | 0x20000..=0x3FFFF // CJK Extensions B and later
    )
}

fn is_word_char(c: Option<char>) -> bool {
    c.is_some_and(char::is_alphanumeric)
}

/// How many patients' matchers are kept built at once. A matcher takes tens of KB; a
/// session has one per patient, but instances are read in the order they were indexed, so
/// one patient's come together and a small set of recent matchers serves nearly every
/// look-up: memory stays flat however many patients a dump has.
const RECENT_MATCHERS: usize = 128;

/// The most recently used matchers, kept alive; the rest are built again when needed.
pub(crate) type RecentMatchers =
    std::sync::Arc<std::sync::Mutex<std::collections::VecDeque<std::sync::Arc<EchoMatcher>>>>;

/// A patient's identifiers, and their [`EchoMatcher`] built on first use and dropped when
/// no recent use keeps it: the same answers as the matcher itself, in bounded memory.
pub(crate) struct LazyMatcher {
    set: IdentifierSet,
    built: std::sync::Mutex<std::sync::Weak<EchoMatcher>>,
    recent: RecentMatchers,
}

impl LazyMatcher {
    /// The matcher of `set`, sharing `recent` with the other patients of a session.
    pub fn new(set: IdentifierSet, recent: RecentMatchers) -> LazyMatcher {
        LazyMatcher {
            set,
            built: std::sync::Mutex::new(std::sync::Weak::new()),
            recent,
        }
    }

    /// A list that keeps the recently used matchers of a session alive.
    pub fn recent() -> RecentMatchers {
        Default::default()
    }

    /// The built matcher (built now, when no recent use keeps it).
    pub fn get(&self) -> std::sync::Arc<EchoMatcher> {
        // A poisoned lock only means another thread panicked while holding it: the Weak
        // inside is still sound.
        let mut built = self.built.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(matcher) = built.upgrade() {
            return matcher;
        }
        let matcher = std::sync::Arc::new(self.set.matcher());
        *built = std::sync::Arc::downgrade(&matcher);
        drop(built);
        let mut recent = self.recent.lock().unwrap_or_else(|p| p.into_inner());
        recent.push_back(matcher.clone());
        while recent.len() > RECENT_MATCHERS {
            recent.pop_front();
        }
        matcher
    }

    /// [`EchoMatcher::find_normalized`].
    pub fn find_normalized(&self, normal: &str) -> Option<IdentifierKind> {
        self.get().find_normalized(normal)
    }

    /// [`EchoMatcher::clean`].
    pub fn clean(&self, text: &str) -> String {
        self.get().clean(text)
    }

    /// [`EchoMatcher::find_in_bytes`], the identifier found owned.
    pub fn find_in_bytes(&self, bytes: &[u8]) -> Option<(String, IdentifierKind)> {
        self.get()
            .find_in_bytes(bytes)
            .map(|(text, kind)| (text.to_string(), kind))
    }
}

impl EchoMatcher {
    /// Every echo in `text`: byte ranges in the normalized text, and what they are.
    ///
    /// Spans are in order and never overlap; with `first_only`, the first one alone. Time is
    /// linear in the text: a match inside a span already taken is skipped unexamined.
    fn matches(&self, normal: &str, first_only: bool) -> Vec<(usize, usize, IdentifierKind)> {
        let Some(automaton) = &self.automaton else {
            // No automaton although there are identifiers (it could not be built): every
            // non-empty text counts as an echo of them, never as clean.
            return match self.items.first() {
                Some((_, kind)) if !normal.is_empty() => vec![(0, normal.len(), *kind)],
                _ => Vec::new(),
            };
        };
        let mut out = Vec::new();
        let mut covered = 0;
        for m in automaton.find_iter(normal) {
            let start = m.start();
            if start < covered {
                continue;
            }
            // The longest identifier behind the pattern that the text goes on with. A cut
            // pattern that no identifier completes still stands for one: the echo then
            // runs to the end of the text (fail closed).
            let group = &self.groups[m.pattern().as_usize()];
            let fits = group
                .iter()
                .take(MAX_SHARED_PATTERN)
                .map(|&at| &self.items[at])
                .find(|(text, _)| {
                    text.len() == m.len() || normal[start..].starts_with(text.as_str())
                });
            let ((text, kind), end) = match fits {
                Some(item) => (item, start + item.0.len()),
                None => (&self.items[group[0]], normal.len()),
            };
            // Short identifiers, and names in scripts that separate words, match only as
            // whole words ("mary" is not in PRIMARY, "wind" not in WINDOW).
            let whole_word = text.chars().nth(WHOLE_WORD_BELOW - 1).is_none()
                || (*kind == IdentifierKind::Name && !text.chars().any(is_unspaced_script));
            if whole_word {
                let before = normal[..start].chars().next_back();
                let after = normal[end..].chars().next();
                if is_word_char(before) || is_word_char(after) {
                    continue;
                }
            }
            out.push((start, end, *kind));
            covered = end;
            if first_only {
                break;
            }
        }
        out
    }

    /// The first identifier echoed in `text`, if any.
    pub fn find(&self, text: &str) -> Option<IdentifierKind> {
        self.find_normalized(&normalize(text))
    }

    /// [`EchoMatcher::find`] on text already [`normalize`]d (several matchers, one
    /// normalization).
    pub fn find_normalized(&self, normal: &str) -> Option<IdentifierKind> {
        self.matches(normal, true).first().map(|m| m.2)
    }

    /// `text` with every echoed identifier replaced by `*`, in the text's own case.
    pub fn clean(&self, text: &str) -> String {
        // Matching runs on the lower-cased text, whose byte offsets differ from the
        // original's outside ASCII (İ grows, ẞ shrinks): each lower-cased byte maps back to
        // the original character it came from, and a span covers those characters whole.
        let (normal, origin) = normalize_mapped(text);
        let mut out = String::with_capacity(text.len());
        let mut at = 0;
        for (start, end, _) in self.matches(&normal, false) {
            let (from, _) = origin[start];
            let (_, to) = origin[end - 1];
            if from < at {
                continue;
            }
            out.push_str(&text[at..from]);
            out.push('*');
            at = to;
        }
        out.push_str(&text[at..]);
        out
    }

    /// Whether `bytes` contain an identifier of at least 4 characters (a raw scan of an
    /// encoded header, where word boundaries mean nothing).
    pub fn find_in_bytes(&self, bytes: &[u8]) -> Option<(&str, IdentifierKind)> {
        let raw = |&(at, len): &(usize, usize)| {
            let (text, kind) = &self.items[at];
            (&text[..len], *kind)
        };
        let Some(raw_automaton) = &self.raw_automaton else {
            // As in `matches`: identifiers without an automaton leave no value clean.
            return self.raw.first().filter(|_| !bytes.is_empty()).map(raw);
        };
        let found = raw_automaton.find(bytes)?;
        self.raw.get(found.pattern().as_usize()).map(raw)
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
    fn identifiers_whose_automaton_could_not_be_built_leave_nothing_clean() {
        let mut m = set(&["KOWALCZYK^Genevieve"], &["MRN46310803"]).matcher();
        m.automaton = None;
        m.raw_automaton = None;
        assert!(m.find("an unrelated sentence").is_some());
        assert_eq!(m.clean("abc"), "*", "the whole text is masked");
        assert!(m.find_in_bytes(b"\x01\x02").is_some());
        assert_eq!(m.find(""), None, "an empty value has nothing to echo");
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
        assert_eq!(
            m.find_in_bytes(b"\x00\x10PN\x0cOkOnKwO^x"),
            Some(("okonkwo", IdentifierKind::Name))
        );
        assert_eq!(
            m.find_in_bytes(b"uid 1.2.84911251.7"),
            Some(("84911251", IdentifierKind::Id))
        );
        assert_eq!(m.find_in_bytes(b"Li is too short to scan raw"), None);
    }

    #[test]
    fn cleaning_keeps_case_and_never_splits_a_character() {
        // İ lower-cases to two characters and ẞ to a shorter one: the lower-cased copy has
        // other byte offsets than the text, once with the same total length.
        let m = set(&["İẞKOWSKI^Zoë"], &[]).matcher();
        assert_eq!(m.clean("Dr İẞkowski and ZOË saw it"), "Dr * and * saw it");
        assert_eq!(m.clean("İẞ İẞKOWSKI"), "İẞ *");
        let m = set(&["ΣΩΚΡΑΤΗΣ"], &[]).matcher();
        assert_eq!(
            m.clean("Ο Σωκράτης"),
            "Ο Σωκράτης",
            "accents differ: not an echo"
        );
        assert_eq!(m.clean("ο ΣΩΚΡΑΤΗΣ ήρθε"), "ο * ήρθε");
    }

    #[test]
    fn an_identifier_longer_than_a_pattern_is_cleaned_whole() {
        let long = "7".repeat(5_000);
        let m = set(&[], &[&long]).matcher();
        let text = format!("id {long} end");
        assert_eq!(m.clean(&text), "id * end");
        // The text goes on differently after the pattern: cleaned to the end.
        let text = format!("id {}8 rest", &long[..4_000]);
        assert_eq!(m.clean(&text), "id *");
    }

    #[test]
    fn an_identifier_that_is_the_first_part_of_a_longer_one_does_not_hide_it() {
        let short = "4".repeat(64);
        let long = format!("{short}{}", "5".repeat(200));
        let m = set(&[], &[&short, &long]).matcher();
        assert_eq!(m.clean(&format!("a {long} b")), "a * b");
        assert_eq!(m.clean(&format!("a {short} b")), "a * b");
        assert_eq!(m.clean(&format!("a {short}6 b")), "a *6 b");
    }

    #[test]
    fn building_and_matching_stay_linear_in_value_length() {
        // Cost grows with the length of a repetitive identifier; a 1,000,000-character
        // one would take hours if the automaton held it whole.
        let long = "a".repeat(1_000_000);
        let m = set(&[&long], &[&long]).matcher();
        assert_eq!(m.clean(&long), "*");
        assert_eq!(m.find(&format!("x {long}")), Some(IdentifierKind::Name));
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

    #[test]
    fn names_match_across_normalization_forms_and_diacritics() {
        let mut names = IdentifierSet::default();
        names.add_name("M\u{fc}ller^J\u{fc}rgen");
        let matcher = names.matcher();
        for text in [
            "seen by Mu\u{308}ller today",
            "seen by MULLER today",
            "seen by \u{ff2d}\u{ff35}\u{ff2c}\u{ff2c}\u{ff25}\u{ff32} today",
            "J\u{fc}rgen",
        ] {
            let cleaned = matcher.clean(text);
            assert!(
                !normalize(&cleaned).contains("muller") && !normalize(&cleaned).contains("jurgen"),
                "{text} -> {cleaned}"
            );
        }
    }

    #[test]
    fn keys_of_one_id_link_unless_name_and_birth_date_both_disagree() {
        let d = |names: &[&str], births: &[&str]| Demographics {
            names: names.iter().map(|n| n.to_string()).collect(),
            births: births.iter().map(|b| b.to_string()).collect(),
        };
        let (a, b, c, w) = (
            d(&["doe jane"], &["19700101"]),
            d(&["smith jane"], &["19700101"]),
            d(&["roe richard"], &["19550505"]),
            d(&[], &["19990909"]),
        );
        let linkage = crate::settings::PatientLinkage::Id;
        let keys = [("id:P|", &a), ("id:P|B", &b), ("id:P|C", &c)];
        let links = link_patients(keys.into_iter(), linkage);
        assert_eq!(links.get("id:P|B").map(String::as_str), Some("id:P|"));
        assert_eq!(links.get("id:P|C"), None, "another person was linked");
        // A key without a name can be anyone's: it joins them all.
        let keys = [
            ("id:P|", &a),
            ("id:P|B", &b),
            ("id:P|C", &c),
            ("id:P|W", &w),
        ];
        let links = link_patients(keys.into_iter(), linkage);
        assert_eq!(links.get("id:P|C").map(String::as_str), Some("id:P|"));
        // Many issuers of one ID: linked in one pass.
        let many: Vec<(String, Demographics)> = (0..20_000)
            .map(|i| {
                (
                    format!("id:P|I{i:05}"),
                    d(&[&format!("name {i}")], &[&format!("b{i}")]),
                )
            })
            .collect();
        let links = link_patients(many.iter().map(|(k, d)| (k.as_str(), d)), linkage);
        assert!(links.is_empty());
    }

    mod properties {
        use super::*;
        use proptest::prelude::*;

        fn plain(s: &str) -> bool {
            !s.chars()
                .any(|c| c.is_whitespace() || matches!(c, '^' | '\\' | ','))
        }

        proptest! {
            #![proptest_config(ProptestConfig { failure_persistence: None, ..ProptestConfig::with_cases(512) })]

            #[test]
            fn cleaning_never_panics(text in "\\PC{0,80}", ids in proptest::collection::vec("\\PC{1,20}", 0..6)) {
                let mut set = IdentifierSet::default();
                for id in &ids {
                    set.add_id(id);
                    set.add_name(id);
                }
                let matcher = set.matcher();
                let _ = matcher.clean(&text);
                let _ = matcher.find(&text);
                let _ = crate::detect::rewrite(&text, crate::detect::DateRewrite::Shift(-17), &|u| u.to_string());
            }

            #[test]
            fn an_identifier_never_survives_cleaning(
                before in "\\PC{0,30}",
                id in "\\PC{4,20}",
                after in "\\PC{0,30}",
            ) {
                prop_assume!(plain(&id) && id.chars().any(char::is_alphanumeric));
                let mut set = IdentifierSet::default();
                set.add_id(&id);
                let normal_id = normalize(id.trim());
                prop_assume!(set.items.iter().any(|(t, _)| *t == normal_id));
                let text = format!("{before} {id} {after}");
                let cleaned = set.matcher().clean(&text);
                prop_assert!(
                    !normalize(&cleaned).contains(&normal_id),
                    "{:?} survived in {:?}", id, cleaned
                );
            }

            #[test]
            fn a_name_never_survives_as_a_word(
                before in "[\\PC&&[^\\p{Alphabetic}\\p{N}]]{0,3}",
                name in "\\p{L}{2,16}",
                after in "[\\PC&&[^\\p{Alphabetic}\\p{N}]]{0,3}",
            ) {
                // Word boundaries are judged on the folded text (㉐ folds to "pte").
                prop_assume!(!normalize(&format!("{before}{after}")).chars().any(char::is_alphanumeric));
                let mut set = IdentifierSet::default();
                set.add_name(&format!("{name}^X"));
                let normal = normalize(&name);
                prop_assume!(set.items.iter().any(|(t, _)| *t == normal));
                let text = format!("{before}{name}{after}");
                let cleaned = set.matcher().clean(&text);
                prop_assert!(!normalize(&cleaned).contains(&normal), "{:?} in {:?}", name, cleaned);
            }
        }
    }
}
