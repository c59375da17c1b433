//! Header blobs: a data set without Pixel Data, encoded as Explicit VR Little Endian.
//!
//! DICOM in, DICOM out: every element, VR, private tag and nested sequence survives the
//! round trip, which a JSON form would not guarantee.

use dicom_dictionary_std::uids;
use dicom_encoding::TransferSyntaxIndex;
use dicom_object::InMemDicomObject;
use dicom_transfer_syntax_registry::TransferSyntaxRegistry;

use crate::error::HeaderError;

pub use gantry_dataset::MAX_SEQUENCE_DEPTH;

/// Encodes a header as an Explicit VR Little Endian data set.
///
/// A value longer than the 65,534 bytes a 16-bit Value Length can hold (possible in
/// Implicit VR sources) is written with VR UN, as DICOM CP 1066 (PS3.5 6.2.2) prescribes,
/// instead of making the whole header unstorable.
pub fn encode_header(header: &InMemDicomObject) -> Result<Vec<u8>, HeaderError> {
    let ts = explicit_le()?;
    let mut out = Vec::with_capacity(4096);
    let Err(first) = header.write_dataset_with_ts(&mut out, ts) else {
        return Ok(out);
    };
    // Only a header that fails is searched for values too long for their VR: the common
    // case pays nothing. When there is none, the first error stands.
    let Some(converted) = long_values_as_un(header, 0) else {
        return Err(header_error(&first));
    };
    out.clear();
    converted
        .write_dataset_with_ts(&mut out, ts)
        .map_err(|e| header_error(&e))?;
    Ok(out)
}

/// Whether a value of `element` is too long for its VR's 16-bit length.
fn too_long(element: &dicom_object::mem::InMemElement) -> bool {
    matches!(element.value(), dicom_core::value::Value::Primitive(p)
        if gantry_dataset::has_short_length(element.vr()) && p.calculate_byte_len() > 0xFFFE)
}

/// Whether anything in `object`, at any depth, is [`too_long`] (no copy is made).
fn has_long_values(object: &InMemDicomObject, depth: usize) -> bool {
    depth <= MAX_SEQUENCE_DEPTH
        && object.iter().any(|element| {
            too_long(element)
                || element
                    .items()
                    .is_some_and(|items| items.iter().any(|i| has_long_values(i, depth + 1)))
        })
}

/// A copy of `object` with every value too long for its VR's 16-bit length as UN; `None`
/// when there is none (the common case: then nothing is copied).
fn long_values_as_un(object: &InMemDicomObject, depth: usize) -> Option<InMemDicomObject> {
    use dicom_core::header::Header;
    use dicom_core::value::{DataSetSequence, Value};
    use dicom_core::{DataElement, VR};
    if !has_long_values(object, depth) {
        return None;
    }
    let elements = object.iter().map(|element| match element.value() {
        Value::Primitive(p) if too_long(element) => DataElement::new(
            element.tag(),
            VR::UN,
            dicom_core::PrimitiveValue::from(p.to_bytes().into_owned()),
        ),
        Value::Sequence(seq) => {
            let items = seq
                .items()
                .iter()
                .map(|item| long_values_as_un(item, depth + 1).unwrap_or_else(|| item.clone()))
                .collect::<Vec<_>>();
            DataElement::new(element.tag(), VR::SQ, DataSetSequence::from(items))
        }
        _ => element.clone(),
    });
    Some(InMemDicomObject::from_element_iter(
        elements.collect::<Vec<_>>(),
    ))
}

/// Decodes a header blob written by [`encode_header`] (or a damaged one: every length is
/// checked before dicom-rs allocates it, see [`gantry_dataset::read_dataset`]).
pub fn decode_header(blob: &[u8]) -> Result<InMemDicomObject, HeaderError> {
    read_dataset(blob, explicit_le()?)
}

/// [`gantry_dataset::read_dataset`], its error as a [`HeaderError`].
pub fn read_dataset(
    blob: &[u8],
    ts: &dicom_encoding::TransferSyntax,
) -> Result<InMemDicomObject, HeaderError> {
    gantry_dataset::read_dataset(blob, ts).map_err(|e| header_error(&e))
}

fn explicit_le() -> Result<&'static dicom_encoding::TransferSyntax, HeaderError> {
    TransferSyntaxRegistry
        .get(uids::EXPLICIT_VR_LITTLE_ENDIAN)
        .ok_or_else(|| HeaderError {
            detail: "Explicit VR Little Endian is missing from the registry".into(),
        })
}

