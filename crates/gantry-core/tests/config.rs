//! Checkpoint 3: the configuration a user edits, and the skeleton written for them.

use std::path::Path;

use dicom_core::Tag;
use gantry_core::{
    Action, Config, DateJitter, MachineRule, ProfileOption, Session, TagRule, UnlistedText, Zone,
};

fn data(name: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(name)
}

fn zone(r0: u32, r1: u32, c0: u32, c1: u32, note: Option<&str>) -> Zone {
    Zone {
        row_start: r0,
        row_end: r1,
        col_start: c0,
        col_end: c1,
        note: note.map(String::from),
    }
}

#[test]
fn the_original_v2_example_loads_and_means_the_same() {
    let config = Config::load(data("gantry_v2_example.yaml")).unwrap();
    let rule = |g, e, name: Option<&str>, action: Option<Action>| TagRule {
        tag: Tag(g, e),
        name: name.map(String::from),
        action,
    };
    let expected = Config {
        version: "2.0".into(),
        // date_jitter is the Modified Dates option.
        options: vec![ProfileOption::RetainLongitudinalModifiedDates],
        tag_rules: vec![
            rule(
                0x0008,
                0x0080,
                Some("InstitutionName"),
                Some(Action::Replace(Some("Research Site A".into()))),
            ),
            rule(
                0x0008,
                0x103E,
                Some("SeriesDescription"),
                Some(Action::Remove),
            ),
            rule(0x0010, 0x0010, Some("Patient Name"), None),
            rule(
                0x0010,
                0x0020,
                Some("Patient ID"),
                Some(Action::Replace(None)),
            ),
            rule(0x0010, 0x0040, Some("PatientSex"), Some(Action::Keep)),
            rule(0x0020, 0x000D, Some("StudyInstanceUID"), Some(Action::Hash)),
        ],
        date_jitter: Some(DateJitter {
            min_days: -30,
            max_days: 30,
        }),
        remove_private_tags: true,
        safe_private: vec![],
        pseudonym_prefix: "ANON".into(),
        unlisted_text: UnlistedText::Remove,
        patient_linkage: gantry_core::PatientLinkage::Id,
        pixel_policy: gantry_core::PixelPolicy::Block,
        waivers: Vec::new(),
        machines: vec![
            MachineRule {
                manufacturer: "ACME Imaging".into(),
                model_name: "SonoMax 3000".into(),
                serial_number: "*".into(),
                rows: None,
                columns: None,
                when: vec![],
                burned_in_text: None,
                redaction_zones: vec![
                    zone(0, 40, 0, 1024, None),
                    zone(990, 1024, 0, 300, Some("footer with the date")),
                ],
                label: None,
                comment: None,
            },
            MachineRule {
                manufacturer: "Philips".into(),
                model_name: "iU22".into(),
                serial_number: "US123456".into(),
                rows: None,
                columns: None,
                when: vec![],
                redaction_zones: vec![zone(0, 47, 0, 640, None)],
                burned_in_text: None,
                label: None,
                comment: None,
            },
        ],
    };
    assert_eq!(config, expected);
    // The upper-case spelling of a lower-case key finds the same rule (original bug: it did not).
    assert!(config.tag_rule(Tag(0x0008, 0x103E)).is_some());
}

