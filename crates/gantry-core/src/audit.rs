//! Checkpoint 4, audit: every trace of identity the config and the standard name, in
//! every instance, at every depth. It runs the check of `crate::check` at the audit stage,
//! which also makes each instance's plan (`crate::plan`) from the same decode.

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;

use serde::Serialize;

use crate::engine::ElementFinding;
use crate::error::{GantryError, Result};
use crate::risk::{RiskReport, Stage, block_reason};
use crate::rules::Planned;
use crate::session::Session;

/// One instance's findings at a stage, as `gantry audit --instances` lists them: what
/// will be done to it, and what export will refuse unless the config changes (never a
/// value).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct InstanceFindings {
    /// The instance's row id.
    pub instance: i64,
    /// The file it was indexed from.
    #[serde(serialize_with = "crate::report::path_text")]
    pub source_path: PathBuf,
    /// Its findings.
    pub findings: u64,
    /// Findings per action (`remove`, `pseudonym`, `redact pixels`, ...).
    pub by_action: BTreeMap<String, u64>,
    /// Findings no action resolves (`block`), each with its place, rule and fix.
    pub blocks: Vec<String>,
}

impl fmt::Display for InstanceFindings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let actions: Vec<String> = self
            .by_action
            .iter()
            .map(|(action, n)| format!("{action} {n}"))
            .collect();
        writeln!(
            f,
            "{}: {} findings ({})",
            self.source_path.display(),
            self.findings,
            actions.join(", ")
        )?;
        for block in &self.blocks {
            writeln!(f, "  blocks: {block}")?;
        }
        Ok(())
    }
}

impl Session {
    /// Checkpoint 4: finds every PHI risk in the ingested headers. The findings are stored
    /// per instance; the report holds the counts and examples.
    pub fn audit(&mut self) -> Result<RiskReport> {
        let prepared = self.prepare()?;
        self.check(Stage::Audit, &prepared)
    }

    /// Calls `each` with every instance's findings at `stage`, in row order, a page at a
    /// time (memory does not grow with the dump); returns how many instances it listed.
    /// An instance that could not be checked has its reason as its one block.
    pub fn for_each_instance_findings(
        &self,
        stage: Stage,
        mut each: impl FnMut(InstanceFindings),
    ) -> Result<u64> {
        let mut after = 0;
        let mut listed = 0;
        loop {
            let page = self.store.findings_after(stage.as_str(), after, 512)?;
            let Some(last) = page.last() else { break };
            after = last.0;
            for (instance, source_path, count, json) in page {
                let mut entry = InstanceFindings {
                    instance,
                    source_path,
                    findings: count,
                    by_action: BTreeMap::new(),
                    blocks: Vec::new(),
                };
                match serde_json::from_str::<Vec<ElementFinding>>(&json) {
                    Ok(findings) => {
                        for finding in &findings {
                            *entry
                                .by_action
                                .entry(finding.action.label().to_string())
                                .or_default() += 1;
                            if finding.action == Planned::Block {
                                entry.blocks.push(block_reason(finding));
                            }
                        }
                    }
                    // What could not be checked is stored as its reason.
                    Err(_) => match serde_json::from_str::<Vec<String>>(&json) {
                        Ok(reasons) => entry.blocks = reasons,
                        Err(e) => entry.blocks = vec![format!("stored findings unreadable: {e}")],
                    },
                }
                listed += 1;
                each(entry);
            }
        }
        Ok(listed)
    }

    /// The newest audit of this session, as stored (its examples are not kept): what a
    /// later process (the CLI's `anonymize`, `lock`) acts on.
    pub fn last_audit(&self) -> Result<RiskReport> {
        self.stored_report(Stage::Audit)?
            .ok_or(GantryError::NoAudit)
    }

    /// The newest report of `stage` as stored (without its examples), if that stage ran.
    pub(crate) fn stored_report(&self, stage: Stage) -> Result<Option<RiskReport>> {
        let Some((id, json)) = self.store.latest_report(stage.as_str())? else {
            return Ok(None);
        };
        let mut report: RiskReport =
            serde_json::from_str(&json).map_err(|source| GantryError::StoredReport {
                stage: stage.as_str(),
                source,
            })?;
        report.id = id;
        Ok(Some(report))
    }
}
