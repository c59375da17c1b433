//! RLE Lossless fragments of any shape: decoding never panics, and what decodes encodes
//! and decodes back to the same pixels.
#![no_main]

use gantry_redact::{RleFrameShape, rle_decode_frame, rle_encode_frame};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let [a, b, c, d, fragment @ ..] = data else {
        return;
    };
    let shape = RleFrameShape {
        rows: 1 + usize::from(*a % 64),
        columns: 1 + usize::from(*b % 64),
        samples: [1, 3][usize::from(*c % 2)],
        bytes_per_sample: [1, 2, 4][usize::from(*d % 3)],
    };
    if let Ok(pixels) = rle_decode_frame(fragment, shape) {
        let encoded = rle_encode_frame(&pixels, shape).expect("decoded pixels encode");
        let again = rle_decode_frame(&encoded, shape).expect("own encoding decodes");
        assert_eq!(pixels, again, "RLE round trip changed pixels");
    }
});
