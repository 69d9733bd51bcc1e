//! A real headless Chromium driven over the Chrome DevTools Protocol, for the page tests.
//!
//! CDP is JSON-RPC over one websocket (chromedevtools.github.io/devtools-protocol): the
//! browser prints `DevTools listening on ws://…` on stderr; `Target.createTarget` opens a
//! tab, `Target.attachToTarget {flatten: true}` gives a session id that later commands
//! carry; `Runtime.evaluate` reads the page; `Page.captureScreenshot` returns a PNG.
//! A dozen messages, so no CDP crate: the websocket client is the one the workspace uses.
//!
//! Flags (Debian's `chromium`, not the headless shell, which refuses getUserMedia):
//! the no-network set this machine needs (`--disable-background-networking` and
//! friends: its closed network refuses Google's hosts), and the fake microphone:
//! `--use-fake-ui-for-media-stream` (grant), `--use-fake-device-for-media-stream`,
//! `--use-file-for-fake-audio-capture=FILE.wav` (the file loops: wait on the page, not on
//! the file's end), `--autoplay-policy=no-user-gesture-required`.

#![allow(dead_code)] // each test file uses part of this

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use base64::Engine;
use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// The browser binary: `$CHROMIUM`, else the first of the usual names on `PATH`. Under CI
/// (`CI` set) a missing browser fails the test; elsewhere the test is skipped with a note.
pub fn chromium() -> Option<PathBuf> {
    let found = std::env::var_os("CHROMIUM").map(PathBuf::from).or_else(|| {
        ["chromium", "chromium-browser", "google-chrome"]
            .iter()
            .find_map(|name| {
                std::env::var_os("PATH").and_then(|path| {
                    std::env::split_paths(&path)
                        .map(|dir| dir.join(name))
                        .find(|p| p.is_file())
                })
            })
    });
    if found.is_none() {
        assert!(
            std::env::var_os("CI").is_none(),
            "no Chromium found (set CHROMIUM or apt-get install chromium); under CI the \
             browser tests cannot be skipped"
        );
        eprintln!("SKIPPED: no Chromium on this machine (apt-get install chromium)");
    }
    found
}

/// A headless Chromium with a fake microphone playing `mic_wav`.
pub struct Browser {
    child: Child,
    ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
    next_id: u64,
    profile: PathBuf,
    /// Uncaught exceptions and console errors seen so far.
    pub errors: Vec<String>,
}

/// One tab.
#[derive(Debug, Clone)]
pub struct Tab {
    session: String,
}

