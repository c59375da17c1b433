//! Character sets: text is matched as decoded text, never as encoded bytes.
//!
//! dicom-rs decodes a value with the first Specific Character Set value alone. With code
//! extensions (`ISO 2022 IR 6\ISO 2022 IR 87`, the usual Japanese form), that first value
//! is ASCII, and the escape-coded bytes of every name come through as Latin-1 characters:
//! a cleaner would match inside escape sequences, break the text and leave the name. Since
//! the ASCII decoding maps each byte to one character, the bytes are recovered exactly and
//! decoded here per PS3.5 6.1.2.5 (ISO 2022 escape sequences, G0 reset at control
//! characters and PN delimiters). The decoded header says `ISO_IR 192` and holds the text
//! as Unicode; a value that cannot be decoded is dropped (removed, never partly cleaned).

use std::borrow::Cow;

use dicom_core::header::Header;
use dicom_core::value::{DataSetSequence, PrimitiveValue, Value};
use dicom_core::{DataElement, Tag, VR};
use dicom_object::InMemDicomObject;
use encoding_rs::Encoding;

const SPECIFIC_CHARACTER_SET: Tag = Tag(0x0008, 0x0005);

/// What a header's character set needs.
fn needs_decoding(header: &InMemDicomObject) -> Option<Vec<String>> {
    let element = header.get(SPECIFIC_CHARACTER_SET)?;
    let values: Vec<String> = element
        .to_multi_str()
        .ok()?
        .iter()
        .flat_map(|v| {
            v.split('\\')
                .map(|t| t.trim().to_string())
                .collect::<Vec<_>>()
        })
        .collect();
    // A single defined term dicom-rs knows is decoded by it; code extensions are not.
    // A term dicom-rs does not know it ignores, decoding as ASCII/Latin-1: its non-ASCII
    // text is unreadable, so it goes through here too (and is dropped: no G1 set).
    let unknown = values.iter().any(|v| {
        !v.is_empty() && dicom_encoding::text::SpecificCharacterSet::from_code(v).is_none()
    });
    let extended = unknown || values.len() > 1 || values.iter().any(|v| v.starts_with("ISO 2022"));
    extended.then_some(values)
}

/// `header` with its text decoded per its Specific Character Set, when dicom-rs could not.
pub(crate) fn decoded(header: &InMemDicomObject) -> Cow<'_, InMemDicomObject> {
    let Some(values) = needs_decoding(header) else {
        return Cow::Borrowed(header);
    };
    let initial_g1 = values.first().and_then(|v| g1_of_term(v));
    // The Default decoding gave one character per byte: those bytes, decoded properly.
    let decode = |part: &str, vr: VR| {
        let bytes: Option<Vec<u8>> = part.chars().map(|c| u8::try_from(c as u32).ok()).collect();
        decode_iso2022(&bytes?, initial_g1, vr == VR::PN)
    };
    // Dropping never fails the whole header; if it did, nothing would be kept.
    let mut out = map_text(header, &Default::default(), 0, &decode, OnFailure::Drop)
        .unwrap_or_else(InMemDicomObject::new_empty);
    out.put(DataElement::new(
        SPECIFIC_CHARACTER_SET,
        VR::CS,
        PrimitiveValue::from("ISO_IR 192"),
    ));
    Cow::Owned(out)
}

/// What to do with an element whose text the mapping cannot convert.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum OnFailure {
    /// Leave the element out (undecodable text is never kept).
    Drop,
    /// Give up on the whole object.
    Fail,
}

/// `object` with every value of a text VR (PN, LO, SH, ST, LT, UT, UC) at every depth
/// mapped by `f`, one value at a time; top-level tags in `skip` are copied as they are.
fn map_text(
    object: &InMemDicomObject,
    skip: &std::collections::HashSet<Tag>,
    depth: usize,
    f: &dyn Fn(&str, VR) -> Option<String>,
    failure: OnFailure,
) -> Option<InMemDicomObject> {
    let mut out = InMemDicomObject::new_empty();
    for element in object.iter() {
        let tag = element.tag();
        let vr = element.vr();
        if depth == 0 && skip.contains(&tag) {
            out.put(element.clone());
            continue;
        }
        match element.value() {
            Value::Sequence(seq) if depth < gantry_store::MAX_SEQUENCE_DEPTH => {
                let items: Option<Vec<InMemDicomObject>> = seq
                    .items()
                    .iter()
                    .map(|item| map_text(item, skip, depth + 1, f, failure))
                    .collect();
                out.put(DataElement::new(tag, VR::SQ, DataSetSequence::from(items?)));
            }
            // Deeper than any real object: dropped, not kept unread.
            Value::Sequence(_) => {}
            Value::Primitive(p)
                if matches!(
                    vr,
                    VR::PN | VR::LO | VR::SH | VR::ST | VR::LT | VR::UT | VR::UC
                ) =>
            {
                let parts: Option<Vec<String>> =
                    p.to_multi_str().iter().map(|part| f(part, vr)).collect();
                match (parts, failure) {
                    (Some(parts), _) => {
                        out.put(DataElement::new(
                            tag,
                            vr,
                            PrimitiveValue::Strs(parts.into()),
                        ));
                    }
                    (None, OnFailure::Drop) => {}
                    (None, OnFailure::Fail) => return None,
                }
            }
            _ => {
                out.put(element.clone());
            }
        }
    }
    Some(out)
}

