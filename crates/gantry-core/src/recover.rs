//! Authorised re-identification: open the sealed originals in exported files with the key
//! (or the password), and optionally write re-identified copies (PS3.15 E.1.2).

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use dicom_core::Tag;
use dicom_dictionary_std::tags;
use dicom_object::{FileDicomObject, InMemDicomObject, OpenFileOptions};
use gantry_crypto::{Credential, Unsealer};
use rayon::prelude::*;
use serde::Serialize;

use crate::error::{GantryError, Result};
use crate::report::duration_secs;

/// The originals recovered from one file.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RecoveredFile {
    /// The de-identified file.
    #[serde(serialize_with = "crate::report::path_text")]
    pub path: PathBuf,
    /// The original values by tag (`"GGGG,EEEE"`); sequences as `(sequence of N items)`.
    pub originals: BTreeMap<String, String>,
    /// The re-identified copy, when one was asked for.
    #[serde(serialize_with = "crate::report::option_path_text")]
    pub written: Option<PathBuf>,
}

/// A file that could not be opened, and why (wrong key, wrong password, altered, ...).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RecoveryFailure {
    /// The file.
    #[serde(serialize_with = "crate::report::path_text")]
    pub path: PathBuf,
    /// Why.
    pub detail: String,
}

/// What recovery found.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RecoveryReport {
    /// Files whose originals were recovered.
    pub recovered: Vec<RecoveredFile>,
    /// Files that could not be.
    pub failed: Vec<RecoveryFailure>,
    /// Wall-clock time.
    #[serde(serialize_with = "duration_secs")]
    pub duration: Duration,
}

impl fmt::Display for RecoveryReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "Recovered the originals of {} files in {:.2} s; {} failed",
            self.recovered.len(),
            self.duration.as_secs_f64(),
            self.failed.len()
        )?;
        for file in &self.recovered {
            writeln!(f, "  {}", file.path.display())?;
            for (tag, value) in &file.originals {
                writeln!(f, "    ({tag}) {value}")?;
            }
            if let Some(written) = &file.written {
                writeln!(f, "    re-identified copy: {}", written.display())?;
            }
        }
        for failure in &self.failed {
            writeln!(f, "  failed {}: {}", failure.path.display(), failure.detail)?;
        }
        Ok(())
    }
}

/// Recovers the sealed originals of every DICOM file under `input` (a file or a folder)
/// with `credential`. With `out`, writes a re-identified copy of each file there, at the
/// same relative path: the originals put back, the seal and the de-identification markers
/// removed, Patient Identity Removed set to NO.
pub fn recover_identities(
    input: &Path,
    credential: Credential<'_>,
    out: Option<&Path>,
) -> Result<RecoveryReport> {
    let started = Instant::now();
    let root = if input.is_dir() {
        input.to_path_buf()
    } else {
        input.parent().map(Path::to_path_buf).unwrap_or_default()
    };
    let mut files = Vec::new();
    collect(input, &mut files).map_err(|source| GantryError::Io {
        path: input.to_path_buf(),
        source,
    })?;
    files.sort();
    if let Some(out) = out {
        // Recovered files carry the patients' identities: owner-only, as the database.
        gantry_store::create_private_dir_all(out).map_err(|source| GantryError::Io {
            path: out.to_path_buf(),
            source,
        })?;
    }
    let unsealer = Unsealer::new(credential);
    let results: Vec<std::result::Result<RecoveredFile, RecoveryFailure>> = files
        .par_iter()
        .map(|path| {
            recover_one(&unsealer, path, &root, out).map_err(|e| RecoveryFailure {
                path: path.clone(),
                detail: e.to_string(),
            })
        })
        .collect();
    let (mut recovered, mut failed) = (Vec::new(), Vec::new());
    for r in results {
        match r {
            Ok(file) => recovered.push(file),
            Err(failure) => failed.push(failure),
        }
    }
    Ok(RecoveryReport {
        recovered,
        failed,
        duration: started.elapsed(),
    })
}

fn collect(path: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    if path.is_dir() {
        for entry in std::fs::read_dir(path)? {
            collect(&entry?.path(), out)?;
        }
    } else if path.file_name().is_some_and(|n| {
        // An export's own files, beside the instances.
        let n = n.to_string_lossy();
        !n.starts_with("manifest.") && n != crate::shard::DATASET_FILE
    }) {
        out.push(path.to_path_buf());
    }
    Ok(())
}

