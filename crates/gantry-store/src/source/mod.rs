//! Source files: reading a header without its pixels, and reading the pixels later.

mod counting;
mod meta;
mod parse;
mod pixels;

use serde::{Deserialize, Serialize};

pub use crate::reason::SkipReason;
pub use meta::FileMeta;
pub use parse::{ParsedSource, format_tag, read_source};
pub use pixels::{PixelValueReader, open_pixel_value, split_fragments};

/// The transfer syntax a source was parsed with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourceSyntax {
    /// The transfer syntax UID.
    pub uid: String,
    /// Why the syntax had to be guessed, when the file did not name it.
    pub guessed: Option<String>,
}

/// A file's size and modification time, to notice that it changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourceStamp {
    /// Size in bytes.
    pub size: u64,
    /// Modification time in nanoseconds since the Unix epoch (0 when unknown).
    pub mtime_ns: i64,
}

/// How a pixel value is laid out in its source.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum PixelLayout {
    /// Uncompressed samples.
    Native {
        /// The VR of the Pixel Data element (OB or OW, UN from some writers).
        vr: String,
        /// Bytes per unit to swap when reading (1: none; 2 or 4: big endian source).
        swap_unit: u8,
    },
    /// Encapsulated fragments (a compressed syntax).
    Encapsulated {
        /// Number of items, the basic offset table included.
        fragments: u32,
    },
}

/// Where the top-level Pixel Data value lives in a source file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PixelLocation {
    /// Native or encapsulated, and how to read it.
    pub layout: PixelLayout,
    /// Offset of the first value byte: in the file, or in the inflated data set when
    /// `deflated_from` is set. For encapsulated data, the first item header.
    pub offset: u64,
    /// Bytes in the value; for encapsulated data, every item up to and including the
    /// sequence delimitation item.
    pub length: u64,
    /// For a Deflated Explicit VR Little Endian file, where the deflate stream starts;
    /// such pixels are read by inflating the data set again.
    pub deflated_from: Option<u64>,
}
