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
    /// The project secret (64 hex digits in a file), so that several databases (shards,
    /// machines) derive the same pseudonyms, UIDs and date shifts. Default: the one stored
    /// in the database, or a new random one.
    #[arg(long, global = true, value_name = "FILE")]
    secret_file: Option<PathBuf>,
    /// Let ingest follow symbolic links that lead outside the folders it was given
    /// (default: such links are listed in the report and skipped).
    #[arg(long, global = true)]
    follow_links: bool,
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
    /// Checkpoint 4: find every identity trace the config and the standard name.
    Audit {
        /// Also write the report as JSON to this file.
        #[arg(long, value_name = "FILE")]
        json: Option<PathBuf>,
    },
    /// Checkpoint 5: seal the originals inside each object, for the key (and a password).
    Lock {
        /// The key file (`gantry keygen FILE` makes one).
        #[arg(long)]
        key: PathBuf,
        /// A file whose first line is a password for a second recipient (OpenSSL, GDCM).
        #[arg(long, value_name = "FILE")]
        password_file: Option<PathBuf>,
    },
    /// Checkpoint 6: apply the audited actions to every header.
    Anonymize,
    /// Checkpoint 7: blank burned-in text by the machine rules' zones.
    Redact {
        /// Write redacted pixels as RLE Lossless instead of native.
        #[arg(long)]
        rle: bool,
    },
    /// Checkpoint 8: audit the de-identified data again; exit code 1 when not clean.
    Verify {
        /// Also write the report as JSON to this file.
        #[arg(long, value_name = "FILE")]
        json: Option<PathBuf>,
    },
    /// Checkpoint 9: write the clean instances to a folder (the safe gate blocks the rest).
    Export {
        /// The output folder.
        out: PathBuf,
        /// Turn the safe gate off (marked in the report and the manifest).
        #[arg(long)]
        r#unsafe: bool,
        /// Folder layout of pseudonymous tokens.
        #[arg(long, default_value = gantry::DEFAULT_LAYOUT)]
        layout: String,
        /// Decode compressed pixel data to native Explicit VR Little Endian.
        #[arg(long)]
        native: bool,
        /// Replace files that are already at the output paths.
        #[arg(long)]
        replace: bool,
    },
    /// Run checkpoints 1 to 9 in one go; exit code 1 when anything was blocked.
    Run {
        /// The folder of DICOM files.
        input: PathBuf,
        /// The configuration to apply.
        #[arg(long)]
        config: PathBuf,
        /// The output folder.
        #[arg(long)]
        out: PathBuf,
        /// Seal the originals for this key file (created if missing).
        #[arg(long)]
        key: Option<PathBuf>,
        /// A file whose first line is a password for a second recipient.
        #[arg(long, value_name = "FILE")]
        password_file: Option<PathBuf>,
    },
    /// Create a new key file (mode 0600; never overwrites).
    Keygen {
        /// Where to write it.
        file: PathBuf,
    },
    /// Recover sealed originals from exported files, and optionally write re-identified copies.
    Recover {
        /// The key file.
        #[arg(long, required_unless_present = "password_file")]
        key: Option<PathBuf>,
        /// Or a file whose first line is the password.
        #[arg(long, value_name = "FILE")]
        password_file: Option<PathBuf>,
        /// An exported file or folder.
        input: PathBuf,
        /// Where to write re-identified copies (omit to only list the originals).
        out: Option<PathBuf>,
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Reclaim the pixel sidecar space of superseded redactions.
    Compact,
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
        /// Instead: about this many tiny files of many patients, without junk (the dump
        /// the file-count benchmarks run on).
        #[arg(long, value_name = "N", conflicts_with_all = ["seed", "patients"])]
        small_files: Option<usize>,
        /// Also write a `machines:` config section covering the dump's burned-in text.
        #[arg(long, value_name = "FILE")]
        rules: Option<PathBuf>,
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
    /// Validate a config file, store it with the session, and read its machine rules
    /// against the inventory (warnings for rules that match everything or nothing).
    Check {
        /// The file to check.
        file: PathBuf,
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
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
        .progress(progress::Bars::new(cli.quiet))
        .follow_links(cli.follow_links);
    if let Some(threads) = cli.threads {
        builder = builder.threads(threads);
    }
    if let Some(file) = &cli.secret_file {
        let text = std::fs::read_to_string(file).map_err(|e| format!("{}: {e}", file.display()))?;
        builder = builder.secret(
            gantry::Secret::from_hex(&text).map_err(|e| format!("{}: {e}", file.display()))?,
        );
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

fn write_json<T: serde::Serialize>(
    path: Option<&std::path::Path>,
    value: &T,
) -> Result<(), String> {
    if let Some(path) = path {
        let text = serde_json::to_string_pretty(value).map_err(|e| e.to_string())?;
        // Reports quote values they found (PHI): owner-only, as the database.
        gantry::write_private(path, text.as_bytes())
            .map_err(|e| format!("{}: {e}", path.display()))?;
    }
    Ok(())
}

/// The first line of a password file (a file, so the password never shows in `ps`).
fn read_password(path: &std::path::Path) -> Result<String, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let password = text.lines().next().unwrap_or("").to_string();
    if password.is_empty() {
        return Err(format!("{}: the first line is empty", path.display()));
    }
    Ok(password)
}

fn enable_sealing(
    session: &mut Session,
    key: &std::path::Path,
    password_file: Option<&std::path::Path>,
    create: bool,
) -> Result<(), String> {
    let key = if create {
        gantry::KeyFile::create_or_open(key)
    } else {
        gantry::KeyFile::open(key)
    }
    .map_err(|e| e.to_string())?;
    match password_file {
        Some(file) => {
            let password = read_password(file)?;
            session.enable_reversible_anonymization_with_password(key, &password)
        }
        None => session.enable_reversible_anonymization(key),
    }
    .map_err(|e| e.to_string())
}

/// Checkpoints 1 to 9, printing each report.
fn run_all(
    session: &mut Session,
    input: &std::path::Path,
    config: &std::path::Path,
    out: &std::path::Path,
    key: Option<&std::path::Path>,
    password_file: Option<&std::path::Path>,
) -> Result<ExitCode, String> {
    let e = |e: gantry::GantryError| e.to_string();
    println!("== 1. ingest\n{}", session.ingest(input).map_err(e)?);
    println!("== 2. examine\n{}", session.examine().map_err(e)?);
    let loaded = session.load_config(config).map_err(e)?;
    println!(
        "== 3. configure\n{} loaded: {} options, {} tag rules, {} machine rules\n",
        config.display(),
        loaded.options.len(),
        loaded.tag_rules.len(),
        loaded.machines.len()
    );
    let audit = session.audit().map_err(e)?;
    println!("== 4. audit\n{audit}");
    match key {
        Some(key) => {
            enable_sealing(session, key, password_file, true)?;
            println!(
                "== 5. backup\n{}",
                session.preserve_identities(&audit).map_err(e)?
            );
        }
        None => println!("== 5. backup\nskipped: no --key, identities are not recoverable\n"),
    }
    println!(
        "== 6. anonymize\n{}",
        session.anonymize_metadata(&audit).map_err(e)?
    );
    println!("== 7. redact\n{}", session.redact_pixels().map_err(e)?);
    let verify = session.verify().map_err(e)?;
    println!("== 8. verify\n{verify}");
    let export = session.export(out).run().map_err(e)?;
    println!("== 9. export\n{export}");
    session.save().map_err(e)?;
    println!(
        "summary: {} files written, {} unchanged, {} blocked; verify {}",
        export.written,
        export.unchanged,
        export.blocked.len(),
        if verify.is_clean() {
            "clean"
        } else {
            "NOT clean (the gate blocked what was not)"
        }
    );
    Ok(if export.is_complete() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
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
            ConfigCommand::Check { file, json } => {
                let mut session = open(&cli)?;
                let report = session.check_config(file).map_err(|e| e.to_string())?;
                print(&report, *json)?;
            }
        },
        Command::Audit { json } => {
            let mut session = open(&cli)?;
            let report = session.audit().map_err(|e| e.to_string())?;
            print!("{report}");
            write_json(json.as_deref(), &report)?;
        }
        Command::Lock { key, password_file } => {
            let mut session = open(&cli)?;
            enable_sealing(&mut session, key, password_file.as_deref(), false)?;
            let audit = session.last_audit().map_err(|e| e.to_string())?;
            print!(
                "{}",
                session
                    .preserve_identities(&audit)
                    .map_err(|e| e.to_string())?
            );
        }
        Command::Anonymize => {
            let mut session = open(&cli)?;
            let audit = session.last_audit().map_err(|e| e.to_string())?;
            let report = session
                .anonymize_metadata(&audit)
                .map_err(|e| e.to_string())?;
            print!("{report}");
            if !report.failed.is_empty() {
                return Ok(ExitCode::from(1));
            }
        }
        Command::Redact { rle } => {
            let mut session = open(&cli)?;
            let syntax = if *rle {
                gantry::PixelSyntax::RleLossless
            } else {
                gantry::PixelSyntax::Native
            };
            let report = session
                .redact_pixels_as(syntax)
                .map_err(|e| e.to_string())?;
            print!("{report}");
            if !report.failed.is_empty() {
                return Ok(ExitCode::from(1));
            }
        }
        Command::Verify { json } => {
            let mut session = open(&cli)?;
            let report = session.verify().map_err(|e| e.to_string())?;
            print!("{report}");
            write_json(json.as_deref(), &report)?;
            if !report.is_clean() {
                return Ok(ExitCode::from(1));
            }
        }
        Command::Export {
            out,
            r#unsafe,
            layout,
            native,
            replace,
        } => {
            let mut session = open(&cli)?;
            let report = session
                .export(out)
                .safe(!r#unsafe)
                .layout(layout.clone())
                .transfer_syntax(if *native {
                    gantry::ExportSyntax::Native
                } else {
                    gantry::ExportSyntax::Keep
                })
                .overwrite(if *replace {
                    gantry::Overwrite::Replace
                } else {
                    gantry::Overwrite::Refuse
                })
                .run()
                .map_err(|e| e.to_string())?;
            print!("{report}");
            if !report.is_complete() {
                return Ok(ExitCode::from(1));
            }
        }
        Command::Run {
            input,
            config,
            out,
            key,
            password_file,
        } => {
            let mut session = open(&cli)?;
            return run_all(
                &mut session,
                input,
                config,
                out,
                key.as_deref(),
                password_file.as_deref(),
            );
        }
        Command::Keygen { file } => {
            let key = gantry::KeyFile::create(file).map_err(|e| e.to_string())?;
            println!(
                "wrote key {} to {} (mode 0600); keep it apart from the data",
                key.id_hex(),
                file.display()
            );
        }
        Command::Recover {
            key,
            password_file,
            input,
            out,
            json,
        } => {
            let password = password_file.as_deref().map(read_password).transpose()?;
            let key = key
                .as_deref()
                .map(gantry::KeyFile::open)
                .transpose()
                .map_err(|e| e.to_string())?;
            let credential = match (&key, &password) {
                (Some(key), _) => gantry::Credential::Key(key),
                (None, Some(password)) => gantry::Credential::Password(password),
                (None, None) => return Err("recover needs --key or --password-file".into()),
            };
            let report = gantry::recover_identities(input, credential, out.as_deref())
                .map_err(|e| e.to_string())?;
            print(&report, *json)?;
            if !report.failed.is_empty() {
                return Ok(ExitCode::from(1));
            }
        }
        Command::Compact => {
            let mut session = open(&cli)?;
            print!("{}", session.compact().map_err(|e| e.to_string())?);
        }
        Command::Synth {
            out,
            seed,
            patients,
            small_files,
            rules,
        } => {
            let spec = match small_files {
                Some(n) => gantry_synth::DumpSpec::many_small_files(*n),
                None => gantry_synth::DumpSpec {
                    seed: *seed,
                    patients: *patients,
                    ..Default::default()
                },
            };
            let dump = gantry_synth::generate(out, &spec).map_err(|e| e.to_string())?;
            if let Some(rules) = rules {
                std::fs::write(rules, dump.machine_rules())
                    .map_err(|e| format!("{}: {e}", rules.display()))?;
            }
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
