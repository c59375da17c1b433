//! The decision for every element: what happens to it, and which rule says so.
//!
//! In order: a config override for the tag; private attributes; overlay groups; the
//! patient's name and ID (pseudonyms); the PS3.15 row with the active options, resolved
//! for the object's IOD; and, for what the table does not list, fail-closed defaults:
//! UIDs are remapped unless well known, dates follow the date policy, person names are
//! replaced. Free text that is kept is still searched for identifier echoes.

use dicom_core::dictionary::DataDictionary;
use dicom_core::{Tag, VR};
use dicom_dictionary_std::StandardDataDictionary;
use serde::{Deserialize, Serialize};

use crate::identity::IdentifierKind;
use crate::settings::{Action, ActionCode, Config, Profile, ProfileOption};
use crate::vr::{is_class_uid_tag, is_free_text, is_text};

/// What will be done to an element.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Planned {
    /// Left as it is.
    Keep,
    /// Removed.
    Remove,
    /// Emptied (zero length).
    Empty,
    /// Replaced by a dummy value of its VR.
    Dummy,
    /// Replaced by this value.
    Replace(String),
    /// Replaced by a keyed hash.
    Hash,
    /// UIDs replaced by keyed remapped UIDs.
    RemapUid,
    /// Dates moved by the patient's offset.
    Shift,
    /// Replaced by the patient's pseudonym.
    Pseudonym,
    /// Identifying text removed.
    Clean,
    /// A sequence kept, its items processed by the same rules.
    Recurse,
    /// An identity marker added (PatientIdentityRemoved and the method).
    AddMarker,
    /// Burned-in text blanked in the pixels.
    Redact,
    /// Cannot be made safe as it is: the safe export refuses the instance.
    Block,
}

impl Planned {
    /// A short label for reports.
    pub fn label(&self) -> &'static str {
        match self {
            Planned::Keep => "keep",
            Planned::Remove => "remove",
            Planned::Empty => "empty",
            Planned::Dummy => "dummy",
            Planned::Replace(_) => "replace",
            Planned::Hash => "hash",
            Planned::RemapUid => "remap UID",
            Planned::Shift => "shift date",
            Planned::Pseudonym => "pseudonym",
            Planned::Clean => "clean text",
            Planned::Recurse => "clean items",
            Planned::AddMarker => "add marker",
            Planned::Redact => "redact pixels",
            Planned::Block => "block",
        }
    }
}

/// Which rule decided.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum RuleSource {
    /// A row of PS3.15 Table E.1-1.
    Profile {
        /// The code in the table (with options applied), e.g. `X/Z`.
        code: String,
        /// The code it resolved to for this object.
        resolved: String,
    },
    /// A `phi_tags` entry of the config.
    Config {
        /// The action written.
        action: String,
    },
    /// A private attribute.
    PrivateTag,
    /// A private attribute declared safe (Retain Safe Private).
    SafePrivate,
    /// A UID outside the table.
    Uid,
    /// A date outside the table.
    Date,
    /// A person's name outside the table.
    PersonName,
    /// An overlay plane (60xx): removed whole with its data.
    OverlayGroup,
    /// Text echoing an identifier of the patient.
    IdentifierEcho {
        /// What was echoed.
        identifier: IdentifierKind,
    },
    /// A value of an identifier-bearing attribute longer than any identifier: removed.
    OverlongValue,
    /// De-identification markers (PS3.15 E.1.1).
    IdentityMarker,
    /// Originals sealed by another tool, for other recipients.
    ForeignSeal,
    /// A value that should have changed and did not (found by verify).
    Survived,
    /// Burned-in text in the pixels.
    PixelRisk,
    /// Text the profile does not list, in Gantry's table of attributes known to carry no
    /// identity (still checked for identifiers, and free text by the PHI detector).
    KnownSafe,
    /// Text that no rule names (`unlisted_text` decides: removed, or cleaned).
    UnlistedText,
    /// PHI the detector found in a text value.
    Detected {
        /// What it found first.
        phi: crate::detect::PhiKind,
    },
    /// An identifier of another patient or a staff member of the session.
    OtherIdentifier {
        /// What was echoed.
        identifier: IdentifierKind,
    },
}

