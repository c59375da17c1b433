//! Blanking zones of native pixel data in place, every frame in parallel, and checking
//! that zones are blank.

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::RedactError;
use crate::fill::Fill;
use crate::geometry::{Geometry, Photometric, Rect};

/// What blanking did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Blanked {
    /// The zones as applied: clipped to the image, and widened to pixel pairs where the
    /// layout shares samples between neighbours (YBR_FULL_422).
    pub applied: Vec<Rect>,
    /// Zones that lie wholly outside the image: not applied.
    pub outside: Vec<Rect>,
    /// Pixels blanked per frame.
    pub pixels_per_frame: u64,
}

/// The zones as they apply to an image of `geometry`: clipped, and widened to pixel pairs
/// for YBR_FULL_422 (blanking half a pair would leave its shared colour).
pub fn effective_zones(geometry: &Geometry, zones: &[Rect]) -> (Vec<Rect>, Vec<Rect>) {
    let mut applied = Vec::new();
    let mut outside = Vec::new();
    for zone in zones {
        match zone.clip(geometry.rows, geometry.columns) {
            Some(clipped) if geometry.photometric == Photometric::YbrFull422 => {
                applied.push(clipped.to_pairs(geometry.columns))
            }
            Some(clipped) => applied.push(clipped),
            None => outside.push(*zone),
        }
    }
    (applied, outside)
}

fn check_len(data: &[u8], geometry: &Geometry) -> Result<(), RedactError> {
    geometry.validate()?;
    if data.len() < geometry.data_len() {
        return Err(RedactError::Layout(format!(
            "{} bytes of pixel data where {} × {} × {} frames of {} samples at {} bits need {}",
            data.len(),
            geometry.rows,
            geometry.columns,
            geometry.frames,
            geometry.samples_per_pixel,
            geometry.bits_allocated,
            geometry.data_len()
        )));
    }
    Ok(())
}

/// Blanks `zones` in every frame of native little endian `data`, in place.
pub fn blank(
    data: &mut [u8],
    geometry: &Geometry,
    zones: &[Rect],
    fill: &Fill,
) -> Result<Blanked, RedactError> {
    check_len(data, geometry)?;
    let (applied, outside) = effective_zones(geometry, zones);
    let pixels_per_frame = covered_pixels(&applied, geometry);
    if geometry.bits_allocated == 1 {
        blank_bits(data, geometry, &applied, fill.samples[0] & 1 == 1);
    } else {
        let frame_len = geometry.frame_len();
        let pixel = fill.pixel_bytes(geometry);
        let planes = [0, 1, 2].map(|p| fill.sample_bytes(geometry, p));
        let planes = &planes[..(geometry.samples_per_pixel as usize).min(3)];
        let frames = &mut data[..frame_len * geometry.frames as usize];
        let blank_one = |frame: &mut [u8]| {
            for zone in &applied {
                blank_frame(frame, geometry, zone, pixel.as_slice(), planes);
            }
        };
        // Frames in parallel when there are several; one frame is faster on this thread
        // than the cost of handing it to another.
        if geometry.frames > 1 {
            frames.par_chunks_mut(frame_len).for_each(blank_one);
        } else {
            blank_one(frames);
        }
    }
    Ok(Blanked {
        applied,
        outside,
        pixels_per_frame,
    })
}

/// Pixels inside the union of the zones (overlaps counted once).
fn covered_pixels(zones: &[Rect], geometry: &Geometry) -> u64 {
    let overlap = |a: &Rect, b: &Rect| {
        a.row_start < b.row_end
            && b.row_start < a.row_end
            && a.col_start < b.col_end
            && b.col_start < a.col_end
    };
    let disjoint = zones
        .iter()
        .enumerate()
        .all(|(i, a)| zones[i + 1..].iter().all(|b| !overlap(a, b)));
    if disjoint {
        return zones.iter().map(Rect::area).sum();
    }
    let mut spans: Vec<(u32, u32)> = Vec::with_capacity(zones.len());
    (0..geometry.rows)
        .map(|row| {
            spans.clear();
            spans.extend(
                zones
                    .iter()
                    .filter(|z| (z.row_start..z.row_end).contains(&row))
                    .map(|z| (z.col_start, z.col_end)),
            );
            spans.sort_unstable();
            let (mut total, mut end) = (0u64, 0u32);
            for &(s, e) in &spans {
                let s = s.max(end);
                if e > s {
                    total += (e - s) as u64;
                    end = e;
                }
            }
            total
        })
        .sum()
}

