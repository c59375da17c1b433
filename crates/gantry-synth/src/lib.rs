//! A synthetic hospital DICOM dump with planted PHI, for Gantry's tests, example and benches.
//!
//! [`generate`] writes a deterministic tree (same seed, same bytes) of patients × studies ×
//! series from several devices ([`Device`]): 8- and 16-bit, signed and unsigned,
//! MONOCHROME1/2, RGB planar 0 and 1, multi-frame, Implicit VR, Explicit VR Big Endian, RLE
//! Lossless and JPEG Baseline; ultrasound with the patient's name burned into a known band;
//! PHI planted in [`PLANTED_PLACES`] (nested sequences three levels deep, private tags and
//! private sequences, free text echoing name and MRN, UIDs embedding the MRN, dates); and
//! junk, truncated, duplicate and conflicting files. It returns a [`SyntheticDump`]: the
//! ground truth that tests check Gantry against. Burned-in banners are real glyphs
//! ([`rasterize`], embedded DejaVu fonts); [`labelled_set`] draws PHI-like strings onto
//! real and synthetic backgrounds in every pixel layout, with text-free controls, for the
//! text detector's benchmark.
//!
//! ```
//! let dir = tempfile::tempdir()?;
//! let dump = gantry_synth::generate(dir.path(), &gantry_synth::DumpSpec::default())?;
//! assert!(dump.instances.len() > 20);
//! assert!(dump.instances.iter().any(|i| i.burned_in_band.is_some()));
//! assert!(gantry_synth::PLANTED_PLACES.len() >= 30);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![deny(missing_docs)]

use std::path::{Path, PathBuf};

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;
use serde::Serialize;

pub use adversarial::{
    AdversarialCorpus, AdversarialPatient, PlantedDate, Vector, write_adversarial,
};
pub use devices::{Band, Device, Geometry};
pub use labelled::{
    Background, LAYOUTS, Labelled, backgrounds_from, enlarged, labelled_set, synthetic_backgrounds,
};
pub use objects::PLANTED_PLACES;
pub use people::PatientTruth;
pub use text::{Face, Mask, ink_box, rasterize};

mod adversarial;
mod devices;
mod junk;
mod labelled;
mod objects;
mod people;
mod text;
mod write;

/// What to generate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DumpSpec {
    /// Seed for every random choice; the same seed gives the same bytes.
    pub seed: u64,
    /// Number of patients.
    pub patients: usize,
    /// Upper bound on studies per patient (at least one each).
    pub max_studies_per_patient: usize,
    /// Image size: full-size images, or tiny ones for file-count benchmarks.
    pub scale: Scale,
    /// Whether to add junk, truncated, duplicate and conflicting files.
    pub junk: bool,
    /// Stop after this many instances (for benchmarks of many small files).
    pub max_instances: Option<usize>,
}

/// Image sizes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scale {
    /// Realistic sizes (CT 128², US 240×320 and 480×640, DX 256²).
    Normal,
    /// 16×16 images, for benchmarks that count files rather than bytes.
    Tiny,
}

impl Default for DumpSpec {
    fn default() -> Self {
        DumpSpec {
            seed: 20231,
            patients: 6,
            max_studies_per_patient: 2,
            scale: Scale::Normal,
            junk: true,
            max_instances: None,
        }
    }
}

impl DumpSpec {
    /// About `count` small files from many patients, no junk: the file-count benchmark.
    pub fn many_small_files(count: usize) -> DumpSpec {
        DumpSpec {
            seed: 7,
            patients: count.div_ceil(40).max(1),
            max_studies_per_patient: 2,
            scale: Scale::Tiny,
            junk: false,
            max_instances: Some(count),
        }
    }
}

