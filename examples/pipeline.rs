//! Runs Gantry's nine checkpoints on a folder, or on the built-in synthetic hospital dump.
//!
//! ```text
//! cargo run --release --example pipeline            # generates the synthetic dump first
//! cargo run --release --example pipeline -- DIR     # runs on your folder
//! ```
//!
//! Everything (the dump when generated, the config, the key, the database, the export)
//! goes to a temporary folder that is kept and printed at the end, so the results can be
//! inspected with the `gantry` CLI.

use std::path::PathBuf;

use gantry::{Credential, KeyFile, Session, recover_identities};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let work = tempfile::Builder::new()
        .prefix("gantry-pipeline-")
        .tempdir()?
        .keep();
    let given = std::env::args_os().nth(1).map(PathBuf::from);
    let (input, rules) = match &given {
        Some(dir) => (dir.clone(), None),
        None => {
            let dir = work.join("synthetic_dump");
            let dump = gantry_synth::generate(&dir, &gantry_synth::DumpSpec::default())?;
            println!(
                "generated a synthetic dump: {} instances of {} patients, {} junk files, in {}\n",
                dump.instances.len(),
                dump.patients.len(),
                dump.junk.len(),
                dir.display()
            );
            // What a user writes after looking at the images: zones for the devices that
            // burn text in, except the screen-capture workstation (left out on purpose:
            // the safe gate must block it, and say why).
            let rules = dump.machine_rules_for(|d| d != gantry_synth::Device::ScreenCapture);
            (dir, Some(rules))
        }
    };
    let database = work.join("gantry.db");
    let mut session = Session::builder().database(&database).open()?;

    println!("== 1. ingest");
    println!("{}", session.ingest(&input)?);
    println!("== 2. examine");
    println!("{}", session.examine()?);

    println!("== 3. configure");
    let skeleton = work.join("config.skeleton.yaml");
    println!("{}", session.setup_config(&skeleton)?);
    let config = match rules {
        Some(rules) => {
            let edited = work.join("config.yaml");
            std::fs::write(
                &edited,
                format!(
                    "version: \"2.0\"\nprivacy_profile: basic\nprofile_options: [retain_longitudinal_modified_dates]\ndate_jitter: {{ min_days: -365, max_days: -30 }}\n{rules}"
                ),
            )?;
            edited
        }
        // On your data the skeleton is used as written: review it and run again.
        None => skeleton,
    };
    session.load_config(&config)?;
    println!("loaded {}\n", config.display());

    println!("== 4. audit");
    let audit = session.audit()?;
    println!("{audit}");

    println!("== 5. backup (seal the originals)");
    let key_path = work.join("master.key");
    let key = KeyFile::create_or_open(&key_path)?;
    session.enable_reversible_anonymization(key.clone())?;
    println!("{}", session.preserve_identities()?);

    println!("== 6. anonymize");
    println!("{}", session.anonymize_metadata()?);
    println!("== 7. redact");
    println!("{}", session.redact_pixels()?);
    println!("== 8. verify");
    println!("{}", session.verify()?);
    println!("== 9. export");
    let out = work.join("clean_dataset_v1");
    let export = session.export(&out).safe(true).run()?;
    println!("{export}");
    println!("== report");
    println!("{}", session.write_report(work.join("report.html"))?);
    session.save()?;

    println!("== authorised recovery (with {})", key_path.display());
    let recovered = recover_identities(&out, Credential::Key(&key), None)?;
    println!(
        "recovered the sealed originals of {} files ({} failed); the first holds {} attributes",
        recovered.recovered.len(),
        recovered.failed.len(),
        recovered
            .recovered
            .first()
            .map(|f| f.originals.len())
            .unwrap_or(0)
    );

    println!("\nsession database: {}", database.display());
    println!(
        "try: cargo run -p gantry-cli -- --db {} verify",
        database.display()
    );
    Ok(())
}
