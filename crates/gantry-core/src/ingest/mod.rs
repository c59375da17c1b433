//! Checkpoint 1, ingest: index a folder tree of DICOM files.
//!
//! The tree is walked in file-name order, in batches. Each batch's headers are parsed in
//! parallel (never the pixel data) while the previous batch is written, in one transaction,
//! from this thread. A file unchanged since the last ingest (same size and mtime) is not
//! read again. Every file that is not indexed is recorded with its reason.

mod report;
mod walk;

use std::path::{Path, PathBuf};
use std::time::Instant;

use gantry_store::{
    FileOutcome, FileRecord, InstanceRecord, SkipReason, SourceStamp, StoreTx, content_hash,
    read_source,
};
use rayon::prelude::*;

pub use crate::settings::UidConflict;
pub use report::{FileNote, IngestReport, SkippedFile};

use crate::error::{GantryError, Result};
use crate::session::Session;

/// Files parsed per batch: large enough to keep every core busy and amortise a
/// transaction, small enough that memory stays flat whatever the dump's size.
const BATCH: usize = 512;

/// A file to read: new, or changed since the last ingest.
struct Candidate {
    path: PathBuf,
    stamp: SourceStamp,
    /// An earlier ingest recorded this file as not indexed.
    had_record: bool,
}

/// What the walk thread sends.
enum WalkMessage {
    Batch(Vec<walk::Found>),
    Done(Vec<FileNote>),
}

/// The outcome of reading one file's header.
enum Parsed {
    Failed(SkipReason),
    Read {
        record: Box<InstanceRecord>,
        header: Vec<u8>,
        /// What the identity pass takes from the header (JSON of
        /// [`crate::identity::IdentityFacts`]), taken from the header just parsed.
        identity: Option<Vec<u8>>,
    },
}

impl Session {
    /// Indexes every DICOM file under `root` (a folder, or a single file).
    pub fn ingest(&mut self, root: impl AsRef<Path>) -> Result<IngestReport> {
        self.ingest_paths(&[root.as_ref()])
    }

    /// Indexes every DICOM file under each of `roots`.
    pub fn ingest_paths<P: AsRef<Path>>(&mut self, roots: &[P]) -> Result<IngestReport> {
        let started = Instant::now();
        self.generation += 1;
        let mut report = IngestReport::default();
        let mut absolute_roots = Vec::new();
        for root in roots {
            let root = root.as_ref();
            // Canonical paths, so that re-ingesting from another working folder or
            // through another spelling finds the same files.
            let absolute = root.canonicalize().map_err(|e| GantryError::IngestRoot {
                path: root.to_path_buf(),
                detail: e.to_string(),
            })?;
            absolute_roots.push(absolute);
        }
        report.roots = absolute_roots.clone();
        let follow_links = self.follow_links;
        self.progress.begin("ingest", None);

        // The walk (readdir and stat) runs on its own thread, a few batches ahead; this
        // thread looks files up and writes; the previous batch's headers parse meanwhile.
        let (to_ingest, batches) = std::sync::mpsc::sync_channel::<WalkMessage>(2);
        let result = std::thread::scope(|scope| -> Result<()> {
            scope.spawn(move || {
                let mut walk = walk::Walk::new(absolute_roots, follow_links);
                loop {
                    let batch: Vec<walk::Found> = walk.by_ref().take(BATCH).collect();
                    let message = if batch.is_empty() {
                        WalkMessage::Done(std::mem::take(&mut walk.problems))
                    } else {
                        WalkMessage::Batch(batch)
                    };
                    let done = matches!(message, WalkMessage::Done(_));
                    if to_ingest.send(message).is_err() || done {
                        break;
                    }
                }
            });
            let mut in_flight: Option<std::thread::ScopedJoinHandle<'_, Vec<(Candidate, Parsed)>>> =
                None;
            for message in batches {
                let batch = match message {
                    WalkMessage::Batch(batch) => batch,
                    WalkMessage::Done(problems) => {
                        report.walk_errors.extend(problems);
                        break;
                    }
                };
                report.seen += batch.len() as u64;
                let paths: Vec<&Path> = batch.iter().map(|f| f.path.as_path()).collect();
                let known = self.store.file_states(&paths)?;
                let mut unchanged = 0;
                let mut to_parse = Vec::with_capacity(batch.len());
                for (found, known) in batch.into_iter().zip(known) {
                    match known {
                        Some(state) if state.stamp == found.stamp => unchanged += 1,
                        _ => to_parse.push(Candidate {
                            had_record: known.is_some_and(|k| k.outcome != FileOutcome::Indexed),
                            path: found.path,
                            stamp: found.stamp,
                        }),
                    }
                }
                report.unchanged += unchanged;
                self.progress.advance(unchanged);
                if to_parse.is_empty() {
                    continue;
                }
                let pool = self.pool_handle();
                let handle = scope.spawn(move || {
                    let parse_all = || {
                        to_parse
                            .into_par_iter()
                            .map(|c| {
                                let parsed = parse(&c.path);
                                (c, parsed)
                            })
                            .collect::<Vec<_>>()
                    };
                    match pool {
                        Some(pool) => pool.install(parse_all),
                        None => parse_all(),
                    }
                });
                if let Some(previous) = in_flight.replace(handle) {
                    self.write_batch(join(previous)?, &mut report)?;
                }
            }
            if let Some(previous) = in_flight.take() {
                self.write_batch(join(previous)?, &mut report)?;
            }
            Ok(())
        });
        self.progress.finish();
        result?;
        report.duration = started.elapsed();
        Ok(report)
    }

