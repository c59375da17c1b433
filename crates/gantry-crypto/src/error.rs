use std::path::PathBuf;

/// Everything that can go wrong with keys and sealed identities.
///
/// The variants tell apart what a user must act on differently: the wrong key, the wrong
/// password, content that was altered, and a file that is not a Gantry key.
#[derive(Debug, thiserror::Error)]
pub enum CryptoError {
    /// A key file could not be read or written.
    #[error("key file {path}: {source}")]
    Io {
        /// The key file.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// The key file named does not exist.
    #[error(
        "key file {} does not exist: create one with `gantry keygen {}` (and keep it apart from the data)",
        .0.display(), .0.display()
    )]
    KeyFileMissing(PathBuf),
    /// Creating a key file would replace an existing one.
    #[error(
        "key file {0} already exists; refusing to overwrite it (the identities sealed with it could never be recovered)"
    )]
    KeyFileExists(PathBuf),
    /// A key file is not in the Gantry format.
    #[error("key file {path} is not a Gantry key file: {detail}")]
    KeyFileFormat {
        /// The key file.
        path: PathBuf,
        /// What is wrong with it.
        detail: String,
    },
    /// A key file can be read by other users.
    #[error(
        "key file {path} is readable by other users (mode {mode:04o}); run `chmod 600 {path}` first"
    )]
    KeyFilePermissions {
        /// The key file.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
    /// The envelope was sealed for other keys than the one given.
    #[error("sealed for key {sealed_for}, not for this key ({given})")]
    WrongKey {
        /// The key identifiers the envelope names.
        sealed_for: String,
        /// The identifier of the key given.
        given: String,
    },
    /// The key identifier matches but the key does not open the envelope.
    #[error("the key file's key does not open this envelope (same key id, different key)")]
    KeyMismatch,
    /// The password does not open the envelope.
    #[error("wrong password: it does not open any password recipient of this envelope")]
    WrongPassword,
    /// The envelope has no recipient of the kind of credential given.
    #[error("this envelope has no {0} recipient")]
    NoRecipient(&'static str),
    /// The encrypted content was altered after it was sealed.
    #[error("the sealed content was altered: {0}")]
    Tampered(String),
    /// The bytes are not a CMS EnvelopedData Gantry can open.
    #[error("not a usable CMS EnvelopedData: {0}")]
    Envelope(String),
    /// An algorithm this build does not implement.
    #[error("unsupported algorithm {0}")]
    Unsupported(String),
    /// The decrypted content is not a Modified Attributes Sequence.
    #[error("the decrypted content is not a Modified Attributes Sequence: {0}")]
    Content(String),
    /// The Encrypted Attributes item is missing something.
    #[error("Encrypted Attributes item: {0}")]
    Item(String),
    /// No randomness from the operating system.
    #[error("no randomness from the operating system: {0}")]
    Random(String),
}

/// The crate's result type.
pub type Result<T, E = CryptoError> = std::result::Result<T, E>;

impl From<der::Error> for CryptoError {
    fn from(e: der::Error) -> Self {
        CryptoError::Envelope(e.to_string())
    }
}
