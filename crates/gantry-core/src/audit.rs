//! Checkpoint 4, audit: every trace of identity the config and the standard name, in
//! every instance, at every depth. It runs the check of `crate::check` at the audit stage,
//! which also makes each instance's plan (`crate::plan`) from the same decode.

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;

use serde::Serialize;

use crate::engine::ElementFinding;
use crate::error::{GantryError, Result};
use crate::risk::{FindingsSummary, RiskReport, Stage};
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
                // Stored as their summary; by databases written before it, whole; and
                // what could not be checked, as its reason.
                let summary = serde_json::from_str::<FindingsSummary>(&json)
                    .or_else(|_| {
                        serde_json::from_str::<Vec<ElementFinding>>(&json)
                            .map(|findings| FindingsSummary::of(&findings))
                    })
                    .or_else(|_| {
                        serde_json::from_str::<Vec<String>>(&json).map(|blocks| FindingsSummary {
                            by_action: BTreeMap::new(),
                            blocks,
                        })
                    })
                    .unwrap_or_else(|e| FindingsSummary {
                        by_action: BTreeMap::new(),
                        blocks: vec![format!("stored findings unreadable: {e}")],
                    });
                listed += 1;
                each(InstanceFindings {
                    instance,
                    source_path,
                    findings: count,
                    by_action: summary.by_action,
                    blocks: summary.blocks,
                });
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::header::TagPath;
    use crate::rules::{Planned, RuleSource};

    /// An instance's findings are kept as their summary (counts per action, the reasons
    /// of those that block) and listed from it; rows a database written before holds, the
    /// findings whole or the reason an instance could not be checked, list the same.
    #[test]
    fn findings_are_listed_from_their_summary_and_from_rows_kept_before_it() {
        let dir = tempfile::tempdir().unwrap();
        let dump = gantry_synth::generate(
            &dir.path().join("dump"),
            &gantry_synth::DumpSpec::many_small_files(3),
        )
        .unwrap();
        let mut session = Session::builder()
            .database(dir.path().join("gantry.db"))
            .open()
            .unwrap();
        session.ingest(&dump.root).unwrap();
        std::fs::write(dir.path().join("config.yaml"), "version: \"2.0\"\n").unwrap();
        session.load_config(dir.path().join("config.yaml")).unwrap();
        session.audit().unwrap();
        let mut listed = Vec::new();
        session
            .for_each_instance_findings(Stage::Audit, |entry| listed.push(entry))
            .unwrap();
        assert!(!listed.is_empty());
        for entry in &listed {
            assert_eq!(entry.by_action.values().sum::<u64>(), entry.findings);
            let json = session
                .store
                .findings(entry.instance, Stage::Audit.as_str())
                .unwrap()
                .unwrap();
            assert!(json.len() < 400, "{} bytes kept: {json}", json.len());
        }

        let finding = |action: Planned| ElementFinding {
            path: TagPath::root(dicom_core::Tag(0x0010, 0x0010)),
            vr: "PN".into(),
            value: "Doe^Jane".into(),
            rule: RuleSource::IdentityMarker,
            action,
        };
        let whole = vec![
            finding(Planned::Remove),
            finding(Planned::Remove),
            finding(Planned::Block),
        ];
        let (first, second) = (listed[0].instance, listed[1].instance);
        session
            .store
            .write(|tx| {
                tx.set_findings(first, "audit", 3, &serde_json::to_string(&whole).unwrap())?;
                tx.set_findings(second, "audit", 1, r#"["stored header cannot be decoded"]"#)
            })
            .unwrap();
        let mut again = Vec::new();
        session
            .for_each_instance_findings(Stage::Audit, |entry| again.push(entry))
            .unwrap();
        assert_eq!(again[0].by_action.get("remove"), Some(&2));
        assert_eq!(again[0].blocks, vec![crate::risk::block_reason(&whole[2])]);
        assert!(!again[0].blocks[0].contains("Doe"), "{:?}", again[0].blocks);
        assert_eq!(again[1].blocks, vec!["stored header cannot be decoded"]);
        assert_eq!(&again[2..], &listed[2..]);
    }
}
