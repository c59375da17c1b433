//! Redaction over every pydicom sample with pixel data: inside the zone every pixel is the
//! fill, outside every pixel is the decoded original; what cannot be decoded is a finding
//! and never leaves through the safe gate.

use std::path::{Path, PathBuf};

mod common;
use common::dicom_files;
use gantry_core::Session;
use gantry_redact::{Fill, Geometry, Palette, Photometric, effective_zones};
use gantry_store::{PixelLayout, PixelSidecar, decode_header, open_pixel_value, split_fragments};

fn samples() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/data/pydicom")
}

/// One rule for every device: rows 1..3, columns 1..4 (clipped on the tiniest images).
const CONFIG: &str = r#"
version: "2.0"
machines:
  - label: every image
    redaction_zones:
      - [1, 3, 1, 4]
"#;

/// The samples of one pixel, read independently of the blanking code.
fn pixel(data: &[u8], g: &Geometry, frame: usize, row: usize, col: usize) -> Vec<u8> {
    let (rows, cols) = (g.rows as usize, g.columns as usize);
    if g.bits_allocated == 1 {
        let bit = frame * rows * cols + row * cols + col;
        return vec![(data[bit / 8] >> (bit % 8)) & 1];
    }
    let n = g.bits_allocated as usize / 8;
    if g.photometric == Photometric::YbrFull422 {
        let pair = frame * rows * cols * 2 + row * cols * 2 + (col / 2) * 4;
        return vec![data[pair + col % 2], data[pair + 2], data[pair + 3]];
    }
    let spp = g.samples_per_pixel as usize;
    let frame_len = rows * cols * spp * n;
    (0..spp)
        .flat_map(|s| {
            let at = if g.planar {
                frame * frame_len + s * rows * cols * n + (row * cols + col) * n
            } else {
                frame * frame_len + ((row * cols + col) * spp + s) * n
            };
            data[at..at + n].to_vec()
        })
        .collect()
}

/// What became of one sample.
enum Outcome {
    Checked,
    NotRedacted { syntax: String, why: String },
    NoPixels,
}

