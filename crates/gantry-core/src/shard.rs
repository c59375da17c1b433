//! Shards: a deterministic partition of a dump by patient, so that several machines (or
//! array tasks) each de-identify one part with no coordination, and the description an
//! export writes of itself (`dataset.json`), which `merge` checks shards against each
//! other with. A shared leaf: ingest partitions with it, export describes with it.
//!
//! A file belongs to shard `1 + HMAC(secret, "shard", key) mod N`, where the key is the
//! Patient ID (without its issuer, so that keys identity linking may join stay together),
//! or, without one, the name and birth date, or, without those, the study: the grouping of
//! [`crate::identity::patient_key`], coarsened. It depends on nothing but the file's own
//! header and the project secret: the same patient lands in the same shard whatever file
//! it is in, in whatever order and on whichever machine the files are read.

use std::fmt;
use std::str::FromStr;

use gantry_store::InstanceRecord;
use serde::{Deserialize, Serialize};

use crate::pseudonym::Secret;

/// One part of a partition of a dump into `count` shards: `index` of `count`, from 1. Read
/// from a file (a `dataset.json`, another shard's identifiers) it is checked like one typed:
/// `7/4` or `0/4` is refused, never taken as a shard.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "RawShard")]
pub struct Shard {
    /// This shard, from 1 to `count`.
    pub index: u32,
    /// How many shards the dump is split into.
    pub count: u32,
}

/// A shard as a file has it, before it is checked.
#[derive(Deserialize)]
struct RawShard {
    index: u32,
    count: u32,
}

impl TryFrom<RawShard> for Shard {
    type Error = BadShard;

    fn try_from(raw: RawShard) -> Result<Shard, BadShard> {
        Shard::new(raw.index, raw.count).ok_or_else(|| BadShard {
            text: format!("{}/{}", raw.index, raw.count),
        })
    }
}

/// The largest shard count accepted (a typo such as `1/40000000` is refused, not run).
pub const MAX_SHARDS: u32 = 1 << 16;

/// A shard written as `i/N` is not one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "{text:?} is not a shard: write i/N with 1 <= i <= N <= {MAX_SHARDS} (e.g. 3/8 for the third of eight)"
)]
pub struct BadShard {
    /// What was given.
    pub text: String,
}

impl Shard {
    /// The whole dump, as one shard.
    pub const WHOLE: Shard = Shard { index: 1, count: 1 };

    /// Shard `index` of `count` (from 1), if that is one.
    pub fn new(index: u32, count: u32) -> Option<Shard> {
        (1..=MAX_SHARDS)
            .contains(&count)
            .then_some(())
            .filter(|_| (1..=count).contains(&index))
            .map(|_| Shard { index, count })
    }

    /// The shard of `count` that `record`'s patient belongs to.
    pub fn of(secret: &Secret, record: &InstanceRecord, count: u32) -> Shard {
        let count = count.clamp(1, MAX_SHARDS);
        Shard {
            index: shard_number(secret, &partition_key(record), count),
            count,
        }
    }
}

impl fmt::Display for Shard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

impl FromStr for Shard {
    type Err = BadShard;

    fn from_str(text: &str) -> Result<Shard, BadShard> {
        let bad = || BadShard {
            text: text.to_string(),
        };
        let (index, count) = text.trim().split_once('/').ok_or_else(bad)?;
        let index = index.trim().parse().map_err(|_| bad())?;
        let count = count.trim().parse().map_err(|_| bad())?;
        Shard::new(index, count).ok_or_else(bad)
    }
}

/// What the partition groups by: the Patient ID alone, or the name and birth date, or the
/// study (see the module docs). Each value is taken as the index stores it.
pub(crate) fn partition_key(record: &InstanceRecord) -> String {
    partition_key_of(&[
        record.patient_id.as_deref(),
        record.patient_name.as_deref(),
        record.patient_birth_date.as_deref(),
        record.study_instance_uid.as_deref(),
    ])
}

/// [`partition_key`] of (Patient ID, Patient's Name, Birth Date, Study Instance UID).
fn partition_key_of([id, name, birth, study]: &[Option<&str>; 4]) -> String {
    fn value<'a>(v: &Option<&'a str>) -> &'a str {
        v.unwrap_or("").trim()
    }
    let id = value(id);
    if !id.is_empty() {
        return format!("id:{id}");
    }
    let (name, birth) = (value(name), value(birth));
    if !name.is_empty() || !birth.is_empty() {
        return format!("name:{name}|{birth}");
    }
    format!("study:{}", value(study))
}

