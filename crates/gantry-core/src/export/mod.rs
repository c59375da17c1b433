//! Checkpoint 9, export: write every clean instance as a new DICOM file.
//!
//! Each instance passes the safe gate right before it is written: the checks of verify,
//! run again on what the store holds now. Files are written under a temporary name, made
//! durable a batch at a time, and only then renamed, so a crash never leaves a half-written
//! file under its final name. Output is a pure function of the store and the secret, so a
//! resumed or repeated export writes the same bytes, and adopts files that already hold
//! them.

mod place;
mod report;
mod write;

use std::collections::HashSet;
use std::fs::File;
use std::path::{Component, Path, PathBuf};
use std::time::{Duration, Instant};

use dicom_core::Tag;
use dicom_object::InMemDicomObject;
use gantry_store::{PixelLayout, StoredInstance, open_pixel_value};
use serde::{Deserialize, Serialize};

pub(crate) use report::write_description;
pub use report::{Blocked, ExportReport, Stripping};

use crate::check::{CheckContext, final_header};
use crate::error::{GantryError, InstanceError, PixelError, Result};
use crate::risk::Stage;
use crate::session::Session;
use write::{PixelValue, write_file};

/// The default folder layout: pseudonymous values only.
pub const DEFAULT_LAYOUT: &str = "{patient}/{study}/{series}/{instance}.dcm";

const TOKENS: &[&str] = &[
    "patient",
    "study",
    "series",
    "instance",
    "modality",
    "series_number",
    "instance_number",
];

/// What happens to pixel data that was not redacted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ExportSyntax {
    /// Streamed from the source unchanged, without decoding: encapsulated data keeps its
    /// transfer syntax; native data is written Explicit VR Little Endian (big endian
    /// samples swapped, deflated data sets inflated).
    #[default]
    Keep,
    /// Decoded to native Explicit VR Little Endian, for readers without codecs.
    Native,
}

/// What to do when a different file already sits at an output path.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Overwrite {
    /// Leave it, and block the instance with the reason (the default). Files an earlier
    /// export of this session wrote are always replaced when their content changes.
    #[default]
    Refuse,
    /// Replace it.
    Replace,
}

/// An export being set up; see [`Session::export`].
#[must_use = "an export does nothing until run() is called"]
pub struct Export<'s> {
    session: &'s mut Session,
    out: PathBuf,
    safe: bool,
    layout: String,
    syntax: ExportSyntax,
    overwrite: Overwrite,
}

impl Session {
    /// Checkpoint 9: an export to `out`, safe by default. Configure it, then `run()`.
    pub fn export(&mut self, out: impl AsRef<Path>) -> Export<'_> {
        Export {
            session: self,
            out: out.as_ref().to_path_buf(),
            safe: true,
            layout: DEFAULT_LAYOUT.to_string(),
            syntax: ExportSyntax::Keep,
            overwrite: Overwrite::Refuse,
        }
    }
}

/// The outcome of one instance, before its file is put in place.
enum Prepared {
    Blocked(Vec<String>),
    Written {
        rel: PathBuf,
        tmp: PathBuf,
        sha256: String,
        size: u64,
        sop_instance_uid: String,
        pixels: &'static str,
        /// The findings waivers accepted, as the manifest lists them.
        waived: String,
    },
}

