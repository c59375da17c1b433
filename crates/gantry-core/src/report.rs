//! Helpers shared by the checkpoint reports.

use std::time::Duration;

use serde::Serializer;

/// Serializes a path as text, in its display form where it is not UTF-8 (a Latin-1 name
/// from an old archive): serde refuses such a path, and a report must not fail for a
/// file's name.
pub(crate) fn path_text<S: Serializer>(p: &std::path::Path, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&p.to_string_lossy())
}

/// [`path_text`] for an optional path.
pub(crate) fn option_path_text<S: Serializer>(
    p: &Option<std::path::PathBuf>,
    s: S,
) -> Result<S::Ok, S::Error> {
    match p {
        Some(p) => s.serialize_some(&p.to_string_lossy()),
        None => s.serialize_none(),
    }
}

/// [`path_text`] for a list of paths.
pub(crate) fn paths_text<S: Serializer>(
    paths: &[std::path::PathBuf],
    s: S,
) -> Result<S::Ok, S::Error> {
    s.collect_seq(paths.iter().map(|p| p.to_string_lossy()))
}

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

/// [`tag_text`] for an optional tag.
pub(crate) fn option_tag_text<S: Serializer>(
    tag: &Option<dicom_core::Tag>,
    s: S,
) -> Result<S::Ok, S::Error> {
    match tag {
        Some(tag) => tag_text(tag, s),
        None => s.serialize_none(),
    }
}
