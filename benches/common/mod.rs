//! What the benches share: the synthetic datasets (generated once, kept under
//! `target/bench-data`), timing helpers and peak memory.

#![allow(dead_code)] // each bench uses part of this

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// A synthetic dump of about `files` small files, generated once and reused; returns its
/// folder and a `machines:` config section covering its burned-in bands.
pub fn dataset(files: usize) -> (PathBuf, String) {
    let data = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("target/bench-data")
        .join(format!("ingest-{files}"));
    let marker = data.with_extension("complete");
    let rules = data.with_extension("rules.yaml");
    if !marker.exists() || !rules.exists() {
        let _ = std::fs::remove_dir_all(&data);
        let started = Instant::now();
        let dump = gantry_synth::generate(&data, &gantry_synth::DumpSpec::many_small_files(files))
            .expect("generate the benchmark dump");
        std::fs::write(&rules, dump.machine_rules()).expect("write the rules");
        std::fs::write(&marker, "").expect("mark the dump complete");
        eprintln!(
            "generated {} files in {:.1} s",
            dump.instances.len(),
            started.elapsed().as_secs_f64()
        );
    }
    let rules = std::fs::read_to_string(&rules).expect("read the rules");
    (data, rules)
}

/// The dataset size: `GANTRY_BENCH_FILES`, or 10,000.
pub fn files_from_env() -> usize {
    std::env::var("GANTRY_BENCH_FILES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000)
}

/// Every `.dcm` file under `dir`.
pub fn list(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "dcm") {
                out.push(path);
            }
        }
    }
    out.sort();
    out
}

/// The fastest of `n` runs: these machines are noisy, and the minimum is the run least
/// disturbed.
pub fn best_of(n: usize, mut f: impl FnMut() -> Duration) -> Duration {
    (0..n).map(|_| f()).min().unwrap_or_default()
}

/// Times `f`.
pub fn time(f: impl FnOnce()) -> Duration {
    let started = Instant::now();
    f();
    started.elapsed()
}

/// Peak resident memory of this process so far, in MB.
pub fn peak_rss_mb() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse::<f64>().ok())
        .unwrap_or(0.0)
        / 1024.0
}

/// Whether cargo only probes the bench (`cargo test --benches`, `--list`).
pub fn probing() -> bool {
    std::env::args().any(|a| a == "--list" || a == "--test")
}

/// Turns off backtrace capture in library errors (dicom-rs captures one for each error
/// it creates, end of data included, whenever RUST_BACKTRACE is set in the shell), so
/// the numbers are those of a production run.
pub fn quiet_backtraces() {
    if std::env::var_os("RUST_LIB_BACKTRACE").is_none() {
        // SAFETY: called first thing in main, before any other thread exists.
        unsafe { std::env::set_var("RUST_LIB_BACKTRACE", "0") };
    }
}