impl RuleSource {
    /// A short label for counting findings by rule.
    pub fn label(&self) -> &'static str {
        match self {
            RuleSource::Profile { .. } => "profile",
            RuleSource::Config { .. } => "config",
            RuleSource::PrivateTag => "private tag",
            RuleSource::SafePrivate => "safe private tag",
            RuleSource::Uid => "uid",
            RuleSource::Date => "date",
            RuleSource::PersonName => "person name",
            RuleSource::OverlayGroup => "overlay group",
            RuleSource::IdentifierEcho { .. } => "identifier echo",
            RuleSource::OverlongValue => "value too long for an identifier",
            RuleSource::IdentityMarker => "identity marker",
            RuleSource::ForeignSeal => "foreign sealed originals",
            RuleSource::Survived => "survived",
            RuleSource::PixelRisk => "pixel risk",
            RuleSource::KnownSafe => "known safe text",
            RuleSource::UnlistedText => "unlisted text",
            RuleSource::Detected { .. } => "PHI detector",
            RuleSource::OtherIdentifier { .. } => "another person's identifier",
        }
    }
}

/// A decision: the action and its reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    /// What will be done.
    pub planned: Planned,
    /// Why.
    pub source: RuleSource,
}

/// How dates outside explicit rules are treated, from the options.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DatePolicy {
    /// Moved by the patient's offset (Modified Dates).
    Shift,
    /// Kept (Full Dates).
    Keep,
    /// Emptied (the Basic Profile).
    Empty,
}

/// The rules of one configuration.
pub struct Rules<'a> {
    pub(crate) config: &'a Config,
    profile: &'static Profile,
    pub(crate) dates: DatePolicy,
}

/// Tags Gantry writes when it de-identifies (over whatever the source held); never
/// findings themselves.
pub(crate) const MARKER_TAGS: [Tag; 4] = [
    Tag(0x0012, 0x0062), // Patient Identity Removed
    Tag(0x0012, 0x0063), // De-identification Method
    Tag(0x0012, 0x0064), // De-identification Method Code Sequence
    Tag(0x0028, 0x0303), // Longitudinal Temporal Information Modified
];

/// Encrypted Attributes Sequence (0400,0500).
const ENCRYPTED_ATTRIBUTES: Tag = Tag(0x0400, 0x0500);

