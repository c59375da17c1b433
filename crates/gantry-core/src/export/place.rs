//! Putting a batch of written files in place: deciding, from what the database recorded
//! for the batch, what each file may do (be renamed, be adopted, be refused, replace or
//! remove an earlier one), then doing the file operations in parallel.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

use gantry_store::{ExportRecord, Store, StoredInstance};
use rayon::prelude::*;

use super::write::hash_file;
use super::{Blocked, ExportReport, Overwrite, Prepared};
use crate::error::{GantryError, Result};

/// A recorded change: a file written for an instance, or its record dropped.
pub(super) type Change = (i64, Option<ExportRecord>);

/// What one instance's file does.
enum Action {
    Block {
        reasons: Vec<String>,
        /// Its earlier file, which must not stay behind now that it is blocked.
        remove: Option<PathBuf>,
    },
    Place {
        tmp: PathBuf,
        target: PathBuf,
        sha256: String,
        /// The file there (if any) is this session's own earlier export of it.
        ours: bool,
        /// Its earlier file at another path.
        stale: Option<PathBuf>,
        record: ExportRecord,
    },
}

enum Done {
    Blocked { reasons: Vec<String>, removed: bool },
    Written(ExportRecord, bool),
    Unchanged(ExportRecord, bool),
    Refused(String),
}

/// Places a batch; returns its changes and the paths it claimed.
#[allow(clippy::too_many_arguments)]
pub(super) fn place_batch(
    store: &Store,
    out: &Path,
    batch: Vec<(StoredInstance, Prepared)>,
    claimed_before: &HashSet<PathBuf>,
    overwrite: Overwrite,
    safe: bool,
    pool: Option<&rayon::ThreadPool>,
    report: &mut ExportReport,
) -> Result<(Vec<Change>, HashSet<PathBuf>)> {
    let (Some(first), Some(last)) = (batch.first(), batch.last()) else {
        return Ok((Vec::new(), HashSet::new()));
    };
    let earlier: HashMap<i64, ExportRecord> = store
        .exports_between(out, first.0.record.id, last.0.record.id)?
        .into_iter()
        .map(|r| (r.instance_id, r))
        .collect();
    let written: Vec<&Path> = batch
        .iter()
        .filter_map(|(_, p)| match p {
            Prepared::Written { rel, .. } => Some(rel.as_path()),
            Prepared::Blocked(_) => None,
        })
        .collect();
    let owners = store.export_owners(out, &written)?;

    let mut claimed = HashSet::new();
    let mut actions = Vec::with_capacity(batch.len());
    for (stored, prepared) in batch {
        let id = stored.record.id;
        let earlier = earlier.get(&id);
        let action = match prepared {
            Prepared::Blocked(reasons) => Action::Block {
                reasons,
                remove: earlier.map(|e| out.join(&e.path)),
            },
            Prepared::Written {
                rel,
                tmp,
                sha256,
                size,
                sop_instance_uid,
                pixels,
                waived,
            } => {
                let taken = owners.get(&rel).is_some_and(|o| *o != id)
                    || claimed_before.contains(&rel)
                    || !claimed.insert(rel.clone());
                if taken {
                    let _ = std::fs::remove_file(&tmp);
                    Action::Block {
                        reasons: vec![format!(
                            "its output path {} is taken by another instance: use a layout that tells them apart",
                            rel.display()
                        )],
                        remove: None,
                    }
                } else {
                    Action::Place {
                        tmp,
                        target: out.join(&rel),
                        sha256: sha256.clone(),
                        ours: earlier.is_some_and(|e| e.path == rel),
                        stale: earlier.filter(|e| e.path != rel).map(|e| out.join(&e.path)),
                        record: ExportRecord {
                            instance_id: id,
                            path: rel,
                            sop_instance_uid,
                            sha256,
                            size,
                            safe,
                            pixels: pixels.to_string(),
                            waived,
                        },
                    }
                }
            }
        };
        actions.push((id, stored.record.source_path, action));
    }

    let run = || {
        actions
            .into_par_iter()
            .map(|(id, source, action)| (id, source, execute(action, overwrite)))
            .collect::<Vec<_>>()
    };
    let done = match pool {
        Some(pool) => pool.install(run),
        None => run(),
    };

    let mut changes = Vec::new();
    for (id, source_path, done) in done {
        report.instances += 1;
        let blocked = |reasons| Blocked {
            instance: id,
            source_path: source_path.clone(),
            reasons,
        };
        match done.map_err(|(path, source)| GantryError::Io { path, source })? {
            Done::Blocked { reasons, removed } => {
                if removed {
                    report.removed += 1;
                    changes.push((id, None));
                }
                report.blocked.push(blocked(reasons));
            }
            Done::Refused(rel) => report.blocked.push(blocked(vec![format!(
                "a different file already exists at {rel} (Overwrite::Replace replaces it)"
            )])),
            Done::Written(record, stale) => {
                report.written += 1;
                report.bytes += record.size;
                report.removed += stale as u64;
                report.note_waived(&record);
                changes.push((id, Some(record)));
            }
            Done::Unchanged(record, stale) => {
                report.unchanged += 1;
                report.removed += stale as u64;
                report.note_waived(&record);
                changes.push((id, Some(record)));
            }
        }
    }
    Ok((changes, claimed))
}

type IoFailure = (PathBuf, std::io::Error);

/// The file operations of one action.
fn execute(action: Action, overwrite: Overwrite) -> std::result::Result<Done, IoFailure> {
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |e| (path, e)
    };
    match action {
        Action::Block { reasons, remove } => {
            let removed = match remove {
                Some(path) => {
                    remove_if_present(&path).map_err(io(&path))?;
                    true
                }
                None => false,
            };
            Ok(Done::Blocked { reasons, removed })
        }
        Action::Place {
            tmp,
            target,
            sha256,
            ours,
            stale,
            record,
        } => {
            let mut unchanged = false;
            if target.exists() {
                if hash_file(&target).map_err(io(&target))? == sha256 {
                    unchanged = true;
                } else if !ours && overwrite == Overwrite::Refuse {
                    std::fs::remove_file(&tmp).map_err(io(&tmp))?;
                    return Ok(Done::Refused(record.path.display().to_string()));
                }
            }
            if unchanged {
                std::fs::remove_file(&tmp).map_err(io(&tmp))?;
            } else {
                std::fs::rename(&tmp, &target).map_err(io(&target))?;
            }
            let stale = match stale {
                Some(path) => {
                    remove_if_present(&path).map_err(io(&path))?;
                    true
                }
                None => false,
            };
            Ok(if unchanged {
                Done::Unchanged(record, stale)
            } else {
                Done::Written(record, stale)
            })
        }
    }
}

pub(super) fn remove_if_present(path: &Path) -> std::io::Result<()> {
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}
