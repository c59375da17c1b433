//! What a config rule does to an attribute, and the tags rules name.

use std::fmt;

use dicom_core::Tag;
use dicom_core::dictionary::{DataDictionary, DataDictionaryEntry};
use dicom_dictionary_std::StandardDataDictionary;
use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde::{Deserialize, Serialize};

/// An action on an attribute, as a config writes it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(tag = "action", content = "value", rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Action {
    /// Remove the attribute (PS3.15 code X).
    Remove,
    /// Keep it with a zero-length value (Z).
    Empty,
    /// Replace the value with a dummy of the right VR (D).
    Dummy,
    /// Keep it unchanged; sequences are still cleaned item by item (K).
    Keep,
    /// Clean free text of identifying content; shift dates (C).
    Clean,
    /// Replace with this value, or with the action's default replacement when none is given.
    Replace(Option<String>),
    /// Replace with a keyed hash of the value (consistent, not reversible without the secret).
    Hash,
    /// Replace UIDs with keyed remapped UIDs (U).
    Uid,
    /// Shift dates and times by the patient's offset.
    Shift,
}

impl Action {
    /// Every action name a config may use, for error messages.
    pub const NAMES: &'static str =
        "REMOVE, EMPTY, DUMMY, KEEP, CLEAN, REPLACE, HASH, UID, JITTER (or SHIFT)";

    /// Parses an action name (any case); `value` goes with REPLACE.
    pub fn parse(name: &str, value: Option<String>) -> Option<Action> {
        Some(match name.trim().to_ascii_uppercase().as_str() {
            "REMOVE" | "DELETE" | "X" => Action::Remove,
            "EMPTY" | "BLANK" | "Z" => Action::Empty,
            "DUMMY" | "D" => Action::Dummy,
            "KEEP" | "RETAIN" | "K" => Action::Keep,
            "CLEAN" | "C" => Action::Clean,
            "REPLACE" => Action::Replace(value),
            "HASH" => Action::Hash,
            "UID" | "U" | "REMAP" => Action::Uid,
            "JITTER" | "SHIFT" => Action::Shift,
            _ => return None,
        })
    }

    /// The name used in config files.
    pub fn name(&self) -> &'static str {
        match self {
            Action::Remove => "REMOVE",
            Action::Empty => "EMPTY",
            Action::Dummy => "DUMMY",
            Action::Keep => "KEEP",
            Action::Clean => "CLEAN",
            Action::Replace(_) => "REPLACE",
            Action::Hash => "HASH",
            Action::Uid => "UID",
            Action::Shift => "JITTER",
        }
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Action::Replace(Some(value)) => write!(f, "REPLACE with {value:?}"),
            other => f.write_str(other.name()),
        }
    }
}

/// A value of a configuration that cannot be used; the message says what is wrong with it
/// (the config error around it adds the file, the key and the line).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidValue {
    /// A tag written `GGGG,EEEE` without four hexadecimal digits on each side.
    #[error("malformed tag {0:?}: expected \"GGGG,EEEE\" with four hexadecimal digits each")]
    MalformedTag(String),
    /// Neither a tag nor a keyword of the standard dictionary.
    #[error("unknown keyword {0:?}: not a tag \"GGGG,EEEE\" nor a keyword of the DICOM dictionary")]
    UnknownKeyword(String),
    /// A zone with a coordinate below zero.
    #[error("zone {0:?} has a negative coordinate")]
    NegativeZone([i64; 4]),
    /// A zone with a coordinate no image reaches.
    #[error("zone {0:?} has a coordinate beyond any image")]
    HugeZone([i64; 4]),
    /// A zone that does not start before it ends.
    #[error(
        "zone {zone:?}: {axis}_start {start} is not before {axis}_end {end} \
         (zones are [row_start, row_end, col_start, col_end], end exclusive)"
    )]
    EmptyZone {
        /// The zone as written.
        zone: [i64; 4],
        /// `row` or `col`.
        axis: &'static str,
        /// Its start on that axis.
        start: i64,
        /// Its end on that axis.
        end: i64,
    },
    /// A zone given by position and size, with a size that is not positive.
    #[error("zone width {width} and height {height} must both be positive")]
    ZoneSize {
        /// The width given.
        width: i64,
        /// The height given.
        height: i64,
    },
    /// A zone map with neither form complete.
    #[error(
        "a zone map needs either roi: [row_start, row_end, col_start, col_end] \
         or all of x, y, width, height"
    )]
    ZoneForm,
    /// A date shift range whose minimum exceeds its maximum.
    #[error("date_jitter minimum {min} exceeds its maximum {max}")]
    JitterReversed {
        /// The minimum.
        min: i32,
        /// The maximum.
        max: i32,
    },
    /// A date shift of zero days, which changes no date.
    #[error(
        "a date_jitter of 0 days leaves every date unchanged; to keep dates, \
         use profile_options: [retain_longitudinal_full_dates]"
    )]
    JitterZero,
    /// A date shift of more than a century.
    #[error("date_jitter [{min}, {max}] reaches beyond a century")]
    JitterTooLong {
        /// The minimum.
        min: i32,
        /// The maximum.
        max: i32,
    },
}

