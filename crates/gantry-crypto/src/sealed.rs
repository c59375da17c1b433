//! The DICOM side of sealing: the Modified Attributes Sequence as plaintext, and the item
//! of the Encrypted Attributes Sequence that carries the envelope (PS3.3 C.12.1.1.4).

use dicom_core::value::DataSetSequence;
use dicom_core::{DataElement, Length, PrimitiveValue, Tag, VR};
use dicom_encoding::TransferSyntaxIndex;
use dicom_object::InMemDicomObject;
use dicom_transfer_syntax_registry::TransferSyntaxRegistry;
use zeroize::Zeroizing;

use crate::envelope::{self, Credential};
use crate::error::{CryptoError, Result};
use crate::keyfile::KeyFile;
use crate::recipients::{KekCache, PasswordKek};

/// Encrypted Attributes Sequence (0400,0500).
pub const ENCRYPTED_ATTRIBUTES_SEQUENCE: Tag = Tag(0x0400, 0x0500);
/// Encrypted Content Transfer Syntax UID (0400,0510).
pub const ENCRYPTED_CONTENT_TRANSFER_SYNTAX_UID: Tag = Tag(0x0400, 0x0510);
/// Encrypted Content (0400,0520).
pub const ENCRYPTED_CONTENT: Tag = Tag(0x0400, 0x0520);
/// Modified Attributes Sequence (0400,0550).
pub const MODIFIED_ATTRIBUTES_SEQUENCE: Tag = Tag(0x0400, 0x0550);

const EXPLICIT_VR_LITTLE_ENDIAN: &str = "1.2.840.10008.1.2.1";

fn explicit_le() -> Result<&'static dicom_encoding::TransferSyntax> {
    TransferSyntaxRegistry
        .get(EXPLICIT_VR_LITTLE_ENDIAN)
        .ok_or_else(|| {
            CryptoError::Unsupported("Explicit VR Little Endian is not registered".into())
        })
}

/// The plaintext of an envelope: a data set holding only the Modified Attributes Sequence
/// with `originals` as its single item, in Explicit VR Little Endian with undefined
/// lengths (as GDCM writes it, and reads it back).
pub fn encode_modified_attributes(originals: &InMemDicomObject) -> Result<Vec<u8>> {
    let holder = InMemDicomObject::from_element_iter([DataElement::new(
        MODIFIED_ATTRIBUTES_SEQUENCE,
        VR::SQ,
        DataSetSequence::new(vec![originals.clone()], Length::UNDEFINED),
    )]);
    let mut out = Vec::new();
    holder
        .write_dataset_with_ts(&mut out, explicit_le()?)
        .map_err(|e| CryptoError::Content(e.to_string()))?;
    Ok(out)
}

/// [`encode_modified_attributes`] of originals already encoded: `item` is their data set
/// in Explicit VR Little Endian (as a header blob holds it), wrapped without decoding it
/// into the same bytes, undefined lengths included.
pub fn wrap_modified_attributes(item: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(item.len() + 36);
    out.extend_from_slice(&MODIFIED_ATTRIBUTES_SEQUENCE.group().to_le_bytes());
    out.extend_from_slice(&MODIFIED_ATTRIBUTES_SEQUENCE.element().to_le_bytes());
    out.extend_from_slice(b"SQ\0\0");
    out.extend_from_slice(&u32::MAX.to_le_bytes());
    out.extend_from_slice(&[0xFE, 0xFF, 0x00, 0xE0]);
    out.extend_from_slice(&u32::MAX.to_le_bytes());
    out.extend_from_slice(item);
    out.extend_from_slice(&[0xFE, 0xFF, 0x0D, 0xE0, 0, 0, 0, 0]);
    out.extend_from_slice(&[0xFE, 0xFF, 0xDD, 0xE0, 0, 0, 0, 0]);
    out
}

/// The single item of the Modified Attributes Sequence in a decrypted plaintext.
pub fn decode_modified_attributes(plaintext: &[u8]) -> Result<InMemDicomObject> {
    // Every length is checked first: a password envelope from another tool carries no
    // authentication code, and a damaged one decrypts to bytes that may claim gigabytes.
    let data = gantry_dataset::read_dataset(plaintext, explicit_le()?)
        .map_err(|e| CryptoError::Content(e.to_string()))?;
    let sequence = data.get(MODIFIED_ATTRIBUTES_SEQUENCE).ok_or_else(|| {
        CryptoError::Content("no Modified Attributes Sequence (0400,0550)".into())
    })?;
    let items = sequence
        .items()
        .ok_or_else(|| CryptoError::Content("(0400,0550) is not a sequence".into()))?;
    match items {
        [item] => Ok(with_dictionary_vrs(item)),
        other => Err(CryptoError::Content(format!(
            "(0400,0550) holds {} items, not one",
            other.len()
        ))),
    }
}

