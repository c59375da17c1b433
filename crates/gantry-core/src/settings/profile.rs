//! The PS3.15 Basic Application Level Confidentiality Profile: Table E.1-1, every row and
//! every option column, embedded from `data/ps3.15-table-e1-1.csv`.

use std::collections::HashMap;
use std::fmt;
use std::sync::OnceLock;

use dicom_core::Tag;
use serde::{Deserialize, Serialize};

const TABLE: &str = include_str!("../../data/ps3.15-table-e1-1.csv");

/// An action code of Table E.1-1, as written in the table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ActionCode {
    /// Remove.
    X,
    /// Replace with a zero-length value.
    Z,
    /// Replace with a dummy value consistent with the VR.
    D,
    /// Keep (sequences are still cleaned item by item).
    K,
    /// Clean: replace with values of similar meaning that identify no one.
    C,
    /// Replace with a UID consistent within the set of instances.
    U,
    /// X unless Z is required to maintain IOD conformance (Type 3 versus Type 2).
    XZ,
    /// X unless D is required to maintain IOD conformance (Type 3 versus Type 1).
    XD,
    /// X unless Z or D is required to maintain IOD conformance.
    XZD,
    /// Z unless D is required to maintain IOD conformance (Type 2 versus Type 1).
    ZD,
    /// X unless Z or replacement of contained instance UIDs is required.
    XZUStar,
}

impl ActionCode {
    fn parse(code: &str) -> Option<ActionCode> {
        Some(match code.trim() {
            "X" => ActionCode::X,
            "Z" => ActionCode::Z,
            "D" => ActionCode::D,
            "K" => ActionCode::K,
            "C" => ActionCode::C,
            "U" => ActionCode::U,
            "X/Z" => ActionCode::XZ,
            "X/D" => ActionCode::XD,
            "X/Z/D" => ActionCode::XZD,
            "Z/D" => ActionCode::ZD,
            "X/Z/U*" => ActionCode::XZUStar,
            _ => return None,
        })
    }

    /// The code as the standard writes it.
    pub fn as_str(self) -> &'static str {
        match self {
            ActionCode::X => "X",
            ActionCode::Z => "Z",
            ActionCode::D => "D",
            ActionCode::K => "K",
            ActionCode::C => "C",
            ActionCode::U => "U",
            ActionCode::XZ => "X/Z",
            ActionCode::XD => "X/D",
            ActionCode::XZD => "X/Z/D",
            ActionCode::ZD => "Z/D",
            ActionCode::XZUStar => "X/Z/U*",
        }
    }

    /// The one concrete code this action means for an object of SOP Class `sop_class`.
    ///
    /// PS3.15 E.1.1: a combined code keeps the attribute (zero-length or dummy) only where
    /// the object's IOD requires it: Type 2 needs it present (Z), Type 1 needs a value (D).
    /// See [`requirement`] for where Gantry knows an attribute to be required.
    ///
    /// X/Z/U* (Referenced Image Sequence, Source Image Sequence) resolves to U: the
    /// sequence is kept with every contained UID remapped and its items cleaned by the same
    /// rules, so references between exported objects stay valid and nothing identifying
    /// survives inside them.
    pub fn resolve(self, tag: Tag, sop_class: &str) -> ActionCode {
        let required = requirement(tag, sop_class);
        match self {
            ActionCode::XZ => match required {
                Some(_) => ActionCode::Z,
                None => ActionCode::X,
            },
            ActionCode::XD => match required {
                Some(_) => ActionCode::D,
                None => ActionCode::X,
            },
            ActionCode::XZD => match required {
                Some(Requirement::Type1) => ActionCode::D,
                Some(Requirement::Type2) => ActionCode::Z,
                None => ActionCode::X,
            },
            ActionCode::ZD => match required {
                Some(Requirement::Type1) => ActionCode::D,
                _ => ActionCode::Z,
            },
            ActionCode::XZUStar => ActionCode::U,
            other => other,
        }
    }
}

impl fmt::Display for ActionCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How an IOD requires an attribute that has a combined action code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Requirement {
    /// Must be present with a value.
    Type1,
    /// Must be present, may be empty.
    Type2,
}

