//! Finding burned-in text in pixels, from what the pixels contain rather than what the
//! header says.
//!
//! A cascade, per frame and per sample plane:
//!
//! 1. **Cheap pass** over every pixel: 8×8 cells counting strong horizontal and vertical
//!    transitions (a step of at least 3 % of the frame's robust value range). Text has
//!    several strokes per row in a few pixels; smooth anatomy has none, a single edge one
//!    per row. Cells with many transitions in both directions, grown by one cell, join into
//!    candidate boxes. Integer compares over rows, which the compiler vectorises.
//! 2. **Confirmation** of each candidate box: the box is cut at several grey levels from
//!    each end of its range (bright text on dark and dark on bright, anti-aliased or not);
//!    connected components that are shaped like glyphs (height 5–48 px, stroke width small
//!    against height, not a compact blob) are chained into lines (similar heights, vertical
//!    overlap, gaps under one and a half glyph heights: a word space, or a colon and a space
//!    whose dots are too small to be glyphs), and a line of at least three glyphs whose bottoms
//!    or tops align is text. Speckle, noise and anatomy make blobs and networks that neither
//!    look like strokes nor line up along a baseline.
//!
//! Runs of a cut longer than twice the tallest glyph are cleared before its components are
//! labelled: bands and ruled lines narrower than the top-hat window would otherwise join
//! the glyphs that touch them into shapes that are no glyphs.
//!
//! A box that holds a long straight horizontal step (the edge of a band, a panel, a
//! stripe) is cut a third way: by each value's distance from its window's median. Text
//! across such an edge is brighter than the one side and darker than the other, so each
//! top-hat holds only part of each glyph, and stripes narrower than the window stand out of
//! the top-hats as strokes; the median keeps straight steps and stripes and drops strokes,
//! so the glyphs stand out whole. It sees texture as well, so its lines count only where
//! they straddle such a step and align well. Measured on the labelled set against the two
//! top-hats alone, in the same run: image recall 0.942 -> 0.962, region recall 0.779 ->
//! 0.792, text-free images flagged 9 of 350 either way, 3.4 -> 5.2 ms a frame.
//!
//! A confirmed line then reaches over the rest of its text: glyphs over a changing
//! background do not all come out glyph-shaped at one cut, so a line's box may stop a few
//! glyphs short of its end or above the feet of glyphs that cross an edge. It grows along
//! its rows while strokes as strong as its own continue (and are rarer in the rows above
//! and below), and up or down while rows of such strokes do. Measured on the labelled set
//! against the line boxes alone, in the same run: region recall 0.840 -> 0.920, the
//! detections' area 1.78 -> 1.81 times the text's ink box (median).
//!
//! Each plane is searched at its own scale and, when it is at least 96 pixels each way, at
//! half scale (2×2 means), where text too tall for the cells, the top-hat window and the
//! glyph limits (large text in a small image) has a usual height; and at each further half
//! scale that keeps 192 pixels each way, for labels 100 px tall and more on large
//! radiographs. (A quarter of a 512-pixel CT has anatomy the size of glyphs; on the
//! labelled set's images enlarged 3×, with text 28 to 112 px tall, the deeper scales found
//! 29 of 30 text images against 27 and flagged no more controls.)
//!
//! Under the cargo feature `learned`, a network (PP-OCRv3's text detector, see the
//! `learned` module) reads small frames whole, adding the lines it reads (on the labelled
//! set: text images found 333 -> 340 of 342, text-free images flagged 21 -> 22 of 380, same
//! run; reading them also where the classical stages found text: of the texts of the set's
//! 402 small images, 169 of 182 held whole by a region against 165, same binary), and
//! gives each confirmed line its reading, advisory.
//!
//! Colour images are searched in each sample plane (red text on grey differs from its
//! background in one channel only); palette images through their palette. Bitmaps (overlay
//! planes, bits above High Bit) go through the same confirmation.

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::RedactError;
use crate::fill::Palette;
use crate::geometry::{Geometry, Photometric, Rect};

/// A region of one frame that looks like text.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct TextRegion {
    /// The frame (0-based).
    pub frame: u32,
    /// The region, with a margin of two pixels, clipped to the image.
    pub rect: Rect,
    /// Glyphs found in the line.
    pub glyphs: u32,
    /// How sure the detector is, 0 to 1 (more glyphs, tighter alignment: higher).
    pub score: f32,
    /// Whether the learned stage (feature `learned`) reads the region as text: `None` when
    /// it did not run (a build without it, or a network that could not run). Advisory: a
    /// region the network does not read as text still counts as text (the `learned`
    /// module says why), and a reviewer may start with those.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub learned: Option<bool>,
}

/// What the detector saw in one image.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Detection {
    /// Text-like regions, by frame.
    pub regions: Vec<TextRegion>,
    /// Frames searched.
    pub frames: u32,
    /// Candidate boxes the cheap pass handed to the confirmation stage.
    pub candidates: u32,
    /// Pixels searched (per plane).
    pub pixels: u64,
    /// Of those, pixels inside candidate boxes (what the confirmation stage looked at).
    pub boxed: u64,
    /// Lines the learned stage ran its network over (feature `learned`; a line found
    /// again at another cut level, or inside a line read as text, takes that reading).
    #[serde(default)]
    pub judged: u32,
    /// Lines the learned stage read whole and does not read as text (they stay regions).
    #[serde(default)]
    pub not_text: u32,
}

impl Detection {
    /// Whether any text was found.
    pub fn has_text(&self) -> bool {
        !self.regions.is_empty()
    }

    /// Regions not wholly inside one of `zones` (text a zone does not cover).
    pub fn outside<'a>(&'a self, zones: &'a [Rect]) -> impl Iterator<Item = &'a TextRegion> + 'a {
        self.regions
            .iter()
            .filter(move |r| !covered(&r.rect, zones))
    }

    fn merge(&mut self, other: Detection) {
        self.regions.extend(other.regions);
        self.candidates += other.candidates;
        self.pixels += other.pixels;
        self.boxed += other.boxed;
        self.judged += other.judged;
        self.not_text += other.not_text;
    }
}

/// Names the detector's behaviour: a redaction computed from what it found, or a verdict
/// that it found nothing, is stale once this changes (change it with the detector: the
/// learned stage is at 2 since it reads every small frame whole and grows its boxes as DB
/// does).
pub const DETECTOR: &str = if cfg!(feature = "learned") {
    "gantry-cascade-13+ppocrv3-det-en-2"
} else {
    "gantry-cascade-13"
};

/// Zones that blank detected text with room to spare: each region grown by half its
/// height (and two pixels) above and below, for accents and descenders a cut level missed,
/// and by three times its height (and two pixels) at each end of the line, where a short
/// word the line missed would sit; clipped to `rows` × `columns`. Measured on the labelled
/// set (`cargo bench --bench detect`): growing by a quarter and one height blanks 79 % of
/// the text regions whole, by a half and three heights 90 % (98 % of those detected).
pub fn zones_around(regions: &[TextRegion], rows: u32, columns: u32) -> Vec<Rect> {
    regions
        .iter()
        .map(|r| {
            let h = r.rect.row_end.saturating_sub(r.rect.row_start);
            let (v, side) = (h / 2 + 2, 3 * h + 2);
            Rect {
                row_start: r.rect.row_start.saturating_sub(v),
                row_end: r.rect.row_end.saturating_add(v).min(rows),
                col_start: r.rect.col_start.saturating_sub(side),
                col_end: r.rect.col_end.saturating_add(side).min(columns),
            }
        })
        .collect()
}

/// Whether `rect`, less its two-pixel margin, lies inside the union of `zones` (checked
/// row band by row band, so a region spanning two adjacent zones counts as covered).
pub fn covered(rect: &Rect, zones: &[Rect]) -> bool {
    let core = Rect {
        row_start: (rect.row_start + MARGIN).min(rect.row_end.saturating_sub(1)),
        row_end: rect.row_end.saturating_sub(MARGIN).max(rect.row_start + 1),
        col_start: (rect.col_start + MARGIN).min(rect.col_end.saturating_sub(1)),
        col_end: rect.col_end.saturating_sub(MARGIN).max(rect.col_start + 1),
    };
    (core.row_start..core.row_end).all(|row| {
        // Columns of this row covered by some zone must span the core's columns.
        let mut spans: Vec<(u32, u32)> = zones
            .iter()
            .filter(|z| z.row_start <= row && row < z.row_end)
            .map(|z| (z.col_start, z.col_end))
            .collect();
        spans.sort_unstable();
        let mut reach = core.col_start;
        for (start, end) in spans {
            if start > reach {
                break;
            }
            reach = reach.max(end);
        }
        reach >= core.col_end
    })
}

const CELL: usize = 8;
const MARGIN: u32 = 2;
const MIN_GLYPH: usize = 5;
const MAX_GLYPH: usize = 48;

/// One sample plane of a frame, as unsigned values in sample order.
pub(crate) struct Plane {
    pub(crate) width: usize,
    pub(crate) height: usize,
    pub(crate) values: Vec<u16>,
}

/// Searches every frame of native pixel data for text.
///
/// `data` holds little-endian samples laid out as `geometry` says; `palette` is needed for
/// PALETTE COLOR images (without it the indices are searched as grey values).
pub fn find_text(
    data: &[u8],
    geometry: &Geometry,
    palette: Option<&Palette>,
) -> Result<Detection, RedactError> {
    find_text_beside(data, geometry, palette, &[])
}

/// Like [`find_text`], in an image whose `blanked` zones were blanked already: their flat
/// fill (the darkest value the layout holds, often far below the image's own values) does
/// not count when the detector measures what a strong step is in the frame, so it does
/// not hide text elsewhere.
pub fn find_text_beside(
    data: &[u8],
    geometry: &Geometry,
    palette: Option<&Palette>,
    blanked: &[Rect],
) -> Result<Detection, RedactError> {
    search(data, geometry, palette, blanked, WHOLE)
}

/// [`find_text`] without the learned stage: what a build without the `learned` feature
/// finds, and the baseline the `detect` bench measures the learned stage against.
pub fn find_text_classical(
    data: &[u8],
    geometry: &Geometry,
    palette: Option<&Palette>,
) -> Result<Detection, RedactError> {
    search(data, geometry, palette, &[], Stage::Confirm)
}

fn search(
    data: &[u8],
    geometry: &Geometry,
    palette: Option<&Palette>,
    blanked: &[Rect],
    stage: Stage,
) -> Result<Detection, RedactError> {
    let (frame_len, frames) = searchable(data, geometry, palette)?;
    let per_frame: Vec<Detection> = (0..frames)
        .into_par_iter()
        .map(|f| {
            let frame = &data[f * frame_len..(f + 1) * frame_len];
            search_frame(frame, geometry, palette, blanked, f as u32, stage)
        })
        .collect::<Result<_, _>>()?;
    let mut out = Detection {
        frames: frames as u32,
        ..Detection::default()
    };
    for d in per_frame {
        out.merge(d);
    }
    out.regions = merge_regions(out.regions);
    Ok(out)
}

/// The frame length and frame count of pixel data the detector can search as laid out:
/// a layout it cannot read, data shorter than its frames, or a palette with an empty table
/// (every value would read as one colour, and nothing would be found) is an error, so that
/// the image counts as unexamined, never as clean.
fn searchable(
    data: &[u8],
    geometry: &Geometry,
    palette: Option<&Palette>,
) -> Result<(usize, usize), RedactError> {
    geometry.validate()?;
    let frame_len = geometry.frame_len();
    let frames = geometry.frames as usize;
    if data.len() < frame_len * frames {
        return Err(RedactError::Layout(format!(
            "pixel data of {} bytes is shorter than {frames} frame(s) of {frame_len}",
            data.len()
        )));
    }
    if geometry.photometric == Photometric::PaletteColor
        && palette.is_some_and(|p| p.red.is_empty() || p.green.is_empty() || p.blue.is_empty())
    {
        return Err(RedactError::Layout(
            "a palette lookup table has no entries".into(),
        ));
    }
    Ok((frame_len, frames))
}

/// The cheap pass of [`find_text`] alone, on one thread: the candidate boxes it would hand
/// to confirmation, as `(frame, box)`, at every scale and in every plane. Confirmation may
/// reach a little past a box (a line found in its context), and most boxes hold no text:
/// this is where the detector looks hard, not what it finds.
pub fn text_candidates(
    data: &[u8],
    geometry: &Geometry,
    palette: Option<&Palette>,
) -> Result<Vec<(u32, Rect)>, RedactError> {
    let (frame_len, frames) = searchable(data, geometry, palette)?;
    let mut out = Vec::new();
    for f in 0..frames {
        let frame = &data[f * frame_len..(f + 1) * frame_len];
        let found = search_frame(frame, geometry, palette, &[], f as u32, Stage::Candidates)?;
        out.extend(found.regions.into_iter().map(|r| (r.frame, r.rect)));
    }
    Ok(out)
}

/// How far [`search_frame`] goes.
#[derive(Clone, Copy, PartialEq)]
enum Stage {
    /// The cheap pass only: its boxes come back as regions of no glyphs and score 0.
    Candidates,
    /// The cheap pass and the classical confirmation.
    Confirm,
    /// The whole cascade: the lines confirmed are judged by the learned stage.
    Learned,
}

/// The stage a whole search goes to: the learned one when the build has it.
const WHOLE: Stage = if cfg!(feature = "learned") {
    Stage::Learned
} else {
    Stage::Confirm
};