    /// Writes one parsed batch in one transaction, deciding each file's outcome.
    fn write_batch(
        &mut self,
        parsed: Vec<(Candidate, Parsed)>,
        report: &mut IngestReport,
    ) -> Result<()> {
        let count = parsed.len() as u64;
        let policy = self.uid_conflict;
        let shard = match self.shard.filter(|s| s.count > 1) {
            Some(shard) => Some((shard, self.secret()?)),
            None => None,
        };
        let mut outcomes = Vec::with_capacity(parsed.len());
        self.store.write(|tx| {
            outcomes.clear();
            for (candidate, parsed) in parsed {
                let elsewhere = shard
                    .as_ref()
                    .and_then(|(shard, secret)| other_shard(*shard, secret, &parsed));
                outcomes.push(match elsewhere {
                    Some(detail) => record_other_shard(tx, candidate, detail)?,
                    None => record_outcome(tx, candidate, parsed, policy)?,
                });
            }
            Ok(())
        })?;
        for outcome in outcomes {
            report.add(outcome);
        }
        self.progress.advance(count);
        Ok(())
    }
}

/// Where a file goes when it is not this shard's (`None`: it is): the shard of its
/// patient, or for a file that cannot be read, the first shard, which records why.
fn other_shard(
    shard: crate::shard::Shard,
    secret: &crate::pseudonym::Secret,
    parsed: &Parsed,
) -> Option<String> {
    match parsed {
        Parsed::Read { record, .. } => {
            let home = crate::shard::Shard::of(secret, record, shard.count);
            (home != shard).then(|| format!("its patient belongs to shard {home}"))
        }
        Parsed::Failed(_) => (shard.index != 1)
            .then(|| format!("it cannot be indexed; shard 1/{} records why", shard.count)),
    }
}

/// Records a file another shard indexes (so that a later ingest does not read it again),
/// dropping what this shard may have indexed from it before it changed.
fn record_other_shard(
    tx: &StoreTx<'_>,
    candidate: Candidate,
    detail: String,
) -> gantry_store::Result<Outcome> {
    let previous = tx.instance_by_path(&candidate.path)?;
    if let Some(previous) = &previous {
        tx.delete_instance(previous.id)?;
    }
    tx.record_file(&FileRecord {
        path: candidate.path,
        stamp: candidate.stamp,
        outcome: FileOutcome::OtherShard,
        reason: None,
        detail: Some(detail),
        sop_instance_uid: None,
    })?;
    Ok(Outcome::OtherShard {
        removed: previous.is_some(),
    })
}

/// What happened to one file, for the report.
pub(crate) enum Outcome {
    Indexed {
        replaced: bool,
        guessed: bool,
    },
    Duplicate(FileNote),
    Conflict(FileNote),
    /// A conflicting copy indexed as an instance of its own (`keep_all`).
    IndexedCopy(FileNote),
    Skipped {
        file: SkippedFile,
        removed: bool,
    },
    /// Left to another shard (`removed`: what this shard had indexed from it is gone).
    OtherShard {
        removed: bool,
    },
}