/// One generated instance and what is true about it.
#[derive(Debug, Clone, Serialize)]
pub struct InstanceTruth {
    /// The file.
    pub path: PathBuf,
    /// Index into [`SyntheticDump::patients`].
    pub patient: usize,
    /// The device that made it.
    pub device: Device,
    /// SOP Instance UID.
    pub sop_instance_uid: String,
    /// Study Instance UID.
    pub study_instance_uid: String,
    /// Series Instance UID.
    pub series_instance_uid: String,
    /// The instance its Referenced Image Sequence points at, if any.
    pub references: Option<String>,
    /// Pixel geometry.
    pub geometry: Geometry,
    /// Transfer syntax UID of the file.
    pub transfer_syntax: String,
    /// Where the burned-in text is, for devices that burn text in.
    pub burned_in_band: Option<Band>,
    /// Study Date as written.
    pub study_date: String,
}

/// A file that must not be indexed, and the reason code Gantry should give.
#[derive(Debug, Clone, Serialize)]
pub struct JunkTruth {
    /// The file.
    pub path: PathBuf,
    /// The expected `SkipReason::code()`.
    pub expected_reason: &'static str,
}

/// The ground truth of a generated dump.
#[derive(Debug, Clone, Serialize)]
pub struct SyntheticDump {
    /// The folder it was written to.
    pub root: PathBuf,
    /// The patients, with every identifier planted for them.
    pub patients: Vec<PatientTruth>,
    /// Every instance written (duplicates and conflicts excluded).
    pub instances: Vec<InstanceTruth>,
    /// Files that are not valid instances.
    pub junk: Vec<JunkTruth>,
    /// Byte-identical copies of instances, under another name.
    pub duplicates: Vec<PathBuf>,
    /// Files reusing an instance's SOP Instance UID with different content.
    pub conflicts: Vec<PathBuf>,
    /// A data set written without a file meta group (indexed with a guessed syntax).
    pub without_meta: Option<PathBuf>,
}

impl SyntheticDump {
    /// A `machines:` section (YAML) with one rule per device and image size that burns
    /// text in, whose zone is exactly the band the text was written to: the config a
    /// careful user would write after looking at the images.
    pub fn machine_rules(&self) -> String {
        self.machine_rules_for(|_| true)
    }

    /// Like [`SyntheticDump::machine_rules`], for the devices `keep` accepts only.
    pub fn machine_rules_for(&self, keep: impl Fn(Device) -> bool) -> String {
        let mut rules = std::collections::BTreeSet::new();
        for i in self.instances.iter().filter(|i| keep(i.device)) {
            if let Some(band) = i.burned_in_band {
                rules.insert((
                    i.device.manufacturer(),
                    i.device.model(),
                    i.geometry.rows,
                    i.geometry.columns,
                    [band.row_start, band.row_end, band.col_start, band.col_end],
                ));
            }
        }
        let mut out = String::from("machines:\n");
        for (manufacturer, model, rows, columns, zone) in rules {
            out.push_str(&format!(
                "  - manufacturer: \"{manufacturer}\"\n    model_name: \"{model}\"\n    rows: {rows}\n    columns: {columns}\n    redaction_zones:\n      - {zone:?}\n"
            ));
        }
        out
    }

    /// Every identifying string planted anywhere, for leak scans.
    pub fn planted_identifiers(&self) -> Vec<String> {
        let mut out: Vec<String> = self.patients.iter().flat_map(|p| p.identifiers()).collect();
        out.extend(
            [
                "St. Gantry General Hospital",
                "Infirmary Road",
                "HOUNSFIELD",
                "Godfreyna",
                "ROENTGENBERG",
                "Wilfreda",
                "TECHNOWSKI",
                "Radegund",
                "MERCKX",
                "Hieronymus",
                "Clinic Close",
            ]
            .map(String::from),
        );
        out.sort();
        out.dedup();
        out
    }

    /// Instances expected to be indexed: generated instances plus the meta-less one.
    pub fn expected_indexed(&self) -> usize {
        self.instances.len() + usize::from(self.without_meta.is_some())
    }
}

