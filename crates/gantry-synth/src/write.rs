//! Writing planned instances to disk in their transfer syntax.

use std::path::Path;

use dicom_dictionary_std::uids;
use dicom_encoding::TransferSyntaxIndex;
use dicom_object::{FileDicomObject, FileMetaTableBuilder, InMemDicomObject};
use dicom_pixeldata::Transcode;
use dicom_transfer_syntax_registry::TransferSyntaxRegistry;

use crate::objects::{InstanceSpec, build, encapsulate_rle};
use crate::people::PatientTruth;
use crate::{Plan, SynthError, UID_ROOT};

/// How an instance is encoded on disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Encoding {
    ExplicitLittle,
    ImplicitLittle,
    ExplicitBig,
    Rle,
    JpegBaseline,
}

impl Encoding {
    pub(crate) fn uid(self) -> &'static str {
        match self {
            Encoding::ExplicitLittle => uids::EXPLICIT_VR_LITTLE_ENDIAN,
            Encoding::ImplicitLittle => uids::IMPLICIT_VR_LITTLE_ENDIAN,
            Encoding::ExplicitBig => "1.2.840.10008.1.2.2",
            Encoding::Rle => uids::RLE_LOSSLESS,
            Encoding::JpegBaseline => uids::JPEG_BASELINE8_BIT,
        }
    }
}

pub(crate) fn instance(plan: &Plan, patients: &[PatientTruth]) -> Result<(), SynthError> {
    let truth = &plan.truth;
    let patient = &patients[truth.patient];
    let spec = InstanceSpec {
        patient,
        device: truth.device,
        geometry: truth.geometry,
        band: truth.burned_in_band,
        study_uid: truth.study_instance_uid.clone(),
        series_uid: truth.series_instance_uid.clone(),
        sop_uid: truth.sop_instance_uid.clone(),
        frame_of_reference_uid: format!("{UID_ROOT}.{}.77", patient.mrn_digits),
        referenced_sop_uid: truth.references.clone(),
        accession: plan.accession.clone(),
        study_date: truth.study_date.clone(),
        study_time: plan.study_time.clone(),
        series_number: plan.series_number,
        instance_number: plan.instance_number,
        study_description: plan.study_description.clone(),
        seed: plan.seed,
    };
    let mut obj = build(&spec);
    let fail = |detail: String| SynthError::Write {
        path: truth.path.clone(),
        detail,
    };
    let file = match plan.encoding {
        Encoding::Rle => {
            encapsulate_rle(&mut obj, &truth.geometry).map_err(|e| fail(e.to_string()))?;
            with_meta(obj, Encoding::Rle).map_err(|e| fail(e.to_string()))?
        }
        Encoding::JpegBaseline => {
            let mut file =
                with_meta(obj, Encoding::ExplicitLittle).map_err(|e| fail(e.to_string()))?;
            let ts = TransferSyntaxRegistry
                .get(uids::JPEG_BASELINE8_BIT)
                .ok_or_else(|| fail("JPEG Baseline is not registered".into()))?;
            file.transcode(ts).map_err(|e| fail(e.to_string()))?;
            file
        }
        other => with_meta(obj, other).map_err(|e| fail(e.to_string()))?,
    };
    write_file(&file, &truth.path)
}

fn with_meta(
    obj: InMemDicomObject,
    encoding: Encoding,
) -> Result<FileDicomObject<InMemDicomObject>, dicom_object::WithMetaError> {
    obj.with_meta(
        FileMetaTableBuilder::new()
            .transfer_syntax(encoding.uid())
            .implementation_class_uid(format!("{UID_ROOT}.0.1"))
            .implementation_version_name("GANTRY_SYNTH"),
    )
}

pub(crate) fn write_file(
    file: &FileDicomObject<InMemDicomObject>,
    path: &Path,
) -> Result<(), SynthError> {
    let fail = |detail: String| SynthError::Write {
        path: path.to_path_buf(),
        detail,
    };
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(|e| fail(e.to_string()))?;
    }
    file.write_to_file(path).map_err(|e| fail(e.to_string()))
}