/// One frame's sample planes and high-bit bitmaps, searched. An error is a small frame the
/// learned stage could not read: the build's detector names the network, so a frame it
/// did not read is unexamined, never clean.
fn search_frame(
    frame: &[u8],
    geometry: &Geometry,
    palette: Option<&Palette>,
    blanked: &[Rect],
    f: u32,
    stage: Stage,
) -> Result<Detection, RedactError> {
    let mut found = Detection::default();
    let planes = planes(frame, geometry, palette);
    for plane in &planes {
        found.merge(search_scales(plane, f, blanked, stage));
    }
    if stage == Stage::Learned {
        read_small_frame(&planes, f, &mut found)?;
    }
    for bits in high_bit_planes(frame, geometry) {
        let plane = Plane {
            width: geometry.columns as usize,
            height: geometry.rows as usize,
            values: bits,
        };
        found.merge(search_scales(&plane, f, blanked, stage));
    }
    Ok(found)
}

/// Searches a bitmap (one byte per pixel, non-zero set), such as an overlay plane or the
/// bits above High Bit, for text.
pub fn find_text_in_bitmap(bits: &[u8], rows: usize, columns: usize, frame: u32) -> Detection {
    if rows == 0 || columns == 0 || bits.len() < rows * columns {
        return Detection::default();
    }
    let plane = Plane {
        width: columns,
        height: rows,
        values: bits[..rows * columns]
            .iter()
            .map(|&b| if b != 0 { 255 } else { 0 })
            .collect(),
    };
    let mut found = search_scales(&plane, frame, &[], WHOLE);
    found.frames = 1;
    found.regions = merge_regions(found.regions);
    found
}

/// Bitmaps (0 or 255 per pixel), one per sample plane and bit above High Bit that carries
/// more than the value implies (zero, or the sign extension of signed data) somewhere in
/// the frame: an overlay hidden in the unused bits of 8-, 16- or 32-bit data.
fn high_bit_planes(frame: &[u8], g: &Geometry) -> Vec<Vec<u16>> {
    let high = high_mask(g);
    if high == 0 {
        return Vec::new();
    }
    let n = g.rows as usize * g.columns as usize;
    let spp = g.samples_per_pixel as usize;
    let width = g.bits_allocated as usize / 8;
    let extra = |p: usize, s: usize| -> u32 {
        let i = if g.planar { s * n + p } else { p * spp + s };
        let v = frame.get(width * i..width * (i + 1)).map(word).unwrap_or(0);
        (v & high) ^ canonical_high(v, g, high)
    };
    let mut out = Vec::new();
    for s in 0..spp {
        let mut any = 0u32;
        for p in 0..n {
            any |= extra(p, s);
        }
        for b in (0..32).filter(|b| any & (1 << b) != 0) {
            out.push(
                (0..n)
                    .map(|p| if extra(p, s) & (1 << b) != 0 { 255 } else { 0 })
                    .collect(),
            );
        }
    }
    out
}

/// A little-endian sample of one, two or four bytes.
fn word(bytes: &[u8]) -> u32 {
    bytes
        .iter()
        .rev()
        .fold(0u32, |acc, &b| (acc << 8) | b as u32)
}

/// The bits above High Bit of an 8-, 16- or 32-bit sample, as a mask (0 when there are
/// none).
fn high_mask(g: &Geometry) -> u32 {
    match g.bits_allocated {
        8 | 16 | 32 if g.bits_stored < g.bits_allocated => {
            let all = if g.bits_allocated == 32 {
                u32::MAX
            } else {
                (1u32 << g.bits_allocated) - 1
            };
            all & !((1u32 << g.bits_stored) - 1)
        }
        _ => 0,
    }
}

/// The bits above High Bit a sample should have: none for unsigned data, copies of the
/// sign bit for signed data (two's complement sign extension, which naive readers need).
fn canonical_high(v: u32, g: &Geometry, high: u32) -> u32 {
    if g.signed && g.bits_stored > 0 && v & (1 << (g.bits_stored - 1)) != 0 {
        high
    } else {
        0
    }
}

/// Rewrites the bits above High Bit of every sample of native pixel data as nothing but
/// the value implies (zero, or the sign extension of signed data): PS3.5 8.1.1 leaves them
/// unused, yet devices hide overlays there. Returns how many samples changed.
pub fn clear_high_bits(data: &mut [u8], g: &Geometry) -> u64 {
    // Every sample is one 8-, 16- or 32-bit word, whatever the layout.
    let high = high_mask(g);
    if high == 0 {
        return 0;
    }
    let clean = |v: u32| (v & !high) | canonical_high(v, g, high);
    let mut changed = 0u64;
    // One loop per word size, so each compiles to plain loads and stores.
    match g.bits_allocated {
        8 => {
            for b in data.iter_mut() {
                let c = clean(*b as u32) as u8;
                changed += (c != *b) as u64;
                *b = c;
            }
        }
        16 => {
            for pair in data.chunks_exact_mut(2) {
                let v = u16::from_le_bytes([pair[0], pair[1]]);
                let c = clean(v as u32) as u16;
                changed += (c != v) as u64;
                pair.copy_from_slice(&c.to_le_bytes());
            }
        }
        _ => {
            for quad in data.chunks_exact_mut(4) {
                let v = u32::from_le_bytes([quad[0], quad[1], quad[2], quad[3]]);
                let c = clean(v);
                changed += (c != v) as u64;
                quad.copy_from_slice(&c.to_le_bytes());
            }
        }
    }
    changed
}

/// The sample planes of one frame as unsigned 16-bit values (order kept: signed values are
/// offset, wider ones shifted down, values above High Bit ignored).
pub(crate) fn planes(frame: &[u8], g: &Geometry, palette: Option<&Palette>) -> Vec<Plane> {
    let (w, h) = (g.columns as usize, g.rows as usize);
    let n = w * h;
    let spp = g.samples_per_pixel as usize;
    let bits = g.bits_stored as u32;
    let value = |raw: u32| -> u16 {
        let masked = if bits >= 32 {
            raw
        } else {
            raw & ((1u32 << bits) - 1)
        };
        let unsigned = if g.signed && bits > 0 {
            // Flip the sign bit: two's complement order becomes unsigned order.
            masked ^ (1u32 << (bits - 1))
        } else {
            masked
        };
        if bits > 16 {
            (unsigned >> (bits - 16)) as u16
        } else {
            unsigned as u16
        }
    };
    let sample = |i: usize| -> u32 {
        match g.bits_allocated {
            1 => ((frame.get(i / 8).copied().unwrap_or(0) >> (i % 8)) & 1) as u32,
            8 => frame.get(i).copied().unwrap_or(0) as u32,
            16 => {
                let b = frame.get(2 * i..2 * i + 2).unwrap_or(&[0, 0]);
                u16::from_le_bytes([b[0], b[1]]) as u32
            }
            _ => {
                let b = frame.get(4 * i..4 * i + 4).unwrap_or(&[0, 0, 0, 0]);
                u32::from_le_bytes([b[0], b[1], b[2], b[3]])
            }
        }
    };
    if g.photometric == Photometric::YbrFull422 {
        // Y0 Y1 Cb Cr per pixel pair.
        let mut planes: Vec<Vec<u16>> = (0..3).map(|_| Vec::with_capacity(n)).collect();
        for p in 0..n {
            let pair = p / 2 * 4;
            planes[0].push(frame.get(pair + p % 2).copied().unwrap_or(0) as u16);
            planes[1].push(frame.get(pair + 2).copied().unwrap_or(0) as u16);
            planes[2].push(frame.get(pair + 3).copied().unwrap_or(0) as u16);
        }
        return planes
            .into_iter()
            .map(|values| Plane {
                width: w,
                height: h,
                values,
            })
            .collect();
    }
    if spp == 1 {
        let values: Vec<u16> = if g.bits_allocated == 8 && !g.signed && bits >= 8 {
            frame[..n].iter().map(|&b| b as u16).collect()
        } else if g.bits_allocated == 16 {
            frame[..2 * n]
                .chunks_exact(2)
                .map(|b| value(u16::from_le_bytes([b[0], b[1]]) as u32))
                .collect()
        } else {
            (0..n).map(|i| value(sample(i))).collect()
        };
        if g.photometric == Photometric::PaletteColor
            && let Some(palette) = palette
        {
            let lut = |table: &[u16]| -> Vec<u16> {
                values
                    .iter()
                    .map(|&v| {
                        // Values outside the table take its nearest end (an empty table
                        // is refused before any search: see `searchable`).
                        let last = (table.len() as i64 - 1).max(0);
                        let i = (v as i64 - palette.first_mapped).clamp(0, last);
                        table.get(i as usize).copied().unwrap_or(0)
                    })
                    .collect()
            };
            return [&palette.red, &palette.green, &palette.blue]
                .into_iter()
                .map(|t| Plane {
                    width: w,
                    height: h,
                    values: lut(t),
                })
                .collect();
        }
        return vec![Plane {
            width: w,
            height: h,
            values,
        }];
    }
    (0..spp)
        .map(|s| Plane {
            width: w,
            height: h,
            values: (0..n)
                .map(|p| {
                    let i = if g.planar { s * n + p } else { p * spp + s };
                    value(sample(i))
                })
                .collect(),
        })
        .collect()
}

/// The values at the 0.5th and 99.5th percentiles of the pixels outside `blanked`: a range
/// one hot pixel does not stretch, and that zones already blanked (to the darkest value a
/// layout holds, far below the image's own) do not stretch either.
fn robust_range(values: &[u16], width: usize, blanked: &[Rect]) -> (u16, u16) {
    let mut histogram = vec![0u32; 4096];
    let max = values.iter().copied().max().unwrap_or(0);
    let shift = (16 - max.leading_zeros()).saturating_sub(12);
    let mut counted = 0usize;
    let mut spans: Vec<(usize, usize)> = Vec::new();
    if blanked.is_empty() {
        for &v in values {
            histogram[(v >> shift) as usize] += 1;
        }
        counted = values.len();
    }
    for (y, row) in values
        .chunks(width.max(1))
        .enumerate()
        .filter(|_| !blanked.is_empty())
    {
        spans.clear();
        spans.extend(
            blanked
                .iter()
                .filter(|z| z.row_start as usize <= y && y < z.row_end as usize)
                .map(|z| (z.col_start as usize, (z.col_end as usize).min(row.len()))),
        );
        for (x, &v) in row.iter().enumerate() {
            if spans.iter().any(|&(a, b)| a <= x && x < b) {
                continue;
            }
            histogram[(v >> shift) as usize] += 1;
            counted += 1;
        }
    }
    let cut = counted / 200;
    let mut seen = 0usize;
    let mut lo = 0usize;
    for (i, &c) in histogram.iter().enumerate() {
        seen += c as usize;
        if seen > cut {
            lo = i;
            break;
        }
    }
    seen = 0;
    let mut hi = 0usize;
    for (i, &c) in histogram.iter().enumerate().rev() {
        seen += c as usize;
        if seen > cut {
            hi = i;
            break;
        }
    }
    (
        (lo << shift) as u16,
        (((hi + 1) << shift) - 1).min(u16::MAX as usize) as u16,
    )
}

/// The smallest plane searched at half scale as well (a smaller one holds too few glyph
/// heights for its own structure not to pass for a line).
const HALVED_FROM: usize = 96;

/// The smallest plane searched at a quarter scale and below.
const DEEPER_FROM: usize = 192;

/// A plane searched at its own scale, at half scale, and at each further half scale that
/// is at least [`DEEPER_FROM`] pixels each way: glyphs
/// taller than the detector's cells, top-hat window and glyph limits see (large text in a
/// small image, a label 150 px tall on a 3000-px radiograph) are of a usual height at one
/// of them. Each level holds a quarter of the pixels of the one above, so all of them
/// together cost a third of the first.
fn search_scales(plane: &Plane, frame: u32, blanked: &[Rect], stage: Stage) -> Detection {
    let mut found = search_plane(plane, frame, blanked, stage);
    let mut factor = 1u32;
    let mut small: Option<Plane> = None;
    loop {
        let above = small.as_ref().unwrap_or(plane);
        // Half scale from 96 pixels; below that, only planes that stay at least 192 pixels
        // each way (a 512-pixel CT at a quarter has anatomy the size of glyphs: every
        // layout of two of the labelled set's CTs was flagged).
        let floor = if factor == 1 {
            HALVED_FROM
        } else {
            2 * DEEPER_FROM
        };
        if above.width < floor || above.height < floor {
            break;
        }
        let next = halve(above);
        factor *= 2;
        let zones: Vec<Rect> = blanked
            .iter()
            .map(|z| Rect {
                row_start: z.row_start / factor,
                row_end: z.row_end.div_ceil(factor),
                col_start: z.col_start / factor,
                col_end: z.col_end.div_ceil(factor),
            })
            .collect();
        let mut scaled = search_plane(&next, frame, &zones, stage);
        // A "line" two thirds as tall as the plane is the plane's own structure at this
        // scale (its margins not counted).
        scaled.regions.retain(|r| {
            if stage == Stage::Candidates {
                return true;
            }
            let core = (r.rect.row_end - r.rect.row_start).saturating_sub(2 * MARGIN);
            core as usize * 3 <= next.height * 2
        });
        for r in &mut scaled.regions {
            r.rect = Rect {
                row_start: r.rect.row_start * factor,
                row_end: (r.rect.row_end * factor).min(plane.height as u32),
                col_start: r.rect.col_start * factor,
                col_end: (r.rect.col_end * factor).min(plane.width as u32),
            };
        }
        found.merge(scaled);
        small = Some(next);
    }
    found
}