impl Export<'_> {
    /// Whether the safe gate is on (default true). `safe(false)` writes instances with
    /// findings too (never an instance without a de-identified header), and marks them
    /// unsafe in the report and the manifest.
    pub fn safe(mut self, safe: bool) -> Self {
        self.safe = safe;
        self
    }

    /// The folder layout, with `{patient}`, `{study}`, `{series}`, `{instance}`,
    /// `{modality}`, `{series_number}` and `{instance_number}` taken from the
    /// de-identified header. Default: [`DEFAULT_LAYOUT`].
    pub fn layout(mut self, template: impl Into<String>) -> Self {
        self.layout = template.into();
        self
    }

    /// What happens to pixel data that was not redacted (default: kept as it is).
    pub fn transfer_syntax(mut self, syntax: ExportSyntax) -> Self {
        self.syntax = syntax;
        self
    }

    /// What to do with a different file already at an output path (default: refuse).
    pub fn overwrite(mut self, overwrite: Overwrite) -> Self {
        self.overwrite = overwrite;
        self
    }

    /// Writes the files and the manifest.
    pub fn run(self) -> Result<ExportReport> {
        let started = Instant::now();
        check_layout(&self.layout)?;
        let io = |path: &Path| {
            let path = path.to_path_buf();
            move |source| GantryError::Io { path, source }
        };
        std::fs::create_dir_all(&self.out).map_err(io(&self.out))?;
        let out = self.out.canonicalize().map_err(io(&self.out))?;
        let session = self.session;
        let prepared = session.prepare()?;
        refuse_anothers_folder(&out, session.shard, &prepared.secret)?;
        remove_temporaries(&out).map_err(io(&out))?;
        let out_fd = File::open(&out).map_err(io(&out))?;
        let rules = prepared.rules();
        let engine = prepared.engine(&rules);
        let required_key = session.required_key_id()?;
        session.sidecar()?;
        let sidecar = session.sidecar.take();
        let context = CheckContext {
            stage: Stage::Verify,
            engine: &engine,
            prepared: &prepared,
            sidecar: sidecar.as_ref(),
            required_key: required_key.as_deref(),
        };
        let mut report = ExportReport {
            out_dir: out.clone(),
            safe: self.safe,
            instances: 0,
            written: 0,
            unchanged: 0,
            removed: 0,
            blocked: Vec::new(),
            waived: Vec::new(),
            bytes: 0,
            stripped: report::Stripping::default(),
            manifest_csv: PathBuf::new(),
            manifest_json: PathBuf::new(),
            duration: Duration::ZERO,
        };
        let (safe, layout, syntax, overwrite) =
            (self.safe, self.layout, self.syntax, self.overwrite);
        // One sync per batch does two jobs: it makes this batch's temporary files durable
        // before any is renamed, and the previous batch's renames and removals durable
        // before the database records them. So records trail files by one batch, and
        // the paths claimed in that batch are remembered until they are recorded.
        let sync = || {
            rustix::fs::syncfs(&out_fd).map_err(|e| GantryError::Io {
                path: out.clone(),
                source: e.into(),
            })
        };
        let record = |store: &mut gantry_store::Store, changes: &[place::Change]| {
            store.write(|tx| {
                for (id, record) in changes {
                    match record {
                        Some(record) => tx.record_export(&out, record)?,
                        None => tx.forget_export(&out, *id)?,
                    }
                }
                Ok(())
            })
        };
        let folders = Folders::default();
        let stripped = Tally::default();
        let mut unrecorded: Vec<place::Change> = Vec::new();
        let pool = session.pool_handle();
        let mut claimed_before: HashSet<PathBuf> = HashSet::new();
        let result = session.for_each_instance_in(
            "export",
            1024,
            |stored| {
                prepare_one(
                    stored,
                    &context,
                    safe,
                    &layout,
                    syntax,
                    (&out, &folders, &stripped),
                )
            },
            |store, batch| {
                sync()?;
                record(store, &unrecorded)?;
                let (changes, claimed) = place::place_batch(
                    store,
                    &out,
                    batch,
                    &claimed_before,
                    overwrite,
                    safe,
                    pool.as_deref(),
                    &mut report,
                )?;
                unrecorded = changes;
                claimed_before = claimed;
                Ok(())
            },
        );
        session.sidecar = sidecar;
        result?;
        // The last batch: its renames made durable, then recorded.
        sync()?;
        record(&mut session.store, &unrecorded)?;
        report.stripped = stripped.total();
        let all_safe = session.store.exports_all_safe(&out)?;
        let store = &session.store;
        let (mut files, mut bytes) = (0, 0);
        let (csv, json) = report::write_manifest(&out, all_safe, &mut |after| {
            let page = store
                .exports_page(&out, after, report::MANIFEST_PAGE)
                .map_err(std::io::Error::other)?;
            files += page.len() as u64;
            bytes += page.iter().map(|r| r.size).sum::<u64>();
            Ok(page)
        })
        .map_err(io(&out))?;
        report.manifest_csv = csv;
        report.manifest_json = json;
        let description = crate::shard::DatasetDescription {
            gantry: env!("CARGO_PKG_VERSION").to_string(),
            shard: session.shard,
            shards: 1,
            safe: all_safe,
            secret: prepared.secret.fingerprint(),
            config: crate::prepared::config_digest(&prepared.config)?,
            profile: crate::settings::PROFILE_EDITION.to_string(),
            layout: layout.clone(),
            instances: report.instances,
            files,
            bytes,
            blocked: report.blocked.len() as u64,
            patients: crate::shard::patient_digests(&prepared.secret, &session.store)?,
        };
        report::write_description(&out, &description).map_err(io(&out))?;
        report.duration = started.elapsed();
        let json = gantry_store::StoreError::json("the export report", &report)?;
        session.store.write(|tx| tx.add_report("export", &json))?;
        Ok(report)
    }
}