impl<'a> Rules<'a> {
    /// The rules of `config` over the embedded profile.
    pub fn new(config: &'a Config) -> Rules<'a> {
        let dates = if config.has_option(ProfileOption::RetainLongitudinalFullDates) {
            DatePolicy::Keep
        } else if config.has_option(ProfileOption::RetainLongitudinalModifiedDates) {
            DatePolicy::Shift
        } else {
            DatePolicy::Empty
        };
        Rules {
            config,
            profile: Profile::basic(),
            dates,
        }
    }

    /// Decides what happens to an element. `creator` is the Private Creator of a private
    /// element's block, when it has one.
    pub fn decide(&self, tag: Tag, vr: VR, sop_class: &str, creator: Option<&str>) -> Decision {
        if let Some(rule) = self.config.tag_rule(tag) {
            let fallback = self.standard(tag, vr, sop_class, creator);
            return match &rule.action {
                Some(action) => Decision {
                    planned: from_action(action, vr),
                    source: RuleSource::Config {
                        action: action.name().to_string(),
                    },
                },
                None => Decision {
                    // A tag the user listed as PHI is never simply kept.
                    planned: match fallback.planned {
                        Planned::Keep | Planned::Recurse => Planned::Remove,
                        other => other,
                    },
                    source: RuleSource::Config {
                        action: "default".into(),
                    },
                },
            };
        }
        self.standard(tag, vr, sop_class, creator)
    }

    fn standard(&self, tag: Tag, vr: VR, sop_class: &str, creator: Option<&str>) -> Decision {
        if MARKER_TAGS.contains(&tag) {
            return Decision {
                planned: Planned::Keep,
                source: RuleSource::IdentityMarker,
            };
        }
        if tag == ENCRYPTED_ATTRIBUTES {
            // Table E.1-1 does not list it. A source's own sealed originals are identity
            // for recipients this project does not know: they never travel. (Gantry's seal
            // is put in after de-identification, and verify checks it apart.)
            return Decision {
                planned: Planned::Remove,
                source: RuleSource::ForeignSeal,
            };
        }
        if tag.group() % 2 == 1 {
            return self.private(tag, vr, creator);
        }
        if tag.group() & 0xFF00 == 0x6000 {
            // PS3.15 removes Overlay Data and Overlay Comments; a plane without its data
            // violates the IOD, and its description is free text, so the whole group goes.
            return Decision {
                planned: Planned::Remove,
                source: RuleSource::OverlayGroup,
            };
        }
        if let Some(rule) = self.profile.rule_for(tag) {
            let code = rule.action(&self.config.options);
            let resolved = code.resolve(tag, sop_class);
            let planned = match (tag.group(), tag.element()) {
                // The patient's name and ID carry the keyed pseudonym (a D value that
                // keeps a patient's objects together and identifies no one).
                (0x0010, 0x0010) | (0x0010, 0x0020)
                    if !matches!(resolved, ActionCode::K | ActionCode::X) =>
                {
                    Planned::Pseudonym
                }
                _ => self.planned_for_code(resolved, vr),
            };
            return Decision {
                planned,
                source: RuleSource::Profile {
                    code: code.as_str().to_string(),
                    resolved: resolved.as_str().to_string(),
                },
            };
        }
        match vr {
            VR::UI if is_class_uid_tag(tag) => keep(),
            VR::UI if self.config.has_option(ProfileOption::RetainUids) => keep(),
            VR::UI => Decision {
                planned: Planned::RemapUid,
                source: RuleSource::Uid,
            },
            VR::DA | VR::DT => Decision {
                planned: match self.dates {
                    DatePolicy::Shift => Planned::Shift,
                    DatePolicy::Keep => Planned::Keep,
                    DatePolicy::Empty => Planned::Empty,
                },
                source: RuleSource::Date,
            },
            VR::PN => Decision {
                planned: Planned::Dummy,
                source: RuleSource::PersonName,
            },
            VR::SQ => Decision {
                planned: Planned::Recurse,
                source: RuleSource::Profile {
                    code: "-".into(),
                    resolved: "K".into(),
                },
            },
            // The text of content items and graphic annotations is what the Clean
            // Structured Content and Clean Graphics options clean (E.3.x); without them it
            // is unlisted text.
            v if is_free_text(v) && self.cleaned_by_option(tag) => Decision {
                planned: Planned::Clean,
                source: RuleSource::Profile {
                    code: "C".into(),
                    resolved: "C".into(),
                },
            },
            v if is_free_text(v) => match known_safe(tag) {
                Some(SafeKind::Code) => Decision {
                    planned: Planned::Keep,
                    source: RuleSource::KnownSafe,
                },
                Some(SafeKind::Text) => Decision {
                    planned: Planned::Clean,
                    source: RuleSource::KnownSafe,
                },
                None => self.unlisted(),
            },
            // An attribute of a public group that no dictionary knows, holding text or
            // bytes: nobody can say what it carries.
            VR::UN | VR::OB | VR::OW if !is_known_tag(tag) => self.unlisted(),
            _ => keep(),
        }
    }

    fn cleaned_by_option(&self, tag: Tag) -> bool {
        match (tag.group(), tag.element()) {
            // Text Value of a content item.
            (0x0040, 0xA160) => self
                .config
                .has_option(ProfileOption::CleanStructuredContent),
            // Unformatted Text Value of a text object; Graphic Layer Description.
            (0x0070, 0x0006) | (0x0070, 0x0068) => {
                self.config.has_option(ProfileOption::CleanGraphics)
            }
            _ => false,
        }
    }

    fn unlisted(&self) -> Decision {
        Decision {
            // Replaced by a dummy rather than removed: an attribute the object requires
            // (Text Value of a TEXT content item, Type 1C; Content Description, Type 2)
            // stays valid, and the dummy says nothing (PS3.15 action D).
            planned: match self.config.unlisted_text {
                crate::settings::UnlistedText::Remove => Planned::Dummy,
                crate::settings::UnlistedText::Clean => Planned::Clean,
            },
            source: RuleSource::UnlistedText,
        }
    }

    fn private(&self, tag: Tag, vr: VR, creator: Option<&str>) -> Decision {
        let is_creator = (0x0010..=0x00FF).contains(&tag.element());
        if self.config.has_option(ProfileOption::RetainSafePrivate) {
            let safe = |element: u8, creator: &str| {
                self.config.safe_private.iter().any(|s| {
                    s.group == tag.group()
                        && s.creator.trim() == creator.trim()
                        && s.element == element
                })
            };
            let keep_it = if is_creator {
                // A creator stays when its block holds a safe attribute.
                creator.is_some_and(|c| {
                    self.config
                        .safe_private
                        .iter()
                        .any(|s| s.group == tag.group() && s.creator.trim() == c.trim())
                })
            } else {
                creator.is_some_and(|c| safe(tag.element() as u8, c))
            };
            if keep_it {
                return Decision {
                    planned: if vr == VR::SQ {
                        Planned::Recurse
                    } else {
                        Planned::Keep
                    },
                    source: RuleSource::SafePrivate,
                };
            }
        }
        Decision {
            planned: if self.config.remove_private_tags {
                Planned::Remove
            } else if vr == VR::SQ {
                Planned::Recurse
            } else if vr == VR::PN {
                // A person's name is never kept, whoever's block it is in.
                Planned::Dummy
            } else if is_free_text(vr) || vr == VR::UN {
                // Kept private text is unknown content: read by the whole detector.
                Planned::Clean
            } else {
                Planned::Keep
            },
            source: RuleSource::PrivateTag,
        }
    }

    fn planned_for_code(&self, code: ActionCode, vr: VR) -> Planned {
        match code {
            ActionCode::X => Planned::Remove,
            ActionCode::Z => Planned::Empty,
            ActionCode::D if vr == VR::UI => Planned::RemapUid,
            ActionCode::D if vr == VR::SQ => Planned::Recurse,
            ActionCode::D => Planned::Dummy,
            ActionCode::K if vr == VR::SQ => Planned::Recurse,
            ActionCode::K => Planned::Keep,
            ActionCode::U if vr == VR::SQ => Planned::Recurse,
            ActionCode::U => Planned::RemapUid,
            ActionCode::C => match vr {
                VR::SQ => Planned::Recurse,
                VR::DA | VR::DT => match self.dates {
                    DatePolicy::Shift => Planned::Shift,
                    DatePolicy::Keep => Planned::Keep,
                    DatePolicy::Empty => Planned::Empty,
                },
                // Whole-day shifts leave the time of day as it was.
                VR::TM => Planned::Keep,
                _ if is_text(vr) => Planned::Clean,
                _ => Planned::Keep,
            },
            // Combined codes are resolved before this point.
            _ => Planned::Remove,
        }
    }
}

fn keep() -> Decision {
    Decision {
        planned: Planned::Keep,
        source: RuleSource::Profile {
            code: "-".into(),
            resolved: "K".into(),
        },
    }
}

fn from_action(action: &Action, vr: VR) -> Planned {
    match action {
        Action::Remove => Planned::Remove,
        Action::Empty => Planned::Empty,
        Action::Dummy if vr == VR::SQ => Planned::Recurse,
        Action::Dummy => Planned::Dummy,
        Action::Keep if vr == VR::SQ => Planned::Recurse,
        Action::Keep => Planned::Keep,
        Action::Clean if vr == VR::SQ => Planned::Recurse,
        Action::Clean => Planned::Clean,
        Action::Replace(Some(value)) => Planned::Replace(value.clone()),
        Action::Replace(None) => Planned::Dummy,
        Action::Hash if vr == VR::UI => Planned::RemapUid,
        Action::Hash => Planned::Hash,
        Action::Uid if vr == VR::SQ => Planned::Recurse,
        Action::Uid => Planned::RemapUid,
        Action::Shift => Planned::Shift,
    }
}

/// How an attribute of the known-safe table is checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SafeKind {
    /// A technical or coded value: checked for identifiers only.
    Code,
    /// Descriptive text of a known role: the whole PHI detector runs on it.
    Text,
}