/// The plane at half its width and height, each value the mean of a 2×2 block (a last
/// odd row or column dropped).
fn halve(plane: &Plane) -> Plane {
    let (w, h) = (plane.width / 2, plane.height / 2);
    let mut values = Vec::with_capacity(w * h);
    for y in 0..h {
        let top = &plane.values[2 * y * plane.width..][..2 * w];
        let bottom = &plane.values[(2 * y + 1) * plane.width..][..2 * w];
        values.extend(
            top.chunks_exact(2)
                .zip(bottom.chunks_exact(2))
                .map(|(a, b)| {
                    ((a[0] as u32 + a[1] as u32 + b[0] as u32 + b[1] as u32 + 2) / 4) as u16
                }),
        );
    }
    Plane {
        width: w,
        height: h,
        values,
    }
}

/// The cheap pass, then confirmation of each candidate box.
fn search_plane(plane: &Plane, frame: u32, blanked: &[Rect], stage: Stage) -> Detection {
    let (w, h) = (plane.width, plane.height);
    let mut found = Detection {
        pixels: (w * h) as u64,
        ..Detection::default()
    };
    if w < MIN_GLYPH || h < MIN_GLYPH {
        return found;
    }
    let (lo, hi) = robust_range(&plane.values, w, blanked);
    let step = ((hi.saturating_sub(lo)) as u32 * 3 / 100).max(1) as i32;
    let boxes = candidate_boxes(plane, step);
    found.candidates = boxes.len() as u32;
    found.boxed = boxes
        .iter()
        .map(|(x0, y0, x1, y1)| ((x1 - x0) * (y1 - y0)) as u64)
        .sum();
    let mut scratch = Scratch::default();
    for b in boxes {
        if stage == Stage::Candidates {
            let (x0, y0, x1, y1) = b;
            found.regions.push(TextRegion {
                frame,
                rect: Rect {
                    row_start: y0 as u32,
                    row_end: y1 as u32,
                    col_start: x0 as u32,
                    col_end: x1 as u32,
                },
                glyphs: 0,
                score: 0.0,
                learned: None,
            });
        } else {
            let lines = confirm(plane, b, step, frame, &mut scratch);
            // Text written top to bottom or bottom to top runs along a side of the image
            // (a plate's label, a scale): it is looked for in boxes within a side third.
            // Over the whole image, anatomy turned a quarter took the shape of lines in a
            // quarter of the labelled set's text-free images.
            let (x0, _, x1, _) = b;
            if lines.is_empty() && (x1 <= w / 3 || x0 >= w - w / 3) {
                found
                    .regions
                    .extend(confirm_turned(plane, b, step, frame, &mut scratch));
            }
            found.regions.extend(lines);
        }
    }
    if stage == Stage::Learned {
        judge_lines(plane, &mut found);
    }
    found
}

/// The learned stage over the lines confirmed in `plane`: each line gets the network's
/// reading. Lines are read strongest first; a line mostly inside one the network read as
/// text takes that reading, and one nearly the same as a line it did not read as text
/// takes that one (the same line found at another cut level or from another box). At most
/// [`LINES_READ`] lines are read in one plane at one scale; the rest have no reading.
#[cfg(feature = "learned")]
fn judge_lines(plane: &Plane, found: &mut Detection) {
    found
        .regions
        .sort_by(|a, b| b.score.total_cmp(&a.score).then(b.glyphs.cmp(&a.glyphs)));
    let mut text: Vec<Rect> = Vec::new();
    let mut not_text: Vec<Rect> = Vec::new();
    for line in &mut found.regions {
        let r = line.rect;
        let inside = |t: &Rect| t.overlap(&r) * 2 >= r.area();
        let same = |t: &Rect| t.overlap(&r) * 5 >= 4 * t.area().max(r.area());
        line.learned = if text.iter().any(inside) {
            Some(true)
        } else if not_text.iter().any(same) {
            Some(false)
        } else if found.judged >= LINES_READ {
            None
        } else {
            let reading = crate::learned::reading(plane, r, MARGIN);
            // Counted when the network ran: a reading that failed is no reading.
            found.judged += reading.is_ok() as u32;
            match reading {
                Ok(Some(true)) => {
                    text.push(r);
                    Some(true)
                }
                Ok(Some(false)) => {
                    not_text.push(r);
                    Some(false)
                }
                // Read in part, or not read: the line has no reading, and counts as text.
                Ok(None) | Err(_) => None,
            }
        };
        found.not_text += (line.learned == Some(false)) as u32;
    }
}

/// The learned stage over a small frame, whatever the classical stages found in it: each
/// plane read whole by the network, and the lines it reads added as regions (the network
/// can add text here, never remove it). Where the classical stages found a line in part
/// (its first glyphs against the frame's edge, its lower half in a band), the network's
/// line joins it; the frame was flagged either way, so this costs no false positive.
///
/// A network that cannot load or run is an error here (the frame is unexamined), where in
/// [`judge_lines`] it only leaves a line without a reading (the line counts either way).
#[cfg(feature = "learned")]
fn read_small_frame(
    planes: &[Plane],
    frame: u32,
    found: &mut Detection,
) -> Result<(), RedactError> {
    add_lines_read(planes, frame, found, crate::learned::text_in_small_plane)
}

/// The lines `read` finds in each of `planes`, added to `found` as regions of the network;
/// the first plane it cannot read ends the frame's search with its error.
#[cfg(feature = "learned")]
fn add_lines_read(
    planes: &[Plane],
    frame: u32,
    found: &mut Detection,
    read: impl Fn(&Plane) -> Result<Vec<Rect>, RedactError>,
) -> Result<(), RedactError> {
    for plane in planes {
        let rects = read(plane)?;
        found
            .regions
            .extend(rects.into_iter().map(|rect| TextRegion {
                frame,
                rect,
                glyphs: 0,
                score: 0.5,
                learned: Some(true),
            }));
    }
    Ok(())
}

#[cfg(not(feature = "learned"))]
fn read_small_frame(
    _planes: &[Plane],
    _frame: u32,
    _found: &mut Detection,
) -> Result<(), RedactError> {
    Ok(())
}

/// The most lines the network reads in one plane at one scale (each reading is one to
/// sixteen runs of 14 ms; the reading is advisory, and a plane of texture confirms dozens).
#[cfg(feature = "learned")]
const LINES_READ: u32 = 4;

#[cfg(not(feature = "learned"))]
fn judge_lines(_plane: &Plane, _found: &mut Detection) {}

/// The box `(x0, y0, x1, y1)` grown by the context a top-hat window needs around it,
/// within the plane.
fn with_context(
    plane: &Plane,
    (x0, y0, x1, y1): (usize, usize, usize, usize),
) -> (usize, usize, usize, usize) {
    let pad = TOPHAT / 2 + 1;
    (
        x0.saturating_sub(pad),
        y0.saturating_sub(pad),
        (x1 + pad).min(plane.width),
        (y1 + pad).min(plane.height),
    )
}

/// [`confirm`] on the box turned a quarter (rows become columns, with the context the
/// top-hats need around it): text written top to bottom or bottom to top, as on the side of
/// a radiograph or along a scale, reads across it. Its lines come back in the plane's
/// coordinates.
fn confirm_turned(
    plane: &Plane,
    (x0, y0, x1, y1): (usize, usize, usize, usize),
    step: i32,
    frame: u32,
    scratch: &mut Scratch,
) -> Vec<TextRegion> {
    let (px0, py0, px1, py1) = with_context(plane, (x0, y0, x1, y1));
    let (tw, th) = (py1 - py0, px1 - px0);
    let mut values = Vec::with_capacity(tw * th);
    for x in px0..px1 {
        values.extend((py0..py1).map(|y| plane.values[y * plane.width + x]));
    }
    let turned = Plane {
        width: tw,
        height: th,
        values,
    };
    let b = (y0 - py0, x0 - px0, y1 - py0, x1 - px0);
    let mut lines = confirm(&turned, b, step, frame, scratch);
    for line in &mut lines {
        let r = line.rect;
        line.rect = Rect {
            row_start: py0 as u32 + r.col_start,
            row_end: py0 as u32 + r.col_end,
            col_start: px0 as u32 + r.row_start,
            col_end: px0 as u32 + r.row_end,
        };
    }
    lines
}

const TILE: usize = 192;
const TILE_STEP: usize = TILE - MAX_GLYPH - 16;

/// `[start, end)` cut into overlapping tiles of `TILE`, or whole when it is short.
fn tiles(start: usize, end: usize) -> Vec<(usize, usize)> {
    if end - start <= TILE {
        return vec![(start, end)];
    }
    let mut out = Vec::new();
    let mut at = start;
    loop {
        let stop = (at + TILE).min(end);
        out.push((at, stop));
        if stop == end {
            return out;
        }
        at += TILE_STEP;
    }
}

/// Cells of 8×8 pixels with many strong transitions both ways, grown by a cell and joined
/// into boxes `(x0, y0, x1, y1)` in pixels, end exclusive.
fn candidate_boxes(plane: &Plane, step: i32) -> Vec<(usize, usize, usize, usize)> {
    let (w, h) = (plane.width, plane.height);
    let (cw, ch) = (w.div_ceil(CELL), h.div_ceil(CELL));
    let mut horizontal = vec![0u16; cw * ch];
    let mut vertical = vec![0u16; cw * ch];
    let mut marks = vec![0u8; w];
    for y in 0..h {
        let row = &plane.values[y * w..(y + 1) * w];
        let cells = &mut horizontal[(y / CELL) * cw..(y / CELL + 1) * cw];
        for (m, pair) in marks.iter_mut().zip(row.windows(2)) {
            *m = ((pair[1] as i32 - pair[0] as i32).abs() >= step) as u8;
        }
        marks[w - 1] = 0;
        for (cell, chunk) in cells.iter_mut().zip(marks.chunks(CELL)) {
            *cell += chunk.iter().map(|&m| m as u16).sum::<u16>();
        }
        if y + 1 < h {
            let next = &plane.values[(y + 1) * w..(y + 2) * w];
            for ((m, a), b) in marks.iter_mut().zip(row).zip(next) {
                *m = ((*b as i32 - *a as i32).abs() >= step) as u8;
            }
            let cells = &mut vertical[(y / CELL) * cw..(y / CELL + 1) * cw];
            for (cell, chunk) in cells.iter_mut().zip(marks.chunks(CELL)) {
                *cell += chunk.iter().map(|&m| m as u16).sum::<u16>();
            }
        }
    }
    // A cell is busy with at least one strong step a row on average and half as many
    // between rows (the tops and bottoms of strokes). Measured on the labelled set against
    // 6 / 3 / 12: image recall 0.923 -> 0.920, text-free images flagged 9.1 % -> 2.6 %.
    let hot: Vec<bool> = horizontal
        .iter()
        .zip(&vertical)
        .map(|(&hc, &vc)| hc >= 8 && vc >= 4 && hc + vc >= 16)
        .collect();
    // A lone cell is not a line of text unless a neighbour along the row is busy too.
    let mut grown = vec![false; cw * ch];
    for cy in 0..ch {
        for cx in 0..cw {
            let i = cy * cw + cx;
            let beside = (cx > 0 && hot[i - 1]) || (cx + 1 < cw && hot[i + 1]);
            if hot[i] && (beside || cw == 1) {
                for dy in cy.saturating_sub(1)..(cy + 2).min(ch) {
                    for dx in cx.saturating_sub(1)..(cx + 2).min(cw) {
                        grown[dy * cw + dx] = true;
                    }
                }
            }
        }
    }
    // Connected groups of grown cells.
    blobs(&grown, cw, ch)
        .into_iter()
        .map(|b| {
            (
                b.x0 * CELL,
                b.y0 * CELL,
                ((b.x1 + 1) * CELL).min(w),
                ((b.y1 + 1) * CELL).min(h),
            )
        })
        .collect()
}

/// A group of set cells of a mask, joined by their sides: its extent (ends inclusive) and
/// how many cells it holds.
pub(crate) struct Blob {
    pub(crate) x0: usize,
    pub(crate) y0: usize,
    pub(crate) x1: usize,
    pub(crate) y1: usize,
    pub(crate) area: usize,
}

/// The groups of set cells of a `w` × `h` mask, by flood fill (linear in the mask).
pub(crate) fn blobs(mask: &[bool], w: usize, h: usize) -> Vec<Blob> {
    let mut seen = vec![false; w * h];
    let mut out = Vec::new();
    let mut stack = Vec::new();
    for start in 0..(w * h).min(mask.len()) {
        if !mask[start] || seen[start] {
            continue;
        }
        seen[start] = true;
        stack.push(start);
        let mut b = Blob {
            x0: usize::MAX,
            y0: usize::MAX,
            x1: 0,
            y1: 0,
            area: 0,
        };
        while let Some(i) = stack.pop() {
            let (x, y) = (i % w, i / w);
            (b.x0, b.y0, b.x1, b.y1) = (b.x0.min(x), b.y0.min(y), b.x1.max(x), b.y1.max(y));
            b.area += 1;
            let mut visit = |j: usize| {
                if mask[j] && !seen[j] {
                    seen[j] = true;
                    stack.push(j);
                }
            };
            if x > 0 {
                visit(i - 1);
            }
            if x + 1 < w {
                visit(i + 1);
            }
            if y > 0 {
                visit(i - w);
            }
            if y + 1 < h {
                visit(i + w);
            }
        }
        out.push(b);
    }
    out
}

/// A connected component's extent and shape.
#[derive(Debug, Clone, Copy)]
struct Component {
    x0: usize,
    y0: usize,
    x1: usize,
    y1: usize,
    area: usize,
    edges: usize,
}

