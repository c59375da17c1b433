//! Compressed streams carry more than the image: JPEG comment (COM) and application (APPn)
//! segments, JPEG 2000 comment markers and JP2 XML/UUID boxes, bytes after the end of the
//! image. Any of them can hold a name or an MRN. [`strip_encapsulated`] rewrites each frame
//! with only what decoding needs, leaving the entropy-coded data byte for byte as it was.

use crate::RedactError;

/// JPEG-family transfer syntaxes (baseline, extended, lossless, JPEG-LS): marker streams.
const JPEG: &[&str] = &[
    "1.2.840.10008.1.2.4.50",
    "1.2.840.10008.1.2.4.51",
    "1.2.840.10008.1.2.4.57",
    "1.2.840.10008.1.2.4.70",
    "1.2.840.10008.1.2.4.80",
    "1.2.840.10008.1.2.4.81",
];

/// JPEG 2000 transfer syntaxes (Part 1 and HTJ2K): codestreams, or JP2 files.
const J2K: &[&str] = &[
    "1.2.840.10008.1.2.4.90",
    "1.2.840.10008.1.2.4.91",
    "1.2.840.10008.1.2.4.92",
    "1.2.840.10008.1.2.4.93",
    "1.2.840.10008.1.2.4.201",
    "1.2.840.10008.1.2.4.202",
    "1.2.840.10008.1.2.4.203",
];

/// What stripping removed from one pixel value.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Stripped {
    /// Segments, markers and boxes removed.
    pub segments: usize,
    /// Bytes removed.
    pub bytes: usize,
}

/// JPEG XL transfer syntaxes: codestreams, or files in the JPEG XL container.
const JXL: &[&str] = &[
    "1.2.840.10008.1.2.4.110",
    "1.2.840.10008.1.2.4.111",
    "1.2.840.10008.1.2.4.112",
];

/// Whether pixel data in `transfer_syntax` is a stream [`strip_encapsulated`] knows.
pub fn strippable(transfer_syntax: &str) -> bool {
    let uid = transfer_syntax.trim_end_matches(['\0', ' ']);
    JPEG.contains(&uid) || J2K.contains(&uid) || JXL.contains(&uid)
}

/// Rewrites the fragments of an encapsulated pixel value, one fragment per frame, with
/// only the segments decoding needs. Returns the new offset table (empty when the original
/// was), the fragments and what was removed; `Ok(None)` for syntaxes it does not know
/// (RLE and uncompressed carry no such segments). A stream it cannot walk is an error: it
/// cannot be vouched for.
#[allow(clippy::type_complexity)]
pub fn strip_encapsulated(
    transfer_syntax: &str,
    offset_table: &[u32],
    fragments: &[Vec<u8>],
) -> Result<Option<(Vec<u32>, Vec<Vec<u8>>, Stripped)>, RedactError> {
    let uid = transfer_syntax.trim_end_matches(['\0', ' ']);
    let jpeg = JPEG.contains(&uid);
    let jxl = JXL.contains(&uid);
    if !jpeg && !jxl && !J2K.contains(&uid) {
        return Ok(None);
    }
    // Frames: a fragment that opens a stream (SOI, SOC, a JP2 or JPEG XL signature, a
    // JPEG XL codestream) starts one.
    let starts = |f: &[u8]| {
        if jpeg {
            f.starts_with(&[0xFF, 0xD8])
        } else if jxl {
            f.starts_with(&[0xFF, 0x0A]) || f.starts_with(&JXL_SIGNATURE)
        } else {
            f.starts_with(&[0xFF, 0x4F]) || f.starts_with(&JP2_SIGNATURE[..8])
        }
    };
    let mut frames: Vec<Vec<u8>> = Vec::new();
    for fragment in fragments {
        if frames.is_empty() || starts(fragment) {
            frames.push(fragment.clone());
        } else if let Some(last) = frames.last_mut() {
            last.extend_from_slice(fragment);
        }
    }
    let mut removed = Stripped::default();
    let mut out = Vec::with_capacity(frames.len());
    for (i, frame) in frames.iter().enumerate() {
        let clean = if jpeg {
            strip_jpeg(frame, &mut removed)
        } else if jxl {
            strip_jxl(frame, &mut removed)
        } else {
            strip_j2k_or_jp2(frame, &mut removed)
        }
        .map_err(|e| RedactError::Codec(format!("frame {i}: {e}")))?;
        out.push(clean);
    }
    let table = if offset_table.is_empty() {
        Vec::new()
    } else {
        let mut at = 0u32;
        out.iter()
            .map(|f| {
                let here = at;
                at += 8 + (f.len() + f.len() % 2) as u32;
                here
            })
            .collect()
    };
    Ok(Some((table, out, removed)))
}