#[test]
fn extensions_load_keywords_conditions_and_xywh_zones() {
    let text = r#"
version: "2.0"
profile_options: [retain_patient_characteristics, clean_descriptors]
phi_tags:
  PatientName: { action: HASH }
  "(0008,1030)": { action: CLEAN }
  AccessionNumber: { action: EMPTY }
  StudyDate: { action: JITTER }
  SOPInstanceUID: { action: UID }
  StationName: { action: dummy }
date_jitter: { min_days: -100, max_days: -10 }
pseudonym_prefix: STUDY7
safe_private_tags:
  - { group: 0x0019, creator: "SIEMENS MR HEADER", element: 0x0C }
machines:
  - manufacturer: GE MEDICAL SYSTEMS
    rows: 512
    columns: 512
    when:
      - { attribute: ImageType, contains: "SECONDARY" }
      - any_of: [ { attribute: SeriesDescription, contains: "Dose" }, { attribute: Rows, equals: "512" } ]
    redaction_zones:
      - { x: 10, y: 20, width: 100, height: 30 }
"#;
    let config = Config::parse(text, "inline.yaml").unwrap();
    assert_eq!(config.options.len(), 3);
    assert!(config.has_option(ProfileOption::RetainLongitudinalModifiedDates));
    assert_eq!(
        config.tag_rule(Tag(0x0010, 0x0010)).unwrap().action,
        Some(Action::Hash)
    );
    assert_eq!(
        config.tag_rule(Tag(0x0008, 0x1030)).unwrap().action,
        Some(Action::Clean)
    );
    assert_eq!(
        config.tag_rule(Tag(0x0008, 0x0020)).unwrap().action,
        Some(Action::Shift)
    );
    assert_eq!(
        config.tag_rule(Tag(0x0008, 0x1010)).unwrap().action,
        Some(Action::Dummy)
    );
    assert_eq!(config.safe_private[0].creator, "SIEMENS MR HEADER");
    assert_eq!(config.pseudonym_prefix, "STUDY7");
    let machine = &config.machines[0];
    assert_eq!(machine.rows, Some(512));
    assert_eq!(machine.when.len(), 2);
    assert_eq!(machine.redaction_zones[0], zone(20, 50, 10, 110, None));
}