impl Browser {
    /// Starts the browser with its own profile directory under `scratch`.
    pub async fn launch(exe: &Path, mic_wav: &Path, scratch: &Path) -> Browser {
        let profile = scratch.join("chromium-profile");
        let _ = std::fs::remove_dir_all(&profile);
        std::fs::create_dir_all(&profile).expect("profile dir");
        let mut child = Command::new(exe)
            .args([
                "--headless=new",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--no-default-browser-check",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--disable-extensions",
                "--use-fake-ui-for-media-stream",
                "--use-fake-device-for-media-stream",
                "--autoplay-policy=no-user-gesture-required",
                "--remote-debugging-port=0",
                "--remote-allow-origins=*",
            ])
            .arg(format!(
                "--use-file-for-fake-audio-capture={}",
                mic_wav.display()
            ))
            .arg(format!("--user-data-dir={}", profile.display()))
            .arg("about:blank")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", exe.display()));
        // The DevTools address is on stderr; the rest of stderr is drained (a full pipe
        // would block the browser) and kept for a failure's message.
        let stderr = child.stderr.take().expect("piped stderr");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut tx = Some(tx);
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some(url) = line.strip_prefix("DevTools listening on ")
                    && let Some(tx) = tx.take()
                {
                    let _ = tx.send(url.trim().to_owned());
                }
            }
        });
        let url = tokio::task::spawn_blocking(move || rx.recv_timeout(Duration::from_secs(30)))
            .await
            .expect("join")
            .expect("Chromium did not print its DevTools address within 30 s");
        let (ws, _) = tokio_tungstenite::connect_async(url.as_str())
            .await
            .expect("connect to DevTools");
        Browser {
            child,
            ws,
            next_id: 1,
            profile,
            errors: Vec::new(),
        }
    }

    /// Opens `url` in a new tab.
    pub async fn open(&mut self, url: &str) -> Tab {
        let target = self
            .call("Target.createTarget", json!({"url": "about:blank"}), None)
            .await;
        let target_id = target["targetId"].as_str().expect("targetId").to_owned();
        let attached = self
            .call(
                "Target.attachToTarget",
                json!({"targetId": target_id, "flatten": true}),
                None,
            )
            .await;
        let tab = Tab {
            session: attached["sessionId"]
                .as_str()
                .expect("sessionId")
                .to_owned(),
        };
        self.call("Runtime.enable", json!({}), Some(&tab)).await;
        self.call("Page.enable", json!({}), Some(&tab)).await;
        self.call("Page.navigate", json!({"url": url}), Some(&tab))
            .await;
        tab
    }

    /// Evaluates `expression` in the tab (promises awaited) and returns its value.
    pub async fn eval(&mut self, tab: &Tab, expression: &str) -> Value {
        let r = self
            .call(
                "Runtime.evaluate",
                json!({"expression": expression, "returnByValue": true, "awaitPromise": true}),
                Some(tab),
            )
            .await;
        if let Some(e) = r.get("exceptionDetails") {
            return json!({"__exception": e.to_string()});
        }
        r["result"]["value"].clone()
    }

    /// Polls `expression` every 100 ms until it is truthy; panics after `timeout` with
    /// `what`, the page's log and its errors.
    pub async fn wait_for(
        &mut self,
        tab: &Tab,
        what: &str,
        expression: &str,
        timeout: Duration,
    ) -> Value {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let v = self.eval(tab, expression).await;
            let truthy = !matches!(v, Value::Null | Value::Bool(false))
                && v != json!(0)
                && v != json!("")
                && v.get("__exception").is_none();
            if truthy {
                return v;
            }
            if tokio::time::Instant::now() >= deadline {
                let log = self
                    .eval(tab, "document.getElementById('log').textContent")
                    .await;
                let agent = self.eval(tab, "JSON.stringify(window.agent)").await;
                panic!(
                    "timed out after {timeout:?} waiting for {what} ({expression}); last value \
                     {v}\npage log:\n{}\nwindow.agent: {}\nerrors: {:?}",
                    log.as_str().unwrap_or(""),
                    agent.as_str().unwrap_or(""),
                    self.errors
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Writes a PNG of the tab to `path`.
    pub async fn screenshot(&mut self, tab: &Tab, path: &Path) {
        let r = self
            .call(
                "Page.captureScreenshot",
                json!({"format": "png"}),
                Some(tab),
            )
            .await;
        let png = base64::engine::general_purpose::STANDARD
            .decode(r["data"].as_str().expect("screenshot data"))
            .expect("base64 png");
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).expect("screenshot dir");
        }
        std::fs::write(path, png).expect("write screenshot");
    }

    async fn call(&mut self, method: &str, params: Value, tab: Option<&Tab>) -> Value {
        let id = self.next_id;
        self.next_id += 1;
        let mut msg = json!({"id": id, "method": method, "params": params});
        if let Some(tab) = tab {
            msg["sessionId"] = json!(tab.session);
        }
        self.ws
            .send(Message::text(msg.to_string()))
            .await
            .expect("send to DevTools");
        let reply = tokio::time::timeout(Duration::from_secs(30), async {
            loop {
                let frame = self
                    .ws
                    .next()
                    .await
                    .expect("DevTools closed")
                    .expect("DevTools read");
                let Message::Text(text) = frame else { continue };
                let v: Value = serde_json::from_str(&text).expect("DevTools JSON");
                if v["id"] == json!(id) {
                    return v;
                }
                self.note_event(&v);
            }
        })
        .await
        .unwrap_or_else(|_| panic!("DevTools did not answer {method} within 30 s"));
        if let Some(e) = reply.get("error") {
            panic!("DevTools {method} failed: {e}");
        }
        reply["result"].clone()
    }

    fn note_event(&mut self, v: &Value) {
        match v["method"].as_str() {
            Some("Runtime.exceptionThrown") => self
                .errors
                .push(v["params"]["exceptionDetails"].to_string()),
            Some("Runtime.consoleAPICalled") if v["params"]["type"] == "error" => {
                self.errors.push(v["params"]["args"].to_string())
            }
            _ => {}
        }
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.profile);
    }
}