/// Where an attribute with a combined code is Type 1 or 2 in the object's IOD.
///
/// A table of the combined-code rows (49 of the 621) against the IODs Gantry meets: the
/// General Image module makes Content Date/Time Type 2C; SR documents and the enhanced
/// multi-frame IODs make them Type 1, and the latter also Acquisition DateTime and the
/// Enhanced General Equipment's Device Serial Number; RT plans and treatment records
/// require their dates and machine names. Everything else is Type 3 (removed).
pub fn requirement(tag: Tag, sop_class: &str) -> Option<Requirement> {
    let enhanced = is_enhanced_multiframe(sop_class);
    let sr = sop_class.starts_with("1.2.840.10008.5.1.4.1.1.88.");
    let rt = sop_class.starts_with("1.2.840.10008.5.1.4.1.1.481.");
    // Waveform Identification (PS3.3 C.10.8): Content Date/Time and Acquisition DateTime
    // are Type 1.
    let waveform = sop_class.starts_with("1.2.840.10008.5.1.4.1.1.9.");
    match (tag.group(), tag.element()) {
        // Content Date, Content Time
        (0x0008, 0x0023) | (0x0008, 0x0033) if enhanced || sr || waveform => {
            Some(Requirement::Type1)
        }
        (0x0008, 0x0023) | (0x0008, 0x0033) => Some(Requirement::Type2),
        // Acquisition DateTime; Device Serial Number (Enhanced General Equipment)
        (0x0008, 0x002A) if enhanced || waveform => Some(Requirement::Type1),
        (0x0018, 0x1000) if enhanced => Some(Requirement::Type1),
        // Operators' Name in the RT Series module (C.8.8.1); Referenced Performed Procedure
        // Step Sequence in the SR and Key Object Document Series modules (C.17.1, C.17.6.1).
        (0x0008, 0x1070) if rt => Some(Requirement::Type2),
        (0x0008, 0x1111) if sr => Some(Requirement::Type2),
        // Patient ID (Patient module), Contrast/Bolus Agent, Content Creator's Name,
        // Patient's Sex Neutered (2C), Acquisition Context Sequence, Instruction Performed
        // DateTime, Reviewer Name (2C)
        (0x0010, 0x0020)
        | (0x0018, 0x0010)
        | (0x0070, 0x0084)
        | (0x0010, 0x2203)
        | (0x0040, 0x0555)
        | (0x0018, 0x9919)
        | (0x300E, 0x0008) => Some(Requirement::Type2),
        // RT Plan Date and Time, Treatment Machine Name, Treatment Date and Time
        (0x300A, 0x0006)
        | (0x300A, 0x0007)
        | (0x300A, 0x00B2)
        | (0x3008, 0x0250)
        | (0x3008, 0x0251)
            if rt =>
        {
            Some(Requirement::Type2)
        }
        _ => None,
    }
}

/// SOP Classes built on the multi-frame functional group modules.
fn is_enhanced_multiframe(sop_class: &str) -> bool {
    const ENHANCED: &[&str] = &[
        "1.2.840.10008.5.1.4.1.1.2.1",      // Enhanced CT
        "1.2.840.10008.5.1.4.1.1.2.2",      // Legacy Converted Enhanced CT
        "1.2.840.10008.5.1.4.1.1.4.1",      // Enhanced MR
        "1.2.840.10008.5.1.4.1.1.4.2",      // MR Spectroscopy
        "1.2.840.10008.5.1.4.1.1.4.3",      // Enhanced MR Color
        "1.2.840.10008.5.1.4.1.1.4.4",      // Legacy Converted Enhanced MR
        "1.2.840.10008.5.1.4.1.1.6.2",      // Enhanced US Volume
        "1.2.840.10008.5.1.4.1.1.12.1.1",   // Enhanced XA
        "1.2.840.10008.5.1.4.1.1.12.2.1",   // Enhanced XRF
        "1.2.840.10008.5.1.4.1.1.13.1.3",   // Breast Tomosynthesis
        "1.2.840.10008.5.1.4.1.1.128.1",    // Legacy Converted Enhanced PET
        "1.2.840.10008.5.1.4.1.1.130",      // Enhanced PET
        "1.2.840.10008.5.1.4.1.1.6.3",      // Photoacoustic
        "1.2.840.10008.5.1.4.1.1.13.1.1",   // X-Ray 3D Angiographic
        "1.2.840.10008.5.1.4.1.1.13.1.2",   // X-Ray 3D Craniofacial
        "1.2.840.10008.5.1.4.1.1.13.1.4",   // Breast Projection X-Ray, presentation
        "1.2.840.10008.5.1.4.1.1.13.1.5",   // Breast Projection X-Ray, processing
        "1.2.840.10008.5.1.4.1.1.14.1",     // Intravascular OCT, presentation
        "1.2.840.10008.5.1.4.1.1.14.2",     // Intravascular OCT, processing
        "1.2.840.10008.5.1.4.1.1.30",       // Parametric Map
        "1.2.840.10008.5.1.4.1.1.66.4",     // Segmentation
        "1.2.840.10008.5.1.4.1.1.66.7",     // Label Map Segmentation
        "1.2.840.10008.5.1.4.1.1.77.1.5.4", // Ophthalmic Tomography
        "1.2.840.10008.5.1.4.1.1.77.1.5.7", // Ophthalmic OCT B-scan Volume Analysis
        "1.2.840.10008.5.1.4.1.1.77.1.5.8", // Wide Field Ophthalmic Photography 3D
        "1.2.840.10008.5.1.4.1.1.77.1.6",   // VL Whole Slide Microscopy
    ];
    ENHANCED.contains(&sop_class)
}