#[test]
fn malformed_configs_each_get_their_own_error() {
    // (text, words the message must contain, line it must name when the parser knows it)
    let cases: &[(&str, &[&str], Option<usize>)] = &[
        ("versoin: \"2.0\"\n", &["unknown field `versoin`"], Some(1)),
        (
            "version: \"3.0\"\n",
            &["unsupported config version", "3.0"],
            Some(1),
        ),
        (
            "privacy_profile: strict\n",
            &["unknown privacy profile", "strict"],
            Some(1),
        ),
        (
            "profile_options: [retain_everything]\n",
            &["unknown profile option", "retain_everything"],
            Some(1),
        ),
        (
            "profile_options: [retain_longitudinal_full_dates]\ndate_jitter: 5\n",
            &["exclude each other"],
            None,
        ),
        (
            "phi_tags:\n  \"0010,00ZZ\": KEEP\n",
            &["malformed tag", "0010,00ZZ"],
            Some(2),
        ),
        (
            "phi_tags:\n  \"10,10\": KEEP\n",
            &["malformed tag", "four hexadecimal digits"],
            Some(2),
        ),
        (
            "phi_tags:\n  PatientNmae: { action: KEEP }\n",
            &["unknown keyword", "PatientNmae"],
            Some(2),
        ),
        (
            "phi_tags:\n  PatientName: { action: OBLITERATE }\n",
            &["unknown action", "OBLITERATE"],
            Some(2),
        ),
        (
            "phi_tags:\n  PatientName: { acton: KEEP }\n",
            &["unknown key `acton`"],
            Some(2),
        ),
        (
            "phi_tags:\n  PatientName: { action: KEEP }\n  \"0010,0010\": { action: REMOVE }\n",
            &["given twice", "0010,0010"],
            None,
        ),
        (
            "date_jitter: { min_days: 10, max_days: -10 }\n",
            &["minimum 10 exceeds its maximum -10"],
            Some(1),
        ),
        ("date_jitter: [5]\n", &["needs two numbers"], Some(1)),
        (
            "date_jitter: 0\n",
            &["leaves every date unchanged"],
            Some(1),
        ),
        (
            "date_jitter: { min_days: -5 }\n",
            &["needs both min_days and max_days"],
            Some(1),
        ),
        (
            "remove_private_tags: perhaps\n",
            &["remove_private_tags", "invalid type"],
            Some(1),
        ),
        (
            "machines:\n  - manufacturer: X\n    redaction_zones:\n      - [40, 10, 0, 100]\n",
            &["row_start 40 is not before row_end 10"],
            Some(4),
        ),
        (
            "machines:\n  - manufacturer: X\n    redaction_zones:\n      - [0, 10, 90, 20]\n",
            &["col_start 90 is not before col_end 20"],
            Some(4),
        ),
        (
            "machines:\n  - manufacturer: X\n    redaction_zones:\n      - [-5, 10, 0, 20]\n",
            &["negative"],
            Some(4),
        ),
        (
            "machines:\n  - manufacturer: X\n    redaction_zones:\n      - [0, 10, 20]\n",
            &["needs 4 numbers"],
            Some(4),
        ),
        (
            "machines:\n  - manufacturer: X\n    redaction_zones:\n      - { x: 0, y: 0, width: 0, height: 5 }\n",
            &["must both be positive"],
            Some(4),
        ),
        (
            "machines:\n  - manufacturer: X\n    redaction_zones:\n      - { roi: [0, 1, 0, 1], colour: red }\n",
            &["unknown key `colour` in a zone"],
            Some(4),
        ),
        (
            "machines:\n  - manufacturer: X\n    when: [ { attribute: Rowz, equals: \"512\" } ]\n",
            &["unknown attribute keyword", "Rowz"],
            Some(3),
        ),
        (
            "machines:\n  - manufacturer: X\n    when: [ { attribute: Rows, equals: \"5\", contains: \"5\" } ]\n",
            &["a condition is"],
            Some(3),
        ),
        (
            "machines:\n  - manufacturer: X\n    serial: A\n    model: B\n    colour: red\n",
            &["unknown field `colour`"],
            Some(5),
        ),
        (
            "pseudonym_prefix: \"ANON PATIENT\"\n",
            &["pseudonym prefix", "letters, digits"],
            Some(1),
        ),
        (
            "machines: [ {manufacturer: X, rows: -3} ]\n",
            &["machines[0].rows"],
            Some(1),
        ),
        (
            "phi_tags: [PatientName]\n",
            &["phi_tags", "map of tags"],
            Some(1),
        ),
        (
            "version: \"2.0\"\n  bad indentation: [\n",
            &["did not find expected"],
            Some(2),
        ),
    ];
    assert!(cases.len() >= 20);
    let mut messages = std::collections::HashSet::new();
    for (text, words, line) in cases {
        let err = Config::parse(text, "bad.yaml").expect_err(text);
        let shown = err.to_string();
        for word in *words {
            assert!(shown.contains(word), "{text:?}: {shown:?} lacks {word:?}");
        }
        assert!(shown.starts_with("bad.yaml"), "{shown}");
        if let Some(line) = line {
            assert_eq!(err.line, Some(*line), "{text:?}: {shown}");
        }
        assert!(
            messages.insert(err.message.clone()),
            "two cases share a message: {shown}"
        );
    }
}

#[test]
fn skeleton_round_trips_and_prefills_catalogue_zones() {
    let dir = tempfile::tempdir().unwrap();
    let dump = gantry_synth::generate(&dir.path().join("dump"), &gantry_synth::DumpSpec::default())
        .unwrap();
    let mut session = Session::open(dir.path().join("gantry.db")).unwrap();
    session.ingest(&dump.root).unwrap();
    let path = dir.path().join("privacy_config.yaml");
    let report = session.setup_config(&path).unwrap();
    let loaded = session.load_config(&path).unwrap().clone();

    // The same configuration as the skeleton meant.
    let (built, _, _) = gantry_core::config::skeleton_for_tests(session.store()).unwrap();
    assert_eq!(loaded, built);

    let logiq = loaded
        .machines
        .iter()
        .find(|m| m.model_name == "LOGIQ9".into())
        .expect("a rule for the LOGIQ9");
    assert_eq!(logiq.redaction_zones[0].as_array(), [0, 40, 0, 640]);
    assert!(logiq.label.as_deref().unwrap().contains("GE Logiq 9"));
    let acme = loaded
        .machines
        .iter()
        .find(|m| m.manufacturer == "ACME Imaging".into())
        .unwrap();
    assert!(acme.redaction_zones.is_empty(), "no zones are invented");
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(
        text.contains("AT RISK of burned-in text: BurnedInAnnotation YES"),
        "{text}"
    );
    assert!(report.to_string().contains("GE Logiq 9 ultrasound"));
    // One entry per device.
    let inventory = session.examine().unwrap();
    assert_eq!(report.devices.len(), inventory.devices.len());

    // Never overwritten unless told to.
    std::fs::write(&path, "# my edits\n").unwrap();
    let err = session.setup_config(&path).unwrap_err();
    assert!(err.to_string().contains("already exists"), "{err}");
    assert_eq!(std::fs::read_to_string(&path).unwrap(), "# my edits\n");
    session.setup_config_overwriting(&path).unwrap();
    assert_ne!(std::fs::read_to_string(&path).unwrap(), "# my edits\n");
}

