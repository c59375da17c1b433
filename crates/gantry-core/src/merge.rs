//! Merge: joins the exports of the shards of one dump into one dataset, the one a single
//! run on the whole dump writes: its files, one manifest (`manifest.csv`, `manifest.json`)
//! and one description (`dataset.json`).
//!
//! It refuses, before it places a file, shards that cannot be one dataset: a shard missing
//! or given twice, shards of different partitions, made with different secrets,
//! configurations, profile editions, Gantry versions, layouts or safe gates, a patient in
//! two shards, and one new SOP Instance UID or one path in two. Only what the manifests
//! list is placed (hard links where the file system allows, copies elsewhere), each file
//! checked first to be a regular file of its listed size and SHA-256. It reads the manifests as streams (three passes, each
//! a k-way merge in path order), so its memory holds one digest per instance and per
//! patient, never the manifests.

use std::collections::{BinaryHeap, HashMap};
use std::fmt;
use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::{FileMismatch, GantryError, MergeError, Result};
use crate::progress::Progress;
use crate::shard::{DATASET_FILE, DatasetDescription, Shard};

/// One shard as the merge found it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MergedShard {
    /// Its export folder.
    #[serde(serialize_with = "crate::report::path_text")]
    pub dir: PathBuf,
    /// Which shard it is.
    pub shard: Shard,
    /// Its description.
    pub description: DatasetDescription,
}

/// What a merge did.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MergeReport {
    /// The merged dataset's folder.
    #[serde(serialize_with = "crate::report::path_text")]
    pub out_dir: PathBuf,
    /// The shards, in shard order.
    pub shards: Vec<MergedShard>,
    /// The merged description (also in `dataset.json`).
    pub dataset: DatasetDescription,
    /// Files placed as hard links.
    pub linked: u64,
    /// Files placed as copies (another file system).
    pub copied: u64,
    /// Files already in place from an earlier merge.
    pub unchanged: u64,
    /// Files an earlier merge into this folder listed that no shard lists now (removed).
    pub removed: u64,
    /// Wall-clock time.
    #[serde(serialize_with = "crate::report::duration_secs")]
    pub duration: Duration,
}

impl fmt::Display for MergeReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "Merged {} shards into {} in {:.2} s: {} files ({} linked, {} copied, {} already there), {} no longer listed removed",
            self.shards.len(),
            self.out_dir.display(),
            self.duration.as_secs_f64(),
            self.dataset.files,
            self.linked,
            self.copied,
            self.unchanged,
            self.removed
        )?;
        for shard in &self.shards {
            writeln!(
                f,
                "  shard {:<7} {:>8} files {:>8} instances {:>6} blocked  {}",
                shard.shard.to_string(),
                shard.description.files,
                shard.description.instances,
                shard.description.blocked,
                shard.dir.display()
            )?;
        }
        write!(f, "  dataset: {}", self.dataset)
    }
}

/// Name of the marker a merge keeps in its output folder while it runs (a folder holding
/// it is an unfinished merge, which a new merge may complete).
const MARKER: &str = ".gantry-merge";

