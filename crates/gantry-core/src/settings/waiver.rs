//! `waivers:`: findings of verify a person has looked at and accepts, each with the reason.

use dicom_core::Tag;
use serde::de::{self, Deserializer};
use serde::{Deserialize, Serialize};

use super::action::TagKey;
use super::machine::DeviceMatch;

/// The rule labels a waiver may name: every rule reports print, except `pixel risk`
/// (text the detector sees in the pixels is never waivable).
pub const WAIVABLE_RULES: [&str; 17] = [
    "profile",
    "config",
    "private tag",
    "safe private tag",
    "uid",
    "date",
    "person name",
    "overlay group",
    "identifier echo",
    "value too long for an identifier",
    "identity marker",
    "foreign sealed originals",
    "survived",
    "known safe text",
    "unlisted text",
    "PHI detector",
    "another person's identifier",
];

/// A finding accepted by selector: every selector given must match (at least one is
/// required), and the reason is written in reports and the manifest. Pixel findings and
/// findings that name no tag path are never waived.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Waiver {
    /// The finding's own tag, at any depth (`"0008,1030"` or a keyword).
    #[serde(
        skip_serializing_if = "Option::is_none",
        serialize_with = "crate::report::option_tag_text"
    )]
    pub tag: Option<Tag>,
    /// Exactly this tag path, as reports print it (`(0040,0275)[0]>(0008,0104)`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// The rule that found it, as reports name it (`identifier echo`, `PHI detector`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rule: Option<String>,
    /// Manufacturer of the device, as machine rules test it.
    #[serde(skip_serializing_if = "DeviceMatch::is_any")]
    pub manufacturer: DeviceMatch,
    /// Manufacturer's Model Name.
    #[serde(skip_serializing_if = "DeviceMatch::is_any")]
    pub model_name: DeviceMatch,
    /// Device Serial Number.
    #[serde(skip_serializing_if = "DeviceMatch::is_any")]
    pub serial_number: DeviceMatch,
    /// One instance: its original SOP Instance UID.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub instance: Option<String>,
    /// Why the finding is acceptable, and who decided (required).
    pub reason: String,
}

impl<'de> Deserialize<'de> for Waiver {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Raw {
            tag: Option<String>,
            path: Option<String>,
            rule: Option<String>,
            #[serde(default)]
            manufacturer: DeviceMatch,
            #[serde(default, alias = "model")]
            model_name: DeviceMatch,
            #[serde(default, alias = "serial")]
            serial_number: DeviceMatch,
            instance: Option<String>,
            reason: Option<String>,
            #[allow(dead_code)] // a note for people; it changes nothing
            comment: Option<String>,
        }
        let raw = Raw::deserialize(d)?;
        let reason = raw
            .reason
            .map(|r| r.trim().to_string())
            .filter(|r| !r.is_empty())
            .ok_or_else(|| {
                de::Error::custom("a waiver needs a reason (who accepted it, and why)")
            })?;
        let tag = raw
            .tag
            .as_deref()
            .map(TagKey::parse)
            .transpose()
            .map_err(de::Error::custom)?
            .map(|k| k.0);
        if let Some(rule) = &raw.rule {
            if rule.trim().eq_ignore_ascii_case("pixel risk") {
                return Err(de::Error::custom(
                    "pixel text the detector sees is never waivable: add zones, or redact it",
                ));
            }
            if !WAIVABLE_RULES.contains(&rule.trim()) {
                return Err(de::Error::custom(format!(
                    "unknown rule {rule:?} in a waiver (expected one of: {})",
                    WAIVABLE_RULES.join(", ")
                )));
            }
        }
        let path = raw.path.map(|p| p.trim().to_ascii_uppercase());
        let any_device =
            raw.manufacturer.is_any() && raw.model_name.is_any() && raw.serial_number.is_any();
        if tag.is_none()
            && path.is_none()
            && raw.rule.is_none()
            && raw.instance.is_none()
            && any_device
        {
            return Err(de::Error::custom(
                "a waiver needs at least one selector (tag, path, rule, manufacturer, model_name, serial_number or instance): \
                 one without would accept every finding",
            ));
        }
        Ok(Waiver {
            tag,
            path,
            rule: raw.rule.map(|r| r.trim().to_string()),
            manufacturer: raw.manufacturer,
            model_name: raw.model_name,
            serial_number: raw.serial_number,
            instance: raw.instance.map(|i| i.trim().to_string()),
            reason,
        })
    }
}
