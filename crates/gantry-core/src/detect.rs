//! The PHI detector: what a kept text value *says*, whatever attribute holds it.
//!
//! Rules decide by attribute; this module reads the value. It finds dates in common
//! spellings, telephone numbers, e-mail addresses, URLs, UIDs, ID-like numbers, postal
//! codes and person names (in name-like context: titles, "signed by", `^`-separated parts,
//! or a given name followed by a surname from the US Census lists that is not a pair of
//! common words). Spans never overlap; [`rewrite`] replaces each one: dates are shifted in
//! their own spelling (or removed), UIDs remapped, everything else masked.
//!
//! Time is linear in the text: every pattern is a `regex` (finite automata, no
//! backtracking) and name lookups are hash lookups per word.

use std::collections::HashSet;
use std::sync::OnceLock;

use regex::{Captures, Regex};
use serde::{Deserialize, Serialize};

/// What a detected span is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PhiKind {
    /// A calendar date.
    Date,
    /// A telephone or fax number (or an IP address).
    Telephone,
    /// An e-mail address.
    Email,
    /// A URL.
    Url,
    /// A DICOM UID written in text.
    Uid,
    /// A number or code that looks like a record, accession or insurance identifier.
    IdNumber,
    /// A postal code.
    PostalCode,
    /// A person's name.
    PersonName,
}

impl PhiKind {
    /// A short label for reports.
    pub fn label(self) -> &'static str {
        match self {
            PhiKind::Date => "date",
            PhiKind::Telephone => "telephone number",
            PhiKind::Email => "e-mail address",
            PhiKind::Url => "URL",
            PhiKind::Uid => "UID",
            PhiKind::IdNumber => "ID-like number",
            PhiKind::PostalCode => "postal code",
            PhiKind::PersonName => "person name",
        }
    }
}

/// A date written in text: where its year, month and day are, and how they read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DateText {
    year: (usize, usize),
    month: (usize, usize),
    day: Option<(usize, usize)>,
    y: i64,
    m: u32,
    d: u32,
}

/// One detected span: byte offsets into the text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Span {
    pub start: usize,
    pub end: usize,
    pub kind: PhiKind,
    pub date: Option<DateText>,
}

struct Detector {
    iso: Regex,
    numeric: Regex,
    compact: Regex,
    day_month: Regex,
    month_day: Regex,
    month_year: Regex,
    email: Regex,
    url: Regex,
    uid: Regex,
    ssn: Regex,
    phone: Regex,
    id_context: Regex,
    digits: Regex,
    postal: Regex,
    caret: Regex,
    title: Regex,
    by: Regex,
    kin: Regex,
    label: Regex,
    word: Regex,
    given: HashSet<&'static str>,
    surnames: HashSet<&'static str>,
    common_given: HashSet<&'static str>,
    common_surnames: HashSet<&'static str>,
    words: HashSet<&'static str>,
    top_names: HashSet<&'static str>,
}

/// US Census 1990 name lists (public domain), names only; the common-word lists are those
/// names that Debian's `wamerican` 2020.12.07 lists as lower-case words (see data/README.md).
const GIVEN: &str = include_str!("../data/names/given.txt");
const SURNAMES: &str = include_str!("../data/names/surnames.txt");
const COMMON_GIVEN: &str = include_str!("../data/names/common_given.txt");
const COMMON_SURNAMES: &str = include_str!("../data/names/common_surnames.txt");
/// Debian `wamerican` 2020.12.07: its lower-case words, upper-cased (SCOWL, permissive).
const WORDS: &str = include_str!("../data/names/words.txt");
/// The 1,000 most frequent surnames and the 700 female and 300 male given names.
const TOP_NAMES: &str = include_str!("../data/names/top_names.txt");

const MONTHS: &str = "jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?";

fn set(text: &'static str) -> HashSet<&'static str> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect()
}

fn regex(pattern: &str) -> Regex {
    // The patterns are constants of this module, checked by its tests.
    Regex::new(pattern).unwrap_or_else(|e| panic!("detector pattern {pattern:?}: {e}"))
}