/// Writes the text of `object` back in the code-extended character set its Specific
/// Character Set names (after recovery put the original, escape-coded values back): every
/// text value outside `restored` (top-level tags whose elements are already encoded) is
/// encoded as the bytes a Default-charset writer puts out one per character. `false` when
/// some value has a character the set cannot encode (nothing is changed then).
pub(crate) fn encode_extended(
    object: &mut InMemDicomObject,
    restored: &std::collections::HashSet<Tag>,
) -> bool {
    let Some(values) = needs_decoding(object) else {
        return true;
    };
    match map_text(
        object,
        restored,
        0,
        &|part, _| encode_iso2022(part, &values),
        OnFailure::Fail,
    ) {
        Some(encoded) => {
            *object = encoded;
            true
        }
        None => false,
    }
}

/// `text` encoded in the code extensions `sets` allow, as Latin-1-mapped bytes.
fn encode_iso2022(text: &str, sets: &[String]) -> Option<String> {
    if text.is_ascii() {
        return Some(text.to_string());
    }
    let has = |code: &str| sets.iter().any(|s| s.ends_with(code));
    let bytes: Vec<u8> = if has(" 87") {
        let (bytes, _, had_errors) = encoding_rs::ISO_2022_JP.encode(text);
        if had_errors {
            return None;
        }
        bytes.into_owned()
    } else if has(" 149") || has(" 58") {
        let (escape, encoding): (&[u8], &'static Encoding) = if has(" 149") {
            (b"\x1b$)C", encoding_rs::EUC_KR)
        } else {
            (b"\x1b$)A", encoding_rs::GBK)
        };
        // Each run of non-ASCII characters designates its set again (PS3.5 I.2 does so after
        // every delimiter).
        let mut out = Vec::new();
        let mut run = String::new();
        let flush = |run: &mut String, out: &mut Vec<u8>| -> Option<()> {
            if run.is_empty() {
                return Some(());
            }
            let (bytes, _, had_errors) = encoding.encode(run);
            if had_errors {
                return None;
            }
            out.extend_from_slice(escape);
            out.extend_from_slice(&bytes);
            run.clear();
            Some(())
        };
        for c in text.chars() {
            if c.is_ascii() {
                flush(&mut run, &mut out)?;
                out.push(c as u8);
            } else {
                run.push(c);
            }
        }
        flush(&mut run, &mut out)?;
        out
    } else {
        return None;
    };
    Some(latin1(&bytes))
}

fn latin1(bytes: &[u8]) -> String {
    bytes.iter().map(|b| *b as char).collect()
}

