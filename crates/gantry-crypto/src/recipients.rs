//! The two recipient kinds the `cms` crate's builder lacks, on its public
//! [`RecipientInfoBuilder`] trait, and their reverse.
//!
//! - KEK (RFC 5652 6.2.3): the content-encryption key wrapped with AES Key Wrap (RFC 3394)
//!   under the key file's key, named by its identifier.
//! - Password (RFC 5652 6.2.4): a key derived with PBKDF2 (RFC 8018) wraps the
//!   content-encryption key with the PWRI-KEK algorithm (RFC 3211), which is what
//!   `openssl cms -pwri_password` and GDCM's `gdcmanon -p` use.

use std::cell::RefCell;

use aes::cipher::{KeyInit, generic_array::GenericArray};
use cms::builder::{RecipientInfoBuilder, RecipientInfoType};
use cms::content_info::CmsVersion;
use cms::enveloped_data::{KekIdentifier, KekRecipientInfo, PasswordRecipientInfo, RecipientInfo};
use const_oid::ObjectIdentifier;
use der::asn1::OctetString;
use der::{Any, Decode, Encode};
use hmac::{Hmac, Mac};
use rand_core::{OsRng, RngCore};
use sha2::Sha256;
use spki::AlgorithmIdentifierOwned;
use zeroize::Zeroizing;

use crate::error::{CryptoError, Result};
use crate::keyfile::KeyFile;

pub(crate) const AES128_WRAP: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.1.5");
const AES192_WRAP: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.1.25");
const AES256_WRAP: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.1.45");
pub(crate) const AES128_CBC: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.1.2");
const AES192_CBC: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.1.22");
const AES256_CBC: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.1.42");
const PWRI_KEK: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.16.3.9");
const PBKDF2: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.5.12");
const HMAC_SHA1: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.2.7");
const HMAC_SHA256: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.2.9");

/// PBKDF2 rounds for the password recipient. The key is derived once per sealing session,
/// so a strong count costs nothing per instance.
pub const PBKDF2_ROUNDS: u32 = 200_000;

/// PBKDF2-params (RFC 8018 A.2). The PRF defaults to HMAC-SHA1 when absent.
#[derive(Clone, Debug, der::Sequence)]
struct Pbkdf2Params {
    salt: OctetString,
    iteration_count: u32,
    #[asn1(optional = "true")]
    key_length: Option<u32>,
    #[asn1(optional = "true")]
    prf: Option<AlgorithmIdentifierOwned>,
}

/// Receives a key derived from the content-encryption key, for the authentication code
/// the envelope carries beside the content (see `envelope`).
/// Password-derived keys by their PBKDF2 parameters and key length.
pub(crate) type KekCache = Vec<(Vec<u8>, Zeroizing<Vec<u8>>)>;

pub(crate) type MacKeySlot = RefCell<Option<Zeroizing<[u8; 32]>>>;

pub(crate) fn mac_key(content_key: &[u8]) -> Zeroizing<[u8; 32]> {
    // HMAC takes keys of any length.
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(content_key)
        .unwrap_or_else(|_| unreachable!("HMAC takes any key length"));
    mac.update(b"gantry sealed content authentication v1");
    Zeroizing::new(mac.finalize().into_bytes().into())
}

/// AES with the key sizes CMS names.
enum Aes {
    A128(Box<aes::Aes128>),
    A192(Box<aes::Aes192>),
    A256(Box<aes::Aes256>),
}

impl Aes {
    fn new(key: &[u8]) -> Result<Aes> {
        let bad = |_| CryptoError::Envelope(format!("an AES key of {} bytes", key.len()));
        Ok(match key.len() {
            16 => Aes::A128(Box::new(aes::Aes128::new_from_slice(key).map_err(bad)?)),
            24 => Aes::A192(Box::new(aes::Aes192::new_from_slice(key).map_err(bad)?)),
            32 => Aes::A256(Box::new(aes::Aes256::new_from_slice(key).map_err(bad)?)),
            n => return Err(CryptoError::Envelope(format!("an AES key of {n} bytes"))),
        })
    }