fn detector() -> &'static Detector {
    static DETECTOR: OnceLock<Detector> = OnceLock::new();
    DETECTOR.get_or_init(|| {
        let name = r"\p{Lu}[\p{L}'’\-]*\.?";
        Detector {
            iso: regex(r"\b([0-9]{4})([-/.])([0-9]{1,2})([-/.])([0-9]{1,2})\b"),
            numeric: regex(r"\b([0-9]{1,2})([-/.])([0-9]{1,2})([-/.])([0-9]{4}|[0-9]{2})\b"),
            compact: regex(r"\b((?:1[89]|20)[0-9]{2})([0-9]{2})([0-9]{2})(?:[0-9]{4,6}(?:\.[0-9]+)?)?\b"),
            day_month: regex(&format!(
                r"(?i)\b([0-9]{{1,2}})(?:st|nd|rd|th)?(?:\s+of)?[ \-/.]*({MONTHS})\b\.?,?[ \-/.]*([0-9]{{4}}|[0-9]{{2}})\b"
            )),
            month_day: regex(&format!(
                r"(?i)\b({MONTHS})\b\.?[ \-/.]*([0-9]{{1,2}})(?:st|nd|rd|th)?\b,?[ \-/.]*([0-9]{{4}})\b"
            )),
            month_year: regex(&format!(r"(?i)\b({MONTHS})\b\.?,?[ \-/]*([0-9]{{4}})\b")),
            email: regex(r"[\p{L}0-9._%+\-]+@[\p{L}0-9.\-]+\.[\p{L}]{2,}"),
            url: regex(r"(?i)\b(?:(?:https?|ftp|file|dicomweb)://|www\.)[^\s<>]+"),
            uid: regex(r"\b[0-2](?:\.(?:0|[1-9][0-9]*)){3,}\b"),
            ssn: regex(r"\b[0-9]{3}-[0-9]{2}-[0-9]{4}\b"),
            phone: regex(r"(?:\+[0-9]{1,3}[ .\-]?)?(?:\([0-9]{1,4}\)[ .\-]?)?\b[0-9]{2,4}(?:[ .\-][0-9]{2,5}){1,4}\b"),
            id_context: regex(
                r"(?i)\b(?:mrn|pid|id|ids|acc(?:ession)?|chart|record|case|ssn|nhs|insurance|policy|member|patient|pt|admission|visit|encounter)\b\s*(?:no\.?|nr\.?|number|num|#)?\s*[:#=]?\s*([A-Za-z]*[0-9][A-Za-z0-9\-/]{2,})",
            ),
            digits: regex(r"[0-9]{6,}"),
            postal: regex(
                r"\b(?:[A-Z]{1,2}[0-9][A-Z0-9]? ?[0-9][A-Z]{2}|[A-Z][0-9][A-Z] ?[0-9][A-Z][0-9]|[0-9]{5}-[0-9]{4}|[A-Z]{2} +[0-9]{5})\b",
            ),
            caret: regex(r"[\p{L}'’\-]+(?:\^[\p{L}'’\-]*)+"),
            // Titles that are also modality or document codes (DR, MR, MS, SR: "MR BRAIN",
            // "SR Features") count in title case or with a period; the others in any case.
            title: regex(&format!(
                r"(?:\b(?:Dr|Drs|Mr|Mrs|Ms|Mx|Sr|Sra|Srta)\b\.?|\b(?i:dr|drs|mr|mrs|ms|mx|sr|sra|srta)\.|(?i:\b(?:mrs|miss|prof|professor|sir|dame|herr|frau|mme|mlle|doctor)\b\.?))\s*((?:[\p{{L}}'’\-]+\.?)(?:\s+{name}){{0,2}})"
            )),
            by: regex(&format!(
                r"(?i:\b(?:signed|dictated|read|reported|reviewed|approved|seen|referred|transcribed|verified|performed|examined|interpreted|attended|accompanied|requested|ordered|authored|written|typed|sent)\s+by)\s*:?\s*((?:{name})(?:\s+{name}){{0,2}})"
            )),
            kin: regex(&format!(
                r"(?i:\b(?:mother|father|wife|husband|son|daughter|sister|brother|spouse|partner|fianc[eé]e?|guardian|parent|grand(?:mother|father|son|daughter)|aunt|uncle|nephew|niece|cousin|friend|neighbou?r|carer|caregiver|next of kin)\b)\s*[:=,]?\s*((?:{name})(?:\s+{name}){{0,2}})"
            )),
            label: regex(&format!(
                r"(?i:\b(?:physician|radiologist|technologist|technician|tech|attending|referrer|surgeon|nurse|operator|patient|name|mother|father|wife|husband|son|daughter|sister|brother|spouse|partner|guardian|parent|relative|friend|contact|nok|signature|signed|author|reader|dictated|consultant|resident|fellow)\b)\s*[:=]\s*((?:{name})(?:\s+{name}){{0,2}})"
            )),
            word: regex(r"[\p{L}][\p{L}'’]*(?:-[\p{L}][\p{L}'’]*)*"),
            given: set(GIVEN),
            surnames: set(SURNAMES),
            common_given: set(COMMON_GIVEN),
            common_surnames: set(COMMON_SURNAMES),
            words: set(WORDS),
            top_names: set(TOP_NAMES),
        }
    })
}

