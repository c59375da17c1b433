//! RLE Lossless (PS3.5 Annex G): the lossless codec every DICOM reader supports.
//!
//! A frame is split into one segment per byte of each sample, most significant byte
//! first, each PackBits-encoded row by row (G.3.1: a run never crosses a row). The 64-byte
//! header holds the segment count and their offsets. Native pixel data for RLE is handled
//! here colour-by-pixel (planar configuration 0), which is how decoders hand it back.

use crate::RedactError;

/// Maximum segments in one frame (the header has room for 15 offsets).
const MAX_SEGMENTS: usize = 15;

/// The shape of one frame, for the codec.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RleFrameShape {
    /// Rows.
    pub rows: usize,
    /// Columns.
    pub columns: usize,
    /// Samples per pixel (1 or 3).
    pub samples: usize,
    /// Bytes per sample (1, 2 or 4).
    pub bytes_per_sample: usize,
}

impl RleFrameShape {
    fn segments(&self) -> usize {
        self.samples * self.bytes_per_sample
    }

    /// Bytes in one native frame of this shape.
    pub fn frame_len(&self) -> usize {
        self.rows * self.columns * self.segments()
    }
}

/// Encodes one native little endian frame, samples interleaved, as an RLE fragment.
pub fn encode_frame(frame: &[u8], shape: RleFrameShape) -> Result<Vec<u8>, RedactError> {
    let segments = shape.segments();
    if segments == 0 || segments > MAX_SEGMENTS || frame.len() != shape.frame_len() {
        return Err(RedactError::Layout(format!(
            "cannot RLE-encode a {}-byte frame as {shape:?}",
            frame.len()
        )));
    }
    let pixel_stride = segments;
    let mut out = vec![0u8; 64];
    out[..4].copy_from_slice(&(segments as u32).to_le_bytes());
    let mut plane = vec![0u8; shape.columns];
    for segment in 0..segments {
        let offset = out.len() as u32;
        out[4 + 4 * segment..8 + 4 * segment].copy_from_slice(&offset.to_le_bytes());
        let sample = segment / shape.bytes_per_sample;
        // Segment 0 of a sample is its most significant byte (G.2).
        let byte = shape.bytes_per_sample - 1 - segment % shape.bytes_per_sample;
        let first = sample * shape.bytes_per_sample + byte;
        for row in 0..shape.rows {
            let row_start = row * shape.columns * pixel_stride;
            for (col, b) in plane.iter_mut().enumerate() {
                *b = frame[row_start + col * pixel_stride + first];
            }
            pack_bits(&plane, &mut out);
        }
        if out.len() % 2 == 1 {
            out.push(0); // segments have even length
        }
    }
    Ok(out)
}

/// PackBits one row: runs of 3 or more equal bytes are replicated, the rest literal.
fn pack_bits(row: &[u8], out: &mut Vec<u8>) {
    let mut i = 0;
    while i < row.len() {
        let mut run = 1;
        while i + run < row.len() && run < 128 && row[i + run] == row[i] {
            run += 1;
        }
        if run >= 3 {
            out.push((1i16 - run as i16) as i8 as u8);
            out.push(row[i]);
            i += run;
            continue;
        }
        // Literal: up to 128 bytes, stopping before the next run of 3.
        let start = i;
        while i < row.len() && i - start < 128 {
            if i + 2 < row.len() && row[i] == row[i + 1] && row[i] == row[i + 2] {
                break;
            }
            i += 1;
        }
        out.push((i - start - 1) as u8);
        out.extend_from_slice(&row[start..i]);
    }
}

/// Decodes one RLE fragment into a native little endian frame, samples interleaved.
///
/// Written here rather than taken from dicom-rs because that decoder refuses 32-bit
/// samples and panics on some damaged segments; this one returns an error instead.
pub fn decode_frame(fragment: &[u8], shape: RleFrameShape) -> Result<Vec<u8>, RedactError> {
    let bad = |what: &str| RedactError::Codec(format!("RLE fragment: {what}"));
    if fragment.len() < 64 {
        return Err(bad("shorter than its 64-byte header"));
    }
    let word = |i: usize| {
        u32::from_le_bytes([
            fragment[4 * i],
            fragment[4 * i + 1],
            fragment[4 * i + 2],
            fragment[4 * i + 3],
        ]) as usize
    };
    let segments = word(0);
    if segments != shape.segments() {
        return Err(bad(&format!(
            "{segments} segments where {} samples of {} bytes need {}",
            shape.samples,
            shape.bytes_per_sample,
            shape.segments()
        )));
    }
    let plane_len = shape.rows * shape.columns;
    // A PackBits byte pair expands to at most 128 bytes, so a segment of n bytes holds at
    // most 64 n. A frame the fragment cannot hold is refused before its buffer is made:
    // the shape comes from the header, and 65535 × 65535 × 3 × 4 bytes is 51 GB.
    let most = (fragment.len() - 64).saturating_mul(64);
    if plane_len.saturating_mul(segments) > most {
        return Err(bad(&format!(
            "{} rows × {} columns × {segments} segments cannot come from {} bytes",
            shape.rows,
            shape.columns,
            fragment.len()
        )));
    }
    let mut frame = vec![0u8; shape.frame_len()];
    let mut plane = Vec::with_capacity(plane_len);
    for segment in 0..segments {
        let start = word(1 + segment);
        let end = if segment + 1 < segments {
            word(2 + segment)
        } else {
            fragment.len()
        };
        let data = fragment
            .get(start..end)
            .ok_or_else(|| bad("segment offsets out of order or out of range"))?;
        plane.clear();
        unpack_bits(data, plane_len, &mut plane);
        if plane.len() < plane_len {
            return Err(bad(&format!(
                "segment {segment} decodes to {} of {plane_len} bytes",
                plane.len()
            )));
        }
        let sample = segment / shape.bytes_per_sample;
        let byte = shape.bytes_per_sample - 1 - segment % shape.bytes_per_sample;
        let first = sample * shape.bytes_per_sample + byte;
        for (i, b) in plane.iter().take(plane_len).enumerate() {
            frame[i * segments + first] = *b;
        }
    }
    Ok(frame)
}