/// Gantry's table of standard text attributes that PS3.15 does not list and that carry no
/// identity (data/safe_text_attributes.tsv, one reason per entry).
const SAFE_TEXT: &str = include_str!("../data/safe_text_attributes.tsv");

/// The known-safe table, parsed: tag, kind, keyword, reason.
pub(crate) fn known_safe_table() -> &'static [(Tag, SafeKind, &'static str, &'static str)] {
    static TABLE: std::sync::OnceLock<Vec<(Tag, SafeKind, &'static str, &'static str)>> =
        std::sync::OnceLock::new();
    TABLE.get_or_init(|| {
        SAFE_TEXT
            .lines()
            .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
            .filter_map(|line| {
                let mut cols = line.split('\t');
                let tag = cols.next()?;
                let keyword = cols.next()?;
                let kind = match cols.next()? {
                    "code" => SafeKind::Code,
                    _ => SafeKind::Text,
                };
                let reason = cols.next().unwrap_or("");
                let group = u16::from_str_radix(tag.get(1..5)?, 16).ok()?;
                let element = u16::from_str_radix(tag.get(6..10)?, 16).ok()?;
                Some((Tag(group, element), kind, keyword, reason))
            })
            .collect()
    })
}

fn known_safe(tag: Tag) -> Option<SafeKind> {
    known_safe_table()
        .iter()
        .find(|(t, ..)| *t == tag)
        .map(|(_, kind, ..)| *kind)
}

