//! The source reader on the public pydicom samples: every file is read or refused with a
//! precise reason, and located pixel bytes are exactly the element's value.

use std::path::{Path, PathBuf};

use dicom_core::header::Header;
use dicom_dictionary_std::tags;
use gantry_store::{
    PixelLayout, SkipReason, Store, StoreError, decode_header, encode_header, open_pixel_value,
    read_source, split_fragments,
};

fn samples() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/data/pydicom")
}

fn pixels(name: &str) -> Vec<u8> {
    let path = samples().join(name);
    let parsed = read_source(&path).unwrap();
    let location = parsed.pixels.expect("has pixel data");
    open_pixel_value(&path, &location, parsed.stamp)
        .unwrap()
        .read_all(location.length)
        .unwrap()
}

#[test]
fn big_endian_pixels_read_as_their_little_endian_twins() {
    // Same images written in both byte orders; 16-bit OW, 32-bit OW and 1-bit OB.
    for (little, big) in [
        ("MR_small.dcm", "MR_small_bigendian.dcm"),
        ("MR_small.dcm", "MR_small_expb.dcm"),
        ("rtdose.dcm", "rtdose_expb.dcm"),
        ("rtdose_1frame.dcm", "rtdose_expb_1frame.dcm"),
        ("liver_1frame.dcm", "liver_expb_1frame.dcm"),
        ("SC_rgb_small_odd.dcm", "SC_rgb_small_odd_big_endian.dcm"),
    ] {
        assert_eq!(pixels(little), pixels(big), "{little} vs {big}");
    }
}

#[test]
fn native_pixel_location_matches_a_full_read() {
    for name in [
        "CT_small.dcm",
        "MR_small_implicit.dcm",
        "examples_palette.dcm",
        "MR_small_padded.dcm",
    ] {
        let full = dicom_object::open_file(samples().join(name)).unwrap();
        let want = full.element(tags::PIXEL_DATA).unwrap().to_bytes().unwrap();
        assert_eq!(pixels(name), want.as_ref(), "{name}");
    }
}

#[test]
fn encapsulated_fragments_match_a_full_read() {
    for name in [
        "MR_small_RLE.dcm",
        "examples_ybr_color.dcm",
        "rtdose_rle.dcm",
        "JPEG2000.dcm",
    ] {
        let full = dicom_object::open_file(samples().join(name)).unwrap();
        let element = full.element(tags::PIXEL_DATA).unwrap();
        let want = element.value().fragments().unwrap();
        let (_, fragments) = split_fragments(&pixels(name)).unwrap();
        assert_eq!(fragments.as_slice(), want, "{name}");
    }
}

#[test]
fn deflated_pixels_are_read_by_inflating() {
    let path = samples().join("image_dfl.dcm");
    let parsed = read_source(&path).unwrap();
    let location = parsed.pixels.clone().unwrap();
    assert!(location.deflated_from.is_some());
    let bytes = open_pixel_value(&path, &location, parsed.stamp)
        .unwrap()
        .read_all(location.length)
        .unwrap();
    let rows = parsed
        .header
        .get(tags::ROWS)
        .unwrap()
        .to_int::<u64>()
        .unwrap();
    let cols = parsed
        .header
        .get(tags::COLUMNS)
        .unwrap()
        .to_int::<u64>()
        .unwrap();
    assert_eq!(bytes.len() as u64, rows * cols);
    assert!(
        bytes.iter().any(|b| *b != 0),
        "inflated pixels are not all zero"
    );
}

#[test]
fn broken_files_get_specific_reasons() {
    let cases: &[(&str, &str)] = &[
        ("MR_truncated.dcm", "truncated"),
        ("rtplan_truncated.dcm", "truncated"),
        ("no_meta.dcm", "not_dicom"),
        ("PYDICOM-TEST-FILES-README.txt", "not_dicom"),
    ];
    for (name, code) in cases {
        let reason = read_source(&samples().join(name)).unwrap_err();
        assert_eq!(reason.code(), *code, "{name}: {reason}");
    }
}

#[test]
fn missing_meta_or_syntax_is_guessed_and_said() {
    for name in [
        "ExplVR_BigEndNoMeta.dcm",
        "ExplVR_LitEndNoMeta.dcm",
        "rtstruct.dcm",
        "meta_missing_tsyntax.dcm",
    ] {
        let parsed = read_source(&samples().join(name)).unwrap();
        assert!(parsed.syntax.guessed.is_some(), "{name}");
    }
    let parsed = read_source(&samples().join("ExplVR_BigEndNoMeta.dcm")).unwrap();
    assert_eq!(parsed.syntax.uid, "1.2.840.10008.1.2.2");
}