/// What can go wrong while generating.
#[derive(Debug, thiserror::Error)]
pub enum SynthError {
    /// Writing a file failed.
    #[error("{path}: {detail}")]
    Write {
        /// The file.
        path: PathBuf,
        /// What failed.
        detail: String,
    },
}

const UID_ROOT: &str = "1.2.826.0.1.3680043.10.1453";

/// A planned instance, before it is written.
struct Plan {
    truth: InstanceTruth,
    study_description: String,
    accession: String,
    study_time: String,
    series_number: u32,
    instance_number: u32,
    encoding: write::Encoding,
    seed: u32,
}

/// Writes a synthetic dump into `dir` and returns its ground truth.
pub fn generate(dir: &Path, spec: &DumpSpec) -> Result<SyntheticDump, SynthError> {
    let mut rng = ChaCha8Rng::seed_from_u64(spec.seed);
    let mut patients: Vec<PatientTruth> = (0..spec.patients)
        .map(|i| PatientTruth::invent(&mut rng, i))
        .collect();
    let mut plans = Vec::new();
    'patients: for (pi, patient) in patients.iter_mut().enumerate() {
        let studies = rng.random_range(1..=spec.max_studies_per_patient.max(1));
        for study in 0..studies {
            let year = 2019 + study as u32 + rng.random_range(0..3);
            let study_date = format!(
                "{year}{:02}{:02}",
                rng.random_range(1..=12),
                rng.random_range(1..=28)
            );
            let study_time = format!(
                "{:02}{:02}{:02}",
                rng.random_range(7..19),
                rng.random_range(0..60),
                rng.random_range(0..60)
            );
            let accession = format!("ACC{:07}", rng.random_range(1_000_000..9_999_999u32));
            patient.accessions.push(accession.clone());
            let study_uid = format!("{UID_ROOT}.{}.{}", patient.mrn_digits, study + 1);
            let devices = pick_devices(&mut rng, spec.scale);
            let folder = dir
                .join(format!(
                    "{}_{}_{}",
                    patient.family, patient.given, patient.mrn
                ))
                .join(format!("{study_date}_{accession}"));
            for (si, device) in devices.into_iter().enumerate() {
                let series_number = si as u32 + 1;
                let series_uid = format!("{study_uid}.{series_number}");
                let variants = series_variants(device, spec.scale, &mut rng);
                let mut previous: Option<String> = None;
                for (ii, (geometry, encoding)) in variants.into_iter().enumerate() {
                    let instance_number = ii as u32 + 1;
                    let sop_uid = format!("{series_uid}.{instance_number}");
                    let band = band_for(device, &geometry);
                    let path = folder
                        .join(format!("{:03}_{}", series_number, device.modality()))
                        .join(format!("IM{instance_number:05}.dcm"));
                    plans.push(Plan {
                        truth: InstanceTruth {
                            path,
                            patient: pi,
                            device,
                            sop_instance_uid: sop_uid.clone(),
                            study_instance_uid: study_uid.clone(),
                            series_instance_uid: series_uid.clone(),
                            references: previous.clone(),
                            geometry,
                            transfer_syntax: encoding.uid().to_string(),
                            burned_in_band: band,
                            study_date: study_date.clone(),
                        },
                        study_description: format!(
                            "{} {} for {}",
                            device.modality(),
                            "examination",
                            patient.family
                        ),
                        accession: accession.clone(),
                        study_time: study_time.clone(),
                        series_number,
                        instance_number,
                        encoding,
                        seed: rng.random(),
                    });
                    previous = Some(sop_uid);
                    if spec.max_instances.is_some_and(|max| plans.len() >= max) {
                        break 'patients;
                    }
                }
            }
        }
    }

    plans
        .par_iter()
        .map(|plan| write::instance(plan, &patients))
        .collect::<Result<Vec<()>, SynthError>>()?;

    let mut dump = SyntheticDump {
        root: dir.to_path_buf(),
        instances: plans.into_iter().map(|p| p.truth).collect(),
        patients,
        junk: Vec::new(),
        duplicates: Vec::new(),
        conflicts: Vec::new(),
        without_meta: None,
    };
    if spec.junk {
        junk::add(&mut dump, &mut rng)?;
    }
    Ok(dump)
}

