//! The Slurm scripts of `deploy/slurm`, run for real: a one-node cluster on this machine
//! (`deploy/slurm/local-cluster.sh start DIR`, with `SLURM_CONF` set, as `.ci/run` does)
//! runs the three jobs of `submit.sh` on the synthetic dump; the merged dataset must equal
//! a single run's, file for file. Then a shard's output is lost: the merge names the
//! shard missing, the shard's task runs again from its database, and the merge equals the
//! single run again.
//!
//! `cargo test -p gantry-cli --test slurm -- --ignored`

mod common;

use std::path::{Path, PathBuf};

use common::assert_same_dataset;
use std::process::Command;
use std::time::{Duration, Instant};

const GANTRY: &str = env!("CARGO_BIN_EXE_gantry");

fn scripts() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy/slurm")
}

fn run(command: &mut Command) -> String {
    let output = command.output().expect("the command starts");
    assert!(
        output.status.success(),
        "{command:?} failed: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// The state Slurm gives a job, once it has ended (waits up to ten minutes).
fn wait_for(job: &str) -> String {
    let started = Instant::now();
    loop {
        let text = run(Command::new("scontrol").args(["show", "job", job]));
        // An array job shows one record per task: it has ended when every task has.
        let states: Vec<&str> = text
            .split_whitespace()
            .filter_map(|w| w.strip_prefix("JobState="))
            .collect();
        let ended = |s: &&str| {
            matches!(
                *s,
                "COMPLETED" | "FAILED" | "CANCELLED" | "TIMEOUT" | "NODE_FAIL" | "OUT_OF_MEMORY"
            )
        };
        if !states.is_empty() && states.iter().all(ended) {
            return if states.iter().all(|s| *s == "COMPLETED") {
                "COMPLETED".into()
            } else {
                states.join(",")
            };
        }
        assert!(
            started.elapsed() < Duration::from_secs(600),
            "job {job} still running after ten minutes: {text}"
        );
        std::thread::sleep(Duration::from_millis(500));
    }
}

#[test]
#[ignore = "needs a running Slurm cluster (deploy/slurm/local-cluster.sh start DIR; SLURM_CONF)"]
fn a_sharded_run_on_slurm_equals_a_single_run_and_a_lost_shard_runs_again() {
    assert!(
        Command::new("sinfo")
            .output()
            .is_ok_and(|o| o.status.success()),
        "no Slurm cluster answers: start one with deploy/slurm/local-cluster.sh start DIR and set SLURM_CONF"
    );
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    let dump = dir.join("dump");
    let rules = dir.join("rules.yaml");
    run(Command::new(GANTRY)
        .args(["--quiet", "synth"])
        .arg(&dump)
        .args(["--patients", "10", "--rules"])
        .arg(&rules));
    let config = dir.join("config.yaml");
    std::fs::write(
        &config,
        format!(
            "version: \"2.0\"\nprivacy_profile: basic\n{}",
            std::fs::read_to_string(&rules).unwrap()
        ),
    )
    .unwrap();

    let work = dir.join("work");
    let shards = 3;
    let jobs = run(Command::new(scripts().join("submit.sh"))
        .env("GANTRY", GANTRY)
        .arg(&dump)
        .arg(&config)
        .arg(&work)
        .arg(shards.to_string()));
    let jobs: Vec<&str> = jobs.lines().collect();
    assert_eq!(jobs.len(), 3, "{jobs:?}");
    for job in &jobs {
        let state = wait_for(job);
        assert_eq!(
            state,
            "COMPLETED",
            "job {job}: see {}",
            work.join("logs").display()
        );
    }

    // The single run, with the secret the shards shared.
    let single = dir.join("single");
    run(Command::new(GANTRY)
        .arg("--quiet")
        .arg("--db")
        .arg(dir.join("single.db"))
        .arg("--secret-file")
        .arg(work.join("secret.hex"))
        .arg("run")
        .arg(&dump)
        .arg("--config")
        .arg(&config)
        .arg("--out")
        .arg(&single));
    assert_same_dataset(&single, &work.join("dataset"), shards);

    // Shard 2's export is lost. The merge names it.
    std::fs::remove_dir_all(work.join("out/shard-2")).unwrap();
    std::fs::remove_dir_all(work.join("dataset")).unwrap();
    let env = |c: &mut Command| {
        c.env("GANTRY", GANTRY)
            .env("GANTRY_INPUT", &dump)
            .env("GANTRY_CONFIG", &config)
            .env("GANTRY_WORK", &work)
            .env("GANTRY_SHARDS", shards.to_string())
            .env("GANTRY_KEY", "")
            .arg("--parsable")
            .arg("--export=ALL")
            .arg(format!("--chdir={}", work.display()));
    };
    let mut merge = Command::new("sbatch");
    env(&mut merge);
    let merge = run(merge
        .arg(format!(
            "--output={}",
            work.join("logs/merge-missing.log").display()
        ))
        .arg(scripts().join("merge.sbatch")));
    let state = wait_for(merge.trim());
    assert_ne!(state, "COMPLETED", "a merge without shard 2 must fail");
    let log = std::fs::read_to_string(work.join("logs/merge-missing.log")).unwrap();
    assert!(log.contains("shard(s) 2 of 3 missing"), "{log}");

    // Its task runs again (resuming from its database), then the merge.
    let mut again = Command::new("sbatch");
    env(&mut again);
    let again = run(again
        .arg("--array=2")
        .arg(format!(
            "--output={}",
            work.join("logs/shard-2-again.log").display()
        ))
        .arg(scripts().join("shard.sbatch")));
    let again = again.trim().to_string();
    let mut merge = Command::new("sbatch");
    env(&mut merge);
    let merge = run(merge
        .arg(format!("--dependency=afterok:{again}"))
        .arg(format!(
            "--output={}",
            work.join("logs/merge-again.log").display()
        ))
        .arg(scripts().join("merge.sbatch")));
    assert_eq!(wait_for(&again), "COMPLETED");
    assert_eq!(wait_for(merge.trim()), "COMPLETED");
    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(work.join("reports/shard-2.json")).unwrap()).unwrap();
    assert_eq!(
        report["ingest"]["indexed"], 0,
        "the task resumed from its database: nothing was indexed again"
    );
    assert_same_dataset(&single, &work.join("dataset"), shards);
}