/// What a compressed stream's own header says the image is: rows, columns and components.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct StreamSize {
    pub rows: u32,
    pub columns: u32,
    pub components: u32,
}

/// The size the stream starting at `data` declares in its own header (JPEG's or JPEG-LS's
/// SOF, JPEG 2000's SIZ, in a bare codestream or a JP2 file), which is what its decoder
/// allocates. `Ok(None)` when `data` starts no stream of `transfer_syntax`'s family (a
/// frame's continuation), or the family is one whose size is not read here.
pub(crate) fn stream_size(
    transfer_syntax: &str,
    data: &[u8],
) -> Result<Option<StreamSize>, Malformed> {
    let uid = transfer_syntax.trim_end_matches(['\0', ' ']);
    if JPEG.contains(&uid) && data.starts_with(&[0xFF, 0xD8]) {
        return jpeg_size(data).map(Some);
    }
    if J2K.contains(&uid) {
        if data.starts_with(&[0xFF, 0x4F, 0xFF, 0x51]) {
            return siz_size(data).map(Some);
        }
        if data.starts_with(&JP2_SIGNATURE[..8]) {
            for (kind, start, header, end) in boxes(data, "JP2")? {
                if &kind == b"jp2c" {
                    return siz_size(&data[start + header..end]).map(Some);
                }
            }
            return Err(Malformed::Structure("a JP2 file without a codestream box"));
        }
    }
    Ok(None)
}

/// The frame header (SOFn of JPEG, SOF55 of JPEG-LS) of a JPEG stream: the segments before
/// it are walked, and a scan before it is an error.
fn jpeg_size(data: &[u8]) -> Result<StreamSize, Malformed> {
    let mut i = 2;
    loop {
        if data.get(i) != Some(&0xFF) {
            return match data.get(i) {
                None => Err(Malformed::Truncated { at: i }),
                Some(_) => Err(Malformed::NoMarker {
                    at: i,
                    place: Place(""),
                }),
            };
        }
        while data.get(i + 1) == Some(&0xFF) {
            i += 1;
        }
        let marker = *data.get(i + 1).ok_or(Malformed::Truncated { at: i + 1 })?;
        match marker {
            0x01 | 0xD0..=0xD7 => i += 2,
            0xC0..=0xC3 | 0xC5..=0xC7 | 0xC9..=0xCB | 0xCD..=0xCF | 0xF7 => {
                let field = |at: usize| be16(data, i + at);
                let components = *data.get(i + 9).ok_or(Malformed::Truncated { at: i + 9 })?;
                return Ok(StreamSize {
                    rows: field(5)? as u32,
                    columns: field(7)? as u32,
                    components: components as u32,
                });
            }
            0xD9 | 0xDA => {
                return Err(Malformed::Structure(
                    "the stream has no frame header before its scan",
                ));
            }
            _ => {
                let length = be16(data, i + 2)?;
                if length < 2 {
                    return Err(Malformed::Overrun {
                        marker: format!("FF{marker:02X}"),
                        at: i,
                        within: "the stream",
                    });
                }
                i += 2 + length;
            }
        }
    }
}

/// The image a JPEG 2000 codestream's SIZ segment declares: its reference grid less the
/// image offset, and its components.
fn siz_size(data: &[u8]) -> Result<StreamSize, Malformed> {
    if !data.starts_with(&[0xFF, 0x4F, 0xFF, 0x51]) {
        return Err(Malformed::Structure(
            "the codestream does not start with SOC and SIZ",
        ));
    }
    let word = |at: usize| -> Result<u32, Malformed> {
        data.get(at..at + 4)
            .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
            .ok_or(Malformed::Truncated { at })
    };
    // SOC, SIZ marker, Lsiz, Rsiz, then Xsiz, Ysiz, XOsiz, YOsiz, four tile fields, Csiz.
    let (x, y, x0, y0) = (word(8)?, word(12)?, word(16)?, word(20)?);
    let components = be16(data, 40)? as u32;
    match (x.checked_sub(x0), y.checked_sub(y0)) {
        (Some(columns), Some(rows)) => Ok(StreamSize {
            rows,
            columns,
            components,
        }),
        _ => Err(Malformed::Structure(
            "the codestream's image offset lies beyond its image",
        )),
    }
}

