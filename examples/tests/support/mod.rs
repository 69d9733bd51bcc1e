//! Running the example binaries and `live-emulator` as child processes.

#![allow(dead_code)] // each test file uses part of this

pub mod agent_server;
pub mod browser;
pub mod twilio;

use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// The repository root.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("examples/ has a parent")
        .to_path_buf()
}

/// Polls `done` every 20 ms until it holds (for state with no event to wait on: a
/// server's slot count, the emulator's ledger); panics naming `what` after `within`.
pub async fn wait_until(what: &str, within: Duration, mut done: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + within;
    while !done() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out after {within:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A fresh scratch directory for one test.
pub fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("examples-test-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create scratch dir");
    dir
}

/// A command for an example binary with no credentials in its environment and `dir` as
/// its working directory.
pub fn example(exe: &str, dir: &Path) -> Command {
    let mut cmd = Command::new(exe);
    for var in [
        "GEMINI_API_KEY",
        "GOOGLE_API_KEY",
        "GOOGLE_CLOUD_PROJECT",
        "GOOGLE_CLOUD_LOCATION",
        "GOOGLE_APPLICATION_CREDENTIALS",
    ] {
        cmd.env_remove(var);
    }
    cmd.current_dir(dir);
    cmd
}

/// What a finished child printed.
#[derive(Debug)]
pub struct Run {
    /// Exit status success.
    pub success: bool,
    /// Exit code.
    pub code: Option<i32>,
    /// Stdout.
    pub stdout: String,
    /// Stderr.
    pub stderr: String,
}

impl Run {
    /// Panics with the child's output unless it exited 0.
    pub fn assert_success(&self) -> &Self {
        assert!(self.success, "expected success, got {self}");
        self
    }

    /// Panics unless it exited non-zero and stderr contains `needle`.
    pub fn assert_failure_with(&self, needle: &str) -> &Self {
        assert!(!self.success, "expected failure, got {self}");
        assert!(
            self.stderr.contains(needle),
            "stderr should contain {needle:?}; got {self}"
        );
        self
    }

    /// The line number of the first stdout line containing every one of `parts`.
    pub fn line_of(&self, parts: &[&str]) -> usize {
        self.stdout
            .lines()
            .position(|l| parts.iter().all(|p| l.contains(p)))
            .unwrap_or_else(|| panic!("no stdout line contains all of {parts:?}; got {self}"))
    }
}

impl std::fmt::Display for Run {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "exit {:?}\n--- stdout ---\n{}\n--- stderr ---\n{}",
            self.code, self.stdout, self.stderr
        )
    }
}

/// Runs `cmd` to completion with `stdin` as its input (or none), killing it after
/// `limit`.
pub fn run(mut cmd: Command, stdin: Option<&str>, limit: Duration) -> Run {
    cmd.stdin(if stdin.is_some() {
        Stdio::piped()
    } else {
        Stdio::null()
    })
    .stdout(Stdio::piped())
    .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("spawn the example");
    if let Some(input) = stdin {
        let mut pipe = child.stdin.take().expect("stdin pipe");
        // A child that failed early may have closed its stdin already.
        let _ = pipe.write_all(input.as_bytes());
        // Dropping the pipe is the end of input.
    }
    let out = wait_with_limit(child, limit);
    Run {
        success: out.status.success(),
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

fn wait_with_limit(mut child: Child, limit: Duration) -> Output {
    let mut stdout = child.stdout.take().expect("stdout pipe");
    let mut stderr = child.stderr.take().expect("stderr pipe");
    let out_reader = std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = stdout.read_to_end(&mut v);
        v
    });
    let err_reader = std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = stderr.read_to_end(&mut v);
        v
    });
    let deadline = Instant::now() + limit;
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for the example") {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let status = child.wait().expect("wait after kill");
            let stdout =
                String::from_utf8_lossy(&out_reader.join().unwrap_or_default()).into_owned();
            let stderr =
                String::from_utf8_lossy(&err_reader.join().unwrap_or_default()).into_owned();
            panic!(
                "the example ran longer than {limit:?} ({status}); stdout:\n{stdout}\nstderr:\n{stderr}"
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    Output {
        status,
        stdout: out_reader.join().unwrap_or_default(),
        stderr: err_reader.join().unwrap_or_default(),
    }
}

/// `live-emulator` (genai-wire's binary) next to the test binaries in the target dir,
/// built there with cargo first if needed (`cargo test --workspace` has built it
/// already; `cargo test -p examples` has not).
pub fn live_emulator_exe() -> &'static Path {
    static EXE: OnceLock<PathBuf> = OnceLock::new();
    EXE.get_or_init(|| {
        let test_exe = std::env::current_exe().expect("current_exe");
        // target/<profile>/deps/<test> -> target/<profile>
        let profile_dir = test_exe
            .parent()
            .and_then(Path::parent)
            .expect("test binary lives in <target>/<profile>/deps")
            .to_path_buf();
        let exe = profile_dir.join(format!("live-emulator{}", std::env::consts::EXE_SUFFIX));
        if !exe.is_file() {
            let target_dir = profile_dir.parent().expect("<target>/<profile>");
            let profile = profile_dir
                .file_name()
                .and_then(|n| n.to_str())
                .unwrap_or("debug");
            let mut build = Command::new(env!("CARGO"));
            build
                .args(["build", "-p", "genai-wire", "--bin", "live-emulator"])
                .arg("--target-dir")
                .arg(target_dir)
                .current_dir(repo_root());
            match profile {
                "debug" => {}
                "release" => {
                    build.arg("--release");
                }
                other => {
                    build.args(["--profile", other]);
                }
            }
            let status = build.status().expect("run cargo build for live-emulator");
            assert!(status.success(), "building live-emulator failed");
        }
        assert!(
            exe.is_file(),
            "live-emulator not found at {}",
            exe.display()
        );
        exe
    })
}

/// A `live-emulator` process; killed on drop.
pub struct EmulatorProcess {
    child: Child,
    /// The Developer API websocket URL it printed.
    pub ws_url: String,
}

impl EmulatorProcess {
    /// Starts `live-emulator --port 0` with `extra` arguments and reads its first stdout
    /// line (`{"event":"listening",...,"ws_url":...}`).
    pub fn start(extra: &[&str]) -> EmulatorProcess {
        let mut child = Command::new(live_emulator_exe())
            .args(["--port", "0"])
            .args(extra)
            .current_dir(repo_root())
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start live-emulator");
        let stdout = child.stdout.take().expect("emulator stdout");
        let mut line = String::new();
        BufReader::new(stdout)
            .read_line(&mut line)
            .expect("read the emulator's first line");
        let ws_url = serde_json::from_str::<serde_json::Value>(&line)
            .ok()
            .and_then(|v| v["ws_url"].as_str().map(str::to_owned))
            .unwrap_or_else(|| {
                let _ = child.kill();
                panic!("live-emulator's first line has no ws_url: {line:?}")
            });
        EmulatorProcess { child, ws_url }
    }
}

impl Drop for EmulatorProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
