//! The detector's learned stage (cargo feature `learned`): PP-OCRv3's DB text-detection
//! network, run by `tract` (pure Rust, no system library).
//!
//! The network is embedded (`data/`, with its provenance and licence) and refused when its
//! SHA-256 differs from the published one recorded here. It has two jobs:
//!
//! - **It reads small frames whole** ([`text_in_small_plane`]). The classical stages need a
//!   line of three glyphs and context around it; a 64-pixel MR or a 100-pixel screen
//!   capture with large text gives neither, or only part of a line (a name whose first
//!   glyphs touch the frame's edge). Each plane of at most [`SMALL`] pixels each way is
//!   enlarged to 256×256, and the components of the network's text map that are shaped
//!   like a line (half again as wide as tall, filled like a word) become regions, joined
//!   with the classical stages' own. Here the network only adds text.
//! - **It reads each line the classical stages confirmed** ([`reading`]): a tile around the
//!   line, scaled so the line is [`LINE_ROWS`] pixels tall (7-px text enlarged, 100-px
//!   labels shrunk), stretched to the tile's own range, along the line in windows of
//!   [`TILE_COLUMNS`], turned both ways for a line taller than wide, at the line's height
//!   and at half of it over its upper half, middle and lower half. A line longer than the
//!   windows read has no "not text" reading. The reading is advisory
//!   (`TextRegion::learned`): the region counts as text either way.
//!
//! Why advisory. Measured on the labelled set (822 images; `cargo bench
//! --bench detect` prints it beside the classical stages alone, in the same run):
//! - a stage that dismissed every line the network reads whole as not text would flag 3
//!   of 380 text-free images instead of 21, and lose 8 of the 333 text images the classical
//!   stages find: text across bands of its own value, whose glyphs show in part (the
//!   network sees half-letters), and dim text over bright anatomy;
//! - dismissing only in frames larger than [`SMALL`] each way (7 of the 8 are 100-pixel
//!   screen captures, whose lines fill the tile with the frame's edge) flags 6 of 380 and
//!   still loses one: "ID: A7731920" in grey over abdominal anatomy, plain to a reader, to
//!   which the network gives a probability of 0.00 everywhere, at every scale, in either
//!   polarity and with the tile stretched to the line's own values.
//!
//! A privacy rule fails closed, so the network's "no" only tells a reviewer where to look
//! first.
//!
//! Its input is normalised as PaddleOCR does (ImageNet's channel means and deviations). The
//! OpenCV zoo's demo divides by 255 instead: measured on the same set, that left text of low
//! contrast (grey on white, on a checkerboard) below the network's threshold.
//!
//! Its six upsamplings (ONNX `Resize`, nearest, by whole factors) run as the plain repeat
//! they are (the `upsample` module): tract's generic `Resize` took half the network's time.
//! Measured in one run, release build, the same input: 3.6 ms against 7.3 ms for a 64×128
//! tile, 27.6 ms against 56.7 ms for a 256×256 frame, the map identical bit for bit.
//!
//! The network alone flags anatomy: a kidney or a bone island is as much text to it as a
//! word. That is why only line-shaped parts of its map count in small frames, and why it
//! never runs over whole large frames (0.4 s for 640×640 on one core here; the classical
//! cascade spends about 6 ms a frame).

use std::io::Cursor;
use std::sync::OnceLock;

use sha2::{Digest, Sha256};
use tract_onnx::prelude::*;

use crate::RedactError;
use crate::geometry::Rect;
use crate::text::{Blob, Plane, blobs};

mod upsample;

/// The network, as shipped (PP-OCRv3 English detection, ONNX, Apache-2.0; see
/// `data/README.md`).
const MODEL: &[u8] = include_bytes!("../data/text_detection_en_ppocrv3_2023may.onnx");