/// An export folder is one session's: one that holds the export of another shard, another
/// secret's run or a merge (its `dataset.json` says so) is refused, as the files of both
/// would mix and each manifest would list only its own.
fn refuse_anothers_folder(
    out: &Path,
    shard: Option<crate::shard::Shard>,
    secret: &crate::pseudonym::Secret,
) -> Result<()> {
    let Ok(bytes) = std::fs::read(out.join(crate::shard::DATASET_FILE)) else {
        return Ok(());
    };
    let theirs = match serde_json::from_slice::<crate::shard::DatasetDescription>(&bytes) {
        Ok(theirs) => theirs,
        Err(e) => {
            return Err(GantryError::AnothersExport {
                out: out.to_path_buf(),
                detail: format!("its dataset.json cannot be read ({e})"),
            });
        }
    };
    let detail = if theirs.shards > 1 {
        Some(format!("a merge of {} shards", theirs.shards))
    } else if theirs.shard != shard {
        Some(match theirs.shard {
            Some(other) => format!("the export of shard {other}"),
            None => "the export of a whole dump".to_string(),
        })
    } else if theirs.secret != secret.fingerprint() {
        Some(format!(
            "the export of a run with another secret ({})",
            theirs.secret
        ))
    } else {
        None
    };
    match detail {
        Some(detail) => Err(GantryError::AnothersExport {
            out: out.to_path_buf(),
            detail,
        }),
        None => Ok(()),
    }
}

/// Writes a manifest of the records `next` gives, in the order it gives them (a merge of
/// shards' manifests in path order), as an export writes its own.
pub(crate) fn write_merged_manifest(
    out: &Path,
    safe: bool,
    next: &mut dyn FnMut() -> Option<gantry_store::ExportRecord>,
) -> std::io::Result<(PathBuf, PathBuf)> {
    report::write_manifest(out, safe, &mut |_after| {
        Ok(std::iter::from_fn(&mut *next)
            .take(report::MANIFEST_PAGE)
            .collect())
    })
}

/// The folders this export has made, so that each is made (and stat-ed) once.
#[derive(Default)]
struct Folders(std::sync::Mutex<HashSet<PathBuf>>);

impl Folders {
    fn ensure(&self, dir: &Path) -> std::io::Result<()> {
        if self.0.lock().is_ok_and(|made| made.contains(dir)) {
            return Ok(());
        }
        std::fs::create_dir_all(dir)?;
        if let Ok(mut made) = self.0.lock() {
            // Bounded: a huge export forgets and at worst stats a folder again.
            if made.len() >= 1 << 16 {
                made.clear();
            }
            made.insert(dir.to_path_buf());
        }
        Ok(())
    }
}

/// Gate, render and write one instance to a temporary file.
fn prepare_one(
    stored: &StoredInstance,
    context: &CheckContext<'_>,
    safe: bool,
    layout: &str,
    syntax: ExportSyntax,
    (out, dirs, stripped): (&Path, &Folders, &Tally),
) -> Prepared {
    match try_prepare(stored, context, safe, layout, syntax, (out, dirs, stripped)) {
        Ok(prepared) => prepared,
        Err(reason) => Prepared::Blocked(vec![reason.to_string()]),
    }
}

/// Why an instance that passed the gate (or needs none) is not written.
#[derive(Debug, thiserror::Error)]
enum Unwritable {
    /// The safe gate could not check it.
    #[error(transparent)]
    Gate(InstanceError),
    /// The header it would be written with cannot be read.
    #[error(transparent)]
    Header(InstanceError),
    /// What its pixels are cannot be told.
    #[error(transparent)]
    Pixels(PixelError),
    /// Its folder cannot be made.
    #[error("{}: {source}", dir.display())]
    Folder {
        /// The folder.
        dir: PathBuf,
        /// What the operating system reported.
        #[source]
        source: std::io::Error,
    },
    /// Its file cannot be written.
    #[error("writing {}: {source}", rel.display())]
    Write {
        /// The file, relative to the export folder.
        rel: PathBuf,
        /// What failed.
        #[source]
        source: PixelError,
    },
}