impl Component {
    fn width(&self) -> usize {
        self.x1 - self.x0 + 1
    }
    fn height(&self) -> usize {
        self.y1 - self.y0 + 1
    }
    /// How many glyphs it looks like: 0 when it is not glyph-shaped.
    fn glyphs(&self) -> usize {
        let (w, h) = (self.width(), self.height());
        if !(MIN_GLYPH..=MAX_GLYPH).contains(&h) {
            return 0;
        }
        // Mean stroke width: twice the area over the boundary length.
        let stroke = 2.0 * self.area as f32 / self.edges.max(1) as f32;
        let thin_bar = w <= (h / 4).max(2);
        if thin_bar {
            return 1; // l, I, 1, |
        }
        let fill = self.area as f32 / (w * h) as f32;
        if stroke > (0.3 * h as f32).max(2.5) || !(0.08..=0.85).contains(&fill) {
            return 0;
        }
        if w as f32 <= 1.4 * h as f32 {
            return 1;
        }
        // Touching glyphs.
        if w > 10 * h {
            return 0;
        }
        ((w as f32 / (0.7 * h as f32)).round() as usize).max(2)
    }
}

/// Confirms a candidate box: lines of glyphs at any of several cut levels, as regions.
///
/// The cuts are of the box's top-hats (the value less its morphological opening, or the
/// closing less the value, over a 15-pixel window): strokes thinner than the window stand
/// out of any slowly varying background, so text laid over anatomy is cut from the anatomy,
/// and on a plain background they are the values less the background. Large boxes are cut
/// tile by tile, at levels that follow each tile's own range, so dim text in a dark corner
/// is not judged against bright anatomy elsewhere; tiles overlap by more than the tallest
/// glyph, so every line lies whole in one of them.
fn confirm(
    plane: &Plane,
    (x0, y0, x1, y1): (usize, usize, usize, usize),
    step: i32,
    frame: u32,
    scratch: &mut Scratch,
) -> Vec<TextRegion> {
    if x1 - x0 < MIN_GLYPH || y1 - y0 < MIN_GLYPH {
        return Vec::new();
    }
    let Scratch {
        values,
        once,
        white,
        black,
        dev,
        median,
        quantised,
        step_rows,
        tile,
        lines: filters,
        cuts,
    } = scratch;
    let (px0, py0, px1, py1) = with_context(plane, (x0, y0, x1, y1));
    let (bw, bh) = (px1 - px0, py1 - py0);
    values.clear();
    for y in py0..py1 {
        values.extend_from_slice(&plane.values[y * plane.width + px0..y * plane.width + px1]);
    }
    let lo = values.iter().copied().min().unwrap_or(0) as i32;
    let hi = values.iter().copied().max().unwrap_or(0) as i32;
    if hi - lo < 2 * step {
        return Vec::new();
    }
    tophat(values, bw, bh, true, filters, once, white);
    tophat(values, bw, bh, false, filters, once, black);
    let banded = long_steps(values, (bw, bh), step, step_rows);
    if banded {
        deviation(
            values,
            (bw, bh),
            (lo as u16, hi as u16),
            quantised,
            median,
            dev,
        );
    }
    let mut regions = Vec::new();
    for (ty0, ty1) in tiles(0, bh) {
        for (tx0, tx1) in tiles(0, bw) {
            let (tw, th) = (tx1 - tx0, ty1 - ty0);
            // The median's deviation where the box holds a straight step (see the module).
            let sources = if banded { 3 } else { 2 };
            for (k, source) in [&*white, &*black, &*dev]
                .into_iter()
                .enumerate()
                .take(sources)
            {
                tile.clear();
                for y in ty0..ty1 {
                    tile.extend_from_slice(&source[y * bw + tx0..y * bw + tx1]);
                }
                for line in cut(tile, tw, th, step, cuts) {
                    // Its lines need a long straight step across their rows (in the values
                    // and in the median) and a score of 0.6 (four glyphs or more, nearly
                    // all aligned).
                    let (sy0, sy1) = (ty0 + line.y0, ty0 + line.y1);
                    if k == 2
                        && (line.score < 0.6
                            || !step_rows[sy0..=sy1].iter().any(|&b| b)
                            || !straddles(
                                median,
                                bw,
                                (tx0 + line.x0, sy0, tx0 + line.x1, sy1),
                                step,
                            ))
                    {
                        continue;
                    }
                    // In image coordinates; lines wholly in the padding are another box's.
                    let (lx0, ly0) = (px0 + tx0 + line.x0, py0 + ty0 + line.y0);
                    let (lx1, ly1) = (px0 + tx0 + line.x1 + 1, py0 + ty0 + line.y1 + 1);
                    if lx1 <= x0 || lx0 >= x1 || ly1 <= y0 || ly0 >= y1 {
                        continue;
                    }
                    regions.push(TextRegion {
                        frame,
                        rect: Rect {
                            row_start: ly0.saturating_sub(MARGIN as usize) as u32,
                            row_end: (ly1 + MARGIN as usize).min(plane.height) as u32,
                            col_start: lx0.saturating_sub(MARGIN as usize) as u32,
                            col_end: (lx1 + MARGIN as usize).min(plane.width) as u32,
                        },
                        glyphs: line.glyphs as u32,
                        score: line.score,
                        learned: None,
                    });
                }
            }
        }
    }
    for r in &mut regions {
        r.rect = reach(plane, r.rect, step);
    }
    regions
}

/// A confirmed line grown over the rest of its text: along its rows while the strokes
/// continue, and up or down while rows of strokes do.
///
/// Glyphs over a changing background (anatomy, the edge of a band, a checkerboard) do not
/// all come out glyph-shaped at one cut, so a line's box may stop a few glyphs short of its
/// end, or above the feet of glyphs that cross an edge. The line being text, what continues
/// its strokes is text too. Strokes are steps of at least `step` between neighbours along a
/// row (a horizontal edge or stripe makes none). A window of half the line's height beyond
/// an end continues it when its strokes are at least a third as dense as the line's own and
/// twice as dense as in the rows just above and below it (texture is as busy there; text
/// stands on a background). One quiet window is bridged (a word space); then the columns
/// of the next window that have strokes, and none above or below, end the last glyph. The
/// line grows at most five heights and a half at each end. A row beyond its top or bottom
/// joins it when it holds at least a third of a line row's mean strokes, up to half a
/// height (quiet rows a quarter of a height deep bridged: a band the glyphs cross in their
/// own value).
fn reach(plane: &Plane, rect: Rect, step: i32) -> Rect {
    let (w, h) = (plane.width, plane.height);
    let (r0, r1) = (rect.row_start as usize, (rect.row_end as usize).min(h));
    let (c0, c1) = (rect.col_start as usize, (rect.col_end as usize).min(w));
    if r1 <= r0 || c1 <= c0 + 1 || w < 2 {
        return rect;
    }
    // The line's own strokes: steps at least half as strong as most of its steps.
    let mut steps: Vec<i32> = Vec::new();
    for y in r0..r1 {
        let row = &plane.values[y * w + c0..y * w + c1];
        steps.extend(
            row.windows(2)
                .map(|p| (p[1] as i32 - p[0] as i32).abs())
                .filter(|&d| d >= step),
        );
    }
    if steps.is_empty() {
        return rect;
    }
    let at = steps.len() * 3 / 4;
    let strong = *steps.select_nth_unstable(at).1;
    let step = step.max(strong / 2);
    let strokes = |y: usize, x0: usize, x1: usize| -> usize {
        let row = &plane.values[y * w..(y + 1) * w];
        row[x0..x1.min(w - 1)]
            .iter()
            .zip(&row[x0 + 1..x1.min(w - 1) + 1])
            .filter(|(a, b)| (**b as i32 - **a as i32).abs() >= step)
            .count()
    };
    let height = r1 - r0;
    let band = |x0: usize, x1: usize| (r0..r1).map(|y| strokes(y, x0, x1)).sum::<usize>();
    let own = band(c0, c1) as f32 / ((c1 - c0) * height) as f32;
    if own <= 0.0 {
        return rect;
    }
    let apart = (height / 2).max(2);
    let (above, below) = (r0.saturating_sub(apart)..r0, r1..(r1 + apart).min(h));
    let outside = |x0: usize, x1: usize| -> f32 {
        let rows = above.len() + below.len();
        if rows == 0 {
            return 0.0;
        }
        let n: usize = above
            .clone()
            .chain(below.clone())
            .map(|y| strokes(y, x0, x1))
            .sum();
        n as f32 / (rows * (x1 - x0)) as f32
    };
    let window = (height / 2).max(4);
    let limit = 5 * height;
    let continues = |x0: usize, x1: usize| {
        let inside = band(x0, x1) as f32 / (height * (x1 - x0)) as f32;
        inside * 3.0 >= own && inside >= 2.0 * outside(x0, x1) && inside > 0.0
    };
    // A column of the band with a stroke in it, and none in the rows above and below.
    let stroked = |x: usize| {
        (r0..r1).any(|y| strokes(y, x, x + 1) > 0)
            && above
                .clone()
                .chain(below.clone())
                .all(|y| strokes(y, x, x + 1) == 0)
    };
    // How many columns the line reaches beyond one end, with `room` columns that way;
    // `span(a, b)` is the columns `a..b` past the end, `column(d)` the `d`-th: whole windows,
    // then the stroked columns that end the last glyph.
    let beyond = |room: usize,
                  span: &dyn Fn(usize, usize) -> (usize, usize),
                  column: &dyn Fn(usize) -> usize| {
        let (mut reached, mut at, mut quiet) = (0, 0, 0);
        while at < room && at < limit && quiet < 2 {
            let next = (at + window).min(room);
            let (x0, x1) = span(at, next);
            if continues(x0, x1) {
                reached = next;
                quiet = 0;
            } else {
                quiet += 1;
            }
            at = next;
        }
        let last = reached;
        while reached + 1 < room && reached - last < window && stroked(column(reached)) {
            reached += 1;
        }
        reached
    };
    let end = c1 + beyond(w - c1, &|a, b| (c1 + a, c1 + b), &|d| c1 + d);
    let start = c0 - beyond(c0, &|a, b| (c0 - b, c0 - a), &|d| c0 - 1 - d);
    // Up and down, over the grown width.
    let per_row = band(start, end) as f32 / height as f32;
    let joins = |y: usize| strokes(y, start, end) as f32 * 3.0 >= per_row;
    // How many of `rows` (outward from the line) it reaches: a few quiet rows are bridged,
    // a band the glyphs cross in their own value.
    let bridged = (height / 4).max(1);
    let rows_beyond = |rows: &mut dyn Iterator<Item = usize>| {
        let (mut reached, mut quiet) = (0, 0);
        for (d, y) in rows.enumerate() {
            if joins(y) {
                (reached, quiet) = (d + 1, 0);
            } else if quiet == bridged {
                break;
            } else {
                quiet += 1;
            }
        }
        reached
    };
    let top = r0 - rows_beyond(&mut (r0.saturating_sub(height / 2)..r0).rev());
    let bottom = r1 + rows_beyond(&mut (r1..(r1 + height / 2).min(h)));
    Rect {
        row_start: top as u32,
        row_end: bottom as u32,
        col_start: start as u32,
        col_end: end as u32,
    }
}

/// `|value - median|` over the `TOPHAT`-square window of every pixel (clipped at the
/// edges), into `out`: polarity-free. A median keeps straight steps and drops strokes
/// thinner than half its window, so a glyph that straddles the edge between two bands
/// (brighter than the one, darker than the other) stands out whole, where each top-hat
/// holds half of it. Medians of values quantised to 256 levels of `lo..=hi`, by Huang's
/// sliding histogram.
fn deviation(
    values: &[u16],
    (w, h): (usize, usize),
    (lo, hi): (u16, u16),
    quant: &mut Vec<u8>,
    median: &mut Vec<u16>,
    out: &mut Vec<u16>,
) {
    let span = (hi - lo).max(1) as u32;
    let q = |v: u16| ((v.saturating_sub(lo) as u32 * 255 + span / 2) / span) as usize;
    let back = |m: usize| lo as u32 + (m as u32 * span + 127) / 255;
    let r = TOPHAT / 2;
    out.clear();
    out.resize(w * h, 0);
    median.clear();
    median.resize(w * h, 0);
    quant.clear();
    quant.extend(values.iter().map(|&v| q(v) as u8));
    let mut hist = [0u32; 256];
    for y in 0..h {
        let (ya, yb) = (y.saturating_sub(r), (y + r).min(h - 1));
        let rows = (yb - ya + 1) as u32;
        hist.fill(0);
        let mut n = 0u32;
        for x in 0..=r.min(w - 1) {
            for yy in ya..=yb {
                hist[quant[yy * w + x] as usize] += 1;
            }
            n += rows;
        }
        // `m` is the median; `below` counts values under it.
        let mut m = 0usize;
        let mut below = 0u32;
        for x in 0..w {
            if x > 0 {
                if x + r < w {
                    for yy in ya..=yb {
                        let v = quant[yy * w + x + r] as usize;
                        hist[v] += 1;
                        below += (v < m) as u32;
                    }
                    n += rows;
                }
                if x > r {
                    for yy in ya..=yb {
                        let v = quant[yy * w + x - r - 1] as usize;
                        hist[v] -= 1;
                        below -= (v < m) as u32;
                    }
                    n -= rows;
                }
            }
            let half = n / 2;
            // The median: the largest m with fewer than half the values below it.
            while below > half && m > 0 {
                m -= 1;
                below -= hist[m];
            }
            while m < 255 && below + hist[m] <= half {
                below += hist[m];
                m += 1;
            }
            let v = values[y * w + x] as u32;
            median[y * w + x] = back(m) as u16;
            out[y * w + x] = v.abs_diff(back(m)) as u16;
        }
    }
}

