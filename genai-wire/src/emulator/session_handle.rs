//! A session as tests see it ([`SessionHandle`]): its recording, its violations, the
//! function-call ledger, awaitable helpers and fault injection, over the per-session
//! state the registry keeps (`registry`).

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Bytes;

use super::ledger::{AcceptedResponse, ConversationResult, IgnoredResponse, IssuedCall};
use super::record::{CloseRecord, ConnectionRecord, Frame, Violation, kind, write_transcript};
use super::registry::{Command, Rec, SessionShared, lock};
use super::resume;
use crate::Backend;

/// The id of a logical session (a UUID; on Vertex it is also the `sessionId` sent in
/// `setupComplete`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SessionId(pub(crate) Arc<str>);

impl SessionId {
    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for SessionId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// A wait that ran out of time.
#[derive(Debug, Clone, thiserror::Error)]
#[error("timed out after {after:?} waiting for {what}; session {session} has: {summary}")]
pub struct WaitTimeout {
    /// What was awaited.
    pub what: String,
    /// How long.
    pub after: Duration,
    /// The session.
    pub session: String,
    /// The frame kinds recorded so far, for the failure message.
    pub summary: String,
}

/// A session as tests see it: its recording, its violations, and fault injection.
///
/// Cheap to clone; stays valid after the session ended.
#[derive(Clone)]
pub struct SessionHandle {
    pub(crate) s: Arc<SessionShared>,
}

impl std::fmt::Debug for SessionHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionHandle")
            .field("id", &self.s.id)
            .finish()
    }
}

impl SessionHandle {
    /// The session id.
    pub fn id(&self) -> SessionId {
        self.s.id.clone()
    }

    /// The backend of its (latest) connection.
    pub fn backend(&self) -> Backend {
        *lock(&self.s.backend)
    }

    /// Every recorded frame, both directions, all connections, in order.
    pub fn frames(&self) -> Vec<Frame> {
        self.s.rec().frames.clone()
    }

    /// Frames of one kind (see [`kind`]).
    pub fn frames_of(&self, kind: &str) -> Vec<Frame> {
        self.s
            .rec()
            .frames
            .iter()
            .filter(|f| f.kind == kind)
            .cloned()
            .collect()
    }

    /// How many frames of a kind were recorded.
    pub fn count(&self, kind: &str) -> usize {
        self.s
            .rec()
            .frames
            .iter()
            .filter(|f| f.kind == kind)
            .count()
    }

    /// The client's messages, parsed (frames that are not JSON are skipped).
    pub fn received_client_messages(&self) -> Vec<serde_json::Value> {
        self.s
            .rec()
            .frames
            .iter()
            .filter(|f| f.from_client())
            .filter_map(|f| serde_json::from_slice(&f.raw).ok())
            .collect()
    }

    /// The emulator's messages, parsed.
    pub fn sent_server_messages(&self) -> Vec<serde_json::Value> {
        self.s
            .rec()
            .frames
            .iter()
            .filter(|f| f.from_server())
            .filter_map(|f| serde_json::from_slice(&f.raw).ok())
            .collect()
    }

    /// Protocol violations the client committed in this session.
    pub fn violations(&self) -> Vec<Violation> {
        self.s.rec().violations.clone()
    }

    /// Every function call the model issued in this session, in order, on any
    /// connection.
    pub fn function_calls_issued(&self) -> Vec<IssuedCall> {
        self.s.rec().ledger.issued.clone()
    }

    /// Every function response the server acted on (it matched an open call of the
    /// conversation current at the time), in order.
    pub fn accepted_function_responses(&self) -> Vec<AcceptedResponse> {
        self.s.rec().ledger.accepted.clone()
    }

    /// Every function response the server ignored (unknown, closed or cancelled id, or
    /// no id), in order. The model never heard these.
    pub fn ignored_function_responses(&self) -> Vec<IgnoredResponse> {
        self.s.rec().ledger.ignored.clone()
    }

    /// Client texts (`clientContent` user turns, `realtimeInput.text`) that named a call
    /// this emulator issued, in this session or another: results delivered as
    /// conversation, in order.
    pub fn conversation_results(&self) -> Vec<ConversationResult> {
        self.s.rec().ledger.conversation.clone()
    }

    /// The sequence number (1, 2, ...) of one of this session's resumption handles, to
    /// compare with [`IssuedCall::handle_seq`]; `None` for anything else.
    pub fn handle_seq(&self, handle: &str) -> Option<u64> {
        resume::decode(handle)
            .filter(|h| *h.session == *self.s.id.0 && h.tag == resume::tag(self.s.secret, h.seq))
            .map(|h| h.seq)
    }