fn month_number(name: &str) -> Option<u32> {
    let lower = name.to_ascii_lowercase();
    let key = lower.get(..3)?;
    Some(match key {
        "jan" => 1,
        "feb" => 2,
        "mar" => 3,
        "apr" => 4,
        "may" => 5,
        "jun" => 6,
        "jul" => 7,
        "aug" => 8,
        "sep" => 9,
        "oct" => 10,
        "nov" => 11,
        "dec" => 12,
        _ => return None,
    })
}

fn number(caps: &Captures<'_>, group: usize) -> Option<(i64, (usize, usize))> {
    let m = caps.get(group)?;
    Some((m.as_str().parse().ok()?, (m.start(), m.end())))
}

/// A two-digit year read as 1950–2049.
fn full_year(y: i64, digits: usize) -> i64 {
    match digits {
        2 if y < 50 => 2000 + y,
        2 => 1900 + y,
        _ => y,
    }
}

fn valid(y: i64, m: i64, d: i64) -> bool {
    (1..=12).contains(&m) && crate::dates::shift_ymd(y, m as u32, d as u32, 0).is_some()
}

impl Detector {
    fn dates(&self, text: &str, out: &mut Vec<Span>) {
        let mut push = |start: usize, end: usize, date: DateText| {
            out.push(Span {
                start,
                end,
                kind: PhiKind::Date,
                date: Some(date),
            })
        };
        for caps in self.iso.captures_iter(text) {
            let (Some((y, ys)), Some((m, ms)), Some((d, ds))) =
                (number(&caps, 1), number(&caps, 3), number(&caps, 5))
            else {
                continue;
            };
            if caps.get(2).map(|s| s.as_str()) != caps.get(4).map(|s| s.as_str()) || !valid(y, m, d)
            {
                continue;
            }
            let whole = caps.get(0).map_or((0, 0), |w| (w.start(), w.end()));
            push(whole.0, whole.1, date_text(ys, ms, Some(ds), y, m, d));
        }
        for caps in self.numeric.captures_iter(text) {
            let (Some((a, a_at)), Some((b, b_at)), Some((y, y_at))) =
                (number(&caps, 1), number(&caps, 3), number(&caps, 5))
            else {
                continue;
            };
            let separator = caps.get(2).map_or("", |s| s.as_str());
            if Some(separator) != caps.get(4).map(|s| s.as_str()) {
                continue;
            }
            let y = full_year(y, y_at.1 - y_at.0);
            // Slashes are read month first (US) unless the first number cannot be a month;
            // dots and dashes day first (most of the world).
            let month_first = separator == "/";
            let (m, m_at, d, d_at) = if month_first && valid(y, a, b) {
                (a, a_at, b, b_at)
            } else if valid(y, b, a) {
                (b, b_at, a, a_at)
            } else if valid(y, a, b) {
                (a, a_at, b, b_at)
            } else {
                continue;
            };
            let whole = caps.get(0).map_or((0, 0), |w| (w.start(), w.end()));
            push(whole.0, whole.1, date_text(y_at, m_at, Some(d_at), y, m, d));
        }
        for caps in self.compact.captures_iter(text) {
            let (Some((y, ys)), Some((m, ms)), Some((d, ds))) =
                (number(&caps, 1), number(&caps, 2), number(&caps, 3))
            else {
                continue;
            };
            if valid(y, m, d) {
                let whole = caps.get(0).map_or((0, 0), |w| (w.start(), w.end()));
                push(whole.0, whole.1, date_text(ys, ms, Some(ds), y, m, d));
            }
        }
        // "4 March 2021" and "March 4, 2021": day, month and year groups of each form.
        for (regex, day, month, year) in [(&self.day_month, 1, 2, 3), (&self.month_day, 2, 1, 3)] {
            for caps in regex.captures_iter(text) {
                let (Some((d, ds)), Some(month), Some((y, ys))) =
                    (number(&caps, day), caps.get(month), number(&caps, year))
                else {
                    continue;
                };
                let Some(m) = month_number(month.as_str()) else {
                    continue;
                };
                let y = full_year(y, ys.1 - ys.0);
                if valid(y, m as i64, d) {
                    let whole = caps.get(0).map_or((0, 0), |w| (w.start(), w.end()));
                    let ms = (month.start(), month.end());
                    push(
                        whole.0,
                        whole.1,
                        date_text(ys, ms, Some(ds), y, m as i64, d),
                    );
                }
            }
        }
        for caps in self.month_year.captures_iter(text) {
            let (Some(month), Some((y, ys))) = (caps.get(1), number(&caps, 2)) else {
                continue;
            };
            let Some(m) = month_number(month.as_str()) else {
                continue;
            };
            if (1800..=2200).contains(&y) {
                let whole = caps.get(0).map_or((0, 0), |w| (w.start(), w.end()));
                let ms = (month.start(), month.end());
                push(whole.0, whole.1, date_text(ys, ms, None, y, m as i64, 15));
            }
        }
    }

