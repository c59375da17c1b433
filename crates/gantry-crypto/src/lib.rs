//! Sealing for Gantry: key files, and the CMS envelope of the DICOM Encrypted Attributes
//! Sequence (PS3.15 E.1.2, PS3.3 C.12.1.1.4).
//!
//! A [`KeyFile`] holds a 128-bit key-encryption key and its identifier, owner-only on
//! disk. A [`Sealer`] takes the original values of the attributes de-identification
//! changes (a Modified Attributes Sequence item), encodes them in Explicit VR Little
//! Endian, wraps them as CMS EnvelopedData (AES-128-CBC content, a KEK recipient with AES
//! key wrap, and a PBKDF2 password recipient when a password is given), and returns the
//! Encrypted Attributes Sequence item. An [`Unsealer`] does the reverse with the key or
//! the password, and says precisely why when it cannot. Standard tools open the same
//! envelopes: `openssl cms -decrypt` and GDCM's `gdcmanon -d -p`.
//!
//! ```
//! use dicom_core::{DataElement, PrimitiveValue, VR};
//! use dicom_dictionary_std::tags;
//! use dicom_object::InMemDicomObject;
//! use gantry_crypto::{Credential, KeyFile, Sealer, Unsealer};
//! # fn main() -> Result<(), gantry_crypto::CryptoError> {
//! # let dir = tempfile::tempdir().map_err(|e| gantry_crypto::CryptoError::Random(e.to_string()))?;
//! let key = KeyFile::create(dir.path().join("master.key"))?;
//! let originals = InMemDicomObject::from_element_iter([DataElement::new(
//!     tags::PATIENT_NAME,
//!     VR::PN,
//!     PrimitiveValue::from("DOE^JANE"),
//! )]);
//! let sealer = Sealer::new(Some(&key), None)?;
//! let item = sealer.seal(&originals)?; // an item of (0400,0500)
//!
//! let unsealer = Unsealer::new(Credential::Key(&key));
//! let recovered = unsealer.open_item(&item)?;
//! assert_eq!(recovered.get(tags::PATIENT_NAME).unwrap().to_str().unwrap(), "DOE^JANE");
//! # Ok(())
//! # }
//! ```
#![deny(missing_docs)]

pub use envelope::Credential;
pub use error::{CryptoError, Result};
pub use keyfile::KeyFile;
pub use recipients::{PBKDF2_ROUNDS, PasswordKek};
pub use sealed::{
    ENCRYPTED_ATTRIBUTES_SEQUENCE, ENCRYPTED_CONTENT, ENCRYPTED_CONTENT_TRANSFER_SYNTAX_UID,
    MODIFIED_ATTRIBUTES_SEQUENCE, Sealer, Unsealer, decode_modified_attributes,
    encode_modified_attributes, wrap_modified_attributes,
};

mod envelope;
mod error;
mod keyfile;
mod recipients;
mod sealed;