/// Merges the exports of the shards in `dirs` into `out` (created if missing; empty, or an
/// earlier merge of the same shards). See the module docs for what is refused.
pub fn merge_shards<P: AsRef<Path>>(
    dirs: &[P],
    out: impl AsRef<Path>,
    progress: &dyn Progress,
) -> Result<MergeReport> {
    let started = Instant::now();
    let out = out.as_ref();
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| GantryError::Io { path, source }
    };
    let shards = describe(dirs)?;
    check_patients(&shards)?;
    // Pass 1: every manifest read, in path order across shards, each file looked at.
    let mut uids: HashMap<[u8; 16], usize> = HashMap::new();
    let mut files = 0u64;
    let mut per_shard = vec![0u64; shards.len()];
    progress.begin("merge: check", None);
    for_each_entry(&shards, |at, row| {
        per_shard[at] += 1;
        let digest: [u8; 16] = Sha256::digest(row.sop_instance_uid.as_bytes())[..16]
            .try_into()
            .unwrap_or_default();
        if let Some(&first) = uids.get(&digest) {
            return Err(MergeError::Uid {
                uid: row.sop_instance_uid.clone(),
                first: shards[first].dir.clone(),
                second: shards[at].dir.clone(),
            }
            .into());
        }
        uids.insert(digest, at);
        let source = shards[at].dir.join(&row.path);
        if let Err(detail) = check_file(&source, row) {
            return Err(MergeError::File {
                path: source,
                detail,
            }
            .into());
        }
        files += 1;
        if files.is_multiple_of(4096) {
            progress.advance(4096);
        }
        Ok(())
    })?;
    progress.finish();
    drop(uids);
    // Every file the description counts was read from the manifest (a line not read as an
    // entry would leave a file out of the dataset unnoticed).
    for (shard, read) in shards.iter().zip(&per_shard) {
        if *read != shard.description.files {
            return Err(MergeError::Manifest {
                manifest: shard.dir.join("manifest.json"),
                line: 0,
                detail: format!(
                    "{read} entries read, but its dataset.json counts {} files",
                    shard.description.files
                ),
            }
            .into());
        }
    }

    // The output folder: new, empty, or an earlier merge.
    std::fs::create_dir_all(out).map_err(io(out))?;
    let out = out.canonicalize().map_err(io(out))?;
    let marker = out.join(MARKER);
    let earlier = marker.exists() || is_merge(&out);
    if !earlier && std::fs::read_dir(&out).map_err(io(&out))?.next().is_some() {
        return Err(MergeError::OutNotEmpty { out }.into());
    }
    std::fs::write(&marker, b"").map_err(io(&marker))?;

    // Pass 2: place the files.
    let (mut linked, mut copied, mut unchanged) = (0u64, 0u64, 0u64);
    progress.begin("merge: place", Some(files));
    let mut placed = 0u64;
    let mut listed: std::collections::HashSet<[u8; 16]> = Default::default();
    for_each_entry(&shards, |at, row| {
        if earlier {
            listed.insert(path_digest(Path::new(&row.path)));
        }
        let source = shards[at].dir.join(&row.path);
        let target = out.join(&row.path);
        if let Some(dir) = target.parent() {
            std::fs::create_dir_all(dir).map_err(io(dir))?;
        }
        match place(&source, &target, row).map_err(io(&target))? {
            Placed::Linked => linked += 1,
            Placed::Copied => copied += 1,
            Placed::Unchanged => unchanged += 1,
            Placed::Different => return Err(MergeError::Exists { path: target }.into()),
        }
        placed += 1;
        if placed.is_multiple_of(1024) {
            progress.advance(1024);
        }
        Ok(())
    })?;
    progress.finish();
    // A file an earlier merge placed that no shard lists now (its instance blocked since,
    // say) must not stay in the dataset.
    let removed = if earlier {
        remove_unlisted(&out, &listed)?
    } else {
        0
    };
    drop(listed);

    // Pass 3: the manifest, then the description.
    let safe = shards.iter().all(|s| s.description.safe);
    let mut merged = MergedEntries::open(&shards)?;
    let mut failed: Option<GantryError> = None;
    crate::export::write_merged_manifest(&out, safe, &mut || match merged.next_row() {
        Ok(row) => row.map(|(_, row)| row.into_record()),
        Err(e) => {
            failed = Some(e);
            None
        }
    })
    .map_err(io(&out))?;
    if let Some(e) = failed {
        return Err(e);
    }
    let first = &shards[0].description;
    let mut patients: Vec<String> = shards
        .iter()
        .flat_map(|s| s.description.patients.iter().cloned())
        .collect();
    patients.sort_unstable();
    let dataset = DatasetDescription {
        gantry: first.gantry.clone(),
        shard: None,
        shards: first.shard.map_or(1, |s| s.count),
        safe,
        secret: first.secret.clone(),
        config: first.config.clone(),
        profile: first.profile.clone(),
        layout: first.layout.clone(),
        instances: shards.iter().map(|s| s.description.instances).sum(),
        files: shards.iter().map(|s| s.description.files).sum(),
        bytes: shards.iter().map(|s| s.description.bytes).sum(),
        blocked: shards.iter().map(|s| s.description.blocked).sum(),
        patients,
    };
    crate::export::write_description(&out, &dataset).map_err(io(&out))?;
    std::fs::remove_file(&marker).map_err(io(&marker))?;
    Ok(MergeReport {
        out_dir: out,
        shards,
        dataset,
        linked,
        copied,
        unchanged,
        removed,
        duration: started.elapsed(),
    })
}

