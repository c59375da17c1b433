//! What a configuration says: the unified configuration (v2.0 YAML) parsed and validated,
//! the PS3.15 profile it builds on, and the machine rules. A shared leaf: the rules, the
//! engine and the pixel plan read it; checkpoint 3 (`crate::config`) writes and loads it.

mod action;
mod machine;
pub(crate) mod profile;
mod waiver;

use std::fmt;
use std::path::Path;

use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize};

pub use action::{Action, InvalidValue, TagKey};
pub use machine::{BurnedInText, Condition, DeviceMatch, MachineRule, Zone, values_of};
pub use profile::{
    ActionCode, PROFILE_EDITION, Profile, ProfileOption, ProfileRule, Requirement, TagPattern,
    requirement,
};
pub use waiver::{WAIVABLE_RULES, Waiver};

use action::RawTagRule;

pub use crate::error::ConfigError;

/// The date shift range, in days; each patient gets one offset in it (never 0).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct DateJitter {
    /// Smallest shift.
    pub min_days: i32,
    /// Largest shift.
    pub max_days: i32,
}

impl Default for DateJitter {
    fn default() -> Self {
        DateJitter {
            min_days: -365,
            max_days: -1,
        }
    }
}

impl<'de> Deserialize<'de> for DateJitter {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct JitterVisitor;
        impl<'de> Visitor<'de> for JitterVisitor {
            type Value = DateJitter;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a number of days, [min, max], or {min_days, max_days}")
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<DateJitter, E> {
                // A single number N: shift by up to N days either way.
                let n = v.unsigned_abs().min(i32::MAX as u64) as i32;
                DateJitter::checked(-n, n).map_err(E::custom)
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<DateJitter, E> {
                self.visit_i64(v.min(i32::MAX as u64) as i64)
            }
            fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<DateJitter, A::Error> {
                let min: i64 = seq
                    .next_element()?
                    .ok_or_else(|| de::Error::custom("date_jitter [min, max] needs two numbers"))?;
                let max: i64 = seq
                    .next_element()?
                    .ok_or_else(|| de::Error::custom("date_jitter [min, max] needs two numbers"))?;
                DateJitter::checked(clamp(min), clamp(max)).map_err(de::Error::custom)
            }
            fn visit_map<A: de::MapAccess<'de>>(self, mut map: A) -> Result<DateJitter, A::Error> {
                let (mut min, mut max) = (None, None);
                while let Some(key) = map.next_key::<String>()? {
                    match key.as_str() {
                        "min_days" | "min" => min = Some(map.next_value::<i64>()?),
                        "max_days" | "max" => max = Some(map.next_value::<i64>()?),
                        other => {
                            return Err(de::Error::custom(format!(
                                "unknown key `{other}` in date_jitter (expected min_days, max_days)"
                            )));
                        }
                    }
                }
                match (min, max) {
                    (Some(min), Some(max)) => {
                        DateJitter::checked(clamp(min), clamp(max)).map_err(de::Error::custom)
                    }
                    _ => Err(de::Error::custom(
                        "date_jitter needs both min_days and max_days",
                    )),
                }
            }
        }
        d.deserialize_any(JitterVisitor)
    }
}

fn clamp(v: i64) -> i32 {
    v.clamp(i32::MIN as i64, i32::MAX as i64) as i32
}

impl DateJitter {
    fn checked(min_days: i32, max_days: i32) -> Result<DateJitter, InvalidValue> {
        let (min, max) = (min_days, max_days);
        if min > max {
            return Err(InvalidValue::JitterReversed { min, max });
        }
        if min == 0 && max == 0 {
            return Err(InvalidValue::JitterZero);
        }
        if min.unsigned_abs() > 36_500 || max.unsigned_abs() > 36_500 {
            return Err(InvalidValue::JitterTooLong { min, max });
        }
        Ok(DateJitter { min_days, max_days })
    }
}

