use std::path::PathBuf;

use gantry_store::HeaderError;

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
    /// The database belongs to another shard than the one given.
    #[error("{} is the database of shard {stored}, not {given}: give each shard its own database", database.display())]
    ShardMismatch {
        /// The database.
        database: PathBuf,
        /// The shard it was opened as first (`i/N`).
        stored: String,
        /// The shard asked for now.
        given: String,
    },
    /// A database that already indexed the whole dump cannot become one shard of it.
    #[error("{} already indexed instances as the whole dump; shard {shard} needs a database of its own", database.display())]
    ShardOfWholeDatabase {
        /// The database.
        database: PathBuf,
        /// The shard asked for.
        shard: String,
    },
    /// A shard of several needs the project secret every shard shares.
    #[error(
        "shard {shard} needs the project secret all shards share (--secret-file FILE, or \
         SessionBuilder::secret): a random one would partition and pseudonymize differently"
    )]
    ShardNeedsSecret {
        /// The shard asked for.
        shard: String,
    },
    /// A shard cannot audit before it has every other shard's identifiers.
    #[error(
        "shard {shard} has not imported the identifiers of shard(s) {}: run `gantry identities FILE` \
         in each of them after ingest, then give the files to this one with --identities \
         (names and IDs of other shards' patients echoed in this shard's free text are found \
         only so)",
        missing.iter().map(u32::to_string).collect::<Vec<_>>().join(", ")
    )]
    MissingPeerIdentities {
        /// This shard.
        shard: String,
        /// The shards whose identifiers are missing.
        missing: Vec<u32>,
    },
    /// An identifiers file of another shard cannot be used.
    #[error("{}: {detail}", path.display())]
    PeerIdentities {
        /// The file.
        path: PathBuf,
        /// Why it cannot be used.
        detail: String,
    },
    /// An export folder holds another session's export.
    #[error(
        "{} holds {detail}: export each shard and each run to a folder of its own",
        out.display()
    )]
    AnothersExport {
        /// The folder.
        out: PathBuf,
        /// Whose export it holds.
        detail: String,
    },
    /// Shards cannot be merged.
    #[error(transparent)]
    Merge(Box<MergeError>),
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
    Config(#[from] ConfigError),
    /// A step needs a configuration and none was loaded or stored with the session.
    #[error(
        "no configuration loaded: run `gantry config init FILE`, review it, then load it \
         (Session::load_config or --config)"
    )]
    NoConfig,
    /// A step acts on an audit and none was run on this database.
    #[error("no audit has been run on this database: run `gantry audit` first")]
    NoAudit,
    /// A step that acts on an audit was given a verify report.
    #[error("this step needs the report of an audit, not of a verify")]
    NotAnAudit,
    /// The audit a step was given was made with another configuration or secret.
    #[error("{changed} changed since this audit: run `gantry audit` again")]
    StaleAudit {
        /// What changed: the configuration (and where it was loaded from), or the secret.
        changed: String,
    },
    /// A report stored in the database cannot be read back.
    #[error("the stored {stage} report is unreadable: {source}")]
    StoredReport {
        /// The stage whose report it is.
        stage: &'static str,
        /// What the parser reported.
        #[source]
        source: serde_json::Error,
    },
    /// Sealing was asked for without a key.
    #[error(
        "preserve_identities needs a key: call enable_reversible_anonymization first \
         (gantry lock --key FILE)"
    )]
    NoSealingKey,
    /// A key was offered with an empty password.
    #[error("an empty password protects nothing")]
    EmptyPassword,
    /// A project secret cannot be used.
    #[error("{0}")]
    Secret(#[from] SecretError),
    /// A file Gantry writes only when it is new already exists.
    #[error("{} already exists; not overwriting it (use --force to replace it)", path.display())]
    Exists {
        /// The file.
        path: PathBuf,
    },
    /// An export layout template is invalid.
    #[error("export layout {layout:?}: {detail}")]
    Layout {
        /// The template given.
        layout: String,
        /// What is wrong with it.
        detail: String,
    },
    /// No instance of the session has this SOP Instance UID or source path.
    #[error(
        "no ingested instance has the SOP Instance UID or source path {selector:?} \
         (`gantry examine` lists what was ingested)"
    )]
    NoSuchInstance {
        /// What was asked for.
        selector: String,
    },
    /// An instance could not be previewed (its header cannot be read or de-identified).
    #[error("instance {instance} cannot be previewed: {source}")]
    Preview {
        /// The instance's row id.
        instance: i64,
        /// Why.
        #[source]
        source: InstanceError,
    },
    /// The worker threads could not be started.
    #[error("cannot start {threads} threads: {source}")]
    Threads {
        /// How many were asked for.
        threads: usize,
        /// What rayon reported.
        #[source]
        source: rayon::ThreadPoolBuildError,
    },
    /// A worker thread panicked in the middle of a step, so the step's results are
    /// incomplete; nothing it had committed is lost.
    #[error("a worker thread failed while {step}")]
    WorkerFailed {
        /// What the thread was doing.
        step: &'static str,
    },
}

