//! The burned-in text detector on a labelled set: real backgrounds from
//! `tests/data/pydicom` and synthetic ones, PHI-like strings drawn with DejaVu at 7–28 px in
//! every layout, and the same images without text. Prints image recall, region recall, the
//! share of text-free images flagged, and throughput per core (one thread, the whole
//! cascade), against a baseline measured in the same run: one pass that only
//! reads every sample (the floor any detector pays).
//!
//! `cargo bench --bench detect`

use std::path::Path;
use std::time::Instant;

use gantry_redact::{Rect, find_text, text_candidates, zones_around};
use gantry_synth::{Labelled, backgrounds_from, enlarged, labelled_set, synthetic_backgrounds};

fn overlap(a: &Rect, b: &Rect) -> u64 {
    a.overlap(b)
}

fn main() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/pydicom");
    let mut backgrounds = backgrounds_from(&dir);
    let real = backgrounds.len();
    backgrounds.extend(synthetic_backgrounds(7));
    // Files of the pydicom test set whose pixels already carry burned-in text (ultrasound
    // annotations, GDCM's text test image): their "controls" are not text-free, so they are
    // counted apart, as images with real text the detector should find.
    // (examples_ybr_color, a cardiac ultrasound, was checked by eye: "PLA", "Gen THI", a
    // menu bar; image_dfl, a checkerboard test pattern, carries none.)
    const REAL_TEXT: &[&str] = &[
        "examples_jpeg2k",
        "examples_palette",
        "examples_rgb_color",
        "examples_ybr_color",
        "GDCMJ2K_TextGBR",
    ];
    // Large images: those of 480 pixels or more (real text aside) at three times their
    // size, with text four times as tall.
    let large = enlarged(
        &backgrounds
            .iter()
            .filter(|b| !REAL_TEXT.contains(&b.name.as_str()))
            .cloned()
            .collect::<Vec<_>>(),
        480,
        3,
    );
    let large_names: Vec<String> = large.iter().map(|b| b.name.clone()).collect();
    backgrounds.extend(large);
    let is_large = |name: &str| {
        large_names
            .iter()
            .any(|l| name.starts_with(&format!("{l}/")))
    };
    let (mut large_text, mut large_found, mut large_controls, mut large_flagged) = (0, 0, 0, 0);
    // Detection time and frames: images as drawn, and enlarged ones.
    let mut per_size = [(std::time::Duration::ZERO, 0u64); 2];
    let set: Vec<Labelled> = labelled_set(&backgrounds);
    let (mut real_images, mut real_found) = (0, 0);
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .unwrap();
    let (mut text_images, mut found_images) = (0, 0);
    let (mut regions, mut found_regions) = (0, 0);
    let mut found_drawn = 0;
    // Per text image: the area of its frame's detections over its ink box's.
    let mut spread: Vec<f64> = Vec::new();
    let mut whole_regions = 0;
    let (mut controls, mut flagged) = (0, 0);
    let mut misses = Vec::new();
    let mut false_alarms = Vec::new();
    let mut pixels = 0u64;
    let (mut searched, mut boxed) = (0u64, 0u64);
    let mut frames = 0u64;
    let started = Instant::now();
    let mut floor = std::time::Duration::ZERO;
    let mut checksum = 0u64;
    for image in &set {
        let t = Instant::now();
        checksum = checksum.wrapping_add(image.data.iter().map(|&b| b as u64).sum::<u64>());
        floor += t.elapsed();
        let t = Instant::now();
        let detection = pool
            .install(|| find_text(&image.data, &image.geometry, image.palette.as_ref()))
            .expect("the labelled set decodes");
        let bucket = &mut per_size[is_large(&image.name) as usize];
        bucket.0 += t.elapsed();
        bucket.1 += image.geometry.frames as u64;
        searched += detection.pixels;
        boxed += detection.boxed;
        pixels += image.geometry.rows as u64
            * image.geometry.columns as u64
            * image.geometry.frames as u64;
        frames += image.geometry.frames as u64;
        if REAL_TEXT
            .iter()
            .any(|r| image.name.starts_with(&format!("{r}/")))
        {
            if image.truth.is_empty() {
                real_images += 1;
                real_found += detection.has_text() as usize;
            }
            continue;
        }
        if image.truth.is_empty() {
            controls += 1;
            if is_large(&image.name) {
                large_controls += 1;
                large_flagged += detection.has_text() as usize;
            }
            if detection.has_text() {
                flagged += 1;
                false_alarms.push(format!("{} -> {:?}", image.name, detection.regions));
            }
            continue;
        }
        text_images += 1;
        let covers = |frame: u32, truth: &Rect| {
            let covered: u64 = detection
                .regions
                .iter()
                .filter(|r| r.frame == frame)
                .map(|r| overlap(&r.rect, truth))
                .sum();
            covered * 10 >= truth.area() * 9
        };
        found_drawn += image.drawn.iter().filter(|(f, t)| covers(*f, t)).count();
        if let Some((frame, truth)) = image.truth.first() {
            let area: u64 = detection
                .regions
                .iter()
                .filter(|r| r.frame == *frame)
                .map(|r| r.rect.area())
                .sum();
            if area > 0 {
                spread.push(area as f64 / truth.area().max(1) as f64);
            }
        }
        let mut all = true;
        for (frame, truth) in &image.truth {
            regions += 1;
            if covers(*frame, truth) {
                found_regions += 1;
            } else {
                all = false;
            }
            // What `redact_detected` blanks in its first round: the regions grown.
            let zones = zones_around(
                &detection
                    .regions
                    .iter()
                    .filter(|r| r.frame == *frame)
                    .copied()
                    .collect::<Vec<_>>(),
                image.geometry.rows,
                image.geometry.columns,
            );
            let blanked: u64 = (truth.row_start..truth.row_end)
                .map(|row| {
                    (truth.col_start..truth.col_end)
                        .filter(|&col| {
                            zones.iter().any(|z| {
                                z.row_start <= row
                                    && row < z.row_end
                                    && z.col_start <= col
                                    && col < z.col_end
                            })
                        })
                        .count() as u64
                })
                .sum();
            whole_regions += (blanked == truth.area()) as usize;
        }
        if detection.regions.iter().any(|r| {
            image
                .truth
                .iter()
                .any(|(f, t)| *f == r.frame && overlap(&r.rect, t) > 0)
        }) {
            found_images += 1;
            large_found += is_large(&image.name) as usize;
        }
        large_text += is_large(&image.name) as usize;
        if !all {
            misses.push(format!(
                "{} truth {:?} found {:?}",
                image.name, image.truth, detection.regions
            ));
        }
    }
    let elapsed = started.elapsed();
    // The cheap pass alone, over the same images (candidates of every scale and plane).
    let started_cheap = Instant::now();
    let mut candidates = 0usize;
    for image in &set {
        candidates += text_candidates(&image.data, &image.geometry, image.palette.as_ref())
            .expect("the labelled set decodes")
            .len();
    }
    let cheap = started_cheap.elapsed();
    println!(
        "labelled set: {} images ({} with text, {} controls) on {} backgrounds ({} from tests/data/pydicom), {} layouts",
        set.len(),
        text_images,
        controls,
        backgrounds.len(),
        real,
        gantry_synth::LAYOUTS.len()
    );
    println!(
        "image recall   {:.3} ({found_images}/{text_images})",
        found_images as f64 / text_images.max(1) as f64
    );
    println!(
        "               of which {} backgrounds enlarged 3x (text 28-112 px): {large_found}/{large_text} text images found, {large_flagged}/{large_controls} controls flagged",
        large_names.len()
    );
    println!(
        "region recall  {:.3} ({found_regions}/{regions}, a region counts when 90 % of its ink box is inside a detection; ink the text changed by 2 % or more)",
        found_regions as f64 / regions.max(1) as f64
    );
    println!(
        "               {:.3} ({found_drawn}/{regions}) counting every glyph pixel drawn, seen or not (black ink across a black band)",
        found_drawn as f64 / regions.max(1) as f64
    );
    spread.sort_by(f64::total_cmp);
    let at = |q: f64| {
        spread
            .get((q * (spread.len().max(1) - 1) as f64) as usize)
            .copied()
            .unwrap_or(0.0)
    };
    println!(
        "               detections cover {:.2}× their text's ink box (median; {:.2}× at the 90th percentile)",
        at(0.5),
        at(0.9)
    );
    println!(
        "redact_detected blanks {:.3} of the text regions whole in its first round ({whole_regions}/{regions}; each region grown by `zones_around`)",
        whole_regions as f64 / regions.max(1) as f64
    );
    println!(
        "false positives {:.3} ({flagged}/{controls} text-free images flagged)",
        flagged as f64 / controls.max(1) as f64
    );
    println!(
        "real burned-in text in {} pydicom files, {real_found}/{real_images} of their renderings flagged",
        REAL_TEXT.len()
    );
    println!(
        "throughput     {:.1} Mpixel/s per core, {:.2} ms per frame (one thread); reading every byte once: {:.0} Mpixel/s (checksum {checksum})",
        pixels as f64 / elapsed.as_secs_f64() / 1e6,
        elapsed.as_secs_f64() * 1e3 / frames.max(1) as f64,
        pixels as f64 / floor.as_secs_f64().max(1e-9) / 1e6,
    );
    let ms = |(t, n): (std::time::Duration, u64)| t.as_secs_f64() * 1e3 / n.max(1) as f64;
    println!(
        "               {:.2} ms per frame on the images as drawn (up to 512 px), {:.2} ms on the enlarged ones (up to 1536 px)",
        ms(per_size[0]),
        ms(per_size[1])
    );
    println!(
        "cheap pass    {:.1} Mpixel/s per core alone ({candidates} candidate boxes); hands {:.1} % of the pixels to confirmation",
        pixels as f64 / cheap.as_secs_f64() / 1e6,
        boxed as f64 * 100.0 / searched.max(1) as f64
    );
    turned(&backgrounds);
    #[cfg(feature = "learned")]
    learned(&set, REAL_TEXT);
    #[cfg(feature = "ocr")]
    ocr(&set, REAL_TEXT);
    for m in misses.iter().take(400) {
        println!("MISS  {m}");
    }
    for f in false_alarms.iter().take(400) {
        println!("FALSE {f}");
    }
}

