//! The table of sessions and the per-session shared state that tests observe and
//! control: recording, violations, connections, the function-call ledger, the parked
//! conversation of a detached session and its checkpoints, and the command channel into
//! the connection task. Tests see a session through `session_handle`.
//!
//! Locking: the registry's map is touched only when a connection starts, resumes or
//! ends, and when a test lists sessions. Everything per message goes through the
//! session's own mutex, which only its connection task and an observing test ever take,
//! so there is no global lock on the hot path.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::sync::{mpsc, watch};
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Bytes;

use super::engine::Engine;
use super::ledger::{Ledger, Note};
use super::record::{
    CloseRecord, ConnectionRecord, Direction, Fault, FaultRecord, Frame, RecordMode, Violation,
    ViolationKind,
};
use super::resume::{self, Checkpoints};
use super::session_handle::SessionId;
use crate::Backend;

/// A command from the control handle to a connection task.
#[derive(Debug)]
pub(crate) enum Command {
    Drop,
    Close(u16, String),
    StallPongs(Duration),
    StopReading,
    GoAway(Duration),
    Inject { bytes: Bytes, text: bool },
}

#[derive(Default)]
pub(crate) struct Rec {
    pub frames: Vec<Frame>,
    pub violations: Vec<Violation>,
    pub conns: Vec<ConnectionRecord>,
    pub ledger: Ledger,
    pub cmd: Option<mpsc::UnboundedSender<Command>>,
}

#[derive(Default)]
pub(crate) struct Park {
    pub attached: bool,
    /// The latest conversation, parked while no connection holds it.
    pub engine: Option<Box<Engine>>,
    /// The conversations the newest handles resume (checkpoint mode).
    pub checkpoints: Checkpoints,
    pub detached_at: Option<Instant>,
    pub finished: bool,
}

/// Shared state of one logical session.
pub(crate) struct SessionShared {
    pub id: SessionId,
    pub order: u64,
    pub started: Instant,
    pub mode: RecordMode,
    pub secret: u64,
    pub handle_seq: AtomicU64,
    pub handles_valid_from: AtomicU64,
    pub backend: Mutex<Backend>,
    rec: Mutex<Rec>,
    pub park: Mutex<Park>,
    version: watch::Sender<u64>,
}

pub(super) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl SessionShared {
    pub fn new(
        id: Arc<str>,
        order: u64,
        mode: RecordMode,
        secret: u64,
        backend: Backend,
        checkpoints_kept: usize,
    ) -> Self {
        SessionShared {
            id: SessionId(id),
            order,
            started: Instant::now(),
            mode,
            secret,
            handle_seq: AtomicU64::new(0),
            handles_valid_from: AtomicU64::new(1),
            backend: Mutex::new(backend),
            rec: Mutex::new(Rec::default()),
            park: Mutex::new(Park {
                checkpoints: Checkpoints::new(checkpoints_kept),
                ..Park::default()
            }),
            version: watch::channel(0).0,
        }
    }

    pub fn rec(&self) -> MutexGuard<'_, Rec> {
        lock(&self.rec)
    }

    fn bump(&self) {
        self.version.send_modify(|v| *v += 1);
    }

    /// Changes whenever something is recorded in this session.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.version.subscribe()
    }

    pub fn elapsed(&self) -> Duration {
        Instant::now().saturating_duration_since(self.started)
    }

    /// Records a frame (no-op under `RecordMode::Off`).
    pub fn record(&self, conn: u32, dir: Direction, kind: &'static str, raw: &Bytes, binary: bool) {
        if self.mode == RecordMode::Off {
            return;
        }
        let frame = Frame {
            conn,
            dir,
            at: self.elapsed(),
            kind,
            len: raw.len(),
            binary,
            raw: if self.mode == RecordMode::Full {
                raw.clone()
            } else {
                Bytes::new()
            },
        };
        self.rec().frames.push(frame);
        self.bump();
    }

    pub fn violation(&self, conn: u32, kind: ViolationKind, detail: String) {
        tracing::debug!(session = %self.id, ?kind, %detail, "protocol violation");
        self.rec().violations.push(Violation {
            conn,
            at: self.elapsed(),
            kind,
            detail,
        });
        self.bump();
    }

    pub fn open_conn(&self, path: String, api_version: String, resumed: bool) -> u32 {
        let mut r = self.rec();
        let index = r.conns.len() as u32;
        r.conns.push(ConnectionRecord {
            index,
            path,
            api_version,
            opened_at: self.elapsed(),
            closed: None,
            resumed,
            faults: Vec::new(),
        });
        drop(r);
        self.bump();
        index
    }

    pub fn close_conn(&self, conn: u32, close: CloseRecord) {
        let mut r = self.rec();
        if let Some(c) = r.conns.get_mut(conn as usize)
            && c.closed.is_none()
        {
            c.closed = Some(close);
        }
        drop(r);
        self.bump();
    }

    /// Records a fault on connection `conn`.
    pub fn fault(&self, conn: u32, fault: Fault) {
        let at = self.elapsed();
        if let Some(c) = self.rec().conns.get_mut(conn as usize) {
            c.faults.push(FaultRecord { at, fault });
        }
        self.bump();
    }

    /// Enters what the engine did with a call or response in the ledger.
    pub fn note(&self, conn: u32, note: Note) {
        let at = self.elapsed();
        let seq = self.handle_seq.load(Ordering::Relaxed);
        self.rec().ledger.enter(conn, at, seq, note);
        self.bump();
    }

    /// This session's calls whose id `text` contains: (id, name).
    pub fn calls_in(&self, text: &str) -> Vec<(String, String)> {
        self.rec().ledger.calls_in(text)
    }

    /// Records a client text as the conversation result of each of `calls`.
    pub fn note_conversation(
        &self,
        conn: u32,
        via: &'static str,
        text: &str,
        calls: &[(String, String)],
    ) {
        let at = self.elapsed();
        self.rec().ledger.conversation(conn, at, via, text, calls);
        self.bump();
    }

    pub fn set_cmd(&self, tx: Option<mpsc::UnboundedSender<Command>>) {
        self.rec().cmd = tx;
    }

    pub fn send(&self, cmd: Command) -> bool {
        match &self.rec().cmd {
            Some(tx) => tx.send(cmd).is_ok(),
            None => false,
        }
    }

    /// Mints the next resumption handle: its sequence number and text.
    pub fn mint_handle(&self) -> (u64, String) {
        let seq = self.handle_seq.fetch_add(1, Ordering::Relaxed) + 1;
        (seq, resume::encode(&self.id.0, seq, self.secret))
    }

    /// Moves the recording of a provisional session (a connection that resumed this
    /// one) into this session, as connection `conn`.
    pub fn absorb(&self, other: &SessionShared) -> u32 {
        let offset = other.started.saturating_duration_since(self.started);
        let mut theirs = std::mem::take(&mut *other.rec());
        let mut mine = self.rec();
        let conn = mine.conns.len() as u32;
        for mut c in theirs.conns.drain(..) {
            c.index = conn;
            c.opened_at += offset;
            c.resumed = true;
            mine.conns.push(c);
        }
        for mut f in theirs.frames.drain(..) {
            f.conn = conn;
            f.at += offset;
            mine.frames.push(f);
        }
        for mut v in theirs.violations.drain(..) {
            v.conn = conn;
            v.at += offset;
            mine.violations.push(v);
        }
        for mut c in theirs.ledger.issued.drain(..) {
            (c.conn, c.at) = (conn, c.at + offset);
            mine.ledger.issued.push(c);
        }
        for mut r in theirs.ledger.accepted.drain(..) {
            (r.conn, r.at) = (conn, r.at + offset);
            mine.ledger.accepted.push(r);
        }
        for mut r in theirs.ledger.ignored.drain(..) {
            (r.conn, r.at) = (conn, r.at + offset);
            mine.ledger.ignored.push(r);
        }
        for mut r in theirs.ledger.conversation.drain(..) {
            (r.conn, r.at) = (conn, r.at + offset);
            mine.ledger.conversation.push(r);
        }
        drop(mine);
        self.bump();
        conn
    }
}

