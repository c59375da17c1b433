//! The config skeleton: written from the inventory, commented, for a person to review.

use std::fmt::{self, Write as _};
use std::path::{Path, PathBuf};

use gantry_store::{DeviceCount, Store, decode_header};
use serde::Serialize;

use super::catalogue::{self, CatalogueEntry};
use crate::error::{GantryError, Result};
use crate::settings::{
    Condition, Config, DateJitter, DeviceMatch, MachineRule, ProfileOption, Zone,
};

use crate::pixels::RISKY_MODALITIES;

/// What the skeleton says about each device.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SkeletonReport {
    /// The file written.
    #[serde(serialize_with = "crate::report::path_text")]
    pub path: PathBuf,
    /// One line per device.
    pub devices: Vec<DeviceAdvice>,
}

/// The skeleton's advice for one device.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DeviceAdvice {
    /// Manufacturer / model / serial.
    pub device: String,
    /// Instances from it.
    pub instances: u64,
    /// Catalogue entries whose zones were filled in.
    pub catalogue_entries: Vec<String>,
    /// Why its images may carry burned-in text, if they may.
    pub risk: Option<String>,
    /// Regions where the text detector found text across its sampled images.
    pub detected: Vec<ProposedZone>,
    /// Images sampled for the detector (one per series, at most 50).
    pub sampled: u64,
}

/// A zone the text detector proposes for a device: text found there in `images` of the
/// sampled images.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ProposedZone {
    /// `[row_start, row_end, col_start, col_end]`, with a margin.
    pub zone: [u32; 4],
    /// Sampled images with text there.
    pub images: u64,
}

/// Samples up to 50 images of a device (one per series), runs the text detector over each
/// and groups the regions found into zones, by how many images have text there.
fn discover_zones(store: &Store, device: &DeviceCount) -> (Vec<ProposedZone>, u64) {
    let Ok(ids) = store.series_representatives(
        device.manufacturer.as_deref(),
        device.model_name.as_deref(),
        device.serial_number.as_deref(),
        50,
    ) else {
        return (Vec::new(), 0);
    };
    let mut zones: Vec<(gantry_redact::Rect, u64)> = Vec::new();
    let mut sampled = 0;
    let (mut rows, mut columns) = (0u32, 0u32);
    for id in ids {
        let (Ok(record), Ok(blob)) = (store.instance(id), store.original_header(id)) else {
            continue;
        };
        let Ok(header) = decode_header(&blob) else {
            continue;
        };
        if record.pixels.is_none() || !crate::pixels::decodable(&record) {
            continue;
        }
        let Ok((data, geometry)) = crate::pixels::read_source_pixels(&record, &header) else {
            continue;
        };
        let palette = gantry_redact::Palette::from_header(&header);
        let Ok(found) = gantry_redact::find_text(&data, &geometry, palette.as_ref()) else {
            continue;
        };
        sampled += 1;
        rows = rows.max(geometry.rows);
        columns = columns.max(geometry.columns);
        // One vote per image per zone.
        let mut voted = vec![false; zones.len()];
        for region in &found.regions {
            let r = region.rect;
            match zones.iter().position(|(z, _)| {
                z.row_start < r.row_end
                    && r.row_start < z.row_end
                    && z.col_start < r.col_end
                    && r.col_start < z.col_end
            }) {
                Some(i) => {
                    let z = &mut zones[i].0;
                    z.row_start = z.row_start.min(r.row_start);
                    z.row_end = z.row_end.max(r.row_end);
                    z.col_start = z.col_start.min(r.col_start);
                    z.col_end = z.col_end.max(r.col_end);
                    if !voted[i] {
                        zones[i].1 += 1;
                        voted[i] = true;
                    }
                }
                None => {
                    zones.push((r, 1));
                    voted.push(true);
                }
            }
        }
    }
    let mut out: Vec<ProposedZone> = zones
        .into_iter()
        .map(|(z, images)| ProposedZone {
            zone: [
                z.row_start.saturating_sub(2),
                (z.row_end + 2).min(rows),
                z.col_start.saturating_sub(2),
                (z.col_end + 2).min(columns),
            ],
            images,
        })
        .collect();
    out.sort_by(|a, b| b.images.cmp(&a.images).then(a.zone.cmp(&b.zone)));
    (out, sampled)
}

