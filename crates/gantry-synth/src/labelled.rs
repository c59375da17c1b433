//! A labelled set for the burned-in text detector: real backgrounds (decoded from DICOM
//! files, plus synthetic speckle, noise and gradients), PHI-like strings drawn with a real
//! font at cap heights 7 to 28 px, at several contrasts (dim grey on dark included), colours
//! and positions, in every pixel layout Gantry reads, and the same images without text as
//! controls. Each image says where its text is.

use std::path::Path;

use gantry_redact::{Geometry, Palette, Photometric, Rect};

use crate::text::{Face, Mask, ink_box, ink_box_where, rasterize};

/// A grey background, values 0 to 1.
#[derive(Debug, Clone)]
pub struct Background {
    /// Where it came from.
    pub name: String,
    /// Columns.
    pub width: usize,
    /// Rows.
    pub height: usize,
    /// Values, row by row.
    pub grey: Vec<f32>,
}

/// One labelled image.
#[derive(Debug, Clone)]
pub struct Labelled {
    /// Background, layout, and what was drawn.
    pub name: String,
    /// Layout of `data`.
    pub geometry: Geometry,
    /// Native little-endian samples.
    pub data: Vec<u8>,
    /// The palette of PALETTE COLOR images.
    pub palette: Option<Palette>,
    /// Where the text is: (frame, box of the glyph pixels the text changed, in the values
    /// of this layout). Empty for controls. Glyph pixels drawn in a background's own value
    /// (black ink across a black band) carry nothing and lie outside it.
    pub truth: Vec<(u32, Rect)>,
    /// The box of every glyph pixel drawn, seen or not: `truth` before that rule.
    pub drawn: Vec<(u32, Rect)>,
    /// Text hidden in the bits above High Bit, not in the image values.
    pub in_high_bits: bool,
}

/// The pixel layouts of the set.
pub const LAYOUTS: &[&str] = &[
    "mono8",
    "mono16_12bit",
    "signed16",
    "monochrome1",
    "rgb",
    "rgb_planar",
    "ybr_full_422",
    "palette",
    "multiframe",
    "high_bits",
];

const STRINGS: &[&str] = &[
    "DOE^JANE",
    "MRN 4820193",
    "12/03/1961",
    "Smith, Anna",
    "ID: A7731920",
    "2023-04-05 14:22",
    "GARCIA LOPEZ M",
    "Acc 99120034",
    "O'Neil Patrick",
    "DOB 1958.07.21",
];

const HEIGHTS: &[f32] = &[7.0, 8.0, 9.0, 11.0, 13.0, 16.0, 20.0, 24.0, 28.0];

/// Backgrounds decoded from every DICOM file under `dir` that has pixels (first frame,
/// first sample, stretched to 0–1), skipping those that cannot be decoded or are tiny.
pub fn backgrounds_from(dir: &Path) -> Vec<Background> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return out;
    };
    let mut paths: Vec<_> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
    paths.sort();
    for path in paths {
        if let Some(b) = background_of(&path) {
            out.push(b);
        }
    }
    out
}

fn background_of(path: &Path) -> Option<Background> {
    use dicom_pixeldata::PixelDecoder;
    let object = dicom_object::open_file(path).ok()?;
    let decoded = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        object.decode_pixel_data().ok()
    }))
    .ok()??;
    let (w, h) = (decoded.columns() as usize, decoded.rows() as usize);
    if w < 48 || h < 48 {
        return None;
    }
    let values: Vec<f64> = decoded
        .to_vec_frame_with_options::<f64>(
            0,
            &dicom_pixeldata::ConvertOptions::new()
                .with_modality_lut(dicom_pixeldata::ModalityLutOption::None)
                .with_voi_lut(dicom_pixeldata::VoiLutOption::Identity),
        )
        .ok()?;
    if values.len() < w * h * decoded.samples_per_pixel() as usize {
        return None;
    }
    let spp = decoded.samples_per_pixel() as usize;
    let grey: Vec<f64> = (0..w * h).map(|i| values[i * spp]).collect();
    let lo = grey.iter().copied().fold(f64::MAX, f64::min);
    let hi = grey.iter().copied().fold(f64::MIN, f64::max);
    if hi <= lo {
        return None;
    }
    Some(Background {
        name: path.file_stem()?.to_string_lossy().into_owned(),
        width: w,
        height: h,
        grey: grey.iter().map(|v| ((v - lo) / (hi - lo)) as f32).collect(),
    })
}