    /// The websocket connections of this session (more than one after resumption).
    pub fn connections(&self) -> Vec<ConnectionRecord> {
        self.s.rec().conns.clone()
    }

    /// How the latest connection ended, if it has.
    pub fn last_close(&self) -> Option<CloseRecord> {
        self.s.rec().conns.last().and_then(|c| c.closed.clone())
    }

    /// Is a connection of this session open right now?
    pub fn is_connected(&self) -> bool {
        lock(&self.s.park).attached
    }

    /// The session's transcript in the recordings' format (`>N {json}` / `<N {json}`).
    pub fn transcript(&self) -> String {
        let mut out = String::new();
        write_transcript(self.s.rec().frames.iter(), &mut out);
        out
    }

    /// Writes [`transcript`](Self::transcript) to a file.
    pub fn write_transcript(&self, path: impl AsRef<std::path::Path>) -> std::io::Result<()> {
        std::fs::write(path, self.transcript())
    }

    fn summary(&self) -> String {
        let r = self.s.rec();
        let mut kinds: Vec<String> = r
            .frames
            .iter()
            .map(|f| format!("{}{}", if f.from_client() { ">" } else { "<" }, f.kind))
            .collect();
        if kinds.len() > 40 {
            let n = kinds.len() - 40;
            kinds.drain(..n);
            kinds.insert(0, format!("…{n} earlier"));
        }
        let closes: Vec<String> = r
            .conns
            .iter()
            .filter_map(|c| c.closed.as_ref())
            .map(|c| format!("close {} {:?} by {:?}", c.code, c.reason, c.by))
            .collect();
        format!("[{}] {}", kinds.join(", "), closes.join("; "))
    }

    /// Waits until `pred` holds over the recorded frames.
    pub async fn wait_for<F>(&self, timeout: Duration, mut pred: F) -> Result<(), WaitTimeout>
    where
        F: FnMut(&[Frame]) -> bool,
    {
        self.wait_inner(timeout, "a condition over the frames", |r| {
            pred(&r.frames).then_some(())
        })
        .await
    }

    /// Waits for the first recorded frame (from the start of the session) that matches.
    pub async fn wait_for_frame<F>(
        &self,
        timeout: Duration,
        mut pred: F,
    ) -> Result<Frame, WaitTimeout>
    where
        F: FnMut(&Frame) -> bool,
    {
        self.wait_inner(timeout, "a matching frame", |r| {
            r.frames.iter().find(|f| pred(f)).cloned()
        })
        .await
    }

    /// Waits until at least `n` frames of `kind` were recorded; returns the `n`th.
    pub async fn wait_for_count(
        &self,
        kind: &str,
        n: usize,
        timeout: Duration,
    ) -> Result<Frame, WaitTimeout> {
        let what = format!("{n} × {kind}");
        self.wait_inner(timeout, &what, |r| {
            r.frames
                .iter()
                .filter(|f| f.kind == kind)
                .nth(n.saturating_sub(1))
                .cloned()
        })
        .await
    }

    /// Waits for the `n`th (1-based) violation.
    pub async fn wait_for_violation(
        &self,
        n: usize,
        timeout: Duration,
    ) -> Result<Violation, WaitTimeout> {
        self.wait_inner(timeout, "a violation", |r| {
            r.violations.get(n.saturating_sub(1)).cloned()
        })
        .await
    }

    /// Waits for the `n`th (1-based) function call the model issued.
    pub async fn wait_for_function_call(
        &self,
        n: usize,
        timeout: Duration,
    ) -> Result<IssuedCall, WaitTimeout> {
        let what = format!("function call #{n}");
        self.wait_inner(timeout, &what, |r| {
            r.ledger.issued.get(n.saturating_sub(1)).cloned()
        })
        .await
    }

    /// Waits for the `n`th (1-based) accepted function response.
    pub async fn wait_for_accepted_response(
        &self,
        n: usize,
        timeout: Duration,
    ) -> Result<AcceptedResponse, WaitTimeout> {
        let what = format!("accepted function response #{n}");
        self.wait_inner(timeout, &what, |r| {
            r.ledger.accepted.get(n.saturating_sub(1)).cloned()
        })
        .await
    }

    /// Waits for the `n`th (1-based) ignored function response.
    pub async fn wait_for_ignored_response(
        &self,
        n: usize,
        timeout: Duration,
    ) -> Result<IgnoredResponse, WaitTimeout> {
        let what = format!("ignored function response #{n}");
        self.wait_inner(timeout, &what, |r| {
            r.ledger.ignored.get(n.saturating_sub(1)).cloned()
        })
        .await
    }

