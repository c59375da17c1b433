//! Pixel redaction for Gantry: blank burned-in text in DICOM pixel data.
//!
//! Given pixel data, its geometry and a set of zones, this crate blanks the zones in every
//! frame and sample layout, and round-trips encapsulated pixel data through a decoder and a
//! lossless encoder. It knows nothing of sessions or privacy rules: pure functions over
//! buffers, parallel with rayon.
//!
//! ```
//! use gantry_redact::{RleFrameShape, rle_decode_frame, rle_encode_frame};
//! let shape = RleFrameShape { rows: 2, columns: 3, samples: 1, bytes_per_sample: 1 };
//! let frame = [1, 1, 1, 0, 200, 7];
//! let fragment = rle_encode_frame(&frame, shape)?;
//! assert_eq!(rle_decode_frame(&fragment, shape)?, frame);
//! # Ok::<(), gantry_redact::RedactError>(())
//! ```
#![deny(missing_docs)]

pub use error::RedactError;
pub use rle::{RleFrameShape, decode_frame as rle_decode_frame, encode_frame as rle_encode_frame};

mod error;
mod rle;
