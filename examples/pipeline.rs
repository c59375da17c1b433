//! Runs Gantry's checkpoints on a folder, or on the built-in synthetic hospital dump.
//!
//! ```text
//! cargo run --release --example pipeline            # generates the synthetic dump first
//! cargo run --release --example pipeline -- DIR     # runs on your folder
//! ```
//!
//! Everything (the dump when generated, the database) goes to a temporary folder that is
//! kept and printed at the end, so the results can be inspected with the `gantry` CLI.

use std::path::PathBuf;

use gantry::Session;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let work = tempfile::Builder::new()
        .prefix("gantry-pipeline-")
        .tempdir()?
        .keep();
    let input = match std::env::args_os().nth(1) {
        Some(dir) => PathBuf::from(dir),
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
            dir
        }
    };
    let database = work.join("gantry.db");
    let mut session = Session::builder().database(&database).open()?;

    println!("== 1. ingest");
    println!("{}", session.ingest(&input)?);
    println!("== 2. examine");
    println!("{}", session.examine()?);

    session.save()?;
    println!("session database: {}", database.display());
    println!(
        "try: cargo run -p gantry-cli -- --db {} examine --json",
        database.display()
    );
    Ok(())
}