/// Why a project secret cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SecretError {
    /// The operating system gave no randomness for a new secret.
    #[error("no randomness for a project secret: {0}")]
    NoRandomness(String),
    /// A secret given as text is not 64 hexadecimal digits.
    #[error("a project secret is 64 hexadecimal digits")]
    NotHex,
    /// The secret stored in the database is not 32 bytes.
    #[error("the stored project secret is damaged (not 32 bytes)")]
    Damaged,
    /// The database already holds another secret.
    #[error("{} already has a different project secret; its pseudonyms would not match", database.display())]
    Different {
        /// The database.
        database: PathBuf,
    },
}

/// Gantry's result type.
pub type Result<T, E = GantryError> = std::result::Result<T, E>;

/// A configuration file is invalid; the message names the key, and the line where the
/// parser knows it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}{}: {message}", path.display(), line.map(|l| format!(":{l}")).unwrap_or_default())]
pub struct ConfigError {
    /// The file.
    pub path: PathBuf,
    /// The line of the offending key or value, when known.
    pub line: Option<usize>,
    /// What is wrong, with the path of the key (`machines[0].redaction_zones[1]: ...`).
    pub message: String,
}

/// Why one instance could not go through a step. It is recorded with the instance (as its
/// finding, its failure or its block in the export report) and never stops the batch.
#[derive(Debug, thiserror::Error)]
pub enum InstanceError {
    /// The original header stored at ingest cannot be decoded.
    #[error("stored header cannot be decoded: {0}")]
    Original(HeaderError),
    /// The de-identified header cannot be decoded.
    #[error("de-identified header cannot be decoded: {0}")]
    Deidentified(HeaderError),
    /// Something else stored with the instance cannot be decoded.
    #[error("the {what} cannot be decoded: {source}")]
    Decode {
        /// What it is.
        what: &'static str,
        /// What the decoder reported.
        source: HeaderError,
    },
    /// A header a step made cannot be encoded.
    #[error("the {what} cannot be encoded: {source}")]
    Encode {
        /// What it is.
        what: &'static str,
        /// What the encoder reported.
        source: HeaderError,
    },
    /// The waived findings stored with verify's verdict cannot be read (the verdict is
    /// then not used: the instance is blocked until verify runs again).
    #[error("the waived findings stored by verify cannot be read ({0}): run verify again")]
    StoredWaivers(String),
    /// The identity pass has no identity for the instance's patient.
    #[error("patient identity was not collected")]
    PatientNotCollected,
    /// The instance has no plan made on the current basis, and none could be derived.
    #[error("no current plan: run audit again")]
    NoPlan,
    /// Reversible anonymization is on and the instance's originals are not sealed.
    #[error(
        "originals are not sealed (reversible anonymization is on): run preserve_identities first"
    )]
    NotSealed,
    /// The originals are sealed for another key than the session's.
    #[error(
        "originals are sealed for key {sealed}, not for the session's key {session}: run preserve_identities"
    )]
    SealedForAnotherKey {
        /// The key the seal is for.
        sealed: String,
        /// The session's key.
        session: String,
    },
    /// The seal holds other originals than the current plan changes.
    #[error(
        "the sealed originals are stale (the rules changed since sealing): run preserve_identities again"
    )]
    StaleSeal,
    /// The originals could not be sealed.
    #[error("the originals cannot be sealed: {0}")]
    Seal(#[source] gantry_crypto::CryptoError),
}

