//! What a pixel buffer holds: the image pixel module attributes that say how its bytes
//! are laid out, and zones on it.

use serde::{Deserialize, Serialize};

use crate::RedactError;

/// Photometric Interpretation (0028,0004): how sample values become colours.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Photometric {
    /// Grey, minimum is white.
    Monochrome1,
    /// Grey, minimum is black.
    Monochrome2,
    /// Red, green, blue.
    Rgb,
    /// Luminance and two chrominance samples, full resolution.
    YbrFull,
    /// YBR_FULL with chrominance halved horizontally: `Y Y Cb Cr` for each pixel pair.
    YbrFull422,
    /// One sample indexing the palette colour lookup tables.
    PaletteColor,
    /// Anything else, as written (`YBR_ICT`, `YBR_PARTIAL_420`, ...): these exist only in
    /// compressed form, so a decoded buffer is never in them.
    Other(String),
}

impl Photometric {
    /// Parses the attribute's value (trailing padding ignored).
    pub fn parse(value: &str) -> Photometric {
        match value.trim_matches(|c: char| c == '\0' || c == ' ') {
            "MONOCHROME1" => Photometric::Monochrome1,
            "MONOCHROME2" => Photometric::Monochrome2,
            "RGB" => Photometric::Rgb,
            "YBR_FULL" => Photometric::YbrFull,
            "YBR_FULL_422" => Photometric::YbrFull422,
            "PALETTE COLOR" => Photometric::PaletteColor,
            other => Photometric::Other(other.to_string()),
        }
    }

    /// The attribute's value.
    pub fn as_str(&self) -> &str {
        match self {
            Photometric::Monochrome1 => "MONOCHROME1",
            Photometric::Monochrome2 => "MONOCHROME2",
            Photometric::Rgb => "RGB",
            Photometric::YbrFull => "YBR_FULL",
            Photometric::YbrFull422 => "YBR_FULL_422",
            Photometric::PaletteColor => "PALETTE COLOR",
            Photometric::Other(s) => s,
        }
    }
}

/// The layout of native pixel data: everything needed to find a pixel's bytes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Geometry {
    /// Rows (0028,0010).
    pub rows: u32,
    /// Columns (0028,0011).
    pub columns: u32,
    /// Number of Frames (0028,0008); 1 when absent.
    pub frames: u32,
    /// Samples per Pixel (0028,0002): 1 or 3.
    pub samples_per_pixel: u16,
    /// Bits Allocated (0028,0100): 1, 8, 16 or 32.
    pub bits_allocated: u16,
    /// Bits Stored (0028,0101).
    pub bits_stored: u16,
    /// Pixel Representation (0028,0103): true for two's complement samples.
    pub signed: bool,
    /// Planar Configuration (0028,0006): true for colour-by-plane (`RRR..GGG..BBB..`).
    pub planar: bool,
    /// Photometric Interpretation (0028,0004).
    pub photometric: Photometric,
}

impl Geometry {
    /// One frame of 8-bit MONOCHROME2 samples, `rows` × `columns`: the plainest layout.
    pub fn grey8(rows: u32, columns: u32) -> Geometry {
        Geometry {
            rows,
            columns,
            frames: 1,
            samples_per_pixel: 1,
            bits_allocated: 8,
            bits_stored: 8,
            signed: false,
            planar: false,
            photometric: Photometric::Monochrome2,
        }
    }

    /// Checks that the attributes describe a layout this crate can blank.
    pub fn validate(&self) -> Result<(), RedactError> {
        let bad = |detail: String| Err(RedactError::Layout(detail));
        if self.rows == 0 || self.columns == 0 || self.frames == 0 {
            return bad(format!(
                "{} rows × {} columns × {} frames is empty",
                self.rows, self.columns, self.frames
            ));
        }
        if !matches!(self.bits_allocated, 1 | 8 | 16 | 32) {
            return bad(format!(
                "Bits Allocated {} is not 1, 8, 16 or 32",
                self.bits_allocated
            ));
        }
        if self.bits_stored == 0 || self.bits_stored > self.bits_allocated {
            return bad(format!(
                "Bits Stored {} does not fit Bits Allocated {}",
                self.bits_stored, self.bits_allocated
            ));
        }
        match (self.samples_per_pixel, &self.photometric) {
            (
                1,
                Photometric::Monochrome1 | Photometric::Monochrome2 | Photometric::PaletteColor,
            ) => {}
            (3, Photometric::Rgb | Photometric::YbrFull | Photometric::YbrFull422) => {}
            (n, p) => {
                return bad(format!(
                    "{n} samples per pixel in {} cannot be blanked in native form",
                    p.as_str()
                ));
            }
        }
        if self.bits_allocated == 1 && self.samples_per_pixel != 1 {
            return bad("1-bit pixels with more than one sample".into());
        }
        if self.photometric == Photometric::YbrFull422 {
            if self.bits_allocated != 8 {
                return bad("YBR_FULL_422 with more than 8 bits".into());
            }
            if self.planar {
                return bad(
                    "YBR_FULL_422 is always colour-by-pixel (planar configuration 0)".into(),
                );
            }
            if !self.columns.is_multiple_of(2) {
                return bad("YBR_FULL_422 with an odd number of columns".into());
            }
        }
        Ok(())
    }