/// The shortest straight step [`long_steps`] looks for.
const STEP_RUN: usize = 20;

/// The rows of `values` (`w` wide) along which the values step by at least twice `step`
/// (`rows[y]`: between rows `y - 1` and `y + 2`) for [`STEP_RUN`] pixels and seven tenths
/// of the box, with gaps no wider than a quarter of the tallest glyph (where strokes cross
/// it): the edge of a band, a stripe, a panel or a collimator that a line of text may
/// straddle. Only lines across one are worth the median's deviation, and it is computed
/// only for boxes that hold one. Returns whether any does. (A vertical edge cuts a line
/// between glyphs, each of which the top-hats hold whole; measured on the labelled set,
/// counting vertical edges as well found no more text and flagged a vertebra.)
fn long_steps(values: &[u16], (w, h): (usize, usize), step: i32, rows: &mut Vec<bool>) -> bool {
    let strong = |a: u16, b: u16| (a as i32 - b as i32).abs() >= 2 * step;
    let needed = STEP_RUN.max(w * 7 / 10);
    rows.clear();
    rows.resize(h, false);
    for y in 1..h.saturating_sub(2) {
        let (mut length, mut gap) = (0usize, 0usize);
        for x in 0..w {
            if strong(values[(y - 1) * w + x], values[(y + 2) * w + x]) {
                length += 1 + gap;
                gap = 0;
                if length >= needed {
                    rows[y] = true;
                    break;
                }
            } else if length > 0 {
                gap += 1;
                if gap > MAX_GLYPH / 4 {
                    length = 0;
                    gap = 0;
                }
            }
        }
    }
    rows.contains(&true)
}

/// Whether the background (`median`, `w` wide) steps by at least twice `step` across the
/// line `(x0, y0, x1, y1)`, along four fifths of its width or height: the line straddles
/// the edge between two bands, where only the median's deviation holds its glyphs whole.
fn straddles(
    median: &[u16],
    w: usize,
    (x0, y0, x1, y1): (usize, usize, usize, usize),
    step: i32,
) -> bool {
    let h = median.len() / w.max(1);
    let at = |x: usize, y: usize| median[y * w + x] as i32;
    let strong = |a: i32, b: i32| (a - b).abs() >= 2 * step;
    let across = (y0 + 1..=y1).any(|y| {
        let (above, below) = (y.saturating_sub(2), (y + 1).min(h - 1));
        let n = (x0..=x1)
            .filter(|&x| strong(at(x, above), at(x, below)))
            .count();
        n * 10 >= (x1 - x0 + 1) * 8
    });
    across
        || (x0 + 1..=x1).any(|x| {
            let (left, right) = (x.saturating_sub(2), (x + 1).min(w - 1));
            let n = (y0..=y1)
                .filter(|&y| strong(at(left, y), at(right, y)))
                .count();
            n * 10 >= (y1 - y0 + 1) * 8
        })
}

/// Buffers reused across the boxes of a plane, so that confirming a box allocates nothing
/// once the first box has sized them (fresh large buffers cost a page fault a page).
#[derive(Default)]
struct Scratch {
    /// The box with its context.
    values: Vec<u16>,
    /// A top-hat's first filter.
    once: Vec<u16>,
    white: Vec<u16>,
    black: Vec<u16>,
    /// How far each value lies from its window's median.
    dev: Vec<u16>,
    /// Each window's median.
    median: Vec<u16>,
    /// The box in 256 levels, for the median's histogram.
    quantised: Vec<u8>,
    /// The rows where the box steps (see [`long_steps`]).
    step_rows: Vec<bool>,
    tile: Vec<u16>,
    lines: Lines,
    cuts: Cuts,
}

/// What one cut level needs.
#[derive(Default)]
struct Cuts {
    mask: Vec<bool>,
    runs: Vec<Run>,
    parent: Vec<u32>,
}

/// What the one-dimensional filters need.
#[derive(Default)]
struct Lines {
    line: Vec<u16>,
    out: Vec<u16>,
    prefix: Vec<u16>,
    suffix: Vec<u16>,
    /// A 2-D filter's rows pass.
    rows: Vec<u16>,
    /// Its second filter, before the top-hat's difference.
    twice: Vec<u16>,
}

/// The lines of a top-hat tile that are stable across cut levels: the same glyphs come
/// out at neighbouring levels (strokes stand well clear of their background), where noise
/// and texture change shape; and a cut below twice the frame's step (6 % of its range) is
/// texture, not text.
fn cut(tile: &[u16], w: usize, h: usize, step: i32, scratch: &mut Cuts) -> Vec<Line> {
    let top = tile.iter().copied().max().unwrap_or(0) as i32;
    let mut out = Vec::new();
    if top < 3 * step {
        return out;
    }
    scratch.mask.resize(w * h, false);
    let mut previous: Vec<Line> = Vec::new();
    // Levels fall geometrically (three quarters each time): fine steps low down, where dim
    // text sits under the strong edges that set the tile's top.
    let mut level = top;
    for _ in 0..9 {
        level = level * 3 / 4;
        if level < 3 * step {
            break;
        }
        for (m, &v) in scratch.mask.iter_mut().zip(tile) {
            *m = v as i32 > level;
        }
        drop_long_runs(&mut scratch.mask, w);
        let mask = std::mem::take(&mut scratch.mask);
        let components = label(&mask, scratch, w, h);
        scratch.mask = mask;
        let found = lines(&components, &scratch.mask, w);
        for line in &found {
            if previous.iter().any(|p| p.same_as(line)) {
                out.push(*line);
            }
        }
        previous = found;
    }
    out
}

/// Runs of a cut longer than this are bands, rules and edges, not strokes.
const LONG_RUN: usize = 2 * MAX_GLYPH;

/// Clears the runs of each row of `mask` longer than [`LONG_RUN`], or, in a tile narrower
/// than that, across four fifths of it and longer than the tallest glyph: a band or a ruled
/// line as narrow as a stroke stands out of the top-hat like one, and glyphs that touch it
/// would join it into one shape that is no glyph. (The narrow-tile rule found one more
/// text image of the labelled set, 303 -> 304 of 312, and flagged no more controls.)
fn drop_long_runs(mask: &mut [bool], w: usize) {
    // In a narrow tile, a run across four fifths of it (and longer than any glyph).
    let long = LONG_RUN.min((w * 4 / 5).max(MAX_GLYPH));
    if w <= long {
        return;
    }
    for row in mask.chunks_mut(w) {
        let mut x = 0;
        while x < w {
            if !row[x] {
                x += 1;
                continue;
            }
            let start = x;
            while x < w && row[x] {
                x += 1;
            }
            if x - start > long {
                row[start..x].fill(false);
            }
        }
    }
}

/// The top-hat window: strokes narrower than this stand out of their background.
const TOPHAT: usize = 15;

/// White top-hat (`bright`: value less its opening) or black top-hat (closing less value)
/// over a `TOPHAT`-square window, by separable van Herk / Gil-Werman min and max filters
/// (three comparisons a pixel whatever the window), into `out`.
fn tophat(
    values: &[u16],
    w: usize,
    h: usize,
    bright: bool,
    lines: &mut Lines,
    once: &mut Vec<u16>,
    out: &mut Vec<u16>,
) {
    let mut twice = std::mem::take(&mut lines.twice);
    if bright {
        filter2d(values, w, h, u16::min, lines, once);
        filter2d(once, w, h, u16::max, lines, &mut twice);
    } else {
        filter2d(values, w, h, u16::max, lines, once);
        filter2d(once, w, h, u16::min, lines, &mut twice);
    }
    out.clear();
    out.extend(values.iter().zip(&twice).map(|(&v, &o)| {
        if bright {
            v.saturating_sub(o)
        } else {
            o.saturating_sub(v)
        }
    }));
    lines.twice = twice;
}

/// `op` (min or max) over the `TOPHAT`-square window of every pixel, into `out`.
fn filter2d<F: Fn(u16, u16) -> u16 + Copy>(
    values: &[u16],
    w: usize,
    h: usize,
    op: F,
    lines: &mut Lines,
    out: &mut Vec<u16>,
) {
    let mut rows = std::mem::take(&mut lines.rows);
    rows.clear();
    for y in 0..h {
        lines.line.clear();
        lines.line.extend_from_slice(&values[y * w..(y + 1) * w]);
        filter1d(lines, op);
        rows.extend_from_slice(&lines.out);
    }
    // Down the columns, a whole row at a time (the same accumulations, each step a row
    // of independent lanes).
    let k = TOPHAT;
    let r = k / 2;
    let (g, s) = (&mut lines.prefix, &mut lines.suffix);
    g.clear();
    g.resize(w * h, 0);
    s.clear();
    s.resize(w * h, 0);
    for y in 0..h {
        let row = &rows[y * w..(y + 1) * w];
        if y % k == 0 {
            g[y * w..(y + 1) * w].copy_from_slice(row);
        } else {
            let (before, at) = g.split_at_mut(y * w);
            for ((o, &p), &v) in at[..w].iter_mut().zip(&before[(y - 1) * w..]).zip(row) {
                *o = op(p, v);
            }
        }
    }
    for y in (0..h).rev() {
        let row = &rows[y * w..(y + 1) * w];
        if y == h - 1 || (y + 1) % k == 0 {
            s[y * w..(y + 1) * w].copy_from_slice(row);
        } else {
            let (at, after) = s.split_at_mut((y + 1) * w);
            for ((o, &n), &v) in at[y * w..].iter_mut().zip(&after[..w]).zip(row) {
                *o = op(n, v);
            }
        }
    }
    out.clear();
    for y in 0..h {
        let (a, b) = (y.saturating_sub(r), (y + r).min(h - 1));
        if a / k == b / k {
            // One block: its prefix when the window starts it, else the suffix (the window
            // is clipped at the end).
            let from = if a % k == 0 { &g[b * w..] } else { &s[a * w..] };
            out.extend_from_slice(&from[..w]);
        } else {
            out.extend(
                s[a * w..(a + 1) * w]
                    .iter()
                    .zip(&g[b * w..(b + 1) * w])
                    .map(|(&x, &y)| op(x, y)),
            );
        }
    }
    lines.rows = rows;
}

/// `out[i]` = `op` over `line[i - r ..= i + r]` (clipped), `r = TOPHAT / 2`, for the
/// `line` of `lines` into its `out`.
fn filter1d<F: Fn(u16, u16) -> u16 + Copy>(lines: &mut Lines, op: F) {
    let Lines {
        line,
        out,
        prefix: g,
        suffix: s,
        ..
    } = lines;
    let n = line.len();
    let k = TOPHAT;
    let r = k / 2;
    out.clear();
    if n == 0 {
        return;
    }
    // Prefix (g) and suffix (s) accumulations within blocks of k.
    g.resize(n, 0);
    s.resize(n, 0);
    for i in 0..n {
        g[i] = if i % k == 0 {
            line[i]
        } else {
            op(g[i - 1], line[i])
        };
    }
    for i in (0..n).rev() {
        s[i] = if i == n - 1 || (i + 1) % k == 0 {
            line[i]
        } else {
            op(s[i + 1], line[i])
        };
    }
    for i in 0..n {
        let a = i.saturating_sub(r);
        let b = (i + r).min(n - 1);
        // The window [a, b] spans at most two blocks: the suffix of a's block and the
        // prefix of b's.
        let v = if a / k == b / k {
            // One block: its prefix when the window starts it, else its suffix (the window
            // is clipped at the end).
            if a % k == 0 { g[b] } else { s[a] }
        } else {
            op(s[a], g[b])
        };
        out.push(v);
    }
}

/// A run of set pixels in one row of a mask, `x0..=x1`, with the boundary (4-neighbours
/// outside the mask) of its pixels.
#[derive(Clone, Copy)]
struct Run {
    y: u32,
    x0: u32,
    x1: u32,
    edges: u32,
}

/// The root of `i` among runs joined into components (path halving).
fn root(parent: &mut [u32], mut i: usize) -> usize {
    while parent[i] as usize != i {
        parent[i] = parent[parent[i] as usize];
        i = parent[i] as usize;
    }
    i
}

/// 8-connected components of `mask`, with their boundary lengths, in the raster order of
/// their first pixel. Runs of each row are joined to the runs they touch in the row above
/// (union-find): the work follows the runs, not the pixels, after one scan of the mask.
fn label(mask: &[bool], cuts: &mut Cuts, w: usize, h: usize) -> Vec<Component> {
    let Cuts { runs, parent, .. } = cuts;
    runs.clear();
    parent.clear();
    let mut above = 0..0;
    for y in 0..h {
        let row = &mask[y * w..(y + 1) * w];
        let start = runs.len();
        let mut x = 0;
        while x < w {
            if !row[x] {
                x += 1;
                continue;
            }
            let x0 = x;
            while x < w && row[x] {
                x += 1;
            }
            // Left and right ends, and every pixel's top and bottom until a neighbour is
            // found above or below.
            let len = (x - x0) as u32;
            parent.push(runs.len() as u32);
            runs.push(Run {
                y: y as u32,
                x0: x0 as u32,
                x1: (x - 1) as u32,
                edges: 2 + 2 * len,
            });
        }
        let mut p = above.start;
        for r in start..runs.len() {
            let (rx0, rx1) = (runs[r].x0, runs[r].x1);
            while p < above.end && runs[p].x1 + 1 < rx0 {
                p += 1;
            }
            let mut q = p;
            while q < above.end && runs[q].x0 <= rx1 + 1 {
                let shared = (rx1.min(runs[q].x1) + 1).saturating_sub(rx0.max(runs[q].x0));
                runs[r].edges -= shared;
                runs[q].edges -= shared;
                let (a, b) = (root(parent, r), root(parent, q));
                if a != b {
                    parent[a.max(b)] = a.min(b) as u32;
                }
                q += 1;
            }
        }
        above = start..runs.len();
    }
    // A component's root is its first run (unions keep the smaller index), met first.
    let mut slot = vec![u32::MAX; runs.len()];
    let mut components: Vec<Component> = Vec::new();
    for (i, &run) in runs.iter().enumerate() {
        let r = root(parent, i);
        if slot[r] == u32::MAX {
            slot[r] = components.len() as u32;
            components.push(Component {
                x0: usize::MAX,
                y0: run.y as usize,
                x1: 0,
                y1: 0,
                area: 0,
                edges: 0,
            });
        }
        let c = &mut components[slot[r] as usize];
        c.x0 = c.x0.min(run.x0 as usize);
        c.x1 = c.x1.max(run.x1 as usize);
        c.y1 = c.y1.max(run.y as usize);
        c.area += (run.x1 - run.x0 + 1) as usize;
        c.edges += run.edges as usize;
    }
    components
}

