//! Machine rules: which images carry burned-in text, and where.

use std::fmt;

use dicom_core::Tag;
use dicom_core::dictionary::{DataDictionary, DataDictionaryEntry};
use dicom_dictionary_std::StandardDataDictionary;
use dicom_object::InMemDicomObject;
use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Serialize};

use super::InvalidValue;

/// A rectangle of pixels to blank: rows `[row_start, row_end)`, columns
/// `[col_start, col_end)` (end exclusive), in every frame.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct Zone {
    /// First row.
    pub row_start: u32,
    /// One past the last row.
    pub row_end: u32,
    /// First column.
    pub col_start: u32,
    /// One past the last column.
    pub col_end: u32,
    /// What the zone covers, for people reading the config.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

impl Zone {
    fn checked(
        row_start: i64,
        row_end: i64,
        col_start: i64,
        col_end: i64,
        note: Option<String>,
    ) -> Result<Zone, InvalidValue> {
        let all = [row_start, row_end, col_start, col_end];
        if all.iter().any(|v| *v < 0) {
            return Err(InvalidValue::NegativeZone(all));
        }
        if all.iter().any(|v| *v > u32::MAX as i64) {
            return Err(InvalidValue::HugeZone(all));
        }
        for (axis, start, end) in [("row", row_start, row_end), ("col", col_start, col_end)] {
            if start >= end {
                return Err(InvalidValue::EmptyZone {
                    zone: all,
                    axis,
                    start,
                    end,
                });
            }
        }
        Ok(Zone {
            row_start: row_start as u32,
            row_end: row_end as u32,
            col_start: col_start as u32,
            col_end: col_end as u32,
            note,
        })
    }

    /// The zone of a rectangle given as its first column `x`, first row `y`, `width` and
    /// `height` (the catalogue's and CTP's form).
    pub fn from_xywh(
        x: i64,
        y: i64,
        width: i64,
        height: i64,
        note: Option<String>,
    ) -> Result<Zone, InvalidValue> {
        if width <= 0 || height <= 0 {
            return Err(InvalidValue::ZoneSize { width, height });
        }
        Zone::checked(
            y,
            y.saturating_add(height),
            x,
            x.saturating_add(width),
            note,
        )
    }

    /// The zone as `[row_start, row_end, col_start, col_end]`.
    pub fn as_array(&self) -> [u32; 4] {
        [self.row_start, self.row_end, self.col_start, self.col_end]
    }
}

impl fmt::Display for Zone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "[{}, {}, {}, {}]",
            self.row_start, self.row_end, self.col_start, self.col_end
        )
    }
}

impl<'de> Deserialize<'de> for Zone {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct ZoneVisitor;
        impl<'de> Visitor<'de> for ZoneVisitor {
            type Value = Zone;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(
                    "a zone: [row_start, row_end, col_start, col_end], {roi: [...], note: ...} \
                     or {x, y, width, height}",
                )
            }
            fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Zone, A::Error> {
                let [a, b, c, d] = four(seq)?;
                Zone::checked(a, b, c, d, None).map_err(de::Error::custom)
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Zone, A::Error> {
                let mut roi: Option<Roi> = None;
                let mut note = None;
                let (mut x, mut y, mut width, mut height) = (None, None, None, None);
                while let Some(key) = map.next_key::<String>()? {
                    match key.as_str() {
                        "roi" => roi = Some(map.next_value()?),
                        "note" | "label" => note = Some(map.next_value::<String>()?),
                        "x" => x = Some(map.next_value::<i64>()?),
                        "y" => y = Some(map.next_value::<i64>()?),
                        "width" => width = Some(map.next_value::<i64>()?),
                        "height" => height = Some(map.next_value::<i64>()?),
                        other => {
                            return Err(de::Error::custom(format!(
                                "unknown key `{other}` in a zone (expected roi and note, or x, y, width, height)"
                            )));
                        }
                    }
                }
                match (roi, x, y, width, height) {
                    (Some(Roi([a, b, c, d])), None, None, None, None) => {
                        Zone::checked(a, b, c, d, note)
                    }
                    (None, Some(x), Some(y), Some(w), Some(h)) => Zone::from_xywh(x, y, w, h, note),
                    _ => Err(InvalidValue::ZoneForm),
                }
                .map_err(de::Error::custom)
            }
        }
        d.deserialize_any(ZoneVisitor)
    }
}

