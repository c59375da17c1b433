//! A header blob as the store holds it (or a damaged one): the partial scan export uses,
//! the seal splice anonymize uses and the full decode never panic, and the decode never
//! allocates what a length claims beyond the blob (`gantry_dataset::check_lengths` runs first: dicom-rs
//! zero-fills a value's declared length before reading it, and libFuzzer's malloc limit
//! turns such a claim into a crash).
#![no_main]

use dicom_core::Tag;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let wanted = [
        Tag(0x0008, 0x0016),
        Tag(0x0008, 0x0018),
        Tag(0x0020, 0x000D),
        Tag(0x0028, 0x0010),
    ];
    // The splice refuses what the scan refuses, and otherwise keeps every byte around it.
    let seal = gantry_store::encode_sequence(Tag(0x0400, 0x0500), &[&[]]).unwrap_or_default();
    let spliced = gantry_store::splice_element(data, Tag(0x0400, 0x0500), &seal);
    assert_eq!(
        spliced.is_some(),
        gantry_store::scan_header(data, &[]).is_some()
    );
    if let Some(spliced) = spliced {
        assert!(spliced.len() >= seal.len());
    }
    let _ = gantry_store::scan_header(data, &wanted);
    if let Ok(header) = gantry_store::decode_header(data) {
        let _ = gantry_store::encode_header(&header);
    }
});