    /// CBC over whole blocks, in place (the `cbc` crate, no padding: the callers pad).
    fn cbc_encrypt(&self, iv: &[u8; 16], data: &mut [u8]) -> Result<()> {
        use cbc::cipher::{BlockEncryptMut, InnerIvInit, block_padding::NoPadding};
        let iv = GenericArray::from_slice(iv);
        let len = data.len();
        let done = match self {
            Aes::A128(c) => cbc::Encryptor::<aes::Aes128>::inner_iv_init((**c).clone(), iv)
                .encrypt_padded_mut::<NoPadding>(data, len)
                .is_ok(),
            Aes::A192(c) => cbc::Encryptor::<aes::Aes192>::inner_iv_init((**c).clone(), iv)
                .encrypt_padded_mut::<NoPadding>(data, len)
                .is_ok(),
            Aes::A256(c) => cbc::Encryptor::<aes::Aes256>::inner_iv_init((**c).clone(), iv)
                .encrypt_padded_mut::<NoPadding>(data, len)
                .is_ok(),
        };
        done.then_some(())
            .ok_or_else(|| CryptoError::Envelope(format!("{len} bytes are not whole AES blocks")))
    }

    fn cbc_decrypt(&self, iv: &[u8; 16], data: &mut [u8]) -> Result<()> {
        use cbc::cipher::{BlockDecryptMut, InnerIvInit, block_padding::NoPadding};
        let iv = GenericArray::from_slice(iv);
        let len = data.len();
        let done = match self {
            Aes::A128(c) => cbc::Decryptor::<aes::Aes128>::inner_iv_init((**c).clone(), iv)
                .decrypt_padded_mut::<NoPadding>(data)
                .is_ok(),
            Aes::A192(c) => cbc::Decryptor::<aes::Aes192>::inner_iv_init((**c).clone(), iv)
                .decrypt_padded_mut::<NoPadding>(data)
                .is_ok(),
            Aes::A256(c) => cbc::Decryptor::<aes::Aes256>::inner_iv_init((**c).clone(), iv)
                .decrypt_padded_mut::<NoPadding>(data)
                .is_ok(),
        };
        done.then_some(())
            .ok_or_else(|| CryptoError::Tampered(format!("{len} bytes are not whole AES blocks")))
    }
}

/// The AES key length of a CBC algorithm identifier.
pub(crate) fn aes_cbc_key_len(oid: &ObjectIdentifier) -> Option<usize> {
    match *oid {
        AES128_CBC => Some(16),
        AES192_CBC => Some(24),
        AES256_CBC => Some(32),
        _ => None,
    }
}

/// The IV of a CBC algorithm identifier (an OCTET STRING of 16 bytes).
pub(crate) fn cbc_iv(alg: &AlgorithmIdentifierOwned) -> Result<[u8; 16]> {
    let any = alg
        .parameters
        .as_ref()
        .ok_or_else(|| CryptoError::Envelope("a CBC algorithm without its IV".into()))?;
    let iv: OctetString = any.decode_as()?;
    iv.as_bytes()
        .try_into()
        .map_err(|_| CryptoError::Envelope(format!("a CBC IV of {} bytes", iv.as_bytes().len())))
}

/// RFC 3211 2.3.1: length byte, three check bytes, the key, random padding to at least
/// two blocks; then CBC-encrypted twice, the second pass chained on from the first.
fn pwri_wrap(kek: &Aes, iv: &[u8; 16], content_key: &[u8]) -> Result<Vec<u8>> {
    if content_key.len() < 3 || content_key.len() > 255 {
        return Err(CryptoError::Envelope(
            "a content key of unusual length".into(),
        ));
    }
    let total = (4 + content_key.len()).div_ceil(16).max(2) * 16;
    let mut block = Zeroizing::new(vec![0u8; total]);
    block[0] = content_key.len() as u8;
    for i in 0..3 {
        block[1 + i] = !content_key[i];
    }
    block[4..4 + content_key.len()].copy_from_slice(content_key);
    OsRng
        .try_fill_bytes(&mut block[4 + content_key.len()..])
        .map_err(|e| CryptoError::Random(e.to_string()))?;
    kek.cbc_encrypt(iv, &mut block)?;
    let mut chained = [0u8; 16];
    chained.copy_from_slice(&block[total - 16..]);
    kek.cbc_encrypt(&chained, &mut block)?;
    Ok(block.to_vec())
}

