//! Workspace hygiene: every Rust source starts with a `//!` paragraph saying its role, and
//! every crate inherits the workspace's package fields and lints.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::root;

use std::path::{Path, PathBuf};

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            if p.file_name().is_some_and(|n| n == "target" || n == "data") {
                continue;
            }
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

fn crate_dirs() -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(root().join("crates"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.join("Cargo.toml").is_file())
        .collect();
    dirs.push(root().join("xtask"));
    dirs.sort();
    dirs
}

#[test]
fn every_source_file_starts_with_a_doc_paragraph() {
    let mut files = Vec::new();
    for dir in crate_dirs() {
        rust_files(&dir, &mut files);
    }
    assert!(files.len() > 5);
    let offenders: Vec<String> = files
        .iter()
        .filter(|f| {
            let text = std::fs::read_to_string(f).unwrap();
            !text.trim_start().starts_with("//!")
        })
        .map(|f| f.strip_prefix(root()).unwrap().display().to_string())
        .collect();
    assert!(
        offenders.is_empty(),
        "files without a leading //! line: {offenders:?}"
    );
}

#[test]
fn every_crate_inherits_workspace_settings() {
    for dir in crate_dirs() {
        let manifest = std::fs::read_to_string(dir.join("Cargo.toml")).unwrap();
        let name = dir.file_name().unwrap().to_string_lossy();
        for needle in [
            "version.workspace = true",
            "edition.workspace = true",
            "[lints]\nworkspace = true",
        ] {
            assert!(
                manifest.contains(needle),
                "{name}/Cargo.toml lacks `{needle}`"
            );
        }
        if dir.join("src/main.rs").is_file() || manifest.contains("[[bin]]") {
            assert!(
                manifest.contains("publish = false"),
                "{name}: binaries are not published"
            );
        }
    }
    let root_manifest = std::fs::read_to_string(root().join("Cargo.toml")).unwrap();
    assert!(root_manifest.contains("unsafe_code = \"forbid\""));
}