/// The SHA-256 of [`MODEL`] as published: any other file is refused.
const MODEL_SHA256: &str = "03f550c6b406fda8bf54bd8327815f6c7e2edd98cea02348c93d879254366587";

/// Rows of the network's input tile.
const TILE_ROWS: usize = 64;
/// Columns of the network's input tile.
const TILE_COLUMNS: usize = 256;
/// Columns a window moves along a line (windows overlap by a line height and more).
const TILE_STEP: usize = 192;
/// Most windows along one line: a line longer than this many steps is judged over its
/// first windows (it is text to the network long before its end).
const MAX_WINDOWS: usize = 4;
/// The height a line is scaled to in the tile.
const LINE_ROWS: f32 = 24.0;
/// A pixel is text to the network at this probability (DB's usual binarisation).
const TEXT_PROBABILITY: f32 = 0.3;

/// PaddleOCR's input normalisation (RGB order, on 0–255 values): each channel less its
/// mean, over its standard deviation (ImageNet's). The OpenCV zoo's demo divides by 255
/// instead; measured on the labelled set, that left text of low contrast (grey on white, on
/// a checkerboard) below the network's threshold, and PaddleOCR's own scaling finds it.
const MEAN: [f32; 3] = [123.68, 116.28, 103.53];
const STD: [f32; 3] = [58.40, 57.12, 57.38];

type Runnable = TypedRunnableModel<TypedModel>;

/// The network for line tiles, optimised for their shape, loaded once per process.
fn network() -> Result<&'static Runnable, RedactError> {
    static NETWORK: OnceLock<Result<Runnable, RedactError>> = OnceLock::new();
    loaded(&NETWORK, TILE_ROWS, TILE_COLUMNS)
}

/// The network for whole small frames ([`SMALL`]), loaded once per process.
fn frame_network() -> Result<&'static Runnable, RedactError> {
    static NETWORK: OnceLock<Result<Runnable, RedactError>> = OnceLock::new();
    loaded(&NETWORK, FRAME, FRAME)
}

/// The plan `cell` holds for inputs of `rows` × `columns`, built on first use (a failure
/// is kept too: every later use gets the same error).
fn loaded(
    cell: &'static OnceLock<Result<Runnable, RedactError>>,
    rows: usize,
    columns: usize,
) -> Result<&'static Runnable, RedactError> {
    cell.get_or_init(|| load(rows, columns))
        .as_ref()
        .map_err(Clone::clone)
}

/// The embedded network, checked against its published digest, for inputs of
/// `rows` × `columns`, its upsampling computed as the repeat it is (`upsample`).
fn load(rows: usize, columns: usize) -> Result<Runnable, RedactError> {
    let mut model = typed(rows, columns)?;
    upsample::replace_resizes(&mut model).map_err(failed)?;
    model
        .into_optimized()
        .map_err(failed)?
        .into_runnable()
        .map_err(failed)
}

/// The embedded network as published, checked against its digest, for inputs of
/// `rows` × `columns`.
fn typed(rows: usize, columns: usize) -> Result<TypedModel, RedactError> {
    verify(MODEL)?;
    tract_onnx::onnx()
        .model_for_read(&mut Cursor::new(MODEL))
        .map_err(failed)?
        .with_input_fact(0, f32::fact([1, 3, rows, columns]).into())
        .map_err(failed)?
        .into_typed()
        .map_err(failed)
}

/// A tract error as the crate's.
fn failed(e: TractError) -> RedactError {
    RedactError::Learned(format!("{e:#}"))
}

/// Refuses a network whose SHA-256 is not the published one.
fn verify(model: &[u8]) -> Result<(), RedactError> {
    let digest = Sha256::digest(model);
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    if hex == MODEL_SHA256 {
        Ok(())
    } else {
        Err(RedactError::Learned(format!(
            "the network's SHA-256 is {hex}, not the published {MODEL_SHA256}"
        )))
    }
}

