//! The codec round trip: encapsulated pixel data decoded to native samples, and native
//! samples encoded losslessly (RLE) when a compressed output is wanted.

use dicom_core::value::{PixelFragmentSequence, Value};
use dicom_core::{DataElement, VR};
use dicom_encoding::TransferSyntaxIndex;
use dicom_object::{FileMetaTableBuilder, InMemDicomObject};
use dicom_pixeldata::{PixelDecoder, PixelRepresentation, PlanarConfiguration};
use dicom_transfer_syntax_registry::TransferSyntaxRegistry;
use rayon::prelude::*;

use crate::RedactError;
use crate::geometry::{Geometry, Photometric};
use crate::rle::{self, RleFrameShape};

/// RLE Lossless.
pub const RLE_LOSSLESS: &str = "1.2.840.10008.1.2.5";
/// Explicit VR Little Endian: native pixels.
pub const EXPLICIT_VR_LITTLE_ENDIAN: &str = "1.2.840.10008.1.2.1";
const ENCAPSULATED_UNCOMPRESSED: &str = "1.2.840.10008.1.2.1.98";

/// Native pixel data and its layout, decoded from an encapsulated value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decoded {
    /// Little endian samples, every frame.
    pub data: Vec<u8>,
    /// Their layout (the colour space may differ from the header's: decoders of JPEG
    /// and JPEG 2000 return RGB for colour images).
    pub geometry: Geometry,
}

/// Whether pixel data in `transfer_syntax` can be decoded by this build (JPEG-LS needs
/// the `charls` feature).
pub fn can_decode(transfer_syntax: &str) -> bool {
    let uid = transfer_syntax.trim_end_matches(['\0', ' ']);
    uid == RLE_LOSSLESS
        || uid == ENCAPSULATED_UNCOMPRESSED
        || TransferSyntaxRegistry
            .get(uid)
            .is_some_and(|ts| ts.can_decode_all())
}

/// The Lossy Image Compression Method (0028,2114) term of a syntax that may be lossy;
/// `None` for syntaxes that are always lossless.
pub fn lossy_method(transfer_syntax: &str) -> Option<&'static str> {
    match transfer_syntax.trim_end_matches(['\0', ' ']) {
        "1.2.840.10008.1.2.4.50" | "1.2.840.10008.1.2.4.51" => Some("ISO_10918_1"),
        "1.2.840.10008.1.2.4.81" => Some("ISO_14495_1"),
        "1.2.840.10008.1.2.4.91" | "1.2.840.10008.1.2.4.93" => Some("ISO_15444_1"),
        "1.2.840.10008.1.2.4.203" | "1.2.840.10008.1.2.4.202" => Some("ISO_15444_15"),
        "1.2.840.10008.1.2.4.100" | "1.2.840.10008.1.2.4.101" => Some("ISO_13818_2"),
        "1.2.840.10008.1.2.4.102" | "1.2.840.10008.1.2.4.103" => Some("ISO_14496_10"),
        "1.2.840.10008.1.2.4.107" | "1.2.840.10008.1.2.4.108" => Some("ISO_23008_2"),
        "1.2.840.10008.1.2.4.110" | "1.2.840.10008.1.2.4.112" => Some("ISO_18181_1"),
        _ => None,
    }
}