/// Whether `out` holds the description of a merge.
fn is_merge(out: &Path) -> bool {
    std::fs::read(out.join(DATASET_FILE))
        .ok()
        .and_then(|bytes| serde_json::from_slice::<DatasetDescription>(&bytes).ok())
        .is_some_and(|d| d.shard.is_none() && d.shards > 1)
}

fn path_digest(path: &Path) -> [u8; 16] {
    let mut digest = [0u8; 16];
    digest.copy_from_slice(&Sha256::digest(path.as_os_str().as_encoded_bytes())[..16]);
    digest
}

/// Removes the files the earlier merge in `out` listed (its `manifest.json`) that are not
/// listed now; returns how many. Files no merge listed are never touched.
fn remove_unlisted(out: &Path, listed: &std::collections::HashSet<[u8; 16]>) -> Result<u64> {
    if !out.join("manifest.json").exists() {
        return Ok(0);
    }
    let mut earlier = Entries::open(out)?;
    let mut removed = 0;
    while let Some(row) = earlier.next_row()? {
        let rel = Path::new(&row.path);
        if listed.contains(&path_digest(rel)) {
            continue;
        }
        let path = out.join(rel);
        match std::fs::remove_file(&path) {
            Ok(()) => removed += 1,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(source) => return Err(GantryError::Io { path, source }),
        }
    }
    Ok(removed)
}

