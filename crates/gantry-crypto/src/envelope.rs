//! The CMS EnvelopedData (RFC 5652) around sealed content: AES-128-CBC content encryption,
//! a KEK recipient and optionally a password recipient.
//!
//! CBC alone does not notice altered ciphertext, and PS3.15 E.1.2 names EnvelopedData, not
//! an authenticated type. So the envelope also carries, as an unprotected attribute, an
//! HMAC-SHA256 over the content cipher and ciphertext, keyed from the content-encryption
//! key: nobody without a recipient's key can forge it, and tools that do not know the
//! attribute (OpenSSL, GDCM) ignore it.

use cms::builder::{ContentEncryptionAlgorithm, EnvelopedDataBuilder};
use cms::cert::x509::attr::{Attribute, AttributeValue};
use cms::content_info::ContentInfo;
use cms::enveloped_data::{EnvelopedData, RecipientInfo};
use const_oid::ObjectIdentifier;
use der::asn1::{OctetString, SetOfVec};
use der::{Any, Decode, Encode};
use hmac::{Hmac, Mac};
use rand_core::OsRng;
use sha2::Sha256;
use zeroize::Zeroizing;

use crate::error::{CryptoError, Result};
use crate::keyfile::KeyFile;
use crate::recipients::{
    KekCache, KekRecipient, MacKeySlot, PasswordKek, PasswordRecipient, decrypt_content, describe,
    is_aes_wrap, mac_key, open_kek, open_password,
};

/// OID of Gantry's content authentication attribute: under the registration-free UUID
/// arc 2.25 (ITU-T X.667), with a value that fits the arcs the `der` crate decodes (under 2^28).
/// Only Gantry reads it; the MAC itself, not the OID, is what proves integrity.
const CONTENT_MAC: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.25.170141183");

const ENVELOPED_DATA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.7.3");

/// What opens an envelope.
#[derive(Debug, Clone, Copy)]
pub enum Credential<'a> {
    /// The key file it was sealed for.
    Key(&'a KeyFile),
    /// The password of its password recipient.
    Password(&'a str),
}

/// Seals `plaintext` for the key (and the password, when given); returns the DER bytes of
/// a CMS ContentInfo holding the EnvelopedData.
pub(crate) fn seal(
    plaintext: &[u8],
    key: Option<&KeyFile>,
    password: Option<&PasswordKek>,
) -> Result<Vec<u8>> {
    if key.is_none() && password.is_none() {
        return Err(CryptoError::Envelope(
            "sealing needs a key or a password".into(),
        ));
    }
    let slot: MacKeySlot = MacKeySlot::default();
    let mut builder =
        EnvelopedDataBuilder::new(None, plaintext, ContentEncryptionAlgorithm::Aes128Cbc, None)
            .map_err(builder_error)?;
    if let Some(kek) = password {
        builder
            .add_recipient_info(PasswordRecipient { kek, mac: &slot })
            .map_err(builder_error)?;
    }
    if let Some(key) = key {
        builder
            .add_recipient_info(KekRecipient { key, mac: &slot })
            .map_err(builder_error)?;
    }
    let mut enveloped = builder.build_with_rng(&mut OsRng).map_err(builder_error)?;
    drop(builder);
    let mac_key = slot
        .into_inner()
        .ok_or_else(|| CryptoError::Envelope("no recipient saw the content key".into()))?;
    let code = content_mac(&mac_key, &enveloped)?;
    let value = AttributeValue::new(der::Tag::OctetString, code.to_vec())?;
    let mut values = SetOfVec::new();
    values.insert(value)?;
    let mut attributes = SetOfVec::new();
    attributes.insert(Attribute {
        oid: CONTENT_MAC,
        values,
    })?;
    enveloped.unprotected_attrs = Some(attributes);
    let info = ContentInfo {
        content_type: ENVELOPED_DATA,
        content: Any::encode_from(&enveloped)?,
    };
    Ok(info.to_der()?)
}

/// The DER message without the zero byte DICOM appends to an odd-length OB value (PS3.5
/// 7.1.1): the top-level length says where the message ends.
fn without_padding(bytes: &[u8]) -> &[u8] {
    let total = match bytes {
        [0x30, n, ..] if *n < 0x80 => Some(2 + *n as usize),
        [0x30, n, rest @ ..] if (0x81..=0x84).contains(n) => {
            let k = (*n - 0x80) as usize;
            rest.get(..k)
                .map(|len| 2 + k + len.iter().fold(0usize, |acc, b| (acc << 8) | *b as usize))
        }
        _ => None,
    };
    match total {
        Some(total) if total < bytes.len() && bytes[total..].iter().all(|b| *b == 0) => {
            &bytes[..total]
        }
        _ => bytes,
    }
}

fn builder_error(e: cms::builder::Error) -> CryptoError {
    CryptoError::Envelope(e.to_string())
}

/// HMAC-SHA256 over the DER of the encrypted content info: content type, cipher, IV and
/// ciphertext.
fn content_mac(key: &[u8; 32], enveloped: &EnvelopedData) -> Result<[u8; 32]> {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key)
        .unwrap_or_else(|_| unreachable!("HMAC takes any key length"));
    mac.update(&enveloped.encrypted_content.to_der()?);
    Ok(mac.finalize().into_bytes().into())
}

