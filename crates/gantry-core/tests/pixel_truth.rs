//! The pixels decide, not the header: text drawn into an image blocks it whatever its flags
//! say; under `pixel_policy: detect` a risky image without a rule leaves when the detector
//! finds no text, and is blocked with proposed zones when it finds some; the proposed zones,
//! as a rule, blank it.

use std::path::{Path, PathBuf};

mod common;
use common::dicom_files;
use dicom_core::{DataElement, PrimitiveValue, Tag, VR};
use gantry_core::{ExportReport, Session};
use gantry_synth::{Face, rasterize};

fn samples() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/data/pydicom")
}

/// CT_small (128×128, 16-bit signed) with `modality`, BurnedInAnnotation NO, and `text`
/// drawn at the bottom left at the image's maximum, written to `dir`.
fn ct(dir: &Path, modality: &str, text: Option<&str>) -> PathBuf {
    let mut file = dicom_object::open_file(samples().join("CT_small.dcm")).unwrap();
    let cols = file
        .element(Tag(0x0028, 0x0011))
        .unwrap()
        .to_int::<usize>()
        .unwrap();
    let mut words: Vec<i16> = file
        .element(Tag(0x7FE0, 0x0010))
        .unwrap()
        .to_bytes()
        .unwrap()
        .chunks_exact(2)
        .map(|b| i16::from_le_bytes([b[0], b[1]]))
        .collect();
    if let Some(text) = text {
        let top = *words.iter().max().unwrap();
        let mask = rasterize(text, 9.0, Face::Sans);
        for y in 0..mask.height {
            for x in 0..mask.width.min(cols - 4) {
                if mask.at(x, y) >= 128 {
                    words[(100 + y) * cols + 3 + x] = top;
                }
            }
        }
    }
    file.put(DataElement::new(
        Tag(0x0008, 0x0060),
        VR::CS,
        PrimitiveValue::from(modality),
    ));
    file.put(DataElement::new(
        Tag(0x0028, 0x0301),
        VR::CS,
        PrimitiveValue::from("NO"),
    ));
    file.put(DataElement::new(
        Tag(0x7FE0, 0x0010),
        VR::OW,
        PrimitiveValue::U16(words.iter().map(|&w| w as u16).collect::<Vec<_>>().into()),
    ));
    std::fs::create_dir_all(dir).unwrap();
    let path = dir.join("ct.dcm");
    file.write_to_file(&path).unwrap();
    path
}

fn run(work: &Path, source: &Path, config: &str) -> ExportReport {
    common::run_checkpoints(work, source, config, true)
}

