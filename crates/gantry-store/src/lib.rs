//! Persistence for Gantry: the instance index, header blobs, lazy source pixels and the
//! pixel sidecar.
//!
//! A [`Store`] is one SQLite database (WAL mode, one process at a time) holding a row per
//! DICOM instance with the attributes the pipeline queries, the header as a DICOM-encoded
//! blob ([`encode_header`]), and where the pixel data lives in the source file
//! ([`PixelLocation`]); pixels are never copied at ingest but read on demand with
//! [`open_pixel_value`]. Pixels that change go to a [`PixelSidecar`]. [`read_source`]
//! parses a file's header without reading its pixels, and says precisely why when it
//! cannot ([`SkipReason`]). The store knows nothing of privacy rules.
//!
//! ```
//! use gantry_store::{FileOutcome, FileRecord, InstanceFilter, InstanceRecord, Store};
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # let dir = tempfile::tempdir()?;
//! # let path = dir.path().join("ct.dcm");
//! # let mut obj = dicom_object::InMemDicomObject::new_empty();
//! # obj.put_str(dicom_dictionary_std::tags::SOP_INSTANCE_UID, dicom_core::VR::UI, "1.2.3.4");
//! # obj.put_str(dicom_dictionary_std::tags::MODALITY, dicom_core::VR::CS, "CT");
//! # let file = obj.with_meta(dicom_object::FileMetaTableBuilder::new()
//! #     .media_storage_sop_class_uid("1.2.840.10008.5.1.4.1.1.2")
//! #     .transfer_syntax("1.2.840.10008.1.2.1"))?;
//! # file.write_to_file(&path)?;
//! let parsed = gantry_store::read_source(&path)?;
//! let record = InstanceRecord::from_parsed(path.clone(), &parsed).expect("has a SOP Instance UID");
//! let header = gantry_store::encode_header(&parsed.header)?;
//!
//! let mut store = Store::open(dir.path().join("gantry.db"))?;
//! store.write(|tx| {
//!     tx.insert_instance(&record, &header, None)?;
//!     tx.record_file(&FileRecord {
//!         path: path.clone(),
//!         stamp: parsed.stamp,
//!         outcome: FileOutcome::Indexed,
//!         reason: None,
//!         detail: None,
//!         sop_instance_uid: Some(record.sop_instance_uid.clone()),
//!     })
//! })?;
//! let ct = store.list_instances(&InstanceFilter { modality: Some("CT".into()), ..Default::default() })?;
//! assert_eq!(ct[0].sop_instance_uid, "1.2.3.4");
//! # Ok(())
//! # }
//! ```
#![deny(missing_docs)]

pub use derived::{ExportRecord, InstancePlan, RedactedPixels, SealedItem};
pub use error::{FragmentError, HeaderError, Result, StoreError};
pub use files::FileState;
pub use header::{
    MAX_SEQUENCE_DEPTH, ScannedHeader, decode_header, encode_header, encode_sequence,
    overlay_elements, read_dataset, scan_header, splice_element, subset_header,
};
pub use instance::{
    Column, FileOutcome, FileRecord, InstanceFilter, InstanceRecord, element_text, text_of,
};
pub use instances::{DeviceCount, IndexedSource, PatientIdentityCount, StoredInstance};
pub use private::{
    PRIVATE_DIR_MODE, PRIVATE_FILE_MODE, canonical_path, create_private, create_private_dir_all,
    open_private, others_can_access, write_private,
};
pub use reason::SkipReason;
pub use schema::SCHEMA_VERSION;
pub use sidecar::{PixelSidecar, SidecarAddress, start_writeback};
pub use source::{
    FileMeta, ParsedSource, PixelLayout, PixelLocation, PixelValueReader, SourceStamp,
    SourceSyntax, format_tag, open_pixel_value, read_source, split_fragments,
};
pub use store::{Store, StoreTx};

mod columns;
mod derived;
mod error;
mod files;
mod findings;
mod hash;
mod header;
mod instance;
mod instances;
mod private;
mod reason;
mod schema;
mod sidecar;
mod source;
mod store;

pub use hash::content_hash;
