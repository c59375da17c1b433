//! `config import-ctp`: CTP's `DicomPixelAnonymizer.script` (the RSNA MIRC "Burned-in
//! Annotation Library", the largest public catalogue of burned-in regions) as machine
//! rules.
//!
//! A script is free text (headings, notes) around signatures: a boolean expression in
//! braces over attribute tests, `*` for and, `+` for or, parentheses, `!` for not, then
//! the regions to blank as `(x,y,w,h)`. Each signature becomes a machine rule whose
//! `when` holds exactly when the expression does (an or of ands becomes one rule per
//! alternative). A signature Gantry cannot express exactly (a negation, a test it does
//! not know, an attribute outside the data set) is listed with its reason, never turned
//! into a rule that matches other images than CTP's would.

use std::fmt;
use std::path::PathBuf;

use dicom_core::Tag;
use dicom_core::dictionary::{DataDictionary, DataDictionaryEntry};
use dicom_dictionary_std::StandardDataDictionary;
use serde::Serialize;

use crate::settings::{Condition, DeviceMatch, MachineRule, Zone};

/// How many rules one signature may expand to (an or of ands).
const MAX_ALTERNATIVES: usize = 16;

/// What an import made of a script.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CtpImport {
    /// The script.
    #[serde(serialize_with = "crate::report::path_text")]
    pub source: PathBuf,
    /// Signatures found.
    pub signatures: usize,
    /// The machine rules, in script order.
    pub rules: Vec<MachineRule>,
    /// Signatures not imported, and why.
    pub skipped: Vec<SkippedSignature>,
}

/// A signature of the script that did not become a rule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SkippedSignature {
    /// Its line in the script (1-based).
    pub line: usize,
    /// Its heading in the script.
    pub label: String,
    /// Why.
    pub reason: String,
}

impl fmt::Display for CtpImport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "{}: {} signatures, {} machine rules",
            self.source.display(),
            self.signatures,
            self.rules.len()
        )?;
        for skipped in &self.skipped {
            writeln!(
                f,
                "  not imported: line {} ({}): {}",
                skipped.line, skipped.label, skipped.reason
            )?;
        }
        Ok(())
    }
}

/// A boolean expression of a signature.
#[derive(Debug, Clone, PartialEq)]
enum Expr {
    Test(Condition),
    Not,
    And(Vec<Expr>),
    Or(Vec<Expr>),
}

/// Reads a script's signatures into machine rules. Never fails on content: what cannot
/// be read is in [`CtpImport::skipped`].
pub fn import_ctp(script: &str, source: PathBuf) -> CtpImport {
    let mut out = CtpImport {
        source,
        signatures: 0,
        rules: Vec::new(),
        skipped: Vec::new(),
    };
    let mut headings = Headings::default();
    let lines: Vec<&str> = script.lines().collect();
    let mut i = 0;
    while i < lines.len() {
        let line = lines[i];
        let Some(open) = line.find('{') else {
            headings.read(line);
            i += 1;
            continue;
        };
        headings.read(&line[..open]);
        // The signature, to its closing brace (on this line or a later one).
        let start = i;
        let mut text = String::new();
        let mut rest = &line[open + 1..];
        let closed = loop {
            if let Some(close) = closing_brace(rest) {
                text.push_str(&rest[..close]);
                rest = &rest[close + 1..];
                break true;
            }
            text.push_str(rest);
            text.push(' ');
            i += 1;
            match lines.get(i) {
                Some(next) => rest = next,
                None => break false,
            }
        };
        out.signatures += 1;
        let label = headings.label();
        let skip = |reason: String| SkippedSignature {
            line: start + 1,
            label: label.clone(),
            reason,
        };
        if !closed {
            out.skipped
                .push(skip("the signature's `{` is never closed".into()));
            break;
        }
        // Its regions: on the rest of this line and the lines after, up to other text.
        let mut regions = Vec::new();
        let mut bad_region = None;
        let mut tail = rest.to_string();
        loop {
            match read_regions(&tail) {
                Ok(found) => regions.extend(found),
                Err(e) => {
                    bad_region = Some(e);
                    break;
                }
            }
            match lines.get(i + 1) {
                Some(next) if !next.contains('{') && looks_like_regions(next) => {
                    i += 1;
                    tail = next.to_string();
                }
                _ => break,
            }
        }
        i += 1;
        if let Some(reason) = bad_region {
            out.skipped.push(skip(reason.to_string()));
            continue;
        }
        if regions.is_empty() {
            out.skipped
                .push(skip("no regions (x,y,w,h) follow the signature".into()));
            continue;
        }
        let alternatives = match parse(&text).and_then(|e| alternatives(&e)) {
            Ok(a) => a,
            Err(reason) => {
                out.skipped.push(skip(reason.to_string()));
                continue;
            }
        };
        let signature = text.split_whitespace().collect::<Vec<_>>().join(" ");
        let count = alternatives.len();
        for (n, when) in alternatives.into_iter().enumerate() {
            let mut name = format!("{label} (CTP line {})", start + 1);
            if count > 1 {
                name = format!("{name}, alternative {} of {count}", n + 1);
            }
            out.rules.push(MachineRule {
                manufacturer: DeviceMatch::Any,
                model_name: DeviceMatch::Any,
                serial_number: DeviceMatch::Any,
                rows: None,
                columns: None,
                when,
                redaction_zones: regions.clone(),
                burned_in_text: None,
                label: Some(name),
                comment: Some(format!(
                    "Imported from CTP DicomPixelAnonymizer.script: {{ {signature} }}"
                )),
            });
        }
    }
    out
}

