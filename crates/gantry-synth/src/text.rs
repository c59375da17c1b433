//! Real text for pixels: strings rasterised with the embedded DejaVu fonts (anti-aliased
//! coverage masks), for the synthetic dump's burned-in annotations and the labelled
//! detection benchmark.

use ab_glyph::{Font, FontRef, PxScale, ScaleFont, point};

static SANS: &[u8] = include_bytes!("../data/fonts/DejaVuSans.ttf");
static MONO_BOLD: &[u8] = include_bytes!("../data/fonts/DejaVuSansMono-Bold.ttf");

/// Which embedded face to draw with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Face {
    /// DejaVu Sans, proportional.
    Sans,
    /// DejaVu Sans Mono Bold, as many consoles burn text.
    MonoBold,
}

/// A string as coverage: `width × height` values 0 (none) to 255 (full).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mask {
    /// Columns.
    pub width: usize,
    /// Rows.
    pub height: usize,
    /// Coverage, row by row.
    pub coverage: Vec<u8>,
}

impl Mask {
    /// Coverage at `(x, y)`, 0 outside.
    pub fn at(&self, x: usize, y: usize) -> u8 {
        if x < self.width && y < self.height {
            self.coverage[y * self.width + x]
        } else {
            0
        }
    }
}

/// Rasterises `text` so that capital letters are `cap_height` pixels tall.
pub fn rasterize(text: &str, cap_height: f32, face: Face) -> Mask {
    let bytes = match face {
        Face::Sans => SANS,
        Face::MonoBold => MONO_BOLD,
    };
    let Ok(font) = FontRef::try_from_slice(bytes) else {
        return Mask {
            width: 0,
            height: 0,
            coverage: Vec::new(),
        };
    };
    // DejaVu's capitals are 0.729 em tall; ab_glyph scales by ascent − descent, not em.
    let em_per_height = font
        .units_per_em()
        .map(|u| font.height_unscaled() / u)
        .unwrap_or(1.164);
    let scale = PxScale::from(cap_height / 0.729 * em_per_height);
    let scaled = font.as_scaled(scale);
    let ascent = scaled.ascent();
    let height = (ascent - scaled.descent()).ceil() as usize + 2;
    let mut caret = 1.0f32;
    let mut glyphs = Vec::new();
    let mut previous = None;
    for c in text.chars() {
        let id = font.glyph_id(c);
        if let Some(p) = previous {
            caret += scaled.kern(p, id);
        }
        glyphs.push(id.with_scale_and_position(scale, point(caret, ascent + 1.0)));
        caret += scaled.h_advance(id);
        previous = Some(id);
    }
    let width = caret.ceil() as usize + 2;
    let mut coverage = vec![0u8; width * height];
    for glyph in glyphs {
        if let Some(outline) = font.outline_glyph(glyph) {
            let bounds = outline.px_bounds();
            outline.draw(|x, y, c| {
                let px = bounds.min.x as i64 + x as i64;
                let py = bounds.min.y as i64 + y as i64;
                if px >= 0 && py >= 0 && (px as usize) < width && (py as usize) < height {
                    let cell = &mut coverage[py as usize * width + px as usize];
                    *cell = (*cell).max((c.clamp(0.0, 1.0) * 255.0).round() as u8);
                }
            });
        }
    }
    Mask {
        width,
        height,
        coverage,
    }
}

/// The tight box of a mask's pixels at least a quarter covered: `(x0, y0, x1, y1)`, end
/// exclusive; `None` for an empty mask.
pub fn ink_box(mask: &Mask) -> Option<(usize, usize, usize, usize)> {
    ink_box_where(mask, |_, _| true)
}

/// [`ink_box`] of the ink pixels `(x, y)` for which `keep` holds.
pub(crate) fn ink_box_where(
    mask: &Mask,
    keep: impl Fn(usize, usize) -> bool,
) -> Option<(usize, usize, usize, usize)> {
    let (mut x0, mut y0, mut x1, mut y1) = (usize::MAX, usize::MAX, 0, 0);
    for y in 0..mask.height {
        for x in 0..mask.width {
            if mask.at(x, y) >= 64 && keep(x, y) {
                x0 = x0.min(x);
                y0 = y0.min(y);
                x1 = x1.max(x + 1);
                y1 = y1.max(y + 1);
            }
        }
    }
    (x0 != usize::MAX).then_some((x0, y0, x1, y1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capitals_come_out_at_the_asked_height() {
        for h in [7.0, 12.0, 28.0] {
            let mask = rasterize("HELLO", h, Face::Sans);
            let (_, y0, _, y1) = ink_box(&mask).unwrap();
            assert!(((y1 - y0) as f32 - h).abs() <= 1.0, "{h}: {}", y1 - y0);
        }
    }
}