fn record_outcome(
    tx: &StoreTx<'_>,
    candidate: Candidate,
    parsed: Parsed,
    policy: UidConflict,
) -> gantry_store::Result<Outcome> {
    let Candidate {
        path,
        stamp,
        had_record,
    } = candidate;
    // An instance this file held at the last ingest is stale once the file changed.
    let previous = tx.instance_by_path(&path)?;
    let (record, header, identity) = match parsed {
        Parsed::Failed(reason) => {
            if let Some(previous) = &previous {
                tx.delete_instance(previous.id)?;
            }
            tx.record_file(&FileRecord {
                path: path.clone(),
                stamp,
                outcome: FileOutcome::Skipped,
                reason: Some(reason.clone()),
                detail: None,
                sop_instance_uid: None,
            })?;
            return Ok(Outcome::Skipped {
                file: SkippedFile { path, reason },
                removed: previous.is_some(),
            });
        }
        Parsed::Read {
            record,
            header,
            identity,
        } => (record, header, identity),
    };
    let uid = record.sop_instance_uid.clone();
    let file_record = |outcome, detail: Option<String>| FileRecord {
        path: path.clone(),
        stamp: record.stamp,
        outcome,
        reason: None,
        detail,
        sop_instance_uid: Some(uid.clone()),
    };
    match tx.instance_by_sop(&uid)? {
        Some(existing) if existing.source_path != path => {
            // Another file already holds this SOP Instance UID: same bytes is a harmless
            // copy, anything else is a conflict a person must resolve.
            if let Some(previous) = &previous {
                tx.delete_instance(previous.id)?;
            }
            let existing_hash = match existing.content_hash {
                Some(hash) => Some(hash),
                None => content_hash(&existing.source_path).ok().inspect(|hash| {
                    let _ = tx.set_content_hash(existing.id, hash);
                }),
            };
            let this_hash = content_hash(&path).ok();
            let same = existing_hash.is_some() && existing_hash == this_hash;
            if same {
                let detail = format!("same content as {}", existing.source_path.display());
                tx.record_file(&file_record(FileOutcome::Duplicate, Some(detail.clone())))?;
                return Ok(Outcome::Duplicate(FileNote {
                    path,
                    detail,
                    kept: Some(existing.source_path),
                }));
            }
            if policy == UidConflict::KeepAll {
                // Indexed beside the other, under a key of its own: the UID and a digest of
                // its content (stable across ingests; the header read by the rules then
                // has a UID of its own, see `header::decode_instance`).
                let digest = this_hash.map(hex::encode).unwrap_or_else(|| {
                    hex::encode(<sha2::Sha256 as sha2::Digest>::digest(
                        path.to_string_lossy().as_bytes(),
                    ))
                });
                let mut copy = (*record).clone();
                copy.sop_instance_uid = format!("{uid}#{}", &digest[..12]);
                if let Some(other) = tx.instance_by_sop(&copy.sop_instance_uid)?
                    && other.source_path != path
                {
                    // A byte-identical copy of a copy: one is enough.
                    let detail = format!("same content as {}", other.source_path.display());
                    tx.record_file(&file_record(FileOutcome::Duplicate, Some(detail.clone())))?;
                    return Ok(Outcome::Duplicate(FileNote {
                        path,
                        detail,
                        kept: Some(other.source_path),
                    }));
                }
                tx.insert_instance(&copy, &header, identity.as_deref())?;
                if had_record {
                    tx.forget_file(&path)?;
                }
                let detail = format!(
                    "SOP Instance UID {uid} is also indexed from {} with different content; both are kept, this one as an instance of its own with its own new UIDs (on_uid_conflict: keep_all)",
                    existing.source_path.display()
                );
                return Ok(Outcome::IndexedCopy(FileNote {
                    path: path.clone(),
                    detail,
                    kept: Some(path),
                }));
            }
            let newer = record.stamp.mtime_ns > existing.stamp.mtime_ns;
            if policy == UidConflict::KeepNewest && newer {
                // This copy replaces the one indexed, which becomes the conflict.
                let detail = format!(
                    "not indexed: SOP Instance UID {uid} is also in {}, modified later with different content, which is kept (on_uid_conflict: keep_newest)",
                    path.display()
                );
                tx.delete_instance(existing.id)?;
                tx.record_file(&FileRecord {
                    path: existing.source_path.clone(),
                    stamp: existing.stamp,
                    outcome: FileOutcome::Conflict,
                    reason: None,
                    detail: Some(detail.clone()),
                    sop_instance_uid: Some(uid.clone()),
                })?;
                tx.insert_instance(&record, &header, identity.as_deref())?;
                if had_record {
                    tx.forget_file(&path)?;
                }
                return Ok(Outcome::Conflict(FileNote {
                    path: existing.source_path,
                    detail,
                    kept: Some(path),
                }));
            }
            let why = match policy {
                UidConflict::KeepFirst => "indexed first",
                // keep_all returned above: this is the other two.
                UidConflict::KeepNewest | UidConflict::KeepAll => {
                    "modified at the same time or later"
                }
            };
            let detail = format!(
                "not indexed: SOP Instance UID {uid} is already indexed from {} with different content, which is kept ({why}; on_uid_conflict: {}; --on-uid-conflict keep-newest keeps the copy modified last, keep-all both)",
                existing.source_path.display(),
                policy.name()
            );
            tx.record_file(&file_record(FileOutcome::Conflict, Some(detail.clone())))?;
            Ok(Outcome::Conflict(FileNote {
                path,
                detail,
                kept: Some(existing.source_path),
            }))
        }
        existing => {
            // New, or this same file changed: (re)index it.
            let replaced = existing.is_some() || previous.is_some();
            for id in existing
                .iter()
                .map(|e| e.id)
                .chain(previous.iter().map(|p| p.id))
            {
                tx.delete_instance(id)?;
            }
            let guessed = record.syntax.guessed.is_some();
            tx.insert_instance(&record, &header, identity.as_deref())?;
            if had_record {
                tx.forget_file(&path)?;
            }
            Ok(Outcome::Indexed { replaced, guessed })
        }
    }
}

