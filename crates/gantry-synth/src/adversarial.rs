//! An adversarial corpus: identity hidden where no table row looks.
//!
//! Each [`Vector`] is one file planting identity in one way: free text of attributes the
//! profile does not list, Structured Report content trees, code meanings, presentation
//! state text, URLs, other people's names, dates written in prose, UIDs in values that are
//! not UI, files whose every element is UN, names in ISO 2022, Latin-1 and UTF-8, hyphenated
//! surnames, contact details. The corpus is built in code; [`write_adversarial`] writes it
//! and returns, per vector, the strings that must not survive and the dates that must come
//! out shifted by the patient's offset.

use std::path::{Path, PathBuf};

use dicom_core::value::{DataSetSequence, PrimitiveValue};
use dicom_core::{DataElement, Tag, VR};
use dicom_dictionary_std::{tags, uids};
use dicom_object::{FileMetaTableBuilder, InMemDicomObject};

use crate::SynthError;
use crate::write::write_file;

/// The UID root of the corpus (its UIDs embed the patient's record number).
const ROOT: &str = "1.2.826.0.1.3680043.10.1453.9";

/// A person of the corpus.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdversarialPatient {
    /// Patient's Name as written (PN, `^`-separated).
    pub name: String,
    /// Patient ID.
    pub id: String,
    /// Birth date (DA).
    pub birth_date: String,
    /// Study date of every file of the patient (DA): the shift is measured on it.
    pub study_date: String,
}

/// A date planted in free text, and how it is spelled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlantedDate {
    /// Year, month, day.
    pub ymd: (i64, u32, u32),
    /// The spelling, with `{Y}` (4 digits), `{MM}`, `{DD}` (2 digits), `{D}` (no padding),
    /// `{Month}` (full English name) and `{Mon}` (3 letters).
    pub spelling: &'static str,
}

impl PlantedDate {
    /// The date written in its spelling.
    pub fn render(&self, (y, m, d): (i64, u32, u32)) -> String {
        const MONTHS: [&str; 12] = [
            "January",
            "February",
            "March",
            "April",
            "May",
            "June",
            "July",
            "August",
            "September",
            "October",
            "November",
            "December",
        ];
        let month = MONTHS[(m as usize).saturating_sub(1).min(11)];
        self.spelling
            .replace("{Y}", &format!("{y:04}"))
            .replace("{MM}", &format!("{m:02}"))
            .replace("{DD}", &format!("{d:02}"))
            .replace("{D}", &d.to_string())
            .replace("{Month}", month)
            .replace("{Mon}", &month[..3])
    }

    /// The date as planted.
    pub fn written(&self) -> String {
        self.render(self.ymd)
    }
}

/// One way of hiding identity, written to one file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Vector {
    /// A short name.
    pub name: &'static str,
    /// The class of the issue it belongs to.
    pub class: &'static str,
    /// The file.
    pub path: PathBuf,
    /// Its Instance Number (kept by the profile): which output file is which vector.
    pub instance_number: u32,
    /// Index of its patient in [`AdversarialCorpus::patients`].
    pub patient: usize,
    /// Strings that must not be found in the output, in any case.
    pub planted: Vec<String>,
    /// Dates in free text that must come out shifted by the patient's offset.
    pub dates: Vec<PlantedDate>,
}

/// The corpus and its ground truth.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdversarialCorpus {
    /// Where it was written.
    pub root: PathBuf,
    /// Its patients.
    pub patients: Vec<AdversarialPatient>,
    /// Its vectors, one file each.
    pub vectors: Vec<Vector>,
    /// Every UID of every file (none may survive anywhere in the output).
    pub uids: Vec<String>,
    /// The configuration it is meant to be run with (descriptors, structured content and
    /// graphics cleaned, dates shifted).
    pub config: String,
}