/// Synthetic backgrounds of the kinds dumps hold: ultrasound speckle in a fan, a noisy CT
/// slice, a smooth radiograph with a collimator edge and a grid, a dark screen.
pub fn synthetic_backgrounds(seed: u64) -> Vec<Background> {
    let mut state = seed | 1;
    let mut rand = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state >> 11) as f32 / (1u64 << 53) as f32
    };
    let mut out = Vec::new();
    // Ultrasound: Rayleigh speckle, smoothed over 2 px, in a fan on black.
    let (w, h) = (320, 240);
    let raw: Vec<f32> = (0..w * h)
        .map(|_| (-2.0 * (1.0 - rand()).max(1e-6).ln()).sqrt() * 0.35)
        .collect();
    let mut grey = vec![0f32; w * h];
    for y in 1..h - 1 {
        for x in 1..w - 1 {
            let (dx, dy) = (x as f32 - w as f32 / 2.0, y as f32 + 20.0);
            let angle = dx.atan2(dy).abs();
            let r = (dx * dx + dy * dy).sqrt();
            if angle < 0.6 && r > 40.0 && r < h as f32 {
                let s = (raw[y * w + x] * 2.0 + raw[y * w + x - 1] + raw[y * w + x + 1]) / 4.0;
                grey[y * w + x] = (s * (1.0 - r / (1.5 * h as f32))).min(1.0);
            }
        }
    }
    out.push(Background {
        name: "synthetic_us_speckle".into(),
        width: w,
        height: h,
        grey,
    });
    // CT: a body ellipse with organs and noise.
    let (w, h) = (256, 256);
    let grey = (0..w * h)
        .map(|i| {
            let (x, y) = ((i % w) as f32 - 128.0, (i / w) as f32 - 128.0);
            let body = (x / 110.0).powi(2) + (y / 85.0).powi(2) < 1.0;
            let organ = ((x - 30.0) / 30.0).powi(2) + (y / 25.0).powi(2) < 1.0;
            let bone = ((x / 12.0).powi(2) + ((y - 60.0) / 12.0).powi(2)) < 1.0;
            let base = if bone {
                0.9
            } else if organ {
                0.45
            } else if body {
                0.35
            } else {
                0.02
            };
            (base + (rand() - 0.5) * 0.04).clamp(0.0, 1.0)
        })
        .collect();
    out.push(Background {
        name: "synthetic_ct_noise".into(),
        width: w,
        height: h,
        grey,
    });
    // Radiograph: smooth, a collimator edge, an anti-scatter grid of faint lines.
    let (w, h) = (300, 360);
    let grey = (0..w * h)
        .map(|i| {
            let (x, y) = (i % w, i / w);
            if x < 20 || y > 340 {
                return 0.95;
            }
            let smooth = 0.3 + 0.3 * ((x as f32 / 60.0).sin() * (y as f32 / 80.0).cos()).abs();
            let grid = if x % 4 == 0 { 0.02 } else { 0.0 };
            (smooth + grid + (rand() - 0.5) * 0.01).clamp(0.0, 1.0)
        })
        .collect();
    out.push(Background {
        name: "synthetic_dx_grid".into(),
        width: w,
        height: h,
        grey,
    });
    // A screen capture: a dark panel with a lighter window.
    let (w, h) = (300, 200);
    let grey = (0..w * h)
        .map(|i| {
            let (x, y) = (i % w, i / w);
            if (40..260).contains(&x) && (30..170).contains(&y) {
                0.55
            } else {
                0.08
            }
        })
        .collect();
    out.push(Background {
        name: "synthetic_screen".into(),
        width: w,
        height: h,
        grey,
    });
    out
}

/// Each background at least `at_least` pixels each way, enlarged `factor` times (bilinear),
/// named `<name>@<factor>x`: radiographs of 1500 to 3000 pixels, whose labels are drawn
/// 100 px tall and more, and whose anatomy is as large against the detector's scales.
pub fn enlarged(backgrounds: &[Background], at_least: usize, factor: usize) -> Vec<Background> {
    backgrounds
        .iter()
        .filter(|b| b.width.min(b.height) >= at_least && factor > 1)
        .map(|b| {
            let (w, h) = (b.width * factor, b.height * factor);
            let at =
                |x: usize, y: usize| b.grey[y.min(b.height - 1) * b.width + x.min(b.width - 1)];
            let grey = (0..w * h)
                .map(|i| {
                    let (x, y) = (i % w, i / w);
                    let fx = (x as f32 + 0.5) / factor as f32 - 0.5;
                    let fy = (y as f32 + 0.5) / factor as f32 - 0.5;
                    let (x0, y0) = (fx.max(0.0) as usize, fy.max(0.0) as usize);
                    let (tx, ty) = (
                        (fx - x0 as f32).clamp(0.0, 1.0),
                        (fy - y0 as f32).clamp(0.0, 1.0),
                    );
                    let top = at(x0, y0) * (1.0 - tx) + at(x0 + 1, y0) * tx;
                    let bottom = at(x0, y0 + 1) * (1.0 - tx) + at(x0 + 1, y0 + 1) * tx;
                    top * (1.0 - ty) + bottom * ty
                })
                .collect();
            Background {
                name: format!("{}@{factor}x", b.name),
                width: w,
                height: h,
                grey,
            }
        })
        .collect()
}