/// Whether the standard dictionary knows the tag.
fn is_known_tag(tag: Tag) -> bool {
    StandardDataDictionary.by_tag(tag).is_some()
}

#[cfg(test)]
mod tests {
    use dicom_core::dictionary::DataDictionaryEntry;

    use super::*;

    #[test]
    fn the_known_safe_table_names_real_unlisted_text_attributes() {
        let table = known_safe_table();
        assert!(table.len() >= 40, "{} entries", table.len());
        for (tag, _, keyword, reason) in table {
            let entry = StandardDataDictionary
                .by_tag(*tag)
                .unwrap_or_else(|| panic!("{tag} is not in the dictionary"));
            assert_eq!(entry.alias(), *keyword, "{tag}");
            assert!(
                is_free_text(entry.vr().relaxed()),
                "{keyword} is not free text"
            );
            assert!(
                Profile::basic().rule_for(*tag).is_none(),
                "{keyword} is in E.1-1"
            );
            assert!(!reason.trim().is_empty(), "{keyword} has no reason");
        }
    }

    #[test]
    fn unlisted_text_is_replaced_unless_known_safe_or_configured_clean() {
        let config = Config::default();
        let rules = Rules::new(&config);
        let decide =
            |rules: &Rules<'_>, tag, vr| rules.decide(tag, vr, "1.2.840.10008.5.1.4.1.1.2", None);
        // Text Value (0040,A160) at the top level: no rule names it.
        let text_value = decide(&rules, Tag(0x0040, 0xA160), VR::UT);
        assert_eq!(
            (text_value.planned, text_value.source),
            (Planned::Dummy, RuleSource::UnlistedText)
        );
        // Code Meaning is known safe descriptive text: kept, read by the detector.
        assert_eq!(
            decide(&rules, Tag(0x0008, 0x0104), VR::LO).planned,
            Planned::Clean
        );
        // Manufacturer is a technical value: kept, checked for identifiers.
        assert_eq!(
            decide(&rules, Tag(0x0008, 0x0070), VR::LO).planned,
            Planned::Keep
        );
        // An unknown attribute of a public group holding bytes.
        assert_eq!(
            decide(&rules, Tag(0x0018, 0xFFF0), VR::UN).planned,
            Planned::Dummy
        );
        let clean = Config {
            unlisted_text: crate::settings::UnlistedText::Clean,
            ..Config::default()
        };
        let rules = Rules::new(&clean);
        assert_eq!(
            decide(&rules, Tag(0x0040, 0xA160), VR::UT).planned,
            Planned::Clean
        );
    }
}