/// A line of glyphs, in box coordinates.
#[derive(Clone, Copy)]
struct Line {
    x0: usize,
    y0: usize,
    x1: usize,
    y1: usize,
    glyphs: usize,
    score: f32,
}

impl Line {
    /// Whether `other` is this line found again at the next cut level: the one holds most
    /// of the other (a lower cut grows anti-aliased glyphs and adds dim ones, it does not
    /// move the line) and both are about as tall.
    fn same_as(&self, other: &Line) -> bool {
        let ix = self.x1.min(other.x1) as i64 - self.x0.max(other.x0) as i64 + 1;
        let iy = self.y1.min(other.y1) as i64 - self.y0.max(other.y0) as i64 + 1;
        if ix <= 0 || iy <= 0 {
            return false;
        }
        let area = |l: &Line| ((l.x1 - l.x0 + 1) * (l.y1 - l.y0 + 1)) as i64;
        let height = |l: &Line| (l.y1 - l.y0 + 1) as i64;
        let inter = ix * iy;
        let smaller = area(self).min(area(other));
        let (h1, h2) = (height(self), height(other));
        inter * 10 >= smaller * 7 && h1.max(h2) * 2 <= h1.min(h2) * 3
    }
}

fn find(parent: &mut [usize], mut i: usize) -> usize {
    while parent[i] != i {
        parent[i] = parent[parent[i]];
        i = parent[i];
    }
    i
}

/// Chains glyph-shaped components into lines and keeps those that read as text.
/// `mask` (`width` wide) is what the components were cut from.
fn lines(components: &[Component], mask: &[bool], width: usize) -> Vec<Line> {
    let mut glyphs: Vec<(Component, usize)> = components
        .iter()
        .filter_map(|c| {
            let n = c.glyphs();
            (n > 0).then_some((*c, n))
        })
        .collect();
    if glyphs.is_empty() {
        return Vec::new();
    }
    glyphs.sort_by_key(|(c, _)| c.x0);
    let mut parent: Vec<usize> = (0..glyphs.len()).collect();
    for i in 0..glyphs.len() {
        let (a, _) = glyphs[i];
        let ha = a.height();
        let mut best: Option<(usize, usize)> = None;
        // Sorted by left edge: only a bounded window to the right can follow `a`.
        for (j, (b, _)) in glyphs.iter().enumerate().skip(i + 1).take(64) {
            let hb = b.height();
            let tallest = ha.max(hb);
            // A word space, or ": " once its dots (too small for glyphs) are gone.
            if b.x0 > a.x1 + tallest * 3 / 2 + 2 {
                break;
            }
            if b.x0 + 1 < a.x1 {
                continue; // overlapping, not following
            }
            let overlap = a.y1.min(b.y1) as i64 - a.y0.max(b.y0) as i64 + 1;
            if overlap < (0.6 * ha.min(hb) as f32) as i64
                || tallest as f32 > 1.8 * ha.min(hb) as f32
            {
                continue;
            }
            let gap = b.x0.saturating_sub(a.x1);
            if best.is_none_or(|(_, g)| gap < g) {
                best = Some((j, gap));
            }
        }
        if let Some((j, _)) = best {
            let (ri, rj) = (find(&mut parent, i), find(&mut parent, j));
            parent[rj] = ri;
        }
    }
    let mut groups: std::collections::BTreeMap<usize, Vec<usize>> = Default::default();
    for i in 0..glyphs.len() {
        let root = find(&mut parent, i);
        groups.entry(root).or_default().push(i);
    }
    let mut out = Vec::new();
    for members in groups.values() {
        let count: usize = members.iter().map(|&i| glyphs[i].1).sum();
        if count < 3 || members.len() < 2 {
            continue;
        }
        // A comb of thin bars is a grid, a ruler or a pattern, not a word.
        let bars = members
            .iter()
            .filter(|&&i| glyphs[i].0.width() <= (glyphs[i].0.height() / 4).max(2))
            .count();
        if bars * 2 > members.len() {
            continue;
        }
        let mut heights: Vec<usize> = members.iter().map(|&i| glyphs[i].0.height()).collect();
        heights.sort_unstable();
        let median = heights[heights.len() / 2];
        let tolerance = (median / 7).max(1) as i64;
        let aligned = |edge: fn(&Component) -> usize| {
            let mut edges: Vec<usize> = members.iter().map(|&i| edge(&glyphs[i].0)).collect();
            edges.sort_unstable();
            let mid = edges[edges.len() / 2] as i64;
            edges
                .iter()
                .filter(|&&e| (e as i64 - mid).abs() <= tolerance)
                .count()
        };
        let bottoms = aligned(|c| c.y1);
        let tops = aligned(|c| c.y0);
        let best = bottoms.max(tops);
        // Short lines are where chance alignments live: three glyphs must all align.
        let needed = if members.len() <= 3 {
            members.len()
        } else {
            (members.len() * 6).div_ceil(10)
        };
        if best < needed {
            continue;
        }
        let similar = heights
            .iter()
            .filter(|&&h| h * 10 >= median * 6 && h * 10 <= median * 16)
            .count();
        if similar * 10 < members.len() * 7 {
            continue;
        }
        let x0 = members.iter().map(|&i| glyphs[i].0.x0).min().unwrap_or(0);
        let x1 = members.iter().map(|&i| glyphs[i].0.x1).max().unwrap_or(0);
        let y0 = members.iter().map(|&i| glyphs[i].0.y0).min().unwrap_or(0);
        let y1 = members.iter().map(|&i| glyphs[i].0.y1).max().unwrap_or(0);
        // A line is straight: a chain that drifts up or down is not one.
        if (y1 - y0 + 1) * 10 > median * 17 + 20 {
            continue;
        }
        // And it stands on a background: nearly everything cut at this level inside the
        // line belongs to its glyphs (noise and texture leave debris all around).
        let ink: usize = members.iter().map(|&i| glyphs[i].0.area).sum();
        let all: usize = (y0..=y1)
            .map(|y| {
                mask[y * width + x0..=y * width + x1]
                    .iter()
                    .filter(|&&m| m)
                    .count()
            })
            .sum();
        if ink * 10 < all * 6 {
            continue;
        }
        let alignment = best as f32 / members.len() as f32;
        out.push(Line {
            x0,
            y0,
            x1,
            y1,
            glyphs: count,
            score: (alignment * (count as f32 / 6.0).min(1.0)).clamp(0.0, 1.0),
        });
    }
    // A line reaches as far as glyphs of its height continue it: a word of one or two
    // glyphs after a comma or a wide space belongs to it (it is too short to be a line of
    // its own), and a region that stops before it would leave it unredacted.
    for line in &mut out {
        let h = line.y1 - line.y0 + 1;
        let reach = h + h / 2;
        for _ in 0..8 {
            let mut grew = false;
            for (c, _) in &glyphs {
                let overlap = line.y1.min(c.y1) as i64 - line.y0.max(c.y0) as i64 + 1;
                if overlap * 10 < c.height() as i64 * 6 || c.height() * 2 < h || c.height() > h + 2
                {
                    continue;
                }
                let after = c.x0 > line.x1 && c.x0 <= line.x1 + reach;
                let before = c.x1 < line.x0 && c.x1 + reach >= line.x0;
                if after || before {
                    line.x0 = line.x0.min(c.x0);
                    line.x1 = line.x1.max(c.x1);
                    line.glyphs += 1;
                    grew = true;
                }
            }
            if !grew {
                break;
            }
        }
    }
    out
}

/// Regions of one frame merged into one when they overlap (the same line found at several
/// cut levels or in several planes) or are words of one line: rows shared over half the
/// lower one's height, apart by no more than one and a half times the taller one's height (a word space, or a
/// glyph the detector did not box). A line is then blanked whole, gaps included.
fn merge_regions(regions: Vec<TextRegion>) -> Vec<TextRegion> {
    // Joining grows boxes, which may then reach others: a few passes settle it (each is
    // linear in the regions, and a pass that joins nothing ends it).
    let mut regions = regions;
    for _ in 0..4 {
        let before = regions.len();
        regions = merge_pass(regions);
        if regions.len() == before {
            break;
        }
    }
    regions
}

/// Whether `a` and `b` (of one frame) are one region: overlapping, or words of one line.
fn joins(a: &Rect, b: &Rect) -> bool {
    let rows = a
        .row_end
        .min(b.row_end)
        .saturating_sub(a.row_start.max(b.row_start));
    if rows == 0 {
        return false;
    }
    let (ha, hb) = (a.row_end - a.row_start, b.row_end - b.row_start);
    let gap = if b.col_start >= a.col_end {
        b.col_start - a.col_end
    } else if a.col_start >= b.col_end {
        a.col_start - b.col_end
    } else {
        return true;
    };
    rows * 2 >= ha.min(hb) && gap * 2 <= ha.max(hb) * 3
}

fn merge_pass(mut regions: Vec<TextRegion>) -> Vec<TextRegion> {
    regions.sort_by(|a, b| {
        (a.frame, a.rect.row_start, a.rect.col_start).cmp(&(
            b.frame,
            b.rect.row_start,
            b.rect.col_start,
        ))
    });
    let mut out: Vec<TextRegion> = Vec::new();
    for r in regions {
        if let Some(m) = out
            .iter_mut()
            .rev()
            .take(16)
            .find(|m| m.frame == r.frame && joins(&m.rect, &r.rect))
        {
            m.rect.row_start = m.rect.row_start.min(r.rect.row_start);
            m.rect.row_end = m.rect.row_end.max(r.rect.row_end);
            m.rect.col_start = m.rect.col_start.min(r.rect.col_start);
            m.rect.col_end = m.rect.col_end.max(r.rect.col_end);
            m.glyphs = m.glyphs.max(r.glyphs);
            m.score = m.score.max(r.score);
            // Text to the network when any part is; not text only when every part was read.
            m.learned = match (m.learned, r.learned) {
                (Some(true), _) | (_, Some(true)) => Some(true),
                (Some(false), Some(false)) => Some(false),
                _ => None,
            };
        } else {
            out.push(r);
        }
    }
    out
}