/// Where the signature's closing brace is in `text` (braces inside strings do not count).
fn closing_brace(text: &str) -> Option<usize> {
    let mut in_string = false;
    let mut escaped = false;
    for (i, c) in text.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' if in_string => escaped = true,
            '"' => in_string = !in_string,
            '}' if !in_string => return Some(i),
            _ => {}
        }
    }
    None
}

/// Whether a line holds only regions (and space).
fn looks_like_regions(line: &str) -> bool {
    let t = line.trim();
    !t.is_empty() && t.starts_with('(') && read_regions(t).is_ok()
}

/// The `(x,y,w,h)` regions of a text that holds nothing else.
fn read_regions(text: &str) -> Result<Vec<Zone>, Unconvertible> {
    let mut out = Vec::new();
    let mut rest = text.trim();
    while !rest.is_empty() {
        let Some(inner) = rest.strip_prefix('(') else {
            return Err(format!("unexpected text after the signature: {rest:?}").into());
        };
        let Some(close) = inner.find(')') else {
            return Err(format!("a region is not closed: {rest:?}").into());
        };
        let numbers: Vec<Option<i64>> = inner[..close]
            .split(',')
            .map(|n| n.trim().parse().ok())
            .collect();
        match numbers.as_slice() {
            [Some(x), Some(y), Some(w), Some(h)] => out.push(
                Zone::from_xywh(*x, *y, *w, *h, None)
                    .map_err(|e| format!("region ({}): {e}", &inner[..close]))?,
            ),
            _ => {
                return Err(format!(
                    "a region is four whole numbers (x,y,w,h), not ({})",
                    &inner[..close]
                )
                .into());
            }
        }
        rest = inner[close + 1..].trim_start();
    }
    Ok(out)
}

/// The headings above a signature: the section (under a banner of stars), the group (a
/// line at the margin) and the title (an indented line).
#[derive(Default)]
struct Headings {
    section: String,
    group: String,
    title: String,
    after_banner: bool,
    /// Still in the script's preamble (before the first banner).
    started: bool,
}

impl Headings {
    fn read(&mut self, line: &str) {
        let text = line.trim();
        if text.is_empty() {
            return;
        }
        if text.chars().all(|c| c == '*') {
            self.started = true;
            // The banner's second line closes it; the first opens it.
            self.after_banner = !self.after_banner;
            return;
        }
        if !self.started {
            return;
        }
        if self.after_banner {
            self.section = text.to_string();
            self.group.clear();
            self.title.clear();
        } else if line.starts_with(char::is_whitespace) {
            self.title = text.to_string();
        } else {
            self.group = text.to_string();
            self.title.clear();
        }
    }

    fn label(&self) -> String {
        let parts: Vec<&str> = [&self.section, &self.group, &self.title]
            .into_iter()
            .map(String::as_str)
            .filter(|s| !s.is_empty())
            .collect();
        if parts.is_empty() {
            "CTP signature".into()
        } else {
            parts.join(" / ")
        }
    }
}

