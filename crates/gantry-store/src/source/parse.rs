//! Header-only parsing of one source file.
//!
//! The data set is read token by token up to Pixel Data (7FE0,0010); the pixel value is
//! skipped by seeking, its offset and length recorded, and any elements after it are read
//! too (a digital signature or a private block after the pixels still has to be audited).

use std::cell::Cell;
use std::fs::File;
use std::io::BufReader;
use std::path::Path;
use std::rc::Rc;
use std::time::UNIX_EPOCH;

use dicom_core::header::{DataElementHeader, HasLength, Header};
use dicom_core::value::{DataSetSequence, PixelFragmentSequence, Value};
use dicom_core::{DataElement, Length, Tag, VR};
use dicom_dictionary_std::{tags, uids};
use dicom_encoding::TransferSyntaxIndex;
use dicom_encoding::text::SpecificCharacterSet;
use dicom_object::InMemDicomObject;
use dicom_object::mem::InMemElement;
use dicom_parser::DynStatefulDecoder;
use dicom_parser::dataset::DataToken;
use dicom_parser::dataset::read::{DataSetReader, DataSetReaderOptions};
use dicom_transfer_syntax_registry::TransferSyntaxRegistry;
use flate2::bufread::DeflateDecoder;

use super::counting::{CountingReader, Stream};
use super::meta::{FileMeta, is_vr_like, read_file_meta, read_up_to};
use super::{PixelLayout, PixelLocation, SourceStamp, SourceSyntax};
use crate::error::HeaderError;
use crate::header::MAX_SEQUENCE_DEPTH;
use crate::reason::SkipReason;

/// Explicit VR Big Endian: retired (and deprecated in dicom-rs), yet still found in archives.
const EXPLICIT_VR_BIG_ENDIAN: &str = "1.2.840.10008.1.2.2";

const READ_BUFFER: usize = 64 * 1024;

/// A source file read up to (and around) its pixel data.
#[derive(Debug, Clone)]
pub struct ParsedSource {
    /// Every element of the data set except the top-level Pixel Data, with nested
    /// sequences, private tags and elements after the pixel data.
    pub header: InMemDicomObject,
    /// How the file is encoded, and whether that had to be guessed.
    pub syntax: SourceSyntax,
    /// The meta group as found, if any.
    pub meta: Option<FileMeta>,
    /// Where the top-level Pixel Data value lives, if the object has one.
    pub pixels: Option<PixelLocation>,
    /// Size and modification time when read, to notice later changes.
    pub stamp: SourceStamp,
    /// Things worth telling the user that did not stop the file from being indexed.
    pub notes: Vec<String>,
    /// The data set's bytes up to Pixel Data, verbatim, when the file is already encoded
    /// as Explicit VR Little Endian and nothing follows the pixel data: exactly the header
    /// blob, with no need to encode one (see [`ParsedSource::header_blob`]).
    pub raw_header: Option<Vec<u8>>,
    /// Bytes after the pixel data that do not parse (a note says why): they are never
    /// exported, and a reader that takes the whole file (dicom-rs) must not be given it.
    pub unparsed_tail: bool,
}

impl ParsedSource {
    /// The header as an Explicit VR Little Endian blob: the source's own bytes when they
    /// already are one, else a fresh encoding of [`ParsedSource::header`].
    pub fn header_blob(&self) -> Result<Vec<u8>, HeaderError> {
        match &self.raw_header {
            Some(raw) => Ok(raw.clone()),
            None => crate::header::encode_header(&self.header),
        }
    }

    /// Like [`ParsedSource::header_blob`], without a copy.
    pub fn into_header_blob(self) -> Result<(InMemDicomObject, Vec<u8>), HeaderError> {
        match self.raw_header {
            Some(raw) => Ok((self.header, raw)),
            None => {
                let blob = crate::header::encode_header(&self.header)?;
                Ok((self.header, blob))
            }
        }
    }
}