/// RFC 3211 2.3.2; `None` when the check bytes show the key-encryption key is wrong.
fn pwri_unwrap(kek: &Aes, iv: &[u8; 16], wrapped: &[u8]) -> Option<Zeroizing<Vec<u8>>> {
    let n = wrapped.len();
    if n < 32 || !n.is_multiple_of(16) {
        return None;
    }
    // The outer pass was chained on from the last inner block: recover it from the last
    // two outer blocks, then undo the outer pass, then the inner one.
    let mut last = [0u8; 16];
    last.copy_from_slice(&wrapped[n - 16..]);
    let mut before: [u8; 16] = [0u8; 16];
    before.copy_from_slice(&wrapped[n - 32..n - 16]);
    kek.cbc_decrypt(&before, &mut last).ok()?;
    let mut data = Zeroizing::new(wrapped.to_vec());
    kek.cbc_decrypt(&last, &mut data).ok()?;
    kek.cbc_decrypt(iv, &mut data).ok()?;
    let len = data[0] as usize;
    let checks = (data[1] ^ data[4]) & (data[2] ^ data[5]) & (data[3] ^ data[6]);
    if checks != 0xFF || len < 3 || 4 + len > n {
        return None;
    }
    Some(Zeroizing::new(data[4..4 + len].to_vec()))
}

/// A KEK recipient for the key of a key file.
pub(crate) struct KekRecipient<'a> {
    pub key: &'a KeyFile,
    pub mac: &'a MacKeySlot,
}

impl RecipientInfoBuilder for KekRecipient<'_> {
    fn recipient_info_type(&self) -> RecipientInfoType {
        RecipientInfoType::Kekri
    }

    fn recipient_info_version(&self) -> CmsVersion {
        CmsVersion::V4
    }

    fn build(&mut self, content_key: &[u8]) -> Result<RecipientInfo, cms::builder::Error> {
        let builder_err = |e: &dyn std::fmt::Display| cms::builder::Error::Builder(e.to_string());
        let wrapped = aes_kw::KekAes128::from(*self.key.key())
            .wrap_vec(content_key)
            .map_err(|e| builder_err(&e))?;
        *self.mac.borrow_mut() = Some(mac_key(content_key));
        Ok(RecipientInfo::Kekri(KekRecipientInfo {
            version: CmsVersion::V4,
            kek_id: KekIdentifier {
                kek_identifier: OctetString::new(self.key.id().to_vec())?,
                date: None,
                other: None,
            },
            // RFC 3565 2.3.2: the parameters of the AES key wrap algorithms are absent.
            key_enc_alg: AlgorithmIdentifierOwned {
                oid: AES128_WRAP,
                parameters: None,
            },
            encrypted_key: OctetString::new(wrapped)?,
        }))
    }
}

/// A password's key-encryption key, derived once with PBKDF2.
pub struct PasswordKek {
    salt: [u8; 16],
    rounds: u32,
    key: Zeroizing<[u8; 16]>,
}

impl std::fmt::Debug for PasswordKek {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PasswordKek")
            .field("rounds", &self.rounds)
            .finish_non_exhaustive()
    }
}

impl PasswordKek {
    /// Derives the key of `password` with a fresh salt and [`PBKDF2_ROUNDS`] rounds of
    /// PBKDF2-HMAC-SHA256.
    pub fn derive(password: &str) -> Result<PasswordKek> {
        let mut salt = [0u8; 16];
        OsRng
            .try_fill_bytes(&mut salt)
            .map_err(|e| CryptoError::Random(e.to_string()))?;
        let mut key = Zeroizing::new([0u8; 16]);
        pbkdf2::pbkdf2_hmac::<Sha256>(password.as_bytes(), &salt, PBKDF2_ROUNDS, key.as_mut());
        Ok(PasswordKek {
            salt,
            rounds: PBKDF2_ROUNDS,
            key,
        })
    }
}

/// A password recipient.
pub(crate) struct PasswordRecipient<'a> {
    pub kek: &'a PasswordKek,
    pub mac: &'a MacKeySlot,
}