/// Fuzzing's check of the detector, shared by the fuzz target and the suite that replays
/// its crash inputs: the first eight bytes choose a layout (up to 96 × 96, one or two
/// frames, every photometric and bit depth, a palette of a length the input chooses), the
/// rest is the pixel data. Detection, the cheap pass alone, the bitmap search and clearing
/// the high bits never panic; what is found lies inside the frames. Panics when it does not.
#[doc(hidden)]
pub fn fuzz_detect(data: &[u8]) {
    let [a, b, c, d, e, f, g, h, pixels @ ..] = data else {
        return;
    };
    let (bits_allocated, bits_stored) =
        [(8, 8), (16, 12), (16, 16), (1, 1), (32, 32), (8, 6)][usize::from(*d % 6)];
    let photometric = [
        Photometric::Monochrome1,
        Photometric::Monochrome2,
        Photometric::PaletteColor,
        Photometric::Rgb,
        Photometric::YbrFull,
        Photometric::YbrFull422,
    ][usize::from(*e % 6)]
    .clone();
    let samples = if matches!(
        photometric,
        Photometric::Rgb | Photometric::YbrFull | Photometric::YbrFull422
    ) {
        3
    } else {
        1
    };
    let geometry = Geometry {
        rows: 1 + u32::from(*a % 96),
        columns: 1 + u32::from(*b % 96),
        frames: 1 + u32::from(*c % 2),
        samples_per_pixel: samples,
        bits_allocated,
        bits_stored,
        signed: *f & 1 == 1,
        planar: *f & 2 == 2,
        photometric,
    };
    let entries = usize::from(*g);
    let table: Vec<u16> = pixels
        .chunks_exact(2)
        .take(entries)
        .map(|p| u16::from_le_bytes([p[0], p[1]]))
        .collect();
    let palette = Palette {
        first_mapped: i64::from(*h) - 128,
        red: table.clone(),
        green: table.iter().rev().copied().collect(),
        blue: table,
    };
    let inside = |frame: u32, r: &Rect| {
        frame < geometry.frames
            && r.row_start < r.row_end
            && r.row_end <= geometry.rows
            && r.col_start < r.col_end
            && r.col_end <= geometry.columns
    };
    if let Ok(found) = find_text(pixels, &geometry, Some(&palette)) {
        for r in &found.regions {
            assert!(inside(r.frame, &r.rect), "{r:?} outside {geometry:?}");
        }
        for z in zones_around(&found.regions, geometry.rows, geometry.columns) {
            assert!(inside(0, &z), "zone {z:?} outside {geometry:?}");
        }
    }
    if let Ok(candidates) = text_candidates(pixels, &geometry, None) {
        for (frame, r) in &candidates {
            assert!(inside(*frame, r), "candidate {r:?} outside {geometry:?}");
        }
    }
    let (w, rows) = (geometry.columns as usize, geometry.rows as usize);
    if pixels.len() >= w * rows {
        let found = find_text_in_bitmap(&pixels[..w * rows], rows, w, 0);
        for r in &found.regions {
            assert!(
                inside(r.frame, &r.rect),
                "bitmap {r:?} outside {geometry:?}"
            );
        }
    }
    let mut copy = pixels.to_vec();
    clear_high_bits(&mut copy, &geometry);
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    fn region(row_start: u32, row_end: u32, col_start: u32, col_end: u32) -> TextRegion {
        TextRegion {
            frame: 0,
            rect: Rect {
                row_start,
                row_end,
                col_start,
                col_end,
            },
            glyphs: 3,
            score: 0.5,
            learned: None,
        }
    }

    #[test]
    fn the_words_of_one_line_are_one_region_and_two_lines_stay_two() {
        // "Smith," and "Ann" 15 px high, 16 px apart (a space, and a glyph not boxed).
        let merged = merge_regions(vec![region(80, 95, 4, 51), region(80, 95, 67, 97)]);
        assert_eq!(merged.len(), 1, "{merged:?}");
        assert_eq!((merged[0].rect.col_start, merged[0].rect.col_end), (4, 97));
        // Two lines one above the other, and two words far apart, stay apart.
        assert_eq!(
            merge_regions(vec![region(80, 95, 4, 51), region(97, 112, 4, 51)]).len(),
            2
        );
        assert_eq!(
            merge_regions(vec![region(80, 95, 4, 51), region(80, 95, 120, 160)]).len(),
            2
        );
    }

    /// A 5×7 bitmap font for the digits and a few capitals, scaled by `scale`.
    fn glyph(c: char) -> [u8; 7] {
        match c {
            '0' => [0x0E, 0x11, 0x13, 0x15, 0x19, 0x11, 0x0E],
            '1' => [0x04, 0x0C, 0x04, 0x04, 0x04, 0x04, 0x0E],
            '2' => [0x0E, 0x11, 0x01, 0x02, 0x04, 0x08, 0x1F],
            '3' => [0x1F, 0x02, 0x04, 0x02, 0x01, 0x11, 0x0E],
            '4' => [0x02, 0x06, 0x0A, 0x12, 0x1F, 0x02, 0x02],
            '5' => [0x1F, 0x10, 0x1E, 0x01, 0x01, 0x11, 0x0E],
            'A' => [0x0E, 0x11, 0x11, 0x1F, 0x11, 0x11, 0x11],
            'M' => [0x11, 0x1B, 0x15, 0x15, 0x11, 0x11, 0x11],
            'R' => [0x1E, 0x11, 0x11, 0x1E, 0x14, 0x12, 0x11],
            'N' => [0x11, 0x19, 0x15, 0x13, 0x11, 0x11, 0x11],
            _ => [0; 7],
        }
    }

    pub(crate) fn draw(
        image: &mut [u8],
        width: usize,
        text: &str,
        x: usize,
        y: usize,
        scale: usize,
        v: u8,
    ) {
        for (i, c) in text.chars().enumerate() {
            let rows = glyph(c);
            for (r, bits) in rows.iter().enumerate() {
                for col in 0..5 {
                    if bits & (0x10 >> col) != 0 {
                        for sy in 0..scale {
                            for sx in 0..scale {
                                let px = x + (i * 6 + col) * scale + sx;
                                let py = y + r * scale + sy;
                                image[py * width + px] = v;
                            }
                        }
                    }
                }
            }
        }
    }

    /// `bits` (w × h, non-zero set) in bit 15 of 16-bit data with 12 bits stored, over a
    /// ramp of values in the stored bits.
    fn in_bit_15(bits: &[u8], w: usize, h: usize) -> (Vec<u8>, Geometry) {
        let data = bits
            .iter()
            .enumerate()
            .flat_map(|(i, &b)| {
                (((i % 4000) as u16) | if b != 0 { 0x8000 } else { 0 }).to_le_bytes()
            })
            .collect();
        let g = Geometry {
            bits_allocated: 16,
            bits_stored: 12,
            ..Geometry::grey8(h as u32, w as u32)
        };
        (data, g)
    }

    /// A smooth gradient with a bright disc: anatomy-like, text-free.
    fn background(w: usize, h: usize) -> Vec<u8> {
        let mut image = vec![0u8; w * h];
        for y in 0..h {
            for x in 0..w {
                let (dx, dy) = (x as f32 - w as f32 / 2.0, y as f32 - h as f32 / 2.0);
                let r = (dx * dx + dy * dy).sqrt();
                image[y * w + x] = if r < w as f32 / 3.0 {
                    (120.0 + 40.0 * (x as f32 / w as f32)) as u8
                } else {
                    10
                };
            }
        }
        image
    }

    /// Text turned a quarter either way along either side of an image, beside anatomy, in
    /// glyphs 14 and 21 px tall, is found where it is: the detector missed every one of
    /// these before it looked for lines across turned boxes. (Glyphs 5 px wide that fit one
    /// 8-px cell of the cheap pass are not boxed when turned: a lone column of busy cells
    /// is not a box, which keeps anatomy out.)
    #[test]
    fn text_written_down_or_up_a_side_of_the_image_is_found() {
        let (w, h) = (240usize, 240usize);
        let g = Geometry::grey8(h as u32, w as u32);
        for scale in [2, 3] {
            let (tw, th) = (6 * 12 * scale, 7 * scale);
            let mut strip = vec![0u8; tw * th];
            draw(&mut strip, tw, "MRN 20240517", 0, 0, scale, 1);
            for (side, downward) in [(0, true), (0, false), (1, true), (1, false)] {
                let mut image = background(w, h);
                let x0 = if side == 0 { 8 } else { w - 8 - th };
                let (mut r0, mut r1) = (usize::MAX, 0);
                for y in 0..th {
                    for x in 0..tw {
                        if strip[y * tw + x] == 0 {
                            continue;
                        }
                        // Down: the line's start at the top; up: at the bottom.
                        let (px, py) = if downward {
                            (x0 + th - 1 - y, 10 + x)
                        } else {
                            (x0 + y, 10 + tw - 1 - x)
                        };
                        image[py * w + px] = 220;
                        (r0, r1) = (r0.min(py), r1.max(py + 1));
                    }
                }
                let found = find_text(&image, &g, None).unwrap();
                assert!(
                    found.regions.iter().any(|r| {
                        (r.rect.row_start as usize) < r1
                            && r0 < r.rect.row_end as usize
                            && (r.rect.col_start as usize) < x0 + th
                            && x0 < r.rect.col_end as usize
                    }),
                    "scale {scale}, side {side}, downward {downward}: {:?}",
                    found.regions
                );
            }
        }
        // The background alone, turned or not, holds none.
        assert!(!find_text(&background(w, h), &g, None).unwrap().has_text());
    }

    #[test]
    fn finds_a_line_of_text_and_nothing_in_a_plain_image() {
        let (w, h) = (160, 120);
        let clean = background(w, h);
        let found = find_text(&clean, &Geometry::grey8(h as u32, w as u32), None).unwrap();
        assert!(!found.has_text(), "{:?}", found.regions);
        let mut marked = clean.clone();
        draw(&mut marked, w, "MRN 12345", 4, 4, 1, 250);
        let found = find_text(&marked, &Geometry::grey8(h as u32, w as u32), None).unwrap();
        assert!(found.has_text());
        let r = found.regions[0].rect;
        assert!(
            r.row_start <= 4 && r.row_end >= 11 && r.col_start <= 4,
            "{r:?}"
        );
    }

    /// `text` drawn `scale` times the bitmap font's size at (`x`, `y`) on a `w` × `h`
    /// background is found whole, and the background alone holds no text.
    fn large_text_is_found(
        (w, h): (usize, usize),
        text: &str,
        (x, y): (usize, usize),
        scale: usize,
    ) {
        let mut marked = background(w, h);
        draw(&mut marked, w, text, x, y, scale, 230);
        let found = find_text(&marked, &Geometry::grey8(h as u32, w as u32), None).unwrap();
        let (bottom, right) = (y + 7 * scale, x + ((text.len() - 1) * 6 + 5) * scale);
        assert!(
            found.regions.iter().any(|r| r.rect.row_start as usize <= y
                && r.rect.row_end as usize >= bottom
                && r.rect.col_start as usize <= x
                && r.rect.col_end as usize >= right),
            "{text} at scale {scale}: {:?}",
            found.regions
        );
        assert!(
            !find_text(
                &background(w, h),
                &Geometry::grey8(h as u32, w as u32),
                None
            )
            .unwrap()
            .has_text()
        );
    }

    #[test]
    fn text_too_tall_for_the_full_scale_pass_is_found_at_half_scale() {
        // Glyphs 49 px tall with 7-px strokes: beyond MAX_GLYPH at full scale, 24 px at
        // half scale.
        large_text_is_found((400, 130), "MRN 12345", (8, 40), 7);
    }

    #[test]
    fn a_label_a_hundred_pixels_tall_on_a_large_image_is_found_at_a_quarter_scale() {
        // Glyphs 112 px tall with 16-px strokes on an 800-pixel image (a radiograph's
        // label): beyond the glyph limits at full and half scale, 28 px at a quarter.
        large_text_is_found((800, 800), "MRN 12", (40, 40), 16);
    }

    #[test]
    fn two_short_words_apart_by_a_colon_and_a_space_are_one_line() {
        // "ID: A7" at 23 px: the colon's dots are too small to be glyphs, so "ID" and "A7"
        // are two words of two glyphs, 14 px tall and 19 px apart. Neither is a line alone.
        let width = 80;
        let mut mask = vec![false; width * 20];
        let mut components = Vec::new();
        for x0 in [4, 16, 45, 57] {
            let c = Component {
                x0,
                y0: 3,
                x1: x0 + 9,
                y1: 16,
                area: 60,
                edges: 60,
            };
            // Sixty pixels of ink in the glyph's box, as `area` says.
            for i in 0..60 {
                mask[(3 + i / 10 * 2) * width + x0 + i % 10] = true;
            }
            components.push(c);
        }
        let found = lines(&components, &mask, width);
        assert_eq!(
            found.iter().map(|l| (l.x0, l.x1)).collect::<Vec<_>>(),
            vec![(4, 66)],
            "one line over both words"
        );
        // Words a glyph height and a half further apart are two lines of two: no text.
        for c in &mut components[2..] {
            c.x0 += 22;
            c.x1 += 22;
        }
        let mut wide = vec![false; (width + 22) * 20];
        for c in &components {
            for i in 0..60 {
                wide[(3 + i / 10 * 2) * (width + 22) + c.x0 + i % 10] = true;
            }
        }
        assert!(lines(&components, &wide, width + 22).is_empty());
    }

    /// Bands 8 px tall, dark and bright in turn: narrower than the top-hat window.
    fn stripes(w: usize, h: usize) -> Vec<u8> {
        (0..w * h)
            .map(|i| {
                if (i / w / 8).is_multiple_of(2) {
                    20
                } else {
                    140
                }
            })
            .collect()
    }

    #[test]
    fn text_standing_on_a_narrow_band_is_found() {
        // Text 14 px tall across bands 8 px tall (colour bars, ruled lines): the bands stand
        // out of the top-hat like strokes, and glyphs and bands are one shape in every cut
        // unless the bands' long runs are set apart.
        let (w, h) = (200, 60);
        let mut marked = stripes(w, h);
        draw(&mut marked, w, "MRN 12345", 4, 18, 2, 230);
        let found = find_text(&marked, &Geometry::grey8(h as u32, w as u32), None).unwrap();
        assert!(
            found
                .regions
                .iter()
                .any(|r| r.rect.row_start <= 18 && r.rect.col_start <= 4 && r.rect.col_end >= 100),
            "{:?}",
            found.regions
        );
        // The band alone is no text.
        let band = stripes(w, h);
        assert!(
            !find_text(&band, &Geometry::grey8(h as u32, w as u32), None)
                .unwrap()
                .has_text()
        );
    }

    #[test]
    fn a_line_found_in_part_reaches_the_rest_of_its_text_and_not_the_texture_beyond() {
        // "MRN 12345" 14 px tall from column 4 to 112, on dark ground that turns into faint
        // speckle at column 60 and into strong noise, over every row, at column 130.
        let (w, h) = (200, 60);
        let mut seed = 7u32;
        let mut noise = || {
            seed = seed.wrapping_mul(1_103_515_245).wrapping_add(12_345);
            (seed >> 16) as u8
        };
        let mut image = vec![20u8; w * h];
        for y in 0..h {
            for x in 60..w {
                let n = noise();
                image[y * w + x] = if x < 130 { 60 + n % 40 } else { n };
            }
        }
        draw(&mut image, w, "MRN 12345", 4, 20, 2, 230);
        let plane = Plane {
            width: w,
            height: h,
            values: image.iter().map(|&v| v as u16).collect(),
        };
        // Confirmation boxed its first three glyphs only.
        let part = Rect {
            row_start: 18,
            row_end: 36,
            col_start: 2,
            col_end: 40,
        };
        let grown = reach(&plane, part, 8);
        assert!(grown.col_end >= 112, "{grown:?}");
        assert!(
            grown.col_end < 130,
            "the line ran into the noise: {grown:?}"
        );
        assert!(grown.row_start <= 20 && grown.row_end >= 34, "{grown:?}");
        assert_eq!(grown.col_start, 2, "{grown:?}");
        // Noise everywhere is no continuation: a box in it stays as it is, within a few
        // columns at each end.
        let loud: Vec<u16> = (0..w * h).map(|_| noise() as u16).collect();
        let plane = Plane {
            width: w,
            height: h,
            values: loud,
        };
        let r = Rect {
            row_start: 20,
            row_end: 36,
            col_start: 80,
            col_end: 120,
        };
        let same = reach(&plane, r, 8);
        assert!(same.col_start + 8 >= 80 && same.col_end <= 128, "{same:?}");
    }

    #[test]
    fn a_palette_with_an_empty_table_is_not_searched_as_blank() {
        // Every value would read as one colour and the search find nothing: the image
        // must count as unexamined (an error), never as free of text.
        let (w, h) = (64, 32);
        let mut image = vec![20u8; w * h];
        draw(&mut image, w, "MRN 12", 4, 8, 2, 230);
        let g = Geometry {
            photometric: Photometric::PaletteColor,
            ..Geometry::grey8(h as u32, w as u32)
        };
        let empty = Palette {
            first_mapped: 0,
            red: Vec::new(),
            green: vec![0; 256],
            blue: vec![0; 256],
        };
        assert!(find_text(&image, &g, Some(&empty)).is_err());
        assert!(text_candidates(&image, &g, Some(&empty)).is_err());
    }

    #[test]
    fn a_rule_across_a_narrow_tile_is_no_stroke() {
        // A rule under a line of text in a 70-px tile runs across it; glyphs standing on
        // it would be one shape with it. A glyph's bar (30 px) stays.
        let w = 70;
        let mut mask = vec![false; w * 2];
        mask[..60].fill(true);
        mask[w + 5..w + 35].fill(true);
        drop_long_runs(&mut mask, w);
        assert!(!mask[..w].contains(&true));
        assert_eq!(mask[w..].iter().filter(|&&m| m).count(), 30);
        // In a wide tile only runs longer than twice the tallest glyph go.
        let w = 300;
        let mut mask = vec![false; w * 2];
        mask[..90].fill(true);
        mask[w..w + 2 * MAX_GLYPH + 1].fill(true);
        drop_long_runs(&mut mask, w);
        assert_eq!(mask[..w].iter().filter(|&&m| m).count(), 90);
        assert!(!mask[w..].contains(&true));
    }

    #[test]
    fn dim_text_on_anatomy_and_dark_text_on_bright() {
        let (w, h) = (160, 120);
        let mut image = background(w, h);
        // Grey on grey anatomy (about 150 there): 45 levels brighter, 18 % of the range.
        draw(&mut image, w, "A1234", 50, 50, 2, 195);
        let found = find_text(&image, &Geometry::grey8(h as u32, w as u32), None).unwrap();
        assert!(found.has_text());
        let mut bright = vec![240u8; w * h];
        draw(&mut bright, w, "RAN 0321", 10, 90, 1, 200);
        let found = find_text(&bright, &Geometry::grey8(h as u32, w as u32), None).unwrap();
        assert!(found.has_text());
    }

    #[test]
    fn text_in_the_bits_above_high_bit_is_found_and_cleared() {
        let (w, h) = (120, 40);
        let mut bits = vec![0u8; w * h];
        draw(&mut bits, w, "MRN 2024", 2, 2, 1, 1);
        let (mut data, g) = in_bit_15(&bits, w, h);
        assert!(find_text(&data, &g, None).unwrap().has_text());
        assert!(clear_high_bits(&mut data, &g) > 0);
        assert!(data.chunks(2).all(|p| p[1] & 0xF0 == 0));
        assert!(!find_text(&data, &g, None).unwrap().has_text());
        // The same overlay in the green samples of 16-bit RGB, colour by plane.
        let rgb = Geometry {
            samples_per_pixel: 3,
            planar: true,
            photometric: Photometric::Rgb,
            ..g.clone()
        };
        let mut planes = vec![0u8; w * h * 2];
        planes.extend(
            bits.iter()
                .flat_map(|&b| (if b != 0 { 0x8000u16 } else { 0 }).to_le_bytes()),
        );
        planes.extend(vec![0u8; w * h * 2]);
        assert!(find_text(&planes, &rgb, None).unwrap().has_text());
        assert!(clear_high_bits(&mut planes, &rgb) > 0);
        assert!(!find_text(&planes, &rgb, None).unwrap().has_text());
        // The same overlay in bit 31 of 32-bit data with 24 bits stored.
        let g32 = Geometry {
            bits_allocated: 32,
            bits_stored: 24,
            ..g.clone()
        };
        let mut wide: Vec<u8> = bits
            .iter()
            .enumerate()
            .flat_map(|(i, &b)| {
                (((i % 4000) as u32) | if b != 0 { 0x8000_0000 } else { 0 }).to_le_bytes()
            })
            .collect();
        assert!(find_text(&wide, &g32, None).unwrap().has_text());
        assert!(clear_high_bits(&mut wide, &g32) > 0);
        assert!(wide.chunks(4).all(|q| q[3] == 0));
        assert!(!find_text(&wide, &g32, None).unwrap().has_text());
        // Sign extension is what signed values imply: no overlay, nothing cleared.
        let signed = Geometry {
            signed: true,
            ..g.clone()
        };
        let mut negative: Vec<u8> = (0..w * h).flat_map(|_| (-5i16).to_le_bytes()).collect();
        assert!(!find_text(&negative, &signed, None).unwrap().has_text());
        assert_eq!(clear_high_bits(&mut negative, &signed), 0);
    }

    /// Large text in a bitmap (an overlay plane, the bits above High Bit) is searched at
    /// half scale too, as in the image values: glyphs taller than the full-scale search
    /// takes (35 and 42 px, strokes 5 and 6 px wide) are found.
    #[test]
    fn large_text_in_an_overlay_or_the_high_bits_is_found() {
        let (w, h) = (320, 100);
        for scale in [5, 6] {
            let mut bits = vec![0u8; w * h];
            draw(&mut bits, w, "MRN 2024", 10, 20, scale, 1);
            let found = find_text_in_bitmap(&bits, h, w, 0);
            assert!(found.has_text(), "overlay, glyphs {} px", 7 * scale);
            let (data, g) = in_bit_15(&bits, w, h);
            let found = find_text(&data, &g, None).unwrap();
            assert!(found.has_text(), "high bits, glyphs {} px", 7 * scale);
        }
    }

    #[test]
    fn a_zone_blanked_to_the_darkest_value_does_not_hide_text() {
        // 16-bit anatomy (a disc from 30000 to 30400 on 29000) with text 600 above it,
        // and a zone already blanked to 0 covering 2 % of the image, as verify sees a
        // redacted image: the blank does not stretch the range the strong steps are
        // measured against.
        let (w, h) = (160usize, 120usize);
        let base = background(w, h);
        let mut text = vec![0u8; w * h];
        draw(&mut text, w, "MRN 12345", 30, 60, 1, 1);
        let words: Vec<u16> = (0..w * h)
            .map(|i| {
                let (x, y) = (i % w, i / w);
                if x < 24 && y < 16 {
                    0
                } else if text[i] != 0 {
                    31000
                } else if base[i] > 10 {
                    30000 + (x as u16) * 2
                } else {
                    29000
                }
            })
            .collect();
        let data: Vec<u8> = words.iter().flat_map(|v| v.to_le_bytes()).collect();
        let g = Geometry {
            bits_allocated: 16,
            bits_stored: 16,
            ..Geometry::grey8(h as u32, w as u32)
        };
        let zone = Rect {
            row_start: 0,
            row_end: 16,
            col_start: 0,
            col_end: 24,
        };
        let found = find_text_beside(&data, &g, None, &[zone]).unwrap();
        assert!(found.has_text(), "{found:?}");
    }

    #[test]
    fn coverage_by_zones() {
        let region = Rect {
            row_start: 0,
            row_end: 12,
            col_start: 0,
            col_end: 40,
        };
        let left = Rect {
            row_start: 0,
            row_end: 12,
            col_start: 0,
            col_end: 20,
        };
        let right = Rect {
            col_start: 20,
            col_end: 40,
            ..left
        };
        assert!(covered(&region, &[left, right]));
        assert!(!covered(&region, &[left]));
    }

    /// A deterministic pseudo-random sequence (xorshift), for masks and planes.
    fn noise(seed: u64) -> impl FnMut() -> u64 {
        let mut x = seed | 1;
        move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        }
    }

    #[test]
    fn run_labelling_equals_a_flood_fill() {
        for (seed, (w, h), density) in [
            (1, (37, 23), 2),
            (2, (64, 64), 3),
            (3, (1, 50), 2),
            (4, (50, 1), 2),
            (5, (97, 41), 5),
        ] {
            let mut next = noise(seed);
            let mask: Vec<bool> = (0..w * h).map(|_| next().is_multiple_of(density)).collect();
            let mut cuts = Cuts::default();
            let got = label(&mask, &mut cuts, w, h);
            // Flood fill, 8-connected, components in the raster order of their first pixel.
            let mut seen = vec![false; w * h];
            let mut want = Vec::new();
            for start in 0..w * h {
                if !mask[start] || seen[start] {
                    continue;
                }
                seen[start] = true;
                let mut stack = vec![start];
                let (mut x0, mut y0, mut x1, mut y1, mut area, mut edges) =
                    (usize::MAX, usize::MAX, 0, 0, 0, 0);
                while let Some(i) = stack.pop() {
                    let (x, y) = (i % w, i / w);
                    (x0, y0, x1, y1) = (x0.min(x), y0.min(y), x1.max(x), y1.max(y));
                    area += 1;
                    let set = |xx: i64, yy: i64| {
                        xx >= 0
                            && yy >= 0
                            && (xx as usize) < w
                            && (yy as usize) < h
                            && mask[yy as usize * w + xx as usize]
                    };
                    let (xi, yi) = (x as i64, y as i64);
                    edges += [(-1, 0), (1, 0), (0, -1), (0, 1)]
                        .iter()
                        .filter(|(dx, dy)| !set(xi + dx, yi + dy))
                        .count();
                    for dy in -1..=1 {
                        for dx in -1..=1 {
                            if set(xi + dx, yi + dy) {
                                let j = (yi + dy) as usize * w + (xi + dx) as usize;
                                if !seen[j] {
                                    seen[j] = true;
                                    stack.push(j);
                                }
                            }
                        }
                    }
                }
                want.push((x0, y0, x1, y1, area, edges));
            }
            let got: Vec<_> = got
                .iter()
                .map(|c| (c.x0, c.y0, c.x1, c.y1, c.area, c.edges))
                .collect();
            assert_eq!(got, want, "seed {seed}, {w}x{h}");
        }
    }

    #[test]
    fn min_and_max_filters_equal_their_definition() {
        for (seed, (w, h)) in [(7, (40, 33)), (8, (1, 20)), (9, (20, 1)), (10, (15, 16))] {
            let mut next = noise(seed);
            let values: Vec<u16> = (0..w * h).map(|_| next() as u16).collect();
            let r = TOPHAT as i64 / 2;
            for bright in [true, false] {
                let op: fn(u16, u16) -> u16 = if bright { u16::min } else { u16::max };
                let mut lines = Lines::default();
                let mut out = Vec::new();
                filter2d(&values, w, h, op, &mut lines, &mut out);
                for y in 0..h as i64 {
                    for x in 0..w as i64 {
                        let want = (y - r..=y + r)
                            .filter(|yy| (0..h as i64).contains(yy))
                            .flat_map(|yy| {
                                (x - r..=x + r)
                                    .filter(|xx| (0..w as i64).contains(xx))
                                    .map(move |xx| (yy, xx))
                            })
                            .map(|(yy, xx)| values[yy as usize * w + xx as usize])
                            .reduce(op)
                            .unwrap();
                        assert_eq!(out[y as usize * w + x as usize], want, "{w}x{h} at {x},{y}");
                    }
                }
            }
        }
    }

    #[test]
    fn bitmaps_and_noise() {
        let (w, h) = (96, 32);
        let mut bits = vec![0u8; w * h];
        draw(&mut bits, w, "2024", 2, 2, 1, 1);
        assert!(find_text_in_bitmap(&bits, h, w, 0).has_text());
        // Uniform noise: blobs everywhere, no lines.
        let mut state = 0x12345678u32;
        let noise: Vec<u8> = (0..256 * 256)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 17;
                state ^= state << 5;
                (state >> 24) as u8
            })
            .collect();
        let found = find_text(&noise, &Geometry::grey8(256, 256), None).unwrap();
        assert!(!found.has_text(), "{:?}", found.regions);
    }

    #[cfg(feature = "learned")]
    #[test]
    fn a_small_frame_the_network_cannot_read_is_unexamined_not_clean() {
        let plane = Plane {
            width: 64,
            height: 64,
            values: vec![0; 64 * 64],
        };
        let mut found = Detection::default();
        let broken = |_: &Plane| Err(RedactError::Learned("the plan did not run".into()));
        let e = add_lines_read(std::slice::from_ref(&plane), 0, &mut found, broken);
        assert!(matches!(e, Err(RedactError::Learned(_))), "{e:?}");
        // A network that reads it adds its lines.
        let line = Rect {
            row_start: 10,
            row_end: 20,
            col_start: 4,
            col_end: 60,
        };
        add_lines_read(&[plane], 0, &mut found, |_: &Plane| Ok(vec![line])).unwrap();
        assert_eq!(found.regions.len(), 1);
        assert_eq!(found.regions[0].learned, Some(true));
    }
}