/// Reads the header of the DICOM file at `path` without reading its pixel data.
///
/// Every way a file can be unusable is a [`SkipReason`]; this never panics on bad input.
pub fn read_source(path: &Path) -> Result<ParsedSource, SkipReason> {
    let unreadable = |e: std::io::Error| SkipReason::Unreadable {
        detail: e.to_string(),
    };
    let file = File::open(path).map_err(unreadable)?;
    let stamp = SourceStamp::of(&file.metadata().map_err(unreadable)?);
    if stamp.size == 0 {
        return Err(SkipReason::Empty);
    }
    let mut src = BufReader::with_capacity(READ_BUFFER, file);
    let mut lead = [0u8; 132];
    let lead_len = read_up_to(&mut src, &mut lead)?;
    let lead = &lead[..lead_len];

    let meta_start = if lead_len >= 132 && &lead[128..132] == b"DICM" {
        Some(132)
    } else if lead_len >= 4 && &lead[..4] == b"DICM" {
        Some(4)
    } else {
        None
    };
    let mut notes = Vec::new();
    let (meta, data_start, uid, guessed) = match meta_start {
        Some(start) => {
            // Relative seeks keep BufReader's buffer; an absolute one would discard it.
            src.seek_relative(start as i64 - lead_len as i64)
                .map_err(unreadable)?;
            let meta = read_file_meta(&mut src)?;
            let data_start = start + meta.byte_len;
            let (uid, guessed) = match &meta.transfer_syntax {
                Some(uid) => (uid.clone(), None),
                None => {
                    let mut first = [0u8; 8];
                    let n = read_up_to(&mut src, &mut first)?;
                    src.seek_relative(-(n as i64)).map_err(unreadable)?;
                    let uid = guess_syntax(&first[..n], true).ok_or_else(|| {
                        SkipReason::UnreadableMeta {
                            detail: "no Transfer Syntax UID (0002,0010) and the data set's first \
                                 bytes match no syntax"
                                .into(),
                        }
                    })?;
                    (
                        uid.to_string(),
                        Some(format!(
                            "file meta group has no Transfer Syntax UID (0002,0010); guessed {} from the first data element",
                            syntax_name(uid)
                        )),
                    )
                }
            };
            (Some(meta), data_start, uid, guessed)
        }
        None => {
            let uid = guess_syntax(lead, false).ok_or_else(|| SkipReason::NotDicom {
                detail: "no DICM magic code and the first bytes are not a DICOM data element"
                    .into(),
            })?;
            let note = format!(
                "no file meta group; guessed {} from the first data element",
                syntax_name(uid)
            );
            src.seek_relative(-(lead_len as i64)).map_err(unreadable)?;
            (None, 0, uid.to_string(), Some(note))
        }
    };
    notes.extend(guessed.clone());

    let registry = TransferSyntaxRegistry;
    let ts = registry
        .get(&uid)
        .ok_or_else(|| SkipReason::UnsupportedTransferSyntax { uid: uid.clone() })?;
    let deflated = uid == uids::DEFLATED_EXPLICIT_VR_LITTLE_ENDIAN;
    // A deflated data set is one deflate stream of an Explicit VR Little Endian data set.
    let parse_ts = if deflated {
        registry
            .get(uids::EXPLICIT_VR_LITTLE_ENDIAN)
            .ok_or_else(|| SkipReason::UnsupportedTransferSyntax { uid: uid.clone() })?
    } else {
        ts
    };
    let parse_ts = if !deflated
        && declares_explicit_le(parse_ts)
        && first_element_is_implicit(&mut src)?
    {
        notes.push(format!(
            "transfer syntax {uid} declares explicit VR but the data set is encoded with implicit VR; read as implicit"
        ));
        registry
            .get(uids::IMPLICIT_VR_LITTLE_ENDIAN)
            .ok_or_else(|| SkipReason::UnsupportedTransferSyntax { uid: uid.clone() })?
    } else {
        parse_ts
    };
    let (stream, limit, start) = if deflated {
        // Deflate expands at most about 1032:1, which bounds what a length may claim.
        let limit = stamp.size.saturating_mul(1032);
        (
            Stream::Deflated(Box::new(DeflateDecoder::new(src))),
            limit,
            0,
        )
    } else {
        (Stream::Plain(src), stamp.size, data_start)
    };
    let mut reader = CountingReader::new(stream, start);
    // An Explicit VR Little Endian data set is its own header blob: keep its bytes.
    if parse_ts.endianness() == dicom_encoding::Endianness::Little
        && parse_ts.uid() != uids::IMPLICIT_VR_LITTLE_ENDIAN
    {
        reader.start_capture();
    }

    let (mut elements, stop) = parse_elements(&mut reader, parse_ts, limit, true)?;
    let mut raw_header = reader.take_capture();
    if matches!(stop, Stop::NativePixels(_) | Stop::PixelSequence) {
        // The capture ends with the Pixel Data element's own 12-byte header; cut it off.
        raw_header = raw_header.and_then(|mut raw| {
            let cut = raw.len().checked_sub(12)?;
            (raw[cut..cut + 4] == [0xE0, 0x7F, 0x10, 0x00]).then(|| {
                raw.truncate(cut);
                raw
            })
        });
    }
    let pixels = match stop {
        Stop::End => None,
        Stop::NativePixels(header) => {
            let length = header.length().get().ok_or_else(|| SkipReason::Malformed {
                detail: "native Pixel Data (7FE0,0010) with undefined length".into(),
            })? as u64;
            let offset = reader.position();
            reader.skip(length).map_err(|_| SkipReason::Truncated {
                detail: format!(
                    "Pixel Data (7FE0,0010) claims {length} bytes at offset {offset} but the data set ends first"
                ),
            })?;
            let bits_allocated = bits_allocated(&elements);
            Some(PixelLocation {
                layout: PixelLayout::Native {
                    vr: header.vr().to_string().to_string(),
                    swap_unit: if ts.endianness() == dicom_encoding::Endianness::Big {
                        swap_unit(header.vr(), bits_allocated)
                    } else {
                        1
                    },
                },
                offset,
                length,
                deflated_from: deflated.then_some(data_start),
            })
        }
        Stop::PixelSequence => {
            let offset = reader.position();
            let fragments = skip_fragments(&mut reader, limit)?;
            Some(PixelLocation {
                layout: PixelLayout::Encapsulated { fragments },
                offset,
                length: reader.position() - offset,
                deflated_from: deflated.then_some(data_start),
            })
        }
    };
    let mut unparsed_tail = false;
    if pixels.is_some() && reader.position() < limit {
        // Elements after the pixel data are rare but real (signatures, private blocks);
        // they must be audited like the rest. Bytes that do not parse are never exported,
        // so they are noted rather than fatal.
        // The verbatim bytes end at the pixel data; trailing elements need an encoding.
        raw_header = None;
        match parse_elements(&mut reader, parse_ts, limit, false) {
            Ok((trailing, _)) => elements.extend(
                trailing
                    .into_iter()
                    .filter(|e| e.tag() != tags::DATA_SET_TRAILING_PADDING),
            ),
            Err(reason) => {
                unparsed_tail = true;
                notes.push(format!(
                "bytes after Pixel Data could not be parsed ({reason}); they are ignored and never exported"
            ));
            }
        }
    }

    // The verbatim bytes are kept only when the store can decode them again as they are
    // (the parse above tolerates structures the length walk refuses, such as a stray item
    // delimiter inside an item); otherwise the header is encoded from what was parsed.
    let raw_header = raw_header.filter(|raw| gantry_dataset::check_lengths(raw, parse_ts).is_ok());
    Ok(ParsedSource {
        header: InMemDicomObject::from_element_iter(elements),
        syntax: SourceSyntax {
            uid: ts.uid().trim_end_matches('\0').to_string(),
            guessed,
        },
        meta,
        pixels,
        stamp,
        notes,
        raw_header,
        unparsed_tail,
    })
}

