//! What the identity pass collects: every patient's identifiers, pseudonym and date
//! offset, everyone's identifiers, and the config and secret the rules are built from; and
//! the fingerprint that names that config and secret. A shared leaf: the plan, the check
//! and export read it; `crate::plan` runs the pass that makes it.

use std::collections::HashMap;

use dicom_object::InMemDicomObject;
use sha2::{Digest, Sha256};

use crate::engine::{Engine, PatientContext};
use crate::error::Result;
use crate::pseudonym::Secret;
use crate::rules::Rules;
use crate::settings::Config;

/// Everything the per-instance work needs, shared by the threads.
pub(crate) struct Prepared {
    pub config: Config,
    pub secret: Secret,
    pub patients: HashMap<String, PatientContext>,
    /// Patient keys linked to another (one ID whose issuer is missing or differs on some
    /// files, with a name or birth date in common).
    pub links: HashMap<String, String>,
    /// The identifiers of every patient and staff member of the session.
    pub everyone: crate::identity::EchoMatcher,
    /// A digest of them (a cached verification depends on it).
    pub everyone_digest: [u8; 32],
    pub fingerprint: String,
    /// The store's instance generation the identities were collected at.
    pub generation: i64,
}

impl Prepared {
    /// The patient a key belongs to, following links.
    pub fn patient(&self, key: &str) -> Option<&PatientContext> {
        let key = self.links.get(key).map(String::as_str).unwrap_or(key);
        self.patients.get(key)
    }

    pub fn rules(&self) -> Rules<'_> {
        Rules::new(&self.config)
    }

    pub fn engine<'a>(&'a self, rules: &'a Rules<'a>) -> Engine<'a> {
        Engine {
            rules,
            secret: &self.secret,
            everyone: &self.everyone,
        }
    }
}

/// The SOP Class UID of a header (empty when absent).
pub(crate) fn sop_class(header: &InMemDicomObject) -> String {
    crate::header::text(header, dicom_dictionary_std::tags::SOP_CLASS_UID).unwrap_or_default()
}

/// Identifies the config alone: a stale audit then says whether the config or the secret
/// changed.
pub(crate) fn config_digest(config: &Config) -> Result<String> {
    let json = gantry_store::StoreError::json("the configuration", config)?;
    Ok(hex::encode(&Sha256::digest(json.as_bytes())[..8]))
}

/// Identifies the rules and secret a report was made with, without revealing either. A
/// config that cannot be serialized is an error: an empty stand-in would give two configs
/// one fingerprint, and verify's cached verdicts would pass for the other.
pub(crate) fn fingerprint(config: &Config, secret: &Secret) -> Result<String> {
    let mut hasher = Sha256::new();
    hasher.update(gantry_store::StoreError::json("the configuration", config)?.as_bytes());
    hasher.update(Sha256::digest(secret.bytes()));
    Ok(hex::encode(&hasher.finalize()[..8]))
}