fn pick_devices(rng: &mut impl Rng, scale: Scale) -> Vec<Device> {
    let mut devices: Vec<Device> = Device::ALL
        .iter()
        .copied()
        .filter(|_| rng.random_bool(0.6))
        .collect();
    if scale == Scale::Normal && devices.iter().all(|d| !d.burns_in_text()) {
        devices.push(Device::AcmeUs);
    }
    if devices.is_empty() {
        devices.push(Device::GeCt);
    }
    devices
}

/// The images of one series: their geometry and encoding.
fn series_variants(
    device: Device,
    scale: Scale,
    rng: &mut impl Rng,
) -> Vec<(Geometry, write::Encoding)> {
    use write::Encoding::*;
    let tiny = scale == Scale::Tiny;
    let size = |normal: u16| if tiny { 16 } else { normal };
    let gray = |rows, columns, bits_stored, signed, photometric| Geometry {
        rows,
        columns,
        frames: 1,
        samples: 1,
        bits_allocated: 16,
        bits_stored,
        pixel_representation: signed,
        planar: 0,
        photometric,
    };
    let rgb = |rows, columns, frames, planar| Geometry {
        rows,
        columns,
        frames,
        samples: 3,
        bits_allocated: 8,
        bits_stored: 8,
        pixel_representation: 0,
        planar,
        photometric: "RGB",
    };
    match device {
        Device::GeCt => {
            let encoding = if rng.random_bool(0.5) {
                ImplicitLittle
            } else {
                ExplicitLittle
            };
            let n = if tiny { 20 } else { 6 };
            vec![(gray(size(128), size(128), 16, 1, "MONOCHROME2"), encoding); n]
        }
        Device::SiemensMr => {
            let encoding = match rng.random_range(0..3) {
                0 => Rle,
                1 if !tiny => ExplicitBig,
                _ => ExplicitLittle,
            };
            let n = if tiny { 20 } else { 5 };
            vec![(gray(size(128), size(128), 12, 0, "MONOCHROME2"), encoding); n]
        }
        Device::CanonDx => vec![(
            gray(size(256), size(256), 12, 0, "MONOCHROME1"),
            ExplicitLittle,
        )],
        Device::AcmeUs => {
            let (rows, cols) = (size(240), size(320));
            let mut out = vec![
                (rgb(rows, cols, 1, 0), ExplicitLittle),
                (rgb(rows, cols, if tiny { 2 } else { 6 }, 1), ExplicitLittle),
            ];
            if !tiny {
                out.push((rgb(rows, cols, 1, 0), JpegBaseline));
            }
            out
        }
        Device::GeLogiqUs => vec![(rgb(size(480), size(640), 1, 0), ExplicitLittle); 2],
        Device::ScreenCapture => {
            let mut g = gray(size(200), size(300), 8, 1, "MONOCHROME2");
            g.bits_allocated = 8;
            vec![(g, ExplicitLittle)]
        }
    }
}

/// Where each device burns its text in: a band across the top of the image.
fn band_for(device: Device, g: &Geometry) -> Option<Band> {
    let rows = g.rows as u32;
    let cols = g.columns as u32;
    match device {
        Device::AcmeUs => Some(Band {
            row_start: 0,
            row_end: (rows / 10).max(2),
            col_start: 0,
            col_end: cols,
        }),
        Device::GeLogiqUs => Some(Band {
            row_start: 0,
            row_end: (rows / 12).max(2),
            col_start: 0,
            col_end: cols,
        }),
        // Text in the middle of the screen, where no rule expects it.
        Device::ScreenCapture => Some(Band {
            row_start: rows / 2,
            row_end: (rows / 2 + rows / 8).max(rows / 2 + 1),
            col_start: cols / 4,
            col_end: cols * 3 / 4,
        }),
        _ => None,
    }
}
