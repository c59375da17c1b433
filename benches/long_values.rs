//! Time per MB of value: audit + anonymize + verify of one instance whose PatientID,
//! PatientName, AccessionNumber, an institution name and a free-text comment each hold a
//! value of N characters, for N from 1,000 to 1,000,000.
//!
//! ```text
//! cargo bench --bench long_values
//! ```
//!
//! The same instance with 100-character values is the baseline of the same run (fixed
//! costs: opening, the transaction, markers); what remains per MB must stay flat as N
//! grows (linear time). Before the fix a 20,000-character PatientID took seconds.

mod common;

use std::path::Path;
use std::time::Duration;

use dicom_core::{DataElement, PrimitiveValue, VR};
use dicom_dictionary_std::{tags, uids};
use dicom_object::{FileMetaTableBuilder, InMemDicomObject};
use gantry::Session;

/// Five long values per instance.
const LONG_VALUES: usize = 5;

fn write(path: &Path, len: usize) {
    let long: String = (0..len)
        .map(|i| b"AB12 CD^34-EF56"[i % 15] as char)
        .collect();
    let mut o = InMemDicomObject::new_empty();
    let mut put = |tag, vr, v: &str| o.put(DataElement::new(tag, vr, PrimitiveValue::from(v)));
    put(tags::SOP_CLASS_UID, VR::UI, uids::CT_IMAGE_STORAGE);
    put(tags::SOP_INSTANCE_UID, VR::UI, "1.2.826.0.1.3680043.10.1");
    put(tags::STUDY_INSTANCE_UID, VR::UI, "1.2.826.0.1.3680043.10.2");
    put(
        tags::SERIES_INSTANCE_UID,
        VR::UI,
        "1.2.826.0.1.3680043.10.3",
    );
    put(tags::MODALITY, VR::CS, "CT");
    put(tags::PATIENT_ID, VR::LO, &long);
    put(tags::PATIENT_NAME, VR::PN, &long);
    put(tags::ACCESSION_NUMBER, VR::SH, &long);
    put(tags::INSTITUTION_NAME, VR::LO, &long);
    put(tags::IMAGE_COMMENTS, VR::LT, &long);
    o.with_meta(
        FileMetaTableBuilder::new()
            .media_storage_sop_class_uid(uids::CT_IMAGE_STORAGE)
            .transfer_syntax(uids::IMPLICIT_VR_LITTLE_ENDIAN),
    )
    .expect("meta")
    .write_to_file(path)
    .expect("write");
}

/// Best of three: audit + anonymize + verify of one instance with values of `len`.
fn measure(work: &Path, len: usize) -> Duration {
    let dump = work.join(format!("dump{len}"));
    std::fs::create_dir_all(&dump).expect("folder");
    write(&dump.join("long.dcm"), len);
    let config = work.join("config.yaml");
    std::fs::write(
        &config,
        "version: \"2.0\"\nprofile_options: [retain_institution_identity]\n",
    )
    .expect("config");
    common::best_of(3, || {
        let db = work.join(format!("{len}-{}.db", std::process::id()));
        let _ = std::fs::remove_file(&db);
        let mut session = Session::open(&db).expect("session");
        session.ingest(&dump).expect("ingest");
        session.load_config(&config).expect("config");
        let t = common::time(|| {
            session.audit().expect("audit");
            session.anonymize_metadata().expect("anonymize");
            session.verify().expect("verify");
        });
        drop(session);
        for suffix in ["", "-wal", "-shm", ".lock"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", db.display()));
        }
        t
    })
}

fn main() {
    if common::probing() {
        return;
    }
    common::quiet_backtraces();
    let work = tempfile::tempdir().expect("temporary folder");
    let baseline = measure(work.path(), 100);
    println!(
        "baseline (100-character values): {:.2} ms",
        baseline.as_secs_f64() * 1e3
    );
    println!(
        "{:>10}  {:>10}  {:>12}",
        "characters", "total ms", "ms per MB"
    );
    for len in [1_000usize, 10_000, 100_000, 1_000_000] {
        let t = measure(work.path(), len);
        let mb = (len * LONG_VALUES) as f64 / 1e6;
        let per_mb = t.saturating_sub(baseline).as_secs_f64() * 1e3 / mb;
        println!("{len:>10}  {:>10.2}  {per_mb:>12.1}", t.as_secs_f64() * 1e3);
    }
}