struct Roi([i64; 4]);

impl<'de> Deserialize<'de> for Roi {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct RoiVisitor;
        impl<'de> Visitor<'de> for RoiVisitor {
            type Value = Roi;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("[row_start, row_end, col_start, col_end]")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Roi, A::Error> {
                four(seq).map(Roi)
            }
        }
        d.deserialize_seq(RoiVisitor)
    }
}

fn four<'de, A: SeqAccess<'de>>(mut seq: A) -> Result<[i64; 4], A::Error> {
    let mut out = [0i64; 4];
    for (i, slot) in out.iter_mut().enumerate() {
        *slot = seq.next_element()?.ok_or_else(|| {
            de::Error::custom(format!(
                "a zone needs 4 numbers [row_start, row_end, col_start, col_end], found {i}"
            ))
        })?;
    }
    if seq.next_element::<i64>()?.is_some() {
        return Err(de::Error::custom(
            "a zone has exactly 4 numbers [row_start, row_end, col_start, col_end]",
        ));
    }
    Ok(out)
}

/// A test on an attribute's value, in the language of the burned-in regions catalogue.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(untagged)]
pub enum Condition {
    /// Case-insensitive substring of any value of the attribute.
    Contains {
        /// The attribute keyword.
        attribute: String,
        /// The substring.
        contains: String,
    },
    /// Exact value after trimming padding.
    Equals {
        /// The attribute keyword.
        attribute: String,
        /// The value.
        equals: String,
    },
    /// At least one of these holds.
    AnyOf {
        /// The alternatives.
        any_of: Vec<Condition>,
    },
}

impl<'de> Deserialize<'de> for Condition {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Raw {
            attribute: Option<String>,
            contains: Option<super::action::ScalarText>,
            equals: Option<super::action::ScalarText>,
            any_of: Option<Vec<Condition>>,
        }
        let raw = Raw::deserialize(d)?;
        let known = |attribute: &str| {
            if StandardDataDictionary.by_name(attribute).is_some() {
                Ok(())
            } else {
                Err(de::Error::custom(format!(
                    "unknown attribute keyword {attribute:?} in a condition"
                )))
            }
        };
        match (raw.attribute, raw.contains, raw.equals, raw.any_of) {
            (Some(attribute), Some(contains), None, None) => {
                known(&attribute)?;
                Ok(Condition::Contains {
                    attribute,
                    contains: contains.0,
                })
            }
            (Some(attribute), None, Some(equals), None) => {
                known(&attribute)?;
                Ok(Condition::Equals {
                    attribute,
                    equals: equals.0,
                })
            }
            (None, None, None, Some(any_of)) if !any_of.is_empty() => {
                Ok(Condition::AnyOf { any_of })
            }
            _ => Err(de::Error::custom(
                "a condition is {attribute, contains} or {attribute, equals} or {any_of: [...]}",
            )),
        }
    }
}

impl Condition {
    /// Whether the condition holds for an object.
    pub fn holds(&self, object: &InMemDicomObject) -> bool {
        match self {
            Condition::Contains {
                attribute,
                contains,
            } => {
                let wanted = contains.to_lowercase();
                values_of(object, attribute)
                    .iter()
                    .any(|v| v.to_lowercase().contains(&wanted))
            }
            Condition::Equals { attribute, equals } => values_of(object, attribute)
                .iter()
                .any(|v| v == equals.trim()),
            Condition::AnyOf { any_of } => any_of.iter().any(|c| c.holds(object)),
        }
    }
}