/// The learned stage (feature `learned`, on by default) against the classical stages alone, in the
/// same run: time, and what a stage that dismissed the lines the network does not read as
/// text would keep (text images whose text it reads; controls it would still flag).
#[cfg(feature = "learned")]
fn learned(set: &[Labelled], real_text: &[&str]) {
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .unwrap();
    let (mut classical_time, mut learned_time) =
        (std::time::Duration::ZERO, std::time::Duration::ZERO);
    let (mut found, mut read, mut flagged, mut still, mut frames) = (0, 0, 0, 0, 0u64);
    let (mut judged, mut not_text, mut lines) = (0u64, 0u64, 0u64);
    for image in set {
        if real_text
            .iter()
            .any(|r| image.name.starts_with(&format!("{r}/")))
        {
            continue;
        }
        let t = Instant::now();
        let classical = pool
            .install(|| {
                gantry_redact::find_text_classical(
                    &image.data,
                    &image.geometry,
                    image.palette.as_ref(),
                )
            })
            .expect("the labelled set decodes");
        classical_time += t.elapsed();
        let t = Instant::now();
        let detection = pool
            .install(|| find_text(&image.data, &image.geometry, image.palette.as_ref()))
            .expect("the labelled set decodes");
        learned_time += t.elapsed();
        frames += image.geometry.frames as u64;
        judged += detection.judged as u64;
        not_text += detection
            .regions
            .iter()
            .filter(|r| r.learned == Some(false))
            .count() as u64;
        lines += detection.regions.len() as u64;
        let on_text = |learned: bool| {
            detection.regions.iter().any(|r| {
                (!learned || r.learned == Some(true))
                    && image
                        .truth
                        .iter()
                        .any(|(f, t)| *f == r.frame && overlap(&r.rect, t) > 0)
            })
        };
        if image.truth.is_empty() {
            flagged += classical.has_text() as usize;
            still += detection.regions.iter().any(|r| r.learned == Some(true)) as usize;
        } else if on_text(false) {
            found += 1;
            read += on_text(true) as usize;
        }
    }
    let ms = |t: std::time::Duration| t.as_secs_f64() * 1e3 / frames.max(1) as f64;
    println!(
        "learned stage  {judged} lines read by the network, {not_text} of {lines} regions not read as text; of the text images found, {read}/{found} have their text read as text; of the {flagged} controls flagged, {still} have a region read as text"
    );
    println!(
        "               {:.2} ms per frame with it, {:.2} ms without (the classical stages alone, same run)",
        ms(learned_time),
        ms(classical_time)
    );
}

