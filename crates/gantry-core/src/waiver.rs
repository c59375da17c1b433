//! Applying the config's waivers to what verify and export's gate find: a finding a
//! waiver accepts no longer blocks, and is listed with the waiver's reason in the verify
//! report and beside the exported file in the manifest. A leaf: checkpoints use it.

use gantry_store::InstanceRecord;
use serde::{Deserialize, Serialize};

use crate::engine::ElementFinding;
use crate::rules::RuleSource;
use crate::settings::Waiver;

/// A finding a waiver accepted: where it was and what found it (never its value), and
/// the waiver's reason.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WaivedFinding {
    /// The tag path, VR and rule: `(0008,1030) LO identifier echo`.
    pub finding: String,
    /// The reason the waiver gives.
    pub reason: String,
}

impl WaivedFinding {
    /// As the manifest writes it.
    pub fn line(&self) -> String {
        format!("{} (waived: {})", self.finding, self.reason)
    }
}

/// Whether `waiver` accepts `finding` of the instance `record`. Text in the pixels, and
/// a finding that names no tag path (the whole header), are never accepted.
fn accepts(waiver: &Waiver, record: &InstanceRecord, finding: &ElementFinding) -> bool {
    let Some(tag) = finding.path.tag() else {
        return false;
    };
    if finding.rule == RuleSource::PixelRisk {
        return false;
    }
    waiver.tag.is_none_or(|t| t == tag)
        && waiver
            .path
            .as_ref()
            .is_none_or(|p| *p == finding.path.to_string())
        && waiver
            .rule
            .as_ref()
            .is_none_or(|r| r == finding.rule.label())
        && waiver.manufacturer.accepts(record.manufacturer.as_deref())
        && waiver.model_name.accepts(record.model_name.as_deref())
        && waiver
            .serial_number
            .accepts(record.serial_number.as_deref())
        && waiver
            .instance
            .as_ref()
            .is_none_or(|i| *i == record.sop_instance_uid)
}

/// `findings` split into those that still block and those a waiver accepts.
pub(crate) fn split(
    waivers: &[Waiver],
    record: &InstanceRecord,
    findings: Vec<ElementFinding>,
) -> (Vec<ElementFinding>, Vec<WaivedFinding>) {
    if waivers.is_empty() {
        return (findings, Vec::new());
    }
    let mut blocking = Vec::new();
    let mut waived = Vec::new();
    for finding in findings {
        match waivers.iter().find(|w| accepts(w, record, &finding)) {
            Some(waiver) => waived.push(WaivedFinding {
                finding: format!("{} {} {}", finding.path, finding.vr, finding.rule.label()),
                reason: waiver.reason.clone(),
            }),
            None => blocking.push(finding),
        }
    }
    (blocking, waived)
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_rule_but_pixel_risk_is_waivable_by_its_label() {
        use crate::rules::RuleSource as R;
        let every = [
            R::Profile {
                code: String::new(),
                resolved: String::new(),
            },
            R::Config {
                action: String::new(),
            },
            R::PrivateTag,
            R::SafePrivate,
            R::Uid,
            R::Date,
            R::PersonName,
            R::OverlayGroup,
            R::IdentifierEcho {
                identifier: crate::identity::IdentifierKind::Id,
            },
            R::OverlongValue,
            R::IdentityMarker,
            R::ForeignSeal,
            R::Survived,
            R::KnownSafe,
            R::UnlistedText,
            R::Detected {
                phi: crate::detect::PhiKind::Date,
            },
            R::OtherIdentifier {
                identifier: crate::identity::IdentifierKind::Id,
            },
        ];
        // A new rule must be added here (and to WAIVABLE_RULES, or refused): this match
        // does not compile without it.
        for rule in &every {
            match rule {
                R::Profile { .. }
                | R::Config { .. }
                | R::PrivateTag
                | R::SafePrivate
                | R::Uid
                | R::Date
                | R::PersonName
                | R::OverlayGroup
                | R::IdentifierEcho { .. }
                | R::OverlongValue
                | R::IdentityMarker
                | R::ForeignSeal
                | R::Survived
                | R::KnownSafe
                | R::UnlistedText
                | R::Detected { .. }
                | R::OtherIdentifier { .. }
                | R::PixelRisk => {}
            }
        }
        let labels: Vec<&str> = every.iter().map(|r| r.label()).collect();
        assert_eq!(labels, crate::settings::WAIVABLE_RULES);
        assert!(!labels.contains(&R::PixelRisk.label()));
    }
}
