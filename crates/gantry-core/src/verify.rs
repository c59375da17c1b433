//! Checkpoint 8, verify: the audit of the de-identified headers, plus checks that trust
//! nothing anonymize did: every rule satisfied again, no original UID left, no identifier
//! of the patient (or of anyone in the session) in any text or byte of the header, the
//! seal present, and the pixels searched again after redaction. It runs the check of
//! `crate::check` at the verify stage; the same check is export's safe gate, which trusts
//! a verdict only for the very inputs verify found clean.

use crate::error::Result;
use crate::risk::{RiskReport, Stage};
use crate::session::Session;

impl Session {
    /// Checkpoint 8 (metadata): audits the de-identified headers again. Clean means every
    /// rule is satisfied, no original UID survives, and no identifier of the patient is
    /// found anywhere in the header's text or bytes.
    pub fn verify(&mut self) -> Result<RiskReport> {
        let prepared = self.prepare()?;
        self.check(Stage::Verify, &prepared)
    }
}
