//! What the suites share: writing a small instance, and listing what an export wrote.

#![allow(dead_code)] // each suite uses part of this

use std::path::{Path, PathBuf};

/// Every file under `dir`, in path order (so two exports compare pairwise).
pub fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else {
                out.push(path);
            }
        }
    }
    out.sort();
    out
}

/// Every `.dcm` file under `dir`, in path order.
pub fn dicom_files(dir: &Path) -> Vec<PathBuf> {
    files_under(dir)
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == "dcm"))
        .collect()
}

/// A dump of `files` small instances under `dir`, and a config beside it that keeps
/// Image Comments (free text the identity pass's identifiers are searched in) with the
/// dump's machine rules.
pub fn dump_keeping_comments(dir: &Path, files: usize) -> (gantry_synth::SyntheticDump, PathBuf) {
    let dump = gantry_synth::generate(
        &dir.join("dump"),
        &gantry_synth::DumpSpec::many_small_files(files),
    )
    .unwrap();
    let config = dir.join("config.yaml");
    std::fs::write(
        &config,
        format!(
            "version: \"2.0\"\nphi_tags:\n  ImageComments: {{ action: KEEP }}\n{}",
            dump.machine_rules()
        ),
    )
    .unwrap();
    (dump, config)
}

/// Renames the patient of the first instance under `root` to Quillfeather^Zebedee and
/// writes "seen with Zebedee Quillfeather" into the Image Comments of an instance of
/// another patient: an echo only a current identity pass finds. Returns that instance.
pub fn plant_renamed_echo(root: &Path) -> PathBuf {
    use dicom_core::{DataElement, PrimitiveValue, VR};
    use dicom_dictionary_std::tags;
    let mut files = dicom_files(root).into_iter();
    let renamed = files.next().expect("an instance");
    let mut object = dicom_object::open_file(&renamed).unwrap().into_inner();
    let id = object
        .get(tags::PATIENT_ID)
        .unwrap()
        .to_str()
        .unwrap()
        .to_string();
    object.put(DataElement::new(
        tags::PATIENT_NAME,
        VR::PN,
        PrimitiveValue::from("Quillfeather^Zebedee"),
    ));
    write_instance(&renamed, object);
    let other = files
        .find(|f| {
            let o = dicom_object::open_file(f).unwrap();
            o.element(tags::PATIENT_ID).unwrap().to_str().unwrap() != id
        })
        .expect("an instance of another patient");
    let mut object = dicom_object::open_file(&other).unwrap().into_inner();
    object.put(DataElement::new(
        tags::IMAGE_COMMENTS,
        VR::LT,
        PrimitiveValue::from("seen with Zebedee Quillfeather"),
    ));
    write_instance(&other, object);
    other
}

/// Writes `object` as an Explicit VR Little Endian file whose meta group names its SOP
/// Class UID.
pub fn write_instance(path: &Path, object: dicom_object::InMemDicomObject) {
    write_instance_as(path, object, "1.2.840.10008.1.2.1");
}

/// [`write_instance`] in another transfer syntax (Implicit VR Little Endian holds text
/// values longer than the 64 KiB an explicit VR of LO, SH or PN can).
pub fn write_instance_as(path: &Path, object: dicom_object::InMemDicomObject, syntax: &str) {
    let class = object
        .get(dicom_dictionary_std::tags::SOP_CLASS_UID)
        .map(|e| e.to_str().unwrap().trim_end_matches('\0').to_string())
        .unwrap_or_default();
    object
        .with_meta(
            dicom_object::FileMetaTableBuilder::new()
                .media_storage_sop_class_uid(class)
                .transfer_syntax(syntax),
        )
        .unwrap()
        .write_to_file(path)
        .unwrap();
}

/// Checkpoints 1 to 9 on `source` (a file or folder) with `config` (YAML text) in a session
/// under `work`; export to `work/out`, through the safe gate when `safe`.
pub fn run_checkpoints(
    work: &Path,
    source: &Path,
    config: &str,
    safe: bool,
) -> gantry_core::ExportReport {
    let mut session = gantry_core::Session::builder()
        .database(work.join("gantry.db"))
        .open()
        .unwrap();
    session.ingest(source).unwrap();
    let path = work.join("config.yaml");
    std::fs::write(&path, config).unwrap();
    session.load_config(&path).unwrap();
    session.audit().unwrap();
    session.anonymize_metadata().unwrap();
    session.redact_pixels().unwrap();
    session.verify().unwrap();
    session.export(work.join("out")).safe(safe).run().unwrap()
}