/// Why element collection stopped.
enum Stop {
    End,
    NativePixels(DataElementHeader),
    PixelSequence,
}

type Tokens<'a> = DataSetReader<DynStatefulDecoder<&'a mut CountingReader>>;

fn parse_elements(
    reader: &mut CountingReader,
    ts: &dicom_encoding::TransferSyntax,
    limit: u64,
    stop_at_pixels: bool,
) -> Result<(Vec<InMemElement>, Stop), SkipReason> {
    let position = reader.position_handle();
    let options = DataSetReaderOptions::default();
    let tokens =
        DataSetReader::new_with_ts_cs_options(reader, ts, SpecificCharacterSet::default(), options)
            .map_err(|e| SkipReason::Malformed {
                detail: gantry_dataset::error_text(&e),
            })?;
    let mut builder = Builder {
        tokens,
        position,
        limit,
    };
    builder.data_set(0, stop_at_pixels)
}

struct Builder<'a> {
    tokens: Tokens<'a>,
    position: Rc<Cell<u64>>,
    limit: u64,
}

impl Builder<'_> {
    fn next(&mut self) -> Result<Option<DataToken>, SkipReason> {
        match self.tokens.next() {
            None => Ok(None),
            Some(Ok(token)) => Ok(Some(token)),
            Some(Err(e)) => Err(classify(&e, self.position.get(), self.limit)),
        }
    }

    /// Refuses a length the rest of the file cannot hold, before anything allocates it.
    fn check_length(&self, tag: Tag, len: Length) -> Result<(), SkipReason> {
        if let Some(claimed) = len.get() {
            let remaining = self.limit.saturating_sub(self.position.get());
            if claimed as u64 > remaining {
                return Err(length_overrun(tag, claimed as u64, remaining, self.limit));
            }
        }
        Ok(())
    }

    /// Collects elements until the end of the data set, the end of the current item, or
    /// (at the top level, when asked) the Pixel Data element.
    fn data_set(
        &mut self,
        depth: usize,
        stop_at_pixels: bool,
    ) -> Result<(Vec<InMemElement>, Stop), SkipReason> {
        let mut elements = Vec::new();
        while let Some(token) = self.next()? {
            let element = match token {
                DataToken::ElementHeader(header) => {
                    if stop_at_pixels && header.tag == tags::PIXEL_DATA {
                        self.check_length(header.tag, header.length())?;
                        return Ok((elements, Stop::NativePixels(header)));
                    }
                    self.check_length(header.tag, header.length())?;
                    match self.next()? {
                        Some(DataToken::PrimitiveValue(value)) => {
                            DataElement::new(header.tag, header.vr, Value::Primitive(value))
                        }
                        other => {
                            return Err(SkipReason::Malformed {
                                detail: format!(
                                    "element {} has no value (found {other:?})",
                                    format_tag(header.tag)
                                ),
                            });
                        }
                    }
                }
                DataToken::SequenceStart { tag, len } => {
                    self.check_length(tag, len)?;
                    let items = self.sequence(tag, depth + 1)?;
                    DataElement::new(
                        tag,
                        VR::SQ,
                        Value::Sequence(DataSetSequence::new(items, Length::UNDEFINED)),
                    )
                }
                DataToken::PixelSequenceStart if stop_at_pixels => {
                    return Ok((elements, Stop::PixelSequence));
                }
                DataToken::PixelSequenceStart => {
                    // Encapsulated pixels inside an item (an icon image) or after the main
                    // pixel data: small, and part of what the audit must see.
                    DataElement::new(tags::PIXEL_DATA, VR::OB, self.fragments()?)
                }
                DataToken::ItemEnd if depth > 0 => return Ok((elements, Stop::End)),
                other => {
                    return Err(SkipReason::Malformed {
                        detail: format!("unexpected {other} at byte {}", self.position.get()),
                    });
                }
            };
            elements.push(element);
        }
        if depth > 0 {
            return Err(SkipReason::Truncated {
                detail: format!(
                    "file ends inside a sequence item at byte {}",
                    self.position.get()
                ),
            });
        }
        Ok((elements, Stop::End))
    }

    fn sequence(&mut self, tag: Tag, depth: usize) -> Result<Vec<InMemDicomObject>, SkipReason> {
        if depth > MAX_SEQUENCE_DEPTH {
            return Err(SkipReason::TooDeep {
                limit: MAX_SEQUENCE_DEPTH,
            });
        }
        let mut items = Vec::new();
        while let Some(token) = self.next()? {
            match token {
                DataToken::ItemStart { len } => {
                    self.check_length(tag, len)?;
                    let (elements, _) = self.data_set(depth, false)?;
                    items.push(InMemDicomObject::from_element_iter(elements));
                }
                DataToken::SequenceEnd => return Ok(items),
                other => {
                    return Err(SkipReason::Malformed {
                        detail: format!(
                            "unexpected {other} in sequence {} at byte {}",
                            format_tag(tag),
                            self.position.get()
                        ),
                    });
                }
            }
        }
        Err(SkipReason::Truncated {
            detail: format!(
                "file ends inside sequence {} at byte {}",
                format_tag(tag),
                self.position.get()
            ),
        })
    }

    fn fragments(&mut self) -> Result<Value<InMemDicomObject, Vec<u8>>, SkipReason> {
        let mut offset_table = Vec::new();
        let mut fragments = Vec::new();
        while let Some(token) = self.next()? {
            match token {
                DataToken::OffsetTable(table) => offset_table = table,
                DataToken::ItemValue(data) => fragments.push(data),
                DataToken::ItemStart { len } => self.check_length(tags::PIXEL_DATA, len)?,
                DataToken::ItemEnd => {}
                DataToken::SequenceEnd => {
                    return Ok(Value::PixelSequence(PixelFragmentSequence::new(
                        offset_table,
                        fragments,
                    )));
                }
                other => {
                    return Err(SkipReason::Malformed {
                        detail: format!("unexpected {other} inside encapsulated pixel data"),
                    });
                }
            }
        }
        Err(SkipReason::Truncated {
            detail: "file ends inside encapsulated pixel data".into(),
        })
    }
}