impl RecipientInfoBuilder for PasswordRecipient<'_> {
    fn recipient_info_type(&self) -> RecipientInfoType {
        RecipientInfoType::Pwri
    }

    fn recipient_info_version(&self) -> CmsVersion {
        CmsVersion::V0
    }

    fn build(&mut self, content_key: &[u8]) -> Result<RecipientInfo, cms::builder::Error> {
        let builder_err = |e: &dyn std::fmt::Display| cms::builder::Error::Builder(e.to_string());
        let mut iv = [0u8; 16];
        OsRng.try_fill_bytes(&mut iv).map_err(|e| builder_err(&e))?;
        let aes = Aes::new(self.kek.key.as_ref()).map_err(|e| builder_err(&e))?;
        let wrapped = pwri_wrap(&aes, &iv, content_key).map_err(|e| builder_err(&e))?;
        *self.mac.borrow_mut() = Some(mac_key(content_key));
        let params = Pbkdf2Params {
            salt: OctetString::new(self.kek.salt.to_vec())?,
            iteration_count: self.kek.rounds,
            key_length: None,
            prf: Some(AlgorithmIdentifierOwned {
                oid: HMAC_SHA256,
                parameters: Some(Any::null()),
            }),
        };
        let kek_cipher = AlgorithmIdentifierOwned {
            oid: AES128_CBC,
            parameters: Some(Any::encode_from(&OctetString::new(iv.to_vec())?)?),
        };
        Ok(RecipientInfo::Pwri(PasswordRecipientInfo {
            version: CmsVersion::V0,
            key_derivation_alg: Some(AlgorithmIdentifierOwned {
                oid: PBKDF2,
                parameters: Some(Any::encode_from(&params)?),
            }),
            key_enc_alg: AlgorithmIdentifierOwned {
                oid: PWRI_KEK,
                parameters: Some(Any::encode_from(&kek_cipher)?),
            },
            enc_key: OctetString::new(wrapped)?,
        }))
    }
}

/// Unwraps the content key of a KEK recipient with `key`; `Ok(None)` when the recipient
/// names another key.
pub(crate) fn open_kek(
    info: &KekRecipientInfo,
    key: &KeyFile,
) -> Result<Option<Zeroizing<Vec<u8>>>> {
    if info.kek_id.kek_identifier.as_bytes() != key.id() {
        return Ok(None);
    }
    if info.key_enc_alg.oid != AES128_WRAP {
        return Err(CryptoError::Unsupported(format!(
            "key wrap {} for a 128-bit key file (expected id-aes128-wrap)",
            describe(&info.key_enc_alg.oid)
        )));
    }
    let content_key = aes_kw::KekAes128::from(*key.key())
        .unwrap_vec(info.encrypted_key.as_bytes())
        .map_err(|_| CryptoError::KeyMismatch)?;
    Ok(Some(Zeroizing::new(content_key)))
}

