//! Pixel redaction for Gantry: blank burned-in text in DICOM pixel data.
//!
//! Given native pixel data, its [`Geometry`] and zones ([`Rect`]), [`blank()`] writes the
//! [`Fill`] that displays as black into every zone of every frame, in place and in
//! parallel, for 1-, 8-, 16- and 32-bit samples, signed or not, one or three samples,
//! colour-by-pixel or by plane, MONOCHROME1/2, RGB, YBR_FULL, YBR_FULL_422 and PALETTE
//! COLOR. Encapsulated pixel data goes through [`decode`] first (dicom-pixeldata, and an
//! RLE codec of its own) and can be written back losslessly with [`encode_rle`].
//! [`find_text`] searches every frame and sample plane (and the bits above High Bit) for
//! burned-in text, whatever the header says: a cheap transition pass, then glyph lines cut
//! from top-hats and checked for alignment and stability ([`TextRegion`]s per frame).
//! Under the cargo feature `ocr`, `read_regions` has Tesseract read what each region says,
//! and `Reading::masked` gives its shape (`AAA 99999999`) for reports.
//! [`strip_encapsulated`] removes JPEG COM/APPn segments, JPEG 2000 comments and JP2 boxes
//! that decoding does not need, leaving the entropy-coded data as it was; and
//! [`clear_high_bits`] clears overlays hidden above High Bit. This crate knows nothing of
//! sessions or privacy rules: pure functions over buffers.
//!
//! ```
//! use gantry_redact::{Fill, Geometry, Photometric, Rect, blank, first_unblanked};
//! let geometry = Geometry {
//!     rows: 4, columns: 6, frames: 2, samples_per_pixel: 1,
//!     bits_allocated: 16, bits_stored: 12, signed: false, planar: false,
//!     photometric: Photometric::Monochrome1,
//! };
//! let mut pixels = vec![0u8; geometry.data_len()];
//! let fill = Fill::black(&geometry, None)?; // MONOCHROME1: the maximum, 4095
//! let top_band = Rect { row_start: 0, row_end: 1, col_start: 0, col_end: 6 };
//! let done = blank(&mut pixels, &geometry, &[top_band], &fill)?;
//! assert_eq!(done.pixels_per_frame, 6);
//! assert_eq!(&pixels[..2], &4095u16.to_le_bytes());
//! assert_eq!(first_unblanked(&pixels, &geometry, &done.applied, &fill)?, None);
//! # Ok::<(), gantry_redact::RedactError>(())
//! ```
#![deny(missing_docs)]

pub use blank::{Blanked, blank, effective_zones, first_unblanked};
pub use codec::{
    Decoded, EXPLICIT_VR_LITTLE_ENDIAN, RLE_LOSSLESS, can_decode, decode, encode_rle, interleave,
    lossy_method,
};
pub use error::RedactError;
pub use fill::{Fill, Palette};
pub use geometry::{Geometry, Photometric, Rect};
#[cfg(feature = "ocr")]
pub use ocr::{Reading, mask, read_regions};
pub use rle::{
    RleFrameShape, decode_frame as rle_decode_frame, encode_frame as rle_encode_frame,
    fuzz_round_trip as rle_fuzz_round_trip,
};
pub use streams::{Stripped, strip_encapsulated, strippable};
pub use text::{
    DETECTOR, Detection, TextRegion, clear_high_bits, covered, find_text, find_text_beside,
    find_text_classical, find_text_in_bitmap, fuzz_detect, text_candidates, zones_around,
};

mod blank;
mod codec;
mod dicom;
mod error;
mod fill;
mod geometry;
#[cfg(feature = "learned")]
mod learned;
#[cfg(feature = "ocr")]
mod ocr;
mod rle;
mod streams;
mod text;
