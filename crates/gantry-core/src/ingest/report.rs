use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use gantry_store::SkipReason;
use serde::Serialize;

use super::Outcome;
use crate::report::{duration_secs, per_second};

/// A file and a sentence about it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FileNote {
    /// The file.
    #[serde(serialize_with = "crate::report::path_text")]
    pub path: PathBuf,
    /// What happened.
    pub detail: String,
    /// For a duplicate or a conflict: the file whose copy is indexed.
    #[serde(
        skip_serializing_if = "Option::is_none",
        serialize_with = "crate::report::option_path_text"
    )]
    pub kept: Option<PathBuf>,
}

/// A file that was not indexed, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SkippedFile {
    /// The file.
    #[serde(serialize_with = "crate::report::path_text")]
    pub path: PathBuf,
    /// Why it was not indexed.
    pub reason: SkipReason,
}

/// What an ingest did.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct IngestReport {
    /// The folders (or files) ingested, made absolute.
    #[serde(serialize_with = "crate::report::paths_text")]
    pub roots: Vec<PathBuf>,
    /// Files found by the walk.
    pub seen: u64,
    /// Files indexed by this run, new or changed.
    pub indexed: u64,
    /// Of those, files that replaced what an earlier ingest had indexed from them.
    pub reindexed: u64,
    /// Files skipped because they are unchanged since the last ingest (size and mtime).
    pub unchanged: u64,
    /// Indexed files whose transfer syntax had to be guessed.
    pub guessed_syntax: u64,
    /// Instances removed because their file changed into something unreadable.
    pub removed: u64,
    /// Files holding an instance already indexed from another file, with the same bytes.
    pub duplicates: Vec<FileNote>,
    /// Files reusing an indexed SOP Instance UID with different content, not indexed,
    /// each naming the copy that is.
    pub conflicts: Vec<FileNote>,
    /// Files that are not indexable, with the reason for each.
    pub skipped: Vec<SkippedFile>,
    /// Files left to other shards (a sharded session): another shard's patients, and, in
    /// every shard but the first, files that cannot be read (the first records them).
    pub other_shard: u64,
    /// Paths the walk could not enter or did not follow (permissions, link loops, links
    /// leading outside the roots, FIFOs, devices and sockets).
    pub walk_errors: Vec<FileNote>,
    /// Wall-clock time.
    #[serde(serialize_with = "duration_secs")]
    pub duration: Duration,
}

impl IngestReport {
    pub(super) fn add(&mut self, outcome: Outcome) {
        match outcome {
            Outcome::Indexed { replaced, guessed } => {
                self.indexed += 1;
                self.reindexed += u64::from(replaced);
                self.guessed_syntax += u64::from(guessed);
            }
            Outcome::Duplicate(note) => self.duplicates.push(note),
            Outcome::Conflict(note) => self.conflicts.push(note),
            Outcome::IndexedCopy(note) => {
                self.indexed += 1;
                self.conflicts.push(note);
            }
            Outcome::Skipped { file, removed } => {
                self.removed += u64::from(removed);
                self.skipped.push(file);
            }
            Outcome::OtherShard { removed } => {
                self.removed += u64::from(removed);
                self.other_shard += 1;
            }
        }
    }

    /// Files read (not skipped as unchanged) per second.
    pub fn files_per_second(&self) -> f64 {
        per_second(self.seen, self.duration)
    }

    /// Skipped files per reason code.
    pub fn skipped_by_reason(&self) -> BTreeMap<&'static str, u64> {
        let mut counts = BTreeMap::new();
        for file in &self.skipped {
            *counts.entry(file.reason.code()).or_insert(0) += 1;
        }
        counts
    }
}

impl fmt::Display for IngestReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let roots: Vec<String> = self.roots.iter().map(|r| r.display().to_string()).collect();
        writeln!(
            f,
            "Ingest of {}: {} files in {:.2} s ({:.0} files/s)",
            roots.join(", "),
            self.seen,
            self.duration.as_secs_f64(),
            self.files_per_second()
        )?;
        writeln!(
            f,
            "  indexed      {:>8}  (of which {} re-read because they changed)",
            self.indexed, self.reindexed
        )?;
        writeln!(
            f,
            "  unchanged    {:>8}  (same size and mtime as last ingest; not read)",
            self.unchanged
        )?;
        writeln!(f, "  duplicates   {:>8}", self.duplicates.len())?;
        writeln!(f, "  conflicts    {:>8}", self.conflicts.len())?;
        writeln!(f, "  skipped      {:>8}", self.skipped.len())?;
        for (code, count) in self.skipped_by_reason() {
            writeln!(f, "    {code:<28}{count:>6}")?;
        }
        if self.other_shard > 0 {
            writeln!(f, "  other shards {:>8}", self.other_shard)?;
        }
        if self.guessed_syntax > 0 {
            writeln!(
                f,
                "  transfer syntax guessed for {} files (no meta group or no syntax in it)",
                self.guessed_syntax
            )?;
        }
        if self.removed > 0 {
            writeln!(
                f,
                "  {} instances removed: their files changed and can no longer be read",
                self.removed
            )?;
        }
        for note in &self.conflicts {
            writeln!(f, "  conflict  {}: {}", note.path.display(), note.detail)?;
        }
        for note in &self.duplicates {
            writeln!(f, "  duplicate {}: {}", note.path.display(), note.detail)?;
        }
        for file in &self.skipped {
            writeln!(f, "  skipped   {}: {}", file.path.display(), file.reason)?;
        }
        for note in &self.walk_errors {
            writeln!(f, "  not read  {}: {}", note.path.display(), note.detail)?;
        }
        Ok(())
    }
}
