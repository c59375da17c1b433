/// What can go wrong while redacting pixels.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RedactError {
    /// The pixel geometry does not fit the buffer, or is not a layout DICOM allows.
    #[error("pixel layout: {0}")]
    Layout(String),
    /// A zone is invalid (start after end, or entirely outside the image).
    #[error("zone {zone}: {detail}")]
    Zone {
        /// The zone as written, `[row_start, row_end, col_start, col_end]`.
        zone: String,
        /// What is wrong with it.
        detail: String,
    },
    /// Compressed pixel data could not be decoded or encoded.
    #[error("codec: {0}")]
    Codec(String),
    /// The detector's learned stage could not load or run its network (feature `learned`).
    #[error("learned text detector: {0}")]
    Learned(String),
    /// Tesseract could not be started or could not read a region (feature `ocr`).
    #[error("OCR: {0}")]
    Ocr(String),
}