    fn simple(&self, text: &str, out: &mut Vec<Span>, has_digit: bool) {
        let mut add = |regex: &Regex, kind: PhiKind| {
            for m in regex.find_iter(text) {
                out.push(span(m.start(), m.end(), kind));
            }
        };
        if text.contains('@') {
            add(&self.email, PhiKind::Email);
        }
        if text.contains("://")
            || text
                .as_bytes()
                .windows(4)
                .any(|w| w.eq_ignore_ascii_case(b"www."))
        {
            add(&self.url, PhiKind::Url);
        }
        if !has_digit {
            return;
        }
        add(&self.uid, PhiKind::Uid);
        add(&self.ssn, PhiKind::IdNumber);
        add(&self.postal, PhiKind::PostalCode);
        for m in self.phone.find_iter(text) {
            let digits = m.as_str().bytes().filter(u8::is_ascii_digit).count();
            if (7..=15).contains(&digits) {
                out.push(span(m.start(), m.end(), PhiKind::Telephone));
            }
        }
        for caps in self.id_context.captures_iter(text) {
            if let Some(m) = caps.get(1) {
                out.push(span(m.start(), m.end(), PhiKind::IdNumber));
            }
        }
        for m in self.digits.find_iter(text) {
            // The fraction of a decimal number is not an identifier.
            let before = &text.as_bytes()[..m.start()];
            let fraction = before.len() >= 2
                && before[before.len() - 1] == b'.'
                && before[before.len() - 2].is_ascii_digit();
            if !fraction {
                out.push(span(m.start(), m.end(), PhiKind::IdNumber));
            }
        }
    }

    fn is_given(&self, word: &str) -> bool {
        self.given.contains(word) || word.split('-').any(|p| self.given.contains(p))
    }

    fn is_surname(&self, word: &str) -> bool {
        self.surnames.contains(word) || word.split('-').any(|p| self.surnames.contains(p))
    }

