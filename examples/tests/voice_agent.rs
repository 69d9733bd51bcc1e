//! Runs the `voice_agent` binary: against the embedded emulator, against `live-emulator`
//! in another process through `--endpoint`, and with bad input.
//!
//! A full run streams ~8 s of audio in real time; the test harness runs these tests on
//! parallel threads, so the suite takes about as long as one run.

mod support;

use std::path::Path;
use std::time::Duration;

use support::{EmulatorProcess, Run, example, run, scratch};

const EXE: &str = env!("CARGO_BIN_EXE_voice_agent");
const FULL_RUN: Duration = Duration::from_secs(120);
const QUICK_RUN: Duration = Duration::from_secs(30);
const SCENARIO: &str = "fixtures/scenarios/voice_agent.json";

/// The transcript and the search tool's lifecycle, in order.
fn assert_conversation(out: &Run) {
    let heard = out.line_of(&["you   :", "search for flights"]);
    let started = out.line_of(&["tool ▸ search started (background)"]);
    let acked = out.line_of(&["tool ✓ search acked"]);
    let progress = out.line_of(&["tool … search progress", "querying providers"]);
    let last_progress = out.line_of(&["tool … search progress", "ranking results"]);
    let completed = out.line_of(&["tool ✔ search completed in"]);
    let voiced = out.line_of(&["model :", "the search came back"]);
    let done = out.line_of(&["all tools finished and their results were voiced"]);
    assert!(
        heard < started
            && started < acked
            && acked < progress
            && progress < last_progress
            && last_progress < completed
            && completed < voiced
            && voiced < done,
        "lifecycle out of order: {out}"
    );
    out.line_of(&["tool ▸ get_weather started (standard)", "Lisbon"]);
    out.line_of(&["tool ✔ get_weather completed"]);
    out.line_of(&["model :", "22 degrees and sunny"]);
    out.line_of(&[
        "reply audio",
        "tool acks 1, progress 3, results 2, cancellations 0",
    ]);
}

/// The reply WAV: 24 kHz mono 16-bit, a few seconds long, and not silent.
fn assert_reply_wav(path: &Path) {
    let mut reader = hound::WavReader::open(path)
        .unwrap_or_else(|e| panic!("{} is not a readable WAV: {e}", path.display()));
    let spec = reader.spec();
    assert_eq!(spec.sample_rate, 24_000, "{spec:?}");
    assert_eq!(spec.channels, 1, "{spec:?}");
    assert_eq!(spec.bits_per_sample, 16, "{spec:?}");
    let samples: Vec<i16> = reader
        .samples::<i16>()
        .collect::<Result<_, _>>()
        .expect("samples decode");
    let seconds = samples.len() as f64 / 24_000.0;
    assert!(seconds > 2.0, "only {seconds:.2} s of reply audio");
    let peak = samples.iter().map(|s| s.unsigned_abs()).max().unwrap_or(0);
    let rms =
        (samples.iter().map(|&s| (s as f64).powi(2)).sum::<f64>() / samples.len() as f64).sqrt();
    assert!(peak > 3_000, "reply audio is (nearly) silent: peak {peak}");
    assert!(rms > 300.0, "reply audio is (nearly) silent: rms {rms:.1}");
}

#[test]
fn embedded_emulator_run_prints_transcript_and_tool_lifecycle_and_writes_24k_wav() {
    let dir = scratch("voice-embedded");
    let wav = dir.join("reply.wav");
    let mut cmd = example(EXE, &dir);
    cmd.arg("--output").arg(&wav);
    let out = run(cmd, None, FULL_RUN);
    out.assert_success();
    out.line_of(&["connecting to embedded emulator (no credentials set)"]);
    assert_conversation(&out);
    assert_reply_wav(&wav);
}

