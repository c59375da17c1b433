//! Reading DICOM data sets from bytes that may be damaged, for Gantry.
//!
//! dicom-rs reserves and zero-fills the length a value claims before it reads the value,
//! so a hundred damaged bytes that claim a 3 GB value cost 3 GB. [`check_lengths`] walks
//! a data set as dicom-rs will read it (element headers read by dicom-rs's own decoder,
//! values skipped) and refuses it when anything claims more bytes than what holds it has
//! left; [`read_dataset`] decodes only what the walk accepts. Every crate that turns
//! stored or received bytes into a data set (the store's header blobs, sealed originals,
//! values stored as UN) reads through it. Errors are [`DatasetError`].
//!
//! ```
//! use dicom_encoding::TransferSyntaxIndex;
//! use dicom_transfer_syntax_registry::TransferSyntaxRegistry;
//! # fn main() -> Result<(), gantry_dataset::DatasetError> {
//! let ts = TransferSyntaxRegistry.get("1.2.840.10008.1.2.1").expect("built in");
//! // (0010,0010) PN, 8 bytes: "DOE^JANE".
//! let mut blob = vec![0x10, 0x00, 0x10, 0x00, b'P', b'N', 8, 0];
//! blob.extend_from_slice(b"DOE^JANE");
//! let object = gantry_dataset::read_dataset(&blob, ts)?;
//! assert_eq!(object.get(dicom_dictionary_std::tags::PATIENT_NAME).unwrap().to_str().unwrap(), "DOE^JANE");
//!
//! // The same element claiming 3 GB is refused before anything is allocated.
//! blob[0..8].copy_from_slice(&[0x10, 0x00, 0x10, 0x00, b'O', b'B', 0, 0]);
//! blob.splice(8..8, 0xC000_0000u32.to_le_bytes());
//! assert!(matches!(
//!     gantry_dataset::check_lengths(&blob, ts),
//!     Err(gantry_dataset::DatasetError::Damaged { .. })
//! ));
//! # Ok(())
//! # }
//! ```
#![deny(missing_docs)]

use dicom_object::InMemDicomObject;

/// Sequences deeper than this are refused: real objects nest a handful of levels, and a
/// crafted file must not exhaust the stack.
pub const MAX_SEQUENCE_DEPTH: usize = 64;

/// Why a data set was not read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DatasetError {
    /// The walk refused the bytes: a length past what holds it, an item or delimiter
    /// where none belongs, a binary value that is not a whole number of its numbers, a
    /// cut-off header, or nesting past [`MAX_SEQUENCE_DEPTH`].
    #[error("damaged data set: {detail} at byte {at} (of {len})")]
    Damaged {
        /// Where the refused header starts.
        at: usize,
        /// How many bytes the data set has.
        len: usize,
        /// What is wrong there.
        detail: String,
    },
    /// The transfer syntax has no data set decoder in dicom-rs.
    #[error("transfer syntax {uid} has no data set decoder")]
    NoDecoder {
        /// The transfer syntax UID.
        uid: String,
    },
    /// dicom-rs could not read the data set, though its lengths fit.
    #[error("{detail}")]
    Read {
        /// What dicom-rs reported, with its causes.
        detail: String,
    },
}

/// Decodes a data set encoded in `ts`, once [`check_lengths`] has found that every length
/// in it fits what holds it. dicom-rs reserves and zero-fills a value's declared length
/// before it reads the value, so without the check a damaged blob of a hundred bytes that
/// claims a 3 GB value costs 3 GB of memory before the read fails.
pub fn read_dataset(
    blob: &[u8],
    ts: &dicom_encoding::TransferSyntax,
) -> Result<InMemDicomObject, DatasetError> {
    check_lengths(blob, ts)?;
    InMemDicomObject::read_dataset_with_ts(blob, ts).map_err(|e| DatasetError::Read {
        detail: error_text(&e),
    })
}

