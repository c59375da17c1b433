//! RLE Lossless fragments of any shape: decoding never panics, and what decodes encodes
//! and decodes back to the same pixels.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| gantry_redact::rle_fuzz_round_trip(data));
