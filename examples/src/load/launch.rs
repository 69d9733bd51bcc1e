//! Starting the emulator as a child process and reading its first stdout line.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use serde::Deserialize;

/// The multi-thread runtime of a harness binary: `threads` workers and tokio's
/// `event_interval` (0 for tokio's default of each).
pub fn runtime(threads: usize, event_interval: u32) -> std::io::Result<tokio::runtime::Runtime> {
    let mut rt = tokio::runtime::Builder::new_multi_thread();
    rt.enable_all();
    if threads > 0 {
        rt.worker_threads(threads);
    }
    if event_interval > 0 {
        rt.event_interval(event_interval);
    }
    rt.build()
}

/// The emulator's `{"event":"listening",...}` line.
#[derive(Debug, Clone, Deserialize)]
pub struct Listening {
    /// The Developer API websocket URL.
    pub ws_url: String,
    /// `http(s)://host:port` (what an SDK takes as `base_url`).
    pub base_url: String,
    /// The CA certificate to trust (TLS only).
    #[serde(default)]
    pub cert_path: Option<String>,
    /// The control port (`loadtest emulator` only).
    #[serde(default)]
    pub control: Option<String>,
}

/// A running emulator process; killed when dropped.
#[derive(Debug)]
pub struct EmulatorProcess {
    child: Child,
    _stdin: Option<ChildStdin>,
    /// What it printed first.
    pub listening: Listening,
}

impl EmulatorProcess {
    /// Starts `program args...` and waits (up to 60 s) for its listening line. Its logs
    /// go to our stderr at `warn` level unless `RUST_LOG` says otherwise.
    pub fn start(program: &Path, args: &[String]) -> Result<EmulatorProcess, String> {
        let mut cmd = Command::new(program);
        cmd.args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        if std::env::var_os("RUST_LOG").is_none() {
            cmd.env("RUST_LOG", "warn");
        }
        let mut child = cmd
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", program.display()))?;
        let stdout = child.stdout.take().expect("piped");
        let stdin = child.stdin.take();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut lines = BufReader::new(stdout).lines();
            let first = lines.next();
            let _ = tx.send(first);
            // Keep draining so the child never blocks on a full pipe.
            for _ in lines {}
        });
        let first = match rx.recv_timeout(Duration::from_secs(60)) {
            Ok(Some(Ok(line))) => line,
            Ok(_) | Err(_) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!(
                    "{} printed no listening line (see its stderr above)",
                    program.display()
                ));
            }
        };
        let listening: Listening = serde_json::from_str(&first).map_err(|e| {
            let _ = child.kill();
            format!("unexpected first line from the emulator ({e}): {first}")
        })?;
        Ok(EmulatorProcess {
            child,
            _stdin: stdin,
            listening,
        })
    }

    /// Its process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for EmulatorProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