/// Reads one file's header; a panic inside a parser is a skipped file, never a crash.
fn parse(path: &Path) -> Parsed {
    let attempt = std::panic::catch_unwind(|| {
        let source = read_source(path)?;
        let record = InstanceRecord::from_parsed(path.to_path_buf(), &source)
            .ok_or(SkipReason::MissingSopInstanceUid)?;
        let (parsed, header) = source
            .into_header_blob()
            .map_err(|e| SkipReason::Unencodable {
                detail: e.to_string(),
            })?;
        let facts = crate::header::as_rules_read(&parsed, crate::identity::IdentityFacts::of);
        // Facts that do not serialize are not kept: the identity pass then decodes this
        // instance's original, as it always could.
        let identity = serde_json::to_vec(&facts).ok();
        Ok::<_, SkipReason>((record, header, identity))
    });
    match attempt {
        Ok(Ok((record, header, identity))) => Parsed::Read {
            record: Box::new(record),
            header,
            identity,
        },
        Ok(Err(reason)) => Parsed::Failed(reason),
        Err(_) => Parsed::Failed(SkipReason::Malformed {
            detail: "the DICOM parser failed on this file".into(),
        }),
    }
}

fn join<T>(handle: std::thread::ScopedJoinHandle<'_, T>) -> Result<T> {
    handle.join().map_err(|_| GantryError::WorkerFailed {
        step: "parsing files",
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::{IdentifierSet, IdentityFacts};
    use crate::settings::ProfileOption;

    /// What ingest's `parse` keeps for the identity pass (taken from the header it has
    /// just parsed) is what the pass took from the stored original decoded, on every file
    /// of the synthetic dump and of the adversarial corpus (character sets, UN-encoded
    /// attributes, nested sequences, long values); and the identifiers made from it under
    /// every option are those `collect` makes from the decoded original.
    #[test]
    fn the_identity_facts_ingest_keeps_are_those_of_the_decoded_original() {
        let dir = tempfile::tempdir().unwrap();
        gantry_synth::generate(&dir.path().join("dump"), &gantry_synth::DumpSpec::default())
            .unwrap();
        gantry_synth::write_adversarial(&dir.path().join("adversarial")).unwrap();
        let options = [
            vec![],
            vec![ProfileOption::RetainInstitutionIdentity],
            vec![
                ProfileOption::RetainDeviceIdentity,
                ProfileOption::RetainInstitutionIdentity,
            ],
        ];
        let (mut compared, mut with_values) = (0, 0);
        for found in walk::Walk::new(vec![dir.path().to_path_buf()], false) {
            let Parsed::Read {
                header, identity, ..
            } = parse(&found.path)
            else {
                continue;
            };
            let kept: IdentityFacts =
                serde_json::from_slice(&identity.expect("facts that serialize")).unwrap();
            let decoded = crate::header::decode_original(&header).unwrap();
            assert!(kept.current());
            assert_eq!(
                kept,
                IdentityFacts::of(&decoded),
                "{}",
                found.path.display()
            );
            for options in &options {
                let (mut from_facts, mut collected) =
                    (IdentifierSet::default(), IdentifierSet::default());
                from_facts.add_values(&kept.values, options);
                collected.collect(&decoded, options);
                assert_eq!(from_facts, collected, "{}", found.path.display());
            }
            compared += 1;
            with_values += !kept.values.is_empty() as usize;
        }
        assert!(
            compared > 100 && with_values > 100,
            "{compared} files, {with_values} with identifiers"
        );
    }
}
