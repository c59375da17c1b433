//! Interop with the tools hospitals and other projects use: dicom3tools' `dciodvfy`, dcmtk,
//! GDCM's `gdcmanon`, and OpenSSL. These need the Debian packages `dicom3tools`, `dcmtk`,
//! `libgdcm-tools` and `openssl`; `.ci/run` installs them and runs
//! `cargo test -p gantry-core --test interop -- --ignored`.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use dicom_dictionary_std::tags;
use gantry_core::{Credential, KeyFile, PixelSyntax, Secret, Session, recover_identities};
use gantry_synth::{DumpSpec, generate};

fn samples() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/samples/pydicom")
}

/// Runs a tool; returns (success, stdout + stderr).
fn tool(name: &str, args: &[&str]) -> (bool, String) {
    let out = Command::new(name)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{name} is not installed ({e}); see the module doc"));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

fn dicom_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Ok(entries) = std::fs::read_dir(dir) {
        for entry in entries {
            let path = entry.unwrap().path();
            if path.is_dir() {
                out.extend(dicom_files(&path));
            } else if path.extension().is_some_and(|e| e == "dcm") {
                out.push(path);
            }
        }
    }
    out.sort();
    out
}

fn text(obj: &dicom_object::DefaultDicomObject, tag: dicom_core::Tag) -> String {
    obj.element(tag)
        .map(|e| e.to_str().unwrap().trim_end_matches(['\0', ' ']).to_string())
        .unwrap_or_default()
}

/// A session over `input` with `config`, run through export into `work/out`.
fn pipeline(input: &Path, work: &Path, config: &str, key: Option<(&KeyFile, &str)>, syntax: PixelSyntax) -> Session {
    let mut session = Session::builder()
        .database(work.join("gantry.db"))
        .secret(Secret::from_hex(&"a1".repeat(32)).unwrap())
        .open()
        .unwrap();
    session.ingest(input).unwrap();
    let path = work.join("config.yaml");
    std::fs::write(&path, config).unwrap();
    session.load_config(&path).unwrap();
    let audit = session.audit().unwrap();
    if let Some((key, password)) = key {
        session
            .enable_reversible_anonymization_with_password(key.clone(), password)
            .unwrap();
        session.preserve_identities(&audit).unwrap();
    }
    session.anonymize_metadata(&audit).unwrap();
    session.redact_pixels_as(syntax).unwrap();
    session.export(work.join("out")).run().unwrap();
    session
}

/// `dciodvfy`'s errors, one per line, with UIDs written as `<uid>` (de-identification
/// changes every UID, not what is wrong with the object).
fn iod_errors(file: &Path) -> BTreeSet<String> {
    let (_, out) = tool("dciodvfy", &[file.to_str().unwrap()]);
    out.lines()
        .filter(|l| l.starts_with("Error"))
        .map(without_uids)
        .collect()
}

fn without_uids(line: &str) -> String {
    let mut out = String::new();
    let mut token = String::new();
    let flush = |token: &mut String, out: &mut String| {
        let dots = token.matches('.').count();
        if dots >= 2 && token.split('.').all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit())) {
            out.push_str("<uid>");
        } else {
            out.push_str(token);
        }
        token.clear();
    };
    for c in line.chars() {
        if c.is_ascii_digit() || c == '.' {
            token.push(c);
        } else {
            flush(&mut token, &mut out);
            out.push(c);
        }
    }
    flush(&mut token, &mut out);
    out
}

/// The errors the input already had: `dciodvfy` on the input, and on the input re-encoded
/// by dcmtk (`dciodvfy` cannot read deflated or meta-less files, whose defects it would
/// otherwise blame on the output).
fn input_errors(input: &Path, scratch: &Path) -> BTreeSet<String> {
    let mut errors = iod_errors(input);
    let plain = scratch.join("input-explicit-le.dcm");
    let (ok, _) = tool("dcmconv", &["+te", input.to_str().unwrap(), plain.to_str().unwrap()]);
    if ok {
        errors.extend(iod_errors(&plain));
    }
    errors
}

const EVERY_IMAGE: &str = r#"
version: "2.0"
machines:
  - label: every image
    redaction_zones:
      - [0, 2, 0, 4]
"#;

#[test]
#[ignore = "needs dicom3tools (dciodvfy); run by .ci/run"]
fn dciodvfy_finds_no_error_in_the_output_that_the_input_did_not_have() {
    let dir = tempfile::tempdir().unwrap();
    let mut compared = 0;
    let mut problems = Vec::new();
    let mut inputs: Vec<PathBuf> = std::fs::read_dir(samples())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "dcm"))
        .collect();
    inputs.sort();
    for (i, input) in inputs.iter().enumerate() {
        let work = dir.path().join(i.to_string());
        std::fs::create_dir_all(&work).unwrap();
        pipeline(input, &work, EVERY_IMAGE, None, PixelSyntax::Native);
        for output in dicom_files(&work.join("out")) {
            let before = input_errors(input, &work);
            let after = iod_errors(&output);
            let new: Vec<&String> = after.difference(&before).collect();
            if !new.is_empty() {
                problems.push(format!("{}: {new:#?}", input.display()));
            }
            compared += 1;
        }
    }
    assert!(compared >= 55, "{compared} outputs compared");
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}