#[test]
fn mislabelled_implicit_data_set_is_read_and_noted() {
    let parsed = read_source(&samples().join("SC_rgb_jpeg.dcm")).unwrap();
    assert_eq!(parsed.syntax.uid, "1.2.840.10008.1.2.4.50");
    assert!(parsed.notes.iter().any(|n| n.contains("implicit")));
    assert!(matches!(
        parsed.pixels.unwrap().layout,
        PixelLayout::Encapsulated { .. }
    ));
}

#[test]
fn nested_private_sequences_survive_the_header_blob() {
    let parsed = read_source(&samples().join("nested_priv_SQ.dcm")).unwrap();
    let blob = encode_header(&parsed.header).unwrap();
    let back = decode_header(&blob).unwrap();
    assert_eq!(encode_header(&back).unwrap(), blob);
    let outer = back.iter().next().unwrap();
    assert_eq!(outer.tag().group() % 2, 1, "private group kept");
    let items = outer.items().unwrap();
    let inner = items[0]
        .iter()
        .find(|e| e.items().is_some())
        .expect("nested sequence kept");
    assert!(!inner.items().unwrap().is_empty());
}

#[test]
fn garbage_never_panics() {
    let dir = tempfile::tempdir().unwrap();
    let base = std::fs::read(samples().join("CT_small.dcm")).unwrap();
    // Cuts at many lengths, and a flipped byte at many positions of the header.
    for cut in (0..base.len()).step_by(97) {
        let path = dir.path().join("cut.dcm");
        std::fs::write(&path, &base[..cut]).unwrap();
        let _ = read_source(&path);
    }
    for at in (0..6400).step_by(13) {
        let mut bytes = base.clone();
        bytes[at] ^= 0xFF;
        let path = dir.path().join("flip.dcm");
        std::fs::write(&path, &bytes).unwrap();
        let _ = read_source(&path);
    }
    let empty = dir.path().join("empty.dcm");
    std::fs::write(&empty, b"").unwrap();
    assert_eq!(read_source(&empty).unwrap_err(), SkipReason::Empty);
}

#[test]
fn pixels_of_a_changed_source_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ct.dcm");
    std::fs::copy(samples().join("CT_small.dcm"), &path).unwrap();
    let parsed = read_source(&path).unwrap();
    let mut bytes = std::fs::read(&path).unwrap();
    bytes.extend_from_slice(&[0, 0]);
    std::fs::write(&path, bytes).unwrap();
    let err = open_pixel_value(&path, parsed.pixels.as_ref().unwrap(), parsed.stamp)
        .err()
        .unwrap();
    assert!(matches!(err, StoreError::SourceChanged { .. }), "{err}");
}

#[test]
fn a_second_opener_gets_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("gantry.db");
    let _first = Store::open(&db).unwrap();
    let err = Store::open(&db).unwrap_err();
    assert!(matches!(err, StoreError::Locked { .. }));
    assert!(
        err.to_string().contains("in use by another gantry process"),
        "{err}"
    );
}

#[test]
fn verbatim_header_bytes_decode_to_the_parsed_header() {
    // Every explicit little endian sample keeps its own bytes as the blob; they must mean
    // exactly what the parser read, or the pipeline would audit one thing and export another.
    let mut verbatim = 0;
    for entry in std::fs::read_dir(samples()).unwrap() {
        let path = entry.unwrap().path();
        let Ok(parsed) = read_source(&path) else {
            continue;
        };
        let Some(raw) = parsed.raw_header.clone() else {
            continue;
        };
        verbatim += 1;
        let from_raw = decode_header(&raw).unwrap();
        assert_eq!(
            encode_header(&from_raw).unwrap(),
            encode_header(&parsed.header).unwrap(),
            "{}",
            path.display()
        );
    }
    assert!(verbatim > 30, "{verbatim} samples kept verbatim");
}