fn try_prepare(
    stored: &StoredInstance,
    context: &CheckContext<'_>,
    safe: bool,
    layout: &str,
    syntax: ExportSyntax,
    (out, dirs, stripped): (&Path, &Folders, &Tally),
) -> std::result::Result<Prepared, Unwritable> {
    let Some(deidentified) = &stored.deidentified else {
        return Ok(Prepared::Blocked(vec![match &stored.anonymize_failure {
            Some(cause) => format!("anonymize failed: {cause}"),
            None => "not de-identified yet: run anonymize".into(),
        }]));
    };
    let mut waived = Vec::new();
    if safe {
        let (findings, accepted) = context.gate(stored).map_err(Unwritable::Gate)?;
        if !findings.is_empty() {
            return Ok(Prepared::Blocked(
                findings.iter().map(crate::risk::block_reason).collect(),
            ));
        }
        waived = accepted;
    }
    let waived = waived
        .iter()
        .map(crate::waiver::WaivedFinding::line)
        .collect::<Vec<_>>()
        .join("; ");
    let pixels = pixel_status(stored, context, safe).map_err(Unwritable::Pixels)?;
    // Without a redaction overlay (and without re-encoding pixels) the file's data set is
    // the stored blob byte for byte: only the few elements the path and the file meta
    // group need are read from it, instead of decoding it whole.
    let encapsulated = matches!(
        stored.record.pixels.as_ref().map(|p| &p.layout),
        Some(PixelLayout::Encapsulated { .. })
    );
    let as_stored = stored.redacted.is_none() && !(encapsulated && syntax == ExportSyntax::Native);
    // With redacted pixels, the elements that describe them are laid over the stored blob
    // byte for byte (each top-level element spliced in): still no decode.
    let overlaid = match &stored.redacted {
        Some(redacted) => gantry_store::overlay_elements(deidentified, &redacted.attributes),
        None => None,
    };
    let blob = match &overlaid {
        Some(overlaid) => Some(overlaid.as_slice()),
        None => as_stored.then_some(deidentified.as_slice()),
    };
    let facts = blob.and_then(facts_of);
    let (mut header, verbatim) = match facts {
        Some(facts) => (facts, blob),
        None => (
            final_header(deidentified, stored.redacted.as_ref()).map_err(Unwritable::Header)?,
            as_stored.then_some(deidentified.as_slice()),
        ),
    };
    let rel = render(layout, &header);
    let target = out.join(&rel);
    let dir = target.parent().unwrap_or(out);
    dirs.ensure(dir).map_err(|source| Unwritable::Folder {
        dir: dir.to_path_buf(),
        source,
    })?;
    let name = target
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{name}.{}.gantry-tmp", stored.record.id));
    let sop_instance_uid = crate::header::text(&header, Tag(0x0008, 0x0018)).unwrap_or_default();
    let written = write_pixels(
        stored,
        context,
        &mut header,
        verbatim,
        syntax,
        &tmp,
        stripped,
    )
    .map_err(|source| Unwritable::Write {
        rel: rel.clone(),
        source,
    });
    let (sha256, size) = match written {
        Ok(done) => done,
        Err(e) => {
            let _ = std::fs::remove_file(&tmp);
            return Err(e);
        }
    };
    Ok(Prepared::Written {
        rel,
        tmp,
        sha256,
        size,
        sop_instance_uid,
        pixels,
        waived,
    })
}

/// What the manifest says of an instance's pixels, claiming no more than the safe gate
/// checked: every image that passes it was searched by the text detector (and found
/// without text outside its zones), so the status says what else was done or known.
///
/// - `unchecked`: written by an unsafe export, the gate did not run;
/// - `no_pixels`: the instance has no Pixel Data;
/// - `redacted_detected`: text the detector found was blanked (`redact_detected`);
/// - `redacted`: the zones of its machine rules were blanked;
/// - `attested`: left as it was, and a matching rule attests `burned_in_text: none`;
/// - `searched`: left as it was.
fn pixel_status(
    stored: &StoredInstance,
    context: &CheckContext<'_>,
    safe: bool,
) -> std::result::Result<&'static str, PixelError> {
    if !safe {
        return Ok("unchecked");
    }
    if stored.record.pixels.is_none() {
        return Ok("no_pixels");
    }
    if let Some(redacted) = &stored.redacted {
        let done: crate::pixels::Redaction =
            serde_json::from_str(&redacted.redaction).map_err(|source| PixelError::Record {
                action: "read",
                source,
            })?;
        if !done.detected.is_empty() {
            return Ok("redacted_detected");
        }
        if !done.applied.is_empty() {
            return Ok("redacted");
        }
        // A rule without zones: the pixels were rewritten (bits above High Bit cleared),
        // nothing was blanked.
    }
    let config = &context.prepared.config;
    if config
        .machines
        .iter()
        .any(|r| r.burned_in_text == Some(crate::settings::BurnedInText::None))
    {
        // Only then is the original header decoded again, to match the rules.
        let original =
            crate::header::decode_original(&stored.original).map_err(InstanceError::Original)?;
        if crate::pixels::plan(config, &original, &stored.record).attested {
            return Ok("attested");
        }
    }
    Ok("searched")
}