impl fmt::Display for SkeletonReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "wrote config skeleton {}", self.path.display())?;
        for d in &self.devices {
            let advice = match (&d.risk, d.catalogue_entries.is_empty()) {
                (_, false) => format!(
                    "zones from the catalogue: {}",
                    d.catalogue_entries.join("; ")
                ),
                (Some(risk), true) => format!("AT RISK ({risk}); no zones known: add them"),
                (None, true) => "no known burned-in text risk".into(),
            };
            writeln!(f, "  {:<50} {:>7}  {advice}", d.device, d.instances)?;
            if !d.detected.is_empty() {
                writeln!(
                    f,
                    "  {:<50} {:>7}  text detected: {}",
                    "",
                    "",
                    d.detected
                        .iter()
                        .map(|z| format!("{:?} in {}/{}", z.zone, z.images, d.sampled))
                        .collect::<Vec<_>>()
                        .join(", ")
                )?;
            }
        }
        Ok(())
    }
}

fn describe(device: &DeviceCount) -> String {
    let part = |v: &Option<String>| v.clone().unwrap_or_else(|| "(absent)".into());
    format!(
        "{} / {} / {}",
        part(&device.manufacturer),
        part(&device.model_name),
        part(&device.serial_number)
    )
}

/// Why a device's images may carry burned-in text.
fn risk_of(device: &DeviceCount) -> Option<String> {
    let mut reasons = Vec::new();
    if device.burned_in_yes > 0 {
        reasons.push(format!(
            "BurnedInAnnotation YES on {} of {} instances",
            device.burned_in_yes, device.instances
        ));
    }
    let risky: Vec<&str> = device
        .modalities
        .iter()
        .map(String::as_str)
        .filter(|m| RISKY_MODALITIES.contains(m))
        .collect();
    if !risky.is_empty() {
        reasons.push(format!("modality {}", risky.join(", ")));
    }
    (!reasons.is_empty()).then(|| reasons.join("; "))
}

/// Catalogue entries that match at least one sampled instance (one per series) of a device.
fn catalogue_matches(store: &Store, device: &DeviceCount) -> Result<Vec<&'static CatalogueEntry>> {
    let ids = store.series_representatives(
        device.manufacturer.as_deref(),
        device.model_name.as_deref(),
        device.serial_number.as_deref(),
        1000,
    )?;
    let mut found: Vec<&CatalogueEntry> = Vec::new();
    for id in ids {
        let blob = store.original_header(id)?;
        let Ok(header) = decode_header(&blob) else {
            continue;
        };
        for entry in catalogue::entries() {
            if entry.matches(&header) && !found.iter().any(|e| e.label == entry.label) {
                found.push(entry);
            }
        }
    }
    Ok(found)
}