fn shard_number(secret: &Secret, key: &str, count: u32) -> u32 {
    let mac = secret.keyed("shard", key);
    let mut first = [0u8; 8];
    first.copy_from_slice(&mac[..8]);
    (u64::from_be_bytes(first) % u64::from(count.max(1))) as u32 + 1
}

/// The keyed digests of the patients of the instances in `store`, sorted: two shards that
/// list the same digest hold one patient between them. Without the secret they say nothing
/// of who.
pub(crate) fn patient_digests(
    secret: &Secret,
    store: &gantry_store::Store,
) -> gantry_store::Result<Vec<String>> {
    let mut digests = std::collections::BTreeSet::new();
    for [id, name, birth, study] in store.patient_study_keys()? {
        let key = partition_key_of(&[
            id.as_deref(),
            name.as_deref(),
            birth.as_deref(),
            study.as_deref(),
        ]);
        digests.insert(hex::encode(&secret.keyed("shard-patient", &key)[..16]));
    }
    Ok(digests.into_iter().collect())
}

/// What an export says of itself in `dataset.json` beside its manifest: where it comes from
/// (Gantry's version, the profile edition, the config, the secret, by digests that reveal
/// neither), which shard it is, and what it holds. No value in it identifies anyone.
/// `gantry merge` checks shards against each other with it, and writes the merged one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DatasetDescription {
    /// The Gantry version that wrote it.
    pub gantry: String,
    /// The shard this export is, when the session was one (`None`: the whole dump, or a
    /// merge of shards).
    pub shard: Option<Shard>,
    /// How many shards were merged into it (1: a single run).
    pub shards: u32,
    /// Whether the safe gate was on for every file.
    pub safe: bool,
    /// A keyed fingerprint of the project secret (shards must share the secret).
    pub secret: String,
    /// A digest of the configuration.
    pub config: String,
    /// The confidentiality profile's edition.
    pub profile: String,
    /// The folder layout of the files.
    pub layout: String,
    /// Instances the export considered.
    pub instances: u64,
    /// Files in the manifest.
    pub files: u64,
    /// Their bytes.
    pub bytes: u64,
    /// Instances not written (blocked, or failed).
    pub blocked: u64,
    /// Keyed digests of the patients of the instances considered, sorted.
    pub patients: Vec<String>,
}

/// The file name of the description, beside `manifest.csv` and `manifest.json`.
pub const DATASET_FILE: &str = "dataset.json";

impl DatasetDescription {
    /// The description as written: pretty JSON, one patient digest per line.
    pub(crate) fn to_json(&self) -> serde_json::Result<String> {
        let mut text = serde_json::to_string_pretty(self)?;
        text.push('\n');
        Ok(text)
    }
}

impl fmt::Display for DatasetDescription {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let part = match self.shard {
            Some(shard) => format!("shard {shard}"),
            None if self.shards > 1 => format!("{} shards merged", self.shards),
            None => "the whole dump".to_string(),
        };
        writeln!(
            f,
            "{part}: {} files ({:.1} MB) of {} instances, {} patients, {} blocked; {} export, config {}, secret {}, Gantry {}",
            self.files,
            self.bytes as f64 / 1e6,
            self.instances,
            self.patients.len(),
            self.blocked,
            if self.safe { "safe" } else { "UNSAFE" },
            self.config,
            self.secret,
            self.gantry
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_parse_only_when_they_are_one() {
        assert_eq!("3/8".parse(), Ok(Shard { index: 3, count: 8 }));
        assert_eq!(" 1 / 1 ".parse(), Ok(Shard::WHOLE));
        for bad in ["0/4", "5/4", "1/0", "4", "a/b", "-1/4", "1/70000", ""] {
            assert!(bad.parse::<Shard>().is_err(), "{bad}");
        }
        assert_eq!(Shard::new(2, 5).map(|s| s.to_string()), Some("2/5".into()));
    }

    #[test]
    fn a_shard_read_from_a_file_is_checked_like_one_typed() {
        let read = |json: &str| serde_json::from_str::<Shard>(json);
        assert_eq!(read(r#"{"index":2,"count":4}"#).ok(), Shard::new(2, 4));
        for bad in [
            r#"{"index":7,"count":4}"#,
            r#"{"index":0,"count":4}"#,
            r#"{"index":1,"count":0}"#,
        ] {
            assert!(read(bad).is_err(), "{bad}");
        }
    }
}
