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
//! | 3 | config | [`Session::setup_config`], [`Session::load_config`] | `config` (skeleton, zone discovery, check) |
//! | 4 | audit | [`Session::audit`] | `audit`, on the shared `check` (findings and plan from one decode) |
//! | 5 | seal | [`Session::preserve_identities`] (CLI `lock`) | `seal` |
//! | 6 | anonymize | [`Session::anonymize_metadata`] | `anonymize` |
//! | 7 | redact | [`Session::redact_pixels`] | `redact` |
//! | 8 | verify | [`Session::verify`] | `verify`, on the shared `check` (also export's gate) |
//! | 9 | export | [`Session::export`] | `export` (gate, layout, file writing) |
//!
//! `session` holds the state every checkpoint works on (the store, the config in force,
//! the secret, the sealing key, the thread pool); each checkpoint module adds its method
//! to [`Session`]. Between them sit `plan` (the identity pass and each instance's plan,
//! which seal and anonymize act on), `check` (the check of one instance at the audit or
//! verify stage), `risk` (the findings and their report) and `persist` (the pixel sidecar,
//! [`Session::compact`]). The leaves the checkpoints share never use a checkpoint:
//! `settings` (what a config says: profile, machine rules, options), `rules` and `engine`
//! (what each attribute gets, and applying it), `prepared` (what the identity pass
//! collects), `identity` (patient keys, identifiers and their echoes), `detect` (PHI in
//! free text), `pixels` (the pixel plan and its findings), `vr` (VR facts), `charset`,
//! `dates`, `pseudonym` (keyed pseudonyms, UIDs, date offsets) and `header` (tag paths,
//! decoding, [`decode_counts`]). No module uses one that uses it back: a test
//! (`tests/layout.rs`) reads the sources and fails on any import cycle, counting a call
//! of another module's `Session` method as a use. The identity pass decodes nothing:
//! ingest keeps, beside each header, what the pass takes from it (from the header it has
//! just parsed). The audit decodes each original header once and stores a plan per
//! instance: the de-identified header and the originals to seal, with the basis they were
//! made on, and what verify needs of the original (the rules' findings in that header
//! checked against it, and its UIDs). Seal and anonymize act on it, in the same process or
//! a later one, and derive afresh only an instance whose plan is stale; verify decodes the
//! header export writes once and the original not at all, unless the plan no longer
//! stands for it.
//!
//! # Beyond one machine
//!
//! [`SessionBuilder::shard`] makes a session one [`Shard`] of a dump partitioned by a
//! keyed hash of the patient (module `shard`, a leaf ingest uses; it also holds the
//! [`DatasetDescription`] every export writes as `dataset.json`). Shards exchange their
//! identifiers ([`Session::export_identities`], [`Session::import_identities`]; module
//! `peers`, read by the identity pass in `plan`) so free text is checked against every
//! patient of the run, and [`merge_shards`] (module `merge`, after `export`) joins their
//! exports into the dataset a single run writes.
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
//! session.anonymize_metadata()?;
//! session.redact_pixels()?;
//! assert!(session.verify()?.is_clean());
//! let export = session.export(dir.path().join("out")).run()?;
//! assert!(export.is_complete());
//! # Ok(())
//! # }
//! ```
#![deny(missing_docs)]

pub use anonymize::AnonymizeReport;
pub use audit::InstanceFindings;
pub use config::{ConfigCheck, DeviceAdvice, SkeletonReport};
pub use detect::PhiKind;
pub use engine::ElementFinding;
pub use error::{
    FileMismatch, GantryError, InstanceError, MergeError, PixelError, Result, SecretError,
};
pub use examine::{FileCounts, InstanceQuery, Inventory, LinkageConflict, ValueCount};
pub use export::{
    Blocked, DEFAULT_LAYOUT, Export, ExportReport, ExportSyntax, Overwrite, Stripping,
};
pub use gantry_crypto::{Credential, CryptoError, KeyFile};
pub use gantry_store::{
    DeviceCount, FileOutcome, InstanceRecord, PixelLocation, SkipReason, SourceStamp, write_private,
};
pub use header::{BadTagPath, DecodeCounts, TagPath, decode_counts};
pub use html::HtmlReport;
pub use identity::IdentifierKind;
pub use ingest::{FileNote, IngestReport, SkippedFile, UidConflict};
pub use merge::{MergeReport, MergedShard, merge_shards};
pub use persist::CompactReport;
pub use pixels::PixelSyntax;
pub use plan::{IdentitiesFile, IdentitiesImport};
pub use progress::{NoProgress, Progress};
pub use pseudonym::Secret;
pub use recover::{RecoveredFile, RecoveryFailure, RecoveryReport, recover_identities};
pub use redact::RedactReport;
pub use risk::{Finding, RiskReport, Stage, Unreadable};
pub use rules::{Planned, RuleSource};
pub use seal::SealReport;
pub use session::{Session, SessionBuilder};
pub use settings::{
    Action, ActionCode, BurnedInText, Condition, Config, ConfigError, DateJitter, DeviceMatch,
    InvalidValue, MachineRule, PatientLinkage, PixelPolicy, Profile, ProfileOption, ProfileRule,
    SafePrivate, TagKey, TagPattern, TagRule, UnlistedText, WAIVABLE_RULES, Waiver, Zone,
};
pub use shard::{BadShard, DATASET_FILE, DatasetDescription, MAX_SHARDS, Shard};
pub use show::{AttributePreview, ExportVerdict, InstancePreview, Outcome};
pub use waiver::WaivedFinding;

mod anonymize;
mod audit;
mod charset;
mod check;
pub mod config;
pub mod dates;
mod detect;
mod engine;
mod error;
mod examine;
mod export;
mod header;
mod html;
mod identity;
mod ingest;
mod merge;
mod peers;
mod persist;
mod pixels;
mod plan;
mod prepared;
mod progress;
mod pseudonym;
mod recover;
mod redact;
mod report;
mod risk;
mod rules;
mod seal;
mod session;
mod settings;
mod shard;
mod show;
mod verify;
mod vr;
mod waiver;