    fn names(&self, text: &str, out: &mut Vec<Span>) {
        // `^`-joined parts are a person's name unless every part is a common word that is
        // not a frequent name (CHEST^ROUTINE, abdomen^liver are protocols).
        let carets = if text.contains('^') {
            self.caret.find_iter(text).collect()
        } else {
            Vec::new()
        };
        for m in carets {
            let name_like = m
                .as_str()
                .split(['^', '-'])
                .filter(|p| p.chars().count() >= 2)
                .any(|p| {
                    self.is_strong_name(&p.to_uppercase())
                        || !self.words.contains(p.to_uppercase().as_str())
                });
            if name_like {
                out.push(span(m.start(), m.end(), PhiKind::PersonName));
            }
        }
        // One pass says whether any context is there; only then are the spans found.
        let any_context = contexts(self).is_none_or(|set| set.is_match(text));
        let regexes: &[&Regex] = if any_context {
            &[&self.title, &self.by, &self.kin, &self.label]
        } else {
            &[]
        };
        for regex in regexes {
            for caps in regex.captures_iter(text) {
                if let Some(m) = caps.get(1) {
                    let trimmed = m.as_str().trim_end_matches(['.', ' ']);
                    if !trimmed.is_empty() {
                        out.push(span(
                            m.start(),
                            m.start() + trimmed.len(),
                            PhiKind::PersonName,
                        ));
                    }
                }
            }
        }
        // A given name then a surname (or "Surname, Given"), capitalized, unless both are
        // common words ("Grace Period", "Will Young" read as words).
        let words: Vec<(usize, usize, String)> = self
            .word
            .find_iter(text)
            .filter(|w| w.as_str().chars().next().is_some_and(char::is_uppercase))
            .map(|w| (w.start(), w.end(), w.as_str().to_uppercase()))
            .collect();
        let pairs = (0..words.len()).flat_map(|i| [(i, i + 1), (i, i + 2)]);
        for (i, j) in pairs {
            let (Some((a_start, a_end, a)), Some((b_start, b_end, b))) =
                (words.get(i), words.get(j))
            else {
                continue;
            };
            let between = &text[*a_end..*b_start];
            let gap_ok = if j == i + 1 {
                matches!(between, " " | "  ") || (between.trim() == "," && between.len() <= 3)
            } else {
                is_initial_gap(between)
            };
            if !gap_ok {
                continue;
            }
            let (given, surname) = if between.trim() == "," {
                (b, a)
            } else {
                (a, b)
            };
            if self.is_given(given)
                && self.is_surname(surname)
                && !(self.common_given.contains(given.as_str())
                    && self.common_surnames.contains(surname.as_str()))
                && !(self.common_surnames.contains(given.as_str())
                    && self.common_surnames.contains(surname.as_str())
                    && !self.given_is_strong(given))
            {
                out.push(span(*a_start, *b_end, PhiKind::PersonName));
            }
        }
    }

    /// A name from the census lists that is not a common word, or that is one of the most
    /// frequent names (SMITH, JOHN, WHITE).
    fn is_strong_name(&self, upper: &str) -> bool {
        (self.given.contains(upper) || self.surnames.contains(upper))
            && (!self.words.contains(upper) || self.top_names.contains(upper))
    }

    /// A given name that is not itself a common word (MARY, JOHN): then the pair is a name
    /// even when the surname is a word too (Mary White).
    fn given_is_strong(&self, given: &str) -> bool {
        !self.common_given.contains(given)
    }
}

/// Between a given name and a surname: a middle initial ("John A. Smith").
fn is_initial_gap(between: &str) -> bool {
    let b = between.trim();
    let mut chars = b.chars();
    matches!(
        (chars.next(), chars.next(), chars.next()),
        (Some(c), Some('.'), None) | (Some(c), None, None) if c.is_uppercase()
    ) && between.starts_with(' ')
        && between.ends_with(' ')
}

fn span(start: usize, end: usize, kind: PhiKind) -> Span {
    Span {
        start,
        end,
        kind,
        date: None,
    }
}

fn date_text(
    year: (usize, usize),
    month: (usize, usize),
    day: Option<(usize, usize)>,
    y: i64,
    m: i64,
    d: i64,
) -> DateText {
    DateText {
        year,
        month,
        day,
        y,
        m: m as u32,
        d: d as u32,
    }
}

/// Whether a name part is an ordinary word rather than a name: a lower-case word of the
/// English word list that is not a frequent name. Such parts of other people's names are
/// not searched for in everyone's text (staff "Observer^Text" would mask every "Text").
pub(crate) fn is_ordinary_word(part: &str) -> bool {
    let detector = detector();
    let upper = part.to_uppercase();
    detector.words.contains(upper.as_str()) && !detector.is_strong_name(&upper)
}

