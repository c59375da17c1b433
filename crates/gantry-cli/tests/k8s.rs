//! The Kubernetes manifests of `deploy/k8s`: each Indexed Job's pods run as a kubelet
//! would run them (the container's command and script, its environment, one pod per
//! completion index with `JOB_COMPLETION_INDEX` set, the mounts mapped to folders here),
//! and the merged dataset must equal a single run's, file for file. No cluster is needed:
//! what is tested is that the manifests are one partition and that what their pods run
//! works; Kubernetes itself only schedules them.

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use serde_yaml::Value;

const GANTRY: &str = env!("CARGO_BIN_EXE_gantry");

fn manifest(name: &str) -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../deploy/k8s")
        .join(name);
    serde_yaml::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap()
}

/// A Job's one container: its command line (command, then args) and environment.
fn container(job: &Value) -> (Vec<String>, BTreeMap<String, String>) {
    let containers = job["spec"]["template"]["spec"]["containers"]
        .as_sequence()
        .unwrap();
    assert_eq!(containers.len(), 1);
    let c = &containers[0];
    let mut line: Vec<String> = c["command"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect();
    line.extend(
        c["args"]
            .as_sequence()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap().to_string()),
    );
    let env = c["env"]
        .as_sequence()
        .map(|vars| {
            vars.iter()
                .map(|v| {
                    (
                        v["name"].as_str().unwrap().to_string(),
                        v["value"].as_str().unwrap().to_string(),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    (line, env)
}

/// Runs one pod of `job`: its command with its environment, the mounts given by `mounts`
/// (container path, folder here), and `gantry` on the PATH. Returns its exit status.
fn run_pod(job: &Value, index: Option<u64>, mounts: &[(&str, &Path)]) -> bool {
    let (line, env) = container(job);
    let mut command = Command::new(&line[0]);
    command.args(&line[1..]);
    for (name, value) in env {
        let mapped = mounts
            .iter()
            .find_map(|(from, to)| {
                value
                    .strip_prefix(from)
                    .map(|rest| format!("{}{rest}", to.display()))
            })
            .unwrap_or(value);
        command.env(name, mapped);
    }
    if let Some(index) = index {
        command.env("JOB_COMPLETION_INDEX", index.to_string());
    }
    let bin = Path::new(GANTRY).parent().unwrap();
    command.env(
        "PATH",
        format!(
            "{}:{}",
            bin.display(),
            std::env::var("PATH").unwrap_or_default()
        ),
    );
    let output = command.output().unwrap();
    if !output.status.success() {
        eprintln!(
            "pod {index:?} failed: {}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }
    output.status.success()
}

#[test]
fn the_indexed_jobs_are_one_partition_and_their_pods_merge_into_a_single_runs_dataset() {
    let identities = manifest("gantry-identities.yaml");
    let shards = manifest("gantry-shards.yaml");
    let merge = manifest("gantry-merge.yaml");
    let mut count = None;
    for job in [&identities, &shards] {
        assert_eq!(job["kind"].as_str(), Some("Job"));
        assert_eq!(job["spec"]["completionMode"].as_str(), Some("Indexed"));
        let completions = job["spec"]["completions"].as_u64().unwrap();
        let (_, env) = container(job);
        assert_eq!(
            env["GANTRY_SHARDS"].parse::<u64>().unwrap(),
            completions,
            "one pod per shard"
        );
        assert!(job["spec"]["backoffLimitPerIndex"].as_u64().unwrap() >= 1);
        assert_eq!(*count.get_or_insert(completions), completions, "the same N");
    }
    let count = count.unwrap();

    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    let (input, config_dir, secret_dir, work) = (
        dir.join("input"),
        dir.join("config"),
        dir.join("secret"),
        dir.join("work"),
    );
    let rules = dir.join("rules.yaml");
    let synth = Command::new(GANTRY)
        .args(["--quiet", "synth"])
        .arg(&input)
        .args(["--patients", "8", "--rules"])
        .arg(&rules)
        .output()
        .unwrap();
    assert!(synth.status.success());
    std::fs::create_dir_all(&config_dir).unwrap();
    std::fs::write(
        config_dir.join("config.yaml"),
        format!(
            "version: \"2.0\"\nprivacy_profile: basic\n{}",
            std::fs::read_to_string(&rules).unwrap()
        ),
    )
    .unwrap();
    std::fs::create_dir_all(&secret_dir).unwrap();
    std::fs::write(secret_dir.join("secret.hex"), "ab".repeat(32)).unwrap();
    std::fs::create_dir_all(&work).unwrap();
    // The optional key Secret is given: the shards seal for it.
    let key_dir = dir.join("key");
    std::fs::create_dir_all(&key_dir).unwrap();
    let keygen = Command::new(GANTRY)
        .arg("keygen")
        .arg(key_dir.join("master.key"))
        .output()
        .unwrap();
    assert!(keygen.status.success());
    let mounts: [(&str, &Path); 5] = [
        ("/input", &input),
        ("/config", &config_dir),
        ("/secret", &secret_dir),
        ("/work", &work),
        ("/key", &key_dir),
    ];
    for index in 0..count {
        assert!(run_pod(&identities, Some(index), &mounts));
    }
    for index in 0..count {
        assert!(run_pod(&shards, Some(index), &mounts));
    }
    assert!(run_pod(&merge, None, &mounts));

    let single = dir.join("single");
    let status = Command::new(GANTRY)
        .arg("--quiet")
        .arg("--db")
        .arg(dir.join("single.db"))
        .arg("--secret-file")
        .arg(secret_dir.join("secret.hex"))
        .arg("run")
        .arg(&input)
        .arg("--config")
        .arg(config_dir.join("config.yaml"))
        .arg("--out")
        .arg(&single)
        .arg("--key")
        .arg(key_dir.join("master.key"))
        .output()
        .unwrap();
    assert!(status.status.success());
    common::assert_same_sealed_dataset(&single, &work.join("dataset"));
    // Every merged file carries its originals, sealed for the key.
    let recover = Command::new(GANTRY)
        .args(["--quiet", "--json", "recover", "--key"])
        .arg(key_dir.join("master.key"))
        .arg(work.join("dataset"))
        .output()
        .unwrap();
    assert!(recover.status.success());
    let report: serde_json::Value = serde_json::from_slice(&recover.stdout).unwrap();
    assert_eq!(
        report["recovered"].as_array().map(Vec::len),
        Some(common::files_under(&single).len() - 3),
        "all but the manifests and dataset.json"
    );
}
