//! Pixels of any layout and content: the burned-in text detector never panics, and what
//! it finds lies inside the frames.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| gantry_redact::fuzz_detect(data));