/// A length that runs past the end of the file: a cut-off file when the claim is the size
/// of a real value, garbage when it is larger than the whole file several times over.
fn length_overrun(tag: Tag, claimed: u64, remaining: u64, limit: u64) -> SkipReason {
    if claimed > limit.saturating_mul(4) {
        SkipReason::AbsurdLength {
            tag: format_tag(tag),
            claimed,
            remaining,
        }
    } else {
        SkipReason::Truncated {
            detail: format!(
                "element {} claims {claimed} bytes but the file ends after {remaining}",
                format_tag(tag)
            ),
        }
    }
}

/// Walks the items of encapsulated pixel data by their headers alone, seeking over each
/// fragment, and returns the number of items (offset table included).
fn skip_fragments(reader: &mut CountingReader, limit: u64) -> Result<u32, SkipReason> {
    let mut items = 0u32;
    loop {
        let mut head = [0u8; 8];
        let at = reader.position();
        if read_up_to(reader, &mut head)? < 8 {
            return Err(SkipReason::Truncated {
                detail: format!(
                    "file ends inside encapsulated Pixel Data after {items} items (byte {at})"
                ),
            });
        }
        let group = u16::from_le_bytes([head[0], head[1]]);
        let element = u16::from_le_bytes([head[2], head[3]]);
        let len = u32::from_le_bytes([head[4], head[5], head[6], head[7]]);
        match (group, element) {
            (0xFFFE, 0xE000) => {
                let remaining = limit.saturating_sub(reader.position());
                if len == u32::MAX || len as u64 > remaining {
                    return Err(length_overrun(
                        tags::PIXEL_DATA,
                        len as u64,
                        remaining,
                        limit,
                    ));
                }
                reader.skip(len as u64).map_err(|_| SkipReason::Truncated {
                    detail: format!("file ends inside pixel data fragment {items}"),
                })?;
                items += 1;
            }
            (0xFFFE, 0xE0DD) => return Ok(items),
            _ => {
                return Err(SkipReason::Malformed {
                    detail: format!(
                        "({group:04X},{element:04X}) at byte {at} inside encapsulated Pixel Data, where an item was expected"
                    ),
                });
            }
        }
    }
}

