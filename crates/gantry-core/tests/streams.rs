//! Compressed pixel data copied from the source carries nothing but the image: JPEG COM and
//! APPn segments, JPEG 2000 comments and trailing bytes naming the patient are stripped on
//! export, and the decoded pixels are identical to the source's.

use std::path::{Path, PathBuf};

mod common;
use common::dicom_files;
use dicom_core::value::{PixelFragmentSequence, Value};
use dicom_core::{DataElement, Tag, VR};
use dicom_pixeldata::PixelDecoder;

fn samples() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/data/pydicom")
}

const SECRET: &[u8] = b"Patient DOE^JANE MRN 99887766";

fn segment(marker: [u8; 2], body: &[u8]) -> Vec<u8> {
    let mut s = marker.to_vec();
    s.extend_from_slice(&((body.len() + 2) as u16).to_be_bytes());
    s.extend_from_slice(body);
    s
}

/// The sample with the secret planted in its stream: after SOI (JPEG) or after SIZ (J2K),
/// and after the end of the stream.
fn planted(name: &str, out: &Path) -> PathBuf {
    let mut file = dicom_object::open_file(samples().join(name)).unwrap();
    let element = file.element(Tag(0x7FE0, 0x0010)).unwrap();
    let Value::PixelSequence(seq) = element.value() else {
        panic!("{name} is not encapsulated");
    };
    let mut fragments: Vec<Vec<u8>> = seq.fragments().to_vec();
    let first = &mut fragments[0];
    let at = if first.starts_with(&[0xFF, 0xD8]) {
        let mut extra = segment([0xFF, 0xFE], SECRET);
        extra.extend(segment(
            [0xFF, 0xE1],
            &[b"Exif\0\0".as_slice(), SECRET].concat(),
        ));
        first.splice(2..2, extra.clone());
        extra.len()
    } else {
        assert!(first.starts_with(&[0xFF, 0x4F, 0xFF, 0x51]), "{name}");
        let siz = 2 + 2 + u16::from_be_bytes([first[4], first[5]]) as usize;
        let extra = segment([0xFF, 0x64], &[&[0u8, 1][..], SECRET].concat());
        first.splice(siz..siz, extra.clone());
        extra.len()
    };
    assert!(at > 0);
    let last = fragments.last_mut().unwrap();
    last.extend_from_slice(SECRET);
    if last.len() % 2 == 1 {
        last.push(0);
    }
    file.put(DataElement::new(
        Tag(0x7FE0, 0x0010),
        VR::OB,
        Value::PixelSequence(PixelFragmentSequence::new(Vec::<u32>::new(), fragments)),
    ));
    let path = out.join(name);
    file.write_to_file(&path).unwrap();
    path
}

fn decoded(path: &Path) -> Vec<u8> {
    dicom_object::open_file(path)
        .unwrap()
        .decode_pixel_data()
        .unwrap()
        .data()
        .to_vec()
}

#[test]
fn jpeg_and_jpeg_2000_streams_leave_without_comments_and_with_the_same_pixels() {
    for name in [
        "SC_rgb_jpeg_dcmtk.dcm",
        "SC_rgb_jpeg_app14_dcmd.dcm",
        "MR_small_jp2klossless.dcm",
        "JPEG2000.dcm",
    ] {
        let work = tempfile::tempdir().unwrap();
        let source_dir = work.path().join("in");
        std::fs::create_dir_all(&source_dir).unwrap();
        let source = planted(name, &source_dir);
        let original_bytes = std::fs::read(&source).unwrap();
        assert!(original_bytes.windows(SECRET.len()).any(|w| w == SECRET));
        let report = common::run_checkpoints(work.path(), &source_dir, "version: \"2.0\"\n", false);
        let files = dicom_files(&work.path().join("out"));
        assert_eq!(files.len(), 1, "{name}: {report}");
        assert_eq!(report.stripped.files, 1, "{name}: {report}");
        assert!(
            report.stripped.bytes as usize > SECRET.len(),
            "{name}: {report}"
        );
        let bytes = std::fs::read(&files[0]).unwrap();
        for needle in [&b"DOE^JANE"[..], b"99887766"] {
            assert!(
                !bytes.windows(needle.len()).any(|w| w == needle),
                "{name}: the stream still names the patient"
            );
        }
        assert_eq!(
            decoded(&files[0]),
            decoded(&samples().join(name)),
            "{name}: decoded pixels differ"
        );
        assert_eq!(
            std::fs::read(&source).unwrap(),
            original_bytes,
            "input untouched"
        );
    }
}

#[test]
fn an_overlay_hidden_above_high_bit_does_not_leave() {
    let work = tempfile::tempdir().unwrap();
    let source_dir = work.path().join("in");
    std::fs::create_dir_all(&source_dir).unwrap();
    let mut file = dicom_object::open_file(samples().join("MR_small.dcm")).unwrap();
    let rows = file
        .element(Tag(0x0028, 0x0010))
        .unwrap()
        .to_int::<usize>()
        .unwrap();
    let cols = file
        .element(Tag(0x0028, 0x0011))
        .unwrap()
        .to_int::<usize>()
        .unwrap();
    let words: Vec<u16> = file
        .element(Tag(0x7FE0, 0x0010))
        .unwrap()
        .to_bytes()
        .unwrap()
        .chunks_exact(2)
        .enumerate()
        .map(|(i, b)| {
            let v = u16::from_le_bytes([b[0], b[1]]) & 0x0FFF;
            // A band of "overlay" in bit 15.
            let (r, c) = (i / cols, i % cols);
            if r < rows / 4 && c % 3 == 0 {
                v | 0x8000
            } else {
                v
            }
        })
        .collect();
    let us = |tag: u16, v: u16| {
        DataElement::new(
            Tag(0x0028, tag),
            VR::US,
            dicom_core::PrimitiveValue::from(v),
        )
    };
    file.put(us(0x0101, 12));
    file.put(us(0x0102, 11));
    file.put(us(0x0103, 0));
    file.put(DataElement::new(
        Tag(0x7FE0, 0x0010),
        VR::OW,
        dicom_core::PrimitiveValue::U16(words.clone().into()),
    ));
    let source = source_dir.join("hidden.dcm");
    file.write_to_file(&source).unwrap();
    common::run_checkpoints(work.path(), &source_dir, "version: \"2.0\"\n", false);
    let files = dicom_files(&work.path().join("out"));
    let exported = dicom_object::open_file(&files[0]).unwrap();
    let bytes = exported
        .element(Tag(0x7FE0, 0x0010))
        .unwrap()
        .to_bytes()
        .unwrap()
        .into_owned();
    let out: Vec<u16> = bytes
        .chunks_exact(2)
        .map(|b| u16::from_le_bytes([b[0], b[1]]))
        .collect();
    assert_eq!(out.len(), words.len());
    assert!(
        out.iter().all(|v| v & 0xF000 == 0),
        "bits above High Bit left"
    );
    assert!(
        out.iter().zip(&words).all(|(a, b)| *a == b & 0x0FFF),
        "the image values themselves are unchanged"
    );
}