/// A token of a signature.
#[derive(Debug, Clone, PartialEq)]
enum Token {
    Open,
    Close,
    And,
    Or,
    Not,
    Dot,
    Word(String),
    Text(String),
}

fn tokens(text: &str) -> Result<Vec<Token>, Unconvertible> {
    let mut out = Vec::new();
    let chars: Vec<char> = text.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        match c {
            c if c.is_whitespace() => i += 1,
            '(' => {
                out.push(Token::Open);
                i += 1;
            }
            ')' => {
                out.push(Token::Close);
                i += 1;
            }
            '*' => {
                out.push(Token::And);
                i += 1;
            }
            '+' => {
                out.push(Token::Or);
                i += 1;
            }
            '!' => {
                out.push(Token::Not);
                i += 1;
            }
            '.' => {
                out.push(Token::Dot);
                i += 1;
            }
            '"' => {
                let mut value = String::new();
                i += 1;
                loop {
                    match chars.get(i) {
                        None => return Err("a string is not closed".into()),
                        Some('"') => {
                            i += 1;
                            break;
                        }
                        Some('\\') => {
                            if let Some(next) = chars.get(i + 1) {
                                value.push(*next);
                            }
                            i += 2;
                        }
                        Some(c) => {
                            value.push(*c);
                            i += 1;
                        }
                    }
                }
                out.push(Token::Text(value));
            }
            '[' => {
                let end = chars[i..]
                    .iter()
                    .position(|c| *c == ']')
                    .ok_or("a tag `[` is not closed")?;
                out.push(Token::Word(chars[i..=i + end].iter().collect()));
                i += end + 1;
            }
            c if c.is_alphanumeric() || c == '_' => {
                let start = i;
                while i < chars.len() && (chars[i].is_alphanumeric() || chars[i] == '_') {
                    i += 1;
                }
                out.push(Token::Word(chars[start..i].iter().collect()));
            }
            other => return Err(format!("unexpected character {other:?} in the signature").into()),
        }
    }
    Ok(out)
}

/// Why a CTP signature or region has no Gantry equivalent: the sentence the import
/// report gives beside the signature it leaves out.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
struct Unconvertible(String);

impl From<String> for Unconvertible {
    fn from(reason: String) -> Self {
        Unconvertible(reason)
    }
}

impl From<&str> for Unconvertible {
    fn from(reason: &str) -> Self {
        Unconvertible(reason.to_string())
    }
}

/// Parses a signature: `or := and ('+' and)*`, `and := unary ('*' unary)*`,
/// `unary := '!' unary | '(' or ')' | test`, `test := attribute '.' method '(' "text" ')'`.
fn parse(text: &str) -> Result<Expr, Unconvertible> {
    let tokens = tokens(text)?;
    let mut parser = Parser { tokens, at: 0 };
    let expr = parser.or()?;
    if parser.at != parser.tokens.len() {
        return Err(format!("unexpected {:?} in the signature", parser.tokens[parser.at]).into());
    }
    Ok(expr)
}

