//! Invented patients, with every identifier a de-identifier must catch.

use rand::Rng;
use rand::seq::IndexedRandom;
use serde::Serialize;

// Names long and rare enough that finding one in output can only be a leak, never a
// coincidence with standard text (a short name like "Ann" hides in "ANNOTATION").
const FAMILY: &[&str] = &[
    "KOWALCZYK",
    "OKONKWO",
    "VANDERBERG",
    "ABERNATHY",
    "SZCZEPANSKI",
    "FITZWILLIAM",
    "NAKASHIMA",
    "DELACROIX",
    "QUIGLEYSON",
    "BALTHAZAR",
    "MONTGOMERIE",
    "ZABROWSKI",
    "HALVORSEN",
    "ESPERANZO",
    "WIDDERSHIN",
    "TREMBLAYNE",
];
const GIVEN: &[&str] = &[
    "Wilhelmina",
    "Bartholomew",
    "Ximenez",
    "Oluwaseun",
    "Thaddeus",
    "Philippa",
    "Eustace",
    "Genevieve",
    "Leopoldine",
    "Rasmussen",
    "Octavian",
    "Perpetua",
    "Cornelius",
    "Ysolde",
];
const STREETS: &[&str] = &[
    "Wisteria Lane",
    "Larkspur Crescent",
    "Quillon Terrace",
    "Ashgrove Mews",
];

/// One invented patient and every identifier planted for them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PatientTruth {
    /// Family name, upper case as in the DICOM Patient's Name.
    pub family: String,
    /// Given name.
    pub given: String,
    /// Middle name.
    pub middle: String,
    /// Medical record number, the Patient ID: `MRN` and eight digits.
    pub mrn: String,
    /// The eight digits of the MRN, which are also embedded in this patient's UIDs.
    pub mrn_digits: String,
    /// Issuer of Patient ID.
    pub issuer: String,
    /// An ID from another hospital (Other Patient IDs).
    pub other_id: String,
    /// Birth date, `YYYYMMDD`.
    pub birth_date: String,
    /// Street address.
    pub address: String,
    /// Telephone number.
    pub phone: String,
    /// Mother's birth name.
    pub mother_birth_name: String,
    /// Accession numbers of this patient's studies.
    pub accessions: Vec<String>,
}

impl PatientTruth {
    pub(crate) fn invent(rng: &mut impl Rng, index: usize) -> PatientTruth {
        let family = FAMILY[index % FAMILY.len()].to_string();
        let given = GIVEN
            .choose(rng)
            .copied()
            .unwrap_or("Wilhelmina")
            .to_string();
        let middle = GIVEN.choose(rng).copied().unwrap_or("Eustace").to_string();
        let digits = format!("{:08}", 10_000_000 + rng.random_range(0..89_999_999u32));
        let year = rng.random_range(1931..2005);
        let month = rng.random_range(1..=12);
        let day = rng.random_range(1..=28);
        PatientTruth {
            mrn: format!("MRN{digits}"),
            mrn_digits: digits.clone(),
            issuer: "GANTRY GENERAL HOSPITAL".into(),
            other_id: format!("OTH{:07}", rng.random_range(1_000_000..9_999_999u32)),
            birth_date: format!("{year:04}{month:02}{day:02}"),
            address: format!(
                "{} {}, Springfield",
                rng.random_range(10..999),
                STREETS.choose(rng).copied().unwrap_or("Wisteria Lane")
            ),
            phone: format!("+44 20 7946 {:04}", rng.random_range(1000..9999)),
            mother_birth_name: format!("{}^Mathilde", FAMILY[(index + 7) % FAMILY.len()]),
            accessions: Vec::new(),
            family,
            given,
            middle,
        }
    }

    /// The DICOM Patient's Name: `FAMILY^Given^Middle`.
    pub fn dicom_name(&self) -> String {
        format!("{}^{}^{}", self.family, self.given, self.middle)
    }

    /// Every string that identifies this patient and must not survive de-identification.
    ///
    /// Scans should look for each in any letter case; names are also given with the `^`
    /// separators replaced by spaces.
    pub fn identifiers(&self) -> Vec<String> {
        let mut out = vec![
            self.dicom_name(),
            self.dicom_name().replace('^', " "),
            self.family.clone(),
            self.given.clone(),
            self.middle.clone(),
            self.mrn.clone(),
            self.mrn_digits.clone(),
            self.other_id.clone(),
            self.birth_date.clone(),
            self.address.clone(),
            self.phone.clone(),
            self.mother_birth_name.clone(),
            self.mother_birth_name.replace('^', " "),
        ];
        out.extend(self.accessions.iter().cloned());
        out
    }
}