/// An option of the Basic Application Level Confidentiality Profile (PS3.15 E.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProfileOption {
    /// Retain Safe Private Option.
    RetainSafePrivate,
    /// Retain UIDs Option.
    RetainUids,
    /// Retain Device Identity Option.
    RetainDeviceIdentity,
    /// Retain Institution Identity Option.
    RetainInstitutionIdentity,
    /// Retain Patient Characteristics Option.
    RetainPatientCharacteristics,
    /// Retain Longitudinal Temporal Information with Full Dates Option.
    RetainLongitudinalFullDates,
    /// Retain Longitudinal Temporal Information with Modified Dates Option.
    RetainLongitudinalModifiedDates,
    /// Clean Descriptors Option.
    CleanDescriptors,
    /// Clean Structured Content Option.
    CleanStructuredContent,
    /// Clean Graphics Option.
    CleanGraphics,
}

impl ProfileOption {
    /// Every option, in the order of the table's columns.
    pub const ALL: [ProfileOption; 10] = [
        ProfileOption::RetainSafePrivate,
        ProfileOption::RetainUids,
        ProfileOption::RetainDeviceIdentity,
        ProfileOption::RetainInstitutionIdentity,
        ProfileOption::RetainPatientCharacteristics,
        ProfileOption::RetainLongitudinalFullDates,
        ProfileOption::RetainLongitudinalModifiedDates,
        ProfileOption::CleanDescriptors,
        ProfileOption::CleanStructuredContent,
        ProfileOption::CleanGraphics,
    ];

    fn column(self) -> usize {
        ProfileOption::ALL
            .iter()
            .position(|o| *o == self)
            .unwrap_or_default()
    }

    /// The name used in config files (`retain_uids`, ...).
    pub fn config_name(self) -> &'static str {
        match self {
            ProfileOption::RetainSafePrivate => "retain_safe_private",
            ProfileOption::RetainUids => "retain_uids",
            ProfileOption::RetainDeviceIdentity => "retain_device_identity",
            ProfileOption::RetainInstitutionIdentity => "retain_institution_identity",
            ProfileOption::RetainPatientCharacteristics => "retain_patient_characteristics",
            ProfileOption::RetainLongitudinalFullDates => "retain_longitudinal_full_dates",
            ProfileOption::RetainLongitudinalModifiedDates => "retain_longitudinal_modified_dates",
            ProfileOption::CleanDescriptors => "clean_descriptors",
            ProfileOption::CleanStructuredContent => "clean_structured_content",
            ProfileOption::CleanGraphics => "clean_graphics",
        }
    }

    /// Parses a config name.
    pub fn from_config_name(name: &str) -> Option<ProfileOption> {
        let wanted = name.trim().to_ascii_lowercase().replace(['-', ' '], "_");
        ProfileOption::ALL
            .into_iter()
            .find(|o| o.config_name() == wanted)
    }

    /// The code of CID 7050 (De-identification Method) for this option, and its meaning.
    pub fn code(self) -> (&'static str, &'static str) {
        match self {
            ProfileOption::RetainSafePrivate => ("113111", "Retain Safe Private Option"),
            ProfileOption::RetainUids => ("113110", "Retain UIDs Option"),
            ProfileOption::RetainDeviceIdentity => ("113109", "Retain Device Identity Option"),
            ProfileOption::RetainInstitutionIdentity => {
                ("113112", "Retain Institution Identity Option")
            }
            ProfileOption::RetainPatientCharacteristics => {
                ("113108", "Retain Patient Characteristics Option")
            }
            ProfileOption::RetainLongitudinalFullDates => (
                "113106",
                "Retain Longitudinal Temporal Information Full Dates Option",
            ),
            ProfileOption::RetainLongitudinalModifiedDates => (
                "113107",
                "Retain Longitudinal Temporal Information Modified Dates Option",
            ),
            ProfileOption::CleanDescriptors => ("113105", "Clean Descriptors Option"),
            ProfileOption::CleanStructuredContent => ("113104", "Clean Structured Content Option"),
            ProfileOption::CleanGraphics => ("113103", "Clean Graphics Option"),
        }
    }
}