/// Ingests one sample in a session of its own (many samples share a SOP Instance UID,
/// which one session would index once), redacts it, and checks every pixel.
fn redact_and_check(file: &Path, work: &Path) -> Outcome {
    let mut session = Session::builder()
        .database(work.join("gantry.db"))
        .open()
        .unwrap();
    session.ingest(file).unwrap();
    let config = work.join("config.yaml");
    std::fs::write(&config, CONFIG).unwrap();
    session.load_config(&config).unwrap();
    let report = session.redact_pixels().unwrap();
    let name = file.file_name().unwrap().to_string_lossy().into_owned();
    let Some(stored) = session.store().instances_after(0, 1).unwrap().pop() else {
        return Outcome::NoPixels; // not indexed (junk): ingest's tests cover it
    };
    let record = &stored.record;
    let Some(location) = &record.pixels else {
        return Outcome::NoPixels;
    };
    let Some(redacted) = &stored.redacted else {
        let why = report
            .failed
            .first()
            .map(|f| f.detail.clone())
            .unwrap_or_default();
        // Not redacted: a finding, and the safe gate never exports it.
        let audit = session.audit().unwrap();
        assert!(audit.by_rule.contains_key("pixel risk"), "{name}: {audit}");
        session.anonymize_metadata().unwrap();
        let export = session.export(work.join("out")).run().unwrap();
        assert_eq!(export.written, 0, "{name} was exported");
        assert_eq!(export.blocked.len(), 1, "{name}");
        return Outcome::NotRedacted {
            syntax: record.syntax.uid.clone(),
            why,
        };
    };
    let header = decode_header(&stored.original).unwrap();
    let value = open_pixel_value(&record.source_path, location, record.stamp)
        .unwrap()
        .read_all(location.length)
        .unwrap();
    let (mut original, geometry) = match location.layout {
        PixelLayout::Native { .. } => (value, Geometry::from_header(&header).unwrap()),
        PixelLayout::Encapsulated { .. } => {
            let (table, fragments) = split_fragments(&value).unwrap();
            let decoded =
                gantry_redact::decode(&header, &record.syntax.uid, table, fragments).unwrap();
            (decoded.data, decoded.geometry)
        }
    };
    // Bits above High Bit carry no pixel value: redaction rewrites them as the value
    // implies (zero, or the sign extension), so an overlay hidden there does not survive.
    gantry_redact::clear_high_bits(&mut original, &geometry);
    let sidecar = PixelSidecar::open(session.sidecar_path().unwrap()).unwrap();
    let now = sidecar.read(redacted.address).unwrap();
    let fill = Fill::black(&geometry, Palette::from_header(&header).as_ref()).unwrap();
    let zones = [gantry_redact::Rect {
        row_start: 1,
        row_end: 3,
        col_start: 1,
        col_end: 4,
    }];
    let (applied, _) = effective_zones(&geometry, &zones);
    let mut black = vec![0u8; geometry.data_len()];
    gantry_redact::blank(&mut black, &geometry, &applied, &fill).unwrap();
    for frame in 0..geometry.frames as usize {
        for row in 0..geometry.rows as usize {
            for col in 0..geometry.columns as usize {
                let inside = applied.iter().any(|z| z.contains(row as u32, col as u32));
                let want = if inside {
                    pixel(&black, &geometry, frame, row, col)
                } else {
                    pixel(&original, &geometry, frame, row, col)
                };
                assert_eq!(
                    pixel(&now, &geometry, frame, row, col),
                    want,
                    "{name} frame {frame} ({row},{col}) inside={inside}"
                );
            }
        }
    }
    // And verify agrees, from the stored pixels.
    session.audit().unwrap();
    session.anonymize_metadata().unwrap();
    let verify = session.verify().unwrap();
    // The samples whose pixels carry burned-in text of their own (ultrasound annotations,
    // GDCM's text image): the text detector must find it outside the tiny zone; in every
    // other sample verify finds nothing in the pixels.
    const CARRY_TEXT: &[&str] = &[
        "examples_jpeg2k.dcm",
        "examples_palette.dcm",
        "examples_rgb_color.dcm",
        "examples_ybr_color.dcm",
        "GDCMJ2K_TextGBR.dcm",
    ];
    // Flagged without carrying text: image_dfl is a checkerboard test pattern (checked by
    // eye), ExplVR_BigEnd a small image with a 4-glyph line at its left edge (not checked by
    // eye). A flag blocks, which fails closed; either outcome is accepted for them.
    const UNCHECKED: &[&str] = &["image_dfl.dcm", "ExplVR_BigEnd.dcm"];
    let shown = verify.to_string();
    if UNCHECKED.contains(&name.as_str()) {
        // Either way is acceptable until someone looks.
    } else if CARRY_TEXT.contains(&name.as_str()) {
        assert!(shown.contains("text detector finds"), "{name}: {verify}");
    } else {
        assert!(
            !verify.by_rule.contains_key("pixel risk"),
            "{name}: {verify}"
        );
    }
    Outcome::Checked
}

