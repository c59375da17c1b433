//! The identifiers shards exchange: each shard's patients' and staff's identifiers, so
//! that every shard finds in its free text the names and IDs of patients another shard
//! holds, as a single run on the whole dump finds them (the one fact of the whole dump a
//! shard needs). A shared leaf: the identity pass reads them, the exchange writes them.
//!
//! A file holds one shard's identifiers with the shard, the config digest and a MAC keyed
//! by the project secret over all of it: only a shard of the same run (same secret,
//! shard count and config) can use it, and a changed byte is refused. It holds PHI (the
//! identifiers themselves, as the shard's database does) and is written owner-only.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{GantryError, Result};
use crate::identity::{IdentifierKind, IdentifierSet};
use crate::pseudonym::Secret;
use crate::shard::Shard;

/// The extension of identifier files (`shard-2-of-4.identities`).
pub const EXTENSION: &str = "identities";

/// What a file says, under its MAC.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct PeerSet {
    /// The Gantry version that wrote it.
    pub gantry: String,
    /// The shard whose identifiers these are.
    pub shard: Shard,
    /// The digest of the config they were collected with (its options decide what is
    /// collected).
    pub config: String,
    /// The identifiers, sorted.
    pub identifiers: Vec<(String, IdentifierKind)>,
}

#[derive(Serialize, Deserialize)]
struct PeerFile {
    set: PeerSet,
    mac: String,
}

/// The meta key a shard keeps another shard's identifiers under.
pub(crate) fn meta_key(index: u32) -> String {
    format!("peers.shard.{index}")
}

fn mac(secret: &Secret, set: &PeerSet) -> Result<String> {
    let json = gantry_store::StoreError::json("a shard's identifiers", set)?;
    Ok(hex::encode(
        secret.digest(&[b"peer-identities", json.as_bytes()]),
    ))
}

/// Writes `set` to `path`, owner-only, with its MAC.
pub(crate) fn write(path: &Path, secret: &Secret, set: PeerSet) -> Result<()> {
    if let Some(dir) = path.parent() {
        gantry_store::create_private_dir_all(dir).map_err(|source| GantryError::Io {
            path: dir.to_path_buf(),
            source,
        })?;
    }
    let mac = mac(secret, &set)?;
    let json = gantry_store::StoreError::json("a shard's identifiers", &PeerFile { set, mac })?;
    gantry_store::write_private(path, json.as_bytes()).map_err(|source| GantryError::Io {
        path: path.to_path_buf(),
        source,
    })
}

/// Reads the identifiers file at `path`, checked with `secret`.
pub(crate) fn read(path: &Path, secret: &Secret) -> Result<PeerSet> {
    let bad = |detail: String| GantryError::PeerIdentities {
        path: path.to_path_buf(),
        detail,
    };
    let text = std::fs::read_to_string(path).map_err(|e| bad(e.to_string()))?;
    let file: PeerFile = serde_json::from_str(&text)
        .map_err(|e| bad(format!("not a shard's identifiers file: {e}")))?;
    if mac(secret, &file.set)? != file.mac {
        return Err(bad(
            "its MAC does not match: it was made with another project secret, or changed since"
                .into(),
        ));
    }
    Ok(file.set)
}

/// The identifier files among `paths`: files as given, and in folders, the files named
/// `*.identities`, in name order.
pub(crate) fn files_in<P: AsRef<Path>>(paths: &[P]) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for path in paths {
        let path = path.as_ref();
        if path.is_dir() {
            let io = |source| GantryError::Io {
                path: path.to_path_buf(),
                source,
            };
            let mut found = Vec::new();
            for entry in std::fs::read_dir(path).map_err(io)? {
                let entry = entry.map_err(io)?.path();
                if entry.extension().is_some_and(|e| e == EXTENSION) {
                    found.push(entry);
                }
            }
            found.sort();
            out.extend(found);
        } else {
            out.push(path.to_path_buf());
        }
    }
    Ok(out)
}

/// The identifiers of `set`, to add to a session's.
pub(crate) fn identifiers(set: &PeerSet) -> IdentifierSet {
    IdentifierSet::from_items(set.identifiers.iter().cloned())
}
