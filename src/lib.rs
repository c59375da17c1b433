//! Gantry: curate, de-identify and redact DICOM data.
//!
//! Point a [`Session`] at a raw dump of imaging files; it indexes them, shows what is
//! there, finds every trace of patient identity, seals the originals, removes or
//! pseudonymizes the rest, blanks burned-in text, verifies and exports through a safe gate.
//! Every checkpoint's result is durable in the session's database, so work can stop and
//! resume.
//!
//! This crate is the facade: it re-exports the public API of `gantry-core`.
//!
//! ```no_run
//! # fn main() -> Result<(), gantry::GantryError> {
//! let mut session = gantry::Session::builder().database("gantry.db").open()?;
//! println!("{}", session.ingest("./raw_hospital_dump/2023_Q1")?);
//! println!("{}", session.examine()?);
//! session.load_config("privacy_config.yaml")?;
//! let audit = session.audit()?;
//! session.anonymize_metadata()?;
//! session.redact_pixels()?;
//! println!("{}", session.verify()?); // the export's gate blocks what is not clean
//! println!("{}", session.export("./clean_dataset_v1").run()?);
//! # Ok(())
//! # }
//! ```
#![deny(missing_docs)]

pub use gantry_core::*;

/// The README's examples, run as doctests: the quick start works as written.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
