//! Sealing for Gantry: key files, and the CMS envelope of the DICOM Encrypted Attributes
//! Sequence (PS3.15 E.1.2).
#![deny(missing_docs)]