/// `item` with every UN element of a known tag read with its dictionary VR (PS3.5
/// 6.2.2). GDCM writes the originals of implicit VR files as UN; read as they are, a
/// name would come back as a list of byte values.
fn with_dictionary_vrs(item: &InMemDicomObject) -> InMemDicomObject {
    use dicom_core::dictionary::{DataDictionary, DataDictionaryEntry};
    let implicit = TransferSyntaxRegistry.get("1.2.840.10008.1.2");
    let mut out = InMemDicomObject::new_empty();
    for element in item.iter() {
        let tag = element.header().tag;
        let known = dicom_dictionary_std::StandardDataDictionary
            .by_tag(tag)
            .is_some_and(|e| !matches!(e.vr(), dicom_core::dictionary::VirtualVr::Exact(VR::UN)));
        let reread = match (element.header().vr, known, implicit, element.to_bytes()) {
            (VR::UN, true, Some(ts), Ok(bytes)) => {
                // The same bytes as one implicit VR element: the parser takes the VR
                // from the dictionary, sequences included.
                let mut encoded = Vec::with_capacity(bytes.len() + 8);
                encoded.extend_from_slice(&tag.group().to_le_bytes());
                encoded.extend_from_slice(&tag.element().to_le_bytes());
                encoded.extend_from_slice(&(bytes.len() as u32).to_le_bytes());
                encoded.extend_from_slice(&bytes);
                gantry_dataset::read_dataset(&encoded, ts)
                    .ok()
                    .and_then(|d| d.get(tag).cloned())
            }
            _ => None,
        };
        out.put(reread.unwrap_or_else(|| element.clone()));
    }
    out
}

/// Seals original values for a key (and a password): one per sealing session, so the
/// password's key is derived once.
#[derive(Debug)]
pub struct Sealer {
    key: Option<KeyFile>,
    password: Option<PasswordKek>,
}

impl Sealer {
    /// A sealer for `key`, and for `password` too when one is given. At least one is
    /// needed.
    pub fn new(key: Option<&KeyFile>, password: Option<&str>) -> Result<Sealer> {
        if key.is_none() && password.is_none() {
            return Err(CryptoError::Envelope(
                "sealing needs a key file or a password".into(),
            ));
        }
        Ok(Sealer {
            key: key.cloned(),
            password: password.map(PasswordKek::derive).transpose()?,
        })
    }

    /// Whether envelopes get a password recipient.
    pub fn has_password(&self) -> bool {
        self.password.is_some()
    }

    /// The DER bytes of the envelope of `originals` (the value of Encrypted Content).
    pub fn seal_content(&self, originals: &InMemDicomObject) -> Result<Vec<u8>> {
        let plaintext = Zeroizing::new(encode_modified_attributes(originals)?);
        envelope::seal(&plaintext, self.key.as_ref(), self.password.as_ref())
    }

    /// An item of the Encrypted Attributes Sequence holding `originals`, sealed. Content
    /// keys and IVs are random: two seals of the same values differ.
    pub fn seal(&self, originals: &InMemDicomObject) -> Result<InMemDicomObject> {
        Ok(Self::item(self.seal_content(originals)?))
    }

    /// [`Sealer::seal`] of originals already encoded as an Explicit VR Little Endian data
    /// set (a header blob): they are sealed as they are, not decoded and encoded again.
    pub fn seal_encoded(&self, originals: &[u8]) -> Result<InMemDicomObject> {
        let plaintext = Zeroizing::new(wrap_modified_attributes(originals));
        let content = envelope::seal(&plaintext, self.key.as_ref(), self.password.as_ref())?;
        Ok(Self::item(content))
    }

    fn item(content: Vec<u8>) -> InMemDicomObject {
        InMemDicomObject::from_element_iter([
            DataElement::new(
                ENCRYPTED_CONTENT_TRANSFER_SYNTAX_UID,
                VR::UI,
                PrimitiveValue::from(EXPLICIT_VR_LITTLE_ENDIAN),
            ),
            DataElement::new(ENCRYPTED_CONTENT, VR::OB, PrimitiveValue::from(content)),
        ])
    }
}

/// Opens sealed items with a key or a password, remembering password derivations. One
/// unsealer can serve many threads: a session's objects share their PBKDF2 parameters, so
/// the (deliberately slow) derivation runs once.
pub struct Unsealer<'a> {
    credential: Credential<'a>,
    cache: std::sync::Mutex<KekCache>,
}