/// Which tags a row of the table covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub enum TagPattern {
    /// One tag.
    Exact(#[serde(serialize_with = "crate::report::tag_text")] Tag),
    /// A repeating group such as `(50XX,XXXX)` or `(60XX,3000)`: `tag & mask == value`.
    Masked {
        /// The fixed bits of (group << 16 | element).
        value: u32,
        /// Which bits are fixed.
        mask: u32,
    },
    /// Every attribute of an odd (private) group.
    Private,
}

impl TagPattern {
    /// Whether `tag` is covered.
    pub fn matches(&self, tag: Tag) -> bool {
        match *self {
            TagPattern::Exact(t) => t == tag,
            TagPattern::Masked { value, mask } => {
                (((tag.group() as u32) << 16) | tag.element() as u32) & mask == value
            }
            TagPattern::Private => tag.group() % 2 == 1,
        }
    }

    fn parse(text: &str) -> Option<TagPattern> {
        let inner = text.trim().trim_start_matches('(');
        if inner.to_ascii_uppercase().starts_with("GGGG,EEEE") {
            return Some(TagPattern::Private);
        }
        let inner = inner.split(')').next()?;
        let (group, element) = inner.split_once(',')?;
        let mut value = 0u32;
        let mut mask = 0u32;
        for c in group.trim().chars().chain(element.trim().chars()) {
            value <<= 4;
            mask <<= 4;
            if c == 'X' || c == 'x' {
                continue;
            }
            value |= c.to_digit(16)?;
            mask |= 0xF;
        }
        if mask == u32::MAX {
            Some(TagPattern::Exact(Tag((value >> 16) as u16, value as u16)))
        } else {
            Some(TagPattern::Masked { value, mask })
        }
    }
}

/// One row of Table E.1-1.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ProfileRule {
    /// The tag or tag pattern.
    pub pattern: TagPattern,
    /// The attribute name as the standard gives it.
    pub name: String,
    /// Whether the attribute is in a standard composite IOD.
    pub in_standard_iod: bool,
    /// The Basic Profile's action.
    pub basic: ActionCode,
    /// The action each option sets, in [`ProfileOption::ALL`] order (`None`: unchanged).
    pub options: [Option<ActionCode>; 10],
}

impl ProfileRule {
    /// The action under the given options: the Basic Profile's, unless an active option
    /// sets one. Retain options express what the user chose to keep, so K outranks the C
    /// of a clean option on the same attribute.
    pub fn action(&self, options: &[ProfileOption]) -> ActionCode {
        let set: Vec<ActionCode> = options
            .iter()
            .filter_map(|o| self.options[o.column()])
            .collect();
        if set.contains(&ActionCode::K) {
            ActionCode::K
        } else if set.contains(&ActionCode::C) {
            ActionCode::C
        } else {
            set.first().copied().unwrap_or(self.basic)
        }
    }

    /// The option code in the table for `option`, if the option changes this row.
    pub fn option_code(&self, option: ProfileOption) -> Option<ActionCode> {
        self.options[option.column()]
    }
}

/// The embedded Table E.1-1.
#[derive(Debug)]
pub struct Profile {
    rules: Vec<ProfileRule>,
    exact: HashMap<Tag, usize>,
    patterns: Vec<usize>,
}

