//! Runs the `text_agent` binary with lines on stdin.

mod support;

use std::time::Duration;

use support::{EmulatorProcess, example, run, scratch};

const EXE: &str = env!("CARGO_BIN_EXE_text_agent");
const LIMIT: Duration = Duration::from_secs(60);

#[test]
fn piped_lines_run_both_tools_and_exit_after_the_last_result_is_voiced() {
    let dir = scratch("text-embedded");
    // Slow stages leave seconds for the second line to be asked while the search runs.
    let mut cmd = example(EXE, &dir);
    cmd.args(["--search-stage-ms", "1500"]);
    let out = run(cmd, Some("search flights\nwhat's the weather\n"), LIMIT);
    out.assert_success();
    out.line_of(&["connecting to embedded emulator (no credentials set)"]);
    let asked = out.line_of(&["you   : search flights"]);
    let started = out.line_of(&["tool ▸ search started (background)"]);
    let acked = out.line_of(&["tool ✓ search acked"]);
    let progress = out.line_of(&["tool … search progress", "querying providers"]);
    let last_progress = out.line_of(&["tool … search progress", "ranking results"]);
    let completed = out.line_of(&["tool ✔ search completed in"]);
    let voiced = out.line_of(&["model :", "The search finished"]);
    let end = out.line_of(&["end of input: no tool running and the last turn completed"]);
    assert!(
        asked < started
            && started < acked
            && acked < progress
            && progress < last_progress
            && last_progress < completed
            && completed < voiced
            && voiced < end,
        "search lifecycle out of order: {out}"
    );
    // The second line waits for the model's answer to the first, then asks while the
    // search still runs.
    let answered = out.line_of(&["model : Searching in the background"]);
    let weather = out.line_of(&["you   : what's the weather"]);
    let weather_started = out.line_of(&["tool ▸ get_weather started (standard)"]);
    let weather_done = out.line_of(&["tool ✔ get_weather completed"]);
    let weather_said = out.line_of(&["model :", "22 degrees and sunny"]);
    assert!(
        answered < weather
            && weather < weather_started
            && weather_started < weather_done
            && weather_done < weather_said
            && weather < completed,
        "weather turn out of order: {out}"
    );
    out.line_of(&["disconnected (tool acks 1, progress 3, results 2, cancellations 0)"]);
    assert!(!out.stdout.contains("cancelled"), "{out}");
    // Each tool says its own result: the weather is not "three direct flights".
    assert!(
        !out.stdout
            .lines()
            .any(|l| l.contains("get_weather") && l.contains("flights")),
        "{out}"
    );
}

#[test]
fn empty_input_exits_at_once() {
    let dir = scratch("text-empty");
    let out = run(example(EXE, &dir), Some(""), LIMIT);
    out.assert_success();
    out.line_of(&["end of input: nothing was sent"]);
}

#[test]
fn endpoint_flag_talks_to_live_emulator_in_another_process() {
    let emulator = EmulatorProcess::start(&["--scenario", "fixtures/scenarios/text_agent.json"]);
    let dir = scratch("text-endpoint");
    let mut cmd = example(EXE, &dir);
    cmd.arg("--endpoint").arg(&emulator.ws_url);
    let out = run(cmd, Some("find me a flight\n"), LIMIT);
    out.assert_success();
    out.line_of(&["connecting to endpoint", &emulator.ws_url]);
    out.line_of(&["tool ✔ search completed in"]);
    out.line_of(&["model :", "The search finished"]);
    out.line_of(&["end of input: no tool running and the last turn completed"]);
}

#[test]
fn unreachable_endpoint_fails_clearly() {
    let dir = scratch("text-unreachable");
    let mut cmd = example(EXE, &dir);
    cmd.args(["--endpoint", "ws://127.0.0.1:1"]);
    let out = run(cmd, Some("hello\n"), LIMIT);
    out.assert_failure_with("text_agent: cannot connect");
    assert_eq!(out.code, Some(1), "{out}");
}