/// The error, with its causes, as a [`HeaderError`].
fn header_error(error: &(dyn std::error::Error + 'static)) -> HeaderError {
    HeaderError {
        detail: gantry_dataset::error_text(error),
    }
}

/// Some top-level elements of a header blob, found without decoding the rest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScannedHeader {
    /// The elements asked for that are present: tag, VR and raw value bytes.
    pub elements: Vec<(dicom_core::Tag, dicom_core::VR, Vec<u8>)>,
    /// The lowest top-level tag in the blob.
    pub first_tag: dicom_core::Tag,
    /// The highest top-level tag in the blob.
    pub last_tag: dicom_core::Tag,
    /// How many top-level elements the blob holds.
    pub count: usize,
}

/// Walks the top level of a blob written by [`encode_header`] (Explicit VR Little
/// Endian), skipping values and sequences, and returns the elements with the `wanted`
/// tags. `None` for anything this walk does not expect (an undefined length outside a
/// sequence, a truncated value): callers then decode the blob whole.
pub fn scan_header(blob: &[u8], wanted: &[dicom_core::Tag]) -> Option<ScannedHeader> {
    use dicom_core::{Tag, VR};
    let mut at = 0usize;
    let mut out = ScannedHeader {
        elements: Vec::new(),
        first_tag: Tag(0xFFFF, 0xFFFF),
        last_tag: Tag(0, 0),
        count: 0,
    };
    while at < blob.len() {
        let (tag, vr, len, value_at) = element_header(blob, at)?;
        out.first_tag = out.first_tag.min(tag);
        out.last_tag = tag;
        out.count += 1;
        if len == u32::MAX {
            if vr != VR::SQ {
                return None;
            }
            at = skip_undefined_sequence(blob, value_at, 0)?;
        } else {
            let end = value_at
                .checked_add(len as usize)
                .filter(|e| *e <= blob.len())?;
            if wanted.contains(&tag) {
                out.elements.push((tag, vr, blob[value_at..end].to_vec()));
            }
            at = end;
        }
    }
    Some(out)
}

/// `blob` (a data set written by [`encode_header`]) with its top-level element `tag` set
/// to `element`, the complete Explicit VR Little Endian encoding of one element of that
/// tag: put in tag order, or in place of the element the blob has with that tag. The
/// rest of the blob is copied byte for byte, so nothing is decoded. `None` when the walk
/// does not know the blob ([`scan_header`]'s limits): callers then decode it whole.
pub fn splice_element(blob: &[u8], tag: dicom_core::Tag, element: &[u8]) -> Option<Vec<u8>> {
    let mut at = 0usize;
    let mut cut = (blob.len(), blob.len());
    while at < blob.len() {
        let (found, end) = element_end(blob, at)?;
        // The whole blob is walked, so a damaged tail is refused, not copied.
        if found >= tag && cut.0 == blob.len() {
            cut = (at, if found == tag { end } else { at });
        }
        at = end;
    }
    let mut out = Vec::with_capacity(blob.len() + element.len());
    out.extend_from_slice(&blob[..cut.0]);
    out.extend_from_slice(element);
    out.extend_from_slice(&blob[cut.1..]);
    Some(out)
}

/// `blob` with every top-level element of `overlay` (both data sets written by
/// [`encode_header`]) put in it, as [`splice_element`] puts one: what laying the elements
/// over the decoded data set gives, encoded, without decoding either. `None` when the
/// walk does not know one of them: callers then decode.
pub fn overlay_elements(blob: &[u8], overlay: &[u8]) -> Option<Vec<u8>> {
    let mut out = blob.to_vec();
    let mut at = 0usize;
    while at < overlay.len() {
        let (tag, end) = element_end(overlay, at)?;
        out = splice_element(&out, tag, &overlay[at..end])?;
        at = end;
    }
    Some(out)
}

