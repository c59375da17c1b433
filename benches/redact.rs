//! Blanking speed against its floor, and redact_pixels' scaling over threads.
//!
//! ```text
//! cargo bench --bench redact
//! ```
//!
//! Three images (512×512 16-bit, 1024×768 RGB, a 30-frame 640×480 RGB cine) are blanked
//! with a band of text and a corner box, measured with criterion, and compared with a
//! plain `fill` of the same number of bytes in the same run (the floor: no layout work
//! at all). Then `redact_pixels` runs over a folder of ultrasound instances with 1 and
//! with 2 threads. Targets: blanking at no less than half the floor's speed; 2 threads at
//! least 1.7 times as fast as 1.

mod common;

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput};
use gantry_redact::{Fill, Geometry, Photometric, Rect, blank, effective_zones};

fn image(
    name: &'static str,
    rows: u32,
    columns: u32,
    frames: u32,
    rgb: bool,
) -> (&'static str, Geometry) {
    (
        name,
        Geometry {
            rows,
            columns,
            frames,
            samples_per_pixel: if rgb { 3 } else { 1 },
            bits_allocated: if rgb { 8 } else { 16 },
            bits_stored: if rgb { 8 } else { 12 },
            signed: false,
            planar: false,
            photometric: if rgb {
                Photometric::Rgb
            } else {
                Photometric::Monochrome2
            },
        },
    )
}

fn zones(g: &Geometry) -> Vec<Rect> {
    vec![
        Rect {
            row_start: 0,
            row_end: g.rows / 10,
            col_start: 0,
            col_end: g.columns,
        },
        Rect {
            row_start: g.rows - g.rows / 8,
            row_end: g.rows,
            col_start: g.columns - g.columns / 4,
            col_end: g.columns,
        },
    ]
}

/// Bytes the zones cover in all frames.
fn zone_bytes(g: &Geometry, zones: &[Rect]) -> usize {
    let (applied, _) = effective_zones(g, zones);
    let pixel = g.samples_per_pixel as usize * g.sample_bytes();
    applied
        .iter()
        .map(|z| z.area() as usize * pixel)
        .sum::<usize>()
        * g.frames as usize
}

fn min_time(mut f: impl FnMut()) -> Duration {
    (0..30)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed()
        })
        .min()
        .unwrap_or_default()
}

fn main() {
    if common::probing() {
        return;
    }
    common::quiet_backtraces();
    let images = [
        image("512x512 16-bit MONOCHROME2", 512, 512, 1, false),
        image("1024x768 RGB", 1024, 768, 1, true),
        image("30-frame 640x480 RGB cine", 480, 640, 30, true),
    ];
    let mut criterion = Criterion::default().configure_from_args().sample_size(30);
    let mut summary = Vec::new();
    for (name, g) in &images {
        let zones = zones(g);
        let fill = Fill::black(g, None).expect("black");
        let bytes = zone_bytes(g, &zones);
        let mut data = vec![7u8; g.data_len()];
        let mut floor = vec![7u8; bytes];
        let mut group = criterion.benchmark_group(*name);
        group.throughput(Throughput::Bytes(bytes as u64));
        group.bench_function("blank zones", |b| {
            b.iter(|| blank(black_box(&mut data), g, &zones, &fill).expect("blank"))
        });
        group.bench_function("fill of the same bytes (floor)", |b| {
            b.iter(|| black_box(&mut floor).fill(0))
        });
        group.finish();
        let t_blank = min_time(|| {
            blank(black_box(&mut data), g, &zones, &fill).expect("blank");
        });
        let t_fill = min_time(|| black_box(&mut floor).fill(0));
        summary.push((*name, bytes, t_blank, t_fill));
    }

    let (one, two) = redact_scaling();
    println!(
        "\nredact bench, {} threads available",
        rayon::current_num_threads()
    );
    for (name, bytes, t_blank, t_fill) in summary {
        let gbs = |t: Duration| bytes as f64 / t.as_secs_f64() / 1e9;
        println!(
            "  {name:<28} blank {:>6.2} GB/s   fill {:>6.2} GB/s   {:.2} of the floor's speed (target 0.5)",
            gbs(t_blank),
            gbs(t_fill),
            t_fill.as_secs_f64() / t_blank.as_secs_f64()
        );
    }
    println!(
        "  redact_pixels over a folder: 1 thread {:.2} s, 2 threads {:.2} s: {:.2}x (target 1.7)",
        one.as_secs_f64(),
        two.as_secs_f64(),
        one.as_secs_f64() / two.as_secs_f64()
    );
}