/// Why one file's originals cannot be recovered.
#[derive(Debug, thiserror::Error)]
enum Unrecoverable {
    /// The file cannot be read as DICOM.
    #[error("not a readable DICOM file: {0}")]
    NotDicom(Box<dicom_object::ReadError>),
    /// The file's structure does not hold together (a length past the end of the file,
    /// a cut-off element): the parser ingest uses says why, before dicom-rs would
    /// allocate what a damaged length claims.
    #[error("not a readable DICOM file: {0}")]
    Damaged(gantry_store::SkipReason),
    /// Bytes after its pixel data do not parse: dicom-rs, which reads the whole file to
    /// write the recovered copy, would meet them.
    #[error("not a readable DICOM file: bytes after its Pixel Data do not parse")]
    DamagedTail,
    /// Its seal cannot be opened with the credential (another key, no seal, damaged).
    #[error(transparent)]
    Sealed(gantry_crypto::CryptoError),
    /// The folder of its recovered copy cannot be made.
    #[error(transparent)]
    Folder(std::io::Error),
    /// Its recovered copy cannot be written.
    #[error("writing {}: {detail}", target.display())]
    Write {
        /// The file being written.
        target: PathBuf,
        /// What failed.
        detail: String,
    },
}

fn recover_one(
    unsealer: &Unsealer<'_>,
    path: &Path,
    root: &Path,
    out: Option<&Path>,
) -> std::result::Result<RecoveredFile, Unrecoverable> {
    // dicom-rs reads the whole file and zero-fills whatever length an element claims;
    // the ingest parser checks every claim against the file first.
    if gantry_store::read_source(path)
        .map_err(Unrecoverable::Damaged)?
        .unparsed_tail
    {
        return Err(Unrecoverable::DamagedTail);
    }
    let mut object: FileDicomObject<InMemDicomObject> = OpenFileOptions::new()
        .open_file(path)
        .map_err(|e| Unrecoverable::NotDicom(Box::new(e)))?;
    let originals = unsealer
        .open_dataset(&object)
        .map_err(Unrecoverable::Sealed)?;
    // Originals in code-extended character sets (ISO 2022) are listed as text.
    let readable = crate::charset::decoded(&originals);
    let listed = readable
        .iter()
        .map(|e| {
            let tag = e.header().tag;
            let value = match e.items() {
                Some(items) => format!("(sequence of {} items)", items.len()),
                None => e
                    .to_str()
                    .map(|s| s.into_owned())
                    .unwrap_or_else(|_| "(binary)".into()),
            };
            (format!("{:04X},{:04X}", tag.group(), tag.element()), value)
        })
        .collect();
    let written = match out {
        None => None,
        Some(out) => {
            let restored: std::collections::HashSet<Tag> =
                originals.iter().map(|e| e.header().tag).collect();
            let readable = readable.into_owned();
            for element in originals.into_iter() {
                object.put(element);
            }
            // Kept text is Unicode; the originals may be in ISO 2022 code extensions. The
            // kept text is written back in them, or, when it cannot be, everything is
            // written in UTF-8 (the same text, another encoding).
            if !crate::charset::encode_extended(&mut object, &restored) {
                for element in readable.into_iter() {
                    object.put(element);
                }
            }
            object.remove_element(gantry_crypto::ENCRYPTED_ATTRIBUTES_SEQUENCE);
            object.remove_element(tags::DEIDENTIFICATION_METHOD);
            object.remove_element(tags::DEIDENTIFICATION_METHOD_CODE_SEQUENCE);
            object.put(dicom_core::DataElement::new(
                tags::PATIENT_IDENTITY_REMOVED,
                dicom_core::VR::CS,
                dicom_core::PrimitiveValue::from("NO"),
            ));
            if let Some(uid) = crate::header::text(&object, Tag(0x0008, 0x0018)) {
                object.meta_mut().media_storage_sop_instance_uid = uid;
                object.meta_mut().update_information_group_length();
            }
            let rel = path.strip_prefix(root).unwrap_or(path);
            let target = out.join(rel);
            if let Some(parent) = target.parent() {
                gantry_store::create_private_dir_all(parent).map_err(Unrecoverable::Folder)?;
            }
            let writing = |detail: String| Unrecoverable::Write {
                target: target.clone(),
                detail,
            };
            let file = gantry_store::create_private(&target).map_err(|e| writing(e.to_string()))?;
            let mut file = std::io::BufWriter::new(file);
            object
                .write_all(&mut file)
                .map_err(|e| writing(e.to_string()))?;
            std::io::Write::flush(&mut file).map_err(|e| writing(e.to_string()))?;
            Some(target)
        }
    };
    Ok(RecoveredFile {
        path: path.to_path_buf(),
        originals: listed,
        written,
    })
}