/// The top-level elements of `blob` (a data set written by [`encode_header`]) whose tags
/// `keep` accepts, copied byte for byte, in order, into a blob of their own: what a step
/// that reads a few attributes decodes instead of the whole header. The whole blob is
/// walked, so a damaged tail is refused, not cut off. `None` when the walk does not know
/// the blob ([`scan_header`]'s limits): callers then decode it whole.
pub fn subset_header(blob: &[u8], keep: impl Fn(dicom_core::Tag) -> bool) -> Option<Vec<u8>> {
    let mut at = 0usize;
    let mut out = Vec::new();
    while at < blob.len() {
        let (tag, end) = element_end(blob, at)?;
        if keep(tag) {
            out.extend_from_slice(&blob[at..end]);
        }
        at = end;
    }
    Some(out)
}

/// The Explicit VR Little Endian encoding of a sequence element `tag` whose items are
/// `items`, each a data set as [`encode_header`] writes it (defined lengths throughout);
/// `None` when the lengths do not fit 32 bits.
pub fn encode_sequence(tag: dicom_core::Tag, items: &[&[u8]]) -> Option<Vec<u8>> {
    let mut body: u32 = 0;
    for item in items {
        let len = u32::try_from(item.len()).ok().filter(|l| *l != u32::MAX)?;
        body = body.checked_add(8)?.checked_add(len)?;
    }
    if body == u32::MAX {
        return None;
    }
    let mut out = Vec::with_capacity(12 + body as usize);
    out.extend_from_slice(&tag.group().to_le_bytes());
    out.extend_from_slice(&tag.element().to_le_bytes());
    out.extend_from_slice(b"SQ\0\0");
    out.extend_from_slice(&body.to_le_bytes());
    for item in items {
        out.extend_from_slice(&[0xFE, 0xFF, 0x00, 0xE0]);
        out.extend_from_slice(&(item.len() as u32).to_le_bytes());
        out.extend_from_slice(item);
    }
    Some(out)
}

/// The tag of the top-level element at `at` and where it ends (its value, or its
/// sequence of undefined length, skipped); `None` for what the walk does not know.
fn element_end(blob: &[u8], at: usize) -> Option<(dicom_core::Tag, usize)> {
    let (tag, vr, len, value_at) = element_header(blob, at)?;
    let end = if len == u32::MAX {
        if vr != dicom_core::VR::SQ {
            return None;
        }
        skip_undefined_sequence(blob, value_at, 0)?
    } else {
        value_at
            .checked_add(len as usize)
            .filter(|e| *e <= blob.len())?
    };
    Some((tag, end))
}

/// Reads an explicit VR little endian element header: tag, VR, length, value offset.
fn element_header(blob: &[u8], at: usize) -> Option<(dicom_core::Tag, dicom_core::VR, u32, usize)> {
    use dicom_core::{Tag, VR};
    let head = blob.get(at..at + 8)?;
    let tag = Tag(
        u16::from_le_bytes([head[0], head[1]]),
        u16::from_le_bytes([head[2], head[3]]),
    );
    let vr = VR::from_binary([head[4], head[5]])?;
    // PS3.5 Table 7.1-1: the other VRs have two reserved bytes and a 4-byte length.
    let long = !gantry_dataset::has_short_length(vr);
    if long {
        let len = blob.get(at + 8..at + 12)?;
        Some((
            tag,
            vr,
            u32::from_le_bytes([len[0], len[1], len[2], len[3]]),
            at + 12,
        ))
    } else {
        Some((
            tag,
            vr,
            u16::from_le_bytes([head[6], head[7]]) as u32,
            at + 8,
        ))
    }
}

/// Skips the items of a sequence of undefined length; returns the offset after its
/// delimitation item.
fn skip_undefined_sequence(blob: &[u8], mut at: usize, depth: usize) -> Option<usize> {
    if depth > MAX_SEQUENCE_DEPTH {
        return None;
    }
    loop {
        let head = blob.get(at..at + 8)?;
        let (group, element) = (
            u16::from_le_bytes([head[0], head[1]]),
            u16::from_le_bytes([head[2], head[3]]),
        );
        let len = u32::from_le_bytes([head[4], head[5], head[6], head[7]]);
        at += 8;
        match (group, element) {
            (0xFFFE, 0xE0DD) => return Some(at),
            (0xFFFE, 0xE000) if len != u32::MAX => {
                at = at.checked_add(len as usize).filter(|e| *e <= blob.len())?;
            }
            (0xFFFE, 0xE000) => {
                // An item of undefined length: elements until its delimitation item.
                loop {
                    let head = blob.get(at..at + 8)?;
                    if head[..4] == [0xFE, 0xFF, 0x0D, 0xE0] {
                        at += 8;
                        break;
                    }
                    let (_, vr, len, value_at) = element_header(blob, at)?;
                    at = if len == u32::MAX {
                        if vr != dicom_core::VR::SQ {
                            return None;
                        }
                        skip_undefined_sequence(blob, value_at, depth + 1)?
                    } else {
                        value_at
                            .checked_add(len as usize)
                            .filter(|e| *e <= blob.len())?
                    };
                }
            }
            _ => return None,
        }
    }
}

