//! Files a real dump also holds: notes, empty and cut-off files, copies, collisions.

use std::fs;

use dicom_core::{DataElement, VR, value::PrimitiveValue};
use dicom_dictionary_std::{tags, uids};
use dicom_encoding::TransferSyntaxIndex;
use dicom_transfer_syntax_registry::TransferSyntaxRegistry;
use rand::Rng;

use crate::write::{Encoding, write_file};
use crate::{Device, JunkTruth, SynthError, SyntheticDump};

pub(crate) fn add(dump: &mut SyntheticDump, rng: &mut impl Rng) -> Result<(), SynthError> {
    let root = dump.root.join("misc");
    let io = |path: &std::path::Path, e: std::io::Error| SynthError::Write {
        path: path.to_path_buf(),
        detail: e.to_string(),
    };
    fs::create_dir_all(&root).map_err(|e| io(&root, e))?;
    let mut junk = |name: &str, bytes: Vec<u8>, reason: &'static str| -> Result<(), SynthError> {
        let path = root.join(name);
        fs::write(&path, bytes).map_err(|e| io(&path, e))?;
        dump.junk.push(JunkTruth {
            path,
            expected_reason: reason,
        });
        Ok(())
    };
    junk(
        "README.txt",
        b"Export from PACS, 2023 Q1. Contact radiology IT.\n".to_vec(),
        "not_dicom",
    )?;
    junk("empty.dcm", Vec::new(), "empty")?;
    let mut noise = b"\x89PNG\r\n\x1a\n".to_vec();
    noise.extend((0..4096).map(|_| rng.random::<u8>()));
    junk("thumbnail.png", noise, "not_dicom")?;

    // Cut-off copies of a real instance: once inside the header, once inside the pixels.
    let Some(source) = dump
        .instances
        .iter()
        .find(|i| i.device == Device::GeCt || i.device == Device::SiemensMr)
        .cloned()
    else {
        return Ok(());
    };
    let bytes = fs::read(&source.path).map_err(|e| io(&source.path, e))?;
    junk(
        "cut_in_header.dcm",
        bytes[..bytes.len().min(700)].to_vec(),
        "truncated",
    )?;
    junk(
        "cut_in_pixels.dcm",
        bytes[..bytes.len() - 100].to_vec(),
        "truncated",
    )?;

    // An object without a SOP Instance UID.
    let mut obj = dicom_object::open_file(&source.path)
        .map_err(|e| SynthError::Write {
            path: source.path.clone(),
            detail: e.to_string(),
        })?
        .into_inner();
    obj.remove_element(tags::SOP_INSTANCE_UID);
    let path = root.join("no_sop_instance_uid.dcm");
    let meta = dicom_object::FileMetaTableBuilder::new()
        .transfer_syntax(uids::EXPLICIT_VR_LITTLE_ENDIAN)
        .media_storage_sop_class_uid("1.2.840.10008.5.1.4.1.1.2")
        .media_storage_sop_instance_uid("1.2.3.4");
    let file = obj.clone().with_meta(meta).map_err(|e| SynthError::Write {
        path: path.clone(),
        detail: e.to_string(),
    })?;
    write_file(&file, &path)?;
    dump.junk.push(JunkTruth {
        path,
        expected_reason: "missing_sop_instance_uid",
    });

    // A byte-identical copy, and a different object reusing the same SOP Instance UID.
    let dup = dump.root.join("copies").join("IM_copy.dcm");
    fs::create_dir_all(dump.root.join("copies")).map_err(|e| io(&dup, e))?;
    fs::copy(&source.path, &dup).map_err(|e| io(&dup, e))?;
    dump.duplicates.push(dup);
    let mut changed = dicom_object::open_file(&source.path).map_err(|e| SynthError::Write {
        path: source.path.clone(),
        detail: e.to_string(),
    })?;
    changed.put(DataElement::new(
        tags::IMAGE_COMMENTS,
        VR::LT,
        PrimitiveValue::from("re-sent after correction"),
    ));
    let conflict = dump.root.join("copies").join("IM_resent.dcm");
    write_file(&changed, &conflict)?;
    dump.conflicts.push(conflict);

    // The data set alone, with no preamble and no meta group: readable with a guess.
    let mut alone = dicom_object::open_file(&source.path)
        .map_err(|e| SynthError::Write {
            path: source.path.clone(),
            detail: e.to_string(),
        })?
        .into_inner();
    alone.put(DataElement::new(
        tags::SOP_INSTANCE_UID,
        VR::UI,
        PrimitiveValue::from(format!("{}.999", source.series_instance_uid)),
    ));
    let path = root.join("dataset_without_meta.dcm");
    let ts = TransferSyntaxRegistry
        .get(Encoding::ImplicitLittle.uid())
        .ok_or_else(|| SynthError::Write {
            path: path.clone(),
            detail: "no implicit VR".into(),
        })?;
    let mut bytes = Vec::new();
    alone
        .write_dataset_with_ts(&mut bytes, ts)
        .map_err(|e| SynthError::Write {
            path: path.clone(),
            detail: e.to_string(),
        })?;
    fs::write(&path, bytes).map_err(|e| io(&path, e))?;
    dump.without_meta = Some(path);
    Ok(())
}
