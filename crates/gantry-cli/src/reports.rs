//! What the CLI prints beyond the library's reports: its errors, the key file it made or
//! opened, the synthetic dump it wrote, and `run`'s nine reports together.

use std::fmt;
use std::path::{Path, PathBuf};

use serde::Serialize;

/// Why a command could not run (exit code 2).
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// The library stopped the step.
    #[error(transparent)]
    Gantry(#[from] gantry::GantryError),
    /// A key could not be used.
    #[error(transparent)]
    Crypto(#[from] gantry::CryptoError),
    /// A file given on the command line could not be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// What the system said.
        #[source]
        source: std::io::Error,
    },
    /// A `--secret-file` does not hold a secret.
    #[error("{}: {source}", path.display())]
    Secret {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        #[source]
        source: gantry::GantryError,
    },
    /// A password file whose first line is empty.
    #[error("{}: the first line is empty; it must hold the password", .0.display())]
    EmptyPassword(PathBuf),
    /// `recover` was given neither a key nor a password.
    #[error("recover needs --key FILE or --password-file FILE")]
    NoCredential,
    /// A command that works on ingested data, without a database.
    #[error(
        "no database at {}: run `gantry ingest FOLDER` first (or name another with --db)",
        .0.display()
    )]
    NoDatabase(PathBuf),
    /// A report could not be written as JSON.
    #[error("cannot write the report as JSON: {0}")]
    Json(#[from] serde_json::Error),
    /// `gantry secret` does not overwrite.
    #[error("{} already exists; not overwriting a project secret", .0.display())]
    SecretExists(PathBuf),
    /// The synthetic dump could not be written.
    #[error(transparent)]
    Synth(#[from] gantry_synth::SynthError),
}

/// The project secret file `gantry secret` wrote.
#[derive(Debug, Serialize)]
pub struct SecretReport {
    /// The file.
    pub file: PathBuf,
    /// The secret's fingerprint (as `dataset.json` names it; reveals nothing of it).
    pub fingerprint: String,
}

impl fmt::Display for SecretReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "created the project secret {} (fingerprint {}, mode 0600): give it to every shard \
             and machine of the run with --secret-file; whoever holds it can link pseudonyms \
             to identities they guess",
            self.file.display(),
            self.fingerprint
        )
    }
}

/// The key file a command made or opened.
#[derive(Debug, Serialize)]
pub struct KeyReport {
    /// The file.
    pub file: PathBuf,
    /// Its key identifier (not secret).
    pub key_id: String,
    /// Whether this command created it.
    pub created: bool,
}

impl KeyReport {
    pub fn of(key: &gantry::KeyFile, created: bool) -> KeyReport {
        KeyReport {
            file: key.path().to_path_buf(),
            key_id: key.id_hex(),
            created,
        }
    }
}

impl fmt::Display for KeyReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.created {
            writeln!(
                f,
                "created a new key file {} (key {}, mode 0600): keep it apart from the data; \
                 without it the sealed identities cannot be recovered",
                self.file.display(),
                self.key_id
            )
        } else {
            writeln!(
                f,
                "sealing for key {} from {}",
                self.key_id,
                self.file.display()
            )
        }
    }
}

/// What `synth` wrote.
#[derive(Debug, Serialize)]
pub struct SynthReport {
    /// The folder.
    pub out: PathBuf,
    /// Instances written.
    pub instances: usize,
    /// Patients.
    pub patients: usize,
    /// Junk files (not DICOM, truncated, ...).
    pub junk: usize,
    /// Where the machine rules were written, if asked.
    pub rules: Option<PathBuf>,
}

impl SynthReport {
    pub fn of(dump: &gantry_synth::SyntheticDump, rules: Option<&Path>) -> SynthReport {
        SynthReport {
            out: dump.root.clone(),
            instances: dump.instances.len(),
            patients: dump.patients.len(),
            junk: dump.junk.len(),
            rules: rules.map(Path::to_path_buf),
        }
    }
}

impl fmt::Display for SynthReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "wrote {} instances of {} patients and {} junk files to {}",
            self.instances,
            self.patients,
            self.junk,
            self.out.display()
        )?;
        if let Some(rules) = &self.rules {
            writeln!(f, "wrote the machine rules to {}", rules.display())?;
        }
        Ok(())
    }
}

/// The config `run` loaded, in numbers.
#[derive(Debug, Serialize)]
pub struct LoadedConfig {
    /// The file.
    pub file: PathBuf,
    /// Profile options.
    pub options: usize,
    /// `phi_tags` rules.
    pub tag_rules: usize,
    /// Machine rules.
    pub machines: usize,
}

impl LoadedConfig {
    pub fn of(file: &Path, config: &gantry::Config) -> LoadedConfig {
        LoadedConfig {
            file: file.to_path_buf(),
            options: config.options.len(),
            tag_rules: config.tag_rules.len(),
            machines: config.machines.len(),
        }
    }
}

/// The reports of checkpoints 1 to 9, as `run` made them.
#[derive(Debug, Serialize)]
pub struct RunReport {
    pub ingest: gantry::IngestReport,
    pub inventory: gantry::Inventory,
    pub config: LoadedConfig,
    pub audit: gantry::RiskReport,
    /// The key sealed for (`None`: identities are not recoverable).
    pub key: Option<KeyReport>,
    pub seal: Option<gantry::SealReport>,
    pub anonymize: gantry::AnonymizeReport,
    pub redact: gantry::RedactReport,
    pub verify: gantry::RiskReport,
    pub export: gantry::ExportReport,
}

impl fmt::Display for RunReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "== 1. ingest\n{}", self.ingest)?;
        writeln!(f, "== 2. examine\n{}", self.inventory)?;
        writeln!(
            f,
            "== 3. configure\n{} loaded: {} options, {} tag rules, {} machine rules\n",
            self.config.file.display(),
            self.config.options,
            self.config.tag_rules,
            self.config.machines
        )?;
        writeln!(f, "== 4. audit\n{}", self.audit)?;
        match (&self.key, &self.seal) {
            (Some(key), Some(seal)) => writeln!(f, "== 5. seal\n{key}{seal}")?,
            _ => writeln!(
                f,
                "== 5. seal\nskipped: no --key, identities are not recoverable\n"
            )?,
        }
        writeln!(f, "== 6. anonymize\n{}", self.anonymize)?;
        writeln!(f, "== 7. redact\n{}", self.redact)?;
        writeln!(f, "== 8. verify\n{}", self.verify)?;
        writeln!(f, "== 9. export\n{}", self.export)?;
        writeln!(
            f,
            "summary: {} files written, {} unchanged, {} blocked; verify {}",
            self.export.written,
            self.export.unchanged,
            self.export.blocked.len(),
            if self.verify.is_clean() {
                "clean"
            } else {
                "NOT clean (the gate blocked what was not)"
            }
        )
    }
}