impl std::fmt::Debug for Unsealer<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Unsealer").finish_non_exhaustive()
    }
}

impl<'a> Unsealer<'a> {
    /// An unsealer for `credential`.
    pub fn new(credential: Credential<'a>) -> Unsealer<'a> {
        Unsealer {
            credential,
            cache: std::sync::Mutex::new(Vec::new()),
        }
    }

    /// The original values in the envelope bytes `content`.
    pub fn open_content(&self, content: &[u8]) -> Result<InMemDicomObject> {
        // Holding the lock through a derivation makes other threads wait for its result
        // instead of deriving the same key again.
        let mut cache = self
            .cache
            .lock()
            .map_err(|_| CryptoError::Envelope("a thread failed while deriving a key".into()))?;
        let plaintext = Zeroizing::new(envelope::open(content, self.credential, &mut cache)?);
        drop(cache);
        decode_modified_attributes(&plaintext)
    }

    /// The original values in an item of the Encrypted Attributes Sequence.
    pub fn open_item(&self, item: &InMemDicomObject) -> Result<InMemDicomObject> {
        let syntax = item
            .get(ENCRYPTED_CONTENT_TRANSFER_SYNTAX_UID)
            .ok_or_else(|| {
                CryptoError::Item("no Encrypted Content Transfer Syntax UID (0400,0510)".into())
            })?
            .to_str()
            .map_err(|e| CryptoError::Item(e.to_string()))?;
        let syntax = syntax.trim_end_matches(['\0', ' ']);
        if syntax != EXPLICIT_VR_LITTLE_ENDIAN {
            return Err(CryptoError::Unsupported(format!(
                "encrypted content in transfer syntax {syntax} (only Explicit VR Little Endian)"
            )));
        }
        let content = item
            .get(ENCRYPTED_CONTENT)
            .ok_or_else(|| CryptoError::Item("no Encrypted Content (0400,0520)".into()))?
            .to_bytes()
            .map_err(|e| CryptoError::Item(e.to_string()))?;
        self.open_content(&content)
    }

    /// The original values sealed in a data set: the first item of its Encrypted
    /// Attributes Sequence that this credential opens (PS3.15 E.1.2 allows one item per
    /// recipient). The error is that of the last item tried.
    pub fn open_dataset(&self, dataset: &InMemDicomObject) -> Result<InMemDicomObject> {
        let items = dataset
            .get(ENCRYPTED_ATTRIBUTES_SEQUENCE)
            .and_then(|e| e.items())
            .filter(|items| !items.is_empty())
            .ok_or_else(|| {
                CryptoError::Item(
                    "the object has no Encrypted Attributes Sequence (0400,0500)".into(),
                )
            })?;
        let mut last = None;
        for item in items {
            match self.open_item(item) {
                Ok(originals) => return Ok(originals),
                Err(e) => last = Some(e),
            }
        }
        Err(last.unwrap_or_else(|| CryptoError::Item("no item".into())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use dicom_dictionary_std::tags;

    fn originals() -> InMemDicomObject {
        let inner = InMemDicomObject::from_element_iter([DataElement::new(
            tags::CODE_MEANING,
            VR::LO,
            PrimitiveValue::from("Kowalczyk reading room"),
        )]);
        InMemDicomObject::from_element_iter([
            DataElement::new(
                tags::PATIENT_NAME,
                VR::PN,
                PrimitiveValue::from("KOWALCZYK^GENEVIEVE"),
            ),
            DataElement::new(
                tags::PATIENT_ID,
                VR::LO,
                PrimitiveValue::from("MRN46310803"),
            ),
            DataElement::new(
                tags::PROCEDURE_CODE_SEQUENCE,
                VR::SQ,
                DataSetSequence::from(vec![inner]),
            ),
        ])
    }

    fn text(obj: &InMemDicomObject, tag: Tag) -> String {
        obj.get(tag)
            .unwrap()
            .to_str()
            .unwrap()
            .trim_end()
            .to_string()
    }

    #[test]
    fn plaintext_is_the_modified_attributes_sequence_with_undefined_lengths() {
        let bytes = encode_modified_attributes(&originals()).unwrap();
        // (0400,0550) SQ, reserved, undefined length; then an item of undefined length.
        assert_eq!(
            &bytes[..12],
            &[
                0x00, 0x04, 0x50, 0x05, b'S', b'Q', 0, 0, 0xFF, 0xFF, 0xFF, 0xFF
            ]
        );
        assert_eq!(
            &bytes[12..20],
            &[0xFE, 0xFF, 0x00, 0xE0, 0xFF, 0xFF, 0xFF, 0xFF]
        );
        assert_eq!(
            &bytes[bytes.len() - 16..],
            &[
                0xFE, 0xFF, 0x0D, 0xE0, 0, 0, 0, 0, 0xFE, 0xFF, 0xDD, 0xE0, 0, 0, 0, 0
            ]
        );
        let back = decode_modified_attributes(&bytes).unwrap();
        assert_eq!(text(&back, tags::PATIENT_ID), "MRN46310803");
    }

    #[test]
    fn encoded_originals_wrap_into_the_same_plaintext() {
        let mut item = Vec::new();
        originals()
            .write_dataset_with_ts(&mut item, explicit_le().unwrap())
            .unwrap();
        assert_eq!(
            wrap_modified_attributes(&item),
            encode_modified_attributes(&originals()).unwrap()
        );
    }

    #[test]
    fn key_and_password_each_open_what_was_sealed_for_both() {
        let dir = tempfile::tempdir().unwrap();
        let key = KeyFile::create(dir.path().join("k")).unwrap();
        let sealer = Sealer::new(Some(&key), Some("correct horse")).unwrap();
        let item = sealer.seal(&originals()).unwrap();
        let by_key = Unsealer::new(Credential::Key(&key))
            .open_item(&item)
            .unwrap();
        let by_password = Unsealer::new(Credential::Password("correct horse"))
            .open_item(&item)
            .unwrap();
        for got in [by_key, by_password] {
            assert_eq!(text(&got, tags::PATIENT_NAME), "KOWALCZYK^GENEVIEVE");
            let nested = &got
                .get(tags::PROCEDURE_CODE_SEQUENCE)
                .unwrap()
                .items()
                .unwrap()[0];
            assert_eq!(text(nested, tags::CODE_MEANING), "Kowalczyk reading room");
        }
        // Random content keys and IVs: the same values seal differently each time.
        assert_ne!(
            sealer.seal_content(&originals()).unwrap(),
            sealer.seal_content(&originals()).unwrap()
        );
    }

    #[test]
    fn an_odd_envelope_padded_to_even_length_still_opens() {
        let dir = tempfile::tempdir().unwrap();
        let key = KeyFile::create(dir.path().join("k")).unwrap();
        let sealer = Sealer::new(Some(&key), None).unwrap();
        // Find an envelope of odd length, as DICOM pads it with a zero byte.
        let mut odd = None;
        for i in 0..64 {
            let mut originals = originals();
            originals.put(DataElement::new(
                tags::STUDY_ID,
                VR::SH,
                PrimitiveValue::from("x".repeat(i % 16 + 1)),
            ));
            let content = sealer.seal_content(&originals).unwrap();
            if content.len() % 2 == 1 {
                odd = Some(content);
                break;
            }
        }
        let mut padded = odd.expect("some envelope has odd length");
        padded.push(0);
        let opened = Unsealer::new(Credential::Key(&key))
            .open_content(&padded)
            .unwrap();
        assert_eq!(text(&opened, tags::PATIENT_ID), "MRN46310803");
    }

    #[test]
    fn wrong_key_wrong_password_and_altered_content_each_say_so() {
        let dir = tempfile::tempdir().unwrap();
        let key = KeyFile::create(dir.path().join("k")).unwrap();
        let other = KeyFile::create(dir.path().join("other")).unwrap();
        let sealer = Sealer::new(Some(&key), Some("correct horse")).unwrap();
        let content = sealer.seal_content(&originals()).unwrap();

        let err = Unsealer::new(Credential::Key(&other))
            .open_content(&content)
            .unwrap_err();
        assert!(matches!(err, CryptoError::WrongKey { .. }), "{err}");
        assert!(err.to_string().contains(&key.id_hex()), "{err}");

        let err = Unsealer::new(Credential::Password("battery staple"))
            .open_content(&content)
            .unwrap_err();
        assert!(matches!(err, CryptoError::WrongPassword), "{err}");

        // Flip one bit in every byte position of the ciphertext region: never garbage.
        let key_only = Sealer::new(Some(&key), None).unwrap();
        let content = key_only.seal_content(&originals()).unwrap();
        for at in (0..content.len()).step_by(7) {
            let mut altered = content.clone();
            altered[at] ^= 0x10;
            let opened = Unsealer::new(Credential::Key(&key)).open_content(&altered);
            assert!(opened.is_err(), "altered byte {at} opened");
        }
        let mut altered = content.clone();
        let last = altered.len() - 200; // inside the ciphertext
        altered[last] ^= 1;
        let err = Unsealer::new(Credential::Key(&key))
            .open_content(&altered)
            .unwrap_err();
        assert!(matches!(err, CryptoError::Tampered(_)), "{err}");
    }
}
