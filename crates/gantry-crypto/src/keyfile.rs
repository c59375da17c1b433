//! Key files: a 128-bit key-encryption key and its identifier, owner-only on disk.
//!
//! The format is three lines of text, so that the key can be handed to standard tools
//! (`openssl cms -decrypt -secretkey KEY -secretkeyid ID`) without a converter:
//!
//! ```text
//! gantry-key-v1
//! id 4f1c...   (16 bytes, hex)
//! key 9a3e...  (16 bytes, hex)
//! ```

use std::fmt;
use std::fs::OpenOptions;
use std::io::{Read, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use rand_core::{OsRng, RngCore};
use zeroize::Zeroizing;

use crate::error::{CryptoError, Result};

const MAGIC: &str = "gantry-key-v1";

/// A key-encryption key (AES-128) with its identifier, loaded from a key file.
///
/// The key never appears in `Debug` output, and Gantry never writes it into any output.
#[derive(Clone)]
pub struct KeyFile {
    path: PathBuf,
    id: [u8; 16],
    key: Zeroizing<[u8; 16]>,
}

impl fmt::Debug for KeyFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyFile")
            .field("path", &self.path)
            .field("id", &self.id_hex())
            .finish_non_exhaustive()
    }
}

impl KeyFile {
    /// Creates a new random key at `path`, readable and writable by its owner only
    /// (mode 0600). Refuses to replace an existing file.
    pub fn create(path: impl AsRef<Path>) -> Result<KeyFile> {
        let path = path.as_ref().to_path_buf();
        let mut id = [0u8; 16];
        let mut key = Zeroizing::new([0u8; 16]);
        OsRng
            .try_fill_bytes(&mut id)
            .and_then(|_| OsRng.try_fill_bytes(key.as_mut()))
            .map_err(|e| CryptoError::Random(e.to_string()))?;
        let io = |source| CryptoError::Io {
            path: path.clone(),
            source,
        };
        let mut file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)
            .map_err(|e| {
                if e.kind() == std::io::ErrorKind::AlreadyExists {
                    CryptoError::KeyFileExists(path.clone())
                } else {
                    io(e)
                }
            })?;
        let text = Zeroizing::new(format!(
            "{MAGIC}\nid {}\nkey {}\n",
            hex::encode(id),
            hex::encode(key.as_ref())
        ));
        file.write_all(text.as_bytes()).map_err(io)?;
        file.sync_all().map_err(io)?;
        Ok(KeyFile { path, id, key })
    }

    /// Opens and validates the key file at `path`. A file that other users can read is
    /// refused, as ssh refuses a private key they can read.
    pub fn open(path: impl AsRef<Path>) -> Result<KeyFile> {
        let path = path.as_ref().to_path_buf();
        let io = |source| CryptoError::Io {
            path: path.clone(),
            source,
        };
        let mut file = match OpenOptions::new().read(true).open(&path) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(CryptoError::KeyFileMissing(path));
            }
            other => other.map_err(io)?,
        };
        let mode = file.metadata().map_err(io)?.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            return Err(CryptoError::KeyFilePermissions { path, mode });
        }
        let mut text = Zeroizing::new(String::new());
        // A key file is three short lines; anything large is not one.
        (&mut file)
            .take(4096)
            .read_to_string(&mut text)
            .map_err(|e| CryptoError::KeyFileFormat {
                path: path.clone(),
                detail: format!("not text ({e})"),
            })?;
        let format = |detail: &str| CryptoError::KeyFileFormat {
            path: path.clone(),
            detail: detail.to_string(),
        };
        let mut lines = text.lines().map(str::trim).filter(|l| !l.is_empty());
        if lines.next() != Some(MAGIC) {
            return Err(format("the first line is not `gantry-key-v1`"));
        }
        let (mut id, mut key) = (None, None);
        for line in lines {
            let (name, value) = line
                .split_once(' ')
                .ok_or_else(|| format("a line is not `name value`"))?;
            let bytes: [u8; 16] = hex::decode(value.trim())
                .ok()
                .and_then(|b| b.try_into().ok())
                .ok_or_else(|| format(&format!("`{name}` is not 32 hexadecimal digits")))?;
            match name {
                "id" if id.is_none() => id = Some(bytes),
                "key" if key.is_none() => key = Some(Zeroizing::new(bytes)),
                "id" | "key" => return Err(format(&format!("`{name}` is given twice"))),
                other => return Err(format(&format!("unknown line `{other}`"))),
            }
        }
        Ok(KeyFile {
            id: id.ok_or_else(|| format("no `id` line"))?,
            key: key.ok_or_else(|| format("no `key` line"))?,
            path,
        })
    }

    /// Opens the key file at `path`, creating a new key there if there is no file.
    pub fn create_or_open(path: impl AsRef<Path>) -> Result<KeyFile> {
        match KeyFile::create(&path) {
            Err(CryptoError::KeyFileExists(_)) => KeyFile::open(path),
            other => other,
        }
    }

    /// The file the key was read from or written to.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The key identifier (not secret), as hex: the `-secretkeyid` of `openssl cms`.
    pub fn id_hex(&self) -> String {
        hex::encode(self.id)
    }

    /// The key identifier's bytes.
    pub fn id(&self) -> &[u8; 16] {
        &self.id
    }

    /// The secret key as hex: the `-secretkey` of `openssl cms`. Handle with care.
    pub fn secret_hex(&self) -> Zeroizing<String> {
        Zeroizing::new(hex::encode(self.key.as_ref()))
    }

    pub(crate) fn key(&self) -> &[u8; 16] {
        &self.key
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn created_key_is_owner_only_and_reopens() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("master.key");
        let key = KeyFile::create(&path).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let again = KeyFile::open(&path).unwrap();
        assert_eq!(again.id(), key.id());
        assert_eq!(again.key(), key.key());
        assert!(!format!("{key:?}").contains(key.secret_hex().as_str()));
    }

    #[test]
    fn an_existing_key_is_never_overwritten() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("master.key");
        let first = KeyFile::create(&path).unwrap();
        assert!(matches!(
            KeyFile::create(&path),
            Err(CryptoError::KeyFileExists(_))
        ));
        assert_eq!(KeyFile::create_or_open(&path).unwrap().id(), first.id());
    }

    #[test]
    fn bad_key_files_are_refused_with_their_reason() {
        let dir = tempfile::tempdir().unwrap();
        let cases: &[(&str, &str)] = &[
            ("hello\n", "first line"),
            ("gantry-key-v1\nid 00\nkey 00\n", "32 hexadecimal"),
            (
                "gantry-key-v1\nid 000102030405060708090a0b0c0d0e0f\n",
                "no `key`",
            ),
            (
                "gantry-key-v1\nkey 000102030405060708090a0b0c0d0e0f\nkey 000102030405060708090a0b0c0d0e0f\n",
                "twice",
            ),
        ];
        for (i, (text, expected)) in cases.iter().enumerate() {
            let path = dir.path().join(format!("k{i}"));
            std::fs::write(&path, text).unwrap();
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
            let err = KeyFile::open(&path).unwrap_err().to_string();
            assert!(err.contains(expected), "{text:?}: {err}");
        }
        let open = dir.path().join("open");
        KeyFile::create(&open).unwrap();
        std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o644)).unwrap();
        assert!(matches!(
            KeyFile::open(&open),
            Err(CryptoError::KeyFilePermissions { mode: 0o644, .. })
        ));
    }
}
