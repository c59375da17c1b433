//! Checkpoint 8, verify: the audit of the de-identified headers, plus checks that trust
//! nothing anonymize did: every rule satisfied again, no original UID left, no identifier
//! of the patient (or of anyone in the session) in any text or byte of the header, the
//! seal present, and the pixels searched again after redaction. It runs the check of
//! `crate::check` at the verify stage; the same check is export's safe gate, which trusts
//! a verdict only for the very inputs verify found clean.
//!
//! The rules' comparison of the de-identified header with the original is made once, at
//! audit, on the header the plan holds, from audit's decode of the original. Verify takes
//! it only for a header that is the plan's byte for byte (the seal aside), made on the
//! current config, secret, instances and identities, and checks the rest afresh: the
//! attributes redaction laid over it, markers, original UIDs, the independent scan, the
//! seal and the pixels. Anything else is checked from a new decode of the original.

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
