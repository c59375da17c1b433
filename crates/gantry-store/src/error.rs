use std::path::PathBuf;

/// Everything that can go wrong in the store.
///
/// Each variant names the file, database or instance involved, so the message alone tells
/// a user what to look at.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database file could not be opened or queried.
    #[error("database {path}: {source}")]
    Database {
        /// The database file.
        path: PathBuf,
        /// What SQLite said.
        #[source]
        source: rusqlite::Error,
    },
    /// Another process holds the database.
    #[error(
        "database {path} is in use by another gantry process{holder}; wait for it to finish or use another --db"
    )]
    Locked {
        /// The database file.
        path: PathBuf,
        /// A description of the holder (" (pid N)"), when it could be read.
        holder: String,
    },
    /// A database file (or its WAL, SHM, lock or pixel sidecar) that others can read: it
    /// holds original headers, pixels and the project secret, so it is not opened.
    #[error(
        "{path} can be read by other users (mode {mode:03o}) but holds PHI; run `chmod 600 {path}` and try again"
    )]
    NotPrivate {
        /// The file.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
    /// The database was written by a newer Gantry.
    #[error(
        "database {path} has schema version {found}, newer than this Gantry understands ({supported})"
    )]
    SchemaTooNew {
        /// The database file.
        path: PathBuf,
        /// The version found in the file.
        found: i64,
        /// The newest version this build knows.
        supported: i64,
    },
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file involved.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// A source file could not be parsed as DICOM.
    #[error("{path}: {reason}")]
    Source {
        /// The source file.
        path: PathBuf,
        /// Why it was not readable.
        reason: crate::reason::SkipReason,
    },
    /// The source file changed after it was indexed, so its recorded pixel location is stale.
    #[error(
        "{path} changed since it was indexed (size {indexed_size} → {size}); ingest it again before reading its pixels"
    )]
    SourceChanged {
        /// The source file.
        path: PathBuf,
        /// The size recorded at ingest.
        indexed_size: u64,
        /// The size now.
        size: u64,
    },
    /// A header blob could not be encoded or decoded.
    #[error("header of instance {instance}: {detail}")]
    Header {
        /// The SOP Instance UID or row id of the instance.
        instance: String,
        /// What failed.
        detail: String,
    },
    /// A pixel sidecar record is damaged or its address is wrong.
    #[error("pixel sidecar {path} at offset {offset}: {detail}")]
    Sidecar {
        /// The sidecar file.
        path: PathBuf,
        /// The record's address.
        offset: u64,
        /// What is wrong with it.
        detail: String,
    },
    /// A row the caller asked for does not exist.
    #[error("no instance with id {0} in the store")]
    NoSuchInstance(i64),
    /// A value to store (a report, findings, a pixel location) could not be serialized.
    #[error("{what} cannot be serialized: {source}")]
    Serialize {
        /// What was being stored.
        what: &'static str,
        /// What serde said.
        #[source]
        source: serde_json::Error,
    },
}

impl StoreError {
    /// `value` as JSON, or the error that says what could not be stored.
    pub fn json<T: serde::Serialize + ?Sized>(what: &'static str, value: &T) -> Result<String> {
        serde_json::to_string(value).map_err(|source| StoreError::Serialize { what, source })
    }
}

/// The store's result type.
pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// A header blob that cannot be decoded: bytes that are not what [`crate::encode_header`]
/// wrote (damaged in the database, or written by another version).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{detail}")]
pub struct HeaderError {
    /// What the decoder reported, with its causes.
    pub detail: String,
}

/// An encapsulated pixel value whose items cannot be split into fragments.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FragmentError {
    /// An item claims more bytes than the value holds.
    #[error("fragment at byte {at} overruns the value")]
    Overrun {
        /// Where the item starts.
        at: usize,
    },
    /// Something other than an item or the sequence delimiter.
    #[error("unexpected ({group:04X},{element:04X}) at byte {at}")]
    Unexpected {
        /// Its group.
        group: u16,
        /// Its element.
        element: u16,
        /// Where it starts.
        at: usize,
    },
    /// The value ends without its sequence delimiter.
    #[error("encapsulated pixel data has no sequence delimiter")]
    NoDelimiter,
}
