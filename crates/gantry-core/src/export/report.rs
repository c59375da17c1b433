//! The export report, and the manifest written beside the files.

use std::fmt;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use gantry_store::ExportRecord;
use serde::Serialize;

use crate::report::{duration_secs, per_second};

/// An instance the export did not write, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Blocked {
    /// Row id in the store.
    pub instance: i64,
    /// The source file (for the operator; never written to the output).
    #[serde(serialize_with = "crate::report::path_text")]
    pub source_path: PathBuf,
    /// Why: the findings of the safe gate, or what failed.
    pub reasons: Vec<String>,
}

/// What stripping removed from the compressed streams of an export.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Stripping {
    /// Files whose stream lost something.
    pub files: u64,
    /// Segments, markers and boxes removed.
    pub segments: u64,
    /// Bytes removed.
    pub bytes: u64,
}

/// A file export wrote with findings a waiver accepted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct WaivedFile {
    /// The file, relative to the output folder.
    #[serde(serialize_with = "crate::report::path_text")]
    pub path: PathBuf,
    /// The findings and the waivers' reasons.
    pub waived: String,
}

/// What export did.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ExportReport {
    /// The output folder.
    #[serde(serialize_with = "crate::report::path_text")]
    pub out_dir: PathBuf,
    /// Whether the safe gate was on. An unsafe export is marked so here and in the
    /// manifest.
    pub safe: bool,
    /// Instances considered.
    pub instances: u64,
    /// Files written now (new or changed).
    pub written: u64,
    /// Files already there with exactly these bytes (an earlier or interrupted run).
    pub unchanged: u64,
    /// Files removed because their instance is blocked now or moved to another path.
    pub removed: u64,
    /// Instances not written.
    pub blocked: Vec<Blocked>,
    /// Bytes in the files written now.
    pub bytes: u64,
    /// What was stripped from compressed streams copied from the sources (JPEG comments
    /// and application segments, JPEG 2000 comments, metadata boxes, bytes after the
    /// stream), in the files written or found unchanged.
    pub stripped: Stripping,
    /// Each file written with findings the config's waivers accepted, and those findings
    /// with the waivers' reasons (as in the manifest).
    pub waived: Vec<WaivedFile>,
    /// The manifest, as CSV and as JSON.
    #[serde(serialize_with = "crate::report::path_text")]
    pub manifest_csv: PathBuf,
    /// The manifest as JSON.
    #[serde(serialize_with = "crate::report::path_text")]
    pub manifest_json: PathBuf,
    /// Wall-clock time.
    #[serde(serialize_with = "duration_secs")]
    pub duration: Duration,
}

impl ExportReport {
    /// Whether every instance was written.
    pub fn is_complete(&self) -> bool {
        self.blocked.is_empty()
    }

    /// Lists `record` among the files written with waived findings, if it has any.
    pub(crate) fn note_waived(&mut self, record: &ExportRecord) {
        if !record.waived.is_empty() {
            self.waived.push(WaivedFile {
                path: record.path.clone(),
                waived: record.waived.clone(),
            });
        }
    }
}

impl fmt::Display for ExportReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "{} export to {}: {} files written, {} unchanged, {} blocked, {} removed, {:.1} MB in {:.2} s ({:.0} files/s)",
            if self.safe { "Safe" } else { "UNSAFE" },
            self.out_dir.display(),
            self.written,
            self.unchanged,
            self.blocked.len(),
            self.removed,
            self.bytes as f64 / 1e6,
            self.duration.as_secs_f64(),
            per_second(self.written + self.unchanged, self.duration),
        )?;
        if self.stripped.files > 0 {
            writeln!(
                f,
                "  stripped {} segment(s), {} bytes, of comments, application data and metadata from the compressed streams of {} file(s)",
                self.stripped.segments, self.stripped.bytes, self.stripped.files
            )?;
        }
        if !self.safe {
            writeln!(
                f,
                "  the safe gate was OFF: files may carry identity traces"
            )?;
        }
        for waived in &self.waived {
            writeln!(
                f,
                "  written with waived findings {}: {}",
                waived.path.display(),
                waived.waived
            )?;
        }
        for blocked in &self.blocked {
            writeln!(f, "  blocked {}:", blocked.source_path.display())?;
            for reason in blocked.reasons.iter().take(5) {
                writeln!(f, "    {reason}")?;
            }
            if blocked.reasons.len() > 5 {
                writeln!(f, "    ... and {} more", blocked.reasons.len() - 5)?;
            }
        }
        writeln!(f, "  manifest: {}", self.manifest_csv.display())
    }
}

/// One manifest entry per file, pseudonymous values only.
#[derive(Serialize)]
struct ManifestEntry<'a> {
    path: String,
    sop_instance_uid: &'a str,
    sha256: &'a str,
    size: u64,
    safe: bool,
    /// What was done to and known of its pixels (see `pixel_status` in export).
    pixels: &'a str,
    /// The findings the config's waivers accepted, with their reasons (empty: none).
    waived: &'a str,
}

/// How many records a manifest reads at a time: its memory does not grow with the
/// export.
pub(crate) const MANIFEST_PAGE: usize = 2048;

