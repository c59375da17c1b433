//! Interop with OpenSSL's `cms` command: what Gantry seals, OpenSSL opens with the key or
//! the password, and what OpenSSL seals for a password, Gantry opens.
//!
//! Needs the `openssl` binary: `cargo test -p gantry-crypto --test openssl -- --ignored`
//! (run by `.ci/run`).

use std::path::Path;
use std::process::Command;

use dicom_core::{DataElement, PrimitiveValue, VR};
use dicom_dictionary_std::tags;
use dicom_object::InMemDicomObject;
use gantry_crypto::{
    Credential, KeyFile, Sealer, Unsealer, decode_modified_attributes, encode_modified_attributes,
};

fn originals() -> InMemDicomObject {
    InMemDicomObject::from_element_iter([
        DataElement::new(
            tags::PATIENT_NAME,
            VR::PN,
            PrimitiveValue::from("OKONKWO^PHILIPPA"),
        ),
        DataElement::new(
            tags::PATIENT_ID,
            VR::LO,
            PrimitiveValue::from("MRN84911251"),
        ),
    ])
}

fn openssl(args: &[&str]) -> Vec<u8> {
    let out = Command::new("openssl")
        .args(args)
        .output()
        .expect("openssl is installed");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

fn path(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[test]
#[ignore = "needs the openssl binary (run by .ci/run)"]
fn openssl_opens_the_key_recipient_with_secretkey() {
    let dir = tempfile::tempdir().unwrap();
    let key = KeyFile::create(dir.path().join("master.key")).unwrap();
    let sealed = dir.path().join("sealed.der");
    std::fs::write(
        &sealed,
        Sealer::new(Some(&key), None)
            .unwrap()
            .seal_content(&originals())
            .unwrap(),
    )
    .unwrap();
    let plain = openssl(&[
        "cms",
        "-decrypt",
        "-inform",
        "DER",
        "-in",
        path(&sealed),
        "-secretkey",
        &key.secret_hex(),
        "-secretkeyid",
        &key.id_hex(),
    ]);
    assert_eq!(plain, encode_modified_attributes(&originals()).unwrap());
}

#[test]
#[ignore = "needs the openssl binary (run by .ci/run)"]
fn openssl_opens_the_password_recipient_with_pwri_password() {
    let dir = tempfile::tempdir().unwrap();
    let key = KeyFile::create(dir.path().join("master.key")).unwrap();
    let sealed = dir.path().join("sealed.der");
    let sealer = Sealer::new(Some(&key), Some("s3cret words")).unwrap();
    std::fs::write(&sealed, sealer.seal_content(&originals()).unwrap()).unwrap();
    let plain = openssl(&[
        "cms",
        "-decrypt",
        "-inform",
        "DER",
        "-in",
        path(&sealed),
        "-pwri_password",
        "s3cret words",
    ]);
    let back = decode_modified_attributes(&plain).unwrap();
    assert_eq!(
        back.get(tags::PATIENT_ID)
            .unwrap()
            .to_str()
            .unwrap()
            .trim_end(),
        "MRN84911251"
    );
}

#[test]
#[ignore = "needs the openssl binary (run by .ci/run)"]
fn gantry_opens_what_openssl_sealed_for_a_password() {
    let dir = tempfile::tempdir().unwrap();
    let plain = dir.path().join("plain.bin");
    std::fs::write(&plain, encode_modified_attributes(&originals()).unwrap()).unwrap();
    let sealed = dir.path().join("sealed.der");
    openssl(&[
        "cms",
        "-encrypt",
        "-binary",
        "-outform",
        "DER",
        "-in",
        path(&plain),
        "-out",
        path(&sealed),
        "-aes-256-cbc",
        "-pwri_password",
        "from openssl",
    ]);
    let bytes = std::fs::read(&sealed).unwrap();
    let back = Unsealer::new(Credential::Password("from openssl"))
        .open_content(&bytes)
        .unwrap();
    assert_eq!(
        back.get(tags::PATIENT_NAME)
            .unwrap()
            .to_str()
            .unwrap()
            .trim_end(),
        "OKONKWO^PHILIPPA"
    );
    let wrong = Unsealer::new(Credential::Password("not it")).open_content(&bytes);
    assert!(
        matches!(wrong, Err(gantry_crypto::CryptoError::WrongPassword)),
        "{wrong:?}"
    );
}