/// A rule of `phi_tags`: one tag, and what to do with it (`None`: the profile's action).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TagRule {
    /// The tag.
    #[serde(serialize_with = "crate::report::tag_text")]
    pub tag: dicom_core::Tag,
    /// The name the config gave it, if any.
    pub name: Option<String>,
    /// The action; `None` means the default: the profile's action for the tag, or REMOVE
    /// for a tag the profile does not list.
    pub action: Option<Action>,
}

/// A private attribute declared safe to keep under the Retain Safe Private option:
/// `(gggg,xxee)` of the block reserved by `creator` (PS3.15 E.3.10).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SafePrivate {
    /// The odd group.
    pub group: u16,
    /// The Private Creator value that reserves the block.
    pub creator: String,
    /// The element offset inside the block (the low byte, `ee`).
    pub element: u8,
}

/// The whole configuration, validated.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Config {
    /// The format version (`"2.0"`).
    pub version: String,
    /// Active options of the Basic Profile, sorted.
    pub options: Vec<ProfileOption>,
    /// Per-tag overrides of the profile, sorted by tag.
    pub tag_rules: Vec<TagRule>,
    /// How far dates move; set when dates are shifted.
    pub date_jitter: Option<DateJitter>,
    /// Whether private attributes are removed (the profile's default).
    pub remove_private_tags: bool,
    /// Private attributes kept under Retain Safe Private.
    pub safe_private: Vec<SafePrivate>,
    /// Prefix of patient pseudonyms (`ANON` gives `ANON-3F9A...`).
    pub pseudonym_prefix: String,
    /// Machine rules for pixel redaction, in file order.
    pub machines: Vec<MachineRule>,
    /// What happens to a text value that neither the profile, the config nor the table of
    /// attributes known to carry no identity names.
    pub unlisted_text: UnlistedText,
    /// How files are linked to one patient (one pseudonym, one date shift).
    pub patient_linkage: PatientLinkage,
    /// What happens to an image that may carry burned-in text and that no rule covers.
    pub pixel_policy: PixelPolicy,
    /// Findings of verify a person accepts, each with its reason.
    pub waivers: Vec<Waiver>,
}

/// Which copy ingest keeps of a SOP Instance UID that two files with different content
/// hold (`on_uid_conflict`). The other is listed as a conflict, naming the copy kept.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UidConflict {
    /// The copy indexed first (in the walk's order) stays.
    #[default]
    KeepFirst,
    /// The copy modified last (file mtime) is indexed; on a tie the one indexed stays.
    KeepNewest,
    /// Every copy is indexed as an instance of its own, and each gets its own new SOP
    /// Instance UID (references to the UID from other instances follow the first copy).
    KeepAll,
}

impl UidConflict {
    /// Its name in configs and reports.
    pub fn name(self) -> &'static str {
        match self {
            UidConflict::KeepFirst => "keep_first",
            UidConflict::KeepNewest => "keep_newest",
            UidConflict::KeepAll => "keep_all",
        }
    }
}

/// `pixel_policy`: the fate of an image that may carry burned-in text (its flags, modality
/// or class say so) and that no machine rule covers.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PixelPolicy {
    /// Blocked, whatever its pixels hold (the default, until the text detector's recall on
    /// the labelled benchmark reaches 100 %).
    #[default]
    Block,
    /// Searched by the text detector: exported when it finds no text, blocked with the
    /// regions it finds (as proposed zones) otherwise.
    Detect,
    /// Searched by the text detector, and the regions it finds blanked (with a margin of
    /// a line's height around each, widened along the line) by redact; verify searches the
    /// result again, and any text left blocks.
    RedactDetected,
}

/// `patient_linkage`: what makes two files one patient.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PatientLinkage {
    /// The Patient ID; an Issuer of Patient ID missing or different on some files
    /// separates them only when name and birth date disagree as well (the default).
    #[default]
    Id,
    /// Patient ID and Issuer of Patient ID, always.
    IdAndIssuer,
}