/// The patients: one with a Polish name, one with a hyphenated Portuguese surname, one
/// Japanese (ISO 2022 IR 87), one German (Latin-1) and one in UTF-8.
fn patients() -> Vec<AdversarialPatient> {
    let p = |name: &str, id: &str, birth: &str, study: &str| AdversarialPatient {
        name: name.into(),
        id: id.into(),
        birth_date: birth.into(),
        study_date: study.into(),
    };
    vec![
        p("KOWALSKI^JAN^ZBIGNIEW", "ADV10001", "19610214", "20210304"),
        p("OLIVEIRA-SANTOS^MARIA", "ADV20002", "19750830", "20220517"),
        p(
            "Yamada^Tarou=山田^太郎=やまだ^たろう",
            "ADV30003",
            "19580101",
            "20200920",
        ),
        p("Böhm^Jürgen", "ADV40004", "19490707", "20231111"),
        p("Øyelund^Ægir", "ADV50005", "19880303", "20190606"),
    ]
}

/// The ISO 2022 IR 87 encoding of the Japanese patient's name (PS3.5 H.3.1), as the
/// Latin-1 characters a Default-charset writer puts out byte for byte.
fn japanese_name_bytes() -> String {
    latin1(b"Yamada^Tarou=\x1b$B;3ED\x1b(B^\x1b$BB@O:\x1b(B=\x1b$B$d$^$@\x1b(B^\x1b$B$?$m$&\x1b(B")
}

fn latin1(bytes: &[u8]) -> String {
    bytes.iter().map(|b| *b as char).collect()
}

struct Builder {
    object: InMemDicomObject,
    planted: Vec<String>,
    dates: Vec<PlantedDate>,
    un: bool,
}

impl Builder {
    fn text(&mut self, tag: Tag, vr: VR, value: &str) -> &mut Self {
        self.object
            .put(DataElement::new(tag, vr, PrimitiveValue::from(value)));
        self
    }

    fn seq(&mut self, tag: Tag, items: Vec<InMemDicomObject>) -> &mut Self {
        self.object
            .put(DataElement::new(tag, VR::SQ, DataSetSequence::from(items)));
        self
    }

    fn plant(&mut self, secrets: &[&str]) -> &mut Self {
        self.planted.extend(secrets.iter().map(|s| s.to_string()));
        self
    }

    fn date(&mut self, ymd: (i64, u32, u32), spelling: &'static str) -> &mut Self {
        self.dates.push(PlantedDate { ymd, spelling });
        self
    }
}

fn item(elements: Vec<(Tag, VR, &str)>) -> InMemDicomObject {
    InMemDicomObject::from_element_iter(
        elements
            .into_iter()
            .map(|(t, vr, v)| DataElement::new(t, vr, PrimitiveValue::from(v))),
    )
}

fn with_items(
    mut object: InMemDicomObject,
    tag: Tag,
    items: Vec<InMemDicomObject>,
) -> InMemDicomObject {
    object.put(DataElement::new(tag, VR::SQ, DataSetSequence::from(items)));
    object
}

/// A code item (value, scheme, meaning).
fn code(value: &str, meaning: &str) -> InMemDicomObject {
    item(vec![
        (tags::CODE_VALUE, VR::SH, value),
        (tags::CODING_SCHEME_DESIGNATOR, VR::SH, "99ADV"),
        (tags::CODE_MEANING, VR::LO, meaning),
    ])
}

/// An SR content item of a value type, with a concept name.
fn content(value_type: &str, concept: &str, value: Option<(Tag, VR, &str)>) -> InMemDicomObject {
    let mut object = item(vec![
        (tags::RELATIONSHIP_TYPE, VR::CS, "CONTAINS"),
        (tags::VALUE_TYPE, VR::CS, value_type),
    ]);
    object = with_items(
        object,
        tags::CONCEPT_NAME_CODE_SEQUENCE,
        vec![code("ADV1", concept)],
    );
    if let Some((tag, vr, v)) = value {
        object.put(DataElement::new(tag, vr, PrimitiveValue::from(v)));
    }
    object
}

const SR: &str = "1.2.840.10008.5.1.4.1.1.88.22"; // Enhanced SR
const GSPS: &str = "1.2.840.10008.5.1.4.1.1.11.1";
const SC: &str = "1.2.840.10008.5.1.4.1.1.7";