/// Where a compressed stream's structure breaks, so that its markers cannot be walked.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum Malformed {
    /// The stream ends before a two-byte field.
    #[error("truncated at byte {at}")]
    Truncated { at: usize },
    /// The stream does not have the structure its syntax requires.
    #[error("{0}")]
    Structure(&'static str),
    /// A byte where a marker must be is not one.
    #[error("no marker at byte {at}{place}")]
    NoMarker { at: usize, place: Place },
    /// A marker segment runs past what holds it.
    #[error("segment {marker} at byte {at} overruns {within}")]
    Overrun {
        marker: String,
        at: usize,
        within: &'static str,
    },
    /// A file-format box is truncated, too long or overruns the file.
    #[error("{what} box at byte {at} {problem}")]
    BadBox {
        what: &'static str,
        at: usize,
        problem: &'static str,
    },
    /// A JPEG 2000 codestream has something else where a tile-part must start.
    #[error("expected SOT or EOC at byte {at}, found {found:04X}")]
    NotATilePart { at: usize, found: usize },
    /// A tile-part runs past the end of the codestream.
    #[error("tile-part at byte {at} overruns the codestream")]
    TilePartOverrun { at: usize },
    /// A tile-part is shorter than its own SOT and SOD.
    #[error("tile-part at byte {at} is {length} bytes: too short for SOT and SOD")]
    ShortTilePart { at: usize, length: usize },
}

/// Which part of a codestream a marker was looked for in (empty for a JPEG stream).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Place(&'static str);

impl std::fmt::Display for Place {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0 {
            "" => Ok(()),
            place => write!(f, " of {place}"),
        }
    }
}

fn be16(data: &[u8], at: usize) -> Result<usize, Malformed> {
    data.get(at..at + 2)
        .map(|b| u16::from_be_bytes([b[0], b[1]]) as usize)
        .ok_or(Malformed::Truncated { at })
}

/// A JPEG (or JPEG-LS) stream with COM and APPn segments removed, except APP0 JFIF (its
/// thumbnail dropped) and APP14 Adobe, and nothing after EOI but zero padding.
fn strip_jpeg(data: &[u8], removed: &mut Stripped) -> Result<Vec<u8>, Malformed> {
    if !data.starts_with(&[0xFF, 0xD8]) {
        return Err(Malformed::Structure("the stream does not start with SOI"));
    }
    let mut out = Vec::with_capacity(data.len());
    out.extend_from_slice(&data[..2]);
    let mut i = 2;
    loop {
        if i >= data.len() {
            return Err(Malformed::Structure("the stream ends without EOI"));
        }
        if data[i] != 0xFF {
            return Err(Malformed::NoMarker {
                at: i,
                place: Place(""),
            });
        }
        // Fill bytes before a marker.
        while data.get(i + 1) == Some(&0xFF) {
            i += 1;
        }
        let marker = *data
            .get(i + 1)
            .ok_or(Malformed::Structure("the stream ends inside a marker"))?;
        match marker {
            0xD9 => {
                out.extend_from_slice(&[0xFF, 0xD9]);
                let rest = &data[i + 2..];
                if rest.iter().any(|&b| b != 0) {
                    removed.segments += 1;
                    removed.bytes += rest.len();
                }
                return Ok(out);
            }
            0x01 | 0xD0..=0xD7 => {
                out.extend_from_slice(&data[i..i + 2]);
                i += 2;
            }
            _ => {
                let length = be16(data, i + 2)?;
                let end = i + 2 + length;
                if length < 2 || end > data.len() {
                    return Err(Malformed::Overrun {
                        marker: format!("FF{marker:02X}"),
                        at: i,
                        within: "the stream",
                    });
                }
                let segment = &data[i..end];
                let body = &segment[4..];
                match marker {
                    0xE0 if body.starts_with(b"JFIF\0") && body.len() >= 14 => {
                        // JFIF without its thumbnail: version, units, densities, 0×0.
                        out.extend_from_slice(&[0xFF, 0xE0, 0x00, 0x10]);
                        out.extend_from_slice(&body[..12]);
                        out.extend_from_slice(&[0, 0]);
                        if segment.len() > 20 {
                            removed.segments += 1;
                            removed.bytes += segment.len() - 20;
                        }
                    }
                    0xEE if body.starts_with(b"Adobe") => out.extend_from_slice(segment),
                    0xE0..=0xEF | 0xFE => {
                        removed.segments += 1;
                        removed.bytes += segment.len();
                    }
                    _ => out.extend_from_slice(segment),
                }
                i = end;
                if marker == 0xDA {
                    // Entropy-coded data runs to the next marker that is not a restart:
                    // FF 00 is a stuffed byte (JPEG), FF with the top bit clear is bit
                    // stuffing (JPEG-LS).
                    let mut j = i;
                    while j + 1 < data.len() {
                        if data[j] == 0xFF
                            && data[j + 1] >= 0x80
                            && !(0xD0..=0xD7).contains(&data[j + 1])
                        {
                            break;
                        }
                        j += 1;
                    }
                    if j + 1 >= data.len() {
                        return Err(Malformed::Structure(
                            "the scan runs to the end of the stream without EOI",
                        ));
                    }
                    out.extend_from_slice(&data[i..j]);
                    i = j;
                }
            }
        }
    }
}