#[test]
fn scanning_a_header_blob_finds_what_decoding_finds() {
    let mut scanned_files = 0;
    for entry in std::fs::read_dir(samples()).unwrap() {
        let path = entry.unwrap().path();
        let Ok(parsed) = gantry_store::read_source(&path) else {
            continue;
        };
        let blob = gantry_store::encode_header(&parsed.header).unwrap();
        let decoded = gantry_store::decode_header(&blob).unwrap();
        let tags: Vec<dicom_core::Tag> = decoded.iter().map(|e| e.header().tag).collect();
        let scan = gantry_store::scan_header(&blob, &tags)
            .unwrap_or_else(|| panic!("{} did not scan", path.display()));
        assert_eq!(Some(&scan.last_tag), tags.last(), "{}", path.display());
        let trim = |b: &[u8]| {
            let end = b
                .iter()
                .rposition(|c| *c != 0 && *c != b' ')
                .map_or(0, |i| i + 1);
            b[..end].to_vec()
        };
        use dicom_core::VR;
        let textual = |vr: VR| {
            matches!(
                vr,
                VR::AE
                    | VR::AS
                    | VR::CS
                    | VR::DA
                    | VR::DS
                    | VR::DT
                    | VR::IS
                    | VR::LO
                    | VR::LT
                    | VR::PN
                    | VR::SH
                    | VR::ST
                    | VR::TM
                    | VR::UC
                    | VR::UI
                    | VR::UR
                    | VR::UT
            )
        };
        for element in decoded
            .iter()
            .filter(|e| e.items().is_none() && textual(e.header().vr))
        {
            let tag = element.header().tag;
            let found = scan.elements.iter().find(|(t, _, _)| *t == tag);
            let (_, vr, bytes) =
                found.unwrap_or_else(|| panic!("{}: {tag} not scanned", path.display()));
            assert_eq!(*vr, element.header().vr, "{}: {tag}", path.display());
            // Raw bytes are in the data set's character set; compare where that is ASCII.
            if bytes.is_ascii() {
                assert_eq!(
                    trim(bytes),
                    trim(&element.to_bytes().unwrap()),
                    "{}: {tag}",
                    path.display()
                );
            }
        }
        scanned_files += 1;
    }
    assert!(scanned_files >= 60, "{scanned_files}");
}

#[test]
fn every_skip_reason_comes_back_from_the_store_as_it_was_recorded() {
    use gantry_store::{FileOutcome, FileRecord, SourceStamp};
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(dir.path().join("gantry.db")).unwrap();
    let reasons = [
        SkipReason::Empty,
        SkipReason::NotDicom {
            detail: "a PNG".into(),
        },
        SkipReason::Truncated {
            detail: "in (7FE0,0010)".into(),
        },
        SkipReason::UnreadableMeta {
            detail: "no (0002,0010)".into(),
        },
        SkipReason::UnsupportedTransferSyntax {
            uid: "1.2.3".into(),
        },
        SkipReason::AbsurdLength {
            tag: "(0010,0010)".into(),
            claimed: 4_000_000_000,
            remaining: 12,
        },
        SkipReason::Malformed {
            detail: "bad VR".into(),
        },
        SkipReason::TooDeep { limit: 64 },
        SkipReason::MissingSopInstanceUid,
        SkipReason::Unencodable {
            detail: "too long".into(),
        },
        SkipReason::Unreadable {
            detail: "permission denied".into(),
        },
    ];
    let records: Vec<FileRecord> = reasons
        .iter()
        .enumerate()
        .map(|(i, reason)| FileRecord {
            path: dir.path().join(format!("file{i:02}")),
            stamp: SourceStamp {
                size: i as u64,
                mtime_ns: 7,
            },
            outcome: FileOutcome::Skipped,
            reason: Some(reason.clone()),
            detail: None,
            sop_instance_uid: None,
        })
        .collect();
    store
        .write(|tx| records.iter().try_for_each(|r| tx.record_file(r)))
        .unwrap();
    drop(store);
    let store = Store::open(dir.path().join("gantry.db")).unwrap();
    let back: Vec<SkipReason> = store
        .files(FileOutcome::Skipped)
        .unwrap()
        .into_iter()
        .map(|r| r.reason.unwrap())
        .collect();
    assert_eq!(back, reasons);
}

#[cfg(unix)]
#[test]
fn names_that_are_not_utf8_come_back_byte_for_byte_and_stay_apart() {
    use gantry_store::{FileOutcome, FileRecord, SourceStamp};
    use std::os::unix::ffi::OsStrExt;
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(dir.path().join("gantry.db")).unwrap();
    // "MÜLLER" in Latin-1, and a name that differs from it only in that byte.
    let names: Vec<PathBuf> = [&b"M\xdcLLER.dcm"[..], b"M\xddLLER.dcm", b"plain.dcm"]
        .iter()
        .map(|n| dir.path().join(std::ffi::OsStr::from_bytes(n)))
        .collect();
    let records: Vec<FileRecord> = names
        .iter()
        .map(|path| FileRecord {
            path: path.clone(),
            stamp: SourceStamp {
                size: 1,
                mtime_ns: 2,
            },
            outcome: FileOutcome::Skipped,
            reason: Some(SkipReason::Empty),
            detail: None,
            sop_instance_uid: None,
        })
        .collect();
    store
        .write(|tx| records.iter().try_for_each(|r| tx.record_file(r)))
        .unwrap();
    let mut back: Vec<PathBuf> = store
        .files(FileOutcome::Skipped)
        .unwrap()
        .into_iter()
        .map(|r| r.path)
        .collect();
    back.sort();
    let mut expected = names.clone();
    expected.sort();
    assert_eq!(back, expected);
    let states = store.file_states(&names).unwrap();
    assert!(states.iter().all(|s| s.is_some()), "{states:?}");
}
