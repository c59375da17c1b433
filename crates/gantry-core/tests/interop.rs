//! Interop with the tools hospitals and other projects use: dicom3tools' `dciodvfy`, dcmtk,
//! GDCM's `gdcmanon`, and OpenSSL. These need the Debian packages `dicom3tools`, `dcmtk`,
//! `libgdcm-tools` and `openssl`; `.ci/run` installs them and runs
//! `cargo test -p gantry-core --test interop -- --ignored`.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use dicom_dictionary_std::tags;
mod common;
use common::dicom_files;
use gantry_core::{Credential, KeyFile, PixelSyntax, Secret, Session, recover_identities};
use gantry_synth::{DumpSpec, generate};

fn samples() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/data/pydicom")
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

fn text(obj: &dicom_object::DefaultDicomObject, tag: dicom_core::Tag) -> String {
    obj.element(tag)
        .map(|e| {
            e.to_str()
                .unwrap()
                .trim_end_matches(['\0', ' '])
                .to_string()
        })
        .unwrap_or_default()
}

/// A session over `input` with `config`, run through export into `work/out`.
fn pipeline(
    input: &Path,
    work: &Path,
    config: &str,
    key: Option<(&KeyFile, &str)>,
    syntax: PixelSyntax,
) -> Session {
    let mut session = Session::builder()
        .database(work.join("gantry.db"))
        .secret(Secret::from_hex(&"a1".repeat(32)).unwrap())
        .open()
        .unwrap();
    session.ingest(input).unwrap();
    let path = work.join("config.yaml");
    std::fs::write(&path, config).unwrap();
    session.load_config(&path).unwrap();
    session.audit().unwrap();
    if let Some((key, password)) = key {
        session
            .enable_reversible_anonymization_with_password(key.clone(), password)
            .unwrap();
        session.preserve_identities().unwrap();
    }
    session.anonymize_metadata().unwrap();
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
        // A UID value dciodvfy quotes after a UID attribute (`...InstanceUID 0`), remapped in
        // the output, is a UID too, whatever its form.
        let quoted_uid = (out.ends_with('<') || out.ends_with("UID "))
            && out.contains("UID")
            && !token.is_empty();
        if quoted_uid
            || dots >= 2
                && token
                    .split('.')
                    .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
        {
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
    let (ok, _) = tool(
        "dcmconv",
        &["+te", input.to_str().unwrap(), plain.to_str().unwrap()],
    );
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

/// A raw PGM/PPM: its width, height and sample bytes (8-bit).
fn read_pnm(path: &Path) -> (usize, usize, Vec<u8>) {
    let bytes = std::fs::read(path).unwrap();
    let mut fields = Vec::new();
    let mut at = 0;
    while fields.len() < 4 {
        while bytes[at].is_ascii_whitespace() {
            at += 1;
        }
        if bytes[at] == b'#' {
            while bytes[at] != b'\n' {
                at += 1;
            }
            continue;
        }
        let start = at;
        while !bytes[at].is_ascii_whitespace() {
            at += 1;
        }
        fields.push(String::from_utf8_lossy(&bytes[start..at]).into_owned());
    }
    let (w, h) = (fields[1].parse().unwrap(), fields[2].parse().unwrap());
    (w, h, bytes[at + 1..].to_vec())
}

#[test]
#[ignore = "needs dcmtk (dcmdump, dcm2pnm); run by .ci/run"]
fn dcmtk_reads_every_output_and_sees_the_same_redacted_pixels() {
    let dir = tempfile::tempdir().unwrap();
    let dump = generate(&dir.path().join("dump"), &DumpSpec::default()).unwrap();
    let config = format!("version: \"2.0\"\n{}", dump.machine_rules());
    let native = dir.path().join("native");
    let rle = dir.path().join("rle");
    std::fs::create_dir_all(&native).unwrap();
    std::fs::create_dir_all(&rle).unwrap();
    pipeline(&dump.root, &native, &config, None, PixelSyntax::Native);
    pipeline(&dump.root, &rle, &config, None, PixelSyntax::RleLossless);

    let files = dicom_files(&native.join("out"));
    assert!(files.len() >= 100, "{}", files.len());
    let mut compared = 0;
    for file in &files {
        let (ok, out) = tool("dcmdump", &["-q", file.to_str().unwrap()]);
        assert!(
            ok && !out.contains("E: "),
            "dcmdump {}: {out}",
            file.display()
        );
        let obj = dicom_object::open_file(file).unwrap();
        let redacted = text(&obj, tags::BURNED_IN_ANNOTATION) == "NO"
            && text(&obj, tags::PHOTOMETRIC_INTERPRETATION) == "RGB";
        if !redacted {
            continue;
        }
        // dcmtk's rendering of the first frame is byte for byte what Gantry stored.
        let ppm = dir.path().join("frame.ppm");
        let (ok, out) = tool(
            "dcm2pnm",
            &[
                "--write-raw-pnm",
                file.to_str().unwrap(),
                ppm.to_str().unwrap(),
            ],
        );
        assert!(ok, "dcm2pnm {}: {out}", file.display());
        let (w, h, samples) = read_pnm(&ppm);
        let pixels = obj.element(tags::PIXEL_DATA).unwrap().to_bytes().unwrap();
        let planar = text(&obj, tags::PLANAR_CONFIGURATION) == "1";
        let interleaved: Vec<u8> = if planar {
            let plane = w * h;
            (0..plane * 3)
                .map(|i| pixels[(i % 3) * plane + i / 3])
                .collect()
        } else {
            pixels[..w * h * 3].to_vec()
        };
        assert_eq!(samples, interleaved, "{}", file.display());
        // The band of burned-in text is black in dcmtk's eyes too.
        let rel = file.strip_prefix(native.join("out")).unwrap();
        assert!(
            samples[..w * 3].iter().all(|s| *s == 0),
            "{}: top row not black",
            rel.display()
        );

        // The RLE Lossless export decodes, in dcmtk, to the same pixels.
        let twin = rle.join("out").join(rel);
        let twin_obj = dicom_object::open_file(&twin).unwrap();
        assert_eq!(
            twin_obj.meta().transfer_syntax().trim_end_matches('\0'),
            "1.2.840.10008.1.2.5"
        );
        let (ok, out) = tool(
            "dcm2pnm",
            &[
                "--write-raw-pnm",
                twin.to_str().unwrap(),
                ppm.to_str().unwrap(),
            ],
        );
        assert!(ok, "dcm2pnm {}: {out}", twin.display());
        assert_eq!(read_pnm(&ppm).2, samples, "{}", twin.display());
        compared += 1;
    }
    assert!(compared >= 10, "{compared} redacted RGB images compared");
}

/// The synthetic dump exported with its originals sealed for a new key and `password`:
/// (temporary folder, dump, key, work folder with `out/`).
fn sealed_export(
    password: &str,
) -> (
    tempfile::TempDir,
    gantry_synth::SyntheticDump,
    KeyFile,
    PathBuf,
) {
    let dir = tempfile::tempdir().unwrap();
    let dump = generate(&dir.path().join("dump"), &DumpSpec::default()).unwrap();
    let key = KeyFile::create(dir.path().join("master.key")).unwrap();
    let config = format!("version: \"2.0\"\n{}", dump.machine_rules());
    let work = dir.path().join("work");
    std::fs::create_dir_all(&work).unwrap();
    pipeline(
        &dump.root,
        &work,
        &config,
        Some((&key, password)),
        PixelSyntax::Native,
    );
    (dir, dump, key, work)
}

#[test]
#[ignore = "needs GDCM (gdcmanon) and dcmtk; run by .ci/run"]
fn gdcmanon_re_identifies_what_gantry_sealed() {
    let (dir, dump, _key, work) = sealed_export("gdcm pass phrase");
    let files = dicom_files(&work.join("out"));
    let mut checked = 0;
    for file in files.iter().take(12) {
        let back = dir.path().join(format!("reid{checked}.dcm"));
        let (ok, out) = tool(
            "gdcmanon",
            &[
                "-d",
                "-p",
                "gdcm pass phrase",
                "-i",
                file.to_str().unwrap(),
                "-o",
                back.to_str().unwrap(),
            ],
        );
        assert!(ok, "gdcmanon -d {}: {out}", file.display());
        let obj = dicom_object::open_file(&back).unwrap();
        let sop = text(&obj, tags::SOP_INSTANCE_UID);
        let truth = dump
            .instances
            .iter()
            .find(|i| i.sop_instance_uid == sop)
            .unwrap_or_else(|| {
                panic!(
                    "{} re-identified to an unknown SOP Instance UID {sop}",
                    file.display()
                )
            });
        let patient = &dump.patients[truth.patient];
        assert_eq!(text(&obj, tags::PATIENT_NAME), patient.dicom_name());
        assert_eq!(text(&obj, tags::PATIENT_ID), patient.mrn);
        assert_eq!(
            text(&obj, tags::STUDY_INSTANCE_UID),
            truth.study_instance_uid
        );
        assert!(obj.element(tags::ENCRYPTED_ATTRIBUTES_SEQUENCE).is_err());
        checked += 1;
    }
    assert_eq!(checked, 12);
}

#[test]
#[ignore = "needs GDCM (gdcmanon); run by .ci/run"]
fn gantry_recovers_what_gdcmanon_sealed() {
    let dir = tempfile::tempdir().unwrap();
    let sealed = dir.path().join("sealed");
    std::fs::create_dir_all(&sealed).unwrap();
    let mut originals = Vec::new();
    for name in ["CT_small.dcm", "MR_small.dcm", "rtplan.dcm"] {
        let input = samples().join(name);
        let output = sealed.join(name);
        let (ok, out) = tool(
            "gdcmanon",
            &[
                "-e",
                "-p",
                "from gdcm",
                "--aes128",
                "-i",
                input.to_str().unwrap(),
                "-o",
                output.to_str().unwrap(),
            ],
        );
        assert!(ok, "gdcmanon -e {name}: {out}");
        let obj = dicom_object::open_file(&input).unwrap();
        originals.push((
            output,
            text(&obj, tags::PATIENT_NAME),
            text(&obj, tags::SOP_INSTANCE_UID),
        ));
    }
    let back = dir.path().join("back");
    let report =
        recover_identities(&sealed, Credential::Password("from gdcm"), Some(&back)).unwrap();
    assert!(report.failed.is_empty(), "{report}");
    assert_eq!(report.recovered.len(), 3);
    for (file, name, sop) in &originals {
        let recovered = report.recovered.iter().find(|r| &r.path == file).unwrap();
        assert_eq!(
            recovered.originals.get("0010,0010").map(|v| v.trim()),
            Some(name.as_str()),
            "{}",
            file.display()
        );
        let copy = dicom_object::open_file(recovered.written.as_ref().unwrap()).unwrap();
        assert_eq!(text(&copy, tags::SOP_INSTANCE_UID), *sop);
        assert_eq!(text(&copy, tags::PATIENT_NAME), *name);
    }
    let wrong = recover_identities(&sealed, Credential::Password("not it"), None).unwrap();
    assert_eq!(wrong.failed.len(), 3);
    assert!(
        wrong
            .failed
            .iter()
            .all(|f| f.detail.contains("wrong password")),
        "{wrong}"
    );
}

#[test]
#[ignore = "needs openssl; run by .ci/run"]
fn openssl_decrypts_an_exported_files_encrypted_content_to_the_modified_attributes() {
    let (dir, dump, key, work) = sealed_export("openssl words");
    let file = &dicom_files(&work.join("out"))[0];
    let obj = dicom_object::open_file(file).unwrap();
    let item = &obj
        .element(tags::ENCRYPTED_ATTRIBUTES_SEQUENCE)
        .unwrap()
        .items()
        .unwrap()[0];
    assert_eq!(
        item.element(tags::ENCRYPTED_CONTENT_TRANSFER_SYNTAX_UID)
            .unwrap()
            .to_str()
            .unwrap()
            .trim_end_matches('\0'),
        "1.2.840.10008.1.2.1"
    );
    let content = item
        .element(tags::ENCRYPTED_CONTENT)
        .unwrap()
        .to_bytes()
        .unwrap();
    let der = dir.path().join("content.der");
    std::fs::write(&der, &content).unwrap();
    let by_key = dir.path().join("by_key.bin");
    let (ok, out) = tool(
        "openssl",
        &[
            "cms",
            "-decrypt",
            "-inform",
            "DER",
            "-in",
            der.to_str().unwrap(),
            "-out",
            by_key.to_str().unwrap(),
            "-secretkey",
            &key.secret_hex(),
            "-secretkeyid",
            &key.id_hex(),
        ],
    );
    assert!(ok, "{out}");
    let by_password = dir.path().join("by_password.bin");
    let (ok, out) = tool(
        "openssl",
        &[
            "cms",
            "-decrypt",
            "-inform",
            "DER",
            "-in",
            der.to_str().unwrap(),
            "-out",
            by_password.to_str().unwrap(),
            "-pwri_password",
            "openssl words",
        ],
    );
    assert!(ok, "{out}");
    let plain = std::fs::read(&by_key).unwrap();
    assert_eq!(plain, std::fs::read(&by_password).unwrap());
    // The plaintext is the Modified Attributes Sequence, in Explicit VR Little Endian.
    let originals = gantry_crypto::decode_modified_attributes(&plain).unwrap();
    let sop = text(&obj, tags::SOP_INSTANCE_UID);
    let original_sop = originals
        .get(tags::SOP_INSTANCE_UID)
        .unwrap()
        .to_str()
        .unwrap()
        .trim_end_matches('\0')
        .to_string();
    assert_ne!(sop, original_sop);
    assert!(
        dump.instances
            .iter()
            .any(|i| i.sop_instance_uid == original_sop)
    );
}
