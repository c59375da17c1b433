//! Gantry's pipeline: from a raw dump of DICOM files to a dataset that is safe to share.
//!
//! A [`Session`] holds one database and runs the nine checkpoints against it, each
//! returning a typed report that prints as a table and serializes as JSON:
//! [`Session::ingest`] indexes a folder tree ([`IngestReport`]), [`Session::examine`] takes
//! the inventory ([`Inventory`]), [`Session::setup_config`] / [`Session::load_config`]
//! write and read the [`Config`], [`Session::audit`] finds every identity trace
//! ([`RiskReport`]), [`Session::preserve_identities`] seals the originals ([`SealReport`]),
//! [`Session::anonymize_metadata`] ([`AnonymizeReport`]) and [`Session::redact_pixels`]
//! ([`RedactReport`]) remove them, [`Session::verify`] audits the result again, and
//! [`Session::export`] writes what passes its safe gate ([`ExportReport`]).
//! [`recover_identities`] opens the sealed originals for authorised people. Long
//! operations report to a [`Progress`].
//!
//! # Where each checkpoint lives
//!
//! | # | checkpoint | method | module |
//! |---|------------|--------|--------|
//! | 1 | ingest | [`Session::ingest`] | `ingest` (walk, parse, index) |
//! | 2 | examine | [`Session::examine`] | `examine` |
//! | 3 | config | [`Session::setup_config`], [`Session::load_config`] | `config` (skeleton, profile, machine rules, check) |
//! | 4 | audit | [`Session::audit`] | `audit` (findings), `plan` (what seal and anonymize act on) |
//! | 5 | seal | [`Session::preserve_identities`] (CLI `lock`) | `seal` |
//! | 6 | anonymize | [`Session::anonymize_metadata`] | `anonymize` |
//! | 7 | redact | [`Session::redact_pixels`] | `redact`, `pixels` (pixel plan, findings) |
//! | 8 | verify | [`Session::verify`] | `verify` (on the check `audit` defines; also export's gate) |
//! | 9 | export | [`Session::export`] | `export` (gate, layout, file writing) |
//!
//! Leaves the checkpoints share: `rules` and `engine` (what each attribute gets and
//! applying it), `identity` (patient keys, identifiers and their echoes), `detect` (PHI in
//! free text), `charset`, `dates`, `pseudonym` (keyed pseudonyms, UIDs, date offsets) and
//! `header` (tag paths, decoding, [`decode_counts`]). The audit decodes each original
//! header once (after the identity pass) and stores a plan per instance: the
//! de-identified header and the originals to seal, with the basis they were made on.
//! Seal and anonymize act on it, in the same process or a later one, and derive afresh
//! only an instance whose plan is stale.
//!
//! ```
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # let dir = tempfile::tempdir()?;
//! # let dump = gantry_synth::generate(&dir.path().join("dump"), &gantry_synth::DumpSpec::default())?;
//! let mut session = gantry_core::Session::builder()
//!     .database(dir.path().join("gantry.db"))
//!     .open()?;
//! let report = session.ingest(&dump.root)?;
//! assert!(report.skipped.iter().any(|f| f.reason.code() == "truncated"));
//! let inventory = session.examine()?;
//! assert_eq!(inventory.patients, 6);
//!
//! // Rules for the devices that burn text into their images.
//! let config = dir.path().join("config.yaml");
//! std::fs::write(&config, format!("version: \"2.0\"\n{}", dump.machine_rules()))?;
//! session.load_config(&config)?;
//! let audit = session.audit()?;
//! assert!(!audit.is_clean());
//! session.anonymize_metadata(&audit)?;
//! session.redact_pixels()?;
//! assert!(session.verify()?.is_clean());
//! let export = session.export(dir.path().join("out")).run()?;
//! assert!(export.is_complete());
//! # Ok(())
//! # }
//! ```
#![deny(missing_docs)]

pub use anonymize::AnonymizeReport;
pub use audit::{Finding, RiskReport, Stage, Unreadable};
pub use config::{
    Action, ActionCode, BurnedInText, Condition, Config, ConfigCheck, ConfigError, DateJitter,
    DeviceAdvice, DeviceMatch, MachineRule, PatientLinkage, PixelPolicy, Profile, ProfileOption,
    ProfileRule, SafePrivate, SkeletonReport, TagKey, TagPattern, TagRule, UnlistedText, Zone,
};
pub use detect::PhiKind;
pub use engine::ElementFinding;
pub use error::{GantryError, Result};
pub use examine::{FileCounts, InstanceQuery, Inventory, LinkageConflict, ValueCount};
pub use export::{
    Blocked, DEFAULT_LAYOUT, Export, ExportReport, ExportSyntax, Overwrite, Stripping,
};
pub use gantry_crypto::{Credential, CryptoError, KeyFile};
pub use gantry_store::{
    DeviceCount, FileOutcome, InstanceRecord, PixelLocation, SkipReason, SourceStamp, write_private,
};
pub use header::{DecodeCounts, TagPath, decode_counts};
pub use identity::IdentifierKind;
pub use ingest::{FileNote, IngestReport, SkippedFile};
pub use persist::CompactReport;
pub use pixels::PixelSyntax;
pub use progress::{NoProgress, Progress};
pub use pseudonym::Secret;
pub use recover::{RecoveredFile, RecoveryFailure, RecoveryReport, recover_identities};
pub use redact::RedactReport;
pub use rules::{Planned, RuleSource};
pub use seal::SealReport;
pub use session::{Session, SessionBuilder};

mod anonymize;
mod audit;
mod charset;
pub mod config;
pub mod dates;
mod detect;
mod engine;
mod error;
mod examine;
mod export;
mod header;
mod identity;
mod ingest;
mod persist;
mod pixels;
mod plan;
mod progress;
mod pseudonym;
mod recover;
mod redact;
mod report;
mod rules;
mod seal;
mod session;
mod verify;