/// Writes the file with its pixel data from wherever it lives now.
fn write_pixels(
    stored: &StoredInstance,
    context: &CheckContext<'_>,
    header: &mut InMemDicomObject,
    verbatim: Option<&[u8]>,
    syntax: ExportSyntax,
    tmp: &Path,
    stripped: &Tally,
) -> std::result::Result<(String, u64), PixelError> {
    const EXPLICIT_LE: &str = "1.2.840.10008.1.2.1";
    let vr_for = |header: &InMemDicomObject, declared: Option<&str>| -> [u8; 2] {
        match declared {
            Some("OB") => *b"OB",
            Some("OW") => *b"OW",
            // UN (and anything odd) from the source: PS3.5 A.1 says OW above 8 bits.
            _ => {
                let bits = header
                    .get(Tag(0x0028, 0x0100))
                    .and_then(|e| e.to_int::<u16>().ok());
                if bits.unwrap_or(16) > 8 {
                    *b"OW"
                } else {
                    *b"OB"
                }
            }
        }
    };
    if let Some(redacted) = &stored.redacted {
        let sidecar = context.sidecar.ok_or(PixelError::NoSidecar)?;
        let payload = sidecar
            .read(redacted.address)
            .map_err(PixelError::Sidecar)?;
        let pixels = if redacted.transfer_syntax == EXPLICIT_LE {
            PixelValue::Native {
                bytes: &payload,
                vr: vr_for(header, None),
            }
        } else {
            PixelValue::Encapsulated {
                reader: Box::new(std::io::Cursor::new(&payload[..])),
            }
        };
        return write_file(tmp, header, verbatim, &redacted.transfer_syntax, pixels)
            .map_err(PixelError::Write);
    }
    let record = &stored.record;
    let Some(location) = &record.pixels else {
        return write_file(tmp, header, verbatim, EXPLICIT_LE, PixelValue::None)
            .map_err(PixelError::Write);
    };
    match (&location.layout, syntax) {
        (PixelLayout::Native { vr, .. }, _) => {
            let reader = open_pixel_value(&record.source_path, location, record.stamp)
                .map_err(PixelError::Open)?;
            let vr = vr_for(header, Some(vr.as_str()));
            // Bits above High Bit are unused (PS3.5 8.1.1), yet devices hide overlays there:
            // they leave cleared.
            // The pixel module is kept by de-identification: its geometry is read from the
            // header being written, without decoding the original again.
            let reader: Box<dyn std::io::Read + Send> =
                match gantry_redact::Geometry::from_header(header) {
                    Ok(g) => Box::new(HighBitsCleared::new(reader, &g)),
                    Err(_) => Box::new(reader),
                };
            write_file(
                tmp,
                header,
                verbatim,
                EXPLICIT_LE,
                PixelValue::NativeStream {
                    reader,
                    length: location.length,
                    vr,
                },
            )
            .map_err(PixelError::Write)
        }
        (PixelLayout::Encapsulated { .. }, ExportSyntax::Keep) => {
            let reader = open_pixel_value(&record.source_path, location, record.stamp)
                .map_err(PixelError::Open)?;
            if !gantry_redact::strippable(&record.syntax.uid) {
                return write_file(
                    tmp,
                    header,
                    verbatim,
                    &record.syntax.uid,
                    PixelValue::Encapsulated {
                        reader: Box::new(reader),
                    },
                )
                .map_err(PixelError::Write);
            }
            // JPEG and JPEG 2000 streams go out with only what decoding needs: comments,
            // application segments, XML/UUID boxes and trailing bytes can name the patient.
            let value = reader
                .read_all(location.length)
                .map_err(|source| PixelError::Read {
                    path: record.source_path.clone(),
                    source,
                })?;
            let (table, fragments) = gantry_store::split_fragments(&value)?;
            let (table, fragments) =
                match gantry_redact::strip_encapsulated(&record.syntax.uid, &table, &fragments)
                    .map_err(PixelError::Strip)?
                {
                    Some((table, fragments, removed)) => {
                        stripped.add(&removed);
                        (table, fragments)
                    }
                    None => (table, fragments),
                };
            let bytes = crate::redact::encapsulate_with_table(&table, &fragments);
            write_file(
                tmp,
                header,
                verbatim,
                &record.syntax.uid,
                PixelValue::Encapsulated {
                    reader: Box::new(std::io::Cursor::new(bytes)),
                },
            )
            .map_err(PixelError::Write)
        }
        (PixelLayout::Encapsulated { .. }, ExportSyntax::Native) => {
            let original = crate::header::decode_original_raw(&stored.original)
                .map_err(InstanceError::Original)?;
            let (data, geometry) = crate::pixels::read_source_pixels(record, &original)?;
            let attributes =
                crate::redact::attributes(&original, &geometry, &record.syntax.uid, false)?;
            crate::pixels::overlay(header, &attributes)?;
            let bytes = &data[..geometry.data_len().min(data.len())];
            let vr = if geometry.bits_allocated > 8 {
                *b"OW"
            } else {
                *b"OB"
            };
            // The header changed (decoded layout): encoded afresh.
            write_file(
                tmp,
                header,
                None,
                EXPLICIT_LE,
                PixelValue::Native { bytes, vr },
            )
            .map_err(PixelError::Write)
        }
    }
}