/// The set: for every background and layout, one image with text and one without.
pub fn labelled_set(backgrounds: &[Background]) -> Vec<Labelled> {
    let mut out = Vec::new();
    let mut n = 0usize;
    for b in backgrounds {
        for layout in LAYOUTS {
            let drawn = Drawn::choose(b, n);
            n += 1;
            if let Some(drawn) = &drawn {
                out.push(build(b, layout, Some(drawn)));
            }
            out.push(build(b, layout, None));
        }
    }
    out
}

/// What was drawn where.
struct Drawn {
    mask: Mask,
    x: usize,
    y: usize,
    /// Text colour, RGB 0–1.
    colour: [f32; 3],
    /// Draw a light label box behind the text (dark text on bright).
    label_box: bool,
    text: String,
}

impl Drawn {
    fn choose(b: &Background, n: usize) -> Option<Drawn> {
        // Text grows with the image: a 1536-pixel radiograph's labels are drawn four times
        // as tall (28 to 112 px).
        let height = HEIGHTS[n % HEIGHTS.len()] * (b.width.min(b.height) / 384).max(1) as f32;
        let face = if n.is_multiple_of(3) {
            Face::MonoBold
        } else {
            Face::Sans
        };
        let mut text = STRINGS[n % STRINGS.len()].to_string();
        let mut mask = rasterize(&text, height, face);
        while mask.width + 4 > b.width && text.len() > 4 {
            text.pop();
            mask = rasterize(&text, height, face);
        }
        if mask.width + 4 > b.width || mask.height + 4 > b.height {
            return None;
        }
        let (right, bottom) = (b.width - mask.width - 2, b.height - mask.height - 2);
        let (x, y) = match n % 5 {
            0 => (2, 2),
            1 => (right, 2),
            2 => (2, bottom),
            3 => (right, bottom),
            _ => (right / 2, bottom / 2),
        };
        // Contrast and colour: white, grey, dim grey, yellow, green, red, cyan, black on a box.
        let (colour, label_box) = match n % 8 {
            0 => ([1.0, 1.0, 1.0], false),
            1 => ([0.6, 0.6, 0.6], false),
            2 => {
                let local = mean_under(b, x, y, &mask);
                let v = (local + 0.18).min(1.0);
                ([v, v, v], false)
            }
            3 => ([1.0, 1.0, 0.0], false),
            4 => ([0.0, 1.0, 0.0], false),
            5 => ([1.0, 0.1, 0.1], false),
            6 => ([0.0, 0.9, 0.9], false),
            _ => ([0.0, 0.0, 0.0], true),
        };
        // Text a person could read in grey too: a colour whose luminance matches the
        // background under it is pushed to white or black, whichever stands out more.
        let local = if label_box {
            0.92
        } else {
            mean_under(b, x, y, &mask)
        };
        let colour = if (luma(colour) - local).abs() < 0.15 {
            if local < 0.5 {
                [1.0, 1.0, 1.0]
            } else {
                [0.0, 0.0, 0.0]
            }
        } else {
            colour
        };
        Some(Drawn {
            mask,
            x,
            y,
            colour,
            label_box,
            text,
        })
    }

    /// The box of the glyph pixels [`ink_box`] counts, placed in the image.
    fn truth(&self) -> Option<Rect> {
        self.placed(ink_box(&self.mask))
    }

    /// The box of the glyph pixels (those [`ink_box`] counts) whose value the text changed
    /// by at least `SEEN` of the full scale: in luma for grey layouts, in any channel for
    /// colour ones. `None` when no pixel changed that much.
    fn seen(
        &self,
        with: &[[f32; 3]],
        without: &[[f32; 3]],
        width: usize,
        colour: bool,
    ) -> Option<Rect> {
        const SEEN: f32 = 0.02;
        self.placed(ink_box_where(&self.mask, |mx, my| {
            let i = (self.y + my) * width + self.x + mx;
            let (Some(a), Some(b)) = (with.get(i), without.get(i)) else {
                return false;
            };
            if colour {
                a.iter().zip(b).any(|(p, q)| (p - q).abs() >= SEEN)
            } else {
                (luma(*a) - luma(*b)).abs() >= SEEN
            }
        }))
    }

