//! A database whose instances were indexed before ingest kept their identity facts gets
//! the identity pass from the decoded originals. Alone in its binary: the decode counters
//! are per process.

mod common;

use dicom_core::{DataElement, PrimitiveValue, VR};
use dicom_dictionary_std::tags;
use gantry_core::{Session, decode_counts};
use gantry_synth::{DumpSpec, generate};

/// Instances indexed before ingest kept their identity facts (a database of an older
/// Gantry, its `headers.identity` empty) get the identity pass from their decoded
/// originals, with the same result: the renamed patient's name is found echoed.
#[test]
fn instances_without_kept_facts_get_the_pass_from_their_originals() {
    let dir = tempfile::tempdir().unwrap();
    let dump = generate(&dir.path().join("dump"), &DumpSpec::many_small_files(90)).unwrap();
    let config = dir.path().join("config.yaml");
    std::fs::write(
        &config,
        format!(
            "version: \"2.0\"\nphi_tags:\n  ImageComments: {{ action: KEEP }}\n{}",
            dump.machine_rules()
        ),
    )
    .unwrap();
    // One patient renamed, and the new name in another patient's kept comments.
    let mut files = common::dicom_files(&dump.root).into_iter();
    let renamed = files.next().unwrap();
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
    common::write_instance(&renamed, object);
    let other = files
        .find(|f| {
            let o = dicom_object::open_file(f).unwrap();
            o.element(tags::PATIENT_ID).unwrap().to_str().unwrap() != id
        })
        .unwrap();
    let mut object = dicom_object::open_file(&other).unwrap().into_inner();
    object.put(DataElement::new(
        tags::IMAGE_COMMENTS,
        VR::LT,
        PrimitiveValue::from("seen with Zebedee Quillfeather"),
    ));
    common::write_instance(&other, object);

    let database = dir.path().join("gantry.db");
    let indexed = {
        let mut session = Session::open(&database).unwrap();
        let indexed = session.ingest(&dump.root).unwrap().indexed;
        session.load_config(&config).unwrap();
        indexed
    };
    let connection = rusqlite::Connection::open(&database).unwrap();
    let emptied = connection
        .execute("UPDATE headers SET identity = NULL", [])
        .unwrap();
    assert_eq!(emptied as u64, indexed);
    drop(connection);

    let mut session = Session::open(&database).unwrap();
    let before = decode_counts();
    let audit = session.audit().unwrap();
    let after = decode_counts();
    assert_eq!(
        after.original - before.original,
        2 * indexed,
        "the pass decodes every original, then the audit's check"
    );
    assert!(audit.by_rule.contains_key("identifier echo"), "{audit}");
}