fn declares_explicit_le(ts: &dicom_encoding::TransferSyntax) -> bool {
    ts.endianness() == dicom_encoding::Endianness::Little
        && ts.uid() != uids::IMPLICIT_VR_LITTLE_ENDIAN
}

/// Whether the data set at the reader's position starts with an implicit VR element
/// (no VR letters after the tag), leaving the position unchanged.
fn first_element_is_implicit(src: &mut BufReader<File>) -> Result<bool, SkipReason> {
    let mut first = [0u8; 8];
    let n = read_up_to(src, &mut first)?;
    src.seek_relative(-(n as i64))
        .map_err(|e| SkipReason::Unreadable {
            detail: e.to_string(),
        })?;
    Ok(n == 8 && !(is_vr_like(&first[4..6]) && VR::from_binary([first[4], first[5]]).is_some()))
}

/// Bytes per swapped unit when native pixel data is read from a big endian file.
///
/// PS3.5 7.3: OB is a byte stream and never swapped; OW is swapped per 16-bit word, except
/// that 32-bit samples are written as whole 32-bit values by every known writer.
fn swap_unit(vr: VR, bits_allocated: Option<u16>) -> u8 {
    match vr {
        VR::OW if bits_allocated == Some(32) => 4,
        VR::OW => 2,
        VR::OL | VR::OF => 4,
        VR::OD | VR::OV => 8,
        _ => 1,
    }
}