/// Walks a data set encoded in `ts` as dicom-rs reads it (element headers read by dicom-rs's
/// own decoder, so VRs and header sizes are the ones it will see), without reading a value,
/// and refuses it when a value, item or sequence claims more bytes than what holds it has
/// left, when nesting goes deeper than [`MAX_SEQUENCE_DEPTH`], or when an item or delimiter
/// stands where none belongs, or when a binary value's length is not a whole number of
/// its numbers (dicom-rs then reads on from the wrong place). Linear in the blob.
pub fn check_lengths(blob: &[u8], ts: &dicom_encoding::TransferSyntax) -> Result<(), DatasetError> {
    let decoder = ts
        .decoder_for::<&[u8]>()
        .ok_or_else(|| DatasetError::NoDecoder {
            uid: ts.uid().trim_end_matches('\0').to_string(),
        })?;
    let walk = LengthWalk {
        blob,
        decoder: decoder.as_ref(),
        big_endian: ts.endianness() == dicom_encoding::Endianness::Big,
    };
    walk.elements(0, Some(blob.len()), 0).map(|_| ())
}

/// Whether an explicit-VR header of `vr` has a 16-bit Value Length (PS3.5 Table 7.1-2);
/// every other VR has two reserved bytes and a 32-bit length (Table 7.1-1).
pub fn has_short_length(vr: dicom_core::VR) -> bool {
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
    fn damaged(&self, at: usize, what: impl std::fmt::Display) -> DatasetError {
        DatasetError::Damaged {
            at,
            len: self.blob.len(),
            detail: what.to_string(),
        }
    }

    /// Where a value of `len` bytes starting at `at` ends, if that is within `limit`.
    fn value_end(
        &self,
        at: usize,
        len: u32,
        limit: usize,
        tag: dicom_core::Tag,
    ) -> Result<usize, DatasetError> {
        at.checked_add(len as usize)
            .filter(|end| *end <= limit)
            .ok_or_else(|| {
                self.damaged(
                    at,
                    format_args!(
                        "{tag} claims {len} bytes where {} are left",
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
    ) -> Result<usize, DatasetError> {
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
                                "{tag} {} of {len} bytes is not a whole number of {unit}-byte values",
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
    ) -> Result<usize, DatasetError> {
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
                        format_args!(
                            "{} where a sequence item belongs",
                            dicom_core::Tag(group, element)
                        ),
                    ));
                }
            };
        }
    }

    /// The fragments of encapsulated pixel data (an icon image) up to and past their
    /// delimiter; returns where they end.
    fn fragments(&self, mut at: usize, limit: usize) -> Result<usize, DatasetError> {
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
                        format_args!(
                            "{} where a pixel fragment belongs",
                            dicom_core::Tag(group, element)
                        ),
                    ));
                }
            };
        }
    }

    /// Tag group, element and length of the 8-byte item header at `at` (VR-less in every
    /// syntax).
    fn item_header(&self, at: usize, limit: usize) -> Result<(u16, u16, u32), DatasetError> {
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

/// An error with its causes, as one line (a cause its error already quotes is not
/// repeated): what Gantry's errors carry of a dicom-rs error.
pub fn error_text(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut cause = error.source();
    while let Some(e) = cause {
        let next = e.to_string();
        if !text.contains(&next) {
            text.push_str(": ");
            text.push_str(&next);
        }
        cause = e.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use dicom_core::{Tag, VR};
    use dicom_encoding::TransferSyntaxIndex;
    use dicom_transfer_syntax_registry::TransferSyntaxRegistry;

    use super::*;

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
        TransferSyntaxRegistry.get("1.2.840.10008.1.2.1").unwrap()
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
        // Implicit VR: the VR of (0008,1110) is SQ by the dictionary, and its item's
        // elements are walked, not skipped.
        let implicit = TransferSyntaxRegistry.get("1.2.840.10008.1.2").unwrap();
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
            error
                .to_string()
                .contains("(0008,1150) claims 3486449664 bytes"),
            "{error}"
        );
    }

    #[test]
    fn a_length_past_what_holds_it_is_refused_before_dicom_rs_allocates_it() {
        let huge = 0xCFCF_0000u32;
        // The shape the header_scan fuzzer found: the top level holds together, an
        // element inside a sequence item claims 3 GB.
        let inner = el((0x0010, 0x0010), b"OB", huge, &[0; 4]);
        let mut item = item_head(0xE000, inner.len() as u32);
        item.extend(&inner);
        let fuzzed = el((0x0008, 0x1110), b"SQ", item.len() as u32, &item);
        let error = read_dataset(&fuzzed, explicit()).unwrap_err();
        assert!(
            error
                .to_string()
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
            assert!(read_dataset(&blob, explicit()).is_err(), "{what}: decoded");
        }
    }
}
