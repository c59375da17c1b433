//! Keyed pseudonymization: every derived value is HMAC-SHA256 of the original under one
//! project secret, so results agree across runs, sessions and machines that share the
//! secret, and cannot be recomputed by someone who only knows the original value.

use std::fmt;

use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::error::{Result, SecretError};

/// The project secret: 32 random bytes keying every derived value. Never exported.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret([u8; 32]);

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(..)")
    }
}

impl Secret {
    /// A fresh random secret from the operating system.
    pub fn generate() -> Result<Secret> {
        let mut bytes = [0u8; 32];
        getrandom::fill(&mut bytes).map_err(|e| SecretError::NoRandomness(e.to_string()))?;
        Ok(Secret(bytes))
    }

    /// A secret from its 64 hexadecimal digits (to share it between machines).
    pub fn from_hex(text: &str) -> Result<Secret> {
        let bytes = hex::decode(text.trim())
            .ok()
            .and_then(|b| <[u8; 32]>::try_from(b).ok())
            .ok_or(SecretError::NotHex)?;
        Ok(Secret(bytes))
    }

    /// The secret as 64 hexadecimal digits.
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    pub(crate) fn from_bytes(bytes: &[u8]) -> Option<Secret> {
        <[u8; 32]>::try_from(bytes).ok().map(Secret)
    }

    pub(crate) fn bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// HMAC-SHA256 of `domain` and `value`; the domain keeps derivations of different
    /// kinds apart (a UID and a patient ID with the same text map differently).
    fn mac(&self, domain: &str, value: &str) -> [u8; 32] {
        // HMAC accepts keys of any length, so this cannot fail.
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.0)
            .unwrap_or_else(|_| unreachable!("HMAC takes any key length"));
        mac.update(domain.as_bytes());
        mac.update(&[0]);
        mac.update(value.as_bytes());
        mac.finalize().into_bytes().into()
    }

    /// HMAC-SHA256 of `domain` and `value`, for derivations outside this module (the shard
    /// partition, patient digests).
    pub(crate) fn keyed(&self, domain: &str, value: &str) -> [u8; 32] {
        self.mac(domain, value)
    }

    /// A fingerprint of the secret that reveals nothing of it: two descriptions with the
    /// same fingerprint were made with the same secret.
    pub fn fingerprint(&self) -> String {
        hex::encode(&self.mac("fingerprint", "")[..8])
    }

    /// A keyed digest of several byte strings (each length-prefixed, so their boundaries
    /// count).
    pub(crate) fn digest(&self, parts: &[&[u8]]) -> [u8; 32] {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.0)
            .unwrap_or_else(|_| unreachable!("HMAC takes any key length"));
        mac.update(b"digest\0");
        for part in parts {
            mac.update(&(part.len() as u64).to_le_bytes());
            mac.update(part);
        }
        mac.finalize().into_bytes().into()
    }

    /// The remapped UID: `2.25.` and the decimal of the first 128 bits of the HMAC
    /// (PS3.5 B.2: a UUID-derived UID needs no registered root).
    pub fn uid(&self, original: &str) -> String {
        let mac = self.mac("uid", original.trim_end_matches(['\0', ' ']));
        let mut first = [0u8; 16];
        first.copy_from_slice(&mac[..16]);
        format!("2.25.{}", u128::from_be_bytes(first))
    }

    /// The pseudonym of a patient: `PREFIX-` and 16 hexadecimal digits (64 bits).
    pub fn patient_pseudonym(&self, prefix: &str, patient_key: &str) -> String {
        let mac = self.mac("patient", patient_key);
        format!("{prefix}-{}", hex::encode_upper(&mac[..8]))
    }

    /// A keyed hash of a value, `max_len` characters at most (`H` and hex digits).
    pub fn hash_text(&self, value: &str, max_len: usize) -> String {
        let mac = self.mac("hash", value);
        let mut out = String::from("H");
        out.push_str(&hex::encode_upper(mac));
        out.truncate(max_len.clamp(2, 65));
        out
    }

    /// The date offset of a patient, in days, within `[min, max]` and never zero (a zero
    /// shift would leave that patient's dates as they were).
    pub fn date_offset(&self, patient_key: &str, min: i32, max: i32) -> i32 {
        let mac = self.mac("date-shift", patient_key);
        let draw = u64::from_be_bytes([
            mac[0], mac[1], mac[2], mac[3], mac[4], mac[5], mac[6], mac[7],
        ]);
        let candidates: i64 = (max as i64 - min as i64 + 1) - i64::from(min <= 0 && max >= 0);
        if candidates <= 0 {
            return if min != 0 { min } else { max };
        }
        let mut offset = min as i64 + (draw % candidates as u64) as i64;
        if min <= 0 && offset >= 0 {
            offset += 1; // skip zero
        }
        offset as i32
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secret(byte: u8) -> Secret {
        Secret([byte; 32])
    }

    #[test]
    fn uids_are_consistent_keyed_and_valid() {
        let s = secret(1);
        let a = s.uid("1.2.826.0.1.3680043.10.1453.46310803.1");
        assert_eq!(a, s.uid("1.2.826.0.1.3680043.10.1453.46310803.1"));
        assert_eq!(
            a,
            s.uid("1.2.826.0.1.3680043.10.1453.46310803.1\0"),
            "padding ignored"
        );
        assert_ne!(a, secret(2).uid("1.2.826.0.1.3680043.10.1453.46310803.1"));
        assert_ne!(a, s.uid("1.2.826.0.1.3680043.10.1453.46310803.2"));
        assert!(a.starts_with("2.25.") && a.len() <= 64);
        assert!(a[5..].chars().all(|c| c.is_ascii_digit()));
        assert!(!a[5..].starts_with('0') || a.len() == 6, "no leading zero");
    }

    #[test]
    fn date_offsets_stay_in_range_and_are_never_zero() {
        let s = secret(3);
        for key in 0..2000 {
            let d = s.date_offset(&key.to_string(), -3, 3);
            assert!((-3..=3).contains(&d) && d != 0, "{d}");
            let e = s.date_offset(&key.to_string(), -365, -1);
            assert!((-365..=-1).contains(&e));
        }
        let seen: std::collections::BTreeSet<i32> = (0..2000)
            .map(|k| s.date_offset(&k.to_string(), -3, 3))
            .collect();
        assert_eq!(seen.len(), 6, "every non-zero offset is drawn: {seen:?}");
    }

    #[test]
    fn pseudonyms_differ_per_patient_and_fit_the_vr() {
        let s = secret(4);
        let a = s.patient_pseudonym("ANON", "MRN1|ISSUER");
        assert_eq!(a, s.patient_pseudonym("ANON", "MRN1|ISSUER"));
        assert_ne!(a, s.patient_pseudonym("ANON", "MRN2|ISSUER"));
        assert!(a.len() <= 64);
        assert_eq!(s.hash_text("x", 16).len(), 16);
    }
}