fn reasons(report: &ExportReport) -> String {
    report
        .blocked
        .iter()
        .flat_map(|b| b.reasons.iter().cloned())
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn text_burned_into_an_image_that_says_no_blocks_it() {
    let work = tempfile::tempdir().unwrap();
    let source = ct(&work.path().join("in"), "CT", Some("DOE^JANE MRN 4820193"));
    let report = run(work.path(), &source, "version: \"2.0\"\n");
    assert_eq!(report.written, 0, "{report}");
    let why = reasons(&report);
    assert!(why.contains("text detector finds"), "{why}");
    // The same image without the text leaves.
    let work = tempfile::tempdir().unwrap();
    let source = ct(&work.path().join("in"), "CT", None);
    let report = run(work.path(), &source, "version: \"2.0\"\n");
    assert_eq!(report.written, 1, "{report}");
}

#[test]
fn under_detect_a_risky_image_without_a_rule_leaves_only_without_text() {
    // Blocked by default, for what the header says.
    let work = tempfile::tempdir().unwrap();
    let source = ct(&work.path().join("in"), "US", None);
    let report = run(work.path(), &source, "version: \"2.0\"\n");
    assert_eq!(report.written, 0, "{report}");
    assert!(reasons(&report).contains("no machine rule"));
    // Searched under detect: nothing found, so it leaves.
    let detect = "version: \"2.0\"\npixel_policy: detect\n";
    let work = tempfile::tempdir().unwrap();
    let source = ct(&work.path().join("in"), "US", None);
    let report = run(work.path(), &source, detect);
    assert_eq!(report.written, 1, "{report}");
    assert_eq!(manifest_pixels(work.path()), ["searched"]);
    // With text: blocked, with zones to paste.
    let work = tempfile::tempdir().unwrap();
    let source = ct(&work.path().join("in"), "US", Some("DOE^JANE 12/03/1961"));
    let report = run(work.path(), &source, detect);
    assert_eq!(report.written, 0, "{report}");
    let why = reasons(&report);
    let zones = why
        .split("proposed zones: ")
        .nth(1)
        .expect("proposed zones")
        .lines()
        .next()
        .unwrap()
        .split("; fix:")
        .next()
        .unwrap()
        .to_string();
    // The proposed zones, as the device's rule, blank the text and the image leaves.
    let config = format!(
        "version: \"2.0\"\npixel_policy: detect\nmachines:\n  - label: the CT\n    redaction_zones: [{zones}]\n"
    );
    let work2 = tempfile::tempdir().unwrap();
    let report = run(work2.path(), &source, &config);
    assert_eq!(report.written, 1, "{report}\n{}", reasons(&report));
    assert_eq!(manifest_pixels(work2.path()), ["redacted"]);
    let out = dicom_files(&work2.path().join("out"));
    let exported = dicom_object::open_file(&out[0]).unwrap();
    let geometry = gantry_redact::Geometry::from_header(&exported).unwrap();
    let pixels = exported
        .element(Tag(0x7FE0, 0x0010))
        .unwrap()
        .to_bytes()
        .unwrap();
    let before = dicom_object::open_file(&source).unwrap();
    let source_pixels = before
        .element(Tag(0x7FE0, 0x0010))
        .unwrap()
        .to_bytes()
        .unwrap();
    assert!(
        gantry_redact::find_text(&source_pixels, &geometry, None)
            .unwrap()
            .has_text(),
        "the source has text"
    );
    assert!(
        !gantry_redact::find_text(&pixels, &geometry, None)
            .unwrap()
            .has_text(),
        "no text is left in what was exported"
    );
    assert_ne!(pixels, source_pixels, "the zones were blanked");
}

#[test]
fn an_attested_device_is_still_searched() {
    let config = "version: \"2.0\"\nmachines:\n  - label: scanner\n    burned_in_text: none\n    redaction_zones: []\n";
    let work = tempfile::tempdir().unwrap();
    let source = ct(&work.path().join("in"), "US", None);
    let report = run(work.path(), &source, config);
    assert_eq!(
        report.written, 1,
        "the attestation lets a text-free risky image out: {report}"
    );
    assert_eq!(manifest_pixels(work.path()), ["attested"]);
    let work = tempfile::tempdir().unwrap();
    let source = ct(&work.path().join("in"), "US", Some("MRN 4820193"));
    let report = run(work.path(), &source, config);
    assert_eq!(report.written, 0, "{report}");
    assert!(reasons(&report).contains("attests"), "{}", reasons(&report));
}

#[test]
fn config_init_proposes_zones_that_cover_each_devices_text() {
    let work = tempfile::tempdir().unwrap();
    let dump = gantry_synth::generate(
        &work.path().join("dump"),
        &gantry_synth::DumpSpec::default(),
    )
    .unwrap();
    let mut session = Session::builder()
        .database(work.path().join("gantry.db"))
        .open()
        .unwrap();
    session.ingest(&dump.root).unwrap();
    let path = work.path().join("skeleton.yaml");
    let report = session.setup_config(&path).unwrap();
    let text = std::fs::read_to_string(&path).unwrap();
    // Every device that burns text in gets zones that cover its band in every image.
    for truth in dump.instances.iter().filter(|i| i.burned_in_band.is_some()) {
        let band = truth.burned_in_band.unwrap();
        let advice = report
            .devices
            .iter()
            .find(|d| d.device.contains(truth.device.model()))
            .unwrap_or_else(|| panic!("no advice for {:?}", truth.device));
        // The banner is centred in its band, its glyphs at least half the band tall.
        let third = (band.row_end - band.row_start) / 4;
        let covered = advice.detected.iter().any(|z| {
            z.zone[0] <= band.row_start + third
                && z.zone[1] >= band.row_end - third
                && z.zone[2] <= band.col_start + 4
                && z.zone[3] + 16 >= band.col_end
        });
        assert!(
            covered,
            "{:?}: band {band:?}, proposed {:?}",
            truth.device, advice.detected
        );
    }
    assert!(text.contains("Zones\n    # it proposes"), "{text}");
    // The proposals are comments: the skeleton loads and means what it meant before.
    session.load_config(&path).unwrap();
}

#[test]
fn text_in_an_overlay_plane_that_leaves_with_the_image_blocks_it() {
    let work = tempfile::tempdir().unwrap();
    let source = ct(&work.path().join("in"), "CT", None);
    let mut file = dicom_object::open_file(&source).unwrap();
    let (rows, cols) = (128usize, 128usize);
    let mask = rasterize("DOE^JANE 4820193", 9.0, Face::Sans);
    let mut bits = vec![0u8; rows * cols / 8];
    for y in 0..mask.height {
        for x in 0..mask.width.min(cols - 4) {
            if mask.at(x, y) >= 128 {
                let i = (20 + y) * cols + 2 + x;
                bits[i / 8] |= 1 << (i % 8);
            }
        }
    }
    let us = |e: u16, v: u16| DataElement::new(Tag(0x6000, e), VR::US, PrimitiveValue::from(v));
    file.put(us(0x0010, rows as u16));
    file.put(us(0x0011, cols as u16));
    file.put(DataElement::new(
        Tag(0x6000, 0x0040),
        VR::CS,
        PrimitiveValue::from("G"),
    ));
    file.put(DataElement::new(
        Tag(0x6000, 0x0050),
        VR::SS,
        PrimitiveValue::I16([1i16, 1].as_slice().into()),
    ));
    file.put(us(0x0100, 1));
    file.put(us(0x0102, 0));
    file.put(DataElement::new(
        Tag(0x6000, 0x3000),
        VR::OB,
        PrimitiveValue::from(bits),
    ));
    file.write_to_file(&source).unwrap();
    // Overlays are removed by the profile: the image leaves without its overlay.
    let report = run(work.path(), &source, "version: \"2.0\"\n");
    assert_eq!(report.written, 1, "{report}");
    // Kept under Clean Graphics: the plane is searched, and its text blocks the image.
    let work = tempfile::tempdir().unwrap();
    let report = run(
        work.path(),
        &source,
        "version: \"2.0\"\nprofile_options: [clean_graphics]\n",
    );
    assert_eq!(report.written, 0, "{report}");
    assert!(
        reasons(&report).contains("overlay plane 6000"),
        "{}",
        reasons(&report)
    );
}

#[test]
fn a_kept_icon_with_text_blocks_the_image() {
    let work = tempfile::tempdir().unwrap();
    let source = ct(&work.path().join("in"), "CT", None);
    let mut file = dicom_object::open_file(&source).unwrap();
    let (rows, cols) = (64usize, 64usize);
    let mask = rasterize("DOE^JANE", 8.0, Face::Sans);
    let mut icon = vec![0u8; rows * cols];
    for y in 0..mask.height {
        for x in 0..mask.width.min(cols - 2) {
            icon[(20 + y) * cols + 1 + x] = mask.at(x, y);
        }
    }
    let us = |g: u16, e: u16, v: u16| DataElement::new(Tag(g, e), VR::US, PrimitiveValue::from(v));
    let item = dicom_object::InMemDicomObject::from_element_iter([
        us(0x0028, 0x0002, 1),
        DataElement::new(
            Tag(0x0028, 0x0004),
            VR::CS,
            PrimitiveValue::from("MONOCHROME2"),
        ),
        us(0x0028, 0x0010, rows as u16),
        us(0x0028, 0x0011, cols as u16),
        us(0x0028, 0x0100, 8),
        us(0x0028, 0x0101, 8),
        us(0x0028, 0x0102, 7),
        us(0x0028, 0x0103, 0),
        DataElement::new(Tag(0x7FE0, 0x0010), VR::OB, PrimitiveValue::from(icon)),
    ]);
    file.put(DataElement::new(
        Tag(0x0088, 0x0200),
        VR::SQ,
        dicom_core::value::DataSetSequence::from(vec![item]),
    ));
    file.write_to_file(&source).unwrap();
    // Removed by the profile: the image leaves without its icon.
    let report = run(work.path(), &source, "version: \"2.0\"\n");
    assert_eq!(report.written, 1, "{report}");
    // Kept by a rule: its thumbnail is searched, and its text blocks the image.
    let work = tempfile::tempdir().unwrap();
    let report = run(
        work.path(),
        &source,
        "version: \"2.0\"\nphi_tags:\n  IconImageSequence: { action: KEEP }\n",
    );
    assert_eq!(report.written, 0, "{report}");
    assert!(
        reasons(&report).contains("Icon Image Sequence"),
        "{}",
        reasons(&report)
    );
}

#[test]
fn an_overlay_plane_shorter_than_its_size_is_not_taken_as_empty() {
    let work = tempfile::tempdir().unwrap();
    let source = ct(&work.path().join("in"), "CT", None);
    let mut file = dicom_object::open_file(&source).unwrap();
    let us = |e: u16, v: u16| DataElement::new(Tag(0x6000, e), VR::US, PrimitiveValue::from(v));
    file.put(us(0x0010, 128));
    file.put(us(0x0011, 128));
    file.put(us(0x0100, 1));
    file.put(us(0x0102, 0));
    // 128×128 bits need 2,048 bytes; 64 are there.
    file.put(DataElement::new(
        Tag(0x6000, 0x3000),
        VR::OB,
        PrimitiveValue::from(vec![0u8; 64]),
    ));
    file.write_to_file(&source).unwrap();
    let report = run(
        work.path(),
        &source,
        "version: \"2.0\"\nprofile_options: [clean_graphics]\n",
    );
    assert_eq!(report.written, 0, "{report}");
    assert!(
        reasons(&report).contains("cannot be searched"),
        "{}",
        reasons(&report)
    );
}

/// The `pixels` column of the manifest of `work/out`, row by row.
fn manifest_pixels(work: &Path) -> Vec<String> {
    let csv = std::fs::read_to_string(work.join("out/manifest.csv")).unwrap();
    let mut lines = csv.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let column = header.iter().position(|h| *h == "pixels").unwrap();
    lines
        .map(|l| l.split(',').nth(column).unwrap().to_string())
        .collect()
}

/// The pixel data and Burned In Annotation of the one exported file under `work/out`.
fn exported(work: &Path) -> (Vec<u8>, Option<String>) {
    let out = dicom_files(&work.join("out"));
    assert_eq!(out.len(), 1);
    let file = dicom_object::open_file(&out[0]).unwrap();
    let pixels = file
        .element(Tag(0x7FE0, 0x0010))
        .unwrap()
        .to_bytes()
        .unwrap()
        .into_owned();
    let flag = file
        .element_opt(Tag(0x0028, 0x0301))
        .unwrap()
        .map(|e| e.to_str().unwrap().trim().to_string());
    (pixels, flag)
}

#[test]
fn under_redact_detected_what_the_detector_finds_is_blanked_and_searched_again() {
    let policy = "version: \"2.0\"\npixel_policy: redact_detected\n";
    for modality in ["US", "CT"] {
        let work = tempfile::tempdir().unwrap();
        let source = ct(
            &work.path().join("in"),
            modality,
            Some("DOE^JANE 12/03/1961"),
        );
        let mut session = Session::builder()
            .database(work.path().join("gantry.db"))
            .open()
            .unwrap();
        session.ingest(&source).unwrap();
        std::fs::write(work.path().join("config.yaml"), policy).unwrap();
        session
            .load_config(work.path().join("config.yaml"))
            .unwrap();
        session.audit().unwrap();
        session.anonymize_metadata().unwrap();
        let redact = session.redact_pixels().unwrap();
        assert_eq!(
            (redact.redacted, redact.detected),
            (1, 1),
            "{modality}: {redact}"
        );
        assert!(redact.text_left.is_empty(), "{redact}");
        assert!(session.verify().unwrap().is_clean(), "{modality}");
        let report = session
            .export(work.path().join("out"))
            .safe(true)
            .run()
            .unwrap();
        assert_eq!(
            report.written,
            1,
            "{modality}: {report}\n{}",
            reasons(&report)
        );
        assert_eq!(manifest_pixels(work.path()), ["redacted_detected"]);
        let (pixels, flag) = exported(work.path());
        let before = dicom_object::open_file(&source).unwrap();
        let geometry = gantry_redact::Geometry::from_header(&before).unwrap();
        let original = before
            .element(Tag(0x7FE0, 0x0010))
            .unwrap()
            .to_bytes()
            .unwrap();
        assert!(
            !gantry_redact::find_text(&pixels, &geometry, None)
                .unwrap()
                .has_text()
        );
        assert_eq!(flag.as_deref(), Some("NO"), "{modality}");
        // The text (rows 100-111, from column 3) is gone; the anatomy above it is not.
        let cols = geometry.columns as usize;
        let changed: Vec<usize> = (0..pixels.len() / 2)
            .filter(|&i| pixels[2 * i..2 * i + 2] != original[2 * i..2 * i + 2])
            .collect();
        assert!(!changed.is_empty());
        let rows: Vec<usize> = changed.iter().map(|&i| i / cols).collect();
        assert!(
            rows.iter().all(|&r| (80..=128).contains(&r)),
            "{modality}: only the rows around the text change (rows {}-{})",
            rows[0],
            rows[rows.len() - 1]
        );
    }
    // Without text the pixels leave as they were.
    let work = tempfile::tempdir().unwrap();
    let source = ct(&work.path().join("in"), "US", None);
    let report = run(work.path(), &source, policy);
    assert_eq!(report.written, 1, "{report}");
    let original = dicom_object::open_file(&source)
        .unwrap()
        .element(Tag(0x7FE0, 0x0010))
        .unwrap()
        .to_bytes()
        .unwrap()
        .into_owned();
    assert_eq!(exported(work.path()).0, original);
    assert_eq!(manifest_pixels(work.path()), ["searched"]);
    // A person's zones are not second-guessed: text outside them still blocks.
    let work = tempfile::tempdir().unwrap();
    let source = ct(&work.path().join("in"), "US", Some("DOE^JANE 12/03/1961"));
    let config =
        format!("{policy}machines:\n  - label: the CT\n    redaction_zones: [[0, 10, 0, 10]]\n");
    let report = run(work.path(), &source, &config);
    assert_eq!(report.written, 0, "{report}");
    assert!(
        reasons(&report).contains("text detector finds"),
        "{}",
        reasons(&report)
    );
}

#[test]
fn under_redact_detected_text_in_one_frame_of_three_is_blanked() {
    let work = tempfile::tempdir().unwrap();
    let single = ct(&work.path().join("one"), "US", None);
    let marked = ct(
        &work.path().join("marked"),
        "US",
        Some("DOE^JANE 12/03/1961"),
    );
    let pixels = |path: &Path| {
        dicom_object::open_file(path)
            .unwrap()
            .element(Tag(0x7FE0, 0x0010))
            .unwrap()
            .to_bytes()
            .unwrap()
            .into_owned()
    };
    let (clean, text) = (pixels(&single), pixels(&marked));
    let mut frames = clean.clone();
    frames.extend_from_slice(&text);
    frames.extend_from_slice(&clean);
    let mut file = dicom_object::open_file(&single).unwrap();
    file.put(DataElement::new(
        Tag(0x0028, 0x0008),
        VR::IS,
        PrimitiveValue::from("3"),
    ));
    file.put(DataElement::new(
        Tag(0x7FE0, 0x0010),
        VR::OW,
        PrimitiveValue::U16(
            frames
                .chunks_exact(2)
                .map(|b| u16::from_le_bytes([b[0], b[1]]))
                .collect::<Vec<_>>()
                .into(),
        ),
    ));
    let dir = work.path().join("in");
    std::fs::create_dir_all(&dir).unwrap();
    let source = dir.join("three.dcm");
    file.write_to_file(&source).unwrap();
    let report = run(
        work.path(),
        &source,
        "version: \"2.0\"\npixel_policy: redact_detected\n",
    );
    assert_eq!(report.written, 1, "{report}\n{}", reasons(&report));
    assert_eq!(manifest_pixels(work.path()), ["redacted_detected"]);
    let (out, _) = exported(work.path());
    let geometry = gantry_redact::Geometry::from_header(&file).unwrap();
    assert_eq!(geometry.frames, 3);
    let found = gantry_redact::find_text(&out, &geometry, None).unwrap();
    assert!(!found.has_text(), "{:?}", found.regions);
    let len = clean.len();
    assert_ne!(&out[len..2 * len], &text[..], "the text frame was blanked");
}

/// Audit's search of the source pixels spares verify the same search only while the file
/// is as it was indexed: text written into it afterwards is never waved through.
#[test]
fn a_source_changed_after_its_clean_search_is_not_passed_on_that_search() {
    let work = tempfile::tempdir().unwrap();
    let source = work.path().join("in");
    let path = ct(&source, "CT", None);
    let mut session = gantry_core::Session::builder()
        .database(work.path().join("gantry.db"))
        .open()
        .unwrap();
    session.ingest(&source).unwrap();
    let config = work.path().join("config.yaml");
    std::fs::write(&config, "version: \"2.0\"\n").unwrap();
    session.load_config(&config).unwrap();
    session.audit().unwrap();
    session.anonymize_metadata().unwrap();
    session.redact_pixels().unwrap();
    assert!(session.verify().unwrap().is_clean(), "a text-free CT");

    // The same file, now with a name in its pixels (same size; a later modification time).
    std::thread::sleep(std::time::Duration::from_millis(20));
    assert_eq!(ct(&source, "CT", Some("DOE JANE 4711")), path);
    let verify = session.verify().unwrap();
    assert!(
        !verify.is_clean(),
        "verify passed pixels it did not search:\n{verify}"
    );
    let export = session.export(work.path().join("out")).run().unwrap();
    assert_eq!(export.written, 0, "{export}");
}

/// Audit's detector blocks per source file, under `config` on `dump`, in a session of its
/// own in `work`.
fn audit_pixel_blocks(dump: &Path, work: &Path, config: &str) -> Vec<(PathBuf, String)> {
    std::fs::create_dir_all(work).unwrap();
    let config_path = work.join("config.yaml");
    std::fs::write(&config_path, config).unwrap();
    let mut session = Session::builder()
        .database(work.join("g.db"))
        .open()
        .unwrap();
    session.ingest(dump).unwrap();
    session.load_config(&config_path).unwrap();
    session.audit().unwrap();
    let mut blocks = Vec::new();
    session
        .for_each_instance_findings(gantry_core::Stage::Audit, |i| {
            for b in i.blocks {
                if b.contains("the text detector finds") {
                    blocks.push((i.source_path.clone(), b));
                }
            }
        })
        .unwrap();
    blocks
}

#[test]
fn text_wholly_inside_a_rules_zone_is_not_reported_outside_it_and_text_past_it_is() {
    // The ultrasound banners fill their band: the zone covers every glyph, though the
    // detector's box of a line (found at half scale, or joined to the band's lower edge)
    // reaches a few rows past it. Audit must not say text lies outside the zone.
    let dir = tempfile::tempdir().unwrap();
    let dump = dir.path().join("dump");
    let truth = gantry_synth::generate(&dump, &gantry_synth::DumpSpec::default()).unwrap();
    let rules = truth.machine_rules_for(|d| d != gantry_synth::Device::ScreenCapture);
    let blocks = audit_pixel_blocks(
        &dump,
        &dir.path().join("whole"),
        &format!("version: \"2.0\"\n{rules}"),
    );
    assert!(blocks.is_empty(), "{blocks:#?}");
    // The same rules with each zone cut to its left half: the right half of every banner
    // is text the rules leave, and audit says so for every banner image.
    let halved: String = rules
        .lines()
        .map(|l| match l.trim().strip_prefix("- [") {
            Some(zone) => {
                let v: Vec<u32> = zone
                    .trim_end_matches(']')
                    .split(", ")
                    .map(|n| n.parse().unwrap())
                    .collect();
                format!("      - [{}, {}, {}, {}]", v[0], v[1], v[2], v[3] / 2)
            }
            None => l.to_string(),
        })
        .collect::<Vec<_>>()
        .join("\n");
    assert_ne!(halved, rules);
    let blocks = audit_pixel_blocks(
        &dump,
        &dir.path().join("halved"),
        &format!("version: \"2.0\"\n{halved}\n"),
    );
    let banners = truth
        .instances
        .iter()
        .filter(|i| i.burned_in_band.is_some() && i.device != gantry_synth::Device::ScreenCapture)
        .count();
    assert!(banners > 0);
    assert_eq!(blocks.len(), banners, "{blocks:#?}");
}

/// Under the cargo feature `ocr` (Tesseract), a blocked image's reason says what its text
/// reads, masked to its shape: enough for a person to see a name and a record number
/// were found, nothing of either. `.ci/run` installs Tesseract and runs this.
#[cfg(feature = "ocr")]
#[test]
fn ocr_reads_the_blocked_text_and_the_reason_shows_it_masked() {
    let dir = tempfile::tempdir().unwrap();
    let source = ct(&dir.path().join("in"), "CT", Some("MRN 48201937"));
    let report = run(&dir.path().join("work"), &source, "version: \"2.0\"\n");
    assert_eq!(report.written, 0, "{report}");
    let why = reasons(&report);
    assert!(why.contains("reads \"AAA 99999999\""), "{why}");
    assert!(!why.contains("48201937") && !why.contains("MRN"), "{why}");
    // What the reading holds is named: CT_small's patient has the ID 1CT1.
    let dir = tempfile::tempdir().unwrap();
    let source = ct(&dir.path().join("in"), "CT", Some("1CT1 2021-03-04"));
    let report = run(&dir.path().join("work"), &source, "version: \"2.0\"\n");
    let why = reasons(&report);
    assert!(
        why.contains("the patient's identifier") && why.contains("a date"),
        "{why}"
    );
    assert!(!why.contains("1CT1") && !why.contains("2021"), "{why}");
    // Another patient of the session (ID XQ77301, in a text-free file beside it): a
    // reading with both IDs names both.
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in");
    ct(&input, "CT", Some("1CT1 XQ77301"));
    let mut other = dicom_object::open_file(ct(&dir.path().join("other"), "CT", None)).unwrap();
    for (tag, value) in [
        (Tag(0x0010, 0x0020), "XQ77301"),
        (Tag(0x0010, 0x0010), "OTHERSON^WILHELMINA"),
        (Tag(0x0008, 0x0018), "1.2.826.0.1.3680043.10.1453.99.1"),
        (Tag(0x0020, 0x000D), "1.2.826.0.1.3680043.10.1453.99.2"),
        (Tag(0x0020, 0x000E), "1.2.826.0.1.3680043.10.1453.99.3"),
    ] {
        other.put(DataElement::new(tag, VR::LO, PrimitiveValue::from(value)));
    }
    other.meta_mut().media_storage_sop_instance_uid = "1.2.826.0.1.3680043.10.1453.99.1".into();
    other.write_to_file(input.join("other.dcm")).unwrap();
    let report = run(&dir.path().join("work"), &input, "version: \"2.0\"\n");
    let why = reasons(&report);
    assert!(
        why.contains("the patient's identifier") && why.contains("another person's identifier"),
        "{why}"
    );
    assert!(!why.contains("XQ77301"), "{why}");
}

/// An 8-bit 100×100 image of horizontal stripes `stripe` rows high, `top` and `bottom` in
/// turn, with `text` (cap height, top row) drawn at `ink_value` (anti-aliased) from column 12:
/// (pixels, geometry, the text's ink box).
fn striped(
    (top, bottom, ink_value): (u8, u8, u8),
    stripe: usize,
    text: Option<(&str, f32, usize)>,
) -> (
    Vec<u8>,
    gantry_redact::Geometry,
    Option<gantry_redact::Rect>,
) {
    let (w, h) = (100usize, 100usize);
    let mut pixels: Vec<u8> = (0..w * h)
        .map(|i| {
            if ((i / w) / stripe).is_multiple_of(2) {
                top
            } else {
                bottom
            }
        })
        .collect();
    let mut ink = None;
    if let Some((text, cap, row)) = text {
        let mask = rasterize(text, cap, Face::Sans);
        for y in 0..mask.height.min(h - row) {
            for x in 0..mask.width.min(w - 12) {
                let a = mask.at(x, y) as u32;
                let p = &mut pixels[(row + y) * w + 12 + x];
                *p = ((*p as u32 * (255 - a) + ink_value as u32 * a) / 255) as u8;
            }
        }
        ink = gantry_synth::ink_box(&mask).map(|(x0, y0, x1, y1)| gantry_redact::Rect {
            row_start: (row + y0) as u32,
            row_end: (row + y1).min(h) as u32,
            col_start: (12 + x0) as u32,
            col_end: (12 + x1).min(w) as u32,
        });
    }
    let geometry = gantry_redact::Geometry::grey8(h as u32, w as u32);
    (pixels, geometry, ink)
}

#[test]
fn text_across_stripes_narrower_than_a_glyph_is_found() {
    // Stripes 10 px high stand out of either top-hat like strokes, and text across them
    // (brighter than one, darker than the next) joins them into shapes that are no glyphs:
    // the detector missed 16 of these 144 lines before the median's deviation (each
    // contrast, size, word, and where the stripe's edge cuts the line).
    let mut missed = Vec::new();
    let mut tried = 0;
    for colours in [
        (30, 210, 120),
        (210, 30, 120),
        (235, 90, 165),
        (60, 140, 100),
    ] {
        for cap in [14.0f32, 20.0, 28.0] {
            for quarter in [1usize, 2, 3] {
                for word in ["GARCIA", "Smith, A", "DOB 1961", "ID: A77"] {
                    tried += 1;
                    let row = 40 - (cap as usize * quarter) / 4;
                    let (pixels, geometry, truth) = striped(colours, 10, Some((word, cap, row)));
                    let truth = truth.unwrap();
                    let found = gantry_redact::find_text(&pixels, &geometry, None).unwrap();
                    let hit = found.regions.iter().any(|r| {
                        r.rect.row_start < truth.row_end
                            && truth.row_start < r.rect.row_end
                            && r.rect.col_start < truth.col_end
                            && truth.col_start < r.rect.col_end
                    });
                    if !hit {
                        missed.push(format!("{colours:?} {cap}px {word:?} at {quarter}/4"));
                    }
                }
            }
        }
    }
    assert!(
        missed.is_empty(),
        "missed {} of {tried}:\n{}",
        missed.len(),
        missed.join("\n")
    );
    // The stripes alone, and stripes reversed in the right half, hold no text.
    for colours in [(30, 210, 0), (235, 90, 0), (60, 140, 0)] {
        let (pixels, geometry, _) = striped(colours, 10, None);
        let found = gantry_redact::find_text(&pixels, &geometry, None).unwrap();
        assert!(!found.has_text(), "{colours:?}: {found:?}");
        let mut halves = pixels.clone();
        for (i, p) in halves.iter_mut().enumerate() {
            if i % 100 >= 50 {
                *p = 255 - *p;
            }
        }
        let found = gantry_redact::find_text(&halves, &geometry, None).unwrap();
        assert!(!found.has_text(), "{colours:?} in halves: {found:?}");
    }
    // Nor does a CT whose vertebra has straight edges beside a table's (it did, while
    // vertical edges counted as steps a line could straddle).
    let ct = dicom_object::open_file(samples().join("CT_small.dcm")).unwrap();
    let geometry = gantry_redact::Geometry::from_header(&ct).unwrap();
    let pixels = ct.element(Tag(0x7FE0, 0x0010)).unwrap().to_bytes().unwrap();
    let found = gantry_redact::find_text(&pixels, &geometry, None).unwrap();
    assert!(!found.has_text(), "CT_small: {found:?}");
}