/// The string drawn into a labelled image, from its name (`.../text "MRN 482" 17px`).
#[cfg(feature = "ocr")]
fn drawn_text(name: &str) -> Option<String> {
    let start = name.find("/text \"")? + "/text \"".len();
    let end = name.rfind("\" ")?;
    (end > start).then(|| name[start..end].replace("\\\"", "\""))
}

/// Tesseract on what the detector found (`--features ocr`): for each text image, the
/// detected region that holds most of the drawn text is read, and the reading compared
/// with the string drawn (words joined by single spaces): exactly, and by its masked shape
/// (what reports show).
#[cfg(feature = "ocr")]
fn ocr(set: &[Labelled], real_text: &[&str]) {
    let words = |s: &str| s.split_whitespace().collect::<Vec<_>>().join(" ");
    let (mut read, mut exact, mut shape, mut nothing, mut failed) = (0, 0, 0, 0, 0);
    let mut spent = std::time::Duration::ZERO;
    for image in set {
        if image.truth.is_empty()
            || image.in_high_bits
            || real_text
                .iter()
                .any(|r| image.name.starts_with(&format!("{r}/")))
        {
            continue;
        }
        let Some(drawn) = drawn_text(&image.name) else {
            continue;
        };
        let detection = find_text(&image.data, &image.geometry, image.palette.as_ref())
            .expect("the labelled set decodes");
        let (frame, truth) = image.truth[0];
        let Some(best) = detection
            .regions
            .iter()
            .filter(|r| r.frame == frame)
            .max_by_key(|r| overlap(&r.rect, &truth))
            .filter(|r| overlap(&r.rect, &truth) > 0)
        else {
            continue;
        };
        let t = Instant::now();
        let reading = gantry_redact::read_regions(
            &image.data,
            &image.geometry,
            image.palette.as_ref(),
            std::slice::from_ref(best),
        );
        spent += t.elapsed();
        read += 1;
        match reading.as_deref() {
            Ok([Some(r)]) => {
                exact += (words(&r.text) == words(&drawn)) as usize;
                shape += (r.masked() == gantry_redact::mask(&drawn)) as usize;
            }
            Ok(_) => nothing += 1,
            Err(_) => failed += 1,
        }
    }
    println!(
        "OCR            {read} detected text regions read, {:.1} ms each: {exact} read exactly as drawn, {shape} with the drawn shape (what reports show), {nothing} read as nothing, {failed} failed",
        spent.as_secs_f64() * 1e3 / read.max(1) as f64
    );
}