/// Every value of the named attribute: at the top level, or, if absent there, at any
/// depth (the catalogue tests Code Meaning, which only lives inside sequences).
pub fn values_of(object: &InMemDicomObject, keyword: &str) -> Vec<String> {
    let Some(entry) = StandardDataDictionary.by_name(keyword) else {
        return Vec::new();
    };
    let tag = entry.tag_range().inner();
    let mut out = Vec::new();
    if let Some(element) = object.get(tag) {
        push_values(element, &mut out);
        return out;
    }
    nested_values(object, tag, &mut out, 0);
    out
}

fn nested_values(object: &InMemDicomObject, tag: Tag, out: &mut Vec<String>, depth: usize) {
    if depth > gantry_store::MAX_SEQUENCE_DEPTH {
        return;
    }
    for element in object.iter() {
        if element.header().tag == tag {
            push_values(element, out);
        } else if let Some(items) = element.items() {
            for item in items {
                nested_values(item, tag, out, depth + 1);
            }
        }
    }
}

fn push_values(element: &dicom_object::mem::InMemElement, out: &mut Vec<String>) {
    if let Ok(values) = element.to_multi_str() {
        out.extend(values.iter().map(|v| {
            v.trim_matches(|c: char| c == '\0' || c.is_whitespace())
                .to_string()
        }));
    }
}

/// How a machine rule tests one device attribute (manufacturer, model, serial).
///
/// Three states, so that a device that lacks an attribute is told apart from "any device":
/// the key left out or `"*"` matches every device, `null` (`~`) matches only devices without
/// the attribute (or with an empty value), and a value matches that value, ignoring case.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub enum DeviceMatch {
    /// Any device: the key is left out, or `"*"`.
    #[default]
    Any,
    /// Only devices without the attribute: `null`.
    Absent,
    /// Devices whose value equals this one, ignoring case and padding.
    Is(String),
}

impl DeviceMatch {
    /// `Any` for `None` and `"*"`, `Absent` for an empty value, else `Is`: how a value read
    /// from a file (or a person's shorthand) becomes a test.
    pub fn of(value: Option<&str>) -> DeviceMatch {
        match value.map(str::trim) {
            None | Some("*") => DeviceMatch::Any,
            Some("") => DeviceMatch::Absent,
            Some(v) => DeviceMatch::Is(v.to_string()),
        }
    }

    /// The test for a device as the inventory saw it: its value, or absent.
    pub fn exactly(value: Option<&str>) -> DeviceMatch {
        match value.map(str::trim) {
            None | Some("") => DeviceMatch::Absent,
            Some(v) => DeviceMatch::Is(v.to_string()),
        }
    }

    /// Whether a device with attribute value `value` (`None`: absent) passes.
    pub fn accepts(&self, value: Option<&str>) -> bool {
        let value = value.map(str::trim).filter(|v| !v.is_empty());
        match self {
            DeviceMatch::Any => true,
            DeviceMatch::Absent => value.is_none(),
            DeviceMatch::Is(wanted) => value.is_some_and(|v| v.eq_ignore_ascii_case(wanted.trim())),
        }
    }

    /// Whether every device passes.
    pub fn is_any(&self) -> bool {
        *self == DeviceMatch::Any
    }

    /// As people read it: the value, `*`, or `(absent)`.
    pub fn describe(&self) -> String {
        match self {
            DeviceMatch::Any => "*".into(),
            DeviceMatch::Absent => "(absent)".into(),
            DeviceMatch::Is(v) => v.clone(),
        }
    }
}

impl From<&str> for DeviceMatch {
    fn from(value: &str) -> Self {
        DeviceMatch::of(Some(value))
    }
}

impl Serialize for DeviceMatch {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            DeviceMatch::Any => s.serialize_str("*"),
            DeviceMatch::Absent => s.serialize_none(),
            DeviceMatch::Is(v) => s.serialize_str(v),
        }
    }
}

impl<'de> Deserialize<'de> for DeviceMatch {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        // Only called when the key is present: a null there means "absent on the device".
        Ok(match Option::<super::action::ScalarText>::deserialize(d)? {
            None => DeviceMatch::Absent,
            Some(text) => DeviceMatch::of(Some(&text.0)),
        })
    }
}