/// Frames at most this many pixels each way are read whole by the network: the classical
/// stages need more context than a 64-pixel MR holds (a line of two glyphs and a half is
/// not a line to them).
pub(crate) const SMALL: usize = 128;
/// Planes narrower or shorter than this are not read whole: too small for a line of three
/// glyphs of 7 px (the network would read them enlarged 10× and more, at the full cost).
const TINY: usize = 24;
/// How far a text kernel of the network's map is grown back to its text, in multiples of
/// its area over its perimeter (DB's unclip ratio, PaddleOCR's default).
const UNCLIP: f32 = 1.5;
/// The whole-frame input, each way (a small frame enlarged to fit, at least 2×).
const FRAME: usize = 256;

/// Text lines the network reads in a whole small `plane` (at most [`SMALL`] each way), as
/// boxes in the plane: components of its text map at least half again as wide as tall
/// (a line of text; a kidney or a bone island is as much text to it, but round), grown back
/// from the shrunk kernel the map holds to the text, as DB's post-processing does.
pub(crate) fn text_in_small_plane(plane: &Plane) -> Result<Vec<Rect>, RedactError> {
    let (w, h) = (plane.width, plane.height);
    if w.min(h) < TINY || w.max(h) > SMALL {
        return Ok(Vec::new());
    }
    let network = frame_network()?;
    let scale = FRAME as f32 / w.max(h) as f32;
    let (sw, sh) = (
        ((w as f32 * scale) as usize).min(FRAME),
        ((h as f32 * scale) as usize).min(FRAME),
    );
    let lo = plane.values.iter().copied().min().unwrap_or(0) as f32;
    let hi = plane.values.iter().copied().max().unwrap_or(0) as f32;
    let range = (hi - lo).max(1.0);
    let input = tract_ndarray::Array4::from_shape_fn((1, 3, FRAME, FRAME), |(_, c, y, x)| {
        let grey = if x < sw && y < sh {
            let v = bilinear(
                plane,
                (x as f32 + 0.5) / scale - 0.5,
                (y as f32 + 0.5) / scale - 0.5,
            );
            (v - lo) * 255.0 / range
        } else {
            0.0
        };
        (grey - MEAN[c]) / STD[c]
    });
    let probabilities = run(network, input, FRAME * FRAME)?;
    let mask: Vec<bool> = probabilities
        .iter()
        .map(|&p| p >= TEXT_PROBABILITY)
        .collect();
    let mut out = Vec::new();
    for Blob {
        x0,
        y0,
        x1,
        y1,
        area,
    } in blobs(&mask, FRAME, FRAME)
    {
        let (bw, bh) = ((x1 - x0 + 1) as f32, (y1 - y0 + 1) as f32);
        // A line: wider than tall by half, filled like a word's kernel, not a speck.
        if bw < 1.5 * bh || (area as f32) < 0.4 * bw * bh || bh < 0.02 * FRAME as f32 {
            continue;
        }
        // The map is the text's shrunk kernel: grown back as DB's post-processing does
        // (PaddleOCR's `unclip_ratio` 1.5: by 1.5 × area / perimeter of the kernel's box).
        let grow = UNCLIP * bw * bh / (2.0 * (bw + bh));
        let to = |v: f32, limit: usize| ((v / scale).max(0.0) as u32).min(limit as u32);
        out.push(Rect {
            row_start: to(y0 as f32 - grow, h),
            row_end: to(y1 as f32 + 1.0 + grow, h)
                .max(to(y0 as f32 - grow, h) + 1)
                .min(h as u32),
            col_start: to(x0 as f32 - grow, w),
            col_end: to(x1 as f32 + 1.0 + grow, w)
                .max(to(x0 as f32 - grow, w) + 1)
                .min(w as u32),
        });
    }
    Ok(out)
}