/// Decodes encapsulated pixel data. `header` supplies the image pixel module.
pub fn decode(
    header: &InMemDicomObject,
    transfer_syntax: &str,
    offset_table: Vec<u32>,
    fragments: Vec<Vec<u8>>,
) -> Result<Decoded, RedactError> {
    let uid = transfer_syntax.trim_end_matches(['\0', ' ']);
    let declared = Geometry::from_header(header)?;
    if uid == RLE_LOSSLESS {
        return decode_rle(declared, &fragments);
    }
    if uid == ENCAPSULATED_UNCOMPRESSED {
        return Ok(Decoded {
            data: fragments.concat(),
            geometry: declared,
        });
    }
    if !can_decode(uid) {
        return Err(RedactError::Codec(format!(
            "no decoder for transfer syntax {uid} in this build"
        )));
    }
    check_sizes(uid, &declared, &fragments)?;
    let mut object = header.clone();
    object.put(DataElement::new(
        dicom_core::Tag(0x7FE0, 0x0010),
        VR::OB,
        Value::PixelSequence(PixelFragmentSequence::new(offset_table, fragments)),
    ));
    let sop_class = header
        .get(dicom_core::Tag(0x0008, 0x0016))
        .and_then(|e| e.to_str().ok())
        .map(|s| s.trim_end_matches(['\0', ' ']).to_string())
        .unwrap_or_else(|| "1.2.840.10008.5.1.4.1.1.7".into());
    let sop_instance = header
        .get(dicom_core::Tag(0x0008, 0x0018))
        .and_then(|e| e.to_str().ok())
        .map(|s| s.trim_end_matches(['\0', ' ']).to_string())
        .unwrap_or_else(|| "2.25.0".into());
    let file = object
        .with_meta(
            FileMetaTableBuilder::new()
                .transfer_syntax(uid)
                .media_storage_sop_class_uid(sop_class)
                .media_storage_sop_instance_uid(sop_instance),
        )
        .map_err(|e| RedactError::Codec(e.to_string()))?;
    // Decoders are third-party code over untrusted bytes: a panic in one must not take
    // down the batch.
    let decoded = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        file.decode_pixel_data().map(|d| d.to_owned())
    }))
    .map_err(|_| RedactError::Codec(format!("the {uid} decoder panicked on this data")))?
    .map_err(|e| RedactError::Codec(e.to_string()))?;
    let geometry = Geometry {
        rows: decoded.rows(),
        columns: decoded.columns(),
        frames: decoded.number_of_frames().max(1),
        samples_per_pixel: decoded.samples_per_pixel(),
        bits_allocated: decoded.bits_allocated(),
        bits_stored: decoded.bits_stored(),
        signed: decoded.pixel_representation() == PixelRepresentation::Signed,
        planar: decoded.samples_per_pixel() > 1
            && decoded.planar_configuration() == PlanarConfiguration::PixelFirst,
        photometric: Photometric::parse(decoded.photometric_interpretation().as_ref()),
    };
    let data = decoded.into_data();
    geometry.validate()?;
    if data.len() < geometry.data_len() {
        return Err(RedactError::Codec(format!(
            "the decoder returned {} bytes where the image needs {}",
            data.len(),
            geometry.data_len()
        )));
    }
    Ok(Decoded { data, geometry })
}

/// Decoded sizes above this need their compressed data to be at least a
/// [`MAX_EXPANSION`]th of them.
const LARGE: u64 = 256 << 20;

/// How many times its compressed size a large image may decode to. Real streams stay far
/// below it (baseline JPEG needs some bits for every 8×8 block); a blank image coded in
/// JPEG-LS or JPEG 2000 can exceed it, and is then refused unread, as a bomb would be.
const MAX_EXPANSION: u64 = 2000;

/// Decoders size their output from each stream's own header and fill what the data
/// lacks: 333 bytes of JPEG claiming 65500 × 65500 cost 4 GB and 17 s. So before a decoder
/// sees them, every stream a fragment starts must declare the header's rows, columns and
/// samples, and a large image must not decode to more than [`MAX_EXPANSION`] times its
/// compressed size. What fails is not decoded: its pixels stay unsearched, and blocked.
fn check_sizes(uid: &str, declared: &Geometry, fragments: &[Vec<u8>]) -> Result<(), RedactError> {
    let compressed: u64 = fragments.iter().map(|f| f.len() as u64).sum();
    // Saturating: a header's numbers can multiply past 64 bits, and a wrapped product
    // would pass for a small image.
    let decoded = [
        declared.columns as u64,
        declared.samples_per_pixel as u64,
        (declared.bits_allocated as u64).div_ceil(8),
        declared.frames as u64,
    ]
    .into_iter()
    .fold(declared.rows as u64, u64::saturating_mul);
    if decoded > LARGE && decoded > MAX_EXPANSION.saturating_mul(compressed) {
        return Err(RedactError::Codec(format!(
            "the header declares {decoded} bytes of pixels from {compressed} compressed bytes, \
             more than {MAX_EXPANSION} to 1: not decoded"
        )));
    }
    for (n, fragment) in fragments.iter().enumerate() {
        // A header split across fragments is read on with the fragments after it, the
        // bytes read at least doubling each time (so reading stays linear).
        let truncated =
            |size: &Result<_, _>| matches!(size, Err(crate::streams::Malformed::Truncated { .. }));
        let mut size = crate::streams::stream_size(uid, fragment);
        let mut joined = Vec::new();
        let mut rest = fragments[n + 1..].iter();
        while truncated(&size) {
            if joined.is_empty() {
                joined.extend_from_slice(fragment);
            }
            let enough = 2 * joined.len().max(1);
            let mut more = false;
            while joined.len() < enough
                && let Some(next) = rest.next()
            {
                joined.extend_from_slice(next);
                more = true;
            }
            if !more {
                break;
            }
            size = crate::streams::stream_size(uid, &joined);
        }
        let size = size.map_err(|e| {
            RedactError::Codec(format!(
                "the stream fragment {n} starts cannot be read: {e}"
            ))
        })?;
        if let Some(size) = size
            && (size.rows, size.columns, size.components)
                != (
                    declared.rows,
                    declared.columns,
                    declared.samples_per_pixel as u32,
                )
        {
            return Err(RedactError::Codec(format!(
                "the stream fragment {n} starts declares {} rows × {} columns × {} samples \
                 where the header says {} × {} × {}: not decoded",
                size.rows,
                size.columns,
                size.components,
                declared.rows,
                declared.columns,
                declared.samples_per_pixel
            )));
        }
    }
    Ok(())
}

