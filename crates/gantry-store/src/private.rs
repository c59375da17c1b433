//! Files that hold PHI: created owner-only whatever the umask, refused when others can
//! read them, and named by their real path whatever link names them.
//!
//! The database holds original headers and the project secret, the sidecar holds original
//! pixels, a recovered file holds a patient's identity: each is created 0600 (its folders
//! 0700 when Gantry makes them). The mode is set on the open descriptor after creation, so
//! neither a permissive umask (000) nor a restrictive one changes it.

use std::fs::{DirBuilder, File, OpenOptions};
use std::io;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Component, Path, PathBuf};

/// The mode of files that hold PHI.
pub const PRIVATE_FILE_MODE: u32 = 0o600;
/// The mode of folders Gantry creates for such files.
pub const PRIVATE_DIR_MODE: u32 = 0o700;

/// How many symbolic links [`canonical_path`] follows before it gives up (Linux's limit).
const MAX_LINKS: usize = 40;

/// Opens `path` for reading and writing, creating it owner-only (0600) if it is missing.
/// An existing file keeps its mode: the caller checks it with [`others_can_access`].
pub fn open_private(path: &Path) -> io::Result<File> {
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(PRIVATE_FILE_MODE)
        .open(path)?;
    // A new file is empty; an empty file with a wider mode is one we (or a crash right
    // after creation) just made, and never held anything.
    let meta = file.metadata()?;
    if meta.len() == 0 && meta.permissions().mode() & 0o777 != PRIVATE_FILE_MODE {
        file.set_permissions(std::fs::Permissions::from_mode(PRIVATE_FILE_MODE))?;
    }
    Ok(file)
}

/// Creates (truncating) `path` owner-only (0600) for writing, whatever the umask.
pub fn create_private(path: &Path) -> io::Result<File> {
    let file = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(PRIVATE_FILE_MODE)
        .open(path)?;
    file.set_permissions(std::fs::Permissions::from_mode(PRIVATE_FILE_MODE))?;
    Ok(file)
}

/// Writes `bytes` to a new owner-only file at `path` (replacing what was there).
pub fn write_private(path: &Path, bytes: &[u8]) -> io::Result<()> {
    use std::io::Write;
    let mut file = create_private(path)?;
    file.write_all(bytes)?;
    file.sync_all()
}

/// Creates `dir` and its missing parents, each new folder owner-only (0700) whatever the
/// umask. Folders that exist keep their mode.
pub fn create_private_dir_all(dir: &Path) -> io::Result<()> {
    if dir.as_os_str().is_empty() || dir.is_dir() {
        return Ok(());
    }
    if let Some(parent) = dir.parent() {
        create_private_dir_all(parent)?;
    }
    match DirBuilder::new().mode(PRIVATE_DIR_MODE).create(dir) {
        Ok(()) => std::fs::set_permissions(dir, std::fs::Permissions::from_mode(PRIVATE_DIR_MODE)),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists && dir.is_dir() => Ok(()),
        Err(e) => Err(e),
    }
}

/// The permission bits of `path` when its group or others may access it; `None` when it
/// is owner-only or does not exist.
pub fn others_can_access(path: &Path) -> io::Result<Option<u32>> {
    match std::fs::metadata(path) {
        Ok(meta) => {
            let mode = meta.permissions().mode() & 0o777;
            Ok((mode & 0o077 != 0).then_some(mode))
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

/// The real path of `path`: absolute, every symbolic link resolved, dangling ones too (a
/// link to a database not yet created names the file SQLite would create). Two names of
/// one file give one path, so the lock and the sidecar follow the file, not the name.
pub fn canonical_path(path: &Path) -> io::Result<PathBuf> {
    let mut current = std::path::absolute(path)?;
    for _ in 0..MAX_LINKS {
        match std::fs::symlink_metadata(&current) {
            Ok(meta) if meta.file_type().is_symlink() => {
                let target = std::fs::read_link(&current)?;
                let base = current.parent().map(Path::to_path_buf).unwrap_or_default();
                current = lexical(&base.join(target));
            }
            Ok(_) => return std::fs::canonicalize(&current),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                // A file not created yet: its folder is real, its name is the last part.
                let name = current.file_name().map(ToOwned::to_owned).ok_or_else(|| {
                    io::Error::new(io::ErrorKind::InvalidInput, "a path without a file name")
                })?;
                let parent = current.parent().unwrap_or(Path::new("/"));
                return Ok(std::fs::canonicalize(parent)?.join(name));
            }
            Err(e) => return Err(e),
        }
    }
    Err(io::Error::new(
        io::ErrorKind::InvalidInput,
        format!("more than {MAX_LINKS} symbolic links"),
    ))
}

/// `..` and `.` removed without touching the file system (a link target's folder part is
/// resolved by the next round of [`canonical_path`]).
fn lexical(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for part in path.components() {
        match part {
            Component::ParentDir => {
                out.pop();
            }
            Component::CurDir => {}
            other => out.push(other),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_link_and_its_target_have_one_canonical_path() {
        let dir = tempfile::tempdir().unwrap();
        let real = dir.path().join("real.db");
        std::fs::write(&real, b"").unwrap();
        let link = dir.path().join("alias.db");
        std::os::unix::fs::symlink(&real, &link).unwrap();
        assert_eq!(
            canonical_path(&link).unwrap(),
            canonical_path(&real).unwrap()
        );
        // A dangling relative link names the file that would be created.
        let dangling = dir.path().join("later.db");
        std::os::unix::fs::symlink("sub/../new.db", &dangling).unwrap();
        assert_eq!(
            canonical_path(&dangling).unwrap(),
            std::fs::canonicalize(dir.path()).unwrap().join("new.db")
        );
    }

    #[test]
    fn a_link_loop_is_an_error_not_a_hang() {
        let dir = tempfile::tempdir().unwrap();
        let a = dir.path().join("a");
        let b = dir.path().join("b");
        std::os::unix::fs::symlink(&b, &a).unwrap();
        std::os::unix::fs::symlink(&a, &b).unwrap();
        assert!(canonical_path(&a).is_err());
    }
}