/// What stripping removed from the compressed streams of an export, counted across the
/// threads that prepare files.
#[derive(Default)]
struct Tally {
    files: std::sync::atomic::AtomicU64,
    segments: std::sync::atomic::AtomicU64,
    bytes: std::sync::atomic::AtomicU64,
}

impl Tally {
    fn add(&self, removed: &gantry_redact::Stripped) {
        use std::sync::atomic::Ordering::Relaxed;
        if removed.segments > 0 || removed.bytes > 0 {
            self.files.fetch_add(1, Relaxed);
            self.segments.fetch_add(removed.segments as u64, Relaxed);
            self.bytes.fetch_add(removed.bytes as u64, Relaxed);
        }
    }

    fn total(&self) -> report::Stripping {
        use std::sync::atomic::Ordering::Relaxed;
        report::Stripping {
            files: self.files.load(Relaxed),
            segments: self.segments.load(Relaxed),
            bytes: self.bytes.load(Relaxed),
        }
    }
}

/// A native pixel value read with the bits above High Bit of every sample rewritten as the
/// value implies (zero, or the sign extension of signed data), as
/// [`gantry_redact::clear_high_bits`] does in memory; 8, 16 or 32 bits allocated, any
/// number of samples.
struct HighBitsCleared<R> {
    inner: R,
    geometry: Option<gantry_redact::Geometry>,
    /// Bytes of a sample a read split, held back (not yet cleared) for the next read.
    carry: Vec<u8>,
    /// A cleared sample not yet handed out whole (a caller's buffer was smaller).
    ready: std::collections::VecDeque<u8>,
}

impl<R> HighBitsCleared<R> {
    fn new(inner: R, g: &gantry_redact::Geometry) -> Self {
        let applies = g.bits_stored < g.bits_allocated && matches!(g.bits_allocated, 8 | 16 | 32);
        HighBitsCleared {
            inner,
            geometry: applies.then(|| g.clone()),
            carry: Vec::new(),
            ready: Default::default(),
        }
    }
}

