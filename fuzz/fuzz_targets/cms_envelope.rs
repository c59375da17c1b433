//! Encrypted Content from an exported file (what `recover` opens): any bytes give the
//! originals or an error, never a panic; so does the Modified Attributes plaintext.
//!
//! The plaintext decoder (dicom-rs) runs only on bytes whose lengths all fit
//! (`gantry_store::decode_header` checks them first): recover only decodes plaintext whose HMAC verified,
//! which the holder of the key wrote, and dicom-rs zero-fills whatever length a value
//! claims before reading it.
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
    if gantry_store::decode_header(data).is_ok() {
        let _ = gantry_crypto::decode_modified_attributes(data);
    }
});