/// Writes a folder of the bench's images as DICOM files: `copies` of each.
fn write_folder(dir: &std::path::Path, copies: usize) {
    use dicom_core::{DataElement, PrimitiveValue, VR};
    use dicom_dictionary_std::tags;
    std::fs::create_dir_all(dir).expect("folder");
    let shapes = [
        (512u16, 512u16, 1u32, false),
        (768, 1024, 1, true),
        (480, 640, 30, true),
    ];
    for copy in 0..copies {
        for (i, (rows, columns, frames, rgb)) in shapes.iter().enumerate() {
            let spp: u16 = if *rgb { 3 } else { 1 };
            let bits: u16 = if *rgb { 8 } else { 16 };
            let len = *rows as usize
                * *columns as usize
                * *frames as usize
                * spp as usize
                * bits as usize
                / 8;
            let pixels: Vec<u8> = (0..len).map(|b| (b * 31 % 251) as u8).collect();
            let uid = format!("2.25.{}{:04}{}", 7 + i, copy, 1_000_000 + i);
            let mut obj = dicom_object::InMemDicomObject::from_element_iter([
                DataElement::new(
                    tags::SOP_CLASS_UID,
                    VR::UI,
                    PrimitiveValue::from("1.2.840.10008.5.1.4.1.1.7"),
                ),
                DataElement::new(
                    tags::SOP_INSTANCE_UID,
                    VR::UI,
                    PrimitiveValue::from(uid.clone()),
                ),
                DataElement::new(
                    tags::STUDY_INSTANCE_UID,
                    VR::UI,
                    PrimitiveValue::from("2.25.11"),
                ),
                DataElement::new(
                    tags::SERIES_INSTANCE_UID,
                    VR::UI,
                    PrimitiveValue::from(format!("2.25.12{i}")),
                ),
                DataElement::new(
                    tags::MODALITY,
                    VR::CS,
                    PrimitiveValue::from(if *rgb { "US" } else { "OT" }),
                ),
                DataElement::new(tags::MANUFACTURER, VR::LO, PrimitiveValue::from("BENCH")),
                DataElement::new(tags::PATIENT_ID, VR::LO, PrimitiveValue::from("BENCH-1")),
                DataElement::new(tags::SAMPLES_PER_PIXEL, VR::US, PrimitiveValue::from(spp)),
                DataElement::new(
                    tags::PHOTOMETRIC_INTERPRETATION,
                    VR::CS,
                    PrimitiveValue::from(if *rgb { "RGB" } else { "MONOCHROME2" }),
                ),
                DataElement::new(tags::ROWS, VR::US, PrimitiveValue::from(*rows)),
                DataElement::new(tags::COLUMNS, VR::US, PrimitiveValue::from(*columns)),
                DataElement::new(tags::BITS_ALLOCATED, VR::US, PrimitiveValue::from(bits)),
                DataElement::new(
                    tags::BITS_STORED,
                    VR::US,
                    PrimitiveValue::from(if *rgb { 8u16 } else { 12 }),
                ),
                DataElement::new(
                    tags::HIGH_BIT,
                    VR::US,
                    PrimitiveValue::from(if *rgb { 7u16 } else { 11 }),
                ),
                DataElement::new(
                    tags::PIXEL_REPRESENTATION,
                    VR::US,
                    PrimitiveValue::from(0u16),
                ),
                DataElement::new(
                    tags::BURNED_IN_ANNOTATION,
                    VR::CS,
                    PrimitiveValue::from("YES"),
                ),
                DataElement::new(
                    tags::PIXEL_DATA,
                    if *rgb { VR::OB } else { VR::OW },
                    PrimitiveValue::from(pixels),
                ),
            ]);
            if *rgb {
                obj.put(DataElement::new(
                    tags::PLANAR_CONFIGURATION,
                    VR::US,
                    PrimitiveValue::from(0u16),
                ));
            }
            if *frames > 1 {
                obj.put(DataElement::new(
                    tags::NUMBER_OF_FRAMES,
                    VR::IS,
                    PrimitiveValue::from(frames.to_string()),
                ));
            }
            let file = obj
                .with_meta(
                    dicom_object::FileMetaTableBuilder::new()
                        .media_storage_sop_class_uid("1.2.840.10008.5.1.4.1.1.7")
                        .media_storage_sop_instance_uid(uid)
                        .transfer_syntax("1.2.840.10008.1.2.1"),
                )
                .expect("meta");
            file.write_to_file(dir.join(format!("img{i}_{copy}.dcm")))
                .expect("write");
        }
    }
}

/// `redact_pixels` over a folder of such images (band and box zones), with 1 and 2
/// worker threads, writing RLE Lossless; best of three fresh databases each.
fn redact_scaling() -> (Duration, Duration) {
    let dir = tempfile::tempdir().expect("temporary folder");
    let data = dir.path().join("images");
    write_folder(&data, 12);
    let config = dir.path().join("config.yaml");
    std::fs::write(
        &config,
        "version: \"2.0\"\nmachines:\n  - manufacturer: BENCH\n    redaction_zones:\n      - [0, 48, 0, 1024]\n      - [400, 480, 480, 640]\n",
    )
    .expect("config");
    let run = |threads: usize, round: usize| {
        let mut session = gantry::Session::builder()
            .database(dir.path().join(format!("t{threads}r{round}.db")))
            .threads(threads)
            .open()
            .expect("session");
        session.ingest(&data).expect("ingest");
        session.load_config(&config).expect("config");
        let started = Instant::now();
        let report = session
            .redact_pixels_as(gantry::PixelSyntax::RleLossless)
            .expect("redact");
        assert!(
            report.redacted == 36 && report.failed.is_empty(),
            "{report}"
        );
        started.elapsed()
    };
    // Warm the page cache.
    run(2, 99);
    let one = (0..3).map(|r| run(1, r)).min().unwrap_or_default();
    let two = (0..3).map(|r| run(2, r)).min().unwrap_or_default();
    (one, two)
}