/// Text turned a quarter (written down or up) along the left or right edge of every
/// background, 8-bit: three strings at cap heights 8, 11, 16 and 24 px, light, dark and
/// mid-grey ink. Prints how many the detector finds where they are.
fn turned(backgrounds: &[gantry_synth::Background]) {
    use gantry_synth::{Face, rasterize};
    let (mut tried, mut found) = (0, 0);
    for background in backgrounds {
        let (w, h) = (background.width, background.height);
        let base: Vec<u8> = background.grey.iter().map(|v| (v * 255.0) as u8).collect();
        let geometry = gantry_redact::Geometry::grey8(h as u32, w as u32);
        for cap in [8.0f32, 11.0, 16.0, 24.0] {
            for word in ["MRN 4820193", "DOE^JANE", "12/03/1961"] {
                let mask = rasterize(word, cap, Face::Sans);
                let (mw, mh) = (mask.width, mask.height);
                if mw + 8 > h || mh + 8 > w {
                    continue;
                }
                let placements = [false, true]
                    .into_iter()
                    .flat_map(|right| [false, true].map(|down| (right, down)));
                for ((right, down), ink) in
                    placements.flat_map(|p| [250u8, 5, 128].map(|ink| (p, ink)))
                {
                    let mut image = base.clone();
                    let x0 = if right { w - mh - 3 } else { 3 };
                    let y0 = (h - mw) / 2;
                    let (mut r0, mut r1, mut c0, mut c1) = (usize::MAX, 0, usize::MAX, 0);
                    for y in 0..mh {
                        for x in 0..mw {
                            let a = mask.at(x, y) as u32;
                            if a == 0 {
                                continue;
                            }
                            let (px, py) = if down {
                                (x0 + mh - 1 - y, y0 + x)
                            } else {
                                (x0 + y, y0 + mw - 1 - x)
                            };
                            let p = &mut image[py * w + px];
                            *p = ((*p as u32 * (255 - a) + ink as u32 * a) / 255) as u8;
                            if a >= 64 {
                                (r0, r1) = (r0.min(py), r1.max(py + 1));
                                (c0, c1) = (c0.min(px), c1.max(px + 1));
                            }
                        }
                    }
                    if r0 == usize::MAX {
                        continue;
                    }
                    tried += 1;
                    let detection = find_text(&image, &geometry, None).expect("8-bit decodes");
                    found += detection.regions.iter().any(|r| {
                        (r.rect.row_start as usize) < r1
                            && r0 < r.rect.row_end as usize
                            && (r.rect.col_start as usize) < c1
                            && c0 < r.rect.col_end as usize
                    }) as usize;
                }
            }
        }
    }
    println!(
        "turned text   {:.3} ({found}/{tried} lines written down or up along a side found where they are)",
        found as f64 / tried.max(1) as f64
    );
}