/// Writes `pattern` over every whole pattern-sized chunk of `span`: one `fill` when all
/// its bytes are equal (the common case: black is zeros), else a copy per pixel.
fn fill_span(span: &mut [u8], pattern: &[u8]) {
    match pattern {
        [] => {}
        [first, rest @ ..] if rest.iter().all(|b| b == first) => span.fill(*first),
        _ => span
            .chunks_exact_mut(pattern.len())
            .for_each(|px| px.copy_from_slice(pattern)),
    }
}

fn blank_frame(
    frame: &mut [u8],
    g: &Geometry,
    zone: &Rect,
    pixel: &[u8],
    planes: &[crate::fill::Pattern],
) {
    let columns = g.columns as usize;
    let rows = zone.row_start as usize..zone.row_end as usize;
    let (c0, c1) = (zone.col_start as usize, zone.col_end as usize);
    if g.photometric == Photometric::YbrFull422 {
        // Four bytes per pair of pixels: Y Y Cb Cr.
        let row_len = columns * 2;
        for row in rows {
            let start = row * row_len + c0 * 2;
            fill_span(&mut frame[start..row * row_len + c1 * 2], pixel);
        }
    } else if g.planar && g.samples_per_pixel > 1 {
        let n = g.sample_bytes();
        let plane_len = g.rows as usize * columns * n;
        for (p, sample) in planes.iter().enumerate() {
            let plane = &mut frame[p * plane_len..(p + 1) * plane_len];
            for row in rows.clone() {
                let base = row * columns * n;
                fill_span(&mut plane[base + c0 * n..base + c1 * n], sample.as_slice());
            }
        }
    } else {
        let n = pixel.len();
        for row in rows {
            let base = row * columns * n;
            fill_span(&mut frame[base + c0 * n..base + c1 * n], pixel);
        }
    }
}

/// 1-bit data: pixels are packed eight to a byte, first pixel in the least significant
/// bit (PS3.5 8.1.1), and frames follow each other without byte alignment.
fn blank_bits(data: &mut [u8], g: &Geometry, zones: &[Rect], set: bool) {
    let per_frame = g.rows as usize * g.columns as usize;
    for frame in 0..g.frames as usize {
        for zone in zones {
            for row in zone.row_start as usize..zone.row_end as usize {
                for col in zone.col_start as usize..zone.col_end as usize {
                    let bit = frame * per_frame + row * g.columns as usize + col;
                    let mask = 1u8 << (bit % 8);
                    if set {
                        data[bit / 8] |= mask;
                    } else {
                        data[bit / 8] &= !mask;
                    }
                }
            }
        }
    }
}

/// The first pixel (frame, row, column) inside `zones` that does not hold `fill`; `None`
/// when every zone of every frame is blank. Zones are taken as given (already effective).
pub fn first_unblanked(
    data: &[u8],
    geometry: &Geometry,
    zones: &[Rect],
    fill: &Fill,
) -> Result<Option<(u32, u32, u32)>, RedactError> {
    check_len(data, geometry)?;
    let g = geometry;
    let columns = g.columns as usize;
    if g.bits_allocated == 1 {
        let want = fill.samples[0] & 1 == 1;
        let per_frame = g.rows as usize * columns;
        for frame in 0..g.frames as usize {
            for zone in zones {
                for row in zone.row_start..zone.row_end {
                    for col in zone.col_start..zone.col_end {
                        let bit = frame * per_frame + row as usize * columns + col as usize;
                        if ((data[bit / 8] >> (bit % 8)) & 1 == 1) != want {
                            return Ok(Some((frame as u32, row, col)));
                        }
                    }
                }
            }
        }
        return Ok(None);
    }
    let frame_len = g.frame_len();
    let pixel = fill.pixel_bytes(g);
    let pixel = pixel.as_slice();
    let n = g.sample_bytes();
    for frame in 0..g.frames as usize {
        let f = &data[frame * frame_len..(frame + 1) * frame_len];
        for zone in zones {
            for row in zone.row_start..zone.row_end {
                let r = row as usize;
                for col in zone.col_start..zone.col_end {
                    let c = col as usize;
                    let ok = if g.photometric == Photometric::YbrFull422 {
                        let pair = r * columns * 2 + (c & !1) * 2;
                        f[pair + (c & 1)] == pixel[0] && f[pair + 2..pair + 4] == pixel[2..4]
                    } else if g.planar && g.samples_per_pixel > 1 {
                        let plane_len = g.rows as usize * columns * n;
                        (0..g.samples_per_pixel as usize).all(|p| {
                            let at = p * plane_len + (r * columns + c) * n;
                            f[at..at + n] == *fill.sample_bytes(g, p).as_slice()
                        })
                    } else {
                        let at = (r * columns + c) * pixel.len();
                        f[at..at + pixel.len()] == pixel[..]
                    };
                    if !ok {
                        return Ok(Some((frame as u32, row, col)));
                    }
                }
            }
        }
    }
    Ok(None)
}