impl<R: std::io::Read> std::io::Read for HighBitsCleared<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let Some(g) = &self.geometry else {
            return self.inner.read(buf);
        };
        if !self.ready.is_empty() {
            let n = buf.len().min(self.ready.len());
            for (b, r) in buf.iter_mut().zip(self.ready.drain(..n)) {
                *b = r;
            }
            return Ok(n);
        }
        let width = g.bits_allocated as usize / 8;
        if buf.is_empty() {
            return Ok(0);
        }
        if buf.len() < width {
            // Too small for a whole sample: one is read and cleared here, then handed out.
            let mut sample = [0u8; 4];
            let n = self.read(&mut sample[..width])?;
            if n == 0 {
                return Ok(0);
            }
            self.ready.extend(&sample[..n]);
            return self.read(buf);
        }
        let mut total = self.carry.len();
        buf[..total].copy_from_slice(&self.carry);
        self.carry.clear();
        // Whole samples only: read until one is whole; a split sample waits for the rest
        // of it (a partial sample at the end of the value goes out as it is).
        loop {
            let n = self.inner.read(&mut buf[total..])?;
            total += n;
            if n == 0 || total >= width {
                let whole = if n == 0 { total } else { total - total % width };
                self.carry.extend_from_slice(&buf[whole..total]);
                gantry_redact::clear_high_bits(&mut buf[..whole - whole % width], g);
                return Ok(whole);
            }
        }
    }
}

/// The elements of a stored header that a file's path and meta group need.
const FACTS: [Tag; 17] = [
    Tag(0x0008, 0x0016), // SOP Class UID
    Tag(0x0008, 0x0018), // SOP Instance UID
    Tag(0x0008, 0x0060), // Modality
    Tag(0x0010, 0x0020), // Patient ID
    Tag(0x0020, 0x000D), // Study Instance UID
    Tag(0x0020, 0x000E), // Series Instance UID
    Tag(0x0020, 0x0011), // Series Number
    Tag(0x0020, 0x0013), // Instance Number
    // The image pixel module: the geometry whose bits above High Bit export clears.
    Tag(0x0028, 0x0002), // Samples per Pixel
    Tag(0x0028, 0x0004), // Photometric Interpretation
    Tag(0x0028, 0x0006), // Planar Configuration
    Tag(0x0028, 0x0008), // Number of Frames
    Tag(0x0028, 0x0010), // Rows
    Tag(0x0028, 0x0011), // Columns
    Tag(0x0028, 0x0100), // Bits Allocated
    Tag(0x0028, 0x0101), // Bits Stored
    Tag(0x0028, 0x0103), // Pixel Representation
];

/// Those elements, read without decoding the whole blob; `None` when the blob holds
/// elements that a file places elsewhere (meta group, after the pixel data) or does not
/// scan.
fn facts_of(blob: &[u8]) -> Option<InMemDicomObject> {
    use dicom_core::{DataElement, PrimitiveValue, VR};
    let scan = gantry_store::scan_header(blob, &FACTS)?;
    if scan.first_tag.group() <= 0x0002 || scan.last_tag >= Tag(0x7FE0, 0x0010) {
        return None;
    }
    let mut out = InMemDicomObject::new_empty();
    for (tag, vr, bytes) in scan.elements {
        let value = match vr {
            VR::US if bytes.len() >= 2 => {
                PrimitiveValue::from(u16::from_le_bytes([bytes[0], bytes[1]]))
            }
            VR::UI | VR::CS | VR::LO | VR::IS | VR::SH => PrimitiveValue::from(
                String::from_utf8_lossy(&bytes)
                    .trim_end_matches(['\0', ' '])
                    .to_string(),
            ),
            _ => return None,
        };
        out.put(DataElement::new(tag, vr, value));
    }
    Some(out)
}

/// A finding as a reason: where, which rule, what it needs; the value only when it is a
/// sentence of Gantry's own (pixel risks), never a header value.
/// The relative path of an instance: the template with each token replaced by a value of
/// the de-identified header, made safe as a file name.
fn render(layout: &str, header: &InMemDicomObject) -> PathBuf {
    let value = |token: &str| {
        let tag = match token {
            "patient" => Tag(0x0010, 0x0020),
            "study" => Tag(0x0020, 0x000D),
            "series" => Tag(0x0020, 0x000E),
            "instance" => Tag(0x0008, 0x0018),
            "modality" => Tag(0x0008, 0x0060),
            "series_number" => Tag(0x0020, 0x0011),
            _ => Tag(0x0020, 0x0013),
        };
        sanitize(&crate::header::text(header, tag).unwrap_or_default())
    };
    let mut out = String::new();
    let mut rest = layout;
    while let Some(start) = rest.find('{') {
        out.push_str(&rest[..start]);
        let Some(end) = rest[start..].find('}') else {
            break;
        };
        out.push_str(&value(&rest[start + 1..start + end]));
        rest = &rest[start + end + 1..];
    }
    out.push_str(rest);
    PathBuf::from(out)
}

