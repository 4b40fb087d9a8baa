//! The repository's test data is what `scripts/testdata/extract.py` extracted from the upstream
//! documents: every file under a `testdata/` folder is listed in
//! `scripts/testdata/testdata.lock.json` with its sha256, and none was edited by hand or added
//! beside the extraction. Needs neither MariaDB nor the broker (part of `make test-fast`).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use serde_json::Value;
use sha2::{Digest, Sha256};

fn repository() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the workspace root")
        .to_path_buf()
}

fn hex_sha256(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Every file below a folder named `testdata`, outside build output and the extractor's own folder.
fn testdata_files(root: &Path) -> BTreeSet<String> {
    const SKIP: [&str; 4] = ["target", ".git", ".stack", "node_modules"];
    let mut found = BTreeSet::new();
    let mut stack = vec![(root.to_path_buf(), false)];
    while let Some((dir, inside)) = stack.pop() {
        for entry in std::fs::read_dir(&dir).expect("readable folder") {
            let path = entry.expect("folder entry").path();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            let relative = path
                .strip_prefix(root)
                .unwrap()
                .to_string_lossy()
                .into_owned();
            if path.is_dir() {
                let skip = SKIP.contains(&name.as_str()) || relative == "scripts/testdata";
                if !skip {
                    stack.push((path, inside || name == "testdata"));
                }
            } else if inside {
                found.insert(relative);
            }
        }
    }
    found
}

#[test]
fn testdata_matches_its_extraction_lock() {
    let root = repository();
    let lock_path = root.join("scripts/testdata/testdata.lock.json");
    let lock: Value =
        serde_json::from_str(&std::fs::read_to_string(&lock_path).expect("the lock file"))
            .expect("lock JSON");
    let listed = lock["files"].as_object().expect("files");
    assert!(listed.len() >= 40, "only {} files listed", listed.len());
    let mut problems = Vec::new();
    for (path, entry) in listed {
        match std::fs::read(root.join(path)) {
            Err(e) => problems.push(format!("{path}: {e}")),
            Ok(bytes) if hex_sha256(&bytes) != entry["sha256"].as_str().unwrap_or("") => {
                problems.push(format!("{path}: changed by hand (re-run extract.py fetch)"));
            }
            Ok(_) => {}
        }
    }
    for path in testdata_files(&root) {
        if !listed.contains_key(&path) {
            problems.push(format!(
                "{path}: not written by scripts/testdata/extract.py"
            ));
        }
    }
    assert!(
        problems.is_empty(),
        "test data out of step:\n{}",
        problems.join("\n")
    );
}

#[test]
fn every_source_names_its_origin_and_checksum() {
    let lock: Value = serde_json::from_str(
        &std::fs::read_to_string(repository().join("scripts/testdata/testdata.lock.json"))
            .expect("the lock file"),
    )
    .expect("lock JSON");
    for (id, source) in lock["sources"].as_object().expect("sources") {
        let named = match source["kind"].as_str() {
            Some("npm") => source["package"].is_string() && source["version"].is_string(),
            Some("file") => source["origin"].is_string(),
            other => panic!("{id}: unknown kind {other:?}"),
        };
        assert!(named, "{id}: no name and version/origin");
        assert!(source["sha256"].is_string(), "{id}: no sha256");
        assert!(source["licence"].is_string(), "{id}: no licence");
    }
}