struct Parser {
    tokens: Vec<Token>,
    at: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.at)
    }

    fn next(&mut self) -> Option<Token> {
        let token = self.tokens.get(self.at).cloned();
        self.at += 1;
        token
    }

    fn or(&mut self) -> Result<Expr, Unconvertible> {
        let mut terms = vec![self.and()?];
        while self.peek() == Some(&Token::Or) {
            self.at += 1;
            terms.push(self.and()?);
        }
        Ok(if terms.len() == 1 {
            terms.remove(0)
        } else {
            Expr::Or(terms)
        })
    }

    fn and(&mut self) -> Result<Expr, Unconvertible> {
        let mut factors = vec![self.unary()?];
        while self.peek() == Some(&Token::And) {
            self.at += 1;
            factors.push(self.unary()?);
        }
        Ok(if factors.len() == 1 {
            factors.remove(0)
        } else {
            Expr::And(factors)
        })
    }

    fn unary(&mut self) -> Result<Expr, Unconvertible> {
        match self.next() {
            Some(Token::Not) => {
                self.unary()?;
                Ok(Expr::Not)
            }
            Some(Token::Open) => {
                let inner = self.or()?;
                match self.next() {
                    Some(Token::Close) => Ok(inner),
                    _ => Err("a `(` is not closed".into()),
                }
            }
            Some(Token::Word(attribute)) => self.test(&attribute),
            Some(other) => Err(format!("unexpected {other:?} in the signature").into()),
            None => Err("the signature ends where a test was expected".into()),
        }
    }

    fn test(&mut self, attribute: &str) -> Result<Expr, Unconvertible> {
        let (Some(Token::Dot), Some(Token::Word(method)), Some(Token::Open)) =
            (self.next(), self.next(), self.next())
        else {
            return Err(format!("`{attribute}` is not followed by .method(\"text\")").into());
        };
        let Some(Token::Text(value)) = self.next() else {
            return Err(format!("{attribute}.{method} takes one quoted text").into());
        };
        if self.next() != Some(Token::Close) {
            return Err(format!("{attribute}.{method}(...) is not closed").into());
        }
        let keyword = keyword(attribute)?;
        // Gantry's `contains` ignores case: for CTP's case-sensitive `contains` it matches
        // at least every image CTP's would (more blanking, never less).
        let condition = match method.as_str() {
            "containsIgnoreCase" | "contains" => Condition::Contains {
                attribute: keyword,
                contains: value,
            },
            "equals" => Condition::Equals {
                attribute: keyword,
                equals: value,
            },
            other => {
                return Err(format!(
                    "the test {attribute}.{other} has no Gantry equivalent (contains, containsIgnoreCase and equals do)"
                ).into());
            }
        };
        Ok(Expr::Test(condition))
    }
}

/// The dictionary keyword of a signature's attribute (a keyword, or `[gggg,eeee]`), when
/// it is a data set attribute a condition can test.
fn keyword(attribute: &str) -> Result<String, Unconvertible> {
    let entry = match attribute
        .strip_prefix('[')
        .and_then(|a| a.strip_suffix(']'))
    {
        Some(tag) => {
            let (group, element) = tag
                .split_once(',')
                .ok_or_else(|| format!("malformed tag {attribute}"))?;
            let number = |s: &str| u16::from_str_radix(s.trim(), 16);
            let (Ok(group), Ok(element)) = (number(group), number(element)) else {
                return Err(format!("malformed tag {attribute}").into());
            };
            StandardDataDictionary
                .by_tag(Tag(group, element))
                .ok_or_else(|| format!("{attribute} is not in the standard dictionary"))?
        }
        None => StandardDataDictionary
            .by_name(attribute)
            .ok_or_else(|| format!("{attribute} is not a keyword of the standard dictionary"))?,
    };
    if entry.tag_range().inner().group() == 0x0002 {
        return Err(format!(
            "{} is in the file meta group, which machine rules do not test",
            entry.alias()
        )
        .into());
    }
    Ok(entry.alias().to_string())
}

/// The `when` lists that together hold exactly when `expr` does: one list when the
/// expression is an and of tests and ors of tests, else one per alternative of its
/// disjunctive form.
fn alternatives(expr: &Expr) -> Result<Vec<Vec<Condition>>, Unconvertible> {
    if contains_not(expr) {
        return Err("it negates a test (`!`), which Gantry's conditions cannot express".into());
    }
    if let Some(when) = conjunction(expr) {
        return Ok(vec![when]);
    }
    let dnf = disjunctive(expr)?;
    Ok(dnf)
}

fn contains_not(expr: &Expr) -> bool {
    match expr {
        Expr::Not => true,
        Expr::Test(_) => false,
        Expr::And(v) | Expr::Or(v) => v.iter().any(contains_not),
    }
}

/// `expr` as one `when` list, if it is an and of tests and ors of tests.
fn conjunction(expr: &Expr) -> Option<Vec<Condition>> {
    let factors = match expr {
        Expr::And(factors) => factors.as_slice(),
        other => std::slice::from_ref(other),
    };
    factors.iter().map(alternative_tests).collect()
}

/// A test, or an or of tests (at any depth), as one condition.
fn alternative_tests(expr: &Expr) -> Option<Condition> {
    match expr {
        Expr::Test(c) => Some(c.clone()),
        Expr::Or(terms) => Some(Condition::AnyOf {
            any_of: terms.iter().map(alternative_tests).collect::<Option<_>>()?,
        }),
        _ => None,
    }
}