/// Reads each folder's description and checks the shards are one complete partition of
/// one run; returns them in shard order.
fn describe<P: AsRef<Path>>(dirs: &[P]) -> Result<Vec<MergedShard>> {
    let mut shards = Vec::new();
    for dir in dirs {
        let dir = dir.as_ref();
        let not = |detail: String| MergeError::NotAShard {
            dir: dir.to_path_buf(),
            detail,
        };
        let file = dir.join(DATASET_FILE);
        let text =
            std::fs::read_to_string(&file).map_err(|e| not(format!("{}: {e}", file.display())))?;
        let description: DatasetDescription =
            serde_json::from_str(&text).map_err(|e| not(format!("{}: {e}", file.display())))?;
        let shard = description.shard.ok_or_else(|| {
            not("its dataset.json describes a whole dump (run it with --shard i/N)".into())
        })?;
        shards.push(MergedShard {
            dir: dir.to_path_buf(),
            shard,
            description,
        });
    }
    shards.sort_by_key(|s| s.shard.index);
    let Some(first) = shards.first() else {
        return Err(MergeError::Nothing.into());
    };
    type Field = fn(&DatasetDescription) -> String;
    let fields: [(&'static str, Field); 7] = [
        ("shard counts", |d| {
            d.shard.map_or(1, |s| s.count).to_string()
        }),
        ("project secrets", |d| d.secret.clone()),
        ("configurations", |d| d.config.clone()),
        ("profile editions", |d| d.profile.clone()),
        ("Gantry versions", |d| d.gantry.clone()),
        ("layouts", |d| d.layout.clone()),
        ("safe gates", |d| {
            if d.safe { "safe" } else { "unsafe" }.to_string()
        }),
    ];
    for other in &shards[1..] {
        for (what, field) in fields {
            let (a, b) = (field(&first.description), field(&other.description));
            if a != b {
                return Err(MergeError::Differ {
                    what,
                    first_dir: first.dir.clone(),
                    first: a,
                    second_dir: other.dir.clone(),
                    second: b,
                }
                .into());
            }
        }
    }
    for pair in shards.windows(2) {
        if pair[0].shard == pair[1].shard {
            return Err(MergeError::SameShard {
                shard: pair[0].shard.to_string(),
                first: pair[0].dir.clone(),
                second: pair[1].dir.clone(),
            }
            .into());
        }
    }
    let count = first.shard.count;
    let missing: Vec<u32> = (1..=count)
        .filter(|i| !shards.iter().any(|s| s.shard.index == *i))
        .collect();
    if !missing.is_empty() {
        return Err(MergeError::Missing { count, missing }.into());
    }
    Ok(shards)
}

fn check_patients(shards: &[MergedShard]) -> Result<()> {
    let mut seen: HashMap<&str, usize> = HashMap::new();
    for (at, shard) in shards.iter().enumerate() {
        for digest in &shard.description.patients {
            if let Some(&first) = seen.get(digest.as_str())
                && first != at
            {
                return Err(MergeError::Patient {
                    digest: digest.clone(),
                    first: shards[first].dir.clone(),
                    second: shard.dir.clone(),
                }
                .into());
            }
            seen.insert(digest, at);
        }
    }
    Ok(())
}

/// One manifest entry, as `manifest.json` has it.
#[derive(Debug, Clone, Deserialize)]
struct Row {
    path: String,
    sop_instance_uid: String,
    sha256: String,
    size: u64,
    safe: bool,
    pixels: String,
    waived: String,
}

impl Row {
    fn into_record(self) -> gantry_store::ExportRecord {
        gantry_store::ExportRecord {
            instance_id: 0,
            path: PathBuf::from(self.path),
            sop_instance_uid: self.sop_instance_uid,
            sha256: self.sha256,
            size: self.size,
            safe: self.safe,
            pixels: self.pixels,
            waived: self.waived,
        }
    }
}

/// The entries of one shard's `manifest.json`, one at a time, checked to be in path order.
struct Entries {
    manifest: PathBuf,
    lines: std::io::Lines<std::io::BufReader<std::fs::File>>,
    line: u64,
    last: Option<String>,
}

impl Entries {
    fn open(dir: &Path) -> Result<Entries> {
        let manifest = dir.join("manifest.json");
        let file = std::fs::File::open(&manifest).map_err(|source| GantryError::Io {
            path: manifest.clone(),
            source,
        })?;
        Ok(Entries {
            manifest,
            lines: std::io::BufReader::new(file).lines(),
            line: 0,
            last: None,
        })
    }

    fn next_row(&mut self) -> Result<Option<Row>> {
        let bad = |line, detail: String, manifest: &Path| MergeError::Manifest {
            manifest: manifest.to_path_buf(),
            line,
            detail,
        };
        for text in self.lines.by_ref() {
            self.line += 1;
            let text = text.map_err(|e| bad(self.line, e.to_string(), &self.manifest))?;
            let entry = text.trim().trim_end_matches(',');
            // Gantry writes one entry per line; the other lines are the frame around them.
            if !entry.starts_with("{\"path\"") {
                continue;
            }
            let row: Row = serde_json::from_str(entry)
                .map_err(|e| bad(self.line, e.to_string(), &self.manifest))?;
            let path = Path::new(&row.path);
            if path.is_absolute()
                || path
                    .components()
                    .any(|c| !matches!(c, std::path::Component::Normal(_)))
            {
                return Err(bad(
                    self.line,
                    format!("{:?} is not a path inside the folder", row.path),
                    &self.manifest,
                )
                .into());
            }
            if self
                .last
                .as_deref()
                .is_some_and(|last| last >= row.path.as_str())
            {
                return Err(bad(
                    self.line,
                    format!("{:?} is out of path order", row.path),
                    &self.manifest,
                )
                .into());
            }
            self.last = Some(row.path.clone());
            return Ok(Some(row));
        }
        Ok(None)
    }
}

/// The entries of every shard, merged in path order (the order a single export's
/// manifest has): a heap of each shard's next entry.
struct MergedEntries<'a> {
    shards: &'a [MergedShard],
    entries: Vec<Entries>,
    heap: BinaryHeap<std::cmp::Reverse<(String, usize)>>,
    heads: Vec<Option<Row>>,
}