    /// Bytes in one frame (for 1-bit data, rounded up to whole bytes).
    pub fn frame_len(&self) -> usize {
        if self.photometric == Photometric::YbrFull422 {
            // Two bytes per pixel: Y for each, Cb and Cr shared by a pair.
            return self.rows as usize * self.columns as usize * 2;
        }
        let bits = self.rows as usize
            * self.columns as usize
            * self.samples_per_pixel as usize
            * self.bits_allocated as usize;
        bits.div_ceil(8)
    }

    /// Bytes in all frames: 1-bit frames are packed back to back without padding.
    pub fn data_len(&self) -> usize {
        if self.bits_allocated == 1 {
            let bits = self.rows as usize * self.columns as usize * self.frames as usize;
            return bits.div_ceil(8);
        }
        self.frame_len() * self.frames as usize
    }

    /// Bytes per sample (0 for 1-bit data).
    pub fn sample_bytes(&self) -> usize {
        self.bits_allocated as usize / 8
    }
}

/// A rectangle of pixels: rows `[row_start, row_end)`, columns `[col_start, col_end)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Rect {
    /// First row.
    pub row_start: u32,
    /// One past the last row.
    pub row_end: u32,
    /// First column.
    pub col_start: u32,
    /// One past the last column.
    pub col_end: u32,
}

impl Rect {
    /// The part of this rectangle inside a `rows × columns` image; `None` when nothing
    /// of it is, or when it is empty or inverted.
    pub fn clip(&self, rows: u32, columns: u32) -> Option<Rect> {
        let clipped = Rect {
            row_start: self.row_start.min(rows),
            row_end: self.row_end.min(rows),
            col_start: self.col_start.min(columns),
            col_end: self.col_end.min(columns),
        };
        (clipped.row_start < clipped.row_end && clipped.col_start < clipped.col_end)
            .then_some(clipped)
    }

    /// Widened to even column boundaries, for layouts where pixel pairs share samples
    /// (`columns` is even there).
    pub fn to_pairs(&self, columns: u32) -> Rect {
        Rect {
            col_start: self.col_start & !1,
            col_end: (self.col_end + (self.col_end & 1)).min(columns),
            ..*self
        }
    }

    /// Whether the pixel at (`row`, `col`) lies inside.
    pub fn contains(&self, row: u32, col: u32) -> bool {
        (self.row_start..self.row_end).contains(&row)
            && (self.col_start..self.col_end).contains(&col)
    }

    /// Rows covered (0 when inverted).
    pub fn rows(&self) -> u32 {
        self.row_end.saturating_sub(self.row_start)
    }

    /// Columns covered (0 when inverted).
    pub fn columns(&self) -> u32 {
        self.col_end.saturating_sub(self.col_start)
    }

    /// Pixels this rectangle shares with `other`.
    pub fn overlap(&self, other: &Rect) -> u64 {
        let rows = self
            .row_end
            .min(other.row_end)
            .saturating_sub(self.row_start.max(other.row_start));
        let cols = self
            .col_end
            .min(other.col_end)
            .saturating_sub(self.col_start.max(other.col_start));
        rows as u64 * cols as u64
    }

    /// Pixels covered.
    pub fn area(&self) -> u64 {
        (self.row_end - self.row_start) as u64 * (self.col_end - self.col_start) as u64
    }
}

impl std::fmt::Display for Rect {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "[{}, {}, {}, {}]",
            self.row_start, self.row_end, self.col_start, self.col_end
        )
    }
}