const JP2_SIGNATURE: [u8; 12] = [
    0, 0, 0, 0x0C, b'j', b'P', b' ', b' ', 0x0D, 0x0A, 0x87, 0x0A,
];

/// A box: its type, where it starts, its header's length, where it ends.
type FileBox = ([u8; 4], usize, usize, usize);

/// The boxes of an ISO base media style file (JP2, the JPEG XL container), in order:
/// `(type, start, header length, end)`, end exclusive. A box that overruns the data is an
/// error; fewer than 8 bytes after the last box (a fragment's padding) are no box, and
/// whoever copies the boxes leaves them out.
fn boxes(data: &[u8], what: &'static str) -> Result<Vec<FileBox>, Malformed> {
    let mut out = Vec::new();
    let mut i = 0;
    while let Some(head) = data.get(i..i + 8) {
        let length = u32::from_be_bytes([head[0], head[1], head[2], head[3]]) as usize;
        let kind = [head[4], head[5], head[6], head[7]];
        let (header, end) = match length {
            0 => (8, data.len()),
            1 => {
                let b = data.get(i + 8..i + 16).ok_or(Malformed::BadBox {
                    what,
                    at: i,
                    problem: "is truncated",
                })?;
                let l = u64::from_be_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]);
                let end = usize::try_from(l)
                    .ok()
                    .and_then(|l| i.checked_add(l))
                    .ok_or(Malformed::BadBox {
                        what,
                        at: i,
                        problem: "is longer than any file",
                    })?;
                (16, end)
            }
            l => (8, i + l),
        };
        if end > data.len() || end < i + header {
            return Err(Malformed::BadBox {
                what,
                at: i,
                problem: "overruns the file",
            });
        }
        out.push((kind, i, header, end));
        i = end;
    }
    Ok(out)
}

/// A JP2 file keeps its signature, file type, header and codestream boxes (the codestream
/// stripped); a bare codestream is stripped as it is.
fn strip_j2k_or_jp2(data: &[u8], removed: &mut Stripped) -> Result<Vec<u8>, Malformed> {
    if !data.starts_with(&JP2_SIGNATURE[..8]) {
        return strip_j2k(data, removed);
    }
    let mut out = Vec::with_capacity(data.len());
    for (kind, start, header, end) in boxes(data, "JP2")? {
        match &kind {
            b"jP  " | b"ftyp" | b"jp2h" => out.extend_from_slice(&data[start..end]),
            b"jp2c" => {
                let codestream = strip_j2k(&data[start + header..end], removed)?;
                out.extend_from_slice(&((codestream.len() + 8) as u32).to_be_bytes());
                out.extend_from_slice(b"jp2c");
                out.extend_from_slice(&codestream);
            }
            _ => {
                removed.segments += 1;
                removed.bytes += end - start;
            }
        }
    }
    Ok(out)
}

/// The JPEG XL container's signature box (ISO/IEC 18181-2); a bare codestream starts
/// `FF 0A` and carries no metadata boxes.
const JXL_SIGNATURE: [u8; 12] = [
    0, 0, 0, 0x0C, b'J', b'X', b'L', b' ', 0x0D, 0x0A, 0x87, 0x0A,
];