#[test]
fn every_decodable_sample_is_blank_inside_the_zone_and_untouched_outside() {
    let dir = tempfile::tempdir().unwrap();
    let mut files: Vec<PathBuf> = std::fs::read_dir(samples())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "dcm"))
        .collect();
    files.sort();
    let mut checked = Vec::new();
    let mut not_redacted = Vec::new();
    for (i, file) in files.iter().enumerate() {
        let work = dir.path().join(i.to_string());
        std::fs::create_dir_all(&work).unwrap();
        let name = file.file_name().unwrap().to_string_lossy().into_owned();
        match redact_and_check(file, &work) {
            Outcome::Checked => checked.push(name),
            Outcome::NotRedacted { syntax, why } => {
                not_redacted.push(format!("{name} ({syntax}): {why}"))
            }
            Outcome::NoPixels => {}
        }
    }
    eprintln!("checked {} samples: {checked:?}", checked.len());
    eprintln!("not redacted, blocked: {not_redacted:#?}");
    // Every layout the samples hold: 8/16/32 bits, signed, RGB planar 0 and 1, YBR,
    // palette, multi-frame, big endian, deflated, RLE, JPEG, JPEG 2000.
    // JPEG-LS decodes only with the `charls` feature; three streams no decoder takes
    // (12-bit lossy JPEG twice, a JPEG 2000 stream with a delimiter inside) are blocked.
    let jpeg_ls = not_redacted
        .iter()
        .filter(|n| n.contains("1.2.840.10008.1.2.4.8"))
        .count();
    if cfg!(feature = "charls") {
        assert_eq!(jpeg_ls, 0, "{not_redacted:#?}");
        assert!(checked.len() >= 58, "{}", checked.len());
    } else {
        assert_eq!(jpeg_ls, 5, "{not_redacted:#?}");
        assert!(checked.len() >= 53, "{}", checked.len());
    }
    assert_eq!(not_redacted.len() - jpeg_ls, 3, "{not_redacted:#?}");
}

/// Redacts and exports one sample; returns the exported file.
fn export_one(name: &str, work: &Path) -> dicom_object::DefaultDicomObject {
    let mut session = Session::builder()
        .database(work.join("gantry.db"))
        .open()
        .unwrap();
    session.ingest(samples().join(name)).unwrap();
    let config = work.join("config.yaml");
    std::fs::write(&config, CONFIG).unwrap();
    session.load_config(&config).unwrap();
    session.audit().unwrap();
    session.anonymize_metadata().unwrap();
    session.redact_pixels().unwrap();
    let report = session.export(work.join("out")).run().unwrap();
    assert!(report.is_complete(), "{report}");
    if let Some(file) = dicom_files(&work.join("out")).first() {
        return dicom_object::open_file(file).unwrap();
    }
    panic!("nothing exported for {name}");
}

fn text(obj: &dicom_object::DefaultDicomObject, tag: dicom_core::Tag) -> Option<String> {
    obj.element(tag).ok().map(|e| {
        e.to_str()
            .unwrap()
            .trim_end_matches(['\0', ' '])
            .to_string()
    })
}

#[test]
fn redacted_pixels_keep_their_lossy_history_and_describe_their_new_layout() {
    use dicom_dictionary_std::tags;
    let dir = tempfile::tempdir().unwrap();
    // JPEG Baseline YBR_FULL_422: decoded to RGB, written native, still marked lossy.
    let jpeg = export_one("SC_rgb_jpeg_dcmtk.dcm", &dir.path().join("jpeg"));
    assert_eq!(
        jpeg.meta().transfer_syntax().trim_end_matches('\0'),
        "1.2.840.10008.1.2.1"
    );
    assert_eq!(
        text(&jpeg, tags::LOSSY_IMAGE_COMPRESSION).as_deref(),
        Some("01")
    );
    assert_eq!(
        text(&jpeg, tags::LOSSY_IMAGE_COMPRESSION_METHOD).as_deref(),
        Some("ISO_10918_1")
    );
    assert_eq!(
        text(&jpeg, tags::PHOTOMETRIC_INTERPRETATION).as_deref(),
        Some("RGB")
    );
    assert_eq!(
        text(&jpeg, tags::PLANAR_CONFIGURATION).as_deref(),
        Some("0")
    );
    assert_eq!(
        text(&jpeg, tags::BURNED_IN_ANNOTATION).as_deref(),
        Some("NO")
    );
    // RLE (lossless): no lossy mark appears.
    let rle = export_one("SC_rgb_rle.dcm", &dir.path().join("rle"));
    assert_eq!(text(&rle, tags::LOSSY_IMAGE_COMPRESSION), None);
    assert_eq!(
        text(&rle, tags::BURNED_IN_ANNOTATION).as_deref(),
        Some("NO")
    );
}
