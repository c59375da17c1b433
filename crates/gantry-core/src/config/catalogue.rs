//! The built-in catalogue of known burned-in text regions, embedded from
//! `data/burned-in-regions.yaml` (RSNA MIRC CTP Burned-in Annotation Library).

use std::sync::OnceLock;

use dicom_object::InMemDicomObject;
use serde::Deserialize;

use crate::settings::{Condition, Zone};

const CATALOGUE: &str = include_str!("../../data/burned-in-regions.yaml");

/// One known device layout: when it applies, and where its text is.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CatalogueEntry {
    /// What the entry describes.
    pub label: String,
    /// Conditions that must all hold.
    pub when: Vec<Condition>,
    /// The regions of burned-in text.
    pub zones: Vec<Zone>,
}

impl CatalogueEntry {
    /// Whether the entry applies to an instance.
    pub fn matches(&self, header: &InMemDicomObject) -> bool {
        self.when.iter().all(|c| c.holds(header))
    }
}

#[derive(Deserialize)]
struct Catalogue {
    #[allow(dead_code)] // the file's format version; one exists
    version: u32,
    #[allow(dead_code)]
    source: String,
    entries: Vec<CatalogueEntry>,
}

/// Every entry of the built-in catalogue.
pub fn entries() -> &'static [CatalogueEntry] {
    static ENTRIES: OnceLock<Vec<CatalogueEntry>> = OnceLock::new();
    ENTRIES.get_or_init(|| {
        // The file is part of the build and checked by a test, so a parse failure here
        // can only come from editing it; an empty catalogue then suggests nothing.
        serde_yaml::from_str::<Catalogue>(CATALOGUE)
            .map(|c| c.entries)
            .unwrap_or_default()
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_embedded_catalogue_parses_whole() {
        let parsed: super::Catalogue = serde_yaml::from_str(super::CATALOGUE).unwrap();
        assert!(parsed.entries.len() >= 25, "{}", parsed.entries.len());
        assert_eq!(super::entries().len(), parsed.entries.len());
        let logiq = parsed
            .entries
            .iter()
            .find(|e| e.label == "GE Logiq 9 ultrasound")
            .unwrap();
        assert_eq!(logiq.zones[0].as_array(), [0, 40, 0, 640]);
    }
}