/// A JPEG XL file keeps its signature, file type, level, codestream (whole or partial)
/// and frame index boxes; Exif, XML, JUMBF, Brotli-compressed boxes (which may hold any of
/// those) and JPEG reconstruction data (the original JPEG's COM and APPn segments) go.
/// Decoded pixels are the same; a JPEG can no longer be rebuilt byte for byte from it.
fn strip_jxl(data: &[u8], removed: &mut Stripped) -> Result<Vec<u8>, Malformed> {
    if data.starts_with(&[0xFF, 0x0A]) {
        return Ok(data.to_vec());
    }
    if !data.starts_with(&JXL_SIGNATURE) {
        return Err(Malformed::Structure(
            "neither a JPEG XL codestream nor a JPEG XL container",
        ));
    }
    let mut out = Vec::with_capacity(data.len());
    for (kind, start, _, end) in boxes(data, "JPEG XL")? {
        match &kind {
            b"JXL " | b"ftyp" | b"jxll" | b"jxlc" | b"jxlp" | b"jxli" => {
                out.extend_from_slice(&data[start..end])
            }
            _ => {
                removed.segments += 1;
                removed.bytes += end - start;
            }
        }
    }
    Ok(out)
}

/// A JPEG 2000 codestream without COM segments, in the main header and in tile-part
/// headers (whose Psot lengths are corrected); the tile data is copied as it is.
fn strip_j2k(data: &[u8], removed: &mut Stripped) -> Result<Vec<u8>, Malformed> {
    if !data.starts_with(&[0xFF, 0x4F]) {
        return Err(Malformed::Structure(
            "the codestream does not start with SOC",
        ));
    }
    let mut out = Vec::with_capacity(data.len());
    out.extend_from_slice(&data[..2]);
    let mut i = 2;
    // Main header, up to the first SOT.
    i = copy_segments(
        data,
        i,
        0xFF90,
        data.len(),
        &mut out,
        removed,
        "the main header",
    )?;
    // Tile-parts.
    loop {
        let marker = be16(data, i)?;
        if marker == 0xFFD9 {
            out.extend_from_slice(&[0xFF, 0xD9]);
            let rest = &data[i + 2..];
            if rest.iter().any(|&b| b != 0) {
                removed.segments += 1;
                removed.bytes += rest.len();
            }
            return Ok(out);
        }
        if marker != 0xFF90 {
            return Err(Malformed::NotATilePart {
                at: i,
                found: marker,
            });
        }
        let sot = data
            .get(i..i + 12)
            .ok_or(Malformed::Structure("a truncated SOT"))?;
        let psot = u32::from_be_bytes([sot[6], sot[7], sot[8], sot[9]]) as usize;
        if psot != 0 && psot < 14 {
            return Err(Malformed::ShortTilePart {
                at: i,
                length: psot,
            });
        }
        let part_end = if psot == 0 {
            // The last tile-part: up to EOC.
            data.len().saturating_sub(2).max(i + 12)
        } else {
            i + psot
        };
        if part_end > data.len() {
            return Err(Malformed::TilePartOverrun { at: i });
        }
        let mut header = Vec::new();
        let j = copy_segments(
            data,
            i + 12,
            0xFF93,
            part_end,
            &mut header,
            removed,
            "its tile-part",
        )?;
        let body = &data[j..part_end];
        let new_psot = if psot == 0 {
            0
        } else {
            (12 + header.len() + body.len()) as u32
        };
        out.extend_from_slice(&sot[..6]);
        out.extend_from_slice(&new_psot.to_be_bytes());
        out.extend_from_slice(&sot[10..12]);
        out.extend_from_slice(&header);
        out.extend_from_slice(body);
        i = part_end;
        if psot == 0 {
            if data.get(i..i + 2) == Some(&[0xFF, 0xD9]) {
                out.extend_from_slice(&[0xFF, 0xD9]);
            }
            return Ok(out);
        }
    }
}