/// `unlisted_text`: the fate of free text no rule names.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UnlistedText {
    /// Removed (the default: identity nobody can vouch for).
    #[default]
    Remove,
    /// Kept with every identifier and everything the PHI detector finds removed.
    Clean,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            version: "2.0".into(),
            options: Vec::new(),
            tag_rules: Vec::new(),
            date_jitter: None,
            remove_private_tags: true,
            safe_private: Vec::new(),
            pseudonym_prefix: "ANON".into(),
            machines: Vec::new(),
            unlisted_text: UnlistedText::Remove,
            patient_linkage: PatientLinkage::Id,
            pixel_policy: PixelPolicy::Block,
            waivers: Vec::new(),
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    #[serde(default)]
    version: Option<Version>,
    #[serde(default)]
    #[allow(dead_code)] // validated while parsing; only one profile exists
    privacy_profile: Option<ProfileName>,
    #[serde(default)]
    profile_options: Vec<OptionName>,
    #[serde(default)]
    phi_tags: Option<TagRules>,
    #[serde(default)]
    date_jitter: Option<DateJitter>,
    #[serde(default)]
    remove_private_tags: Option<bool>,
    #[serde(default)]
    safe_private_tags: Vec<SafePrivate>,
    #[serde(default)]
    pseudonym_prefix: Option<Prefix>,
    #[serde(default)]
    machines: Vec<MachineRule>,
    #[serde(default)]
    unlisted_text: UnlistedText,
    #[serde(default)]
    patient_linkage: PatientLinkage,
    #[serde(default)]
    pixel_policy: PixelPolicy,
    #[serde(default)]
    waivers: Vec<Waiver>,
}

/// `phi_tags`, in file order, refusing a tag given twice (as a number and a keyword, say).
struct TagRules(Vec<(TagKey, RawTagRule)>);

impl<'de> Deserialize<'de> for TagRules {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct RulesVisitor;
        impl<'de> Visitor<'de> for RulesVisitor {
            type Value = TagRules;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a map of tags to rules")
            }
            fn visit_unit<E: de::Error>(self) -> Result<TagRules, E> {
                Ok(TagRules(Vec::new()))
            }
            fn visit_map<A: de::MapAccess<'de>>(self, mut map: A) -> Result<TagRules, A::Error> {
                let mut rules: Vec<(TagKey, RawTagRule)> = Vec::new();
                while let Some(key) = map.next_key::<TagKey>()? {
                    let rule: RawTagRule = map.next_value()?;
                    if rules.iter().any(|(k, _)| *k == key) {
                        return Err(de::Error::custom(format!(
                            "tag {key} is given twice (as a number and a keyword, or in two letter cases)"
                        )));
                    }
                    rules.push((key, rule));
                }
                Ok(TagRules(rules))
            }
        }
        d.deserialize_any(RulesVisitor)
    }
}

struct Version(String);

impl<'de> Deserialize<'de> for Version {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = action::ScalarText::deserialize(d)?.0;
        if text.split('.').next() == Some("2") {
            Ok(Version(text))
        } else {
            Err(de::Error::custom(format!(
                "unsupported config version {text:?} (this Gantry reads 2.x)"
            )))
        }
    }
}

struct ProfileName;

impl<'de> Deserialize<'de> for ProfileName {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let name = String::deserialize(d)?;
        match name.trim().to_ascii_lowercase().as_str() {
            "basic" | "basic_profile" | "ps3.15_basic" => Ok(ProfileName),
            _ => Err(de::Error::custom(format!(
                "unknown privacy profile {name:?} (expected basic: the PS3.15 Basic Application Level Confidentiality Profile)"
            ))),
        }
    }
}

struct Prefix(String);

