//! `gantry`: the command line over the Gantry library. It parses arguments, calls the
//! library, and prints reports; all logic lives in the library.

mod progress;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use gantry::Session;

#[derive(Parser)]
#[command(
    name = "gantry",
    version,
    about = "Curate, de-identify and redact DICOM data"
)]
struct Cli {
    /// The session database.
    #[arg(long, global = true, default_value = "gantry.db")]
    db: PathBuf,
    /// No progress bars.
    #[arg(long, short, global = true)]
    quiet: bool,
    /// Worker threads (default: one per core).
    #[arg(long, global = true)]
    threads: Option<usize>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Checkpoint 1: index every DICOM file under the given folders.
    Ingest {
        /// Folders or files to index.
        #[arg(required = true)]
        paths: Vec<PathBuf>,
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Checkpoint 2: the inventory of what was ingested.
    Examine {
        /// Print the inventory as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Checkpoint 3: write a config skeleton from the inventory, or check a config.
    Config {
        #[command(subcommand)]
        action: ConfigCommand,
    },
    /// Write the synthetic hospital dump (planted PHI, burned-in text, junk) to a folder.
    Synth {
        /// Where to write it.
        out: PathBuf,
        /// Seed: the same seed writes the same bytes.
        #[arg(long, default_value_t = 20231)]
        seed: u64,
        /// Number of patients.
        #[arg(long, default_value_t = 6)]
        patients: usize,
    },
}

#[derive(Subcommand)]
enum ConfigCommand {
    /// Write a commented skeleton built from what was ingested.
    Init {
        /// The file to write.
        file: PathBuf,
        /// Replace the file if it exists.
        #[arg(long)]
        force: bool,
    },
    /// Validate a config file and store it with the session.
    Check {
        /// The file to check.
        file: PathBuf,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => code,
        Err(message) => {
            eprintln!("gantry: {message}");
            ExitCode::from(2)
        }
    }
}

fn open(cli: &Cli) -> Result<Session, String> {
    let mut builder = Session::builder()
        .database(&cli.db)
        .progress(progress::Bars::new(cli.quiet));
    if let Some(threads) = cli.threads {
        builder = builder.threads(threads);
    }
    builder.open().map_err(|e| e.to_string())
}

fn print<T: std::fmt::Display + serde::Serialize>(value: &T, json: bool) -> Result<(), String> {
    if json {
        let text = serde_json::to_string_pretty(value).map_err(|e| e.to_string())?;
        println!("{text}");
    } else {
        print!("{value}");
    }
    Ok(())
}

fn run(cli: Cli) -> Result<ExitCode, String> {
    match &cli.command {
        Command::Ingest { paths, json } => {
            let mut session = open(&cli)?;
            let report = session.ingest_paths(paths).map_err(|e| e.to_string())?;
            print(&report, *json)?;
        }
        Command::Examine { json } => {
            let session = open(&cli)?;
            let inventory = session.examine().map_err(|e| e.to_string())?;
            print(&inventory, *json)?;
        }
        Command::Config { action } => match action {
            ConfigCommand::Init { file, force } => {
                let session = open(&cli)?;
                let report = if *force {
                    session.setup_config_overwriting(file)
                } else {
                    session.setup_config(file)
                }
                .map_err(|e| e.to_string())?;
                print!("{report}");
            }
            ConfigCommand::Check { file } => {
                let mut session = open(&cli)?;
                let config = session.load_config(file).map_err(|e| e.to_string())?;
                println!(
                    "{} is valid: {} options, {} tag rules, {} machine rules",
                    file.display(),
                    config.options.len(),
                    config.tag_rules.len(),
                    config.machines.len()
                );
            }
        },
        Command::Synth {
            out,
            seed,
            patients,
        } => {
            let spec = gantry_synth::DumpSpec {
                seed: *seed,
                patients: *patients,
                ..Default::default()
            };
            let dump = gantry_synth::generate(out, &spec).map_err(|e| e.to_string())?;
            println!(
                "wrote {} instances of {} patients and {} junk files to {}",
                dump.instances.len(),
                dump.patients.len(),
                dump.junk.len(),
                out.display()
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}