/// The network's text probabilities for `input`, checked to be `len` values.
fn run(
    network: &Runnable,
    input: tract_ndarray::Array4<f32>,
    len: usize,
) -> Result<Vec<f32>, RedactError> {
    let output = network
        .run(tvec!(Tensor::from(input).into()))
        .map_err(failed)?;
    let map = output[0].to_array_view::<f32>().map_err(failed)?;
    let probabilities: Vec<f32> = map.iter().copied().collect();
    if probabilities.len() != len {
        return Err(RedactError::Learned(format!(
            "the network returned {} values where {len} were due",
            probabilities.len()
        )));
    }
    Ok(probabilities)
}

/// How a tile's pixels map to the plane: along the line, or turned a quarter either way.
#[derive(Clone, Copy)]
enum Turn {
    None,
    Clockwise,
    Anticlockwise,
}

/// A line is text when at least this share of its box is text to the network, in one
/// window. Measured on the labelled set (`cargo bench --bench detect`, which prints the
/// classical stages alone beside the whole cascade).
const TEXT_SHARE: f32 = 0.10;

/// The network's reading of the line `rect` of `plane` (plane coordinates, with the
/// detector's margin of `margin` pixels around its glyphs): `Some(true)` when it reads
/// text in any window, `Some(false)` when it read the whole line and found none, `None`
/// when the line is longer than the windows it reads and it found none in them.
///
/// The line is read at its height and, when that is not what text is to the network, at
/// half its height, over its upper half, its middle and its lower half (a line grown over
/// the feet and tops of its glyphs, or over the band its text stands in, is up to twice as
/// tall as its text, and the text may stand anywhere in it). Lines taller than wide are
/// read turned both ways. The first window where the network reads text decides.
pub(crate) fn reading(plane: &Plane, rect: Rect, margin: u32) -> Result<Option<bool>, RedactError> {
    let network = network()?;
    let core = Rect {
        row_start: rect.row_start + margin.min(rect.rows() / 2),
        row_end: rect.row_end - margin.min(rect.rows() / 2),
        col_start: rect.col_start + margin.min(rect.columns() / 2),
        col_end: rect.col_end - margin.min(rect.columns() / 2),
    };
    let turns: &[Turn] = if core.rows() > core.columns() {
        &[Turn::Clockwise, Turn::Anticlockwise]
    } else {
        &[Turn::None]
    };
    let mut tile = Tile::default();
    let mut whole = true;
    for &turn in turns {
        let (length, height) = match turn {
            Turn::None => (core.columns() as f32, core.rows() as f32),
            _ => (core.rows() as f32, core.columns() as f32),
        };
        for (text_height, across) in [
            (height, 0.0),
            (height / 2.0, 0.0),
            (height / 2.0, height / 4.0),
            (height / 2.0, height / 2.0),
        ] {
            let line = Line {
                core,
                turn,
                length,
                across,
                scale: LINE_ROWS / text_height.max(1.0),
            };
            let (windows, needed) = line.windows();
            whole &= windows == needed;
            for window in 0..windows {
                if tile.share(network, plane, &line, window)? >= TEXT_SHARE {
                    return Ok(Some(true));
                }
            }
        }
    }
    Ok(whole.then_some(false))
}

/// A line as the network reads it: its box, which way it runs, and the scale that makes
/// its text [`LINE_ROWS`] tall.
struct Line {
    core: Rect,
    turn: Turn,
    /// Its length along the direction it runs, in plane pixels.
    length: f32,
    /// Plane pixels from the box's first row (across the line) to the tile's first text row.
    across: f32,
    scale: f32,
}

impl Line {
    /// Columns of context before the line's start in its first window.
    const CONTEXT: f32 = (TILE_COLUMNS - TILE_STEP) as f32 / 4.0;
    /// Rows of the tile above the line's top.
    const ABOVE: f32 = (TILE_ROWS as f32 - LINE_ROWS) / 2.0;

