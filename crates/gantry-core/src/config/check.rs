//! `config check`: a config read against the inventory. A rule that tests nothing, matches
//! every device or no image, or has a zone outside every image it matches is almost always
//! a mistake, and one that decides what gets blanked: each is a warning.

use std::collections::BTreeSet;
use std::fmt;
use std::path::PathBuf;

use dicom_core::Tag;
use gantry_store::{Store, decode_header};
use serde::Serialize;

use crate::error::Result;
use crate::settings::Config;

/// What `config check` found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ConfigCheck {
    /// The file checked.
    #[serde(serialize_with = "crate::report::path_text")]
    pub path: PathBuf,
    /// Profile options in force.
    pub options: usize,
    /// `phi_tags` rules.
    pub tag_rules: usize,
    /// Each machine rule and what it matches in the inventory.
    pub machines: Vec<RuleUse>,
    /// Devices in the inventory.
    pub devices: usize,
    /// Everything that looks wrong.
    pub warnings: Vec<String>,
}

/// One machine rule against the inventory (one image per series sampled).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RuleUse {
    /// The rule, as reports name it.
    pub rule: String,
    /// Devices with at least one sampled image it matches.
    pub devices: usize,
    /// Sampled images it matches.
    pub images: usize,
    /// Their sizes, `rows×columns`.
    pub sizes: Vec<String>,
}

impl ConfigCheck {
    /// Whether nothing looks wrong.
    pub fn is_clean(&self) -> bool {
        self.warnings.is_empty()
    }
}

impl fmt::Display for ConfigCheck {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "{} is valid: {} options, {} tag rules, {} machine rules ({} devices in the inventory)",
            self.path.display(),
            self.options,
            self.tag_rules,
            self.machines.len(),
            self.devices
        )?;
        for rule in &self.machines {
            writeln!(
                f,
                "  {:<50} {} device(s), {} sampled image(s) {}",
                rule.rule,
                rule.devices,
                rule.images,
                rule.sizes.join(", ")
            )?;
        }
        for warning in &self.warnings {
            writeln!(f, "  WARNING {warning}")?;
        }
        Ok(())
    }
}

/// What one rule matched: devices (by index), sampled images, and their sizes.
type Matched = (BTreeSet<usize>, usize, BTreeSet<(u32, u32)>);

/// Reads `config`'s machine rules against every device of the inventory.
pub(crate) fn check(
    store: &Store,
    config: &Config,
    path: PathBuf,
    text: &str,
) -> Result<ConfigCheck> {
    let devices = store.device_counts()?;
    let mut uses: Vec<Matched> = vec![Matched::default(); config.machines.len()];
    for (d, device) in devices.iter().enumerate() {
        let ids = store.series_representatives(
            device.manufacturer.as_deref(),
            device.model_name.as_deref(),
            device.serial_number.as_deref(),
            1000,
        )?;
        for id in ids {
            let Ok(header) = decode_header(&store.original_header(id)?) else {
                continue;
            };
            let size = |tag| {
                header
                    .get(tag)
                    .and_then(|e| e.to_int::<u32>().ok())
                    .unwrap_or(0)
            };
            let dims = (size(Tag(0x0028, 0x0010)), size(Tag(0x0028, 0x0011)));
            for (rule, used) in config.machines.iter().zip(uses.iter_mut()) {
                if rule.matches(&header) {
                    used.0.insert(d);
                    used.1 += 1;
                    used.2.insert(dims);
                }
            }
        }
    }
    let mut warnings = Vec::new();
    let mut machines = Vec::new();
    for (i, (rule, (matched, images, sizes))) in config.machines.iter().zip(uses).enumerate() {
        let name = format!("machines[{i}] ({})", rule.describe());
        if rule.matches_everything() {
            warnings.push(format!(
                "{name} tests nothing: it matches every image of every device, and its zones are blanked in all of them"
            ));
        } else if devices.len() > 1 && matched.len() == devices.len() {
            warnings.push(format!(
                "{name} matches every one of the {} devices in the inventory",
                devices.len()
            ));
        }
        if images == 0 && !devices.is_empty() {
            warnings.push(format!("{name} matches no image in the inventory"));
        }
        let imaged: Vec<(u32, u32)> = sizes.iter().copied().filter(|s| s.0 > 0).collect();
        if !imaged.is_empty() {
            let sizes_text = imaged
                .iter()
                .map(|(r, c)| format!("{r}×{c}"))
                .collect::<Vec<_>>()
                .join(", ");
            for zone in &rule.redaction_zones {
                let outside =
                    |(rows, cols): &(u32, u32)| zone.row_start >= *rows || zone.col_start >= *cols;
                let beyond =
                    |(rows, cols): &(u32, u32)| zone.row_end > *rows || zone.col_end > *cols;
                if !imaged.iter().all(outside) && imaged.iter().all(beyond) {
                    warnings.push(format!(
                        "{}{name}: zone {zone} reaches past the edge of every image it matches ({}): \
                         it is cut at the edge; check it was meant for these images",
                        at(text, &zone.to_string()),
                        sizes_text
                    ));
                }
                if imaged.iter().all(outside) {
                    warnings.push(format!(
                        "{}{name}: zone {zone} lies outside every image it matches ({})",
                        at(text, &zone.to_string()),
                        sizes_text
                    ));
                }
            }
        }
        machines.push(RuleUse {
            rule: rule.describe(),
            devices: matched.len(),
            images,
            sizes: sizes.iter().map(|(r, c)| format!("{r}×{c}")).collect(),
        });
    }
    if let Some(jitter) = config.date_jitter {
        if jitter.max_days > 0 {
            warnings.push(format!(
                "{}date_jitter.max_days is {}: some dates move into the future, which tells \
                 a reader they were shifted and may put a study after its report",
                at(text, "max_days"),
                jitter.max_days
            ));
        }
        if jitter.min_days.unsigned_abs() > 3650 || jitter.max_days.unsigned_abs() > 3650 {
            warnings.push(format!(
                "{}date_jitter [{}, {}] shifts by more than ten years: ages and intervals \
                 computed across sources may no longer make sense",
                at(text, "min_days"),
                jitter.min_days,
                jitter.max_days
            ));
        }
    }
    Ok(ConfigCheck {
        path,
        options: config.options.len(),
        tag_rules: config.tag_rules.len(),
        machines,
        devices: devices.len(),
        warnings,
    })
}

impl crate::Session {
    /// Loads the config at `path` (as [`crate::Session::load_config`]) and reads its machine
    /// rules against the inventory: what each matches, and warnings for a rule that matches
    /// everything, every device or nothing, and for zones outside every image a rule matches.
    pub fn check_config(&mut self, path: impl AsRef<std::path::Path>) -> Result<ConfigCheck> {
        let path = path.as_ref().to_path_buf();
        let config = self.load_config(&path)?.clone();
        // load_config read it; reading it again gives the lines warnings point at.
        let text = std::fs::read_to_string(&path).unwrap_or_default();
        check(&self.store, &config, path, &text)
    }
}

/// `line N: ` for the first line of `text` holding `needle` (a key, or a zone written as
/// `[a, b, c, d]`), or nothing when it is not found as written.
fn at(text: &str, needle: &str) -> String {
    let squeeze = |s: &str| s.chars().filter(|c| !c.is_whitespace()).collect::<String>();
    let wanted = squeeze(needle);
    text.lines()
        .position(|line| squeeze(line).contains(&wanted))
        .map(|i| format!("line {}: ", i + 1))
        .unwrap_or_default()
}