/// Copies the marker segments of `data` from `at` up to marker `until` (not copied) into
/// `out`, dropping COM (FF64); returns where `until` starts. Segments must end by `limit`.
fn copy_segments(
    data: &[u8],
    mut at: usize,
    until: usize,
    limit: usize,
    out: &mut Vec<u8>,
    removed: &mut Stripped,
    place: &'static str,
) -> Result<usize, Malformed> {
    loop {
        let marker = be16(data, at)?;
        if marker == until {
            return Ok(at);
        }
        if marker >> 8 != 0xFF {
            return Err(Malformed::NoMarker {
                at,
                place: Place(place),
            });
        }
        let length = be16(data, at + 2)?;
        let end = at + 2 + length;
        if length < 2 || end > limit {
            return Err(Malformed::Overrun {
                marker: format!("{marker:04X}"),
                at,
                within: place,
            });
        }
        if marker == 0xFF64 {
            removed.segments += 1;
            removed.bytes += end - at;
        } else {
            out.extend_from_slice(&data[at..end]);
        }
        at = end;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn segment(marker: u8, body: &[u8]) -> Vec<u8> {
        let mut s = vec![0xFF, marker];
        s.extend_from_slice(&((body.len() + 2) as u16).to_be_bytes());
        s.extend_from_slice(body);
        s
    }

    #[test]
    fn jpeg_comments_and_application_segments_go_the_scan_stays() {
        let mut stream = vec![0xFF, 0xD8];
        stream.extend(segment(
            0xE0,
            b"JFIF\0\x01\x02\0\0\x01\0\x01\x01\x01\xAA\xBB\xCC",
        ));
        stream.extend(segment(0xE1, b"Exif\0\0Patient DOE^JANE"));
        stream.extend(segment(0xFE, b"Patient DOE^JANE MRN 123"));
        stream.extend(segment(0xEE, b"Adobe\0\x64\0\0\0\0\x01"));
        stream.extend(segment(0xDB, &[0; 65]));
        stream.extend(segment(0xDA, &[1, 1, 0, 0, 0x3F, 0]));
        let scan = [0x12, 0xFF, 0x00, 0x34, 0xFF, 0xD0, 0x56];
        stream.extend_from_slice(&scan);
        stream.extend(segment(0xFE, b"between scans: DOE"));
        stream.extend_from_slice(&[0xFF, 0xD9]);
        stream.extend_from_slice(b"trailing DOE^JANE");
        let (_, out, removed) =
            strip_encapsulated("1.2.840.10008.1.2.4.50", &[], &[stream.clone()])
                .unwrap()
                .unwrap();
        let out = &out[0];
        assert!(!out.windows(3).any(|w| w == b"DOE"), "{out:?}");
        assert!(
            out.windows(scan.len()).any(|w| w == scan),
            "the scan is intact"
        );
        assert!(out.windows(5).any(|w| w == b"Adobe"));
        assert!(out.windows(5).any(|w| w == b"JFIF\0"));
        assert!(out.ends_with(&[0xFF, 0xD9]));
        assert_eq!(
            removed.segments, 5,
            "APP1, two COM, the thumbnail and the trailer"
        );
    }

    #[test]
    fn j2k_comments_go_and_tile_lengths_follow() {
        let mut cs = vec![0xFF, 0x4F];
        cs.extend(segment(0x51, &[0; 38]));
        cs.extend(segment(0x64, b"\0\x01Patient DOE^JANE"));
        let mut tile_header = Vec::new();
        tile_header.extend(segment(0x64, b"\0\x01DOE again"));
        let body = [0xFF, 0x93, 1, 2, 3, 4, 5];
        let psot = (12 + tile_header.len() + body.len()) as u32;
        cs.extend_from_slice(&[0xFF, 0x90, 0, 10, 0, 0]);
        cs.extend_from_slice(&psot.to_be_bytes());
        cs.extend_from_slice(&[0, 1]);
        cs.extend_from_slice(&tile_header);
        cs.extend_from_slice(&body);
        cs.extend_from_slice(&[0xFF, 0xD9]);
        let (_, out, removed) = strip_encapsulated("1.2.840.10008.1.2.4.90", &[0], &[cs])
            .unwrap()
            .unwrap();
        let out = &out[0];
        assert!(!out.windows(3).any(|w| w == b"DOE"));
        assert_eq!(removed.segments, 2);
        let at = out.windows(2).position(|w| w == [0xFF, 0x90]).unwrap();
        let new_psot = u32::from_be_bytes([out[at + 6], out[at + 7], out[at + 8], out[at + 9]]);
        assert_eq!(new_psot as usize, 12 + body.len());
        assert!(out.ends_with(&[1, 2, 3, 4, 5, 0xFF, 0xD9]));
    }

    #[test]
    fn damaged_streams_are_errors_never_panics() {
        let mut jpeg = vec![0xFF, 0xD8];
        jpeg.extend(segment(0xFE, b"comment"));
        jpeg.extend(segment(0xDA, &[1, 1, 0, 0, 0x3F, 0]));
        jpeg.extend_from_slice(&[0x12, 0xFF, 0x00, 0x34, 0xFF, 0xD9]);
        let mut j2k = vec![0xFF, 0x4F];
        j2k.extend(segment(0x51, &[0; 38]));
        j2k.extend(segment(0x64, b"\0\x01c"));
        j2k.extend_from_slice(&[
            0xFF, 0x90, 0, 10, 0, 0, 0, 0, 0, 21, 0, 1, 0xFF, 0x93, 1, 2, 3,
        ]);
        j2k.extend_from_slice(&[0xFF, 0xD9]);
        let mut state = 0x9E3779B97F4A7C15u64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let mut jxl = JXL_SIGNATURE.to_vec();
        jxl.extend_from_slice(&[0, 0, 0, 12, b'E', b'x', b'i', b'f', 1, 2, 3, 4]);
        jxl.extend_from_slice(&[0, 0, 0, 0, b'j', b'x', b'l', b'c', 0xFF, 0x0A, 5, 6]);
        for (syntax, stream) in [
            ("1.2.840.10008.1.2.4.50", &jpeg),
            ("1.2.840.10008.1.2.4.90", &j2k),
            ("1.2.840.10008.1.2.4.112", &jxl),
        ] {
            for cut in 0..stream.len() {
                let _ = strip_encapsulated(syntax, &[], &[stream[..cut].to_vec()]);
            }
            for _ in 0..3000 {
                let mut damaged = stream.clone();
                for _ in 0..1 + next() % 4 {
                    let at = (next() as usize) % damaged.len();
                    damaged[at] = next() as u8;
                }
                let _ = strip_encapsulated(syntax, &[0], &[damaged]);
            }
        }
    }

    #[test]
    fn jpeg_xl_metadata_boxes_go_the_codestream_stays() {
        let boxed = |kind: &[u8; 4], body: &[u8]| {
            let mut b = ((body.len() + 8) as u32).to_be_bytes().to_vec();
            b.extend_from_slice(kind);
            b.extend_from_slice(body);
            b
        };
        let mut file = JXL_SIGNATURE.to_vec();
        file.extend(boxed(b"ftyp", b"jxl \0\0\0\0jxl "));
        file.extend(boxed(b"Exif", b"\0\0\0\0Artist: DOE^JANE"));
        file.extend(boxed(b"xml ", b"<x:xmpmeta>MRN 4820193</x:xmpmeta>"));
        file.extend(boxed(b"brob", b"Exif\x8b\x02\x80compressed"));
        file.extend(boxed(b"jbrd", b"\xff\xfeJANE DOE"));
        let codestream = [0xFF, 0x0A, 0xFA, 0x1F, 0x42, 0x99, 0x00, 0x17];
        file.extend(boxed(b"jxlc", &codestream));
        let (_, frames, removed) = strip_encapsulated("1.2.840.10008.1.2.4.112", &[], &[file])
            .unwrap()
            .unwrap();
        let out = &frames[0];
        assert_eq!(removed.segments, 4);
        for needle in [&b"DOE"[..], b"4820193", b"compressed"] {
            assert!(!out.windows(needle.len()).any(|w| w == needle));
        }
        assert!(out.starts_with(&JXL_SIGNATURE));
        assert!(out.ends_with(&codestream));
        // A bare codestream has nothing to strip; garbage is refused.
        let bare = strip_encapsulated("1.2.840.10008.1.2.4.110", &[], &[codestream.to_vec()])
            .unwrap()
            .unwrap();
        assert_eq!(bare.1[0], codestream);
        assert!(strip_encapsulated("1.2.840.10008.1.2.4.110", &[], &[vec![1, 2, 3]]).is_err());
    }

    #[test]
    fn a_stream_that_cannot_be_walked_is_refused() {
        assert!(
            strip_encapsulated("1.2.840.10008.1.2.4.50", &[], &[vec![0xFF, 0xD8, 0x00]]).is_err()
        );
        assert!(
            strip_encapsulated("1.2.840.10008.1.2.5", &[], &[vec![1, 2]])
                .unwrap()
                .is_none()
        );
    }
}