fn unpack_bits(data: &[u8], want: usize, out: &mut Vec<u8>) {
    let mut i = 0;
    while i < data.len() && out.len() < want {
        let n = data[i] as i8;
        i += 1;
        if n >= 0 {
            let end = (i + n as usize + 1).min(data.len());
            out.extend_from_slice(&data[i..end]);
            i = end;
        } else if n != -128 {
            if let Some(&b) = data.get(i) {
                out.extend(std::iter::repeat_n(b, 1 + (-(n as i16)) as usize));
            }
            i += 1;
        }
    }
    out.truncate(want);
}

/// Fuzzing's round trip, shared by the fuzz target and the suite that replays its
/// crash inputs: the first four bytes choose a frame shape, the rest is a fragment. What
/// decodes must encode and decode back to the same pixels; anything else is an error,
/// never a panic. Panics when the round trip breaks.
#[doc(hidden)]
pub fn fuzz_round_trip(data: &[u8]) {
    let [a, b, c, d, fragment @ ..] = data else {
        return;
    };
    let shape = RleFrameShape {
        rows: 1 + usize::from(*a % 64),
        columns: 1 + usize::from(*b % 64),
        samples: [1, 3][usize::from(*c % 2)],
        bytes_per_sample: [1, 2, 4][usize::from(*d % 3)],
    };
    if let Ok(pixels) = decode_frame(fragment, shape) {
        let encoded = encode_frame(&pixels, shape)
            .unwrap_or_else(|e| panic!("decoded pixels do not encode: {e}"));
        let again = decode_frame(&encoded, shape)
            .unwrap_or_else(|e| panic!("Gantry's own encoding does not decode: {e}"));
        assert_eq!(pixels, again, "RLE round trip changed pixels");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_every_sample_layout() {
        for (samples, bytes) in [(1, 1), (1, 2), (1, 4), (3, 1), (3, 2)] {
            let shape = RleFrameShape {
                rows: 7,
                columns: 300,
                samples,
                bytes_per_sample: bytes,
            };
            let frame: Vec<u8> = (0..shape.frame_len())
                .map(|i| {
                    if (i / 37) % 3 == 0 {
                        9
                    } else {
                        (i * 31 % 251) as u8
                    }
                })
                .collect();
            let encoded = encode_frame(&frame, shape).unwrap();
            assert_eq!(encoded.len() % 2, 0);
            assert_eq!(decode_frame(&encoded, shape).unwrap(), frame, "{shape:?}");
        }
    }

    #[test]
    fn a_frame_its_fragment_cannot_hold_is_refused_before_it_is_allocated() {
        // The most compressed frame there is (flat: 128 bytes per byte pair) decodes.
        let flat = RleFrameShape {
            rows: 256,
            columns: 512,
            samples: 3,
            bytes_per_sample: 2,
        };
        let encoded = encode_frame(&vec![7u8; flat.frame_len()], flat).unwrap();
        assert_eq!(
            decode_frame(&encoded, flat).unwrap(),
            vec![7u8; flat.frame_len()]
        );
        // The same fragment read as a 65535 × 65535 frame of 3 × 4-byte samples (51 GB).
        let claimed = RleFrameShape {
            rows: 65535,
            columns: 65535,
            samples: 3,
            bytes_per_sample: 4,
        };
        let mut header = encoded[..64].to_vec();
        header[..4].copy_from_slice(&12u32.to_le_bytes());
        let mut fragment = header;
        fragment.extend_from_slice(&encoded[64..]);
        let error = decode_frame(&fragment, claimed).unwrap_err();
        assert!(error.to_string().contains("cannot come from"), "{error}");
    }

    #[test]
    fn damaged_fragment_is_an_error_not_a_panic() {
        let shape = RleFrameShape {
            rows: 4,
            columns: 4,
            samples: 1,
            bytes_per_sample: 1,
        };
        let encoded = encode_frame(&[5u8; 16], shape).unwrap();
        for cut in 0..encoded.len() {
            let _ = decode_frame(&encoded[..cut], shape);
        }
        let mut wrong = encoded.clone();
        wrong[4] = 0xFF;
        assert!(decode_frame(&wrong, shape).is_err());
    }
}