/// The edition of PS3.15 whose Table E.1-1 is embedded. The table comes from the
/// innolitics/dicom-standard extraction, which re-parses the current standard monthly: its
/// newest head (2025-01-28, standard 2024e) has the table unchanged since 2024b.
pub const PROFILE_EDITION: &str =
    "PS3.15 Table E.1-1, DICOM 2024e (rows unchanged since 2024b; 621 rows)";

impl Profile {
    /// The Basic Application Level Confidentiality Profile (PS3.15 E.1-1, see
    /// [`PROFILE_EDITION`]).
    pub fn basic() -> &'static Profile {
        static PROFILE: OnceLock<Profile> = OnceLock::new();
        PROFILE.get_or_init(|| Profile::parse(TABLE))
    }

    fn parse(table: &str) -> Profile {
        let mut rules = Vec::new();
        for line in table.lines().skip(1).filter(|l| !l.trim().is_empty()) {
            let fields = split_csv(line);
            if fields.len() < 14 {
                continue;
            }
            let (Some(pattern), Some(basic)) =
                (TagPattern::parse(&fields[0]), ActionCode::parse(&fields[3]))
            else {
                continue;
            };
            let mut options = [None; 10];
            for (i, slot) in options.iter_mut().enumerate() {
                *slot = ActionCode::parse(&fields[4 + i]);
            }
            rules.push(ProfileRule {
                pattern,
                name: fields[1].clone(),
                in_standard_iod: fields[2].trim() == "Y",
                basic,
                options,
            });
        }
        let mut exact = HashMap::new();
        let mut patterns = Vec::new();
        for (i, rule) in rules.iter().enumerate() {
            match rule.pattern {
                TagPattern::Exact(tag) => {
                    exact.insert(tag, i);
                }
                _ => patterns.push(i),
            }
        }
        Profile {
            rules,
            exact,
            patterns,
        }
    }

    /// Every row, in table order.
    pub fn rules(&self) -> &[ProfileRule] {
        &self.rules
    }

    /// The row covering `tag`: an exact row first, then a repeating-group row, then the
    /// private-group row.
    pub fn rule_for(&self, tag: Tag) -> Option<&ProfileRule> {
        if let Some(i) = self.exact.get(&tag) {
            return Some(&self.rules[*i]);
        }
        // An odd group is private whatever a repeating-group pattern would say: (50XX,XXXX)
        // means the even curve groups, and 5001 belongs to a vendor.
        let private = tag.group() % 2 == 1;
        self.patterns
            .iter()
            .map(|&i| &self.rules[i])
            .find(|r| (r.pattern == TagPattern::Private) == private && r.pattern.matches(tag))
    }
}