/// Builds the skeleton configuration and its commented text.
pub(crate) fn build(store: &Store) -> Result<(Config, String, Vec<DeviceAdvice>)> {
    let mut config = Config {
        options: vec![ProfileOption::RetainLongitudinalModifiedDates],
        date_jitter: Some(DateJitter::default()),
        ..Config::default()
    };
    let mut machines_text = String::new();
    let mut advice = Vec::new();
    for device in store.device_counts()? {
        let risk = risk_of(&device);
        let entries = catalogue_matches(store, &device)?;
        let name = describe(&device);
        let (detected, sampled) = discover_zones(store, &device);
        let _ = writeln!(
            machines_text,
            "\n  # {name}: {} instances in {} series ({})",
            device.instances,
            device.series,
            device.modalities.join(", ")
        );
        // A device without a manufacturer, model or serial gets `null` there, which matches
        // only devices that lack it too: never every device.
        let base = MachineRule::for_device(
            device.manufacturer.as_deref(),
            device.model_name.as_deref(),
            device.serial_number.as_deref(),
        );
        if entries.is_empty() {
            match &risk {
                Some(risk) => {
                    let _ = writeln!(
                        machines_text,
                        "  # AT RISK of burned-in text: {risk}.\n  # No catalogue entry matches: add the zones where this device writes text,\n  # or its images stay blocked from the safe export."
                    );
                }
                None => {
                    let _ = writeln!(
                        machines_text,
                        "  # No known burned-in text risk; add zones if you see text in its images."
                    );
                }
            }
            render_rule(&mut machines_text, &base);
            config.machines.push(base);
        } else {
            for entry in &entries {
                let _ = writeln!(
                    machines_text,
                    "  # Zones from the built-in catalogue: \"{}\".\n  # A suggestion only: look at the images before trusting it.",
                    entry.label
                );
                let rule = MachineRule {
                    when: entry.when.clone(),
                    redaction_zones: entry.zones.clone(),
                    label: Some(format!("{} (catalogue)", entry.label)),
                    ..base.clone()
                };
                render_rule(&mut machines_text, &rule);
                config.machines.push(rule);
            }
        }
        if !detected.is_empty() {
            let _ = writeln!(
                machines_text,
                "    # The text detector found text in {} of {} sampled images of this device. Zones\n    # it proposes (accept one by adding it under redaction_zones above; check it first):",
                detected.iter().map(|d| d.images).max().unwrap_or(0),
                sampled
            );
            for d in &detected {
                let [a, b, c, e] = d.zone;
                let _ = writeln!(
                    machines_text,
                    "    #   - [{a}, {b}, {c}, {e}]   # text in {} of {sampled} images",
                    d.images
                );
            }
        }
        advice.push(DeviceAdvice {
            device: name,
            instances: device.instances,
            catalogue_entries: entries.iter().map(|e| e.label.clone()).collect(),
            risk,
            detected,
            sampled,
        });
    }

    let mut text = String::new();
    let _ = write!(
        text,
        r#"# Gantry configuration (unified configuration v2.0), written by `gantry config init`
# from the inventory of {db}. Review every section before running the pipeline.
version: "2.0"

# The PS3.15 Basic Application Level Confidentiality Profile (Table E.1-1, all 621 rows)
# is the baseline. Options change it for groups of attributes:
#   retain_safe_private, retain_uids, retain_device_identity, retain_institution_identity,
#   retain_patient_characteristics, retain_longitudinal_full_dates,
#   retain_longitudinal_modified_dates, clean_descriptors, clean_structured_content,
#   clean_graphics
privacy_profile: basic
profile_options: [{options}]

# Overrides of the profile, by "GGGG,EEEE" (any case) or keyword. Actions: REMOVE, EMPTY,
# DUMMY, KEEP, CLEAN, REPLACE (with value), HASH, UID, JITTER. For example:
#   "0010,0040": {{ name: PatientSex, action: KEEP }}
#   InstitutionName: {{ action: REPLACE, value: "Research Site A" }}
phi_tags: {{}}

# Every date and time of a patient moves by one offset drawn from this range (in days),
# so intervals between that patient's dates are kept.
date_jitter: {{ min_days: {min}, max_days: {max} }}

# Private attributes are removed unless retain_safe_private lists them.
remove_private_tags: true

# Free text that neither the profile, phi_tags nor Gantry's table of attributes known to
# carry no identity names: remove (the default) or clean (kept with every identifier, date,
# number, address and name the PHI detector finds removed or shifted).
unlisted_text: remove

# Images that may carry burned-in text (their flags, modality or class say so) that no
# machine rule below covers: block (the default), detect (exported when the text detector
# finds no text in them, blocked with proposed zones when it does) or redact_detected (the
# regions it finds are blanked, with a margin, and the result searched again). Every image
# is searched whatever the policy, and text found outside the zones of its rules blocks it.
pixel_policy: block

# What makes files one patient (one pseudonym, one date shift): id (the Patient ID; an
# issuer missing or different on some files separates them only when name and birth date
# disagree too) or id_and_issuer.
patient_linkage: id

# Patient pseudonyms: PREFIX-<keyed hash of the Patient ID>.
pseudonym_prefix: {prefix}

# One entry per device found. Zones are [row_start, row_end, col_start, col_end], end
# exclusive, or {{ x, y, width, height }}; they are blanked in every frame of every image
# the rule matches (manufacturer, model and serial compare case-insensitively; "*" is any
# device, null only a device without the attribute).
machines:{machines}"#,
        db = store.path().display(),
        options = config
            .options
            .iter()
            .map(|o| o.config_name())
            .collect::<Vec<_>>()
            .join(", "),
        min = DateJitter::default().min_days,
        max = DateJitter::default().max_days,
        prefix = config.pseudonym_prefix,
        machines = if config.machines.is_empty() {
            " []\n".to_string()
        } else {
            machines_text
        },
    );
    Ok((config, text, advice))
}

