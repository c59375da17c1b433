//! VR facts: which value representations hold text, the VR a UN-encoded standard attribute
//! is read with, the UIDs the standard defines, and each VR's dummy value and length limit.
//! A leaf every checkpoint and rule may use; it uses nothing of the crate.

use dicom_core::dictionary::{DataDictionary, DataDictionaryEntry};
use dicom_core::{Tag, VR};
use dicom_dictionary_std::StandardDataDictionary;

/// The VR the rules read an element with: for a standard attribute encoded as UN (an
/// implicit-VR source, or a value too long for its VR's 16-bit length, CP 1066), its
/// dictionary VR when that is a string VR (PS3.5 6.2.2), so that a name is still a name,
/// a date still shifted and a UID still remapped; otherwise the VR as it is.
pub(crate) fn effective_vr(tag: Tag, vr: VR) -> VR {
    if vr != VR::UN || tag.group() % 2 == 1 {
        return vr;
    }
    match StandardDataDictionary.by_tag(tag).map(|e| e.vr().relaxed()) {
        Some(real) if is_text(real) || matches!(real, VR::DA | VR::DT | VR::TM | VR::UI) => real,
        _ => vr,
    }
}

/// Free text VRs: what a person can type anything into.
pub(crate) fn is_free_text(vr: VR) -> bool {
    matches!(
        vr,
        VR::LO | VR::LT | VR::SH | VR::ST | VR::UC | VR::UT | VR::UR
    )
}

/// Whether the VR holds free or coded text that could echo an identifier.
pub fn is_text(vr: VR) -> bool {
    matches!(
        vr,
        VR::AE
            | VR::CS
            | VR::LO
            | VR::LT
            | VR::PN
            | VR::SH
            | VR::ST
            | VR::UC
            | VR::UT
            | VR::UR
            | VR::UN
    )
}

/// Tags holding class UIDs (SOP classes, transfer syntaxes, coding schemes): defined by
/// standards or vendors, never by a patient's data, and remapping them would break the
/// object.
pub fn is_class_uid_tag(tag: Tag) -> bool {
    StandardDataDictionary.by_tag(tag).is_some_and(|e| {
        let k = e.alias();
        k.contains("ClassUID")
            || k.contains("TransferSyntaxUID")
            || k.contains("CodingSchemeUID")
            || k == "ContextGroupExtensionCreatorUID"
            || k == "ContextUID"
            || k == "ImplementationClassUID"
            || k == "PrivateInformationCreatorUID"
    })
}

/// Whether a UID value is defined by the DICOM standard itself (root 1.2.840.10008).
pub fn is_well_known_uid(value: &str) -> bool {
    value
        .trim_end_matches(['\0', ' '])
        .starts_with("1.2.840.10008.")
}

/// The dummy value of a VR (PS3.15 action D), for text-like VRs.
pub fn dummy_text(vr: VR) -> &'static str {
    match vr {
        VR::DA => "19000101",
        VR::DT => "19000101000000",
        VR::TM => "000000",
        VR::AS => "000D",
        VR::DS | VR::IS => "0",
        VR::UR => "http://example.invalid",
        _ => "ANONYMIZED",
    }
}

/// The maximum length of one value of a text VR (PS3.5 Table 6.2-1).
pub fn max_len(vr: VR) -> usize {
    match vr {
        VR::AE | VR::CS | VR::SH | VR::DS => 16,
        VR::AS => 4,
        VR::DA => 8,
        VR::IS => 12,
        VR::TM => 14,
        VR::DT => 26,
        VR::LO | VR::PN | VR::UI => 64,
        VR::ST => 1024,
        VR::LT => 10240,
        _ => 65536,
    }
}