    /// The windows read, and the windows the whole line needs.
    fn windows(&self) -> (usize, usize) {
        let span = self.length * self.scale + 2.0 * Self::CONTEXT - TILE_COLUMNS as f32;
        let needed = (span.max(0.0) / TILE_STEP as f32).ceil() as usize + 1;
        (needed.min(MAX_WINDOWS), needed)
    }

    /// The plane position of pixel `(x, y)` of window `window`.
    fn at(&self, window: usize, x: usize, y: usize) -> (f32, f32) {
        let u = (x as f32 + 0.5 - Self::CONTEXT + (window * TILE_STEP) as f32) / self.scale - 0.5;
        let v = (y as f32 + 0.5 - Self::ABOVE) / self.scale - 0.5 + self.across;
        let c = &self.core;
        match self.turn {
            Turn::None => (c.col_start as f32 + u, c.row_start as f32 + v),
            // Read top to bottom: the line's start at its top, its glyphs' feet at its left.
            Turn::Clockwise => (c.col_end as f32 - 1.0 - v, c.row_start as f32 + u),
            Turn::Anticlockwise => (c.col_start as f32 + v, c.row_end as f32 - 1.0 - u),
        }
    }
}

/// One window's values, and the network's input made of them.
struct Tile {
    values: Vec<f32>,
}

impl Default for Tile {
    fn default() -> Self {
        Tile {
            values: vec![0.0; TILE_ROWS * TILE_COLUMNS],
        }
    }
}

impl Tile {
    /// The share of the line's box in window `window` that the network reads as text.
    fn share(
        &mut self,
        network: &Runnable,
        plane: &Plane,
        line: &Line,
        window: usize,
    ) -> Result<f32, RedactError> {
        // The line's own box in the tile.
        let u0 = (window * TILE_STEP) as f32 - Line::CONTEXT;
        let (y0, y1) = (Line::ABOVE as usize, (Line::ABOVE + LINE_ROWS) as usize);
        let x0 = (-u0).max(0.0) as usize;
        let x1 = ((line.length * line.scale - u0).max(0.0) as usize).min(TILE_COLUMNS);
        if x1 <= x0 {
            return Ok(0.0);
        }
        for y in 0..TILE_ROWS {
            for x in 0..TILE_COLUMNS {
                let (px, py) = line.at(window, x, y);
                self.values[y * TILE_COLUMNS + x] = bilinear(plane, px, py);
            }
        }
        // The tile's own range is 0 to 255: dim text on dark reads as well as on a screen
        // set to it.
        let lo = self.values.iter().copied().fold(f32::MAX, f32::min);
        let hi = self.values.iter().copied().fold(f32::MIN, f32::max);
        let range = (hi - lo).max(1.0);
        let input = tract_ndarray::Array4::from_shape_fn(
            (1, 3, TILE_ROWS, TILE_COLUMNS),
            |(_, c, y, x)| {
                let grey = (self.values[y * TILE_COLUMNS + x] - lo) * 255.0 / range;
                (grey - MEAN[c]) / STD[c]
            },
        );
        let probabilities = run(network, input, TILE_ROWS * TILE_COLUMNS)?;
        let text: usize = (y0..y1)
            .map(|y| {
                probabilities[y * TILE_COLUMNS + x0..y * TILE_COLUMNS + x1]
                    .iter()
                    .filter(|&&p| p >= TEXT_PROBABILITY)
                    .count()
            })
            .sum();
        Ok(text as f32 / ((x1 - x0) * (y1 - y0)) as f32)
    }
}

