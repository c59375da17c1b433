//! The typed rows of the index: instances and the files they came from.

use std::path::PathBuf;

use dicom_core::Tag;
use dicom_dictionary_std::tags;
use dicom_object::InMemDicomObject;
use serde::{Deserialize, Serialize};

use crate::source::{ParsedSource, PixelLocation, SkipReason, SourceStamp, SourceSyntax};

/// One indexed DICOM instance: the attributes the pipeline queries, and where its bytes are.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InstanceRecord {
    /// Row id in the store (0 before insertion).
    pub id: i64,
    /// SOP Instance UID (0008,0018).
    pub sop_instance_uid: String,
    /// SOP Class UID (0008,0016).
    pub sop_class_uid: Option<String>,
    /// Patient ID (0010,0020).
    pub patient_id: Option<String>,
    /// Issuer of Patient ID (0010,0021).
    pub issuer_of_patient_id: Option<String>,
    /// Patient's Birth Date.
    pub patient_birth_date: Option<String>,
    /// Patient's Name (0010,0010).
    pub patient_name: Option<String>,
    /// Study Instance UID (0020,000D).
    pub study_instance_uid: Option<String>,
    /// Series Instance UID (0020,000E).
    pub series_instance_uid: Option<String>,
    /// Study Date (0008,0020).
    pub study_date: Option<String>,
    /// Modality (0008,0060).
    pub modality: Option<String>,
    /// Manufacturer (0008,0070).
    pub manufacturer: Option<String>,
    /// Manufacturer's Model Name (0008,1090).
    pub model_name: Option<String>,
    /// Device Serial Number (0018,1000).
    pub serial_number: Option<String>,
    /// Rows (0028,0010).
    pub rows: Option<u32>,
    /// Columns (0028,0011).
    pub columns: Option<u32>,
    /// Number of Frames (0028,0008); absent means one frame.
    pub frames: Option<u32>,
    /// Bits Allocated (0028,0100).
    pub bits_allocated: Option<u32>,
    /// Samples per Pixel (0028,0002).
    pub samples_per_pixel: Option<u32>,
    /// Photometric Interpretation (0028,0004).
    pub photometric: Option<String>,
    /// Burned In Annotation (0028,0301), as written.
    pub burned_in_annotation: Option<String>,
    /// The transfer syntax, and whether it was guessed.
    pub syntax: SourceSyntax,
    /// The source file.
    pub source_path: PathBuf,
    /// The source file's size and mtime when indexed.
    pub stamp: SourceStamp,
    /// SHA-256 of the source file, computed when a duplicate needed it.
    pub content_hash: Option<[u8; 32]>,
    /// Where the pixel data lives in the source, if there is any.
    pub pixels: Option<PixelLocation>,
    /// Things noticed at ingest that did not stop indexing.
    pub notes: Vec<String>,
}

impl InstanceRecord {
    /// Builds the record of a parsed source; `None` when it has no SOP Instance UID.
    pub fn from_parsed(path: PathBuf, parsed: &ParsedSource) -> Option<InstanceRecord> {
        let h = &parsed.header;
        let sop_instance_uid = text(h, tags::SOP_INSTANCE_UID).filter(|s| !s.is_empty())?;
        Some(InstanceRecord {
            id: 0,
            sop_instance_uid,
            sop_class_uid: text(h, tags::SOP_CLASS_UID),
            patient_id: text(h, tags::PATIENT_ID),
            issuer_of_patient_id: text(h, tags::ISSUER_OF_PATIENT_ID),
            patient_birth_date: text(h, tags::PATIENT_BIRTH_DATE),
            patient_name: text(h, tags::PATIENT_NAME),
            study_instance_uid: text(h, tags::STUDY_INSTANCE_UID),
            series_instance_uid: text(h, tags::SERIES_INSTANCE_UID),
            study_date: text(h, tags::STUDY_DATE),
            modality: text(h, tags::MODALITY),
            manufacturer: text(h, tags::MANUFACTURER),
            model_name: text(h, tags::MANUFACTURER_MODEL_NAME),
            serial_number: text(h, tags::DEVICE_SERIAL_NUMBER),
            rows: number(h, tags::ROWS),
            columns: number(h, tags::COLUMNS),
            frames: number(h, tags::NUMBER_OF_FRAMES),
            bits_allocated: number(h, tags::BITS_ALLOCATED),
            samples_per_pixel: number(h, tags::SAMPLES_PER_PIXEL),
            photometric: text(h, tags::PHOTOMETRIC_INTERPRETATION),
            burned_in_annotation: text(h, tags::BURNED_IN_ANNOTATION),
            syntax: parsed.syntax.clone(),
            source_path: path,
            stamp: parsed.stamp,
            content_hash: None,
            pixels: parsed.pixels.clone(),
            notes: parsed.notes.clone(),
        })
    }

    /// Frames in the image: Number of Frames, or one when it is absent.
    pub fn frame_count(&self) -> u32 {
        self.frames.unwrap_or(1).max(1)
    }
}

