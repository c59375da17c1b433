//! Header blobs: a data set without Pixel Data, encoded as Explicit VR Little Endian.
//!
//! DICOM in, DICOM out: every element, VR, private tag and nested sequence survives the
//! round trip, which a JSON form would not guarantee.

use dicom_dictionary_std::uids;
use dicom_encoding::TransferSyntaxIndex;
use dicom_object::InMemDicomObject;
use dicom_transfer_syntax_registry::TransferSyntaxRegistry;

use crate::error::HeaderError;

/// Sequences deeper than this are refused: real objects nest a handful of levels, and a
/// crafted file must not exhaust the stack.
pub const MAX_SEQUENCE_DEPTH: usize = 64;

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

/// VRs whose explicit-VR Value Length field has 16 bits (PS3.5 Table 7.1-2).
fn has_short_length(vr: dicom_core::VR) -> bool {
    use dicom_core::VR::*;
    matches!(
        vr,
        AE | AS
            | AT
            | CS
            | DA
            | DS
            | DT
            | FL
            | FD
            | IS
            | LO
            | LT
            | PN
            | SH
            | SL
            | SS
            | ST
            | TM
            | UI
            | UL
            | US
    )
}

/// Whether a value of `element` is too long for its VR's 16-bit length.
fn too_long(element: &dicom_object::mem::InMemElement) -> bool {
    matches!(element.value(), dicom_core::value::Value::Primitive(p)
        if has_short_length(element.vr()) && p.calculate_byte_len() > 0xFFFE)
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

/// Decodes a header blob written by [`encode_header`] (or a damaged one: see
/// [`read_dataset`]).
pub fn decode_header(blob: &[u8]) -> Result<InMemDicomObject, HeaderError> {
    read_dataset(blob, explicit_le()?)
}

/// Decodes a data set encoded in `ts`, once [`check_lengths`] has found that every length
/// in it fits what holds it. dicom-rs reserves and zero-fills a value's declared length
/// before it reads the value, so without the check a damaged blob of a hundred bytes that
/// claims a 3 GB value costs 3 GB of memory before the read fails.
pub fn read_dataset(
    blob: &[u8],
    ts: &dicom_encoding::TransferSyntax,
) -> Result<InMemDicomObject, HeaderError> {
    check_lengths(blob, ts)?;
    InMemDicomObject::read_dataset_with_ts(blob, ts).map_err(|e| header_error(&e))
}

/// Walks a data set encoded in `ts` as dicom-rs reads it (element headers read by dicom-rs's
/// own decoder, so VRs and header sizes are the ones it will see), without reading a value,
/// and refuses it when a value, item or sequence claims more bytes than what holds it has
/// left, when nesting goes deeper than [`MAX_SEQUENCE_DEPTH`], or when an item or delimiter
/// stands where none belongs, or when a binary value's length is not a whole number of
/// its numbers (dicom-rs then reads on from the wrong place). Linear in the blob.
pub fn check_lengths(blob: &[u8], ts: &dicom_encoding::TransferSyntax) -> Result<(), HeaderError> {
    let decoder = ts.decoder_for::<&[u8]>().ok_or_else(|| HeaderError {
        detail: format!("transfer syntax {} has no data set decoder", ts.uid()),
    })?;
    let walk = LengthWalk {
        blob,
        decoder: decoder.as_ref(),
        big_endian: ts.endianness() == dicom_encoding::Endianness::Big,
    };
    walk.elements(0, Some(blob.len()), 0).map(|_| ())
}

/// The size of one number of a binary VR (1 for every other VR).
fn binary_unit(vr: dicom_core::VR) -> u32 {
    use dicom_core::VR::*;
    match vr {
        US | SS | OW => 2,
        UL | SL | FL | OF | OL | AT => 4,
        FD | OD | SV | UV | OV => 8,
        _ => 1,
    }
}

/// The state of [`check_lengths`]: the blob and the decoder of its element headers.
struct LengthWalk<'a, 'd> {
    blob: &'a [u8],
    decoder: &'d dyn dicom_encoding::decode::DecodeFrom<&'a [u8]>,
    big_endian: bool,
}

impl<'a> LengthWalk<'a, '_> {
    fn damaged(&self, at: usize, what: impl std::fmt::Display) -> HeaderError {
        HeaderError {
            detail: format!(
                "damaged data set: {what} at byte {at} (of {})",
                self.blob.len()
            ),
        }
    }

    /// Where a value of `len` bytes starting at `at` ends, if that is within `limit`.
    fn value_end(
        &self,
        at: usize,
        len: u32,
        limit: usize,
        tag: dicom_core::Tag,
    ) -> Result<usize, HeaderError> {
        at.checked_add(len as usize)
            .filter(|end| *end <= limit)
            .ok_or_else(|| {
                self.damaged(
                    at,
                    format_args!(
                        "({:04X},{:04X}) claims {len} bytes where {} are left",
                        tag.group(),
                        tag.element(),
                        limit.saturating_sub(at)
                    ),
                )
            })
    }

    /// The elements from `at` to `end` (a data set or an item of defined length), or up
    /// to and past an item delimiter (`end` None, an item of undefined length); returns
    /// where they end.
    fn elements(
        &self,
        mut at: usize,
        end: Option<usize>,
        depth: usize,
    ) -> Result<usize, HeaderError> {
        let limit = end.unwrap_or(self.blob.len());
        loop {
            if end == Some(at) {
                return Ok(at);
            }
            let mut source: &'a [u8] = self.blob.get(at..limit).unwrap_or_default();
            let (header, read) = self
                .decoder
                .decode_header(&mut source)
                .map_err(|_| self.damaged(at, "an element header is cut off"))?;
            let value_at = at + read;
            let tag = header.tag;
            if tag.group() == 0xFFFE {
                match tag.element() {
                    // The end of an item of undefined length.
                    0xE00D if end.is_none() => return Ok(value_at),
                    // dicom-rs skips a stray item delimiter outside every sequence.
                    0xE00D if depth == 0 => {
                        at = value_at;
                        continue;
                    }
                    _ => {
                        return Err(self.damaged(at, format_args!("item tag {tag} among elements")));
                    }
                }
            }
            at = match header.len.get() {
                None if tag == dicom_dictionary_std::tags::PIXEL_DATA => {
                    self.fragments(value_at, limit)?
                }
                // dicom-rs reads any other element of undefined length as a sequence.
                None => self.sequence(value_at, None, limit, depth + 1)?,
                Some(len) => {
                    let value_end = self.value_end(value_at, len, limit, tag)?;
                    let unit = binary_unit(header.vr);
                    if len % unit != 0 {
                        // dicom-rs reads len / unit numbers, counts len bytes as read and
                        // goes on from where the numbers ended: every header after it is
                        // then read from the wrong place.
                        return Err(self.damaged(
                            value_at,
                            format_args!(
                                "({:04X},{:04X}) {} of {len} bytes is not a whole number of {unit}-byte values",
                                tag.group(),
                                tag.element(),
                                header.vr
                            ),
                        ));
                    }
                    if header.vr == dicom_core::VR::SQ {
                        self.sequence(value_at, Some(value_end), limit, depth + 1)?;
                    }
                    value_end
                }
            };
        }
    }

    /// The items of a sequence from `at` to `end`, or up to and past its delimiter (`end`
    /// None, within `limit`); returns where it ends.
    fn sequence(
        &self,
        mut at: usize,
        end: Option<usize>,
        limit: usize,
        depth: usize,
    ) -> Result<usize, HeaderError> {
        if depth > MAX_SEQUENCE_DEPTH {
            return Err(self.damaged(
                at,
                format_args!("sequences nested deeper than {MAX_SEQUENCE_DEPTH}"),
            ));
        }
        let limit = end.unwrap_or(limit);
        loop {
            if end == Some(at) {
                return Ok(at);
            }
            let (group, element, len) = self.item_header(at, limit)?;
            let body = at + 8;
            at = match (group, element) {
                (0xFFFE, 0xE0DD) if end.is_none() => return Ok(body),
                (0xFFFE, 0xE000) if len == u32::MAX => self.elements(body, None, depth)?,
                (0xFFFE, 0xE000) => {
                    let item_end =
                        self.value_end(body, len, limit, dicom_core::Tag(group, element))?;
                    self.elements(body, Some(item_end), depth)?
                }
                _ => {
                    return Err(self.damaged(
                        at,
                        format_args!("({group:04X},{element:04X}) where a sequence item belongs"),
                    ));
                }
            };
        }
    }

    /// The fragments of encapsulated pixel data (an icon image) up to and past their
    /// delimiter; returns where they end.
    fn fragments(&self, mut at: usize, limit: usize) -> Result<usize, HeaderError> {
        loop {
            let (group, element, len) = self.item_header(at, limit)?;
            at = match (group, element) {
                (0xFFFE, 0xE0DD) => return Ok(at + 8),
                (0xFFFE, 0xE000) if len != u32::MAX => {
                    self.value_end(at + 8, len, limit, dicom_dictionary_std::tags::PIXEL_DATA)?
                }
                _ => {
                    return Err(self.damaged(
                        at,
                        format_args!("({group:04X},{element:04X}) where a pixel fragment belongs"),
                    ));
                }
            };
        }
    }

    /// Tag group, element and length of the 8-byte item header at `at` (VR-less in every
    /// syntax).
    fn item_header(&self, at: usize, limit: usize) -> Result<(u16, u16, u32), HeaderError> {
        let head = self
            .blob
            .get(at..at.saturating_add(8).min(limit))
            .filter(|h| h.len() == 8)
            .ok_or_else(|| self.damaged(at, "an item header is cut off"))?;
        let (group, element, len) = (
            [head[0], head[1]],
            [head[2], head[3]],
            [head[4], head[5], head[6], head[7]],
        );
        Ok(if self.big_endian {
            (
                u16::from_be_bytes(group),
                u16::from_be_bytes(element),
                u32::from_be_bytes(len),
            )
        } else {
            (
                u16::from_le_bytes(group),
                u16::from_le_bytes(element),
                u32::from_le_bytes(len),
            )
        })
    }
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
        detail: error_text(error),
    }
}