/// A tag as a config names it: `"GGGG,EEEE"` in any letter case (with or without
/// parentheses), or a keyword of the standard dictionary (`PatientName`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TagKey(pub Tag);

impl TagKey {
    /// Parses a tag key; the error says what is wrong with it.
    pub fn parse(text: &str) -> Result<TagKey, InvalidValue> {
        let trimmed = text.trim();
        let inner = trimmed
            .strip_prefix('(')
            .and_then(|t| t.strip_suffix(')'))
            .unwrap_or(trimmed);
        if let Some((group, element)) = inner.split_once(',') {
            let hex = |part: &str| {
                let part = part.trim();
                (part.len() == 4)
                    .then(|| u16::from_str_radix(part, 16).ok())
                    .flatten()
            };
            return match (hex(group), hex(element)) {
                (Some(g), Some(e)) => Ok(TagKey(Tag(g, e))),
                _ => Err(InvalidValue::MalformedTag(text.to_string())),
            };
        }
        if inner.len() == 8
            && inner.chars().all(|c| c.is_ascii_hexdigit())
            && let (Ok(g), Ok(e)) = (
                u16::from_str_radix(&inner[..4], 16),
                u16::from_str_radix(&inner[4..], 16),
            )
        {
            return Ok(TagKey(Tag(g, e)));
        }
        match StandardDataDictionary.by_name(inner) {
            Some(entry) => Ok(TagKey(entry.tag_range().inner())),
            None => Err(InvalidValue::UnknownKeyword(text.to_string())),
        }
    }

    /// The keyword of the tag in the standard dictionary, if it has one.
    pub fn keyword(&self) -> Option<&'static str> {
        StandardDataDictionary.by_tag(self.0).map(|e| e.alias())
    }
}

impl fmt::Display for TagKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04X},{:04X}", self.0.group(), self.0.element())
    }
}

impl<'de> Deserialize<'de> for TagKey {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        TagKey::parse(&text).map_err(de::Error::custom)
    }
}

/// One `phi_tags` entry: a plain string (the tag's name, default action) or a map with
/// `name`, `action` and `value`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RawTagRule {
    pub name: Option<String>,
    pub action: Option<Action>,
}

impl<'de> Deserialize<'de> for RawTagRule {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct RuleVisitor;
        impl<'de> Visitor<'de> for RuleVisitor {
            type Value = RawTagRule;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a tag name, or a map with name, action and value")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<RawTagRule, E> {
                Ok(RawTagRule {
                    name: Some(v.to_string()),
                    action: None,
                })
            }
            fn visit_unit<E: de::Error>(self) -> Result<RawTagRule, E> {
                Ok(RawTagRule {
                    name: None,
                    action: None,
                })
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<RawTagRule, A::Error> {
                let mut name = None;
                let mut action: Option<String> = None;
                let mut value: Option<String> = None;
                while let Some(key) = map.next_key::<String>()? {
                    match key.as_str() {
                        "name" => name = Some(map.next_value::<String>()?),
                        "action" => action = Some(map.next_value::<String>()?),
                        "value" => value = Some(map.next_value::<ScalarText>()?.0),
                        // A note for people (Gantry-py writes them); it changes nothing.
                        "comment" => {
                            map.next_value::<de::IgnoredAny>()?;
                        }
                        other => {
                            return Err(de::Error::custom(format!(
                                "unknown key `{other}` in a phi_tags entry (expected name, action, value, comment)"
                            )));
                        }
                    }
                }
                let action = match action {
                    None if value.is_some() => Some(Action::Replace(value)),
                    None => None,
                    Some(a) => Some(Action::parse(&a, value.clone()).ok_or_else(|| {
                        de::Error::custom(format!(
                            "unknown action {a:?} (expected one of {})",
                            Action::NAMES
                        ))
                    })?),
                };
                Ok(RawTagRule { name, action })
            }
        }
        d.deserialize_any(RuleVisitor)
    }
}

/// Any YAML scalar, as text: a replacement value may be written as a number.
pub(crate) struct ScalarText(pub String);

impl<'de> Deserialize<'de> for ScalarText {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct ScalarVisitor;
        impl Visitor<'_> for ScalarVisitor {
            type Value = ScalarText;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a text, number or boolean")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<ScalarText, E> {
                Ok(ScalarText(v.to_string()))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<ScalarText, E> {
                Ok(ScalarText(v.to_string()))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<ScalarText, E> {
                Ok(ScalarText(v.to_string()))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<ScalarText, E> {
                Ok(ScalarText(v.to_string()))
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<ScalarText, E> {
                Ok(ScalarText(v.to_string()))
            }
        }
        d.deserialize_any(ScalarVisitor)
    }
}
