use gantry::{KeyFile, Secret, Session};
fn main() {
    let dir = tempfile::tempdir().unwrap();
    let dump = gantry_synth::generate(&dir.path().join("dump"), &gantry_synth::DumpSpec::default())
        .unwrap();
    let config = dir.path().join("config.yaml");
    std::fs::write(
        &config,
        format!(
            "version: \"2.0\"\nprofile_options: [retain_longitudinal_modified_dates]\n{}",
            dump.machine_rules()
        ),
    )
    .unwrap();
    let mut s = Session::builder()
        .database(dir.path().join("r.db"))
        .secret(Secret::from_hex(&"17".repeat(32)).unwrap())
        .open()
        .unwrap();
    let mut last = gantry::decode_counts();
    let mut lap = |name: &str| {
        let c = gantry::decode_counts();
        println!(
            "{name:10} original {:5} deid {:5} partial {:5}",
            c.original - last.original,
            c.deidentified - last.deidentified,
            c.partial - last.partial
        );
        last = c;
    };
    s.ingest(&dump.root).unwrap();
    lap("ingest");
    s.examine().unwrap();
    lap("examine");
    s.load_config(&config).unwrap();
    lap("config");
    s.audit().unwrap();
    lap("audit");
    let key = KeyFile::create_or_open(dir.path().join("k.key")).unwrap();
    s.enable_reversible_anonymization(key).unwrap();
    s.preserve_identities().unwrap();
    lap("seal");
    s.anonymize_metadata().unwrap();
    lap("anonymize");
    s.redact_pixels().unwrap();
    lap("redact");
    let v = s.verify().unwrap();
    lap("verify");
    println!("clean {}", v.is_clean());
    let r = s.export(dir.path().join("out")).run().unwrap();
    lap("export");
    println!("written {} blocked {}", r.written, r.blocked.len());
}
