//! The detector's learned stage (feature `learned`): PP-OCRv3's text-detection network,
//! embedded and run by tract, on images of the labelled set.
//!
//! A build without the feature (`--no-default-features`) has none of these.
#![cfg(feature = "learned")]

use std::path::Path;

use gantry_redact::{Detection, Rect, find_text, find_text_classical};
use gantry_synth::{Labelled, backgrounds_from, labelled_set};

fn pydicom() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/data/pydicom")
}

fn overlaps(a: &Rect, b: &Rect) -> bool {
    a.overlap(b) > 0
}

/// Whether `detection` has a region on the image's text.
fn on_text(image: &Labelled, detection: &Detection) -> bool {
    detection.regions.iter().any(|r| {
        image
            .truth
            .iter()
            .any(|(f, t)| *f == r.frame && overlaps(&r.rect, t))
    })
}

/// The labelled set drawn on the pydicom images of at most 128 pixels each way.
fn small_images() -> Vec<Labelled> {
    let mut backgrounds = backgrounds_from(&pydicom());
    backgrounds.retain(|b| b.width.max(b.height) <= 128);
    assert!(
        backgrounds.len() >= 10,
        "the small pydicom images are missing"
    );
    labelled_set(&backgrounds)
}

/// The classical stages need a line of three glyphs and some context; a 64-pixel MR or a
/// 100-pixel screen capture with large text often gives neither, and the text there went
/// unseen. The network reads such a frame whole: every small image with text is found,
/// where the classical stages alone miss some.
#[test]
fn text_in_small_frames_that_the_classical_stages_miss_is_found() {
    let images = small_images();
    let (mut text, mut classical, mut learned) = (0, 0, 0);
    let mut missed = Vec::new();
    for image in images.iter().filter(|i| !i.truth.is_empty()) {
        text += 1;
        let c = find_text_classical(&image.data, &image.geometry, image.palette.as_ref())
            .expect("the labelled set decodes");
        let l = find_text(&image.data, &image.geometry, image.palette.as_ref())
            .expect("the labelled set decodes");
        classical += on_text(image, &c) as usize;
        if on_text(image, &l) {
            learned += 1;
        } else {
            missed.push(image.name.clone());
        }
    }
    assert!(
        classical < text,
        "the classical stages found all {text}: this set no longer shows the learned stage"
    );
    assert!(
        learned > classical,
        "the learned stage found {learned} of {text}, the classical stages {classical}"
    );
    // At most one in twenty-five missed (the bench prints the whole set's numbers).
    assert!(
        missed.len() * 25 <= text,
        "{} of {text} small images with text missed (the classical stages alone: {}): {missed:?}",
        missed.len(),
        text - classical
    );
}

/// The learned stage can add text to a small frame, never remove it: every region the
/// classical stages find is still there, and where they find none it adds regions only
/// on lines of text, not on the anatomy of text-free images (no more than one in ten of
/// the small controls flagged beyond the classical stages' own).
#[test]
fn the_learned_stage_keeps_every_classical_region_and_flags_few_controls() {
    let images = small_images();
    let (mut controls, mut added) = (0, 0);
    for image in &images {
        let c = find_text_classical(&image.data, &image.geometry, image.palette.as_ref())
            .expect("the labelled set decodes");
        let l = find_text(&image.data, &image.geometry, image.palette.as_ref())
            .expect("the labelled set decodes");
        for r in &c.regions {
            assert!(
                l.regions.iter().any(|m| m.frame == r.frame
                    && m.rect.row_start <= r.rect.row_start
                    && r.rect.row_end <= m.rect.row_end
                    && m.rect.col_start <= r.rect.col_start
                    && r.rect.col_end <= m.rect.col_end),
                "{}: the classical region {:?} is gone",
                image.name,
                r.rect
            );
        }
        if image.truth.is_empty() {
            controls += 1;
            added += (l.has_text() && !c.has_text()) as usize;
        }
    }
    assert!(
        added * 10 <= controls,
        "the learned stage flagged {added} of {controls} small controls"
    );
}

/// Whether one region of `detection` holds nine tenths of the ink box of each of the
/// image's texts (what `redact_detected` needs to blank the text whole).
fn whole(image: &Labelled, detection: &Detection) -> bool {
    image.truth.iter().all(|(f, t)| {
        detection
            .regions
            .iter()
            .any(|r| r.frame == *f && r.rect.overlap(t) * 10 >= t.area() * 9)
    })
}

/// In a small frame the classical stages often find a line in part: the glyphs against
/// the frame's edge, or the half of each glyph on one side of a band. The network reads
/// small frames whole even then, and its line joins theirs, so the region holds the text.
#[test]
fn a_line_the_classical_stages_found_in_part_is_completed_by_the_network() {
    let images = small_images();
    let (mut partial, mut completed) = (0, 0);
    for image in images.iter().filter(|i| !i.truth.is_empty()) {
        let c = find_text_classical(&image.data, &image.geometry, image.palette.as_ref())
            .expect("the labelled set decodes");
        if !on_text(image, &c) || whole(image, &c) {
            continue;
        }
        partial += 1;
        let l = find_text(&image.data, &image.geometry, image.palette.as_ref())
            .expect("the labelled set decodes");
        completed += whole(image, &l) as usize;
    }
    eprintln!("{completed} of {partial} lines found in part completed");
    assert!(
        partial > 0,
        "no line found in part: this set no longer shows it"
    );
    // A quarter of them at least (3 of 12 when this was written; none before).
    assert!(
        completed * 4 >= partial,
        "the network completed {completed} of {partial} lines the classical stages found in part"
    );
}

/// On lines the classical stages confirm, the network's reading is advisory: the bone of a
/// CT read with the wrong pixel representation makes glyph-like lines the network does
/// not read as text, and they still count (the image stays flagged), while drawn text is
/// read as text.
#[test]
fn the_network_reads_drawn_text_as_text_and_bone_not_and_bone_still_counts() {
    let mut backgrounds = backgrounds_from(&pydicom());
    backgrounds.retain(|b| b.name == "J2K_pixelrep_mismatch" || b.name == "SC_rgb_rle_2frame");
    assert_eq!(backgrounds.len(), 2, "the pydicom images are missing");
    let set = labelled_set(&backgrounds);
    let bone = set
        .iter()
        .find(|i| i.name == "J2K_pixelrep_mismatch/mono16_12bit/control")
        .expect("the control is drawn");
    let detection = find_text(&bone.data, &bone.geometry, None).expect("it decodes");
    assert!(
        detection.has_text(),
        "the bone no longer looks like text to the classical stages; pick another control"
    );
    assert!(
        detection.regions.iter().all(|r| r.learned != Some(true))
            && detection.regions.iter().any(|r| r.learned == Some(false)),
        "the network read the bone as text, or read none of it: {:?}",
        detection.regions
    );
    assert!(detection.not_text >= 1 && detection.judged >= 1);
    let mut read = 0;
    for image in set
        .iter()
        .filter(|i| i.name.starts_with("SC_rgb_rle_2frame/mono8/text"))
    {
        let detection = find_text(&image.data, &image.geometry, None).expect("it decodes");
        read += detection
            .regions
            .iter()
            .filter(|r| {
                r.learned == Some(true)
                    && image
                        .truth
                        .iter()
                        .any(|(f, t)| *f == r.frame && overlaps(&r.rect, t))
            })
            .count();
    }
    assert!(read >= 1, "the network did not read drawn text as text");
}
