//! `gantry`: the command line over the Gantry library. It parses arguments, calls the
//! library, and prints reports; all logic lives in the library.

mod progress;
mod reports;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use gantry::Session;

use reports::{CliError, KeyReport, RunReport, SecretReport, SynthReport};

const EXIT_CODES: &str = "\
Exit codes:
  0  done: nothing blocked, nothing failed
  1  done, but something needs you: verify found identity left, export blocked or could
     not write instances, or anonymize, redact or recover failed for some (the report
     names each, with its path)
  2  the command could not run (arguments, database, config, key); the message names
     what to do or run next

Every command prints its report as a table, or with --json as the JSON of the library's
report (--json=FILE writes it to FILE, mode 0600, beside the table).";

#[derive(Parser)]
#[command(
    name = "gantry",
    version,
    about = "Curate, de-identify and redact DICOM data",
    after_help = EXIT_CODES
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
    /// Work on shard i of N of the dump (from 1): ingest indexes only the files of that
    /// shard's patients (a keyed hash of the Patient ID). Each shard needs its own --db and
    /// output folder and the shared --secret-file; the database remembers its shard.
    #[arg(long, global = true, value_name = "i/N")]
    shard: Option<gantry::Shard>,
    /// Other shards' identifiers (`gantry identities` files, or folders of them), imported
    /// before the command runs: a shard of several audits only once it has them all.
    /// Repeat it for several.
    #[arg(long, global = true, value_name = "PATH")]
    identities: Vec<PathBuf>,
    /// Let ingest follow symbolic links that lead outside the folders it was given
    /// (default: such links are listed in the report and skipped).
    #[arg(long, global = true)]
    follow_links: bool,
    /// Print the report as JSON (the library's report, field for field): `--json` to
    /// standard output instead of the table, `--json=FILE` to FILE (mode 0600) beside it.
    #[arg(
        long,
        global = true,
        value_name = "FILE",
        num_args = 0..=1,
        require_equals = true,
        default_missing_value = "-"
    )]
    json: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

/// `--config`, for the commands whose result depends on the configuration.
#[derive(Args)]
struct ConfigFile {
    /// Load this configuration first and keep it with the session (default: the one the
    /// session last loaded).
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
}

/// `--on-uid-conflict`, for the commands that ingest.
#[derive(Args)]
struct OnConflict {
    /// Which copy to index when two files hold one SOP Instance UID with different
    /// content (the report names the copy kept for each conflict).
    #[arg(long, value_enum, default_value_t = Policy::KeepFirst)]
    on_uid_conflict: Policy,
}

#[derive(Clone, Copy, clap::ValueEnum)]
#[allow(clippy::enum_variant_names)] // the names are the values users type: keep-first, ...
enum Policy {
    /// The copy indexed first.
    KeepFirst,
    /// The copy modified last.
    KeepNewest,
    /// Every copy, each with its own new UID.
    KeepAll,
}

impl OnConflict {
    fn policy(&self) -> gantry::UidConflict {
        match self.on_uid_conflict {
            Policy::KeepFirst => gantry::UidConflict::KeepFirst,
            Policy::KeepNewest => gantry::UidConflict::KeepNewest,
            Policy::KeepAll => gantry::UidConflict::KeepAll,
        }
    }
}