/// What verify looks for in every free-text value it exports, whatever rule kept it: an
/// e-mail address, or a person's name in unmistakable context (a title, "signed by", a kin
/// word, a label such as "Physician:"). Unlike [`detect`], nothing here is ever a
/// legitimate part of a de-identified value.
pub(crate) fn unmistakable_phi(text: &str) -> Option<PhiKind> {
    let detector = detector();
    if text.contains('@') && detector.email.is_match(text) {
        return Some(PhiKind::Email);
    }
    // Every context is a word and a name after it: short codes have fewer letters.
    text.chars().filter(|c| c.is_alphabetic()).nth(3)?;
    let found = match contexts(detector) {
        Some(set) => set.is_match(text),
        None => [
            &detector.title,
            &detector.by,
            &detector.kin,
            &detector.label,
        ]
        .iter()
        .any(|r| r.is_match(text)),
    };
    found.then_some(PhiKind::PersonName)
}

/// The four name-context patterns as one automaton (one pass answers "is any there?").
fn contexts(detector: &Detector) -> Option<&'static regex::RegexSet> {
    static CONTEXTS: OnceLock<Option<regex::RegexSet>> = OnceLock::new();
    CONTEXTS
        .get_or_init(|| {
            regex::RegexSet::new([
                detector.title.as_str(),
                detector.by.as_str(),
                detector.kin.as_str(),
                detector.label.as_str(),
            ])
            .ok()
        })
        .as_ref()
}

/// Priority when two candidate spans start together: the more specific class first.
fn rank(kind: PhiKind) -> u8 {
    match kind {
        PhiKind::Email => 0,
        PhiKind::Url => 1,
        PhiKind::Uid => 2,
        PhiKind::Date => 3,
        PhiKind::IdNumber => 4,
        PhiKind::Telephone => 5,
        PhiKind::PostalCode => 6,
        PhiKind::PersonName => 7,
    }
}

/// Every PHI span of `text`, in order, never overlapping (an overlap is merged into the
/// earlier span, so nothing is left half-masked).
pub(crate) fn detect(text: &str) -> Vec<Span> {
    let detector = detector();
    let mut found = Vec::new();
    // Dates, numbers, UIDs, codes and telephones all need a digit: most text has none.
    let has_digit = text.bytes().any(|b| b.is_ascii_digit());
    if has_digit {
        detector.dates(text, &mut found);
    }
    detector.simple(text, &mut found, has_digit);
    detector.names(text, &mut found);
    found.sort_by(|a, b| {
        a.start
            .cmp(&b.start)
            .then(b.end.cmp(&a.end))
            .then(rank(a.kind).cmp(&rank(b.kind)))
    });
    let mut out: Vec<Span> = Vec::with_capacity(found.len());
    for candidate in found {
        match out.last_mut() {
            Some(last) if candidate.start < last.end => {
                if candidate.end > last.end {
                    // Overlapping different findings: one masked span over both.
                    last.end = candidate.end;
                    last.date = None;
                    if last.kind == PhiKind::Date {
                        last.kind = candidate.kind;
                    }
                }
            }
            _ => out.push(candidate),
        }
    }
    out
}

/// How a date found in text is rewritten: shifted by these days, or removed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum DateRewrite {
    /// Moved by the patient's offset, in its own spelling.
    Shift(i32),
    /// Kept as written (Retain Longitudinal Temporal Information with Full Dates).
    Keep,
    /// Masked.
    Remove,
}

/// The text of a date span moved by `days`, written the way it was; `None` when it cannot
/// be shifted.
fn shifted_date(text: &str, span: &Span, days: i32) -> Option<String> {
    let date = span.date.as_ref()?;
    let (y, m, d) = crate::dates::shift_ymd(date.y, date.m, date.d, days)?;
    let mut parts: Vec<((usize, usize), String)> = Vec::new();
    let year_len = date.year.1 - date.year.0;
    parts.push((
        date.year,
        if year_len == 2 {
            format!("{:02}", y % 100)
        } else {
            format!("{y:04}")
        },
    ));
    let month_text = &text[date.month.0..date.month.1];
    parts.push((
        date.month,
        if month_text.bytes().all(|b| b.is_ascii_digit()) {
            format!("{m:0width$}", width = month_text.len())
        } else {
            month_name(m, month_text)
        },
    ));
    if let Some(day) = date.day {
        parts.push((day, format!("{d:0width$}", width = day.1 - day.0)));
    }
    parts.sort_by_key(|p| p.0.0);
    let mut out = String::new();
    let mut at = span.start;
    for ((from, to), value) in parts {
        out.push_str(&text[at..from]);
        out.push_str(&value);
        at = to;
    }
    out.push_str(&text[at..span.end]);
    Some(out)
}

