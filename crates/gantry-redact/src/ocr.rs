//! Reading what a detected region says, with Tesseract (cargo feature `ocr`, through
//! Debian's `libtesseract-dev` and the `tesseract` binding).
//!
//! The detector decides; a reading only tells a person what the detector found, so that a
//! blocked image's reason says "a name and an eight-digit number" rather than "text". A
//! reading never clears a region: Tesseract misses text the detector finds (dim, small,
//! on texture), and an empty reading says only that Tesseract read nothing.
//!
//! Each region is cut from the sample plane where it stands out most, stretched to 8 bits,
//! turned dark on light (the background is the majority of a line's box), scaled up so that
//! its glyphs are about 36 pixels tall (Tesseract reads poorly under 20), framed in a white
//! border and read as one line of text, by one engine for all the regions of a call. What
//! comes back holds PHI: [`Reading::masked`] is what reports show.

use tesseract::{PageSegMode, Tesseract};

use crate::RedactError;
use crate::fill::Palette;
use crate::geometry::{Geometry, Rect};
use crate::text::{Plane, TextRegion, planes};

/// What Tesseract reads in one region.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reading {
    /// The text read, as Tesseract gives it (holds PHI: never put it in a report).
    pub text: String,
    /// Tesseract's mean word confidence, 0 to 100.
    pub confidence: i32,
}

impl Reading {
    /// The reading with every letter and digit masked ([`mask`]): what a report shows.
    pub fn masked(&self) -> String {
        mask(&self.text)
    }
}