impl<'de> Deserialize<'de> for Prefix {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let prefix = String::deserialize(d)?;
        if prefix.is_empty()
            || prefix.len() > 16
            || !prefix
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_')
        {
            return Err(de::Error::custom(format!(
                "pseudonym prefix {prefix:?} must be 1 to 16 letters, digits or _"
            )));
        }
        Ok(Prefix(prefix))
    }
}

struct OptionName(ProfileOption);

impl<'de> Deserialize<'de> for OptionName {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let name = String::deserialize(d)?;
        ProfileOption::from_config_name(&name)
            .map(OptionName)
            .ok_or_else(|| {
                let known: Vec<&str> = ProfileOption::ALL.iter().map(|o| o.config_name()).collect();
                de::Error::custom(format!(
                    "unknown profile option {name:?} (expected one of {})",
                    known.join(", ")
                ))
            })
    }
}

impl Config {
    /// Reads and validates a configuration file.
    pub fn load(path: impl AsRef<Path>) -> Result<Config, ConfigError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError {
            path: path.to_path_buf(),
            line: None,
            message: e.to_string(),
        })?;
        Config::parse(&text, path)
    }

    /// Parses and validates configuration text; `path` names it in errors.
    pub fn parse(text: &str, path: impl AsRef<Path>) -> Result<Config, ConfigError> {
        let path = path.as_ref();
        let fail = |line, message| ConfigError {
            path: path.to_path_buf(),
            line,
            message,
        };
        let raw: RawConfig = serde_yaml::from_str(text)
            .map_err(|e| fail(e.location().map(|l| l.line()), e.to_string()))?;
        let version = raw.version.map(|v| v.0).unwrap_or_else(|| "2.0".into());
        let mut options: Vec<ProfileOption> =
            raw.profile_options.into_iter().map(|o| o.0).collect();
        // Shifting dates is what the Modified Dates option means (PS3.15 E.3.6).
        if raw.date_jitter.is_some() {
            options.push(ProfileOption::RetainLongitudinalModifiedDates);
        }
        options.sort();
        options.dedup();
        if options.contains(&ProfileOption::RetainLongitudinalFullDates)
            && options.contains(&ProfileOption::RetainLongitudinalModifiedDates)
        {
            return Err(fail(
                None,
                "profile_options: retain_longitudinal_full_dates and \
                 retain_longitudinal_modified_dates (or date_jitter) exclude each other"
                    .into(),
            ));
        }
        let date_jitter = match raw.date_jitter {
            Some(j) => Some(j),
            None if options.contains(&ProfileOption::RetainLongitudinalModifiedDates) => {
                Some(DateJitter::default())
            }
            None => None,
        };
        let mut tag_rules: Vec<TagRule> = raw
            .phi_tags
            .map(|r| r.0)
            .unwrap_or_default()
            .into_iter()
            .map(|(key, rule)| TagRule {
                tag: key.0,
                name: rule.name,
                action: rule.action,
            })
            .collect();
        tag_rules.sort_by_key(|r| r.tag);
        let prefix = raw
            .pseudonym_prefix
            .map(|p| p.0)
            .unwrap_or_else(|| "ANON".into());
        Ok(Config {
            version,
            options,
            tag_rules,
            date_jitter,
            remove_private_tags: raw.remove_private_tags.unwrap_or(true),
            safe_private: raw.safe_private_tags,
            pseudonym_prefix: prefix,
            machines: raw.machines,
            unlisted_text: raw.unlisted_text,
            patient_linkage: raw.patient_linkage,
            pixel_policy: raw.pixel_policy,
            waivers: raw.waivers,
        })
    }

    /// The config rule for `tag`, if `phi_tags` has one.
    pub fn tag_rule(&self, tag: dicom_core::Tag) -> Option<&TagRule> {
        self.tag_rules
            .binary_search_by_key(&tag, |r| r.tag)
            .ok()
            .map(|i| &self.tag_rules[i])
    }

    /// Whether an option is active.
    pub fn has_option(&self, option: ProfileOption) -> bool {
        self.options.contains(&option)
    }
}
