//! Encrypted Content from an exported file (what `recover` opens): any bytes give the
//! originals or an error, never a panic; so does the Modified Attributes plaintext.
//!
//! The plaintext decoder checks every length before dicom-rs allocates it (a password
//! envelope from GDCM carries no authentication code), so it runs on every input; `run.sh`
//! gives this target a 64 MB malloc limit to catch any claim that slips through.
#![no_main]

use std::sync::OnceLock;

use gantry_crypto::{Credential, KeyFile, Unsealer};
use libfuzzer_sys::fuzz_target;

fn key() -> &'static KeyFile {
    static KEY: OnceLock<KeyFile> = OnceLock::new();
    KEY.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("gantry-fuzz-key-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("a temporary folder");
        KeyFile::create(dir.join("fuzz.key")).expect("a key file")
    })
}

fuzz_target!(|data: &[u8]| {
    let _ = Unsealer::new(Credential::Key(key())).open_content(data);
    let _ = gantry_crypto::decode_modified_attributes(data);
});