/// Why the pixels of an instance cannot be read as native samples.
#[derive(Debug, thiserror::Error)]
pub enum PixelError {
    /// The instance has no Pixel Data element.
    #[error("the instance has no pixel data")]
    NoPixelData,
    /// Redacted pixels are stored, and the sidecar that holds them is not open.
    #[error("the pixel sidecar is not open")]
    NoSidecar,
    /// The source file's pixel value cannot be opened (gone, changed since ingest).
    #[error(transparent)]
    Open(gantry_store::StoreError),
    /// The source file's pixel value cannot be read.
    #[error("{}: {source}", path.display())]
    Read {
        /// The source file.
        path: PathBuf,
        /// What the operating system reported.
        #[source]
        source: std::io::Error,
    },
    /// The redacted pixels cannot be read from the sidecar.
    #[error(transparent)]
    Sidecar(gantry_store::StoreError),
    /// An encapsulated value's items cannot be split.
    #[error(transparent)]
    Fragments(#[from] gantry_store::FragmentError),
    /// The geometry or the codec refused the pixels.
    #[error(transparent)]
    Codec(#[from] gantry_redact::RedactError),
    /// A header stored with the instance (its original, the attributes describing its
    /// redacted pixels) cannot be read or written.
    #[error(transparent)]
    Instance(#[from] InstanceError),
    /// A compressed stream cannot be walked to remove what decoding does not need.
    #[error("the compressed stream cannot be cleaned: {0}")]
    Strip(#[source] gantry_redact::RedactError),
    /// The file being exported cannot be written.
    #[error(transparent)]
    Write(std::io::Error),
    /// This build has no decoder for the pixels' transfer syntax.
    #[error("pixel data in transfer syntax {syntax} cannot be decoded by this build")]
    Undecodable {
        /// The transfer syntax UID.
        syntax: String,
    },
    /// The text detector could not search the pixels.
    #[error("the pixels cannot be searched for burned-in text: {0}")]
    Search(#[source] gantry_redact::RedactError),
    /// The stored record of a redaction cannot be read, or a new one written.
    #[error("the redaction record cannot be {action}: {source}")]
    Record {
        /// `read` or `serialized`.
        action: &'static str,
        /// What serde reported.
        #[source]
        source: serde_json::Error,
    },
    /// Another thread panicked while holding the pixel sidecar.
    #[error("the pixel sidecar lock was poisoned")]
    SidecarLock,
}

/// How a file differs from its line in a shard's manifest.
#[derive(Debug, thiserror::Error)]
pub enum FileMismatch {
    /// It cannot be read (missing, no permission).
    #[error("it cannot be read: {0}")]
    Unreadable(#[from] std::io::Error),
    /// It is a link, a folder or a device, not a regular file.
    #[error("it is not a regular file")]
    NotRegular,
    /// Its size differs.
    #[error("it has {found} bytes, not {listed}")]
    Size {
        /// Its size now.
        found: u64,
        /// The size listed.
        listed: u64,
    },
    /// Its content differs.
    #[error("its SHA-256 is {found}, not {listed} (changed since its export)")]
    Digest {
        /// Its digest now (hex).
        found: String,
        /// The digest listed (hex).
        listed: String,
    },
}

/// Why shards cannot be merged; each names the shards' folders involved.
#[derive(Debug, thiserror::Error)]
pub enum MergeError {
    /// A folder is not the export of a shard.
    #[error("{}: not the export of a shard ({detail})", dir.display())]
    NotAShard {
        /// The folder given.
        dir: PathBuf,
        /// What is wrong with its `dataset.json`.
        detail: String,
    },
    /// Two shards disagree on something every shard of one dump shares.
    #[error(
        "{} and {} were made with different {what} ({first} and {second}): they are not shards of one run",
        first_dir.display(), second_dir.display()
    )]
    Differ {
        /// What differs: the secret, the configuration, ...
        what: &'static str,
        /// The one folder.
        first_dir: PathBuf,
        /// Its value.
        first: String,
        /// The other folder.
        second_dir: PathBuf,
        /// Its value.
        second: String,
    },
    /// One shard was given twice.
    #[error("shard {shard} is given twice: {} and {}", first.display(), second.display())]
    SameShard {
        /// The shard (`i/N`).
        shard: String,
        /// Its first folder.
        first: PathBuf,
        /// The other.
        second: PathBuf,
    },
    /// Shards are missing.
    #[error(
        "shard(s) {} of {count} missing: merge them all (re-run the failed tasks first; each resumes from its database)",
        missing.iter().map(u32::to_string).collect::<Vec<_>>().join(", ")
    )]
    Missing {
        /// How many shards the dump was split into.
        count: u32,
        /// The ones not given.
        missing: Vec<u32>,
    },
    /// One patient is in two shards: the partition was not one.
    #[error(
        "one patient (digest {digest}) is in {} and in {}: they were not partitioned together",
        first.display(), second.display()
    )]
    Patient {
        /// The patient's keyed digest.
        digest: String,
        /// One shard's folder.
        first: PathBuf,
        /// The other.
        second: PathBuf,
    },
    /// One new SOP Instance UID is in two shards (two files of different patients held one
    /// original UID).
    #[error(
        "SOP Instance UID {uid} is in {} and in {}: two different patients' files held one original UID (resolve the conflict, then run those shards again)",
        first.display(), second.display()
    )]
    Uid {
        /// The UID written.
        uid: String,
        /// One shard's folder.
        first: PathBuf,
        /// The other.
        second: PathBuf,
    },
    /// One path is in two shards.
    #[error("{} is in {} and in {}", path.display(), first.display(), second.display())]
    Path {
        /// The path, relative to the folders.
        path: PathBuf,
        /// One shard's folder.
        first: PathBuf,
        /// The other.
        second: PathBuf,
    },
    /// A manifest cannot be read as Gantry writes one.
    #[error("{}:{line}: {detail}", manifest.display())]
    Manifest {
        /// The manifest.
        manifest: PathBuf,
        /// The line.
        line: u64,
        /// What is wrong.
        detail: String,
    },
    /// A file a manifest lists is not there as listed.
    #[error("{}: listed in its shard's manifest, but {detail}", path.display())]
    File {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        detail: FileMismatch,
    },
    /// The output folder holds something a merge did not put there.
    #[error(
        "{} is not empty and holds no earlier merge: merge into a new folder",
        out.display()
    )]
    OutNotEmpty {
        /// The folder.
        out: PathBuf,
    },
    /// A file already at an output path has other content.
    #[error("{} already exists with other content", path.display())]
    Exists {
        /// The file.
        path: PathBuf,
    },
    /// No shard was given.
    #[error("no shard to merge")]
    Nothing,
}

impl From<MergeError> for GantryError {
    fn from(error: MergeError) -> Self {
        GantryError::Merge(Box::new(error))
    }
}
