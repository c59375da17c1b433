use std::fmt;

use serde::{Deserialize, Serialize};

/// Why a file was not indexed.
///
/// Each reason is specific enough that a user knows what is wrong with the file without
/// opening it; the `Display` form is the sentence the reports print.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum SkipReason {
    /// The file has no bytes.
    Empty,
    /// The file is not DICOM at all.
    NotDicom {
        /// What was found instead.
        detail: String,
    },
    /// The file ends before the data set does.
    Truncated {
        /// Where and in what it ends.
        detail: String,
    },
    /// The file meta information group (0002,xxxx) could not be read.
    UnreadableMeta {
        /// What is wrong with it.
        detail: String,
    },
    /// The transfer syntax is not one Gantry can parse.
    UnsupportedTransferSyntax {
        /// The UID found in the file meta group.
        uid: String,
    },
    /// An element claims more bytes than the file holds.
    AbsurdLength {
        /// The element's tag, as `(GGGG,EEEE)`.
        tag: String,
        /// The length in its header.
        claimed: u64,
        /// The bytes left in the file at that point.
        remaining: u64,
    },
    /// The data set is structurally invalid (bad VR, broken sequence, ...).
    Malformed {
        /// What the parser reported.
        detail: String,
    },
    /// Sequences are nested deeper than any real object needs.
    TooDeep {
        /// The nesting limit.
        limit: usize,
    },
    /// The data set has no SOP Instance UID (0008,0018), so it cannot be indexed.
    MissingSopInstanceUid,
    /// The header could not be re-encoded as Explicit VR Little Endian.
    Unencodable {
        /// What the encoder reported.
        detail: String,
    },
    /// The file could not be read from disk.
    Unreadable {
        /// The operating system's error.
        detail: String,
    },
}

impl SkipReason {
    /// A short stable code for grouping reasons in reports and queries.
    pub fn code(&self) -> &'static str {
        match self {
            SkipReason::Empty => "empty",
            SkipReason::NotDicom { .. } => "not_dicom",
            SkipReason::Truncated { .. } => "truncated",
            SkipReason::UnreadableMeta { .. } => "unreadable_meta",
            SkipReason::UnsupportedTransferSyntax { .. } => "unsupported_transfer_syntax",
            SkipReason::AbsurdLength { .. } => "absurd_length",
            SkipReason::Malformed { .. } => "malformed",
            SkipReason::TooDeep { .. } => "too_deep",
            SkipReason::MissingSopInstanceUid => "missing_sop_instance_uid",
            SkipReason::Unencodable { .. } => "unencodable",
            SkipReason::Unreadable { .. } => "unreadable",
        }
    }
}

impl fmt::Display for SkipReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SkipReason::Empty => write!(f, "empty file"),
            SkipReason::NotDicom { detail } => write!(f, "not DICOM: {detail}"),
            SkipReason::Truncated { detail } => write!(f, "truncated: {detail}"),
            SkipReason::UnreadableMeta { detail } => {
                write!(f, "unreadable file meta group: {detail}")
            }
            SkipReason::UnsupportedTransferSyntax { uid } => {
                write!(f, "unsupported transfer syntax {uid}")
            }
            SkipReason::AbsurdLength {
                tag,
                claimed,
                remaining,
            } => write!(
                f,
                "element {tag} claims {claimed} bytes but only {remaining} remain in the file"
            ),
            SkipReason::Malformed { detail } => write!(f, "malformed data set: {detail}"),
            SkipReason::TooDeep { limit } => {
                write!(f, "sequences nested deeper than {limit} levels")
            }
            SkipReason::MissingSopInstanceUid => {
                write!(f, "missing SOP Instance UID (0008,0018)")
            }
            SkipReason::Unencodable { detail } => {
                write!(f, "header cannot be re-encoded: {detail}")
            }
            SkipReason::Unreadable { detail } => write!(f, "unreadable: {detail}"),
        }
    }
}

impl std::error::Error for SkipReason {}