/// Splits one CSV line, honouring double quotes.
fn split_csv(line: &str) -> Vec<String> {
    let mut fields = Vec::new();
    let mut field = String::new();
    let mut quoted = false;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' if quoted && chars.peek() == Some(&'"') => {
                field.push('"');
                chars.next();
            }
            '"' => quoted = !quoted,
            ',' if !quoted => fields.push(std::mem::take(&mut field)),
            c => field.push(c),
        }
    }
    fields.push(field);
    fields
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_embedded_profile_has_every_row_of_the_table() {
        let profile = Profile::basic();
        assert_eq!(profile.rules().len(), 621);
        let counts = |code| profile.rules().iter().filter(|r| r.basic == code).count();
        assert_eq!(counts(ActionCode::X), 384);
        assert_eq!(counts(ActionCode::D), 92);
        assert_eq!(counts(ActionCode::U), 54);
        assert_eq!(counts(ActionCode::Z), 42);
        assert_eq!(counts(ActionCode::XD), 22);
        assert_eq!(counts(ActionCode::XZ), 11);
        assert_eq!(counts(ActionCode::XZD), 8);
        assert_eq!(counts(ActionCode::ZD), 6);
        assert_eq!(counts(ActionCode::XZUStar), 2);
        let option_count = |o: ProfileOption, code| {
            profile
                .rules()
                .iter()
                .filter(|r| r.option_code(o) == Some(code))
                .count()
        };
        assert_eq!(option_count(ProfileOption::RetainUids, ActionCode::K), 59);
        assert_eq!(
            option_count(ProfileOption::RetainDeviceIdentity, ActionCode::K),
            46
        );
        assert_eq!(
            option_count(ProfileOption::RetainDeviceIdentity, ActionCode::C),
            11
        );
        assert_eq!(
            option_count(ProfileOption::RetainInstitutionIdentity, ActionCode::K),
            10
        );
        assert_eq!(
            option_count(ProfileOption::RetainPatientCharacteristics, ActionCode::K),
            9
        );
        assert_eq!(
            option_count(ProfileOption::RetainPatientCharacteristics, ActionCode::C),
            4
        );
        assert_eq!(
            option_count(ProfileOption::RetainLongitudinalFullDates, ActionCode::K),
            165
        );
        assert_eq!(
            option_count(
                ProfileOption::RetainLongitudinalModifiedDates,
                ActionCode::C
            ),
            165
        );
        assert_eq!(
            option_count(ProfileOption::CleanDescriptors, ActionCode::C),
            125
        );
        assert_eq!(
            option_count(ProfileOption::CleanStructuredContent, ActionCode::C),
            3
        );
        assert_eq!(option_count(ProfileOption::CleanGraphics, ActionCode::C), 4);
        assert_eq!(
            option_count(ProfileOption::RetainSafePrivate, ActionCode::C),
            1
        );
    }

    #[test]
    fn rows_are_found_by_tag_including_wildcards_and_private_groups() {
        let profile = Profile::basic();
        let name = |g, e| profile.rule_for(Tag(g, e)).map(|r| r.name.clone());
        assert_eq!(name(0x0010, 0x0010).as_deref(), Some("Patient's Name"));
        assert_eq!(name(0x0008, 0x0050).as_deref(), Some("Accession Number"));
        assert_eq!(name(0x5002, 0x3000).as_deref(), Some("Curve Data"));
        assert_eq!(name(0x6000, 0x3000).as_deref(), Some("Overlay Data"));
        assert_eq!(name(0x601E, 0x4000).as_deref(), Some("Overlay Comments"));
        assert!(
            name(0x6000, 0x0010).is_none(),
            "Overlay Rows is not in the table"
        );
        let private = profile.rule_for(Tag(0x0009, 0x1010)).unwrap();
        assert_eq!(private.pattern, TagPattern::Private);
        assert_eq!(private.basic, ActionCode::X);
        assert!(name(0x0028, 0x0010).is_none(), "Rows is not PHI");
    }

    #[test]
    fn options_change_the_action_and_retain_outranks_clean() {
        let profile = Profile::basic();
        let study_date = profile.rule_for(Tag(0x0008, 0x0020)).unwrap();
        assert_eq!(study_date.action(&[]), ActionCode::Z);
        assert_eq!(
            study_date.action(&[ProfileOption::RetainLongitudinalModifiedDates]),
            ActionCode::C
        );
        assert_eq!(
            study_date.action(&[ProfileOption::RetainLongitudinalFullDates]),
            ActionCode::K
        );
        let sop = profile.rule_for(Tag(0x0008, 0x0018)).unwrap();
        assert_eq!(sop.action(&[]), ActionCode::U);
        assert_eq!(sop.action(&[ProfileOption::RetainUids]), ActionCode::K);
    }

    #[test]
    fn combined_codes_resolve_by_the_objects_iod() {
        const CT: &str = "1.2.840.10008.5.1.4.1.1.2";
        const ENHANCED_CT: &str = "1.2.840.10008.5.1.4.1.1.2.1";
        const SR: &str = "1.2.840.10008.5.1.4.1.1.88.22";
        let content_date = Tag(0x0008, 0x0023);
        assert_eq!(ActionCode::ZD.resolve(content_date, CT), ActionCode::Z);
        assert_eq!(ActionCode::ZD.resolve(content_date, SR), ActionCode::D);
        let acquisition_date = Tag(0x0008, 0x0022);
        assert_eq!(ActionCode::XZ.resolve(acquisition_date, CT), ActionCode::X);
        let serial = Tag(0x0018, 0x1000);
        assert_eq!(ActionCode::XZD.resolve(serial, CT), ActionCode::X);
        assert_eq!(ActionCode::XZD.resolve(serial, ENHANCED_CT), ActionCode::D);
        assert_eq!(
            ActionCode::XZUStar.resolve(Tag(0x0008, 0x1140), CT),
            ActionCode::U
        );
    }
}