/// Derives the key-encryption key of a password recipient and unwraps the content key;
/// `Ok(None)` when the password is wrong.
pub(crate) fn open_password(
    info: &PasswordRecipientInfo,
    password: &str,
    cache: &mut KekCache,
) -> Result<Option<Zeroizing<Vec<u8>>>> {
    if info.key_enc_alg.oid != PWRI_KEK {
        return Err(CryptoError::Unsupported(format!(
            "password key encryption {}",
            describe(&info.key_enc_alg.oid)
        )));
    }
    let cipher: AlgorithmIdentifierOwned = info
        .key_enc_alg
        .parameters
        .as_ref()
        .ok_or_else(|| CryptoError::Envelope("PWRI-KEK without its cipher".into()))?
        .decode_as()?;
    let key_len = aes_cbc_key_len(&cipher.oid).ok_or_else(|| {
        CryptoError::Unsupported(format!("PWRI-KEK cipher {}", describe(&cipher.oid)))
    })?;
    let iv = cbc_iv(&cipher)?;
    let derivation = info.key_derivation_alg.as_ref().ok_or_else(|| {
        CryptoError::Envelope("a password recipient without its key derivation".into())
    })?;
    if derivation.oid != PBKDF2 {
        return Err(CryptoError::Unsupported(format!(
            "key derivation {}",
            describe(&derivation.oid)
        )));
    }
    let params_der = derivation
        .parameters
        .as_ref()
        .ok_or_else(|| CryptoError::Envelope("PBKDF2 without parameters".into()))?
        .to_der()?;
    // The same password and parameters derive the same key: derive once per envelope kind
    // (every object a session sealed shares them), not once per object.
    let mut cache_key = params_der.clone();
    cache_key.push(key_len as u8);
    let kek = match cache.iter().find(|(k, _)| *k == cache_key) {
        Some((_, kek)) => kek.clone(),
        None => {
            let params = Pbkdf2Params::from_der(&params_der)?;
            if params.key_length.is_some_and(|l| l as usize != key_len) {
                return Err(CryptoError::Envelope(
                    "PBKDF2 key length does not match the cipher".into(),
                ));
            }
            if params.iteration_count == 0 || params.iteration_count > 10_000_000 {
                return Err(CryptoError::Envelope(format!(
                    "PBKDF2 with {} rounds",
                    params.iteration_count
                )));
            }
            let mut kek = Zeroizing::new(vec![0u8; key_len]);
            let salt = params.salt.as_bytes();
            match params.prf.as_ref().map(|p| p.oid) {
                None | Some(HMAC_SHA1) => pbkdf2::pbkdf2_hmac::<sha1::Sha1>(
                    password.as_bytes(),
                    salt,
                    params.iteration_count,
                    &mut kek,
                ),
                Some(HMAC_SHA256) => pbkdf2::pbkdf2_hmac::<Sha256>(
                    password.as_bytes(),
                    salt,
                    params.iteration_count,
                    &mut kek,
                ),
                Some(other) => {
                    return Err(CryptoError::Unsupported(format!(
                        "PBKDF2 PRF {}",
                        describe(&other)
                    )));
                }
            }
            cache.push((cache_key, kek.clone()));
            kek
        }
    };
    let aes = Aes::new(&kek)?;
    Ok(pwri_unwrap(&aes, &iv, info.enc_key.as_bytes()))
}

/// Decrypts AES-CBC content and removes its PKCS#7 padding.
pub(crate) fn decrypt_content(
    alg: &AlgorithmIdentifierOwned,
    content_key: &[u8],
    ciphertext: &[u8],
) -> Result<Vec<u8>> {
    let key_len = aes_cbc_key_len(&alg.oid).ok_or_else(|| {
        CryptoError::Unsupported(format!("content encryption {}", describe(&alg.oid)))
    })?;
    if content_key.len() != key_len {
        return Err(CryptoError::Tampered(
            "the content key does not fit the content cipher".into(),
        ));
    }
    if ciphertext.is_empty() || !ciphertext.len().is_multiple_of(16) {
        return Err(CryptoError::Tampered(format!(
            "{} bytes of ciphertext is not whole AES blocks",
            ciphertext.len()
        )));
    }
    let iv = cbc_iv(alg)?;
    let aes = Aes::new(content_key)?;
    let mut data = ciphertext.to_vec();
    aes.cbc_decrypt(&iv, &mut data)?;
    let pad = *data.last().unwrap_or(&0) as usize;
    if pad == 0 || pad > 16 || !data[data.len() - pad..].iter().all(|b| *b as usize == pad) {
        return Err(CryptoError::Tampered("the padding is not intact".into()));
    }
    data.truncate(data.len() - pad);
    Ok(data)
}

pub(crate) fn describe(oid: &ObjectIdentifier) -> String {
    match const_oid::db::DB.by_oid(oid) {
        Some(name) => format!("{name} ({oid})"),
        None => oid.to_string(),
    }
}

pub(crate) fn is_aes_wrap(oid: &ObjectIdentifier) -> bool {
    matches!(*oid, AES128_WRAP | AES192_WRAP | AES256_WRAP)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pwri_wrap_round_trips_and_detects_a_wrong_key() {
        let kek = Aes::new(&[7u8; 16]).unwrap();
        let other = Aes::new(&[8u8; 16]).unwrap();
        let iv = [3u8; 16];
        for len in [16usize, 24, 32] {
            let cek: Vec<u8> = (0..len as u8).collect();
            let wrapped = pwri_wrap(&kek, &iv, &cek).unwrap();
            assert_eq!(wrapped.len() % 16, 0);
            assert_eq!(pwri_unwrap(&kek, &iv, &wrapped).unwrap().as_slice(), cek);
            assert!(pwri_unwrap(&other, &iv, &wrapped).is_none());
        }
    }
}