/// Writes the corpus under `root`.
pub fn write_adversarial(root: &Path) -> Result<AdversarialCorpus, SynthError> {
    let patients = patients();
    let mut vectors = Vec::new();
    let mut uids = Vec::new();
    let specs = vector_specs();
    for (index, (name, class, patient, sop_class, build)) in specs.into_iter().enumerate() {
        let truth = &patients[patient];
        let digits: String = truth.id.chars().filter(char::is_ascii_digit).collect();
        let study = format!("{ROOT}.{digits}.1");
        let series = format!("{ROOT}.{digits}.1.{index}");
        let sop = format!("{ROOT}.{digits}.1.{index}.1");
        let mut builder = Builder {
            object: InMemDicomObject::new_empty(),
            planted: Vec::new(),
            dates: Vec::new(),
            un: false,
        };
        let charset = match patient {
            2 => "ISO 2022 IR 6\\ISO 2022 IR 87",
            3 => "ISO_IR 100",
            4 => "ISO_IR 192",
            _ => "ISO_IR 192",
        };
        let patient_name = if patient == 2 {
            japanese_name_bytes()
        } else {
            truth.name.clone()
        };
        builder
            .text(tags::SPECIFIC_CHARACTER_SET, VR::CS, charset)
            .text(tags::SOP_CLASS_UID, VR::UI, sop_class)
            .text(tags::SOP_INSTANCE_UID, VR::UI, &sop)
            .text(tags::STUDY_INSTANCE_UID, VR::UI, &study)
            .text(tags::SERIES_INSTANCE_UID, VR::UI, &series)
            .text(tags::STUDY_DATE, VR::DA, &truth.study_date)
            .text(
                tags::MODALITY,
                VR::CS,
                if sop_class == SR { "SR" } else { "OT" },
            )
            .text(tags::PATIENT_NAME, VR::PN, &patient_name)
            .text(tags::PATIENT_ID, VR::LO, &truth.id)
            .text(tags::PATIENT_BIRTH_DATE, VR::DA, &truth.birth_date)
            .text(tags::SERIES_NUMBER, VR::IS, "1")
            .text(tags::INSTANCE_NUMBER, VR::IS, &(index + 1).to_string());
        build(&mut builder, &sop);
        let path = root.join(format!("{index:02}_{name}.dcm"));
        let object = if builder.un {
            all_un(&builder.object)
        } else {
            builder.object.clone()
        };
        let mut file = object
            .with_meta(
                FileMetaTableBuilder::new()
                    .transfer_syntax(uids::EXPLICIT_VR_LITTLE_ENDIAN)
                    .media_storage_sop_class_uid(sop_class)
                    .media_storage_sop_instance_uid(&sop)
                    .implementation_class_uid(format!("{ROOT}.0"))
                    .implementation_version_name("GANTRY_ADV"),
            )
            .map_err(|e| SynthError::Write {
                path: path.clone(),
                detail: e.to_string(),
            })?;
        // The builder takes the instance UID from the data set, which an all-UN object holds
        // as bytes: the meta group says it as text.
        file.meta_mut().media_storage_sop_instance_uid = sop.clone();
        file.meta_mut().update_information_group_length();
        write_file(&file, &path)?;
        uids.extend([study, series, sop]);
        let mut planted = builder.planted;
        planted.push(truth.id.clone());
        vectors.push(Vector {
            name,
            class,
            path,
            instance_number: index as u32 + 1,
            patient,
            planted,
            dates: builder.dates,
        });
    }
    uids.sort();
    uids.dedup();
    Ok(AdversarialCorpus {
        root: root.to_path_buf(),
        patients,
        vectors,
        uids,
        config: "version: \"2.0\"\nprofile_options: [clean_descriptors, clean_structured_content, clean_graphics]\ndate_jitter: { min_days: -400, max_days: -10 }\n".into(),
    })
}