#[cfg(test)]
mod tests {
    use dicom_core::value::DataSetSequence;
    use dicom_core::{DataElement, PrimitiveValue, Tag, VR};
    use dicom_object::InMemDicomObject;

    use super::*;

    const SEAL: Tag = Tag(0x0400, 0x0500);

    fn item(text: &str) -> InMemDicomObject {
        let mut o = InMemDicomObject::new_empty();
        o.put(DataElement::new(
            Tag(0x0400, 0x0510),
            VR::UI,
            PrimitiveValue::from("1.2.840.10008.1.2.1"),
        ));
        o.put(DataElement::new(
            Tag(0x0010, 0x0010),
            VR::PN,
            PrimitiveValue::from(text),
        ));
        o
    }

    fn header(with_old_seal: bool) -> InMemDicomObject {
        let mut o = InMemDicomObject::new_empty();
        let lo = |tag, v: &str| DataElement::new(tag, VR::LO, PrimitiveValue::from(v));
        o.put(lo(Tag(0x0008, 0x1030), "Chest"));
        // A sequence before the seal, one after it (functional groups), a private
        // element after it: the splice must walk over and keep all of them.
        o.put(DataElement::new(
            Tag(0x0008, 0x1110),
            VR::SQ,
            DataSetSequence::from(vec![item("A^B"), item("C^D")]),
        ));
        o.put(DataElement::new(
            Tag(0x5200, 0x9229),
            VR::SQ,
            DataSetSequence::from(vec![item("E^F")]),
        ));
        o.put(lo(Tag(0x7053, 0x0010), "PRIVATE CREATOR"));
        if with_old_seal {
            o.put(DataElement::new(
                SEAL,
                VR::SQ,
                DataSetSequence::from(vec![item("OLD^SEAL")]),
            ));
        }
        o
    }

    #[test]
    fn a_spliced_sequence_decodes_as_if_it_had_been_put() {
        for with_old_seal in [false, true] {
            let blob = encode_header(&header(with_old_seal)).unwrap();
            let sealed = encode_header(&item("G^H")).unwrap();
            let element = encode_sequence(SEAL, &[&sealed]).unwrap();
            let spliced = splice_element(&blob, SEAL, &element).expect("the walk knows it");
            let mut expected = header(with_old_seal);
            expected.put(DataElement::new(
                SEAL,
                VR::SQ,
                DataSetSequence::from(vec![item("G^H")]),
            ));
            let expected = decode_header(&encode_header(&expected).unwrap()).unwrap();
            let got = decode_header(&spliced).unwrap();
            let tags = |o: &InMemDicomObject| o.iter().map(|e| e.header().tag).collect::<Vec<_>>();
            assert_eq!(tags(&got), tags(&expected));
            let items = got.get(SEAL).unwrap().items().unwrap();
            assert_eq!(items.len(), 1, "the old seal is replaced, not kept beside");
            assert_eq!(
                items[0].get(Tag(0x0010, 0x0010)).unwrap().to_str().unwrap(),
                "G^H"
            );
            // Everything else is as it was: re-encoded, both are the same bytes.
            assert_eq!(
                encode_header(&got).unwrap(),
                encode_header(&expected).unwrap()
            );
        }
    }

    #[test]
    fn a_subset_decodes_as_the_kept_elements_of_the_whole() {
        for with_seal in [false, true] {
            let blob = encode_header(&header(with_seal)).unwrap();
            let whole = decode_header(&blob).unwrap();
            // Keep a sequence and some plain elements, drop the rest.
            let keep =
                |tag: Tag| tag == SEAL || tag.group() == 0x5200 || tag == Tag(0x0008, 0x1030);
            let part = decode_header(&subset_header(&blob, keep).unwrap()).unwrap();
            let kept = InMemDicomObject::from_element_iter(
                whole.iter().filter(|e| keep(e.header().tag)).cloned(),
            );
            let tags = |o: &InMemDicomObject| o.iter().map(|e| e.header().tag).collect::<Vec<_>>();
            assert_eq!(tags(&part).len(), 2 + with_seal as usize);
            assert_eq!(tags(&part), tags(&kept));
            assert_eq!(encode_header(&part).unwrap(), encode_header(&kept).unwrap());
            // Damaged blobs are refused, as the scan refuses them.
            let cut = &blob[..blob.len() - 3];
            assert_eq!(
                subset_header(cut, keep).is_some(),
                scan_header(cut, &[]).is_some()
            );
        }
    }