/// Month `m` spelled like `like` (abbreviated or full; upper, lower or title case).
fn month_name(m: u32, like: &str) -> String {
    const FULL: [&str; 12] = [
        "january",
        "february",
        "march",
        "april",
        "may",
        "june",
        "july",
        "august",
        "september",
        "october",
        "november",
        "december",
    ];
    let full = FULL[(m as usize).saturating_sub(1).min(11)];
    let name: String = if like.chars().count() <= 4 && like.chars().count() < full.len() {
        full.chars().take(3).collect()
    } else {
        full.to_string()
    };
    if like.chars().all(|c| !c.is_lowercase()) {
        name.to_uppercase()
    } else if like.chars().next().is_some_and(char::is_uppercase) {
        let mut chars = name.chars();
        chars
            .next()
            .map(|c| c.to_uppercase().chain(chars).collect())
            .unwrap_or_default()
    } else {
        name
    }
}

/// The result of rewriting a text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Rewritten {
    /// The new text.
    pub text: String,
    /// What was found, in order.
    pub kinds: Vec<PhiKind>,
}

/// `text` with every detected span rewritten: dates per `dates`, UIDs through `uid`,
/// everything else replaced by `*`. `None` when nothing was found.
pub(crate) fn rewrite(
    text: &str,
    dates: DateRewrite,
    uid: &dyn Fn(&str) -> String,
) -> Option<Rewritten> {
    let spans = detect(text);
    if spans.is_empty() {
        return None;
    }
    let mut out = String::with_capacity(text.len());
    let mut at = 0;
    let mut kinds = Vec::new();
    for span in &spans {
        out.push_str(&text[at..span.start]);
        let piece = &text[span.start..span.end];
        let replacement = match (span.kind, dates) {
            (PhiKind::Date, DateRewrite::Keep) => Some(piece.to_string()),
            (PhiKind::Date, DateRewrite::Shift(days)) => shifted_date(text, span, days),
            (PhiKind::Uid, _) if crate::vr::is_well_known_uid(piece) => Some(piece.to_string()),
            (PhiKind::Uid, _) => Some(uid(piece)),
            _ => None,
        };
        match replacement {
            Some(value) => out.push_str(&value),
            None => out.push('*'),
        }
        if !(span.kind == PhiKind::Date && dates == DateRewrite::Keep) {
            kinds.push(span.kind);
        }
        at = span.end;
    }
    out.push_str(&text[at..]);
    if kinds.is_empty() {
        return None;
    }
    Some(Rewritten { text: out, kinds })
}

