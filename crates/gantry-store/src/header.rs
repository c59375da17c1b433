//! Header blobs: a data set without Pixel Data, encoded as Explicit VR Little Endian.
//!
//! DICOM in, DICOM out: every element, VR, private tag and nested sequence survives the
//! round trip, which a JSON form would not guarantee.

use dicom_dictionary_std::uids;
use dicom_encoding::TransferSyntaxIndex;
use dicom_object::InMemDicomObject;
use dicom_transfer_syntax_registry::TransferSyntaxRegistry;

/// Encodes a header as an Explicit VR Little Endian data set.
pub fn encode_header(header: &InMemDicomObject) -> Result<Vec<u8>, String> {
    let ts = explicit_le()?;
    let mut out = Vec::with_capacity(4096);
    header
        .write_dataset_with_ts(&mut out, ts)
        .map_err(|e| error_text(&e))?;
    Ok(out)
}

/// Decodes a header blob written by [`encode_header`].
pub fn decode_header(blob: &[u8]) -> Result<InMemDicomObject, String> {
    let ts = explicit_le()?;
    InMemDicomObject::read_dataset_with_ts(blob, ts).map_err(|e| error_text(&e))
}

fn explicit_le() -> Result<&'static dicom_encoding::TransferSyntax, String> {
    TransferSyntaxRegistry
        .get(uids::EXPLICIT_VR_LITTLE_ENDIAN)
        .ok_or_else(|| "Explicit VR Little Endian is missing from the registry".to_string())
}

fn error_text(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut cause = error.source();
    while let Some(e) = cause {
        text.push_str(": ");
        text.push_str(&e.to_string());
        cause = e.source();
    }
    text
}