fn quoted(text: &str) -> String {
    // A JSON string is a valid YAML double-quoted scalar.
    serde_json::to_string(text).unwrap_or_else(|_| "\"\"".into())
}

/// One machine rule as the YAML of a `machines:` list entry, its comment as comments.
pub(crate) fn render_rule(out: &mut String, rule: &MachineRule) {
    if let Some(comment) = &rule.comment {
        for line in comment.lines() {
            let _ = writeln!(out, "  # {line}");
        }
    }
    let field = |out: &mut String, first: &mut bool, key: &str, value: String| {
        let lead = if *first { "  - " } else { "    " };
        *first = false;
        if value.is_empty() {
            let _ = writeln!(out, "{lead}{key}:");
        } else {
            let _ = writeln!(out, "{lead}{key}: {value}");
        }
    };
    let mut first = true;
    let text = |v: &DeviceMatch| match v {
        DeviceMatch::Any => "\"*\"".to_string(),
        DeviceMatch::Absent => "null   # absent: matches only devices without one".to_string(),
        DeviceMatch::Is(v) => quoted(v),
    };
    field(out, &mut first, "manufacturer", text(&rule.manufacturer));
    field(out, &mut first, "model_name", text(&rule.model_name));
    field(out, &mut first, "serial_number", text(&rule.serial_number));
    if let Some(label) = &rule.label {
        field(out, &mut first, "label", quoted(label));
    }
    if !rule.when.is_empty() {
        field(out, &mut first, "when", String::new());
        for condition in &rule.when {
            let _ = writeln!(out, "      - {}", render_condition(condition));
        }
    }
    if rule.burned_in_text.is_some() {
        field(out, &mut first, "burned_in_text", "none".into());
    }
    if rule.redaction_zones.is_empty() {
        if rule.burned_in_text.is_none() {
            let _ = writeln!(
                out,
                "    # burned_in_text: none   # once a person has looked at this device's images and seen no text\n    #                          (an attestation: the text detector still runs, and text it finds still blocks)"
            );
        }
        field(out, &mut first, "redaction_zones", "[]".into());
    } else {
        field(out, &mut first, "redaction_zones", String::new());
        for zone in &rule.redaction_zones {
            let _ = writeln!(out, "      - {}", render_zone(zone));
        }
    }
}

fn render_zone(zone: &Zone) -> String {
    match &zone.note {
        Some(note) => format!("{{ roi: {zone}, note: {} }}", quoted(note)),
        None => format!(
            "{zone}   # x {}, y {}, {} wide, {} high",
            zone.col_start,
            zone.row_start,
            zone.col_end - zone.col_start,
            zone.row_end - zone.row_start
        ),
    }
}

fn render_condition(condition: &Condition) -> String {
    match condition {
        Condition::Contains {
            attribute,
            contains,
        } => format!(
            "{{ attribute: {attribute}, contains: {} }}",
            quoted(contains)
        ),
        Condition::Equals { attribute, equals } => {
            format!("{{ attribute: {attribute}, equals: {} }}", quoted(equals))
        }
        Condition::AnyOf { any_of } => format!(
            "{{ any_of: [ {} ] }}",
            any_of
                .iter()
                .map(render_condition)
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

/// Writes the skeleton to `path`; refuses to replace an existing file unless `overwrite`.
pub fn write_skeleton(
    store: &Store,
    path: &Path,
    overwrite: bool,
) -> Result<(Config, SkeletonReport)> {
    let (config, text, devices) = build(store)?;
    write_new(path, &text, overwrite)?;
    Ok((
        config,
        SkeletonReport {
            path: path.to_path_buf(),
            devices,
        },
    ))
}

/// Writes `text` to `path`; refuses to replace an existing file unless `overwrite`.
pub(crate) fn write_new(path: &Path, text: &str, overwrite: bool) -> Result<()> {
    let io = |source| GantryError::Io {
        path: path.to_path_buf(),
        source,
    };
    let mut options = std::fs::OpenOptions::new();
    options.write(true);
    if overwrite {
        options.create(true).truncate(true);
    } else {
        options.create_new(true);
    }
    let mut file = options.open(path).map_err(|e| {
        if e.kind() == std::io::ErrorKind::AlreadyExists {
            GantryError::Exists {
                path: path.to_path_buf(),
            }
        } else {
            io(e)
        }
    })?;
    std::io::Write::write_all(&mut file, text.as_bytes()).map_err(io)
}
