//! Any file an ingest may meet: parsing never panics, and what parses is stored, decoded
//! and scanned as ingest and export do.
#![no_main]

use dicom_core::Tag;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // read_source takes a path (it stats the file and reads only what it needs).
    let path = std::env::temp_dir().join(format!("gantry-fuzz-{}.dcm", std::process::id()));
    if std::fs::write(&path, data).is_err() {
        return;
    }
    if let Ok(parsed) = gantry_store::read_source(&path)
        && let Ok(blob) = parsed.header_blob()
    {
        let _ = gantry_store::decode_header(&blob);
        let _ = gantry_store::scan_header(&blob, &[Tag(0x0008, 0x0018), Tag(0x0002, 0x0010)]);
    }
});