/// The disjunctive form: alternatives, each an and of tests.
fn disjunctive(expr: &Expr) -> Result<Vec<Vec<Condition>>, Unconvertible> {
    let too_many = || format!("its or-of-ands form has more than {MAX_ALTERNATIVES} alternatives");
    match expr {
        Expr::Test(c) => Ok(vec![vec![c.clone()]]),
        Expr::Not => Err("negation".into()),
        Expr::Or(terms) => {
            let mut out = Vec::new();
            for term in terms {
                out.extend(disjunctive(term)?);
                if out.len() > MAX_ALTERNATIVES {
                    return Err(too_many().into());
                }
            }
            Ok(out)
        }
        Expr::And(factors) => {
            let mut out: Vec<Vec<Condition>> = vec![Vec::new()];
            for factor in factors {
                let options = disjunctive(factor)?;
                let mut next = Vec::new();
                for prefix in &out {
                    for option in &options {
                        let mut both = prefix.clone();
                        both.extend(option.iter().cloned());
                        next.push(both);
                        if next.len() > MAX_ALTERNATIVES {
                            return Err(too_many().into());
                        }
                    }
                }
                out = next;
            }
            Ok(out)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn contains(attribute: &str, value: &str) -> Condition {
        Condition::Contains {
            attribute: attribute.into(),
            contains: value.into(),
        }
    }

    #[test]
    fn an_and_of_ors_is_one_rule_and_an_or_of_ands_one_per_alternative() {
        let one = parse(r#"Manufacturer.containsIgnoreCase("VITAL") * ( SeriesDescription.containsIgnoreCase("AAA") + SeriesDescription.containsIgnoreCase("Report") ) * Rows.equals("1041")"#).unwrap();
        let when = alternatives(&one).unwrap();
        assert_eq!(when.len(), 1);
        assert_eq!(
            when[0][1],
            Condition::AnyOf {
                any_of: vec![
                    contains("SeriesDescription", "AAA"),
                    contains("SeriesDescription", "Report")
                ]
            }
        );
        let two =
            parse(r#"(Modality.equals("US") * Rows.equals("480")) + [0008,0070].contains("ATL")"#)
                .unwrap();
        let when = alternatives(&two).unwrap();
        assert_eq!(when.len(), 2);
        assert_eq!(when[1], vec![contains("Manufacturer", "ATL")]);
    }

    #[test]
    fn what_cannot_be_expressed_is_refused_with_its_reason() {
        for (signature, reason) in [
            (r#"!Modality.equals("US")"#, "negates"),
            (r#"Modality.startsWith("U")"#, "no Gantry equivalent"),
            (r#"ImplementationVersionName.contains("X")"#, "file meta"),
            (r#"NoSuchKeyword.equals("1")"#, "not a keyword"),
            (r#"Modality.equals("US" "#, "not closed"),
            (r#"Modality.equals("US") *"#, "ends where"),
        ] {
            let error = parse(signature).and_then(|e| alternatives(&e)).unwrap_err();
            assert!(error.0.contains(reason), "{signature}: {error}");
        }
    }

    #[test]
    fn regions_and_headings_are_read_across_lines() {
        let script = "preamble { not a signature }\n**********\n  US\n**********\nACME\n Sono\n  { Modality.equals(\"US\") *\n    Rows.equals(\"480\") }\n  (0,0,640,47)\n  (10,20,30,40)\n\n  { Rows.equals(\"1\") }\nnot a region\n";
        let import = import_ctp(script, "s".into());
        assert_eq!(import.signatures, 3, "{import:?}");
        let rule = &import.rules[0];
        assert_eq!(rule.redaction_zones.len(), 2);
        assert_eq!(rule.redaction_zones[1].as_array(), [20, 60, 10, 40]);
        assert!(
            rule.label
                .as_deref()
                .unwrap()
                .starts_with("US / ACME / Sono")
        );
        assert_eq!(import.skipped.len(), 2, "{:?}", import.skipped);
        assert!(
            import
                .skipped
                .iter()
                .any(|s| s.reason.contains("no regions"))
        );
    }
}