/// What a person attests about the text a device burns into its images.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BurnedInText {
    /// Someone looked at this device's images and it writes no text into them. Recorded as
    /// an attestation; the detector still runs and text it finds still blocks.
    None,
}

/// A rule for one machine: which instances it matches and the zones to blank in them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MachineRule {
    /// Manufacturer (0008,0070); case-insensitive; left out or `"*"`: any; `null`: only
    /// devices without one.
    #[serde(default, skip_serializing_if = "DeviceMatch::is_any")]
    pub manufacturer: DeviceMatch,
    /// Manufacturer's Model Name (0008,1090), tested the same way.
    #[serde(default, alias = "model", skip_serializing_if = "DeviceMatch::is_any")]
    pub model_name: DeviceMatch,
    /// Device Serial Number (0018,1000), tested the same way.
    #[serde(default, alias = "serial", skip_serializing_if = "DeviceMatch::is_any")]
    pub serial_number: DeviceMatch,
    /// Rows (0028,0010).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rows: Option<u32>,
    /// Columns (0028,0011).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub columns: Option<u32>,
    /// Further conditions on any attribute, all of which must hold.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub when: Vec<Condition>,
    /// The zones to blank in every matching image.
    #[serde(default)]
    pub redaction_zones: Vec<Zone>,
    /// `burned_in_text: none`: a person attests the device writes no text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub burned_in_text: Option<BurnedInText>,
    /// A name for people reading reports.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    /// A note for people reading the config (Gantry-py's scaffold and CTP importer write
    /// one); it changes nothing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
}

impl MachineRule {
    /// A rule for one device: `manufacturer`, `model_name` and `serial_number` as the
    /// inventory saw them (`None`: the device lacks it), no zones.
    pub fn for_device(
        manufacturer: Option<&str>,
        model_name: Option<&str>,
        serial_number: Option<&str>,
    ) -> MachineRule {
        MachineRule {
            manufacturer: DeviceMatch::exactly(manufacturer),
            model_name: DeviceMatch::exactly(model_name),
            serial_number: DeviceMatch::exactly(serial_number),
            rows: None,
            columns: None,
            when: Vec::new(),
            redaction_zones: Vec::new(),
            burned_in_text: None,
            label: None,
            comment: None,
        }
    }

    /// Whether this rule applies to an instance with the given header.
    pub fn matches(&self, header: &InMemDicomObject) -> bool {
        let text = |tag: Tag| header.get(tag).and_then(|e| e.to_str().ok());
        let number = |wanted: Option<u32>, tag: Tag| match wanted {
            None => true,
            Some(n) => header
                .get(tag)
                .and_then(|e| e.to_int::<u32>().ok())
                .is_some_and(|v| v == n),
        };
        let device = |wanted: &DeviceMatch, tag: Tag| {
            let value = text(tag);
            wanted.accepts(
                value
                    .as_deref()
                    .map(|v| v.trim_matches(|c: char| c == '\0')),
            )
        };
        device(&self.manufacturer, Tag(0x0008, 0x0070))
            && device(&self.model_name, Tag(0x0008, 0x1090))
            && device(&self.serial_number, Tag(0x0018, 0x1000))
            && number(self.rows, Tag(0x0028, 0x0010))
            && number(self.columns, Tag(0x0028, 0x0011))
            && self.when.iter().all(|c| c.holds(header))
    }

    /// Whether the rule tests nothing: it matches every image of every device.
    pub fn matches_everything(&self) -> bool {
        self.manufacturer.is_any()
            && self.model_name.is_any()
            && self.serial_number.is_any()
            && self.rows.is_none()
            && self.columns.is_none()
            && self.when.is_empty()
    }

    /// A short description: label, or manufacturer / model / serial.
    pub fn describe(&self) -> String {
        if let Some(label) = &self.label {
            return label.clone();
        }
        format!(
            "{} / {} / {}",
            self.manufacturer.describe(),
            self.model_name.describe(),
            self.serial_number.describe()
        )
    }
}