fn sanitize(value: &str) -> String {
    let clean: String = value
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_') {
                c
            } else {
                '_'
            }
        })
        .collect();
    let clean = clean.trim_matches('.').to_string();
    if clean.is_empty() {
        "unknown".into()
    } else {
        clean
    }
}

fn check_layout(layout: &str) -> Result<()> {
    let bad = |detail: String| {
        Err(GantryError::Layout {
            layout: layout.to_string(),
            detail,
        })
    };
    let mut rest = layout;
    while let Some(start) = rest.find('{') {
        let Some(end) = rest[start..].find('}') else {
            return bad("a `{` without its `}`".into());
        };
        let token = &rest[start + 1..start + end];
        if !TOKENS.contains(&token) {
            return bad(format!(
                "unknown token {{{token}}}; known: {}",
                TOKENS.join(", ")
            ));
        }
        rest = &rest[start + end + 1..];
    }
    let path = Path::new(layout);
    if path.is_absolute() || path.components().any(|c| matches!(c, Component::ParentDir)) {
        return bad("it must stay inside the output folder".into());
    }
    if !layout.contains("{instance}") {
        return bad("without {instance}, two instances of a series would share a file".into());
    }
    if layout.ends_with('/') || layout.is_empty() {
        return bad("it must name a file".into());
    }
    Ok(())
}

/// Removes the temporary files an interrupted export left (they were never renamed, so
/// nothing refers to them).
fn remove_temporaries(dir: &Path) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let kind = entry.file_type()?;
        if kind.is_dir() {
            remove_temporaries(&entry.path())?;
        } else if kind.is_file() && entry.file_name().to_string_lossy().ends_with(".gantry-tmp") {
            std::fs::remove_file(entry.path())?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::io::Read;

    /// A reader that hands out at most `step` bytes a call.
    struct Trickle<'a> {
        data: &'a [u8],
        step: usize,
    }

    impl Read for Trickle<'_> {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            let n = self.step.min(buf.len()).min(self.data.len());
            buf[..n].copy_from_slice(&self.data[..n]);
            self.data = &self.data[n..];
            Ok(n)
        }
    }

    #[test]
    fn high_bits_are_cleared_in_whole_samples_however_reads_split_them() {
        for (bits_allocated, bits_stored) in [(8u16, 6u16), (16, 12), (32, 24)] {
            let g = gantry_redact::Geometry {
                rows: 7,
                columns: 5,
                frames: 1,
                samples_per_pixel: 1,
                bits_allocated,
                bits_stored,
                signed: false,
                planar: false,
                photometric: gantry_redact::Photometric::Monochrome2,
            };
            let data: Vec<u8> = (0..g.data_len()).map(|i| (i * 37 + 0x80) as u8).collect();
            let mut expected = data.clone();
            gantry_redact::clear_high_bits(&mut expected, &g);
            assert_ne!(expected, data);
            for (step, chunk) in [(1, 1), (3, 2), (5, 7), (64, 3), (1000, 1000)] {
                let mut reader = super::HighBitsCleared::new(Trickle { data: &data, step }, &g);
                let mut out = Vec::new();
                let mut buf = vec![0u8; chunk];
                loop {
                    let n = reader.read(&mut buf).unwrap();
                    if n == 0 {
                        break;
                    }
                    out.extend_from_slice(&buf[..n]);
                }
                assert_eq!(
                    out, expected,
                    "{bits_allocated} bits, reads of {step} into {chunk}"
                );
            }
        }
    }

    use super::*;

    #[test]
    fn layouts_are_checked_and_rendered_safely() {
        assert!(check_layout(DEFAULT_LAYOUT).is_ok());
        for bad in [
            "{patient}/{series}.dcm",
            "{nope}/{instance}",
            "../{instance}",
            "/abs/{instance}",
            "{instance",
        ] {
            assert!(check_layout(bad).is_err(), "{bad}");
        }
        let header = InMemDicomObject::from_element_iter([
            dicom_core::DataElement::new(
                Tag(0x0010, 0x0020),
                dicom_core::VR::LO,
                dicom_core::PrimitiveValue::from("../ANON/1"),
            ),
            dicom_core::DataElement::new(
                Tag(0x0008, 0x0018),
                dicom_core::VR::UI,
                dicom_core::PrimitiveValue::from("2.25.7"),
            ),
        ]);
        assert_eq!(
            render("{patient}/{study}/{instance}.dcm", &header),
            PathBuf::from("_ANON_1/unknown/2.25.7.dcm")
        );
    }
}
