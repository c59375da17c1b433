//! Reading a layout and a palette from the image pixel module of a header.

use dicom_core::Tag;
use dicom_object::InMemDicomObject;

use crate::RedactError;
use crate::fill::Palette;
use crate::geometry::{Geometry, Photometric};

fn number(header: &InMemDicomObject, tag: Tag) -> Option<i64> {
    let element = header.get(tag)?;
    element.to_int::<i64>().ok().or_else(|| {
        element
            .to_str()
            .ok()?
            .trim_matches(|c: char| c == '\0' || c == ' ')
            .parse()
            .ok()
    })
}

impl Geometry {
    /// The layout the header's image pixel module describes.
    pub fn from_header(header: &InMemDicomObject) -> Result<Geometry, RedactError> {
        let need = |tag: Tag, name: &str| {
            number(header, tag).ok_or_else(|| RedactError::Layout(format!("no usable {name}")))
        };
        let in_range = |v: i64, name: &str, max: i64| {
            if (0..=max).contains(&v) {
                Ok(v)
            } else {
                Err(RedactError::Layout(format!("{name} {v} is out of range")))
            }
        };
        let rows = in_range(
            need(Tag(0x0028, 0x0010), "Rows (0028,0010)")?,
            "Rows",
            65535,
        )?;
        let columns = in_range(
            need(Tag(0x0028, 0x0011), "Columns (0028,0011)")?,
            "Columns",
            65535,
        )?;
        let bits_allocated = in_range(
            need(Tag(0x0028, 0x0100), "Bits Allocated (0028,0100)")?,
            "Bits Allocated",
            64,
        )?;
        let photometric = header
            .get(Tag(0x0028, 0x0004))
            .and_then(|e| e.to_str().ok())
            .map(|s| Photometric::parse(&s))
            .ok_or_else(|| {
                RedactError::Layout("no Photometric Interpretation (0028,0004)".into())
            })?;
        let samples = number(header, Tag(0x0028, 0x0002)).unwrap_or(1);
        Ok(Geometry {
            rows: rows as u32,
            columns: columns as u32,
            frames: in_range(
                number(header, Tag(0x0028, 0x0008)).unwrap_or(1).max(1),
                "Number of Frames",
                u32::MAX as i64,
            )? as u32,
            samples_per_pixel: in_range(samples, "Samples per Pixel", 4)? as u16,
            bits_allocated: bits_allocated as u16,
            bits_stored: in_range(
                number(header, Tag(0x0028, 0x0101)).unwrap_or(bits_allocated),
                "Bits Stored",
                64,
            )? as u16,
            signed: number(header, Tag(0x0028, 0x0103)) == Some(1),
            planar: samples > 1 && number(header, Tag(0x0028, 0x0006)) == Some(1),
            photometric,
        })
    }
}

impl Palette {
    /// The palette of a PALETTE COLOR header; `None` when it has no plain lookup table
    /// data (a segmented palette, or none at all).
    pub fn from_header(header: &InMemDicomObject) -> Option<Palette> {
        let descriptor = header
            .get(Tag(0x0028, 0x1101))?
            .to_multi_int::<i64>()
            .ok()?;
        let (entries, first, bits) = match descriptor.as_slice() {
            [e, f, b] => (if *e == 0 { 65536 } else { *e as usize }, *f, *b),
            _ => return None,
        };
        let table = |tag: Tag| -> Option<Vec<u16>> {
            let bytes = header.get(tag)?.to_bytes().ok()?;
            if bits == 8 && bytes.len() == entries {
                // Some writers pack 8-bit entries one per byte.
                return Some(bytes.iter().map(|b| *b as u16).collect());
            }
            let words: Vec<u16> = bytes
                .chunks_exact(2)
                .map(|c| u16::from_le_bytes([c[0], c[1]]))
                .collect();
            (words.len() >= entries).then(|| words[..entries].to_vec())
        };
        Some(Palette {
            first_mapped: first,
            red: table(Tag(0x0028, 0x1201))?,
            green: table(Tag(0x0028, 0x1202))?,
            blue: table(Tag(0x0028, 0x1203))?,
        })
    }
}
