//! Any config text a user may write: loading gives a config or an error, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let _ = gantry_core::Config::parse(&text, "fuzz.yaml");
});
