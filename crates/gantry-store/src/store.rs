//! The SQLite database: opening and locking it, transactions, and the `meta` table. The
//! reads and writes of each table are in the module named after it (`files`,
//! `instances`, `findings`, `derived`), each adding its methods to [`Store`] and
//! [`StoreTx`].

use std::fs::{File, TryLockError};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use rusqlite::{Connection, OptionalExtension, Row, params};

use crate::columns::Columns;
use crate::error::{Result, StoreError};
use crate::schema::{self, MigrateError, SCHEMA_VERSION};

/// The Gantry database: one SQLite file in WAL mode, held by one process at a time.
///
/// All writes go through [`Store::write`], which runs a closure in one transaction, so a
/// batch lands whole or not at all.
pub struct Store {
    pub(crate) conn: Connection,
    pub(crate) path: PathBuf,
    // Held for the store's lifetime, and dropped after `conn`: the OS releases the lock
    // when the process dies, so a killed run never leaves the database locked.
    _lock: (File, File),
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").field("path", &self.path).finish()
    }
}

impl Store {
    /// Opens (creating if needed) the database at `path`, takes its lock, and migrates
    /// the schema.
    ///
    /// The database is named by its real path ([`crate::canonical_path`]), so every link
    /// to it shares its lock and sidecar. A new database (and its WAL, SHM and lock files)
    /// is created owner-only; an existing one that others can read is refused.
    pub fn open(path: impl AsRef<Path>) -> Result<Store> {
        let given = path.as_ref();
        let path = crate::private::canonical_path(given).map_err(|source| StoreError::Io {
            path: given.to_path_buf(),
            source,
        })?;
        let lock = take_lock(&path)?;
        let db_err = |source| StoreError::Database {
            path: path.clone(),
            source,
        };
        let mut conn = Connection::open(&path).map_err(db_err)?;
        conn.execute_batch(
            "PRAGMA journal_mode = WAL;
             PRAGMA synchronous = NORMAL;
             PRAGMA foreign_keys = ON;
             PRAGMA busy_timeout = 5000;
             PRAGMA cache_size = -16384;
             PRAGMA wal_autocheckpoint = 16384;",
        )
        .map_err(db_err)?;
        match schema::migrate(&mut conn) {
            Ok(_) => {}
            Err(MigrateError::TooNew(found)) => {
                return Err(StoreError::SchemaTooNew {
                    path,
                    found,
                    supported: SCHEMA_VERSION,
                });
            }
            Err(MigrateError::Sql(e)) => return Err(db_err(e)),
        }
        Ok(Store {
            conn,
            path,
            _lock: lock,
        })
    }

    /// The rows of a query without parameters, each mapped by `f` (given the query's
    /// columns, to read them by name).
    pub(crate) fn pairs<T>(
        &self,
        sql: &str,
        mut f: impl FnMut(&Columns, &Row<'_>) -> rusqlite::Result<T>,
    ) -> Result<Vec<T>> {
        let mut stmt = self.conn.prepare_cached(sql).map_err(self.db_err())?;
        let c = Columns::of(&stmt);
        let rows = stmt
            .query_map([], |row| f(&c, row))
            .map_err(self.db_err())?;
        rows.collect::<rusqlite::Result<_>>().map_err(self.db_err())
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    pub(crate) fn db_err(&self) -> impl Fn(rusqlite::Error) -> StoreError + '_ {
        move |source| StoreError::Database {
            path: self.path.clone(),
            source,
        }
    }

    /// Runs `f` in one transaction; it commits when `f` returns `Ok`.
    pub fn write<T>(&mut self, f: impl FnOnce(&StoreTx<'_>) -> Result<T>) -> Result<T> {
        let path = self.path.clone();
        let db_err = |source| StoreError::Database {
            path: path.clone(),
            source,
        };
        let tx = self.conn.transaction().map_err(db_err)?;
        let out = f(&StoreTx {
            tx: &tx,
            path: &path,
        })?;
        tx.commit().map_err(db_err)?;
        Ok(out)
    }

    /// A value from the key/value table.
    pub fn meta_get(&self, key: &str) -> Result<Option<Vec<u8>>> {
        self.conn
            .query_row("SELECT value FROM meta WHERE key = ?1", [key], |r| r.get(0))
            .optional()
            .map_err(self.db_err())
    }

    /// Sets a value in the key/value table (its own transaction).
    pub fn meta_set(&mut self, key: &str, value: &[u8]) -> Result<()> {
        self.write(|tx| tx.meta_set(key, value))
    }

    /// SQLite's own consistency check; `"ok"` when the file is sound.
    pub fn integrity_check(&self) -> Result<String> {
        self.conn
            .query_row("PRAGMA integrity_check", [], |r| r.get(0))
            .map_err(self.db_err())
    }

    /// Writes the WAL into the main file, so the database is one self-contained file.
    pub fn checkpoint(&self) -> Result<()> {
        self.conn
            .execute_batch("PRAGMA wal_checkpoint(TRUNCATE);")
            .map_err(self.db_err())
    }
}

/// The writes of one transaction; see [`Store::write`].
pub struct StoreTx<'a> {
    pub(crate) tx: &'a rusqlite::Transaction<'a>,
    pub(crate) path: &'a Path,
}

impl StoreTx<'_> {
    pub(crate) fn db_err(&self) -> impl Fn(rusqlite::Error) -> StoreError + '_ {
        move |source| StoreError::Database {
            path: self.path.to_path_buf(),
            source,
        }
    }

    /// Sets a value in the key/value table.
    pub fn meta_set(&self, key: &str, value: &[u8]) -> Result<()> {
        self.tx
            .prepare_cached("INSERT OR REPLACE INTO meta (key, value) VALUES (?1, ?2)")
            .and_then(|mut s| s.execute(params![key, value]))
            .map_err(self.db_err())?;
        Ok(())
    }
}