#[test]
fn endpoint_flag_talks_to_live_emulator_in_another_process() {
    let emulator = EmulatorProcess::start(&["--scenario", SCENARIO, "--api-key", "right-key"]);
    let dir = scratch("voice-endpoint");
    let wav = dir.join("reply.wav");
    let mut cmd = example(EXE, &dir);
    cmd.env("GEMINI_API_KEY", "right-key")
        .arg("--endpoint")
        .arg(&emulator.ws_url)
        .arg("--output")
        .arg(&wav);
    let out = run(cmd, None, FULL_RUN);
    out.assert_success();
    out.line_of(&["connecting to endpoint", &emulator.ws_url]);
    assert_conversation(&out);
    assert_reply_wav(&wav);
}

#[test]
fn wrong_api_key_fails_with_the_servers_1007_reason() {
    let emulator = EmulatorProcess::start(&["--scenario", SCENARIO, "--api-key", "right-key"]);
    let dir = scratch("voice-bad-key");
    let mut cmd = example(EXE, &dir);
    cmd.env("GEMINI_API_KEY", "wrong-key")
        .arg("--endpoint")
        .arg(&emulator.ws_url);
    let out = run(cmd, None, QUICK_RUN);
    out.assert_failure_with("1007")
        .assert_failure_with("API key not valid");
    assert!(
        !out.stdout.contains("wrong-key") && !out.stderr.contains("wrong-key"),
        "the key leaked into the output: {out}"
    );
    assert!(!dir.join("voice_agent_reply.wav").exists());
}

#[test]
fn unreachable_endpoint_fails_clearly() {
    let dir = scratch("voice-unreachable");
    let mut cmd = example(EXE, &dir);
    cmd.args(["--endpoint", "ws://127.0.0.1:1"]);
    example_fails(cmd, &["voice_agent: cannot connect", "refused"]);
}

#[test]
fn missing_input_file_fails_clearly() {
    let dir = scratch("voice-missing");
    let mut cmd = example(EXE, &dir);
    cmd.args(["--input", "no/such/prompt.wav"]);
    example_fails(cmd, &["voice_agent: no/such/prompt.wav: no such file"]);
}

#[test]
fn non_wav_input_fails_clearly() {
    let dir = scratch("voice-not-wav");
    let bogus = dir.join("prompt.wav");
    std::fs::write(&bogus, "this is not audio\n").unwrap();
    let mut cmd = example(EXE, &dir);
    cmd.arg("--input").arg(&bogus);
    example_fails(cmd, &["prompt.wav: not a WAV file"]);
}

fn example_fails(cmd: std::process::Command, needles: &[&str]) {
    let out = run(cmd, None, QUICK_RUN);
    for needle in needles {
        out.assert_failure_with(needle);
    }
    assert_eq!(out.code, Some(1), "{out}");
}

/// `--mic` and `--speaker` fail before connecting when they cannot work: without the
/// `sound` feature (how CI builds it) with instructions, with it and no sound device
/// (as here) with the device error. On a machine with devices they work, which a test
/// cannot check; there `--timeout 1` keeps the run short.
#[test]
fn mic_and_speaker_fail_clearly_without_the_feature_or_a_device() {
    for (flag, device) in [("--mic", "microphone"), ("--speaker", "speaker")] {
        let dir = scratch(&format!("voice-{}", &flag[2..]));
        let mut cmd = example(EXE, &dir);
        cmd.args([flag, "--timeout", "1", "--endpoint", "ws://127.0.0.1:1"]);
        let out = run(cmd, None, QUICK_RUN);
        if cfg!(feature = "sound") {
            if !out.success && out.stderr.contains("cannot connect") {
                continue; // a real device opened; the bogus endpoint ended the run
            }
            out.assert_failure_with(&format!("voice_agent: no usable {device}"));
        } else {
            out.assert_failure_with("need the `sound` feature")
                .assert_failure_with("--features sound");
        }
        assert!(!out.stdout.contains("connecting to"), "{out}");
    }
}