/// A trimmed text value, or `None` when absent or unreadable.
/// The text of an element: a string value as decoded; UN and OB values as the text their
/// bytes hold (PS3.5 6.2.2: a standard attribute stored as UN keeps its text as bytes,
/// which dicom-rs would render as a list of numbers); empty for an empty value; `None` for
/// sequences and encapsulated pixel data.
pub fn element_text(element: &dicom_object::mem::InMemElement) -> Option<String> {
    use dicom_core::value::{PrimitiveValue, Value};
    match element.value() {
        Value::Primitive(PrimitiveValue::Empty) => Some(String::new()),
        Value::Primitive(p) if matches!(element.vr(), dicom_core::VR::UN | dicom_core::VR::OB) => {
            Some(String::from_utf8_lossy(&p.to_bytes()).into_owned())
        }
        Value::Primitive(p) => Some(p.to_str().into_owned()),
        _ => None,
    }
}

/// The trimmed text of `tag` in `obj` ([`element_text`]), or `None` when absent or not text.
pub fn text_of(obj: &InMemDicomObject, tag: Tag) -> Option<String> {
    let value = element_text(obj.get(tag)?)?;
    Some(
        value
            .trim_matches(|c: char| c == '\0' || c.is_whitespace())
            .to_string(),
    )
}

pub(crate) use text_of as text;

fn number(obj: &InMemDicomObject, tag: Tag) -> Option<u32> {
    let element = obj.get(tag)?;
    if element.vr() == dicom_core::VR::UN
        && let Some(p) = element.value().primitive()
    {
        // US stored as UN: two little-endian bytes; IS: text.
        let bytes = p.to_bytes();
        return match bytes.len() {
            2 => Some(u32::from(u16::from_le_bytes([bytes[0], bytes[1]]))),
            _ => text(obj, tag)?.parse().ok(),
        };
    }
    element
        .to_int::<u32>()
        .ok()
        .or_else(|| text(obj, tag)?.parse().ok())
}

/// What ingest concluded about one file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FileOutcome {
    /// Indexed as an instance.
    Indexed,
    /// The same instance with the same content is already indexed from another file.
    Duplicate,
    /// Another file holds an instance with the same SOP Instance UID but different content.
    Conflict,
    /// Not indexed, for the recorded reason.
    Skipped,
    /// Not indexed here: it belongs to another shard of the dump (that shard indexes it,
    /// or records why it cannot).
    OtherShard,
}

impl FileOutcome {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            FileOutcome::Indexed => "indexed",
            FileOutcome::Duplicate => "duplicate",
            FileOutcome::Conflict => "conflict",
            FileOutcome::Skipped => "skipped",
            FileOutcome::OtherShard => "other_shard",
        }
    }

    pub(crate) fn parse(s: &str) -> FileOutcome {
        match s {
            "indexed" => FileOutcome::Indexed,
            "duplicate" => FileOutcome::Duplicate,
            "conflict" => FileOutcome::Conflict,
            "other_shard" => FileOutcome::OtherShard,
            _ => FileOutcome::Skipped,
        }
    }
}

/// One file seen by ingest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileRecord {
    /// The file.
    pub path: PathBuf,
    /// Its size and mtime when looked at.
    pub stamp: SourceStamp,
    /// What came of it.
    pub outcome: FileOutcome,
    /// Why it was skipped, when it was.
    pub reason: Option<SkipReason>,
    /// A sentence about duplicates and conflicts (which file it collides with).
    pub detail: Option<String>,
    /// The SOP Instance UID it holds, when it could be read.
    pub sop_instance_uid: Option<String>,
}

/// Filters for listing instances; every field set must match (exact, case-sensitive).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct InstanceFilter {
    /// Patient ID.
    pub patient_id: Option<String>,
    /// Study Instance UID.
    pub study_instance_uid: Option<String>,
    /// Series Instance UID.
    pub series_instance_uid: Option<String>,
    /// Modality.
    pub modality: Option<String>,
    /// Manufacturer.
    pub manufacturer: Option<String>,
    /// Manufacturer's Model Name.
    pub model_name: Option<String>,
    /// Device Serial Number.
    pub serial_number: Option<String>,
    /// Transfer Syntax UID.
    pub transfer_syntax: Option<String>,
    /// Burned In Annotation as written (e.g. `YES`).
    pub burned_in_annotation: Option<String>,
    /// At most this many rows.
    pub limit: Option<u64>,
}

/// An indexed column that inventories can group by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Column {
    /// Patient ID.
    PatientId,
    /// Study Instance UID.
    StudyInstanceUid,
    /// Series Instance UID.
    SeriesInstanceUid,
    /// Modality.
    Modality,
    /// Transfer Syntax UID.
    TransferSyntax,
    /// Photometric Interpretation.
    Photometric,
    /// Bits Allocated.
    BitsAllocated,
    /// Number of Frames.
    Frames,
    /// Burned In Annotation.
    BurnedInAnnotation,
}

impl Column {
    pub(crate) fn sql(self) -> &'static str {
        match self {
            Column::PatientId => "patient_id",
            Column::StudyInstanceUid => "study_instance_uid",
            Column::SeriesInstanceUid => "series_instance_uid",
            Column::Modality => "modality",
            Column::TransferSyntax => "transfer_syntax",
            Column::Photometric => "photometric",
            Column::BitsAllocated => "bits_allocated",
            Column::Frames => "COALESCE(frames, 1)",
            Column::BurnedInAnnotation => "burned_in_annotation",
        }
    }
}
