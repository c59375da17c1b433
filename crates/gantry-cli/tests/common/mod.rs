//! What the suites that run sharded runs share: comparing a merged dataset with a single
//! run's.

#![allow(dead_code)] // each suite uses part of this

use std::path::{Path, PathBuf};

/// Every file under `root`, relative to it, in path order.
pub fn files_under(root: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else {
                out.push(path.strip_prefix(root).unwrap().to_path_buf());
            }
        }
    }
    out.sort();
    out
}

/// The merged dataset in `merged` equals the single run's in `single`: the same files with
/// the same bytes, and descriptions that differ only in how many shards were merged.
pub fn assert_same_dataset(single: &Path, merged: &Path, shards: u64) {
    let files = files_under(single);
    assert_eq!(files, files_under(merged));
    assert!(files.len() > 50, "{} files", files.len());
    for file in &files {
        let (a, b) = (
            std::fs::read(single.join(file)).unwrap(),
            std::fs::read(merged.join(file)).unwrap(),
        );
        if file == Path::new("dataset.json") {
            let mut a: serde_json::Value = serde_json::from_slice(&a).unwrap();
            let mut b: serde_json::Value = serde_json::from_slice(&b).unwrap();
            assert_eq!(b["shards"], shards);
            a["shards"] = 0.into();
            b["shards"] = 0.into();
            assert_eq!(a, b);
        } else {
            assert!(a == b, "{} differs", file.display());
        }
    }
}

/// [`assert_same_dataset`] for sealed runs, whose sealed originals are encrypted with
/// random keys: the same files and the same manifest but for each file's digest and size.
pub fn assert_same_sealed_dataset(single: &Path, merged: &Path) {
    let files = files_under(single);
    assert_eq!(files, files_under(merged));
    assert!(files.len() > 50, "{} files", files.len());
    let rows = |root: &Path| -> Vec<String> {
        std::fs::read_to_string(root.join("manifest.csv"))
            .unwrap()
            .lines()
            .map(|line| {
                // path, sop_instance_uid, sha256, size, safe, pixels, waived: all but the
                // digest and the size.
                let fields: Vec<&str> = line.splitn(5, ',').collect();
                format!("{},{},{}", fields[0], fields[1], fields[4])
            })
            .collect()
    };
    assert_eq!(rows(single), rows(merged));
}