fn bits_allocated(elements: &[InMemElement]) -> Option<u16> {
    elements
        .iter()
        .find(|e| e.tag() == tags::BITS_ALLOCATED)
        .and_then(|e| e.to_int::<u16>().ok())
}

/// Guesses the transfer syntax of a data set from its first element (PS3.5 7.1): a group
/// number a data set can start with, and a VR where explicit encodings put one. With a
/// meta group present the file is known to be DICOM, so any group number is accepted.
fn guess_syntax(first: &[u8], known_dicom: bool) -> Option<&'static str> {
    if first.len() < 8 {
        return None;
    }
    let plausible =
        |group: u16| known_dicom || (group.is_multiple_of(2) && (0x0002..=0x0010).contains(&group));
    let le = u16::from_le_bytes([first[0], first[1]]);
    let be = u16::from_be_bytes([first[0], first[1]]);
    let explicit = is_vr_like(&first[4..6]) && VR::from_binary([first[4], first[5]]).is_some();
    match (explicit, plausible(le), plausible(be)) {
        (true, true, _) => Some(uids::EXPLICIT_VR_LITTLE_ENDIAN),
        (true, false, true) => Some(EXPLICIT_VR_BIG_ENDIAN),
        (false, true, _) => Some(uids::IMPLICIT_VR_LITTLE_ENDIAN),
        _ => None,
    }
}

fn syntax_name(uid: &str) -> &'static str {
    match uid {
        uids::EXPLICIT_VR_LITTLE_ENDIAN => "Explicit VR Little Endian",
        EXPLICIT_VR_BIG_ENDIAN => "Explicit VR Big Endian",
        _ => "Implicit VR Little Endian",
    }
}

/// Tells truncation (the file ends early) apart from structural damage.
fn classify(error: &(dyn std::error::Error + 'static), position: u64, limit: u64) -> SkipReason {
    let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(e) = cause {
        if let Some(io) = e.downcast_ref::<std::io::Error>()
            && io.kind() == std::io::ErrorKind::UnexpectedEof
        {
            return SkipReason::Truncated {
                detail: format!("file ends at byte {position} inside the data set"),
            };
        }
        cause = e.source();
    }
    if limit != u64::MAX && position >= limit {
        return SkipReason::Truncated {
            detail: format!("file ends at byte {position} inside the data set"),
        };
    }
    SkipReason::Malformed {
        detail: format!("at byte {position}: {}", gantry_dataset::error_text(error)),
    }
}

/// `(GGGG,EEEE)`, the way DICOM people write tags.
pub fn format_tag(tag: Tag) -> String {
    format!("({:04X},{:04X})", tag.group(), tag.element())
}

impl SourceStamp {
    /// The stamp of a file's current metadata.
    pub fn of(meta: &std::fs::Metadata) -> SourceStamp {
        let mtime_ns = meta
            .modified()
            .ok()
            .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
            .map(|d| d.as_nanos() as i64)
            .unwrap_or(0);
        SourceStamp {
            size: meta.len(),
            mtime_ns,
        }
    }
}