#[test]
fn a_loaded_config_survives_reopening_the_session() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("gantry.db");
    let path = dir.path().join("c.yaml");
    std::fs::copy(data("gantry_v2_example.yaml"), &path).unwrap();
    let loaded = {
        let mut session = Session::open(&db).unwrap();
        session.load_config(&path).unwrap().clone()
    };
    std::fs::remove_file(&path).unwrap();
    let mut session = Session::open(&db).unwrap();
    assert_eq!(session.config().unwrap(), &loaded);
}

#[test]
fn an_absent_device_attribute_matches_only_devices_that_lack_it() {
    use dicom_core::{DataElement, PrimitiveValue, VR};
    use dicom_object::InMemDicomObject;
    let device = |manufacturer: Option<&str>| {
        let mut o = InMemDicomObject::new_empty();
        if let Some(m) = manufacturer {
            o.put(DataElement::new(
                Tag(0x0008, 0x0070),
                VR::LO,
                PrimitiveValue::from(m),
            ));
        }
        o
    };
    let config = Config::parse(
        "version: \"2.0\"\nmachines:\n  - manufacturer: null\n    model_name: ~\n    serial_number: null\n    redaction_zones: [[0, 10, 0, 10]]\n  - manufacturer: \"*\"\n    model_name: Probe\n",
        "c.yaml",
    )
    .unwrap();
    let nameless = &config.machines[0];
    assert_eq!(nameless.manufacturer, gantry_core::DeviceMatch::Absent);
    assert!(nameless.matches(&device(None)));
    assert!(
        nameless.matches(&device(Some(""))),
        "empty counts as absent"
    );
    assert!(
        !nameless.matches(&device(Some("ACME"))),
        "three nulls must not match every device"
    );
    assert!(!nameless.matches_everything());
    assert!(config.machines[1].manufacturer.is_any());
    // The skeleton's rule for a nameless device round-trips as the same test.
    let rule = gantry_core::MachineRule::for_device(None, Some("M"), None);
    let yaml = serde_yaml::to_string(&rule).unwrap();
    let back: gantry_core::MachineRule = serde_yaml::from_str(&yaml).unwrap();
    assert_eq!(back, rule, "{yaml}");
}

