//! Checkpoint 4, audit: every trace of identity the config and the standard name, in
//! every instance, at every depth. It runs the check of `crate::check` at the audit stage,
//! which also makes each instance's plan (`crate::plan`) from the same decode.

use crate::risk::{RiskReport, Stage};

use crate::error::{GantryError, Result};
use crate::session::Session;

impl Session {
    /// Checkpoint 4: finds every PHI risk in the ingested headers. The findings are stored
    /// per instance; the report holds the counts and examples.
    pub fn audit(&mut self) -> Result<RiskReport> {
        let prepared = self.prepare()?;
        self.check(Stage::Audit, &prepared)
    }

    /// The newest audit of this session, as stored (its examples are not kept): what a
    /// later process (the CLI's `anonymize`, `lock`) acts on.
    pub fn last_audit(&self) -> Result<RiskReport> {
        let (id, json) = self
            .store
            .latest_report(Stage::Audit.as_str())?
            .ok_or(GantryError::NoAudit)?;
        let mut report: RiskReport =
            serde_json::from_str(&json).map_err(|source| GantryError::StoredReport {
                stage: Stage::Audit.as_str(),
                source,
            })?;
        report.id = id;
        Ok(report)
    }
}