impl<'a> MergedEntries<'a> {
    fn open(shards: &'a [MergedShard]) -> Result<MergedEntries<'a>> {
        let mut merged = MergedEntries {
            shards,
            entries: shards
                .iter()
                .map(|s| Entries::open(&s.dir))
                .collect::<Result<_>>()?,
            heap: BinaryHeap::new(),
            heads: vec![None; shards.len()],
        };
        for at in 0..shards.len() {
            merged.refill(at)?;
        }
        Ok(merged)
    }

    fn refill(&mut self, at: usize) -> Result<()> {
        if let Some(row) = self.entries[at].next_row()? {
            self.heap.push(std::cmp::Reverse((row.path.clone(), at)));
            self.heads[at] = Some(row);
        }
        Ok(())
    }

    /// The next entry in path order, with the index of its shard.
    fn next_row(&mut self) -> Result<Option<(usize, Row)>> {
        let Some(std::cmp::Reverse((path, at))) = self.heap.pop() else {
            return Ok(None);
        };
        if let Some(std::cmp::Reverse((next, other))) = self.heap.peek()
            && *next == path
        {
            return Err(MergeError::Path {
                path: PathBuf::from(path),
                first: self.shards[at].dir.clone(),
                second: self.shards[*other].dir.clone(),
            }
            .into());
        }
        let row = self.heads[at].take();
        self.refill(at)?;
        Ok(row.map(|row| (at, row)))
    }
}

fn for_each_entry(
    shards: &[MergedShard],
    mut each: impl FnMut(usize, &Row) -> Result<()>,
) -> Result<()> {
    let mut merged = MergedEntries::open(shards)?;
    while let Some((at, row)) = merged.next_row()? {
        each(at, &row)?;
    }
    Ok(())
}

/// Whether the file at `path` is the one `row` lists: a regular file (not a link), of its
/// size and SHA-256. Why not, otherwise.
fn check_file(path: &Path, row: &Row) -> std::result::Result<(), FileMismatch> {
    let meta = std::fs::symlink_metadata(path)?;
    if !meta.is_file() {
        return Err(FileMismatch::NotRegular);
    }
    if meta.len() != row.size {
        return Err(FileMismatch::Size {
            found: meta.len(),
            listed: row.size,
        });
    }
    let mut hasher = Sha256::new();
    std::io::copy(&mut std::fs::File::open(path)?, &mut hasher)?;
    let digest = hex::encode(hasher.finalize());
    if digest != row.sha256 {
        return Err(FileMismatch::Digest {
            found: digest,
            listed: row.sha256.clone(),
        });
    }
    Ok(())
}

enum Placed {
    Linked,
    Copied,
    Unchanged,
    Different,
}

/// Puts `source` at `target`: a hard link, or a copy across file systems; a file already
/// there counts when it is the same file or has the listed content.
fn place(source: &Path, target: &Path, row: &Row) -> std::io::Result<Placed> {
    if let Ok(existing) = std::fs::symlink_metadata(target) {
        use std::os::unix::fs::MetadataExt;
        let source_meta = std::fs::metadata(source)?;
        if existing.is_file()
            && existing.ino() == source_meta.ino()
            && existing.dev() == source_meta.dev()
        {
            return Ok(Placed::Unchanged);
        }
        if existing.is_file() && existing.len() == row.size {
            let mut hasher = Sha256::new();
            std::io::copy(&mut std::fs::File::open(target)?, &mut hasher)?;
            if hex::encode(hasher.finalize()) == row.sha256 {
                return Ok(Placed::Unchanged);
            }
        }
        return Ok(Placed::Different);
    }
    match std::fs::hard_link(source, target) {
        Ok(()) => Ok(Placed::Linked),
        Err(_) => {
            let tmp = target.with_extension("gantry-tmp");
            std::fs::copy(source, &tmp)?;
            std::fs::File::open(&tmp)?.sync_all()?;
            std::fs::rename(&tmp, target)?;
            Ok(Placed::Copied)
        }
    }
}
