//! Persistence beyond what each checkpoint commits: the pixel sidecar's file, making the
//! database self-contained, and reclaiming the sidecar space of superseded pixels.

use std::fmt;
use std::path::PathBuf;

use gantry_store::PixelSidecar;
use serde::Serialize;

use crate::error::{GantryError, Result};
use crate::session::Session;

/// Key of the sidecar generation in the store's meta table. Compaction writes the live
/// records to the next generation's file and switches the database to it in one
/// transaction, so a crash leaves either the old file or the new one in force, whole.
const SIDECAR_GENERATION: &str = "sidecar.generation";

/// What compaction did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CompactReport {
    /// Pixel records kept.
    pub records: u64,
    /// Sidecar bytes before.
    pub bytes_before: u64,
    /// Sidecar bytes after.
    pub bytes_after: u64,
}

impl fmt::Display for CompactReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "Compacted the pixel sidecar: {} records kept, {:.1} MB → {:.1} MB",
            self.records,
            self.bytes_before as f64 / 1e6,
            self.bytes_after as f64 / 1e6
        )
    }
}

impl Session {
    fn sidecar_generation(&self) -> Result<u64> {
        Ok(self
            .store
            .meta_get(SIDECAR_GENERATION)?
            .and_then(|b| String::from_utf8_lossy(&b).parse().ok())
            .unwrap_or(0))
    }

    fn sidecar_path_of(&self, generation: u64) -> PathBuf {
        let db = self.store.path();
        let stem = db
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| "gantry".into());
        match generation {
            0 => db.with_file_name(format!("{stem}_pixels.bin")),
            n => db.with_file_name(format!("{stem}_pixels.{n}.bin")),
        }
    }

    /// The pixel sidecar beside the database (`gantry.db` keeps its redacted pixels in
    /// `gantry_pixels.bin`, or a later generation of it after [`Session::compact`]).
    pub fn sidecar_path(&self) -> Result<PathBuf> {
        Ok(self.sidecar_path_of(self.sidecar_generation()?))
    }

    /// The pixel sidecar, opened on first use.
    pub(crate) fn sidecar(&mut self) -> Result<&PixelSidecar> {
        let sidecar = match self.sidecar.take() {
            Some(sidecar) => sidecar,
            None => PixelSidecar::open(self.sidecar_path()?)?,
        };
        Ok(self.sidecar.insert(sidecar))
    }

    /// Takes the sidecar out of the session (to share it with worker threads).
    pub(crate) fn take_sidecar(&mut self) -> Result<PixelSidecar> {
        match self.sidecar.take() {
            Some(s) => Ok(s),
            None => Ok(PixelSidecar::open(self.sidecar_path()?)?),
        }
    }

    /// Reclaims the sidecar space of pixel records nothing refers to any more (redacted
    /// again with other zones, or dropped), by copying the live records to a new file.
    pub fn compact(&mut self) -> Result<CompactReport> {
        let generation = self.sidecar_generation()?;
        let old_path = self.sidecar_path_of(generation);
        let new_path = self.sidecar_path_of(generation + 1);
        let old = self.take_sidecar()?;
        let bytes_before = old.len();
        let _ = std::fs::remove_file(&new_path); // a leftover of an interrupted compaction
        let mut new = PixelSidecar::open(&new_path)?;
        let mut moves = Vec::new();
        for (instance, address) in self.store.sidecar_addresses()? {
            let payload = old.read(address)?;
            moves.push((instance, new.append(&payload)?));
        }
        new.sync()?;
        self.store.write(|tx| {
            for (instance, address) in &moves {
                tx.move_redacted(*instance, *address)?;
            }
            tx.meta_set(SIDECAR_GENERATION, (generation + 1).to_string().as_bytes())
        })?;
        drop(old);
        std::fs::remove_file(&old_path).map_err(|source| GantryError::Io {
            path: old_path.clone(),
            source,
        })?;
        let report = CompactReport {
            records: moves.len() as u64,
            bytes_before,
            bytes_after: new.len(),
        };
        self.sidecar = Some(new);
        Ok(report)
    }
}
