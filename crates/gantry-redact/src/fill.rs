//! The value a blanked pixel gets: the one that displays as black in its colour space.

use serde::{Deserialize, Serialize};

use crate::RedactError;
use crate::geometry::{Geometry, Photometric};

/// The sample values written into a zone, as bit patterns of Bits Allocated width
/// (signed values in two's complement, sign-extended).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Fill {
    /// One value per sample (only the first is used for one-sample images).
    pub samples: [u32; 3],
}

/// A palette: the lookup tables of PALETTE COLOR images (PS3.3 C.7.6.3.1.5).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Palette {
    /// The pixel value mapped to the first entry (the descriptor's second value).
    pub first_mapped: i64,
    /// Red entries.
    pub red: Vec<u16>,
    /// Green entries.
    pub green: Vec<u16>,
    /// Blue entries.
    pub blue: Vec<u16>,
}

impl Fill {
    /// Black for the layout: the minimum of MONOCHROME2, the maximum of MONOCHROME1,
    /// zero RGB, zero luminance with neutral chrominance for YBR, the darkest palette entry
    /// for PALETTE COLOR (which needs the palette).
    pub fn black(geometry: &Geometry, palette: Option<&Palette>) -> Result<Fill, RedactError> {
        let bits = geometry.bits_stored.clamp(1, 32) as u32;
        let width = geometry.bits_allocated.clamp(1, 32) as u32;
        let pattern = |v: i64| -> u32 {
            let mask = if width == 32 {
                u32::MAX
            } else {
                (1u32 << width) - 1
            };
            (v as u32) & mask
        };
        let (min, max): (i64, i64) = if geometry.signed {
            (-(1i64 << (bits - 1)), (1i64 << (bits - 1)) - 1)
        } else {
            (0, (1i64 << bits) - 1)
        };
        let one = |v: i64| Fill {
            samples: [pattern(v), 0, 0],
        };
        match &geometry.photometric {
            Photometric::Monochrome2 => Ok(one(min)),
            Photometric::Monochrome1 => Ok(one(max)),
            Photometric::Rgb => Ok(Fill { samples: [0; 3] }),
            Photometric::YbrFull | Photometric::YbrFull422 => {
                let neutral = pattern(1i64 << (bits - 1));
                Ok(Fill {
                    samples: [0, neutral, neutral],
                })
            }
            Photometric::PaletteColor => {
                let palette = palette.ok_or_else(|| {
                    RedactError::Layout(
                        "PALETTE COLOR without usable palette lookup tables: black is unknown"
                            .into(),
                    )
                })?;
                let darkest = (0..palette
                    .red
                    .len()
                    .min(palette.green.len())
                    .min(palette.blue.len()))
                    .min_by_key(|&i| {
                        // Rec. 601 luma, in integers.
                        299 * palette.red[i] as u64
                            + 587 * palette.green[i] as u64
                            + 114 * palette.blue[i] as u64
                    })
                    .ok_or_else(|| RedactError::Layout("an empty palette".into()))?;
                Ok(one(palette.first_mapped + darkest as i64))
            }
            Photometric::Other(name) => Err(RedactError::Layout(format!(
                "no black is defined for {name} in native form"
            ))),
        }
    }

    /// The bytes of one pixel (or, for YBR_FULL_422, of one pair), little endian, in the
    /// order they sit in colour-by-pixel data.
    pub(crate) fn pixel_bytes(&self, geometry: &Geometry) -> Pattern {
        let mut out = Pattern::default();
        match geometry.photometric {
            Photometric::YbrFull422 => {
                let (y, cb, cr) = (
                    self.samples[0] as u8,
                    self.samples[1] as u8,
                    self.samples[2] as u8,
                );
                out.extend(&[y, y, cb, cr]);
            }
            _ => {
                let n = geometry.sample_bytes();
                for s in 0..(geometry.samples_per_pixel as usize).min(3) {
                    out.extend(&self.samples[s].to_le_bytes()[..n]);
                }
            }
        }
        out
    }

    /// The bytes of one sample of plane `plane`.
    pub(crate) fn sample_bytes(&self, geometry: &Geometry, plane: usize) -> Pattern {
        let mut out = Pattern::default();
        out.extend(&self.samples[plane.min(2)].to_le_bytes()[..geometry.sample_bytes()]);
        out
    }
}

/// The bytes of one pixel or sample: at most three samples of four bytes, kept on the
/// stack (blanking a small image must not pay for allocations).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Pattern {
    bytes: [u8; 12],
    len: usize,
}

impl Pattern {
    fn extend(&mut self, more: &[u8]) {
        self.bytes[self.len..self.len + more.len()].copy_from_slice(more);
        self.len += more.len();
    }

    /// The bytes.
    pub(crate) fn as_slice(&self) -> &[u8] {
        &self.bytes[..self.len]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn geometry(photometric: Photometric, bits: u16, stored: u16, signed: bool) -> Geometry {
        Geometry {
            rows: 4,
            columns: 4,
            frames: 1,
            samples_per_pixel: if matches!(
                photometric,
                Photometric::Rgb | Photometric::YbrFull | Photometric::YbrFull422
            ) {
                3
            } else {
                1
            },
            bits_allocated: bits,
            bits_stored: stored,
            signed,
            planar: false,
            photometric,
        }
    }

    #[test]
    fn black_in_every_colour_space() {
        let cases = [
            (geometry(Photometric::Monochrome2, 16, 12, false), [0, 0, 0]),
            (
                geometry(Photometric::Monochrome2, 16, 12, true),
                [0xF800, 0, 0],
            ),
            (
                geometry(Photometric::Monochrome2, 16, 16, true),
                [0x8000, 0, 0],
            ),
            (
                geometry(Photometric::Monochrome1, 16, 12, false),
                [0x0FFF, 0, 0],
            ),
            (geometry(Photometric::Monochrome1, 8, 8, true), [0x7F, 0, 0]),
            (geometry(Photometric::Monochrome1, 1, 1, false), [1, 0, 0]),
            (
                geometry(Photometric::Monochrome2, 32, 32, true),
                [0x8000_0000, 0, 0],
            ),
            (geometry(Photometric::Rgb, 8, 8, false), [0, 0, 0]),
            (geometry(Photometric::YbrFull, 8, 8, false), [0, 128, 128]),
            (
                geometry(Photometric::YbrFull422, 8, 8, false),
                [0, 128, 128],
            ),
        ];
        for (g, want) in cases {
            assert_eq!(Fill::black(&g, None).unwrap().samples, want, "{g:?}");
        }
    }

    #[test]
    fn palette_black_is_its_darkest_entry() {
        let g = geometry(Photometric::PaletteColor, 8, 8, false);
        assert!(Fill::black(&g, None).is_err(), "no palette, no guess");
        let palette = Palette {
            first_mapped: 10,
            red: vec![65535, 200, 0, 9000],
            green: vec![65535, 100, 30, 9000],
            blue: vec![65535, 0, 40, 9000],
        };
        assert_eq!(Fill::black(&g, Some(&palette)).unwrap().samples[0], 12);
    }
}
