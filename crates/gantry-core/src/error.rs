use std::path::PathBuf;

/// Everything that can stop a Gantry checkpoint.
///
/// A bad input file is not an error: it is recorded in the checkpoint's report with its
/// reason, and the batch goes on. These are the failures that stop the whole step.
#[derive(Debug, thiserror::Error)]
pub enum GantryError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] gantry_store::StoreError),
    /// A file or folder could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The path involved.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// An ingest root does not exist or cannot be read.
    #[error("cannot ingest {path}: {detail}")]
    IngestRoot {
        /// The folder or file given.
        path: PathBuf,
        /// Why it cannot be used.
        detail: String,
    },
    /// A key or sealed content could not be used.
    #[error(transparent)]
    Crypto(#[from] gantry_crypto::CryptoError),
    /// A configuration file is invalid.
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
    /// A step needs something an earlier step provides.
    #[error("{0}")]
    Order(String),
    /// A header stored in the database could not be decoded or re-encoded.
    #[error("instance {instance}: {detail}")]
    Header {
        /// The instance's SOP Instance UID.
        instance: String,
        /// What failed.
        detail: String,
    },
}

/// Gantry's result type.
pub type Result<T, E = GantryError> = std::result::Result<T, E>;