/// Every element of `object` re-encoded as UN holding its value's bytes (what an
/// implicit-VR source read without a dictionary, or a careless converter, produces).
fn all_un(object: &InMemDicomObject) -> InMemDicomObject {
    let mut out = InMemDicomObject::new_empty();
    for element in object.iter() {
        let tag = element.header().tag;
        if tag == tags::SPECIFIC_CHARACTER_SET || tag == tags::SOP_CLASS_UID {
            out.put(element.clone());
            continue;
        }
        let mut bytes = match element.value() {
            dicom_core::value::Value::Primitive(p) => p.to_bytes().into_owned(),
            _ => continue,
        };
        if bytes.len() % 2 == 1 {
            bytes.push(if element.header().vr == VR::UI {
                0
            } else {
                b' '
            });
        }
        out.put(DataElement::new(tag, VR::UN, PrimitiveValue::from(bytes)));
    }
    out
}

type Build = fn(&mut Builder, &str);

/// The vectors: name, class, patient, SOP class, and what the file plants.
fn vector_specs() -> Vec<(&'static str, &'static str, usize, &'static str, Build)> {
    vec![
        // 1. Free text the profile does not list, at the top level.
        ("top_text_value", "unlisted free text", 0, SC, |b, _| {
            b.text(
                Tag(0x0040, 0xA160),
                VR::UT,
                "Wife Henrietta Wojciechowska called",
            )
            .plant(&["Wojciechowska", "Henrietta"]);
        }),
        (
            "content_description",
            "unlisted free text",
            0,
            SC,
            |b, _| {
                b.text(Tag(0x0070, 0x0081), VR::LO, "Kowalski knee series")
                    .plant(&["Kowalski"]);
            },
        ),
        (
            "completion_flag_description",
            "unlisted free text",
            1,
            SR,
            |b, _| {
                b.text(
                    Tag(0x0040, 0xA492),
                    VR::LO,
                    "verified by Dr Ignatius Pemberton-Hale",
                )
                .plant(&["Pemberton", "Ignatius"]);
            },
        ),
        ("unknown_public_lt", "unlisted free text", 0, SC, |b, _| {
            b.text(Tag(0x0018, 0xFFF2), VR::LT, "Jan Kowalski 555-0142")
                .plant(&["Kowalski", "555-0142"]);
        }),
        (
            "unknown_public_ob_text",
            "unlisted free text",
            1,
            SC,
            |b, _| {
                b.object.put(DataElement::new(
                    Tag(0x0028, 0xFFF4),
                    VR::OB,
                    PrimitiveValue::from(b"Patient Oliveira-Santos ADV20002".to_vec()),
                ));
                b.plant(&["Oliveira"]);
            },
        ),
        ("retrieve_url", "URL", 0, SC, |b, sop| {
            let url = format!(
                "https://pacs.example.org/wado?studyUID={ROOT}.10001.1&objectUID={sop}&patient=ADV10001"
            );
            b.text(Tag(0x0008, 0x1190), VR::UR, &url);
        }),
        // 2. Known-safe text holding PHI: the detector reads it.
        ("code_meaning_title", "code meaning", 0, SC, |b, _| {
            b.seq(
                tags::PROCEDURE_CODE_SEQUENCE,
                vec![code("P1", "Review requested by Dr. Theodora Blumenkranz")],
            )
            .plant(&["Blumenkranz", "Theodora"]);
        }),
        ("code_meaning_email", "code meaning", 1, SC, |b, _| {
            b.seq(
                tags::ANATOMIC_REGION_SEQUENCE,
                vec![code("T-1", "Knee, results to m.oliveira@example.org")],
            )
            .plant(&["m.oliveira@example.org", "oliveira"]);
        }),
        ("window_explanation_date", "date in text", 0, SC, |b, _| {
            b.text(Tag(0x0028, 0x1055), VR::LO, "BONE 2021-03-04")
                .date((2021, 3, 4), "{Y}-{MM}-{DD}");
        }),
        ("segment_label_date", "date in text", 1, SC, |b, _| {
            b.text(Tag(0x0062, 0x0005), VR::LO, "Lesion 17.05.2022")
                .date((2022, 5, 17), "{DD}.{MM}.{Y}");
        }),
        ("beam_name_phone", "contact", 0, SC, |b, _| {
            b.text(Tag(0x300A, 0x00C2), VR::LO, "Field call +48 22 555 0199")
                .plant(&["555 0199"]);
        }),
        ("channel_label_id", "ID-like number", 1, SC, |b, _| {
            b.text(Tag(0x003A, 0x0203), VR::SH, "LEAD MRN 88471234")
                .plant(&["88471234"]);
        }),
        // 3. Structured Report content.
        ("sr_text_value_deep", "structured report", 0, SR, |b, _| {
            let leaf = content(
                "TEXT",
                "Finding",
                Some((
                    tags::TEXT_VALUE,
                    VR::UT,
                    "Patient Jan Kowalski seen on 4 March 2021 by Dr. Edmund Fairweather",
                )),
            );
            let mid = with_items(
                content("CONTAINER", "Section", None),
                tags::CONTENT_SEQUENCE,
                vec![leaf],
            );
            let top = with_items(
                content("CONTAINER", "Report", None),
                tags::CONTENT_SEQUENCE,
                vec![mid],
            );
            b.seq(tags::CONTENT_SEQUENCE, vec![top])
                .plant(&["Kowalski", "Fairweather", "Edmund"])
                .date((2021, 3, 4), "{D} {Month} {Y}");
        }),
        ("sr_person_name", "structured report", 1, SR, |b, _| {
            let person = content(
                "PNAME",
                "Observer",
                Some((tags::PERSON_NAME, VR::PN, "FAIRCLOUGH^WILHELMINA")),
            );
            b.seq(tags::CONTENT_SEQUENCE, vec![person])
                .plant(&["Fairclough", "Wilhelmina"]);
        }),
        ("sr_datetime", "structured report", 0, SR, |b, _| {
            let dt = content(
                "DATETIME",
                "Event",
                Some((tags::DATE_TIME, VR::DT, "20210304101500")),
            );
            let date = content("DATE", "Onset", Some((tags::DATE, VR::DA, "20210227")));
            b.seq(tags::CONTENT_SEQUENCE, vec![dt, date])
                .plant(&["20210304101500", "20210227"]);
        }),
        ("sr_uid_ref", "structured report", 1, SR, |b, _| {
            let uid = content(
                "UIDREF",
                "Study",
                Some((tags::UID, VR::UI, &format!("{ROOT}.20002.1"))),
            );
            b.seq(tags::CONTENT_SEQUENCE, vec![uid]);
        }),
        (
            "sr_code_meaning_relative",
            "structured report",
            1,
            SR,
            |b, _| {
                let coded = with_items(
                    content("CODE", "Informant", None),
                    tags::CONCEPT_CODE_SEQUENCE,
                    vec![code("I1", "Mother: Rosalind Quintanilla")],
                );
                b.seq(tags::CONTENT_SEQUENCE, vec![coded])
                    .plant(&["Quintanilla", "Rosalind"]);
            },
        ),
        ("sr_observer_context", "structured report", 0, SR, |b, _| {
            let observer = content(
                "TEXT",
                "Observer",
                Some((
                    tags::TEXT_VALUE,
                    VR::UT,
                    "signed by: Octavia Brennan-Moss, tel 020 7946 0958",
                )),
            );
            b.seq(tags::CONTENT_SEQUENCE, vec![observer]).plant(&[
                "Brennan",
                "Octavia",
                "7946 0958",
            ]);
        }),
        // 4. Presentation states and annotations.
        ("gsps_text_object", "annotation", 0, GSPS, |b, _| {
            let text = item(vec![(
                Tag(0x0070, 0x0006),
                VR::ST,
                "KOWALSKI JAN ADV10001 2021-03-04",
            )]);
            let annotation = with_items(
                item(vec![(Tag(0x0070, 0x0002), VR::CS, "ANNOTATIONS")]),
                Tag(0x0070, 0x0008),
                vec![text],
            );
            b.seq(Tag(0x0070, 0x0001), vec![annotation])
                .text(Tag(0x0070, 0x0080), VR::CS, "LABEL")
                .plant(&["Kowalski"]);
        }),
        ("gsps_content_description", "annotation", 1, GSPS, |b, _| {
            b.text(
                Tag(0x0070, 0x0081),
                VR::LO,
                "Prepared for Maria Oliveira-Santos",
            )
            .plant(&["Oliveira", "Santos"]);
        }),
        (
            "graphic_layer_description",
            "annotation",
            0,
            GSPS,
            |b, _| {
                let layer = item(vec![
                    (Tag(0x0070, 0x0002), VR::CS, "L1"),
                    (
                        Tag(0x0070, 0x0068),
                        VR::LO,
                        "measurements by Cornelius Ashdown",
                    ),
                ]);
                b.seq(Tag(0x0070, 0x0060), vec![layer])
                    .plant(&["Ashdown", "Cornelius"]);
            },
        ),
        // 5. Other people's names and the session's staff.
        ("staff_elsewhere_1", "other people", 0, SC, |b, _| {
            b.text(tags::OPERATORS_NAME, VR::PN, "THISTLEWOOD^PERPETUA")
                .plant(&["Thistlewood", "Perpetua"]);
        }),
        ("staff_elsewhere_2", "other people", 1, SC, |b, _| {
            b.text(
                tags::IMAGE_COMMENTS,
                VR::LT,
                "positioning checked, Thistlewood",
            )
            .plant(&["Thistlewood"]);
        }),
        ("relative_in_history", "other people", 0, SC, |b, _| {
            b.text(
                tags::ADDITIONAL_PATIENT_HISTORY,
                VR::LT,
                "accompanied by daughter Philippa Kowalska",
            )
            .plant(&["Philippa", "Kowalska"]);
        }),
        ("dictating_physician", "other people", 1, SC, |b, _| {
            b.text(
                tags::IMAGE_COMMENTS,
                VR::LT,
                "Dictated by Prof. Aurelio Vanterpool",
            )
            .plant(&["Vanterpool", "Aurelio"]);
        }),
        ("other_patient_in_text", "other people", 1, SC, |b, _| {
            b.text(tags::STUDY_DESCRIPTION, VR::LO, "compare with KOWALSKI")
                .plant(&["Kowalski"]);
        }),
        ("name_pair_census", "other people", 0, SC, |b, _| {
            b.text(
                tags::SERIES_DESCRIPTION,
                VR::LO,
                "Copy for Margaret Hutchinson",
            )
            .plant(&["Hutchinson"]);
        }),
        // 6. Dates in prose.
        (
            "study_description_iso_date",
            "date in text",
            0,
            SC,
            |b, _| {
                b.text(tags::STUDY_DESCRIPTION, VR::LO, "Follow-up 2020-11-30")
                    .date((2020, 11, 30), "{Y}-{MM}-{DD}");
            },
        ),
        (
            "image_comments_month_name",
            "date in text",
            1,
            SC,
            |b, _| {
                b.text(
                    tags::IMAGE_COMMENTS,
                    VR::LT,
                    "previous exam March 3, 2022 unchanged",
                )
                .date((2022, 3, 3), "{Month} {D}, {Y}");
            },
        ),
        (
            "series_description_compact",
            "date in text",
            0,
            SC,
            |b, _| {
                b.text(tags::SERIES_DESCRIPTION, VR::LO, "RECON 20210301")
                    .date((2021, 3, 1), "{Y}{MM}{DD}");
            },
        ),
        ("protocol_us_date", "date in text", 1, SC, |b, _| {
            b.text(tags::PROTOCOL_NAME, VR::LO, "KNEE 05/16/2022")
                .date((2022, 5, 16), "{MM}/{DD}/{Y}");
        }),
        ("birth_date_in_text", "date in text", 0, SC, |b, _| {
            b.text(
                tags::ADDITIONAL_PATIENT_HISTORY,
                VR::LT,
                "born 14.02.1961, smoker",
            )
            .plant(&["14.02.1961"]);
        }),
        // 7. UIDs in values that are not UI.
        ("uid_in_comments", "UID in text", 0, SC, |b, sop| {
            let text = format!("see also {sop}");
            b.text(tags::IMAGE_COMMENTS, VR::LT, &text);
        }),
        ("uid_in_derivation", "UID in text", 1, SC, |b, _| {
            b.text(
                tags::DERIVATION_DESCRIPTION,
                VR::ST,
                &format!("derived from {ROOT}.20002.1"),
            );
        }),
        // 8. Everything UN.
        ("all_un", "UN encoding", 0, SC, |b, _| {
            b.text(tags::OPERATORS_NAME, VR::PN, "GRIMSHAW^BARNABY")
                .text(tags::ACQUISITION_DATE, VR::DA, "20210304")
                .text(tags::STUDY_DESCRIPTION, VR::LO, "CT for Kowalski")
                .plant(&["Grimshaw", "Barnaby", "Kowalski", "KOWALSKI^JAN"]);
            b.un = true;
        }),
        ("un_person_name", "UN encoding", 1, SC, |b, _| {
            b.object.put(DataElement::new(
                tags::REFERRING_PHYSICIAN_NAME,
                VR::UN,
                PrimitiveValue::from(b"LOCKWOOD^EUPHEMIA ".to_vec()),
            ));
            b.plant(&["Lockwood", "Euphemia"]);
        }),
        // 9. Character sets and name forms.
        ("iso2022_echo", "character set", 2, SC, |b, _| {
            // 山田 in JIS X 0208 inside a description.
            b.text(
                tags::STUDY_DESCRIPTION,
                VR::LO,
                &latin1(b"\x1b$B;3ED\x1b(B CT"),
            )
            .plant(&["山田", "太郎", "Yamada", "Tarou", ";3ED"]);
        }),
        ("latin1_echo", "character set", 3, SC, |b, _| {
            b.text(tags::IMAGE_COMMENTS, VR::LT, "Herr Böhm, Kontrolle")
                .plant(&["Böhm", "Jürgen", "B\u{f6}hm"]);
        }),
        ("utf8_echo", "character set", 4, SC, |b, _| {
            b.text(tags::STUDY_DESCRIPTION, VR::LO, "Øyelund kontroll")
                .plant(&["Øyelund", "Ægir"]);
        }),
        ("hyphenated_part", "character set", 1, SC, |b, _| {
            b.text(tags::SERIES_DESCRIPTION, VR::LO, "SANTOS knee")
                .plant(&["Santos"]);
        }),
        ("name_in_protocol_caret", "character set", 0, SC, |b, _| {
            b.text(tags::PROTOCOL_NAME, VR::LO, "KOWALSKI^JAN protocol")
                .plant(&["Kowalski"]);
        }),
        // 10. Contact details and identifiers of other kinds.
        ("email_in_description", "contact", 1, SC, |b, _| {
            b.text(
                tags::STUDY_DESCRIPTION,
                VR::LO,
                "send to ward7.clerk@hospital.example",
            )
            .plant(&["ward7.clerk@hospital.example", "hospital.example"]);
        }),
        ("postcode_in_history", "contact", 0, SC, |b, _| {
            b.text(
                tags::ADDITIONAL_PATIENT_HISTORY,
                VR::LT,
                "lives alone, SW1A 2AA",
            )
            .plant(&["SW1A 2AA"]);
        }),
        ("ssn_in_comments", "ID-like number", 1, SC, |b, _| {
            b.text(
                tags::IMAGE_COMMENTS,
                VR::LT,
                "insurance 078-05-1120 verified",
            )
            .plant(&["078-05-1120"]);
        }),
        ("accession_like", "ID-like number", 0, SC, |b, _| {
            b.text(tags::SERIES_DESCRIPTION, VR::LO, "ACC 99887766 recon")
                .plant(&["99887766"]);
        }),
        ("lower_case_echo", "echo", 0, SC, |b, _| {
            b.text(
                tags::IMAGE_COMMENTS,
                VR::LT,
                "mr kowalski tolerated the exam",
            )
            .plant(&["kowalski"]);
        }),
    ]
}
