//! Checkpoint 3, config: the skeleton written from the inventory (zones from the
//! catalogue and from the text detector, commented for a person to review), loading and
//! storing a configuration with the session, and checking its machine rules against the
//! inventory. What a configuration says is `crate::settings`, re-exported here.

mod catalogue;
mod check;
mod ctp;
mod skeleton;

use std::path::Path;

pub use crate::settings::*;
pub use check::{ConfigCheck, RuleUse};
pub use ctp::{CtpImport, SkippedSignature, import_ctp};
use skeleton::write_new;
pub use skeleton::{DeviceAdvice, ProposedZone, SkeletonReport, write_skeleton};

/// The skeleton's configuration, text and advice, without writing a file (for tests).
#[doc(hidden)]
pub fn skeleton_for_tests(
    store: &gantry_store::Store,
) -> crate::Result<(Config, String, Vec<DeviceAdvice>)> {
    skeleton::build(store)
}

/// Reads CTP's `DicomPixelAnonymizer.script` at `script` and writes its signatures to
/// `out` as a `machines:` section (each rule commented with its signature), for a person
/// to review and paste into a config; refuses to replace `out` unless `overwrite`.
pub fn import_ctp_file(script: &Path, out: &Path, overwrite: bool) -> crate::Result<CtpImport> {
    let text = std::fs::read_to_string(script).map_err(|source| crate::GantryError::Io {
        path: script.to_path_buf(),
        source,
    })?;
    let import = import_ctp(&text, script.to_path_buf());
    write_new(out, &import.to_yaml(), overwrite)?;
    Ok(import)
}

impl CtpImport {
    /// The rules as a `machines:` section of a config, each with its CTP signature as a
    /// comment.
    pub fn to_yaml(&self) -> String {
        let mut out = format!(
            "# Machine rules imported by `gantry config import-ctp` from {}\n\
             # (RSNA MIRC CTP Burned-in Annotation Library). Suggestions only: look at the\n\
             # images of each device before trusting a zone.\n",
            self.source.display()
        );
        for skipped in &self.skipped {
            out.push_str(&format!(
                "# not imported: line {} ({}): {}\n",
                skipped.line, skipped.label, skipped.reason
            ));
        }
        out.push_str("machines:\n");
        for rule in &self.rules {
            skeleton::render_rule(&mut out, rule);
        }
        out
    }
}

impl crate::Session {
    /// Writes a commented config skeleton built from the inventory; refuses to replace an
    /// existing file (see [`crate::Session::setup_config_overwriting`]).
    pub fn setup_config(&self, path: impl AsRef<Path>) -> crate::Result<SkeletonReport> {
        Ok(write_skeleton(&self.store, path.as_ref(), false)?.1)
    }

    /// Like [`crate::Session::setup_config`], replacing an existing file.
    pub fn setup_config_overwriting(
        &self,
        path: impl AsRef<Path>,
    ) -> crate::Result<SkeletonReport> {
        Ok(write_skeleton(&self.store, path.as_ref(), true)?.1)
    }

    /// Loads and validates a configuration; it is stored with the session, so a resumed
    /// session uses the same rules.
    pub fn load_config(&mut self, path: impl AsRef<Path>) -> crate::Result<&Config> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|source| crate::GantryError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        let config = Config::parse(&text, path)?;
        self.store.write(|tx| {
            tx.meta_set(crate::session::CONFIG_KEY, text.as_bytes())?;
            tx.meta_set(
                crate::session::CONFIG_PATH_KEY,
                path.to_string_lossy().as_bytes(),
            )
        })?;
        Ok(self.config.insert(config))
    }
}
