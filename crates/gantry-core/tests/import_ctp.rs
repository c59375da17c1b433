//! `config import-ctp` on a real copy of CTP's DicomPixelAnonymizer.script
//! (`tests/data/ctp`, with its provenance): every signature becomes a rule or is listed
//! with its reason, the section it writes loads as a config, and its rules match the
//! synthetic devices they describe, so those images are redacted and exported.

mod common;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use gantry_core::config::{import_ctp, import_ctp_file};
use gantry_core::{Config, GantryError};
use gantry_synth::{Device, DumpSpec, generate};

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/data/ctp/DicomPixelAnonymizer.script")
}

#[test]
fn every_signature_of_the_real_script_is_a_rule_or_has_a_reason() {
    let text = std::fs::read_to_string(script()).unwrap();
    let import = import_ctp(&text, script());
    let braces = text.matches('{').count();
    assert_eq!(import.signatures, braces, "{import}");
    assert!(import.signatures >= 50, "{}", import.signatures);
    // One rule per signature here (none is an or of ands), bar those skipped.
    assert_eq!(
        import.rules.len() + import.skipped.len(),
        import.signatures,
        "{import}"
    );
    // The one signature Gantry cannot test: MINDRAY's reads the file meta group.
    assert_eq!(import.skipped.len(), 1, "{import}");
    assert!(
        import.skipped[0]
            .reason
            .contains("ImplementationVersionName")
    );
    assert!(import.skipped[0].label.contains("MINDRAY"), "{import}");
    // The Vitrea rule keeps its or inside one rule; the ATL rule has both regions.
    let vitrea = import
        .rules
        .iter()
        .find(|r| r.label.as_deref().unwrap().contains("Stent Planning"))
        .unwrap();
    assert!(
        vitrea
            .when
            .iter()
            .any(|c| matches!(c, gantry_core::Condition::AnyOf { any_of } if any_of.len() == 2))
    );
    let atl = import
        .rules
        .iter()
        .find(|r| r.label.as_deref().unwrap().contains("ATL"))
        .unwrap();
    assert_eq!(
        atl.redaction_zones
            .iter()
            .map(|z| z.as_array())
            .collect::<Vec<_>>(),
        vec![[0, 40, 40, 240], [0, 16, 240, 430]]
    );
}

#[test]
fn the_written_section_loads_and_its_rules_redact_the_devices_they_describe() {
    let dir = tempfile::tempdir().unwrap();
    let section = dir.path().join("ctp.yaml");
    let import = import_ctp_file(&script(), &section, false).unwrap();
    assert!(matches!(
        import_ctp_file(&script(), &section, false),
        Err(GantryError::Exists { .. })
    ));
    let yaml = std::fs::read_to_string(&section).unwrap();
    assert!(
        yaml.contains("# Imported from CTP"),
        "signatures kept as comments"
    );
    let config_text = format!("version: \"2.0\"\n{yaml}");
    let config = Config::parse(&config_text, &section).unwrap();
    let mut expected = import.rules.clone();
    for rule in &mut expected {
        rule.comment = None; // written as YAML comments
    }
    assert_eq!(config.machines, expected);

    // On the synthetic dump: the CTP rules match the GE LOGIQ 9 (the device CTP
    // describes) and no other synthetic device.
    let dump = generate(&dir.path().join("dump"), &DumpSpec::default()).unwrap();
    let mut matched = BTreeSet::new();
    for truth in &dump.instances {
        let header = dicom_object::open_file(&truth.path).unwrap().into_inner();
        if config.machines.iter().any(|rule| rule.matches(&header)) {
            matched.insert(format!("{:?}", truth.device));
        }
    }
    assert_eq!(
        matched,
        BTreeSet::from([format!("{:?}", Device::GeLogiqUs)]),
        "the CTP rules match other devices than the LOGIQ 9"
    );

    // Run with them: every LOGIQ image is redacted by CTP's zone and exported.
    let work = dir.path().join("work");
    std::fs::create_dir(&work).unwrap();
    let export = common::run_checkpoints(&work, &dump.root, &config_text, true);
    let blocked: BTreeSet<&Path> = export
        .blocked
        .iter()
        .map(|b| b.source_path.as_path())
        .collect();
    let logiq: Vec<_> = dump
        .instances
        .iter()
        .filter(|i| i.device == Device::GeLogiqUs)
        .collect();
    assert!(!logiq.is_empty());
    for instance in &logiq {
        assert!(
            !blocked.contains(instance.path.as_path()),
            "{} is blocked: {:?}",
            instance.path.display(),
            export
                .blocked
                .iter()
                .find(|b| b.source_path == instance.path)
        );
    }
    // The screen captures, which no CTP signature describes, stay blocked.
    assert!(
        dump.instances
            .iter()
            .filter(|i| i.device == Device::ScreenCapture)
            .all(|i| blocked.contains(i.path.as_path()))
    );
}