pub(crate) fn hash_from_sql(bytes: Option<Vec<u8>>) -> Option<[u8; 32]> {
    bytes.and_then(|b| b.try_into().ok())
}

pub(crate) fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// Marks a path stored by its bytes: a NUL never occurs in a path, so no UTF-8 path
/// stored as itself starts with it.
const RAW_PATH: &str = "\0raw:";

/// A path as stored: itself when it is UTF-8; otherwise (a Latin-1 name from an old
/// archive, say) its bytes in hex behind [`RAW_PATH`], so that two names differing only in
/// bytes that are not UTF-8 stay two, and the file can be opened again.
pub(crate) fn path_text(path: &Path) -> String {
    if let Some(text) = path.to_str() {
        return text.to_string();
    }
    #[cfg(unix)]
    {
        use std::fmt::Write;
        use std::os::unix::ffi::OsStrExt;
        let mut out = String::from(RAW_PATH);
        for b in path.as_os_str().as_bytes() {
            let _ = write!(out, "{b:02x}");
        }
        out
    }
    #[cfg(not(unix))]
    {
        path.to_string_lossy().into_owned()
    }
}

/// The path a stored text names (the inverse of [`path_text`]).
pub(crate) fn path_from_text(text: String) -> PathBuf {
    #[cfg(unix)]
    if let Some(hex) = text.strip_prefix(RAW_PATH) {
        use std::os::unix::ffi::OsStringExt;
        let bytes: Option<Vec<u8>> = (0..hex.len())
            .step_by(2)
            .map(|i| {
                hex.get(i..i + 2)
                    .and_then(|h| u8::from_str_radix(h, 16).ok())
            })
            .collect();
        if let Some(bytes) = bytes {
            return PathBuf::from(std::ffi::OsString::from_vec(bytes));
        }
    }
    PathBuf::from(text)
}

/// The files of a database besides the main one: what SQLite keeps beside it in WAL
/// mode, and the lock (with the holder's pid).
fn companions(db: &Path) -> [PathBuf; 3] {
    ["-wal", "-shm", ".lock"].map(|suffix| {
        let mut name = db.as_os_str().to_owned();
        name.push(suffix);
        PathBuf::from(name)
    })
}

/// Creates the database file owner-only if it is new, refuses it (and its companions)
/// when others can read it, and takes the lock: an exclusive `flock` on the database file
/// itself, so every name of the file (links, hard links) meets the same lock. SQLite's own
/// locks are POSIX record locks, which `flock` does not touch; the descriptor is closed
/// only after the connection (field order in [`Store`]), so SQLite's locks are never
/// dropped by its closing.
fn take_lock(db: &Path) -> Result<(File, File)> {
    let io_err = |path: &Path| {
        let path = path.to_path_buf();
        move |source| StoreError::Io {
            path: path.clone(),
            source,
        }
    };
    let file = crate::private::open_private(db).map_err(io_err(db))?;
    let [wal, shm, pid_path] = companions(db);
    for path in [db, &wal, &shm, &pid_path] {
        if let Some(mode) = crate::private::others_can_access(path).map_err(io_err(path))? {
            return Err(StoreError::NotPrivate {
                path: path.to_path_buf(),
                mode,
            });
        }
    }
    let mut pid_file = crate::private::open_private(&pid_path).map_err(io_err(&pid_path))?;
    match file.try_lock() {
        Ok(()) => {
            pid_file.set_len(0).map_err(io_err(&pid_path))?;
            write!(pid_file, "{}", std::process::id()).map_err(io_err(&pid_path))?;
            Ok((file, pid_file))
        }
        Err(TryLockError::WouldBlock) => {
            let mut holder = String::new();
            let _ = pid_file.read_to_string(&mut holder);
            let holder = holder.trim();
            Err(StoreError::Locked {
                path: db.to_path_buf(),
                holder: if holder.is_empty() {
                    String::new()
                } else {
                    format!(" (pid {holder})")
                },
            })
        }
        Err(TryLockError::Error(source)) => Err(io_err(db)(source)),
    }
}