    #[test]
    fn the_splice_accepts_exactly_what_the_scan_accepts() {
        // Damaged copies of a real blob: bytes changed, cut or appended at random.
        let good = encode_header(&header(true)).unwrap();
        let element = encode_sequence(SEAL, &[b"x\0"]).unwrap();
        let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut next = || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        for _ in 0..20_000 {
            let mut blob = good.clone();
            match next() % 3 {
                0 => {
                    let at = next() as usize % blob.len();
                    blob[at] = next() as u8;
                }
                1 => blob.truncate(next() as usize % blob.len()),
                _ => blob.extend((0..next() % 16).map(|_| next() as u8)),
            }
            let spliced = splice_element(&blob, SEAL, &element);
            assert_eq!(spliced.is_some(), scan_header(&blob, &[]).is_some());
        }
    }

    #[test]
    fn a_blob_the_walk_does_not_know_is_not_spliced() {
        let mut blob = encode_header(&header(false)).unwrap();
        blob.truncate(blob.len() - 3);
        let element = encode_sequence(SEAL, &[b""]).unwrap();
        assert_eq!(splice_element(&blob, SEAL, &element), None);
    }

    #[test]
    fn overlaid_elements_decode_as_if_they_had_been_put() {
        let base = header(true);
        let mut overlay = InMemDicomObject::new_empty();
        // One replaces an element the blob has, one goes between two, one after all.
        overlay.put(DataElement::new(
            Tag(0x0008, 0x1030),
            VR::LO,
            PrimitiveValue::from("Replaced"),
        ));
        overlay.put(DataElement::new(
            Tag(0x0028, 0x0010),
            VR::US,
            PrimitiveValue::from(512u16),
        ));
        overlay.put(DataElement::new(
            Tag(0x7FE1, 0x0010),
            VR::LO,
            PrimitiveValue::from("LAST"),
        ));
        let mut expected = base.clone();
        for element in overlay.clone() {
            expected.put(element);
        }
        let spliced = overlay_elements(
            &encode_header(&base).unwrap(),
            &encode_header(&overlay).unwrap(),
        )
        .unwrap();
        assert_eq!(
            encode_header(&decode_header(&spliced).unwrap()).unwrap(),
            encode_header(&expected).unwrap()
        );
        // An overlay the walk does not know is refused, not half applied.
        assert!(overlay_elements(&encode_header(&base).unwrap(), &[0x08, 0x00, 0x30]).is_none());
    }

    #[test]
    fn what_encode_header_writes_passes_the_length_walk_and_a_damaged_blob_does_not_decode() {
        let ts = explicit_le().unwrap();
        gantry_dataset::check_lengths(&encode_header(&header(true)).unwrap(), ts).unwrap();
        // The shape the header_scan fuzzer found: the top level holds together (the scan
        // accepts it), an element inside a sequence item claims 3 GB.
        let mut inner = vec![0x10, 0x00, 0x10, 0x00, b'O', b'B', 0, 0];
        inner.extend_from_slice(&0xCFCF_0000u32.to_le_bytes());
        inner.extend_from_slice(&[0; 4]);
        let mut item = vec![0xFE, 0xFF, 0x00, 0xE0];
        item.extend_from_slice(&(inner.len() as u32).to_le_bytes());
        item.extend(inner);
        let mut fuzzed = vec![0x08, 0x00, 0x10, 0x11, b'S', b'Q', 0, 0];
        fuzzed.extend_from_slice(&(item.len() as u32).to_le_bytes());
        fuzzed.extend(item);
        assert!(scan_header(&fuzzed, &[]).is_some());
        let error = decode_header(&fuzzed).unwrap_err();
        assert!(
            error
                .detail
                .contains("(0010,0010) claims 3486449664 bytes where 4 are left"),
            "{error}"
        );
    }
}
