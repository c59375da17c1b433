//! Helpers shared by the checkpoint reports.

use std::time::Duration;

use serde::Serializer;

/// Serializes a duration as seconds (a float), the unit people read in JSON.
pub(crate) fn duration_secs<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(d.as_secs_f64())
}

/// Reads a duration written by [`duration_secs`].
pub(crate) fn secs_duration<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    let secs = <f64 as serde::Deserialize>::deserialize(d)?;
    Ok(Duration::try_from_secs_f64(secs).unwrap_or_default())
}

/// Items per second, zero for an instant run.
pub(crate) fn per_second(items: u64, d: Duration) -> f64 {
    let secs = d.as_secs_f64();
    if secs > 0.0 { items as f64 / secs } else { 0.0 }
}

/// Serializes a tag as `"GGGG,EEEE"`, the way configs and people write it.
pub(crate) fn tag_text<S: Serializer>(tag: &dicom_core::Tag, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&format!("{:04X},{:04X}", tag.group(), tag.element()))
}