    /// A box of the mask, `(x0, y0, x1, y1)`, where the mask was drawn.
    fn placed(&self, found: Option<(usize, usize, usize, usize)>) -> Option<Rect> {
        let (x0, y0, x1, y1) = found?;
        Some(Rect {
            row_start: (self.y + y0) as u32,
            row_end: (self.y + y1) as u32,
            col_start: (self.x + x0) as u32,
            col_end: (self.x + x1) as u32,
        })
    }
}

fn mean_under(b: &Background, x: usize, y: usize, mask: &Mask) -> f32 {
    let mut sum = 0.0;
    let mut n = 0.0;
    for my in 0..mask.height {
        for mx in 0..mask.width {
            if let Some(v) = b.grey.get((y + my) * b.width + x + mx) {
                sum += v;
                n += 1.0;
            }
        }
    }
    if n > 0.0 { sum / n } else { 0.0 }
}

/// RGB 0–1 of every pixel, text blended in (when `glyphs`; the label box behind it either
/// way).
fn composite(b: &Background, drawn: Option<&Drawn>, glyphs: bool) -> Vec<[f32; 3]> {
    let mut rgb: Vec<[f32; 3]> = b.grey.iter().map(|&g| [g, g, g]).collect();
    if let Some(d) = drawn {
        if d.label_box {
            for y in d.y.saturating_sub(2)..(d.y + d.mask.height + 2).min(b.height) {
                for x in d.x.saturating_sub(2)..(d.x + d.mask.width + 2).min(b.width) {
                    rgb[y * b.width + x] = [0.92, 0.92, 0.92];
                }
            }
        }
        for my in 0..d.mask.height * glyphs as usize {
            for mx in 0..d.mask.width {
                let a = d.mask.at(mx, my) as f32 / 255.0;
                let i = (d.y + my) * b.width + d.x + mx;
                if a > 0.0 && i < rgb.len() {
                    for (c, t) in rgb[i].iter_mut().zip(d.colour) {
                        *c = *c * (1.0 - a) + t * a;
                    }
                }
            }
        }
    }
    rgb
}

fn luma(c: [f32; 3]) -> f32 {
    0.299 * c[0] + 0.587 * c[1] + 0.114 * c[2]
}