    /// Waits for the `n`th (1-based) result delivered as conversation.
    pub async fn wait_for_conversation_result(
        &self,
        n: usize,
        timeout: Duration,
    ) -> Result<ConversationResult, WaitTimeout> {
        let what = format!("conversation result #{n}");
        self.wait_inner(timeout, &what, |r| {
            r.ledger.conversation.get(n.saturating_sub(1)).cloned()
        })
        .await
    }

    /// Waits until connection `conn` of this session has ended; returns how.
    pub async fn wait_closed(
        &self,
        conn: u32,
        timeout: Duration,
    ) -> Result<CloseRecord, WaitTimeout> {
        self.wait_inner(timeout, "the connection to close", |r| {
            r.conns.get(conn as usize).and_then(|c| c.closed.clone())
        })
        .await
    }

    async fn wait_inner<T>(
        &self,
        timeout: Duration,
        what: &str,
        mut check: impl FnMut(&Rec) -> Option<T>,
    ) -> Result<T, WaitTimeout> {
        let mut rx = self.s.subscribe();
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(t) = check(&self.s.rec()) {
                return Ok(t);
            }
            if tokio::time::timeout_at(deadline, rx.changed())
                .await
                .is_err()
            {
                if let Some(t) = check(&self.s.rec()) {
                    return Ok(t);
                }
                return Err(WaitTimeout {
                    what: what.to_string(),
                    after: timeout,
                    session: self.s.id.to_string(),
                    summary: self.summary(),
                });
            }
        }
    }

    // --- fault injection -----------------------------------------------------------------

    /// Drops the TCP connection abruptly (no close frame; the client sees 1006).
    /// Returns false if the session has no open connection.
    pub fn drop_connection(&self) -> bool {
        self.s.send(Command::Drop)
    }

    /// Closes the connection with this code and reason (1005, 1006 and 1015, which a
    /// close frame cannot carry, drop the connection instead).
    pub fn close(&self, code: u16, reason: impl Into<String>) -> bool {
        self.s.send(Command::Close(code, reason.into()))
    }

    /// Stops reading the socket (so pings go unanswered) for `duration`, then reads
    /// on. See [`stop_reading`](Self::stop_reading) for good.
    pub fn stall_pongs(&self, duration: Duration) -> bool {
        self.s.send(Command::StallPongs(duration))
    }

    /// Stops reading the socket for good: pings go unanswered, client messages pile up
    /// in the TCP receive buffer and, once it is full, the client's writes block. The
    /// emulator keeps sending (script output, `goAway`, the lifetime close). The
    /// connection ends when the client gives up (the next send fails), on a fault, or
    /// at the end of its lifetime.
    pub fn stop_reading(&self) -> bool {
        self.s.send(Command::StopReading)
    }

    /// Sends `goAway` with this `timeLeft` now, and closes when it runs out.
    pub fn go_away(&self, time_left: Duration) -> bool {
        self.s.send(Command::GoAway(time_left))
    }

    /// Sends this message verbatim in a binary frame: any text, valid JSON or not, of
    /// any size (the emulator's 1 MiB limit on its own messages does not apply), e.g.
    /// `{"goAway":{"timeLeft":"99999999999999999s"}}`. Recorded as a frame and as
    /// [`Fault::Injected`](super::Fault::Injected) on the connection.
    pub fn inject(&self, message: impl Into<String>) -> bool {
        self.s.send(Command::Inject {
            bytes: Bytes::from(message.into()),
            text: false,
        })
    }

    /// Sends these bytes verbatim in a binary frame: anything at all, e.g. a frame far
    /// above the client's size limit, or bytes that are not JSON or not UTF-8.
    pub fn inject_bytes(&self, bytes: impl Into<Vec<u8>>) -> bool {
        self.s.send(Command::Inject {
            bytes: Bytes::from(bytes.into()),
            text: false,
        })
    }

    /// Sends this message verbatim in a text frame (production uses binary frames).
    pub fn inject_text(&self, message: impl Into<String>) -> bool {
        self.s.send(Command::Inject {
            bytes: Bytes::from(message.into()),
            text: true,
        })
    }

    /// Invalidates every resumption handle issued so far (resuming with one then gets
    /// 1008 "session not found").
    pub fn expire_handles(&self) {
        let next = self.s.handle_seq.load(Ordering::Relaxed) + 1;
        self.s.handles_valid_from.store(next, Ordering::Relaxed);
        lock(&self.s.park).checkpoints.clear();
    }

    /// The most recent `newHandle` sent to the client, if any.
    pub fn latest_handle(&self) -> Option<String> {
        self.s
            .rec()
            .frames
            .iter()
            .rev()
            .filter(|f| f.from_server() && f.kind == kind::SESSION_RESUMPTION_UPDATE)
            .find_map(|f| {
                f.json()["sessionResumptionUpdate"]["newHandle"]
                    .as_str()
                    .map(str::to_string)
            })
    }
}