/// Writes `manifest.csv` and `manifest.json` in `out_dir` (atomically, like the files),
/// in path order, so two identical exports write identical manifests. The records come
/// from `page`, which returns up to [`MANIFEST_PAGE`] records after the given path (the
/// first ones for `None`) in path order: both files are written as they come, never
/// held whole.
pub(crate) fn write_manifest(
    out_dir: &Path,
    safe: bool,
    page: &mut dyn FnMut(Option<&Path>) -> std::io::Result<Vec<ExportRecord>>,
) -> std::io::Result<(PathBuf, PathBuf)> {
    let csv_path = out_dir.join("manifest.csv");
    let json_path = out_dir.join("manifest.json");
    let (csv_tmp, json_tmp) = (
        out_dir.join("manifest.csv.gantry-tmp"),
        out_dir.join("manifest.json.gantry-tmp"),
    );
    let mut csv = std::io::BufWriter::new(std::fs::File::create(&csv_tmp)?);
    let mut json = std::io::BufWriter::new(std::fs::File::create(&json_tmp)?);
    csv.write_all(b"path,sop_instance_uid,sha256,size,safe,pixels,waived\n")?;
    write!(
        json,
        "{{\n  \"gantry\": {},\n  \"safe\": {safe},\n  \"files\": [",
        serde_json::to_string(env!("CARGO_PKG_VERSION")).map_err(std::io::Error::other)?
    )?;
    let mut after: Option<PathBuf> = None;
    let mut first = true;
    loop {
        let records = page(after.as_deref())?;
        let Some(last) = records.last() else { break };
        after = Some(last.path.clone());
        for r in &records {
            let entry = ManifestEntry {
                path: r.path.to_string_lossy().replace('\\', "/"),
                sop_instance_uid: &r.sop_instance_uid,
                sha256: &r.sha256,
                size: r.size,
                safe: r.safe,
                pixels: &r.pixels,
                waived: &r.waived,
            };
            writeln!(
                csv,
                "{},{},{},{},{},{},{}",
                csv_field(&entry.path),
                entry.sop_instance_uid,
                entry.sha256,
                entry.size,
                entry.safe,
                entry.pixels,
                csv_field(entry.waived)
            )?;
            json.write_all(if first { b"\n    " } else { b",\n    " })?;
            serde_json::to_writer(&mut json, &entry).map_err(std::io::Error::other)?;
            first = false;
        }
        if records.len() < MANIFEST_PAGE {
            break;
        }
    }
    json.write_all(if first { b"]\n}\n" } else { b"\n  ]\n}\n" })?;
    for (writer, tmp, path) in [(csv, &csv_tmp, &csv_path), (json, &json_tmp, &json_path)] {
        let file = writer.into_inner().map_err(|e| e.into_error())?;
        file.sync_all()?;
        std::fs::rename(tmp, path)?;
    }
    Ok((csv_path, json_path))
}

/// Writes `dataset.json` in `out_dir` atomically, as the manifest is written (it holds
/// nothing that identifies anyone: digests and counts).
pub(crate) fn write_description(
    out_dir: &Path,
    description: &crate::shard::DatasetDescription,
) -> std::io::Result<PathBuf> {
    let path = out_dir.join(crate::shard::DATASET_FILE);
    let tmp = out_dir.join(format!("{}.gantry-tmp", crate::shard::DATASET_FILE));
    let text = description.to_json().map_err(std::io::Error::other)?;
    let mut file = std::fs::File::create(&tmp)?;
    file.write_all(text.as_bytes())?;
    file.sync_all()?;
    std::fs::rename(&tmp, &path)?;
    Ok(path)
}

pub(crate) fn csv_field(text: &str) -> String {
    if text.contains([',', '"', '\n']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(i: usize) -> ExportRecord {
        ExportRecord {
            instance_id: i as i64,
            path: PathBuf::from(format!("P{:05}/s,{i}.dcm", i / 7)),
            sop_instance_uid: format!("2.25.{i}"),
            sha256: format!("{i:064x}"),
            size: i as u64,
            safe: !i.is_multiple_of(3),
            pixels: "searched".into(),
            waived: String::new(),
        }
    }

    /// Serves `n` records in path order, a page at a time, as the store does.
    fn pages(n: usize) -> impl FnMut(Option<&Path>) -> std::io::Result<Vec<ExportRecord>> {
        let mut all: Vec<ExportRecord> = (0..n).map(record).collect();
        all.sort_by(|a, b| a.path.cmp(&b.path));
        move |after| {
            Ok(all
                .iter()
                .filter(|r| after.is_none_or(|a| r.path.as_path() > a))
                .take(MANIFEST_PAGE)
                .cloned()
                .collect())
        }
    }

    #[test]
    fn a_manifest_written_page_by_page_lists_every_file_once_in_order() {
        for n in [0, 1, MANIFEST_PAGE, 2 * MANIFEST_PAGE + 5] {
            let dir = tempfile::tempdir().unwrap();
            let (csv, json) = write_manifest(dir.path(), false, &mut pages(n)).unwrap();
            let json: serde_json::Value =
                serde_json::from_slice(&std::fs::read(json).unwrap()).expect("valid JSON");
            assert_eq!(json["safe"], false);
            let files = json["files"].as_array().unwrap();
            assert_eq!(files.len(), n);
            let csv = std::fs::read_to_string(csv).unwrap();
            let rows: Vec<&str> = csv.lines().skip(1).collect();
            assert_eq!(rows.len(), n);
            let mut expected: Vec<ExportRecord> = (0..n).map(record).collect();
            expected.sort_by(|a, b| a.path.cmp(&b.path));
            for ((file, row), want) in files.iter().zip(&rows).zip(&expected) {
                assert_eq!(file["sop_instance_uid"], want.sop_instance_uid.as_str());
                assert_eq!(file["path"], want.path.to_str().unwrap());
                assert_eq!(file["safe"], want.safe);
                // A comma in a path is quoted in the CSV.
                assert!(
                    row.starts_with(&format!("\"{}\",", want.path.display())),
                    "{row}"
                );
            }
        }
    }
}
