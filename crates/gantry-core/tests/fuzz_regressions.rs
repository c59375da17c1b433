//! Replays every input a fuzz target ever crashed on (`fuzz/regressions/TARGET/`), plus
//! the seed files, through the same calls the targets make: none may panic again, and the
//! RLE round trip must hold. The fuzzers themselves run in `.ci/run` (`fuzz/run.sh`).

use std::path::{Path, PathBuf};

use dicom_core::Tag;
use gantry_crypto::{Credential, KeyFile, Unsealer};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The kept crash inputs of `target`, and the pydicom samples every binary target seeds from.
fn inputs(target: &str) -> Vec<(PathBuf, Vec<u8>)> {
    let mut paths = Vec::new();
    for dir in [
        root().join("fuzz/regressions").join(target),
        root().join("tests/data/pydicom"),
    ] {
        if let Ok(entries) = std::fs::read_dir(&dir) {
            paths.extend(
                entries
                    .filter_map(|e| e.ok())
                    .map(|e| e.path())
                    .filter(|p| p.is_file()),
            );
        }
    }
    paths.sort();
    paths
        .into_iter()
        .map(|p| {
            let bytes = std::fs::read(&p).unwrap();
            (p, bytes)
        })
        .collect()
}

#[test]
fn source_parser_inputs_parse_or_fail_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let cases = inputs("source_parser");
    assert!(cases.len() >= 20, "the seed corpus is missing");
    for (name, data) in cases {
        let path = dir.path().join("input.dcm");
        std::fs::write(&path, &data).unwrap();
        if let Ok(parsed) = gantry_store::read_source(&path)
            && let Ok(blob) = parsed.header_blob()
        {
            let header = gantry_store::decode_header(&blob);
            assert!(
                header.is_ok(),
                "{}: a stored header must decode",
                name.display()
            );
            let _ = gantry_store::scan_header(&blob, &[Tag(0x0008, 0x0018)]);
        }
    }
}

#[test]
fn header_scan_inputs_never_panic() {
    // The kept crash: refused by the length walk, before dicom-rs reserves 3 GB.
    let kept = root().join("fuzz/regressions/header_scan/nested-length-3gb.bin");
    let error = gantry_store::decode_header(&std::fs::read(kept).unwrap()).unwrap_err();
    assert!(error.detail.contains("claims 3486449664 bytes"), "{error}");
    for (_, data) in inputs("header_scan") {
        for start in [0, 128, 132] {
            let blob = data.get(start..).unwrap_or_default();
            let _ = gantry_store::scan_header(blob, &[Tag(0x0008, 0x0018)]);
            if let Ok(header) = gantry_store::decode_header(blob) {
                let _ = gantry_store::encode_header(&header);
            }
        }
    }
}

#[test]
fn config_loader_inputs_never_panic() {
    for (_, data) in inputs("config_loader") {
        let _ = gantry_core::Config::parse(&String::from_utf8_lossy(&data), "fuzz.yaml");
    }
}

#[test]
fn cms_envelope_inputs_are_refused_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let key = KeyFile::create(dir.path().join("k.key")).unwrap();
    let unsealer = Unsealer::new(Credential::Key(&key));
    // The kept crash: a UL of 18 bytes puts dicom-rs two bytes off; the walk refuses it.
    let kept = root().join("fuzz/regressions/cms_envelope/ul-18-bytes-then-3gb.bin");
    let error = gantry_store::decode_header(&std::fs::read(kept).unwrap()).unwrap_err();
    assert!(error.detail.contains("UL of 18 bytes"), "{error}");
    for (name, data) in inputs("cms_envelope") {
        assert!(
            unsealer.open_content(&data).is_err(),
            "{}: not sealed for this key",
            name.display()
        );
        let _ = gantry_crypto::decode_modified_attributes(&data);
    }
}

#[test]
fn rle_codec_inputs_round_trip_or_fail_cleanly() {
    for (_, data) in inputs("rle_codec") {
        gantry_redact::rle_fuzz_round_trip(&data);
    }
}

#[test]
fn text_detector_inputs_never_panic() {
    for (_, data) in inputs("text_detector") {
        gantry_redact::fuzz_detect(&data);
    }
}