#[derive(Subcommand)]
enum Command {
    /// Checkpoint 1: index every DICOM file under the given folders.
    Ingest {
        /// Folders or files to index.
        #[arg(required = true)]
        paths: Vec<PathBuf>,
        #[command(flatten)]
        conflicts: OnConflict,
    },
    /// Checkpoint 2: the inventory of what was ingested.
    Examine,
    /// Checkpoint 3: write a config skeleton from the inventory, or check a config.
    Config {
        #[command(subcommand)]
        action: ConfigCommand,
    },
    /// Preview one instance before anything changes: every attribute with its action,
    /// rule and new value, and whether export will write or block it, and why.
    Show {
        /// Its SOP Instance UID, or the path of its file.
        instance: String,
        /// Show the original values unmasked.
        #[arg(long)]
        reveal: bool,
        #[command(flatten)]
        config: ConfigFile,
    },
    /// Checkpoint 4: find every identity trace the config and the standard name.
    Audit {
        /// Also list every instance with its findings by action and what blocks it (with
        /// --json: one JSON object per line after the report).
        #[arg(long)]
        instances: bool,
        #[command(flatten)]
        config: ConfigFile,
    },
    /// Checkpoint 5: seal the originals inside each object, for the key (and a password).
    Lock {
        /// The key file (`gantry keygen FILE` makes one).
        #[arg(long)]
        key: PathBuf,
        /// A file whose first line is a password for a second recipient (OpenSSL, GDCM).
        #[arg(long, value_name = "FILE")]
        password_file: Option<PathBuf>,
        #[command(flatten)]
        config: ConfigFile,
    },
    /// Checkpoint 6: apply the audited actions to every header.
    Anonymize {
        #[command(flatten)]
        config: ConfigFile,
    },
    /// Checkpoint 7: blank burned-in text by the machine rules' zones.
    Redact {
        /// Write redacted pixels as RLE Lossless instead of native.
        #[arg(long)]
        rle: bool,
        #[command(flatten)]
        config: ConfigFile,
    },
    /// Checkpoint 8: audit the de-identified data again; exit code 1 when not clean.
    Verify {
        #[command(flatten)]
        config: ConfigFile,
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
        #[command(flatten)]
        config: ConfigFile,
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
        /// Seal the originals for this key file (created if missing, and said so).
        #[arg(long)]
        key: Option<PathBuf>,
        /// A file whose first line is a password for a second recipient.
        #[arg(long, value_name = "FILE")]
        password_file: Option<PathBuf>,
        #[command(flatten)]
        conflicts: OnConflict,
    },
    /// Write this shard's identifiers (its patients' names, IDs, ...) to FILE (owner-only,
    /// MAC'd with the project secret) for the other shards to import with --identities.
    Identities {
        /// The file to write (e.g. shard-2-of-4.identities).
        file: PathBuf,
        #[command(flatten)]
        config: ConfigFile,
    },
    /// Join the exports of all shards of a run into one dataset folder: files, one
    /// manifest, one dataset.json; refuses shards that are not one complete run.
    Merge {
        /// The shards' export folders.
        #[arg(required = true)]
        shards: Vec<PathBuf>,
        /// The merged dataset's folder (new, empty, or an earlier merge of these shards).
        #[arg(long)]
        out: PathBuf,
    },
    /// Write one self-contained HTML file (owner-only) to look at: inventory, findings,
    /// blocked instances with their fixes, before/after thumbnails per device, manifest.
    Report {
        /// The HTML file to write.
        out: PathBuf,
    },
    /// Create a new project secret file for --secret-file (mode 0600; never overwrites).
    Secret {
        /// Where to write it.
        file: PathBuf,
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
    /// Convert CTP's DicomPixelAnonymizer.script (the RSNA Burned-in Annotation Library)
    /// into a `machines:` section to review and paste into a config.
    ImportCtp {
        /// The CTP script.
        script: PathBuf,
        /// The YAML file to write.
        out: PathBuf,
        /// Replace OUT if it exists.
        #[arg(long)]
        force: bool,
    },
    /// Validate a config file, store it with the session, and read its machine rules
    /// against the inventory (warnings for rules that match everything or nothing).
    Check {
        /// The file to check.
        file: PathBuf,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(&cli) {
        Ok(code) => code,
        Err(error) => {
            eprintln!("gantry: {error}");
            ExitCode::from(2)
        }
    }
}

/// The session of `--db`. `existing`: the command works on what was ingested, so a
/// database that does not exist is an error naming the command that makes one (rather
/// than an empty new database).
fn open(cli: &Cli, existing: bool) -> Result<Session, CliError> {
    open_ingesting(cli, existing, gantry::UidConflict::default())
}

/// [`open`], for a command that ingests with `policy`.
fn open_ingesting(
    cli: &Cli,
    existing: bool,
    policy: gantry::UidConflict,
) -> Result<Session, CliError> {
    if existing && !cli.db.exists() {
        return Err(CliError::NoDatabase(cli.db.clone()));
    }
    let mut builder = Session::builder()
        .on_uid_conflict(policy)
        .database(&cli.db)
        .progress(progress::Bars::new(cli.quiet || cli.json_to_stdout()))
        .follow_links(cli.follow_links);
    if let Some(threads) = cli.threads {
        builder = builder.threads(threads);
    }
    if let Some(shard) = cli.shard {
        builder = builder.shard(shard);
    }
    if let Some(file) = &cli.secret_file {
        let text = std::fs::read_to_string(file).map_err(|source| CliError::Io {
            path: file.clone(),
            source,
        })?;
        let secret = gantry::Secret::from_hex(&text).map_err(|source| CliError::Secret {
            path: file.clone(),
            source,
        })?;
        builder = builder.secret(secret);
    }
    let mut session = builder.open()?;
    if !cli.identities.is_empty() {
        let imported = session.import_identities(&cli.identities)?;
        if !cli.quiet && !cli.json_to_stdout() {
            eprint!("{imported}");
        }
    }
    Ok(session)
}

/// [`open`], with the `--config` given loaded.
fn open_with(cli: &Cli, config: &ConfigFile) -> Result<Session, CliError> {
    let mut session = open(cli, true)?;
    if let Some(path) = &config.config {
        session.load_config(path)?;
    }
    Ok(session)
}

impl Cli {
    fn json_to_stdout(&self) -> bool {
        self.json.as_deref() == Some(Path::new("-"))
    }

    /// Prints `value` as the table, or as JSON (`--json`), or both (`--json=FILE`).
    fn emit<T: std::fmt::Display + serde::Serialize>(&self, value: &T) -> Result<(), CliError> {
        match self.json.as_deref() {
            Some(path) if path == Path::new("-") => {
                out(&format!("{}\n", serde_json::to_string_pretty(value)?));
            }
            Some(path) => {
                out(&value.to_string());
                let text = serde_json::to_string_pretty(value)?;
                // Reports quote values they found (PHI): owner-only, as the database.
                gantry::write_private(path, text.as_bytes()).map_err(|source| CliError::Io {
                    path: path.to_path_buf(),
                    source,
                })?;
            }
            None => out(&value.to_string()),
        }
        Ok(())
    }
}

/// Writes `text` to standard output. A reader that went away (`gantry ... | head`) ends
/// the output quietly, instead of a panic of `print!`: the work itself is done and stored.
fn out(text: &str) {
    use std::io::Write;
    let mut stdout = std::io::stdout().lock();
    // Nothing more can be shown then; the exit code still says how the command went.
    let _ = stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush());
}

/// The first line of a password file (a file, so the password never shows in `ps`).
fn read_password(path: &Path) -> Result<String, CliError> {
    let text = std::fs::read_to_string(path).map_err(|source| CliError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let password = text.lines().next().unwrap_or("").to_string();
    if password.is_empty() {
        return Err(CliError::EmptyPassword(path.to_path_buf()));
    }
    Ok(password)
}

/// Opens the key (creating it when `create`), and has the session seal for it. Returns
/// what was done with the key file.
fn enable_sealing(
    session: &mut Session,
    key: &Path,
    password_file: Option<&Path>,
    create: bool,
) -> Result<KeyReport, CliError> {
    let (key, created) = if create {
        match gantry::KeyFile::create(key) {
            Ok(new) => (new, true),
            Err(gantry::CryptoError::KeyFileExists(_)) => (gantry::KeyFile::open(key)?, false),
            Err(e) => return Err(e.into()),
        }
    } else {
        (gantry::KeyFile::open(key)?, false)
    };
    let report = KeyReport::of(&key, created);
    match password_file {
        Some(file) => {
            let password = read_password(file)?;
            session.enable_reversible_anonymization_with_password(key, &password)
        }
        None => session.enable_reversible_anonymization(key),
    }?;
    Ok(report)
}

/// Checkpoints 1 to 9, with each report.
fn run_all(
    session: &mut Session,
    input: &Path,
    config: &Path,
    out: &Path,
    key: Option<&Path>,
    password_file: Option<&Path>,
) -> Result<RunReport, CliError> {
    let ingest = session.ingest(input)?;
    let inventory = session.examine()?;
    let loaded = session.load_config(config)?.clone();
    let audit = session.audit()?;
    let (key, seal) = match key {
        Some(key) => {
            let key = enable_sealing(session, key, password_file, true)?;
            (Some(key), Some(session.preserve_identities()?))
        }
        None => (None, None),
    };
    let anonymize = session.anonymize_metadata()?;
    let redact = session.redact_pixels()?;
    let verify = session.verify()?;
    let export = session.export(out).run()?;
    session.save()?;
    Ok(RunReport {
        ingest,
        inventory,
        config: reports::LoadedConfig::of(config, &loaded),
        audit,
        key,
        seal,
        anonymize,
        redact,
        verify,
        export,
    })
}

fn run(cli: &Cli) -> Result<ExitCode, CliError> {
    let attention = |needs: bool| {
        if needs {
            ExitCode::from(1)
        } else {
            ExitCode::SUCCESS
        }
    };
    match &cli.command {
        Command::Ingest { paths, conflicts } => {
            let mut session = open_ingesting(cli, false, conflicts.policy())?;
            cli.emit(&session.ingest_paths(paths)?)?;
        }
        Command::Examine => {
            let session = open(cli, true)?;
            cli.emit(&session.examine()?)?;
        }
        Command::Config { action } => match action {
            ConfigCommand::Init { file, force } => {
                let session = open(cli, true)?;
                let report = if *force {
                    session.setup_config_overwriting(file)
                } else {
                    session.setup_config(file)
                }?;
                cli.emit(&report)?;
            }
            ConfigCommand::ImportCtp { script, out, force } => {
                cli.emit(&gantry::config::import_ctp_file(script, out, *force)?)?;
            }
            ConfigCommand::Check { file } => {
                let mut session = open(cli, true)?;
                cli.emit(&session.check_config(file)?)?;
            }
        },
        Command::Show {
            instance,
            reveal,
            config,
        } => {
            let mut session = open_with(cli, config)?;
            cli.emit(&session.show(instance, *reveal)?)?;
        }
        Command::Audit { instances, config } => {
            let mut session = open_with(cli, config)?;
            cli.emit(&session.audit()?)?;
            if *instances {
                let json = cli.json_to_stdout();
                let mut failed = None;
                session.for_each_instance_findings(gantry::Stage::Audit, |entry| {
                    if json {
                        match serde_json::to_string(&entry) {
                            Ok(line) => out(&format!("{line}\n")),
                            Err(e) => failed = Some(e),
                        }
                    } else {
                        out(&entry.to_string());
                    }
                })?;
                if let Some(e) = failed {
                    return Err(e.into());
                }
            }
        }
        Command::Lock {
            key,
            password_file,
            config,
        } => {
            let mut session = open_with(cli, config)?;
            enable_sealing(&mut session, key, password_file.as_deref(), false)?;
            cli.emit(&session.preserve_identities()?)?;
        }
        Command::Anonymize { config } => {
            let mut session = open_with(cli, config)?;
            let report = session.anonymize_metadata()?;
            cli.emit(&report)?;
            return Ok(attention(!report.failed.is_empty()));
        }
        Command::Redact { rle, config } => {
            let mut session = open_with(cli, config)?;
            let syntax = if *rle {
                gantry::PixelSyntax::RleLossless
            } else {
                gantry::PixelSyntax::Native
            };
            let report = session.redact_pixels_as(syntax)?;
            cli.emit(&report)?;
            return Ok(attention(!report.failed.is_empty()));
        }
        Command::Verify { config } => {
            let mut session = open_with(cli, config)?;
            let report = session.verify()?;
            cli.emit(&report)?;
            return Ok(attention(!report.is_clean()));
        }
        Command::Export {
            out,
            r#unsafe,
            layout,
            native,
            replace,
            config,
        } => {
            let mut session = open_with(cli, config)?;
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
                .run()?;
            cli.emit(&report)?;
            return Ok(attention(!report.is_complete()));
        }
        Command::Run {
            input,
            config,
            out,
            key,
            password_file,
            conflicts,
        } => {
            let mut session = open_ingesting(cli, false, conflicts.policy())?;
            let report = run_all(
                &mut session,
                input,
                config,
                out,
                key.as_deref(),
                password_file.as_deref(),
            )?;
            cli.emit(&report)?;
            return Ok(attention(!report.export.is_complete()));
        }
        Command::Identities { file, config } => {
            let mut session = open_with(cli, config)?;
            cli.emit(&session.export_identities(file)?)?;
        }
        Command::Merge { shards, out } => {
            let bars = progress::Bars::new(cli.quiet || cli.json_to_stdout());
            cli.emit(&gantry::merge_shards(shards, out, &bars)?)?;
        }
        Command::Report { out } => {
            let mut session = open(cli, true)?;
            cli.emit(&session.write_report(out)?)?;
        }
        Command::Secret { file } => {
            if file.exists() {
                return Err(CliError::SecretExists(file.clone()));
            }
            let secret = gantry::Secret::generate()?;
            gantry::write_private(file, format!("{}\n", secret.to_hex()).as_bytes()).map_err(
                |source| CliError::Io {
                    path: file.clone(),
                    source,
                },
            )?;
            cli.emit(&SecretReport {
                file: file.clone(),
                fingerprint: secret.fingerprint(),
            })?;
        }
        Command::Keygen { file } => {
            let key = gantry::KeyFile::create(file)?;
            cli.emit(&KeyReport::of(&key, true))?;
        }
        Command::Recover {
            key,
            password_file,
            input,
            out,
        } => {
            let password = password_file.as_deref().map(read_password).transpose()?;
            let key = key.as_deref().map(gantry::KeyFile::open).transpose()?;
            let credential = match (&key, &password) {
                (Some(key), _) => gantry::Credential::Key(key),
                (None, Some(password)) => gantry::Credential::Password(password),
                (None, None) => return Err(CliError::NoCredential),
            };
            let report = gantry::recover_identities(input, credential, out.as_deref())?;
            cli.emit(&report)?;
            return Ok(attention(!report.failed.is_empty()));
        }
        Command::Compact => {
            let mut session = open(cli, true)?;
            cli.emit(&session.compact()?)?;
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
            let dump = gantry_synth::generate(out, &spec)?;
            if let Some(rules) = rules {
                std::fs::write(rules, dump.machine_rules()).map_err(|source| CliError::Io {
                    path: rules.clone(),
                    source,
                })?;
            }
            cli.emit(&SynthReport::of(&dump, rules.as_deref()))?;
        }
    }
    Ok(ExitCode::SUCCESS)
}
