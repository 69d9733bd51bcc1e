//! Runs the `quickstart` binary, and checks that README.md shows its source verbatim.

mod support;

use std::time::Duration;

use support::{example, repo_root, run, scratch};

const EXE: &str = env!("CARGO_BIN_EXE_quickstart");

#[test]
fn quickstart_runs_against_the_local_emulator_without_credentials() {
    let dir = scratch("quickstart");
    let out = run(example(EXE, &dir), None, Duration::from_secs(60));
    out.assert_success();
    let started = out.line_of(&["[search] started", "query"]);
    let acked = out.line_of(&["[search] acked"]);
    let progress = out.line_of(&["[search] progress", "50"]);
    let completed = out.line_of(&["[search] completed", "sunny, 24 °C"]);
    assert!(
        started < acked && acked < progress && progress < completed,
        "lifecycle out of order: {out}"
    );
    // The program stops after the turn that voices the result.
    let last = out.stdout.lines().last().unwrap_or_default();
    assert!(
        out.stdout.lines().count() > completed + 1 && last.starts_with("model: ") && last.len() > 8,
        "no model turn after the result: {out}"
    );
}

#[test]
fn readme_shows_the_quickstart_source_verbatim() {
    let root = repo_root();
    let source = std::fs::read_to_string(root.join("examples/src/bin/quickstart.rs")).unwrap();
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    let block = format!("```rust,no_run\n{}```\n", source);
    assert!(
        readme.contains(&block),
        "README.md must contain examples/src/bin/quickstart.rs verbatim in a ```rust,no_run block"
    );
}