/// The dates of `text` moved by `days`, as they would be written: what verify accepts in
/// the de-identified text at the same place.
pub(crate) fn shifted_dates(text: &str, days: i32) -> Vec<String> {
    detect(text)
        .iter()
        .filter(|s| s.kind == PhiKind::Date)
        .filter_map(|s| shifted_date(text, s, days))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(text: &str) -> Vec<(PhiKind, String)> {
        detect(text)
            .into_iter()
            .map(|s| (s.kind, text[s.start..s.end].to_string()))
            .collect()
    }

    fn shift(text: &str, days: i32) -> String {
        rewrite(text, DateRewrite::Shift(days), &|u| {
            format!("2.25.{}", u.len())
        })
        .map(|r| r.text)
        .unwrap_or_else(|| text.to_string())
    }

    #[test]
    fn dates_in_common_spellings_are_shifted_in_their_own_spelling() {
        assert_eq!(shift("seen on 2021-03-04", -10), "seen on 2021-02-22");
        assert_eq!(shift("seen on 04.03.2021.", -10), "seen on 22.02.2021.");
        assert_eq!(shift("seen 03/04/2021", 1), "seen 03/05/2021");
        assert_eq!(shift("seen 25/12/2021", 1), "seen 26/12/2021");
        assert_eq!(
            shift("op 20210304 and 20210304101500", -1),
            "op 20210303 and 20210303101500"
        );
        assert_eq!(shift("on 4 March 2021", -4), "on 28 February 2021");
        assert_eq!(shift("on 04-MAR-2021", 30), "on 03-APR-2021");
        assert_eq!(shift("on March 4th, 2021", 1), "on March 5th, 2021");
        assert_eq!(shift("since Jan 2020", -30), "since Dec 2019");
        assert_eq!(shift("on 4 Mar 21", 1), "on 5 Mar 21");
        assert_eq!(shift("the 4th of March 2021", 1), "the 5th of March 2021");
        assert_eq!(shift("Mar-04-2021", 1), "Mar-05-2021");
        assert_eq!(shift("DOB 01/02/1960", 1), "DOB 01/03/1960");
    }

    #[test]
    fn contact_details_uids_and_numbers_are_found() {
        let found = kinds(
            "call +1 (617) 555-0199 or jane.doe@example.org, see https://pacs.example.org/x?id=7, \
             ref 1.2.826.0.1.3680043.8.498.123, MRN: A1234567, SSN 123-45-6789, zip MA 02115, SW1A 1AA",
        );
        let classes: Vec<PhiKind> = found.iter().map(|f| f.0).collect();
        for kind in [
            PhiKind::Telephone,
            PhiKind::Email,
            PhiKind::Url,
            PhiKind::Uid,
            PhiKind::IdNumber,
            PhiKind::PostalCode,
        ] {
            assert!(classes.contains(&kind), "{kind:?} not in {found:?}");
        }
        assert!(found.iter().any(|f| f.1 == "A1234567"), "{found:?}");
    }

    #[test]
    fn names_are_found_in_name_like_context() {
        for (text, name) in [
            ("Dictated by Dr. Anna Kowalczyk", "Anna Kowalczyk"),
            ("signed by: Hiroshi Tanaka", "Hiroshi Tanaka"),
            ("mother: Maria Oliveira-Santos", "Maria Oliveira-Santos"),
            ("accompanied by his daughter, Mary Smith", "Mary Smith"),
            ("Smith, John reviewed", "Smith, John"),
            ("ref DOE^JANE^Q", "DOE^JANE^Q"),
            ("KOWALCZYK^ANNA", "KOWALCZYK^ANNA"),
            ("JOHN A. WHITE called", "JOHN A. WHITE"),
            ("seen by DR. HOUSE", "HOUSE"),
            ("Mr Kowalczyk called", "Kowalczyk"),
            ("Ref. Dr. J. Smith", "Smith"),
            ("Patient: Kowalczyk", "Kowalczyk"),
            ("Pt seen with John Smith today", "John Smith"),
        ] {
            let found = kinds(text);
            assert!(
                found.iter().any(|(k, v)| *k == PhiKind::PersonName
                    && v.contains(name.rsplit([' ', ',']).next().unwrap_or(name))),
                "{text}: {found:?}"
            );
        }
    }

    #[test]
    fn technical_text_is_left_alone() {
        for text in [
            "CT HEAD WITHOUT CONTRAST",
            "CHEST PA AND LATERAL",
            "Grace Period",
            "WINDOW1",
            "Lossy Compression",
            "T1 FLAIR AX 3.0mm",
            "Liver",
            "BODY 5.0 CE",
            "Patient Position",
            "0.123456 mm",
            "abdomen^liver",
            "MR BRAIN W/O CONTRAST",
            "DR CHEST PA",
            "Demonstration of SR Features",
            "MS lesion follow-up",
            "CHEST^ROUTINE",
        ] {
            assert_eq!(kinds(text), Vec::new(), "{text}");
        }
    }

    #[test]
    fn overlapping_findings_are_masked_as_one() {
        let r = rewrite("Dr. Smith 555-123-4567", DateRewrite::Remove, &|u| {
            u.to_string()
        })
        .unwrap_or_else(|| panic!("nothing found"));
        assert!(
            !r.text.contains("Smith") && !r.text.contains("4567"),
            "{}",
            r.text
        );
    }
}
