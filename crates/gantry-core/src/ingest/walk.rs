//! The folder walk: every regular file under the roots, in file-name order.
//!
//! Written on `std::fs::read_dir` rather than walkdir because the file stamps come from
//! `DirEntry::metadata`, which stats relative to the open directory; walkdir re-resolves
//! each full path, and on a re-ingest (where nothing else happens) that path walk in the
//! kernel is most of the time. Symbolic links are followed while they stay inside the
//! roots; one that leads out of them is noted and skipped unless the caller allows it
//! (a dump must not pull in files nobody pointed Gantry at). Every real folder is walked
//! once, so neither a link loop nor two links to one folder can repeat a file. FIFOs,
//! devices and sockets are noted and skipped: reading one could block forever.

use std::collections::HashSet;
use std::fs;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

use gantry_store::SourceStamp;

use super::FileNote;

/// Why a symbolic link is not followed.
#[derive(Debug, thiserror::Error)]
enum Unfollowed {
    /// Its target cannot be resolved (it is dangling, or a loop).
    #[error("cannot follow: {0}")]
    Broken(std::io::Error),
    /// Its target lies outside every root, and links may not leave them.
    #[error(
        "symbolic link to {}, outside the ingest roots; not followed (allow with --follow-links)",
        target.display()
    )]
    Outside {
        /// Where it points.
        target: PathBuf,
    },
}

/// A regular file found by the walk, with its size and mtime.
pub(crate) struct Found {
    pub path: PathBuf,
    pub stamp: SourceStamp,
}

/// Depth-first walk, yielding files and noting what it could not enter.
pub(crate) struct Walk {
    /// Folders still to read, last to be read first, with their (device, inode).
    pending: Vec<(PathBuf, (u64, u64))>,
    /// Files of the folder being read, in reverse name order (popped from the end).
    files: Vec<Found>,
    /// (device, inode) of every folder entered.
    entered: HashSet<(u64, u64)>,
    /// Folders and links that could not be used, with why.
    pub problems: Vec<FileNote>,
    /// The roots (canonical), which links may not leave unless `follow_links`.
    roots: Vec<PathBuf>,
    follow_links: bool,
}

/// What a path that is neither a regular file nor a folder is, for the note.
fn kind_of(kind: fs::FileType) -> &'static str {
    if kind.is_fifo() {
        "a FIFO (named pipe)"
    } else if kind.is_socket() {
        "a socket"
    } else if kind.is_block_device() {
        "a block device"
    } else if kind.is_char_device() {
        "a character device"
    } else {
        "neither a file nor a folder"
    }
}

impl Walk {
    pub(crate) fn new(roots: Vec<PathBuf>, follow_links: bool) -> Walk {
        let mut walk = Walk {
            pending: Vec::new(),
            files: Vec::new(),
            entered: HashSet::new(),
            problems: Vec::new(),
            roots: roots.clone(),
            follow_links,
        };
        let mut root_files = Vec::new();
        for root in roots.into_iter().rev() {
            match fs::metadata(&root) {
                Ok(meta) if meta.is_dir() => walk.pending.push((root, (meta.dev(), meta.ino()))),
                Ok(meta) if meta.is_file() => root_files.push(Found {
                    stamp: SourceStamp::of(&meta),
                    path: root,
                }),
                Ok(meta) => walk.note(
                    root,
                    format!("{}, not a regular file; skipped", kind_of(meta.file_type())),
                ),
                Err(e) => walk.note(root, e.to_string()),
            }
        }
        walk.files = root_files;
        walk
    }

    /// Whether the link at `path` may be followed: its target lies inside a root, or
    /// links are allowed to leave them. The error is the note to record.
    fn link_target(&self, path: &Path) -> Result<(), Unfollowed> {
        if self.follow_links {
            return Ok(());
        }
        let target = fs::canonicalize(path).map_err(Unfollowed::Broken)?;
        if self.roots.iter().any(|root| target.starts_with(root)) {
            Ok(())
        } else {
            Err(Unfollowed::Outside { target })
        }
    }

    fn note(&mut self, path: PathBuf, detail: String) {
        self.problems.push(FileNote {
            path,
            detail,
            kept: None,
        });
    }

    /// Reads the next pending folder: its files go to `files`, its folders to `pending`.
    fn read_next_folder(&mut self) -> bool {
        let Some((dir, identity)) = self.pending.pop() else {
            return false;
        };
        if !self.entered.insert(identity) {
            self.note(
                dir,
                "folder already walked (a symbolic link loop or a second link to it); not followed"
                    .into(),
            );
            return true;
        }
        let entries = match fs::read_dir(&dir) {
            Ok(entries) => entries,
            Err(e) => {
                self.note(dir, e.to_string());
                return true;
            }
        };
        let mut entries: Vec<fs::DirEntry> = entries
            .filter_map(|e| match e {
                Ok(e) => Some(e),
                Err(err) => {
                    self.problems.push(FileNote {
                        path: dir.clone(),
                        detail: err.to_string(),
                        kept: None,
                    });
                    None
                }
            })
            .collect();
        entries.sort_by_cached_key(|e| e.file_name());
        let mut folders = Vec::new();
        for entry in &entries {
            let path = entry.path();
            let meta = match entry.file_type() {
                // Not a link: the entry's own metadata, stat'ed relative to the open folder.
                Ok(kind) if !kind.is_symlink() => entry.metadata(),
                Ok(_) => match self.link_target(&path) {
                    Ok(()) => fs::metadata(&path),
                    Err(note) => {
                        self.note(path, note.to_string());
                        continue;
                    }
                },
                Err(e) => Err(e),
            };
            match meta {
                Ok(meta) if meta.is_file() => self.files.push(Found {
                    path,
                    stamp: SourceStamp::of(&meta),
                }),
                Ok(meta) if meta.is_dir() => folders.push((path, (meta.dev(), meta.ino()))),
                Ok(meta) => self.note(
                    path,
                    format!("{}, not a regular file; skipped", kind_of(meta.file_type())),
                ),
                Err(e) => self.note(path, format!("cannot follow: {e}")),
            }
        }
        self.files.reverse();
        self.pending.extend(folders.into_iter().rev());
        true
    }
}

impl Iterator for Walk {
    type Item = Found;

    fn next(&mut self) -> Option<Found> {
        loop {
            if let Some(found) = self.files.pop() {
                return Some(found);
            }
            if !self.read_next_folder() {
                return None;
            }
        }
    }
}