/// The sessions of one emulator.
pub(crate) struct Registry {
    map: Mutex<HashMap<Arc<str>, Arc<SessionShared>>>,
    next: AtomicU64,
    version: watch::Sender<u64>,
}

impl Default for Registry {
    fn default() -> Self {
        Registry {
            map: Mutex::new(HashMap::new()),
            next: AtomicU64::new(0),
            version: watch::channel(0).0,
        }
    }
}

impl Registry {
    pub fn create(
        &self,
        id: Arc<str>,
        mode: RecordMode,
        secret: u64,
        backend: Backend,
        checkpoints_kept: usize,
    ) -> Arc<SessionShared> {
        let order = self.next.fetch_add(1, Ordering::Relaxed);
        let s = Arc::new(SessionShared::new(
            id.clone(),
            order,
            mode,
            secret,
            backend,
            checkpoints_kept,
        ));
        lock(&self.map).insert(id, s.clone());
        self.version.send_modify(|v| *v += 1);
        s
    }

    pub fn get(&self, id: &str) -> Option<Arc<SessionShared>> {
        lock(&self.map).get(id).cloned()
    }

    pub fn remove(&self, id: &str) {
        lock(&self.map).remove(id);
        self.version.send_modify(|v| *v += 1);
    }

    pub fn changed(&self) {
        self.version.send_modify(|v| *v += 1);
    }

    pub fn all(&self) -> Vec<Arc<SessionShared>> {
        let mut v: Vec<_> = lock(&self.map).values().cloned().collect();
        v.sort_by_key(|s| s.order);
        v
    }

    /// The name of the call any session issued with this id (locks one session at a
    /// time; only for client texts that carry an id-shaped token).
    pub fn call_name(&self, id: &str) -> Option<String> {
        self.all()
            .iter()
            .find_map(|s| s.rec().ledger.name_of(id).map(str::to_string))
    }

    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.version.subscribe()
    }

    /// Forgets sessions whose connections have all ended (and which can no longer be
    /// resumed, or all of them when `all` is set).
    pub fn prune(&self, ttl: Duration, all: bool) {
        let now = Instant::now();
        lock(&self.map).retain(|_, s| {
            let park = lock(&s.park);
            if park.attached {
                return true;
            }
            if all {
                return false;
            }
            match park.detached_at {
                Some(t) => park.engine.is_some() && now.saturating_duration_since(t) < ttl,
                None => true,
            }
        });
        self.version.send_modify(|v| *v += 1);
    }
}