/// `text` with every capital shown as `A`, small letter as `a` and digit as `9` (any
/// script), punctuation and spaces kept: the shape of what was read (a name, a date, a
/// number of eight digits), none of its content.
pub fn mask(text: &str) -> String {
    text.split_whitespace()
        .map(|word| {
            word.chars()
                .map(|c| {
                    if c.is_numeric() {
                        '9'
                    } else if c.is_uppercase() {
                        'A'
                    } else if c.is_alphabetic() {
                        'a'
                    } else {
                        c
                    }
                })
                .collect::<String>()
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// Glyph height, in pixels, the crop is scaled to.
const READ_HEIGHT: u32 = 36;
/// The white border around the crop.
const BORDER: usize = 12;

/// Reads each of `regions` in native pixel data laid out as `geometry` says (as
/// [`crate::find_text`] takes it). A region with nothing read in it gives `None`: Tesseract
/// read nothing, or the region is flat in every plane, so there was nothing to give it.
pub fn read_regions(
    data: &[u8],
    geometry: &Geometry,
    palette: Option<&Palette>,
    regions: &[TextRegion],
) -> Result<Vec<Option<Reading>>, RedactError> {
    geometry.validate()?;
    let frame_len = geometry.frame_len();
    let mut out = Vec::with_capacity(regions.len());
    // The planes of the frame last read: regions come a frame at a time.
    let mut cached: Option<(u32, Vec<Plane>)> = None;
    let mut engine = None;
    for region in regions {
        if cached.as_ref().is_none_or(|(f, _)| *f != region.frame) {
            let start = region.frame as usize * frame_len;
            let Some(frame) = data.get(start..start + frame_len) else {
                return Err(RedactError::Layout(format!(
                    "frame {} is past the end of the pixel data",
                    region.frame
                )));
            };
            cached = Some((region.frame, planes(frame, geometry, palette)));
        }
        let planes = cached.as_ref().map_or(&[][..], |(_, p)| p.as_slice());
        let Some(crop) = best_crop(planes, geometry.columns as usize, &region.rect) else {
            out.push(None);
            continue;
        };
        out.push(read_line(&mut engine, &crop)?);
    }
    Ok(out)
}

/// An 8-bit grey image, dark text on light.
struct Crop {
    width: usize,
    height: usize,
    values: Vec<u8>,
}

/// The region cut from the plane where its values spread widest, stretched to 0–255 and
/// turned dark on light.
fn best_crop(planes: &[Plane], width: usize, rect: &Rect) -> Option<Crop> {
    let (x0, x1) = (rect.col_start as usize, (rect.col_end as usize).min(width));
    let (y0, y1) = (rect.row_start as usize, rect.row_end as usize);
    if x1 <= x0 || y1 <= y0 {
        return None;
    }
    let (w, h) = (x1 - x0, y1 - y0);
    let mut best: Option<(u32, Vec<u16>, u16, u16)> = None;
    for plane in planes {
        if y1 > plane.height || x1 > plane.width {
            continue;
        }
        let mut values = Vec::with_capacity(w * h);
        for y in y0..y1 {
            values.extend_from_slice(&plane.values[y * plane.width + x0..y * plane.width + x1]);
        }
        let mut sorted = values.clone();
        sorted.sort_unstable();
        let (lo, hi) = (
            sorted[sorted.len() / 50],
            sorted[sorted.len() - 1 - sorted.len() / 50],
        );
        let spread = (hi - lo) as u32;
        if best.as_ref().is_none_or(|b| spread > b.0) {
            best = Some((spread, values, lo, hi));
        }
    }
    let (spread, values, lo, _) = best?;
    if spread == 0 {
        return None;
    }
    let mut grey: Vec<u8> = values
        .iter()
        .map(|&v| ((v.saturating_sub(lo) as u32 * 255) / spread).min(255) as u8)
        .collect();
    // The background is most of a line's box: when it is dark, the text is light.
    let mut sorted = grey.clone();
    sorted.sort_unstable();
    if sorted[sorted.len() / 2] < 128 {
        for v in &mut grey {
            *v = 255 - *v;
        }
    }
    Some(Crop {
        width: w,
        height: h,
        values: grey,
    })
}

/// The crop scaled (bilinear) so that its glyphs are about [`READ_HEIGHT`] tall, in a white
/// border.
fn prepared(crop: &Crop) -> Crop {
    // The box holds the glyphs with two pixels of margin above and below.
    let glyph = (crop.height as u32).saturating_sub(4).max(1);
    let scale = READ_HEIGHT.div_ceil(glyph).clamp(1, 8) as usize;
    let (w, h) = (crop.width * scale, crop.height * scale);
    let (out_w, out_h) = (w + 2 * BORDER, h + 2 * BORDER);
    let mut values = vec![255u8; out_w * out_h];
    let at = |x: usize, y: usize| {
        crop.values[y.min(crop.height - 1) * crop.width + x.min(crop.width - 1)] as f32
    };
    for y in 0..h {
        let sy = ((y as f32 + 0.5) / scale as f32 - 0.5).max(0.0);
        let (y_lo, fy) = (sy.floor() as usize, sy.fract());
        for x in 0..w {
            let sx = ((x as f32 + 0.5) / scale as f32 - 0.5).max(0.0);
            let (x_lo, fx) = (sx.floor() as usize, sx.fract());
            let top = at(x_lo, y_lo) * (1.0 - fx) + at(x_lo + 1, y_lo) * fx;
            let bottom = at(x_lo, y_lo + 1) * (1.0 - fx) + at(x_lo + 1, y_lo + 1) * fx;
            values[(y + BORDER) * out_w + x + BORDER] = (top * (1.0 - fy) + bottom * fy) as u8;
        }
    }
    Crop {
        width: out_w,
        height: out_h,
        values,
    }
}

/// Tesseract's reading of one line, or `None` when it reads nothing. `slot` holds the
/// engine of this call to [`read_regions`] (started on first use, kept for its next
/// region, and dropped with the call: an engine kept past the end of the process makes
/// Tesseract report its language data as leaked).
fn read_line(slot: &mut Option<Tesseract>, crop: &Crop) -> Result<Option<Reading>, RedactError> {
    let image = prepared(crop);
    let failed = |e: &dyn std::fmt::Display| RedactError::Ocr(e.to_string());
    let engine = match slot.take() {
        Some(engine) => engine,
        None => Tesseract::new(None, Some("eng")).map_err(|e| failed(&e))?,
    };
    let mut engine = engine
        .set_frame(
            &image.values,
            image.width as i32,
            image.height as i32,
            1,
            image.width as i32,
        )
        .map_err(|e| failed(&e))?;
    engine.set_page_seg_mode(PageSegMode::PsmSingleLine);
    let mut engine = engine
        .set_source_resolution(300)
        .recognize()
        .map_err(|e| failed(&e))?;
    let text = engine.get_text().map_err(|e| failed(&e))?;
    let confidence = engine.mean_text_conf();
    *slot = Some(engine);
    let text = text.split_whitespace().collect::<Vec<_>>().join(" ");
    Ok((!text.is_empty()).then_some(Reading { text, confidence }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_mask_keeps_the_shape_and_none_of_the_content() {
        assert_eq!(
            mask("DOE^JANE  MRN 48201937\n2021-03-04 Müller"),
            "AAA^AAAA AAA 99999999 9999-99-99 Aaaaaa"
        );
        assert_eq!(mask(""), "");
    }
}