fn build(b: &Background, layout: &str, drawn: Option<&Drawn>) -> Labelled {
    let rgb = composite(b, drawn, true);
    let plain = composite(b, None, false);
    let (w, h) = (b.width as u32, b.height as u32);
    let mono = |bits: u16, signed: bool, photometric: Photometric| Geometry {
        rows: h,
        columns: w,
        frames: 1,
        samples_per_pixel: 1,
        bits_allocated: if bits > 8 { 16 } else { 8 },
        bits_stored: bits,
        signed,
        planar: false,
        photometric,
    };
    let colour = |planar: bool, photometric: Photometric| Geometry {
        samples_per_pixel: 3,
        planar,
        ..mono(8, false, photometric)
    };
    let q = |v: f32, max: f32| (v.clamp(0.0, 1.0) * max).round();
    let mut drawn_boxes: Vec<(u32, Rect)> = drawn
        .and_then(|d| d.truth())
        .map(|r| (0, r))
        .into_iter()
        .collect();
    // Text in the high bits is seen whole; in the values, where it changed them (text
    // drawn nowhere visibly keeps its whole box, so the image still counts as one with text).
    let in_colour = matches!(layout, "rgb" | "rgb_planar" | "ybr_full_422");
    let mut truth: Vec<(u32, Rect)> = match drawn {
        Some(d) if layout != "high_bits" => {
            let behind = composite(b, Some(d), false);
            match d.seen(&rgb, &behind, b.width, in_colour) {
                Some(r) => vec![(0, r)],
                None => drawn_boxes.clone(),
            }
        }
        _ => drawn_boxes.clone(),
    };
    let mut palette = None;
    let mut in_high_bits = false;
    let (geometry, data) = match layout {
        "mono8" => (
            mono(8, false, Photometric::Monochrome2),
            rgb.iter().map(|&c| q(luma(c), 255.0) as u8).collect(),
        ),
        "mono16_12bit" => (
            mono(12, false, Photometric::Monochrome2),
            rgb.iter()
                .flat_map(|&c| (q(luma(c), 4095.0) as u16).to_le_bytes())
                .collect(),
        ),
        "signed16" => (
            mono(16, true, Photometric::Monochrome2),
            rgb.iter()
                .flat_map(|&c| ((q(luma(c), 4095.0) as i32 - 1024) as i16).to_le_bytes())
                .collect(),
        ),
        "monochrome1" => (
            mono(12, false, Photometric::Monochrome1),
            rgb.iter()
                .flat_map(|&c| (4095 - q(luma(c), 4095.0) as u16).to_le_bytes())
                .collect(),
        ),
        "rgb" => (
            colour(false, Photometric::Rgb),
            rgb.iter()
                .flat_map(|c| c.map(|v| q(v, 255.0) as u8))
                .collect(),
        ),
        "rgb_planar" => {
            let mut data = Vec::with_capacity(rgb.len() * 3);
            for s in 0..3 {
                data.extend(rgb.iter().map(|c| q(c[s], 255.0) as u8));
            }
            (colour(true, Photometric::Rgb), data)
        }
        "ybr_full_422" => {
            let even_w = (w & !1).max(2);
            let mut g = colour(false, Photometric::YbrFull422);
            g.columns = even_w;
            let mut data = Vec::with_capacity((even_w * h * 2) as usize);
            for y in 0..h as usize {
                for x in (0..even_w as usize).step_by(2) {
                    let a = rgb[y * b.width + x];
                    let c = rgb[y * b.width + (x + 1).min(b.width - 1)];
                    let ycc = |p: [f32; 3]| {
                        let yy = luma(p);
                        (yy, 0.5 + (p[2] - yy) * 0.564, 0.5 + (p[0] - yy) * 0.713)
                    };
                    let (y0, cb0, cr0) = ycc(a);
                    let (y1, cb1, cr1) = ycc(c);
                    data.extend([
                        q(y0, 255.0) as u8,
                        q(y1, 255.0) as u8,
                        q((cb0 + cb1) / 2.0, 255.0) as u8,
                        q((cr0 + cr1) / 2.0, 255.0) as u8,
                    ]);
                }
            }
            truth.retain(|(_, r)| r.col_start < even_w);
            drawn_boxes.retain(|(_, r)| r.col_start < even_w);
            (g, data)
        }
        "palette" => {
            // A "hot iron" palette: index 0 black through red and yellow to white.
            let entry = |i: usize| -> [u16; 3] {
                let t = i as f32 / 255.0;
                [
                    (q(t * 3.0, 1.0) * 65535.0) as u16,
                    (q(t * 3.0 - 1.0, 1.0) * 65535.0) as u16,
                    (q(t * 3.0 - 2.0, 1.0) * 65535.0) as u16,
                ]
            };
            let entries: Vec<[u16; 3]> = (0..256).map(entry).collect();
            palette = Some(Palette {
                first_mapped: 0,
                red: entries.iter().map(|e| e[0]).collect(),
                green: entries.iter().map(|e| e[1]).collect(),
                blue: entries.iter().map(|e| e[2]).collect(),
            });
            (
                mono(8, false, Photometric::PaletteColor),
                rgb.iter().map(|&c| q(luma(c), 255.0) as u8).collect(),
            )
        }
        "multiframe" => {
            // Three frames; the text is in the middle one only.
            let mut g = mono(8, false, Photometric::Monochrome2);
            g.frames = 3;
            let frame = |p: &[[f32; 3]]| {
                p.iter()
                    .map(|&c| q(luma(c), 255.0) as u8)
                    .collect::<Vec<u8>>()
            };
            let mut data = frame(&plain);
            data.extend(frame(&rgb));
            data.extend(frame(&plain));
            for t in truth.iter_mut().chain(&mut drawn_boxes) {
                t.0 = 1;
            }
            (g, data)
        }
        _ => {
            // "high_bits": a 12-bit image whose bit 15 carries the text as an overlay.
            in_high_bits = drawn.is_some();
            let g = mono(12, false, Photometric::Monochrome2);
            let mut data = Vec::with_capacity(plain.len() * 2);
            for (i, &c) in plain.iter().enumerate() {
                let mut v = q(luma(c), 4095.0) as u16;
                if let Some(d) = drawn {
                    let (x, y) = (i % b.width, i / b.width);
                    if x >= d.x && y >= d.y && d.mask.at(x - d.x, y - d.y) >= 128 {
                        v |= 0x8000;
                    }
                }
                data.extend(v.to_le_bytes());
            }
            (g, data)
        }
    };
    let name = match drawn {
        Some(d) => format!("{}/{layout}/text {:?} {}px", b.name, d.text, d.mask.height),
        None => format!("{}/{layout}/control", b.name),
    };
    Labelled {
        name,
        geometry,
        data,
        palette,
        truth,
        drawn: drawn_boxes,
        in_high_bits,
    }
}