fn error_text(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut cause = error.source();
    while let Some(e) = cause {
        text.push_str(": ");
        text.push_str(&e.to_string());
        cause = e.source();
    }
    text
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
    // PS3.5 Table 7.1-1: these VRs have two reserved bytes and a 4-byte length.
    let long = matches!(
        vr,
        VR::OB
            | VR::OD
            | VR::OF
            | VR::OL
            | VR::OV
            | VR::OW
            | VR::SQ
            | VR::SV
            | VR::UC
            | VR::UN
            | VR::UR
            | VR::UT
            | VR::UV
    );
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

    /// Explicit VR Little Endian element bytes: a short-length VR gets a 16-bit length.
    fn el(tag: (u16, u16), vr: &[u8; 2], len: u32, value: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        out.extend_from_slice(&tag.0.to_le_bytes());
        out.extend_from_slice(&tag.1.to_le_bytes());
        out.extend_from_slice(vr);
        match VR::from_binary(*vr) {
            Some(v) if has_short_length(v) => out.extend_from_slice(&(len as u16).to_le_bytes()),
            _ => {
                out.extend_from_slice(&[0, 0]);
                out.extend_from_slice(&len.to_le_bytes());
            }
        }
        out.extend_from_slice(value);
        out
    }

    /// An item or delimiter header: tag (FFFE,element) and a 32-bit length.
    fn item_head(element: u16, len: u32) -> Vec<u8> {
        let mut out = vec![0xFE, 0xFF];
        out.extend_from_slice(&element.to_le_bytes());
        out.extend_from_slice(&len.to_le_bytes());
        out
    }

    fn explicit() -> &'static dicom_encoding::TransferSyntax {
        explicit_le().unwrap()
    }

    /// Every structure dicom-rs reads and the store may hold: defined and undefined
    /// sequences and items, nested; an icon's encapsulated pixels; a stray item delimiter
    /// at the top level; a value of odd length.
    fn valid_explicit() -> Vec<u8> {
        let name = el((0x0010, 0x0010), b"PN", 8, b"DOE^JANE");
        let odd = el((0x0010, 0x0020), b"LO", 3, b"123");
        let mut defined_item = item_head(0xE000, name.len() as u32);
        defined_item.extend_from_slice(&name);
        let mut blob = el((0x0008, 0x0005), b"CS", 10, b"ISO_IR 100");
        blob.extend(el(
            (0x0008, 0x1110),
            b"SQ",
            defined_item.len() as u32,
            &defined_item,
        ));
        // An undefined sequence whose undefined item holds a nested undefined sequence
        // and an icon image.
        let mut inner = el((0x0040, 0xA730), b"SQ", u32::MAX, &[]);
        inner.extend(item_head(0xE000, u32::MAX));
        inner.extend(&odd);
        inner.extend(item_head(0xE00D, 0));
        inner.extend(item_head(0xE0DD, 0));
        let mut icon = el((0x7FE0, 0x0010), b"OB", u32::MAX, &[]);
        icon.extend(item_head(0xE000, 0));
        icon.extend(item_head(0xE000, 4));
        icon.extend([1, 2, 3, 4]);
        icon.extend(item_head(0xE0DD, 0));
        blob.extend(el((0x0088, 0x0200), b"SQ", u32::MAX, &[]));
        blob.extend(item_head(0xE000, u32::MAX));
        blob.extend(&inner);
        blob.extend(&icon);
        blob.extend(item_head(0xE00D, 0));
        blob.extend(item_head(0xE0DD, 0));
        blob.extend(item_head(0xE00D, 0));
        blob.extend(el((0x0020, 0x4000), b"LT", 4, b"note"));
        blob
    }

    #[test]
    fn every_structure_dicom_rs_reads_passes_the_length_walk() {
        let blob = valid_explicit();
        check_lengths(&blob, explicit()).unwrap();
        let object = read_dataset(&blob, explicit()).unwrap();
        assert_eq!(
            object.get(Tag(0x0020, 0x4000)).unwrap().to_str().unwrap(),
            "note"
        );
        // What encode_header writes, with sequences before and after the seal's place.
        check_lengths(&encode_header(&header(true)).unwrap(), explicit()).unwrap();
        // Implicit VR: the VR of (0008,1110) is SQ by the dictionary, and its item's
        // elements are walked, not skipped.
        let implicit = TransferSyntaxRegistry
            .get(uids::IMPLICIT_VR_LITTLE_ENDIAN)
            .unwrap();
        let uid = b"1.2.3\0";
        let mut element = vec![0x08, 0x00, 0x50, 0x11];
        element.extend_from_slice(&(uid.len() as u32).to_le_bytes());
        element.extend_from_slice(uid);
        let mut item = item_head(0xE000, element.len() as u32);
        item.extend(&element);
        let mut blob = vec![0x08, 0x00, 0x10, 0x11];
        blob.extend_from_slice(&(item.len() as u32).to_le_bytes());
        blob.extend(&item);
        check_lengths(&blob, implicit).unwrap();
        read_dataset(&blob, implicit).unwrap();
        // The same element claiming 3 GB inside that item.
        let at = blob.len() - uid.len() - 4;
        blob[at..at + 4].copy_from_slice(&0xCFCF_0000u32.to_le_bytes());
        let error = check_lengths(&blob, implicit).unwrap_err();
        assert!(
            error.detail.contains("(0008,1150) claims 3486449664 bytes"),
            "{error}"
        );
    }

    #[test]
    fn a_length_past_what_holds_it_is_refused_before_dicom_rs_allocates_it() {
        let huge = 0xCFCF_0000u32;
        // The shape the header_scan fuzzer found: the top level holds together (the scan
        // accepts it), an element inside a sequence item claims 3 GB.
        let inner = el((0x0010, 0x0010), b"OB", huge, &[0; 4]);
        let mut item = item_head(0xE000, inner.len() as u32);
        item.extend(&inner);
        let fuzzed = el((0x0008, 0x1110), b"SQ", item.len() as u32, &item);
        assert!(scan_header(&fuzzed, &[]).is_some());
        let error = decode_header(&fuzzed).unwrap_err();
        assert!(
            error
                .detail
                .contains("(0010,0010) claims 3486449664 bytes where 4 are left"),
            "{error}"
        );

        let mut cases: Vec<(&str, Vec<u8>)> = Vec::new();
        // An item longer than its sequence.
        let name = el((0x0010, 0x0010), b"PN", 4, b"DOE^");
        let mut item = item_head(0xE000, name.len() as u32 + 2);
        item.extend(&name);
        item.extend([0, 0]);
        cases.push((
            "item past its sequence",
            el((0x0008, 0x1110), b"SQ", item.len() as u32 - 2, &item),
        ));
        // An element of an undefined item claiming more than the blob.
        let mut blob = el((0x0008, 0x1110), b"SQ", u32::MAX, &[]);
        blob.extend(item_head(0xE000, u32::MAX));
        blob.extend(el((0x0009, 0x1001), b"UN", huge, &[0; 8]));
        cases.push(("element in an undefined item", blob));
        // An element whose VR is not one dicom-rs knows (read as UN, 4-byte length).
        cases.push(("unknown VR", el((0x0009, 0x1001), b"ZZ", huge, &[0; 8])));
        // A pixel fragment claiming 3 GB.
        let mut icon = el((0x7FE0, 0x0010), b"OB", u32::MAX, &[]);
        icon.extend(item_head(0xE000, 0));
        icon.extend(item_head(0xE000, huge));
        icon.extend([0; 8]);
        cases.push(("pixel fragment", icon));
        // Sequences nested past the limit.
        let mut deep = Vec::new();
        for _ in 0..=MAX_SEQUENCE_DEPTH + 1 {
            deep.extend(el((0x0008, 0x1110), b"SQ", u32::MAX, &[]));
            deep.extend(item_head(0xE000, u32::MAX));
        }
        cases.push(("nested too deep", deep));
        // A sequence whose delimiter never comes.
        let mut open = el((0x0008, 0x1110), b"SQ", u32::MAX, &[]);
        open.extend(item_head(0xE000, 0));
        cases.push(("unterminated sequence", open));
        // An element header cut off.
        let mut cut = valid_explicit();
        cut.extend([0x10, 0x00, 0x10]);
        cases.push(("cut-off header", cut));
        // An item tag where an element belongs.
        let mut stray = el((0x0008, 0x1110), b"SQ", u32::MAX, &[]);
        stray.extend(item_head(0xE000, u32::MAX));
        stray.extend(item_head(0xE000, 0));
        cases.push(("item among elements", stray));
        // A UL of 18 bytes: dicom-rs reads 16 and the next header from the wrong place
        // (what the cms_envelope fuzzer found: that header claimed 3.5 GB).
        let mut skew = el((0x0008, 0x0014), b"UL", 18, &[0; 18]);
        skew.extend(el((0x0008, 0x0016), b"UI", 2, b"1\0"));
        cases.push(("UL of 18 bytes", skew));
        for (what, blob) in cases {
            let error = check_lengths(&blob, explicit()).err();
            assert!(error.is_some(), "{what}: accepted");
            assert!(decode_header(&blob).is_err(), "{what}: decoded");
        }
    }
}