#[test]
fn config_check_warns_about_rules_that_match_everything_and_zones_off_every_image() {
    let dir = tempfile::tempdir().unwrap();
    let dump = gantry_synth::generate(&dir.path().join("dump"), &gantry_synth::DumpSpec::default())
        .unwrap();
    let mut session = Session::open(dir.path().join("gantry.db")).unwrap();
    session.ingest(&dump.root).unwrap();
    let path = dir.path().join("c.yaml");
    std::fs::write(
        &path,
        "version: \"2.0\"\ndate_jitter: { min_days: -10, max_days: 30 }\nmachines:\n  - label: everything\n    redaction_zones: [[0, 10, 0, 10]]\n  - manufacturer: GE Healthcare\n    model_name: LOGIQ9\n    redaction_zones: [[5000, 5010, 0, 10], [0, 40, 0, 9000]]\n  - manufacturer: Nobody\n",
    )
    .unwrap();
    let check = session.check_config(&path).unwrap();
    let warnings = check.warnings.join("\n");
    assert!(
        warnings.contains("machines[0] (everything) tests nothing"),
        "{warnings}"
    );
    assert!(
        warnings.contains("line 8: machines[1] (GE Healthcare / LOGIQ9 / *): zone [5000, 5010, 0, 10] lies outside every image"),
        "{warnings}"
    );
    // Suspicious values, with the line they are on.
    assert!(
        warnings.contains("zone [0, 40, 0, 9000] reaches past the edge of every image"),
        "{warnings}"
    );
    assert!(
        warnings.contains("line 2: date_jitter.max_days is 30"),
        "{warnings}"
    );
    assert!(
        warnings.contains("machines[2] (Nobody / * / *) matches no image"),
        "{warnings}"
    );
    assert!(check.machines[1].images > 0);
    assert!(!check.is_clean());
    // The skeleton's own rules draw no warning of that kind.
    let skeleton = dir.path().join("skeleton.yaml");
    session.setup_config(&skeleton).unwrap();
    let check = session.check_config(&skeleton).unwrap();
    assert!(
        check
            .warnings
            .iter()
            .all(|w| !w.contains("tests nothing") && !w.contains("matches no image")),
        "{:?}",
        check.warnings
    );
}

/// What Gantry-py's v2.0 `scaffold_config` and its CTP importer write: `comment` keys on
/// machine entries (a note, changing nothing), `name` and JITTER in phi_tags, "Unknown"
/// for a device attribute it lacks.
const GANTRY_PY_SCAFFOLD: &str = r#"version: '2.0'
privacy_profile: basic
phi_tags:
  0008,0020:
    name: Study Date
    action: JITTER
  0010,0040:
    name: Patient Sex
    action: KEEP
    comment: research needs it
date_jitter:
  min_days: -365
  max_days: -1
remove_private_tags: true
machines:
- manufacturer: GE Healthcare
  model_name: LOGIQ9
  serial_number: LQ9-21877
  redaction_zones:
  - [0, 40, 0, 640]
  comment: 'Auto-matched from CTP Knowledge Base (GE LOGIQ9) WARNING: 3 images have ''Burned In Annotation'' flag. Verify pixel redaction.'
- manufacturer: Unknown
  model_name: Unknown
  serial_number: null
  redaction_zones: []
  comment: "Imported from CTP. Condition: { Modality.equals(\"US\") }"
"#;

#[test]
fn a_gantry_py_scaffold_with_comment_keys_loads() {
    let config = Config::parse(GANTRY_PY_SCAFFOLD, "scaffold.yaml").unwrap();
    assert_eq!(config.machines.len(), 2);
    let logiq = &config.machines[0];
    assert_eq!(logiq.redaction_zones[0].as_array(), [0, 40, 0, 640]);
    assert!(
        logiq
            .comment
            .as_deref()
            .unwrap()
            .starts_with("Auto-matched")
    );
    assert_eq!(config.tag_rules.len(), 2);
    // A comment is a note: the rule with one means what it means without.
    let without = GANTRY_PY_SCAFFOLD
        .lines()
        .filter(|l| !l.trim_start().starts_with("comment:"))
        .collect::<Vec<_>>()
        .join("\n");
    let plain = Config::parse(&without, "plain.yaml").unwrap();
    assert_eq!(plain.tag_rules, config.tag_rules);
    for (a, b) in plain.machines.iter().zip(&config.machines) {
        assert_eq!(a.redaction_zones, b.redaction_zones);
        assert_eq!(a.describe(), b.describe());
        assert!(a.comment.is_none());
    }
    // Still strict about everything else.
    let typo = GANTRY_PY_SCAFFOLD.replace("comment: research", "coment: research");
    let error = Config::parse(&typo, "typo.yaml").unwrap_err();
    assert!(error.message.contains("coment"), "{error}");
}
