//! Ingest throughput against its floor, re-ingest speed, and peak memory.
//!
//! ```text
//! cargo bench --bench ingest                              # 10,000 small files
//! GANTRY_BENCH_FILES=100000 cargo bench --bench ingest    # memory stays flat
//! ```
//!
//! The floor is a bare parallel header-only parse of the same files with dicom-object
//! (`read_until(PixelData)`), measured in the same run on a warm page cache: ingest does
//! that and more (walk, stat, re-encode the header, SQLite). Ingest runs in a child process
//! so its peak RSS (VmHWM) is its own, not the generator's.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

mod common;

use rayon::prelude::*;

fn main() {
    if let Ok(mode) = std::env::var("GANTRY_BENCH_CHILD") {
        child(&mode);
        return;
    }
    if common::probing() {
        return;
    }
    let files = common::files_from_env();
    let (data, _) = common::dataset(files);
    let paths = common::list(&data);
    let n = paths.len();
    // Warm the page cache so both sides read from memory.
    floor(&paths);
    let floor_time = common::best_of(3, || floor(&paths));

    // Best of three for each, fresh databases for the first ingests: this machine is noisy.
    let work = tempfile::tempdir().expect("temporary folder");
    let mut first = Duration::MAX;
    let mut rss = 0;
    for round in 0..3 {
        let (time, peak) = run_child(
            "ingest",
            &data,
            &work.path().join(format!("bench{round}.db")),
        );
        first = first.min(time);
        rss = rss.max(peak);
    }
    let db = work.path().join("bench0.db");
    let again = (0..3)
        .map(|_| run_child("ingest", &data, &db).0)
        .min()
        .unwrap_or_default();

    let rate = |d: Duration| n as f64 / d.as_secs_f64();
    println!(
        "ingest bench: {n} files, {} threads",
        rayon::current_num_threads()
    );
    println!(
        "  floor (parallel header-only parse)  {:>10.0} files/s",
        rate(floor_time)
    );
    println!(
        "  gantry ingest, first                {:>10.0} files/s   {:.2} of the floor's rate",
        rate(first),
        floor_time.as_secs_f64() / first.as_secs_f64()
    );
    println!(
        "  gantry ingest, unchanged re-run     {:>10.0} files/s   {:.1}x faster than first",
        rate(again),
        first.as_secs_f64() / again.as_secs_f64()
    );
    println!(
        "  peak RSS of the ingest process      {:>10.1} MB",
        rss as f64 / 1024.0
    );
}

fn floor(paths: &[PathBuf]) -> Duration {
    let started = Instant::now();
    let read = paths
        .par_iter()
        .filter(|p| {
            dicom_object::OpenFileOptions::new()
                .read_until(dicom_dictionary_std::tags::PIXEL_DATA)
                .open_file(p)
                .is_ok()
        })
        .count();
    assert_eq!(read, paths.len());
    started.elapsed()
}

/// Runs one ingest in a child process; returns its time and peak RSS in kB.
fn run_child(mode: &str, data: &Path, db: &Path) -> (Duration, u64) {
    let exe = std::env::current_exe().expect("bench executable");
    let out = Command::new(exe)
        .env("GANTRY_BENCH_CHILD", mode)
        .env("GANTRY_BENCH_DATA", data)
        .env("GANTRY_BENCH_DB", db)
        .output()
        .expect("run the ingest child");
    let text = String::from_utf8_lossy(&out.stdout);
    let mut fields = text.split_whitespace();
    let secs: f64 = fields
        .next()
        .and_then(|v| v.parse().ok())
        .expect("child time");
    let rss: u64 = fields.next().and_then(|v| v.parse().ok()).unwrap_or(0);
    (Duration::from_secs_f64(secs), rss)
}

fn child(_mode: &str) {
    let data = std::env::var("GANTRY_BENCH_DATA").expect("data folder");
    let db = std::env::var("GANTRY_BENCH_DB").expect("database");
    let mut session = gantry::Session::open(&db).expect("open session");
    let started = Instant::now();
    let report = session.ingest(&data).expect("ingest");
    let secs = started.elapsed().as_secs_f64();
    assert!(report.skipped.is_empty());
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let rss = status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .unwrap_or("0");
    println!("{secs} {rss}");
}