/// The G1 set a defined term designates at the start of a value.
fn g1_of_term(term: &str) -> Option<G1> {
    let code = term.rsplit(' ').next()?;
    Some(match code {
        "13" => G1::Kana,
        "100" => G1::Single(encoding_rs::WINDOWS_1252),
        "101" => G1::Single(encoding_rs::ISO_8859_2),
        "109" => G1::Single(encoding_rs::ISO_8859_3),
        "110" => G1::Single(encoding_rs::ISO_8859_4),
        "144" => G1::Single(encoding_rs::ISO_8859_5),
        "127" => G1::Single(encoding_rs::ISO_8859_6),
        "126" => G1::Single(encoding_rs::ISO_8859_7),
        "138" => G1::Single(encoding_rs::ISO_8859_8),
        "148" => G1::Single(encoding_rs::WINDOWS_1254),
        "166" => G1::Single(encoding_rs::WINDOWS_874),
        "149" => G1::Double(encoding_rs::EUC_KR),
        "58" => G1::Double(encoding_rs::GBK),
        _ => return None,
    })
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum G0 {
    Ascii,
    Jis0208,
    Jis0212,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum G1 {
    /// A single-byte set in the upper half (ISO 8859 parts, TIS 620).
    Single(&'static Encoding),
    /// A double-byte set in the upper half (KS X 1001 as EUC-KR, GB 2312 as GBK).
    Double(&'static Encoding),
    /// JIS X 0201 half-width katakana.
    Kana,
}

/// The text of ISO 2022 encoded bytes, or `None` when they cannot be decoded.
fn decode_iso2022(bytes: &[u8], initial_g1: Option<G1>, is_pn: bool) -> Option<String> {
    let mut out = String::with_capacity(bytes.len());
    let mut g0 = G0::Ascii;
    let mut g1 = initial_g1;
    let mut at = 0;
    while at < bytes.len() {
        let b = bytes[at];
        if b == 0x1B {
            let rest = &bytes[at + 1..];
            let (consumed, change) = escape(rest)?;
            match change {
                Designation::G0(set) => g0 = set,
                Designation::G1(set) => g1 = Some(set),
            }
            at += 1 + consumed;
            continue;
        }
        if b < 0x80 {
            let resets =
                matches!(b, b'\r' | b'\n' | b'\t' | 0x0C) || (is_pn && matches!(b, b'^' | b'='));
            if resets {
                g0 = G0::Ascii;
            }
            match g0 {
                G0::Ascii => {
                    out.push(b as char);
                    at += 1;
                }
                G0::Jis0208 | G0::Jis0212 if b < 0x21 || b == 0x7F => {
                    // Spaces and controls stand for themselves between double bytes.
                    out.push(b as char);
                    at += 1;
                }
                G0::Jis0208 => {
                    let second = *bytes.get(at + 1)?;
                    out.push_str(&decode_strict(
                        encoding_rs::EUC_JP,
                        &[b | 0x80, second | 0x80],
                    )?);
                    at += 2;
                }
                G0::Jis0212 => {
                    let second = *bytes.get(at + 1)?;
                    out.push_str(&decode_strict(
                        encoding_rs::EUC_JP,
                        &[0x8F, b | 0x80, second | 0x80],
                    )?);
                    at += 2;
                }
            }
            continue;
        }
        match g1? {
            G1::Single(encoding) => {
                out.push_str(&decode_strict(encoding, &[b])?);
                at += 1;
            }
            G1::Double(encoding) => {
                let second = *bytes.get(at + 1)?;
                out.push_str(&decode_strict(encoding, &[b, second])?);
                at += 2;
            }
            G1::Kana => {
                if !(0xA1..=0xDF).contains(&b) {
                    return None;
                }
                out.push(char::from_u32(0xFF61 + u32::from(b - 0xA1))?);
                at += 1;
            }
        }
    }
    Some(out)
}

enum Designation {
    G0(G0),
    G1(G1),
}

/// The escape sequence at the start of `rest` (after ESC): its length and what it selects.
fn escape(rest: &[u8]) -> Option<(usize, Designation)> {
    let starts = |s: &[u8]| rest.starts_with(s);
    Some(if starts(b"(B") || starts(b"(J") {
        (2, Designation::G0(G0::Ascii))
    } else if starts(b"$B") || starts(b"$@") {
        (2, Designation::G0(G0::Jis0208))
    } else if starts(b"$(D") {
        (3, Designation::G0(G0::Jis0212))
    } else if starts(b")I") {
        (2, Designation::G1(G1::Kana))
    } else if starts(b"$)C") {
        (3, Designation::G1(G1::Double(encoding_rs::EUC_KR)))
    } else if starts(b"$)A") {
        (3, Designation::G1(G1::Double(encoding_rs::GBK)))
    } else if rest.first() == Some(&b'-') {
        let encoding = match rest.get(1)? {
            b'A' => encoding_rs::WINDOWS_1252,
            b'B' => encoding_rs::ISO_8859_2,
            b'C' => encoding_rs::ISO_8859_3,
            b'D' => encoding_rs::ISO_8859_4,
            b'L' => encoding_rs::ISO_8859_5,
            b'G' => encoding_rs::ISO_8859_6,
            b'F' => encoding_rs::ISO_8859_7,
            b'H' => encoding_rs::ISO_8859_8,
            b'M' => encoding_rs::WINDOWS_1254,
            b'T' => encoding_rs::WINDOWS_874,
            _ => return None,
        };
        (2, Designation::G1(G1::Single(encoding)))
    } else {
        return None;
    })
}

fn decode_strict(encoding: &'static Encoding, bytes: &[u8]) -> Option<String> {
    encoding
        .decode_without_bom_handling_and_without_replacement(bytes)
        .map(Cow::into_owned)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn latin1(bytes: &[u8]) -> String {
        bytes.iter().map(|b| *b as char).collect()
    }

    fn header(charset: &str, vr: VR, bytes: &[u8]) -> InMemDicomObject {
        InMemDicomObject::from_element_iter([
            DataElement::new(
                SPECIFIC_CHARACTER_SET,
                VR::CS,
                PrimitiveValue::from(charset),
            ),
            DataElement::new(Tag(0x0010, 0x0010), vr, PrimitiveValue::from(latin1(bytes))),
        ])
    }

    fn name(object: &InMemDicomObject) -> Option<String> {
        object
            .get(Tag(0x0010, 0x0010))
            .and_then(|e| e.to_str().ok())
            .map(|s| s.into_owned())
    }

    #[test]
    fn japanese_names_in_iso_2022_are_decoded() {
        // PS3.5 H.3.1: Yamada^Tarou=山田^太郎=やまだ^たろう
        let bytes =
            b"Yamada^Tarou=\x1b$B;3ED\x1b(B^\x1b$BB@O:\x1b(B=\x1b$B$d$^$@\x1b(B^\x1b$B$?$m$&\x1b(B";
        let h = header("ISO 2022 IR 6\\ISO 2022 IR 87", VR::PN, bytes);
        let d = decoded(&h);
        assert_eq!(
            name(&d).as_deref(),
            Some("Yamada^Tarou=山田^太郎=やまだ^たろう")
        );
    }

    #[test]
    fn korean_names_in_iso_2022_are_decoded() {
        // PS3.5 I.2: Hong^Gildong=洪^吉洞=홍^길동
        let bytes = b"Hong^Gildong=\x1b$)C\xfb\xf3^\x1b$)C\xd1\xce\xd4\xd7=\x1b$)C\xc8\xab^\x1b$)C\xb1\xe6\xb5\xbf";
        let h = header("\\ISO 2022 IR 149", VR::PN, bytes);
        assert_eq!(
            name(&decoded(&h)).as_deref(),
            Some("Hong^Gildong=洪^吉洞=홍^길동")
        );
    }

    #[test]
    fn decoded_text_encodes_back_to_the_same_bytes() {
        for (charset, bytes) in [
            (
                "ISO 2022 IR 6\\ISO 2022 IR 87",
                &b"Yamada^Tarou=\x1b$B;3ED\x1b(B^\x1b$BB@O:\x1b(B=\x1b$B$d$^$@\x1b(B^\x1b$B$?$m$&\x1b(B"[..],
            ),
            (
                "\\ISO 2022 IR 149",
                &b"Hong^Gildong=\x1b$)C\xfb\xf3^\x1b$)C\xd1\xce\xd4\xd7=\x1b$)C\xc8\xab^\x1b$)C\xb1\xe6\xb5\xbf"[..],
            ),
        ] {
            let h = header(charset, VR::PN, bytes);
            let mut d = decoded(&h).into_owned();
            d.put(DataElement::new(SPECIFIC_CHARACTER_SET, VR::CS, PrimitiveValue::from(charset)));
            assert!(encode_extended(&mut d, &Default::default()));
            assert_eq!(name(&d), Some(latin1(bytes)), "{charset}");
        }
    }

    #[test]
    fn undecodable_text_is_dropped_not_kept() {
        let h = header("ISO 2022 IR 6\\ISO 2022 IR 87", VR::PN, b"Yamada\x1b$Zxx");
        assert_eq!(name(&decoded(&h)), None);
    }

    #[test]
    fn text_in_an_unknown_character_set_is_dropped_unless_ascii() {
        let h = header("ISO_IR 999", VR::PN, b"M\xfcller^J");
        assert_eq!(name(&decoded(&h)), None);
        let h = header("ISO_IR 999", VR::PN, b"Muller^J");
        assert_eq!(name(&decoded(&h)).as_deref(), Some("Muller^J"));
    }

    #[test]
    fn single_character_sets_are_left_to_dicom_rs() {
        let h = header("ISO_IR 100", VR::PN, b"M\xfcller");
        assert!(matches!(decoded(&h), Cow::Borrowed(_)));
    }
}