fn shape(geometry: &Geometry) -> Result<RleFrameShape, RedactError> {
    if geometry.bits_allocated < 8 || geometry.photometric == Photometric::YbrFull422 {
        return Err(RedactError::Codec(format!(
            "RLE of {}-bit {} data",
            geometry.bits_allocated,
            geometry.photometric.as_str()
        )));
    }
    Ok(RleFrameShape {
        rows: geometry.rows as usize,
        columns: geometry.columns as usize,
        samples: geometry.samples_per_pixel as usize,
        bytes_per_sample: geometry.sample_bytes(),
    })
}

/// RLE keeps its colour space: PS3.5 G.2 codes samples, not colours, so YBR_FULL stays
/// YBR_FULL (the generic decoder would label every colour image RGB).
fn decode_rle(declared: Geometry, fragments: &[Vec<u8>]) -> Result<Decoded, RedactError> {
    let shape = shape(&declared)?;
    if fragments.len() != declared.frames as usize {
        return Err(RedactError::Codec(format!(
            "RLE pixel data with {} fragments for {} frames (PS3.5 A.4.2: one per frame)",
            fragments.len(),
            declared.frames
        )));
    }
    let frames: Vec<Vec<u8>> = fragments
        .par_iter()
        .map(|f| rle::decode_frame(f, shape))
        .collect::<Result<_, _>>()?;
    Ok(Decoded {
        data: frames.concat(),
        geometry: Geometry {
            planar: false,
            ..declared
        },
    })
}

/// Colour-by-plane samples (`RRR..GGG..BBB..` per frame) rearranged colour-by-pixel.
pub fn interleave(data: &[u8], geometry: &Geometry) -> Vec<u8> {
    if !geometry.planar || geometry.samples_per_pixel < 2 {
        return data.to_vec();
    }
    let n = geometry.sample_bytes();
    let spp = geometry.samples_per_pixel as usize;
    let pixels = geometry.rows as usize * geometry.columns as usize;
    let frame_len = geometry.frame_len();
    let mut out = vec![0u8; frame_len * geometry.frames as usize];
    out.par_chunks_mut(frame_len)
        .zip(data.par_chunks(frame_len))
        .for_each(|(to, from)| {
            for p in 0..pixels {
                for s in 0..spp {
                    let src = (s * pixels + p) * n;
                    let dst = (p * spp + s) * n;
                    to[dst..dst + n].copy_from_slice(&from[src..src + n]);
                }
            }
        });
    out
}

/// Encodes native colour-by-pixel data as RLE Lossless fragments, one per frame.
pub fn encode_rle(data: &[u8], geometry: &Geometry) -> Result<Vec<Vec<u8>>, RedactError> {
    if geometry.planar {
        return Err(RedactError::Codec(
            "RLE encoding takes colour-by-pixel data".into(),
        ));
    }
    let shape = shape(geometry)?;
    let frame_len = shape.frame_len();
    if data.len() < frame_len * geometry.frames as usize {
        return Err(RedactError::Layout(
            "pixel data shorter than its frames".into(),
        ));
    }
    data[..frame_len * geometry.frames as usize]
        .par_chunks(frame_len)
        .map(|frame| rle::encode_frame(frame, shape))
        .collect()
}