/// The plane's value at `(x, y)`, interpolated, the nearest edge beyond it.
fn bilinear(plane: &Plane, x: f32, y: f32) -> f32 {
    let (w, h) = (plane.width, plane.height);
    let x = x.clamp(0.0, (w - 1) as f32);
    let y = y.clamp(0.0, (h - 1) as f32);
    let (x0, y0) = (x as usize, y as usize);
    let (x1, y1) = ((x0 + 1).min(w - 1), (y0 + 1).min(h - 1));
    let (ax, ay) = (x - x0 as f32, y - y0 as f32);
    let v = |x: usize, y: usize| plane.values[y * w + x] as f32;
    (v(x0, y0) * (1.0 - ax) + v(x1, y0) * ax) * (1.0 - ay)
        + (v(x0, y1) * (1.0 - ax) + v(x1, y1) * ax) * ay
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The network with its upsampling replaced computes the published network's map, bit
    /// for bit, on a line of text beside texture; and every one of its six upsamplings
    /// was replaced.
    #[test]
    fn the_network_with_its_upsampling_replaced_computes_the_same_map() {
        let (rows, columns) = (64, 128);
        let mut model = typed(rows, columns).unwrap();
        assert_eq!(upsample::replace_resizes(&mut model).unwrap(), 6);
        let replaced = model.into_optimized().unwrap().into_runnable().unwrap();
        let published = typed(rows, columns)
            .unwrap()
            .into_optimized()
            .unwrap()
            .into_runnable()
            .unwrap();
        // Dark text on a light ramp with a checker texture beside it.
        let mut image: Vec<u8> = (0..rows * columns)
            .map(|i| {
                let (y, x) = (i / columns, i % columns);
                let checker = if x > 100 && (x / 3 + y / 5) % 2 == 0 {
                    40
                } else {
                    0
                };
                (180 + x / 4 + checker).min(255) as u8
            })
            .collect();
        crate::text::tests::draw(&mut image, columns, "MRN 12345", 8, 20, 2, 20);
        let input = tract_ndarray::Array4::from_shape_fn((1, 3, rows, columns), |(_, c, y, x)| {
            (image[y * columns + x] as f32 - MEAN[c]) / STD[c]
        });
        let a = run(&replaced, input.clone(), rows * columns).unwrap();
        let b = run(&published, input, rows * columns).unwrap();
        assert!(
            b.iter().any(|&p| p >= TEXT_PROBABILITY),
            "the network reads no text in the input: it tests little"
        );
        assert!(
            a.iter().zip(&b).all(|(x, y)| x.to_bits() == y.to_bits()),
            "the maps differ"
        );
    }

    #[test]
    fn the_embedded_network_is_the_published_one_and_any_other_is_refused() {
        verify(MODEL).expect("the embedded network matches its published digest");
        let mut altered = MODEL.to_vec();
        let last = altered.len() - 1;
        altered[last] ^= 1;
        let refused = verify(&altered).expect_err("an altered network is refused");
        assert!(refused.to_string().contains(MODEL_SHA256), "{refused}");
    }

    #[test]
    fn a_flat_or_tiny_plane_holds_no_text_for_the_network() {
        let flat = Plane {
            width: 64,
            height: 64,
            values: vec![900; 64 * 64],
        };
        assert_eq!(
            text_in_small_plane(&flat).expect("the network runs"),
            vec![]
        );
        let tiny = Plane {
            width: 16,
            height: 16,
            values: (0..256).map(|i| (i * 37 % 251) as u16).collect(),
        };
        assert_eq!(text_in_small_plane(&tiny).expect("nothing to run"), vec![]);
    }

    #[test]
    fn a_line_read_in_part_has_no_not_text_reading() {
        let (w, h) = (2400, 40);
        let flat = Plane {
            width: w,
            height: h,
            values: vec![300; w * h],
        };
        let line = |col_end: u32| Rect {
            row_start: 10,
            row_end: 30,
            col_start: 0,
            col_end,
        };
        // A short line is read whole: not text.
        assert_eq!(
            reading(&flat, line(200), 0).expect("the network runs"),
            Some(false)
        );
        // A line 2400 px long at 20 px tall needs more windows than are read: no reading.
        assert_eq!(
            reading(&flat, line(2400), 0).expect("the network runs"),
            None
        );
    }
}
