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

/// The manifest: one entry per file, pseudonymous values only.
#[derive(Serialize)]
struct Manifest<'a> {
    gantry: &'static str,
    safe: bool,
    files: Vec<ManifestEntry<'a>>,
}

#[derive(Serialize)]
struct ManifestEntry<'a> {
    path: String,
    sop_instance_uid: &'a str,
    sha256: &'a str,
    size: u64,
    safe: bool,
    /// What was done to and known of its pixels (see `pixel_status` in export).
    pixels: &'a str,
}

/// Writes `manifest.csv` and `manifest.json` in `out_dir` (atomically, like the files),
/// in path order, so two identical exports write identical manifests.
pub(crate) fn write_manifest(
    out_dir: &Path,
    records: &[ExportRecord],
    safe: bool,
) -> std::io::Result<(PathBuf, PathBuf)> {
    let entries: Vec<ManifestEntry<'_>> = records
        .iter()
        .map(|r| ManifestEntry {
            path: r.path.to_string_lossy().replace('\\', "/"),
            sop_instance_uid: &r.sop_instance_uid,
            sha256: &r.sha256,
            size: r.size,
            safe: r.safe,
            pixels: &r.pixels,
        })
        .collect();
    let mut csv = String::from("path,sop_instance_uid,sha256,size,safe,pixels\n");
    for e in &entries {
        csv.push_str(&format!(
            "{},{},{},{},{},{}\n",
            csv_field(&e.path),
            e.sop_instance_uid,
            e.sha256,
            e.size,
            e.safe,
            e.pixels
        ));
    }
    let json = serde_json::to_vec_pretty(&Manifest {
        gantry: env!("CARGO_PKG_VERSION"),
        safe,
        files: entries,
    })
    .map_err(std::io::Error::other)?;
    let csv_path = out_dir.join("manifest.csv");
    let json_path = out_dir.join("manifest.json");
    atomic_write(&csv_path, csv.as_bytes())?;
    atomic_write(&json_path, &json)?;
    Ok((csv_path, json_path))
}

fn csv_field(text: &str) -> String {
    if text.contains([',', '"', '\n']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text.to_string()
    }
}

fn atomic_write(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let tmp = path.with_extension("gantry-tmp");
    let mut file = std::fs::File::create(&tmp)?;
    file.write_all(bytes)?;
    file.sync_all()?;
    std::fs::rename(&tmp, path)
}