/// Opens sealed content. Password derivations are remembered in `cache`, so that opening
/// many objects sealed in one session derives the key once.
pub(crate) fn open(
    der: &[u8],
    credential: Credential<'_>,
    cache: &mut KekCache,
) -> Result<Vec<u8>> {
    let info = ContentInfo::from_der(without_padding(der))?;
    if info.content_type != ENVELOPED_DATA {
        return Err(CryptoError::Envelope(format!(
            "content type {} is not enveloped data",
            describe(&info.content_type)
        )));
    }
    let enveloped: EnvelopedData = info.content.decode_as()?;
    let content_key = content_key(&enveloped, credential, cache)?;
    let expected = match (stored_mac(&enveloped)?, credential) {
        (Some(code), _) => Some(code),
        // Only Gantry makes KEK recipients for its key files, and it always adds the code:
        // a KEK envelope without one was stripped of it.
        (None, Credential::Key(_)) => {
            return Err(CryptoError::Tampered(
                "its authentication code is missing".into(),
            ));
        }
        // Other tools (GDCM) seal for passwords without a code and without unprotected
        // attributes; anything else there means the code was replaced.
        (None, Credential::Password(_)) if enveloped.unprotected_attrs.is_some() => {
            return Err(CryptoError::Tampered(
                "its authentication code is missing".into(),
            ));
        }
        (None, Credential::Password(_)) => None,
    };
    if let Some(expected) = expected {
        let actual = content_mac(&mac_key(&content_key), &enveloped)?;
        // Constant time, as every MAC comparison should be.
        let same = <Hmac<Sha256> as Mac>::new_from_slice(&actual).map(|mut m| {
            m.update(b"compare");
            m.finalize().into_bytes()
        }) == <Hmac<Sha256> as Mac>::new_from_slice(&expected).map(|mut m| {
            m.update(b"compare");
            m.finalize().into_bytes()
        });
        if !same {
            return Err(CryptoError::Tampered(
                "its authentication code does not match".into(),
            ));
        }
    }
    let ciphertext = enveloped
        .encrypted_content
        .encrypted_content
        .as_ref()
        .ok_or_else(|| {
            CryptoError::Envelope("the content is detached, not in the envelope".into())
        })?;
    decrypt_content(
        &enveloped.encrypted_content.content_enc_alg,
        &content_key,
        ciphertext.as_bytes(),
    )
}

fn stored_mac(enveloped: &EnvelopedData) -> Result<Option<Vec<u8>>> {
    let Some(attributes) = &enveloped.unprotected_attrs else {
        return Ok(None);
    };
    for attribute in attributes.iter() {
        if attribute.oid == CONTENT_MAC {
            let value =
                attribute.values.iter().next().ok_or_else(|| {
                    CryptoError::Tampered("an empty authentication attribute".into())
                })?;
            let code: OctetString = value.decode_as()?;
            return Ok(Some(code.as_bytes().to_vec()));
        }
    }
    Ok(None)
}

fn content_key(
    enveloped: &EnvelopedData,
    credential: Credential<'_>,
    cache: &mut KekCache,
) -> Result<Zeroizing<Vec<u8>>> {
    match credential {
        Credential::Key(key) => {
            let mut named = Vec::new();
            for recipient in enveloped.recip_infos.0.iter() {
                if let RecipientInfo::Kekri(info) = recipient {
                    if !is_aes_wrap(&info.key_enc_alg.oid) {
                        continue;
                    }
                    if let Some(content_key) = open_kek(info, key)? {
                        return Ok(content_key);
                    }
                    named.push(hex::encode(info.kek_id.kek_identifier.as_bytes()));
                }
            }
            if named.is_empty() {
                return Err(CryptoError::NoRecipient("key (KEK)"));
            }
            Err(CryptoError::WrongKey {
                sealed_for: named.join(", "),
                given: key.id_hex(),
            })
        }
        Credential::Password(password) => {
            let mut any = false;
            for recipient in enveloped.recip_infos.0.iter() {
                if let RecipientInfo::Pwri(info) = recipient {
                    any = true;
                    if let Some(content_key) = open_password(info, password, cache)? {
                        return Ok(content_key);
                    }
                }
            }
            if any {
                Err(CryptoError::WrongPassword)
            } else {
                Err(CryptoError::NoRecipient("password"))
            }
        }
    }
}
