//! One connection, from the websocket upgrade to the close: the session state machine.
//! (`server` accepts the connections and hands each to [`serve`].)
//!
//! Each connection is one tokio task that owns its socket, its conversation
//! ([`Engine`]) and its timers, and `select!`s over: inbound frames, the control
//! channel, one reusable timer (script pacing, silence detection, goAway, lifetime,
//! stalls) and the emulator's shutdown signal. Nothing else touches the socket, so
//! there is no lock around it and fault injection never races a send.
//!
//! The handler is generic over `AsyncRead + AsyncWrite`, so tests can drive it over
//! `tokio::io::duplex` on paused time.
//!
//! Order of business: upgrade (path → backend, credentials), `setup` (first frame,
//! strictly validated, model name checked, resumption handle looked up), then the
//! conversation until someone closes. On the way out the conversation is parked in the
//! session (if setup asked for resumption) so a later connection can pick it up; in
//! checkpoint mode a later connection resumes the checkpoint its handle names instead
//! (see `resume`).

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use serde_json::{Map, Value};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, WebSocketConfig};
use tokio_tungstenite::tungstenite::{Bytes, Message};
use tracing::Instrument;

use super::audio::{decode_base64_into, mean_abs};
use super::engine::{Engine, Event, Out, SetupInfo};
use super::ledger::id_tokens;
use super::policy;
use super::record::{CloseBy, CloseRecord, Direction, Fault, ViolationKind, classify, kind};
use super::registry::{Command, Registry, SessionShared};
use super::resume::{self, ResumptionMode};
use super::server::{AuthOutcome, RequestInfo, on_request};
use super::shared::Shared;
use super::tools::Rng;
use super::validate::{Invalid, get, parse_and_validate, truncate_reason};
use crate::Backend;

fn ws_config(max: usize) -> WebSocketConfig {
    WebSocketConfig::default()
        .read_buffer_size(4096)
        .write_buffer_size(0)
        .max_message_size(Some(max))
        .max_frame_size(Some(max))
}

struct ActiveGuard<'a>(&'a Shared);

impl Drop for ActiveGuard<'_> {
    fn drop(&mut self) {
        self.0.active.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Serves one connection: upgrade, then the session.
#[allow(clippy::result_large_err)] // tungstenite's handshake callback type
pub(crate) async fn serve<S>(stream: S, shared: Arc<Shared>)
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    shared.active.fetch_add(1, Ordering::Relaxed);
    let _guard = ActiveGuard(&shared);
    let mut info: Option<RequestInfo> = None;
    let callback =
        |req: &tokio_tungstenite::tungstenite::handshake::server::Request,
         resp: tokio_tungstenite::tungstenite::handshake::server::Response| {
            match on_request(
                req,
                &shared.cfg.credentials,
                shared.cfg.proxy_path.as_deref(),
            ) {
                Ok(i) => {
                    info = Some(i);
                    Ok(resp)
                }
                Err(e) => {
                    tracing::debug!(path = %req.uri(), "unknown path: 404");
                    Err(e)
                }
            }
        };
    let handshake = tokio_tungstenite::accept_hdr_async_with_config(
        stream,
        callback,
        Some(ws_config(shared.cfg.max_message_size)),
    );
    let ws = match tokio::time::timeout(Duration::from_secs(10), handshake).await {
        Ok(Ok(ws)) => ws,
        Ok(Err(e)) => {
            tracing::debug!(error = %e, "websocket handshake failed");
            return;
        }
        Err(_) => return,
    };
    let Some(info) = info else { return };
    let mut rng = Rng::new();
    let id: Arc<str> = rng.uuid().into();
    let sess = shared.registry.create(
        id.clone(),
        shared.cfg.record,
        rng.next_u64(),
        info.route.backend,
        shared.cfg.checkpoints_kept,
    );
    let conn = sess.open_conn(info.path.clone(), info.route.api_version.clone(), false);
    let span = tracing::info_span!(
        "emulator_session",
        session = %id,
        backend = ?info.route.backend,
        path = %info.path,
    );
    let (tx, rx) = mpsc::unbounded_channel();
    sess.set_cmd(Some(tx.clone()));
    {
        let mut park = sess.park.lock().unwrap_or_else(|e| e.into_inner());
        park.attached = true;
    }
    let c = Conn {
        ws,
        shared: shared.clone(),
        sess,
        conn,
        backend: info.route.backend,
        info,
        engine: None,
        cmd_rx: rx,
        cmd_tx: tx,
        audio_buf: Vec::new(),
        out_buf: Vec::new(),
        client_index: 0,
        goaway_at: None,
        close_at: None,
        stall_until: None,
        stopped_reading: false,
        closing: None,
        resumption: None,
        history: false,
    };
    c.run().instrument(span).await;
}

/// How the main loop ended.
enum End {
    /// Close with this code and reason.
    Close(u16, String),
    /// The client closed (code, reason).
    ClientClosed(u16, String),
    /// Drop the socket without a close frame.
    Drop(&'static str),
}

struct Conn<S> {
    ws: WebSocketStream<S>,
    shared: Arc<Shared>,
    sess: Arc<SessionShared>,
    conn: u32,
    backend: Backend,
    info: RequestInfo,
    engine: Option<Box<Engine>>,
    cmd_rx: mpsc::UnboundedReceiver<Command>,
    cmd_tx: mpsc::UnboundedSender<Command>,
    audio_buf: Vec<u8>,
    out_buf: Vec<Out>,
    /// Client messages received on this connection (setup is index 0).
    client_index: u64,
    goaway_at: Option<Instant>,
    close_at: Option<Instant>,
    stall_until: Option<Instant>,
    /// Reading stopped for good (fault injection).
    stopped_reading: bool,
    closing: Option<(u16, String)>,
    /// `Some(transparent)` when setup asked for resumption.
    resumption: Option<bool>,
    /// Taking the initial history (`historyConfig.initialHistoryInClientContent`):
    /// until a `clientContent` with `turnComplete: true` or any other input.
    history: bool,
}

fn far_future() -> Instant {
    Instant::now() + Duration::from_secs(86_400 * 365)
}

/// Formats a duration as a proto3 JSON Duration string ("1s", "0.250s").
pub(crate) fn duration_string(d: Duration) -> String {
    if d.subsec_nanos() == 0 {
        format!("{}s", d.as_secs())
    } else if d.subsec_nanos().is_multiple_of(1_000_000) {
        format!("{}.{:03}s", d.as_secs(), d.subsec_millis())
    } else {
        format!("{}.{:09}s", d.as_secs(), d.subsec_nanos())
    }
}

impl<S> Conn<S>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    async fn run(mut self) {
        let end = self.lifecycle().await;
        self.finish(end).await;
    }

    async fn lifecycle(&mut self) -> End {
        match self.info.auth {
            AuthOutcome::Ok => {}
            AuthOutcome::BadKey => {
                return self.refuse(
                    ViolationKind::Auth,
                    1007,
                    "API key not valid. Please pass a valid API key.",
                );
            }
            AuthOutcome::BadToken => {
                return self.refuse(
                    ViolationKind::Auth,
                    1007,
                    "Request had invalid authentication credentials. Expected OAuth 2 access token or other valid credential.",
                );
            }
            AuthOutcome::Missing => {
                return self.refuse(
                    ViolationKind::Auth,
                    1008,
                    "Method doesn't allow unregistered callers (callers without established identity). Please use API Key or other form of API consumer identity to call this API.",
                );
            }
        }
        if let Err(end) = self.setup().await {
            return end;
        }
        self.main_loop().await
    }

    /// Closes 1007 for something the model refuses per its profile.
    fn refuse_profile(&mut self, detail: String) -> End {
        self.sess.violation(
            self.conn,
            ViolationKind::ModelProfile,
            format!("closed 1007: {detail}"),
        );
        End::Close(1007, policy::INVALID_ARGUMENT.to_string())
    }

    fn refuse(&mut self, kind: ViolationKind, code: u16, reason: &str) -> End {
        self.sess
            .violation(self.conn, kind, format!("closed {code}: {reason}"));
        End::Close(code, reason.to_string())
    }

    /// Reads the next data frame; `Err` ends the connection.
    async fn next_data(&mut self) -> Result<(Bytes, bool), End> {
        loop {
            match self.ws.next().await {
                Some(Ok(Message::Text(t))) => return Ok((Bytes::from(t), false)),
                Some(Ok(Message::Binary(b))) => return Ok((b, true)),
                Some(Ok(Message::Close(cf))) => {
                    let (code, reason) = cf
                        .map(|c| (u16::from(c.code), c.reason.to_string()))
                        .unwrap_or((1005, String::new()));
                    return Err(End::ClientClosed(code, reason));
                }
                Some(Ok(_)) => continue,
                Some(Err(e)) => return Err(self.read_error(e)),
                None => return Err(End::Drop("connection closed without a close frame")),
            }
        }
    }

    fn read_error(&mut self, e: tokio_tungstenite::tungstenite::Error) -> End {
        use tokio_tungstenite::tungstenite::Error as E;
        match e {
            E::Capacity(c) => End::Close(1009, truncate_reason(format!("{c}"))),
            E::Utf8(_) => End::Close(1007, "Invalid UTF-8 in text frame.".into()),
            E::Protocol(p) => End::Close(1002, truncate_reason(p.to_string())),
            _ => End::Drop("connection lost"),
        }
    }

    async fn setup(&mut self) -> Result<(), End> {
        let timeout = self.shared.cfg.setup_timeout;
        let mut shutdown = self.shared.shutdown.subscribe();
        let (raw, binary) = tokio::select! {
            r = tokio::time::timeout(timeout, self.next_data()) => match r {
                Ok(r) => r?,
                Err(_) => return Err(self.refuse(ViolationKind::SetupOrder, 1007, "Setup message was not received in time.")),
            },
            _ = shutdown.changed() => return Err(End::Close(1001, "server shutting down".into())),
        };
        self.client_index = 1;
        let (value, k) = match self.read_client(&raw, binary) {
            Ok(v) => v,
            Err(inv) => {
                return Err(self.refuse(ViolationKind::InvalidMessage, 1007, &inv.reason));
            }
        };
        let Some(setup) = value
            .as_object()
            .and_then(|o| get(o, "setup"))
            .and_then(Value::as_object)
        else {
            return Err(self.refuse(
                ViolationKind::SetupOrder,
                1007,
                &format!("Request contains an invalid argument. The first message must be setup, got {k}."),
            ));
        };
        let sc = self.shared.cfg.scenario.0.clone();
        let info = SetupInfo::from_setup(setup, self.backend, sc.default_blocking);
        if let Some(reason) = self.check_model(&info.model) {
            return Err(self.refuse(ViolationKind::UnknownModel, 1008, &reason));
        }
        // What the model refuses, per its profile (see `policy`).
        if let Err(detail) = policy::check_declarations(get(setup, "tools"), &info.profile)
            .and_then(|_| policy::check_thinking(setup, &info.profile))
        {
            return Err(self.refuse_profile(detail));
        }
        if !info.text_planned.is_empty() {
            self.sess.violation(
                self.conn,
                ViolationKind::ModelProfile,
                format!(
                    "functions {:?} declared with parametersJsonSchema; {} plans them as text and never calls them (UNVERIFIED)",
                    info.text_planned, info.profile.name
                ),
            );
        }
        self.history = policy::initial_history(setup);
        self.resumption = info.resumption;
        let mut engine = match info.handle.clone() {
            Some(handle) => self.resume(&handle, info)?,
            None => Box::new(Engine::new(sc, self.backend, self.sess.id.0.clone(), info)),
        };
        let cfg = &self.shared.cfg;
        engine.strict_tool_responses = cfg.strict_tool_responses;
        engine.handle_lag = cfg.handle_lag;
        engine.checkpoints = cfg.resumption_mode == ResumptionMode::Checkpoint;
        self.engine = Some(engine);
        let msg = match self.backend {
            Backend::DeveloperApi => Bytes::from_static(br#"{"setupComplete":{}}"#),
            Backend::VertexAi => Bytes::from(format!(
                r#"{{"setupComplete":{{"sessionId":"{}"}}}}"#,
                self.sess.id
            )),
        };
        self.send_frame(msg, kind::SETUP_COMPLETE)
            .await
            .map_err(|_| End::Drop("connection lost"))?;
        if let Some((code, reason)) = self.shared.take_close_after_setup() {
            self.sess.fault(
                self.conn,
                Fault::ClosedAfterSetup {
                    code,
                    reason: reason.clone(),
                },
            );
            return Err(match code {
                1005 | 1006 | 1015 => End::Drop("dropped by fault injection"),
                _ => End::Close(code, reason),
            });
        }
        if self.resumption.is_some()
            && let Some(Out::ResumptionUpdate {
                resumable,
                snapshot,
            }) = self.engine.as_mut().map(|e| e.initial_update())
        {
            self.send_resumption_update(resumable, snapshot)
                .await
                .map_err(|_| End::Drop("connection lost"))?;
        }
        // Connection lifetime.
        if let Some(life) = self.shared.cfg.lifetime {
            let now = Instant::now();
            self.close_at = Some(now + life);
            self.goaway_at = Some(now + life.saturating_sub(self.shared.cfg.goaway_lead));
        }
        tracing::debug!(model = %self.engine.as_ref().map_or("", |e| e.setup.model.as_str()), "setup complete");
        Ok(())
    }

    fn check_model(&self, model: &str) -> Option<String> {
        let version = &self.info.route.api_version;
        let well_formed = match self.backend {
            Backend::DeveloperApi => model
                .strip_prefix("models/")
                .is_some_and(|m| !m.is_empty() && !m.contains('/')),
            Backend::VertexAi => {
                let parts: Vec<&str> = model.split('/').collect();
                matches!(
                    parts.as_slice(),
                    ["projects", p, "locations", l, "publishers", pb, "models", m]
                        if !p.is_empty() && !l.is_empty() && !pb.is_empty() && !m.is_empty()
                ) || matches!(parts.as_slice(), ["publishers", pb, "models", m] if !pb.is_empty() && !m.is_empty())
            }
        };
        let known = self.shared.cfg.known_models.as_ref().is_none_or(|list| {
            let id = model.rsplit('/').next().unwrap_or(model);
            list.iter().any(|k| k == id || k == model)
        });
        if well_formed && known {
            None
        } else {
            Some(truncate_reason(format!(
                "{model} is not found for API version {version}, or is not supported for bidiGenerateContent. Call ListModels to see the list of available models and their supported methods."
            )))
        }
    }

    /// Resumes the session a handle names: moves its conversation to this connection.
    fn resume(&mut self, handle: &str, info: SetupInfo) -> Result<Box<Engine>, End> {
        let not_found = |this: &mut Self, why: &str| {
            this.sess.violation(
                this.conn,
                ViolationKind::Resumption,
                format!("resumption handle {why}"),
            );
            End::Close(1008, "BidiGenerateContent session not found".into())
        };
        let Some(h) = resume::decode(handle) else {
            return Err(not_found(self, "is not one the emulator issued"));
        };
        let Some(target) = self.shared.registry.get(&h.session) else {
            return Err(not_found(self, "names an unknown session"));
        };
        if h.tag != resume::tag(target.secret, h.seq)
            || h.seq > target.handle_seq.load(Ordering::Relaxed)
            || h.seq < target.handles_valid_from.load(Ordering::Relaxed)
        {
            return Err(not_found(self, "is stale or forged"));
        }
        let engine = {
            let mut park = target.park.lock().unwrap_or_else(|e| e.into_inner());
            if park.attached {
                drop(park);
                self.sess.violation(
                    self.conn,
                    ViolationKind::Resumption,
                    "resumed a session whose previous connection is still open".into(),
                );
                return Err(End::Close(1011, "Internal error occurred.".into()));
            }
            let expired = park.detached_at.is_some_and(|t| {
                Instant::now().saturating_duration_since(t) > self.shared.cfg.handle_ttl
            });
            if park.engine.is_none() || expired {
                drop(park);
                return Err(not_found(
                    self,
                    "belongs to a session that ended or expired",
                ));
            }
            let engine = match self.shared.cfg.resumption_mode {
                ResumptionMode::Latest => park.engine.take(),
                // The checkpoint the handle names; the latest state is abandoned.
                ResumptionMode::Checkpoint => match park.checkpoints.restore(h.seq) {
                    Some(e) => {
                        park.engine = None;
                        Some(e)
                    }
                    None => None,
                },
            };
            let Some(engine) = engine else {
                drop(park);
                return Err(not_found(
                    self,
                    "is older than the checkpoints the session keeps",
                ));
            };
            park.attached = true;
            park.detached_at = None;
            engine
        };
        // This connection now belongs to the resumed session.
        let provisional = self.sess.clone();
        {
            let mut park = provisional.park.lock().unwrap_or_else(|e| e.into_inner());
            park.attached = false;
            park.finished = true;
        }
        provisional.set_cmd(None);
        self.conn = target.absorb(&provisional);
        self.shared.registry.remove(&provisional.id.0);
        *target.backend.lock().unwrap_or_else(|e| e.into_inner()) = self.backend;
        target.set_cmd(Some(self.cmd_tx.clone()));
        self.sess = target;
        self.shared.registry.changed();
        tracing::debug!(session = %self.sess.id, conn = self.conn, "session resumed");
        let mut engine = engine;
        engine.resume_with(info);
        Ok(engine)
    }

    async fn send_frame(&mut self, bytes: Bytes, kind: &'static str) -> Result<(), ()> {
        self.sess
            .record(self.conn, Direction::ServerToClient, kind, &bytes, true);
        self.ws.send(Message::Binary(bytes)).await.map_err(|_| ())
    }

    /// Sends a `sessionResumptionUpdate`; a resumable one mints a handle, which names
    /// `snapshot` in checkpoint mode.
    async fn send_resumption_update(
        &mut self,
        resumable: bool,
        snapshot: Option<Box<Engine>>,
    ) -> Result<(), ()> {
        let mut m = String::with_capacity(160);
        m.push_str(r#"{"sessionResumptionUpdate":{"#);
        if resumable {
            let (seq, handle) = self.sess.mint_handle();
            if let Some(snapshot) = snapshot {
                let mut park = self.sess.park.lock().unwrap_or_else(|e| e.into_inner());
                park.checkpoints.push(seq, snapshot);
            }
            m.push_str(r#""newHandle":""#);
            m.push_str(&handle);
            m.push_str(r#"","resumable":true"#);
        } else {
            m.push_str(r#""resumable":false"#);
        }
        if self.resumption == Some(true) {
            m.push_str(&format!(
                r#","lastConsumedClientMessageIndex":"{}""#,
                self.client_index.saturating_sub(1)
            ));
        }
        m.push_str("}}");
        self.send_frame(Bytes::from(m), kind::SESSION_RESUMPTION_UPDATE)
            .await
    }

    async fn send_go_away(&mut self, time_left: Duration) -> Result<(), ()> {
        let m = format!(
            r#"{{"goAway":{{"timeLeft":"{}"}}}}"#,
            duration_string(time_left)
        );
        self.send_frame(Bytes::from(m), kind::GO_AWAY).await
    }

    /// Sends what the engine produced; returns an `End` if the engine closed.
    async fn flush_engine(&mut self) -> Result<(), End> {
        let Some(engine) = self.engine.as_mut() else {
            return Ok(());
        };
        if engine.out.is_empty() {
            return Ok(());
        }
        std::mem::swap(&mut engine.out, &mut self.out_buf);
        let mut outs = std::mem::take(&mut self.out_buf);
        let mut result = Ok(());
        let mut sent = false;
        for o in outs.drain(..) {
            if result.is_err() {
                continue;
            }
            match o {
                Out::Frame(bytes, k) => {
                    self.sess
                        .record(self.conn, Direction::ServerToClient, k, &bytes, true);
                    if self.ws.feed(Message::Binary(bytes)).await.is_err() {
                        result = Err(End::Drop("connection lost"));
                    }
                    sent = true;
                }
                Out::Violation(kind, detail) => self.sess.violation(self.conn, kind, detail),
                Out::ResumptionUpdate {
                    resumable,
                    snapshot,
                } => {
                    if self
                        .send_resumption_update(resumable, snapshot)
                        .await
                        .is_err()
                    {
                        result = Err(End::Drop("connection lost"));
                    }
                }
                Out::Note(note) => self.sess.note(self.conn, note),
                Out::GoAway(d) => {
                    if self.send_go_away(d).await.is_err() {
                        result = Err(End::Drop("connection lost"));
                    }
                    self.close_at = Some(Instant::now() + d);
                    self.goaway_at = None;
                }
                Out::Close(code, reason) => {
                    self.closing = Some((code, reason));
                }
            }
        }
        self.out_buf = outs;
        if sent && result.is_ok() && self.ws.flush().await.is_err() {
            result = Err(End::Drop("connection lost"));
        }
        result?;
        if let Some((code, reason)) = self.closing.take() {
            return Err(End::Close(code, reason));
        }
        Ok(())
    }

    async fn main_loop(&mut self) -> End {
        let mut shutdown = self.shared.shutdown.subscribe();
        if *shutdown.borrow() {
            return End::Close(1001, "server shutting down".into());
        }
        let sleep = tokio::time::sleep_until(far_future());
        tokio::pin!(sleep);
        let mut armed: Option<Instant> = None;
        loop {
            let now = Instant::now();
            let next = self.engine.as_mut().and_then(|e| e.poll(now));
            if let Err(end) = self.flush_engine().await {
                return end;
            }
            let deadline = [next, self.goaway_at, self.close_at, self.stall_until]
                .into_iter()
                .flatten()
                .min();
            if deadline != armed {
                sleep.as_mut().reset(deadline.unwrap_or_else(far_future));
                armed = deadline;
            }
            let stalled = self.stall_until.is_some() || self.stopped_reading;
            tokio::select! {
                biased;
                _ = shutdown.changed() => {
                    return End::Close(1001, "server shutting down".into());
                }
                cmd = self.cmd_rx.recv() => {
                    // The sender lives in `self`, so `None` cannot happen.
                    if let Some(cmd) = cmd
                        && let Err(end) = self.command(cmd).await
                    {
                        return end;
                    }
                }
                msg = self.ws.next(), if !stalled => {
                    let (raw, binary) = match msg {
                        Some(Ok(Message::Text(t))) => (Bytes::from(t), false),
                        Some(Ok(Message::Binary(b))) => (b, true),
                        Some(Ok(Message::Close(cf))) => {
                            let (code, reason) = cf
                                .map(|c| (u16::from(c.code), c.reason.to_string()))
                                .unwrap_or((1005, String::new()));
                            return End::ClientClosed(code, reason);
                        }
                        Some(Ok(_)) => continue,
                        Some(Err(e)) => return self.read_error(e),
                        None => return End::Drop("connection closed without a close frame"),
                    };
                    if let Err(end) = self.client_message(raw, binary) {
                        return end;
                    }
                }
                _ = &mut sleep, if armed.is_some() => {
                    armed = None;
                    sleep.as_mut().reset(far_future());
                    let now = Instant::now();
                    if self.stall_until.is_some_and(|t| t <= now) {
                        self.stall_until = None;
                    }
                    if self.goaway_at.is_some_and(|t| t <= now) {
                        self.goaway_at = None;
                        // Announce the configured lead, like the real service's round
                        // numbers, rather than the timer's jitter.
                        let left = match self.shared.cfg.lifetime {
                            Some(life) => self.shared.cfg.goaway_lead.min(life),
                            None => Duration::ZERO,
                        };
                        if self.send_go_away(left).await.is_err() {
                            return End::Drop("connection lost");
                        }
                    }
                    if self.close_at.is_some_and(|t| t <= now) {
                        let (code, reason) = self.shared.cfg.lifetime_close.clone();
                        return End::Close(code, reason);
                    }
                }
            }
        }
    }

    async fn command(&mut self, cmd: Command) -> Result<(), End> {
        match cmd {
            Command::Drop => {
                self.sess.fault(self.conn, Fault::Dropped);
                Err(End::Drop("dropped by fault injection"))
            }
            Command::Close(code, reason) => {
                self.sess.fault(
                    self.conn,
                    Fault::Closed {
                        code,
                        reason: reason.clone(),
                    },
                );
                match code {
                    // 1005, 1006 and 1015 may not appear in a close frame: they mean "no
                    // close frame", so the closest thing the emulator can do is to drop
                    // the socket.
                    1005 | 1006 | 1015 => Err(End::Drop("dropped by fault injection")),
                    _ => Err(End::Close(code, reason)),
                }
            }
            Command::StallPongs(d) => {
                self.sess.fault(self.conn, Fault::StalledPongs(d));
                self.stall_until = Some(Instant::now() + d);
                Ok(())
            }
            Command::StopReading => {
                self.sess.fault(self.conn, Fault::StoppedReading);
                self.stopped_reading = true;
                Ok(())
            }
            Command::GoAway(d) => {
                self.sess.fault(self.conn, Fault::GoAway(d));
                self.send_go_away(d)
                    .await
                    .map_err(|_| End::Drop("connection lost"))?;
                self.goaway_at = None;
                self.close_at = Some(Instant::now() + d);
                Ok(())
            }
            Command::Inject { bytes, text } => {
                let k = serde_json::from_slice::<Value>(&bytes)
                    .map(|v| classify(&v))
                    .unwrap_or(kind::OTHER);
                self.sess.fault(
                    self.conn,
                    Fault::Injected {
                        kind: k,
                        len: bytes.len(),
                        text,
                    },
                );
                self.sess
                    .record(self.conn, Direction::ServerToClient, k, &bytes, !text);
                let msg = if text {
                    match String::from_utf8(bytes.to_vec()) {
                        Ok(s) => Message::Text(s.into()),
                        Err(_) => Message::Binary(bytes),
                    }
                } else {
                    Message::Binary(bytes)
                };
                self.ws
                    .send(msg)
                    .await
                    .map_err(|_| End::Drop("connection lost"))
            }
        }
    }

    /// Parses and validates a client frame, and records it under its kind (`invalid`
    /// when it is). Returns the message and its kind.
    fn read_client(&mut self, raw: &Bytes, binary: bool) -> Result<(Value, &'static str), Invalid> {
        let parsed = parse_and_validate(raw, self.backend).map(|v| {
            let k = classify(&v);
            (v, k)
        });
        let k = parsed.as_ref().map_or(kind::INVALID, |(_, k)| k);
        self.sess
            .record(self.conn, Direction::ClientToServer, k, raw, binary);
        parsed
    }

    /// Validates and digests one client message.
    fn client_message(&mut self, raw: Bytes, binary: bool) -> Result<(), End> {
        self.client_index += 1;
        let (value, k) = match self.read_client(&raw, binary) {
            Ok(v) => v,
            Err(inv) => {
                let shown: String =
                    String::from_utf8_lossy(&raw[..raw.len().min(200)]).into_owned();
                self.sess.violation(
                    self.conn,
                    ViolationKind::InvalidMessage,
                    format!("{} (message: {shown})", inv.reason),
                );
                return Err(End::Close(1007, inv.reason));
            }
        };
        let now = Instant::now();
        let level = self.shared.cfg.scenario.0.turn_detection.level;
        let Some(engine) = self.engine.as_mut() else {
            return Ok(());
        };
        let obj = value.as_object().expect("validated messages are objects");
        if get(obj, "setup").is_some() {
            self.sess.violation(
                self.conn,
                ViolationKind::SetupOrder,
                "setup sent a second time".into(),
            );
            return Err(End::Close(
                1007,
                "Request contains an invalid argument. Setup may only be sent once.".into(),
            ));
        }
        let profile = &engine.setup.profile;
        let in_history = self.history;
        self.history &= get(obj, "clientContent").is_some();
        if let Some(cc) = get(obj, "clientContent").and_then(Value::as_object) {
            let text = client_content_text(cc);
            let turn_complete = get(cc, "turnComplete")
                .and_then(Value::as_bool)
                .unwrap_or(false);
            if in_history {
                self.history = !turn_complete;
                engine.on_event(Event::History, k, now);
                return Ok(());
            }
            if !profile.mid_session_client_content && !profile.is_unknown() {
                let detail = format!(
                    "clientContent mid-session; {} takes it only as initial history (historyConfig.initialHistoryInClientContent)",
                    profile.name
                );
                self.sess.violation(
                    self.conn,
                    ViolationKind::ModelProfile,
                    format!("closed 1007: {detail}"),
                );
                return Err(End::Close(1007, policy::INVALID_ARGUMENT.into()));
            }
            let calls =
                conversation_results(&self.sess, &self.shared.registry, self.conn, k, &text);
            let event = if calls.is_empty() {
                Event::ClientContent {
                    text,
                    turn_complete,
                }
            } else {
                Event::ConversationResult {
                    names: calls.into_iter().map(|(_, name)| name).collect(),
                    text: &text,
                    reply: turn_complete,
                }
            };
            engine.on_event(event, k, now);
        } else if let Some(ri) = get(obj, "realtimeInput").and_then(Value::as_object) {
            if get(ri, "activityStart").is_some() {
                engine.on_event(Event::ActivityStart, kind::ACTIVITY_START, now);
            }
            let blob = get(ri, "audio").or_else(|| {
                get(ri, "mediaChunks")
                    .and_then(Value::as_array)
                    .and_then(|a| a.first())
                    .filter(|b| {
                        b.as_object()
                            .and_then(|b| get(b, "mimeType"))
                            .and_then(Value::as_str)
                            .is_none_or(|m| m.starts_with("audio/"))
                    })
            });
            if let Some(blob) = blob.and_then(Value::as_object) {
                let data = get(blob, "data").and_then(Value::as_str).unwrap_or("");
                let voiced = decode_base64_into(data, &mut self.audio_buf)
                    && mean_abs(&self.audio_buf) >= level;
                engine.on_event(Event::Audio { voiced }, k, now);
            } else if get(ri, "video").is_some() || get(ri, "mediaChunks").is_some() {
                engine.on_event(Event::Video, k, now);
            }
            if let Some(t) = get(ri, "text").and_then(Value::as_str) {
                let calls = conversation_results(
                    &self.sess,
                    &self.shared.registry,
                    self.conn,
                    kind::TEXT,
                    t,
                );
                let event = if calls.is_empty() {
                    Event::Text(t)
                } else {
                    Event::ConversationResult {
                        names: calls.into_iter().map(|(_, name)| name).collect(),
                        text: t,
                        reply: true,
                    }
                };
                engine.on_event(event, kind::TEXT, now);
            }
            if get(ri, "activityEnd").is_some() {
                engine.on_event(Event::ActivityEnd, kind::ACTIVITY_END, now);
            }
            if get(ri, "audioStreamEnd").and_then(Value::as_bool) == Some(true) {
                engine.on_event(Event::AudioStreamEnd, kind::AUDIO_STREAM_END, now);
            }
        } else if let Some(tr) = get(obj, "toolResponse").and_then(Value::as_object) {
            let empty = Vec::new();
            let list = get(tr, "functionResponses")
                .and_then(Value::as_array)
                .unwrap_or(&empty);
            if let Err(detail) = list
                .iter()
                .try_for_each(|fr| policy::check_function_response(fr, profile))
            {
                self.sess.violation(
                    self.conn,
                    ViolationKind::ModelProfile,
                    format!("closed 1007: {detail}"),
                );
                return Err(End::Close(1007, policy::INVALID_ARGUMENT.into()));
            }
            engine.on_event(Event::ToolResponses(list), k, now);
        } else if let Some(cu) = get(obj, "contextUpdate").and_then(Value::as_object) {
            let tools = get(cu, "tools")
                .and_then(Value::as_object)
                .and_then(|t| get(t, "tools"));
            if let Err(detail) = policy::check_declarations(tools, profile) {
                self.sess.violation(
                    self.conn,
                    ViolationKind::ModelProfile,
                    format!("closed 1007: {detail}"),
                );
                return Err(End::Close(1007, policy::INVALID_ARGUMENT.into()));
            }
            engine.on_event(Event::ContextUpdate(cu), k, now);
        } else {
            engine.on_event(Event::Other, k, now);
        }
        Ok(())
    }

    /// Closes (or drops) the connection, records how, and parks the conversation.
    async fn finish(mut self, end: End) {
        let (by, code, reason) = match end {
            End::Close(code, reason) => {
                let reason = truncate_reason(reason);
                // Flush whatever the engine still had (e.g. a goodbye) before closing.
                let frame = CloseFrame {
                    code: CloseCode::from(code),
                    reason: reason.clone().into(),
                };
                let _ = self.ws.send(Message::Close(Some(frame))).await;
                // Give the client a moment to answer the close handshake.
                let _ = tokio::time::timeout(Duration::from_millis(500), async {
                    while let Some(Ok(_)) = self.ws.next().await {}
                })
                .await;
                (CloseBy::Server, code, reason)
            }
            End::ClientClosed(code, reason) => {
                let _ = tokio::time::timeout(Duration::from_millis(500), self.ws.flush()).await;
                (CloseBy::Client, code, reason)
            }
            End::Drop(why) => (CloseBy::Dropped, 1006, why.to_string()),
        };
        tracing::debug!(?by, code, %reason, "connection ended");
        self.sess.close_conn(
            self.conn,
            CloseRecord {
                by,
                code,
                reason,
                at: self.sess.elapsed(),
            },
        );
        self.sess.set_cmd(None);
        {
            let mut park = self.sess.park.lock().unwrap_or_else(|e| e.into_inner());
            park.attached = false;
            park.detached_at = Some(Instant::now());
            if let Some(mut engine) = self.engine.take() {
                if self.resumption.is_some() {
                    engine.on_detach();
                    park.engine = Some(engine);
                } else {
                    park.finished = true;
                }
            }
        }
        self.shared.registry.changed();
        if let Some(path) = &self.shared.cfg.transcript_out {
            let mut text = String::new();
            {
                let rec = self.sess.rec();
                super::record::write_transcript(
                    rec.frames.iter().filter(|f| f.conn == self.conn),
                    &mut text,
                );
            }
            let _g = self
                .shared
                .transcript_lock
                .lock()
                .unwrap_or_else(|e| e.into_inner());
            use std::io::Write as _;
            let res = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .and_then(|mut f| f.write_all(text.as_bytes()));
            if let Err(e) = res {
                tracing::warn!(path = %path.display(), error = %e, "cannot write transcript");
            }
        }
    }
}

/// The calls a client text names, this session's or (for id-shaped tokens) any other
/// session's: a result delivered as conversation. Records them in the session's ledger.
fn conversation_results(
    sess: &SessionShared,
    registry: &Registry,
    conn: u32,
    via: &'static str,
    text: &str,
) -> Vec<(String, String)> {
    if text.is_empty() {
        return Vec::new();
    }
    let mut calls = sess.calls_in(text);
    for token in id_tokens(text) {
        if calls.iter().any(|(id, _)| id == token) {
            continue;
        }
        if let Some(name) = registry.call_name(token) {
            calls.push((token.to_string(), name));
        }
    }
    if !calls.is_empty() {
        sess.note_conversation(conn, via, text, &calls);
    }
    calls
}

/// The text of a `clientContent`'s user turns.
fn client_content_text(cc: &Map<String, Value>) -> String {
    let mut out = String::new();
    for turn in get(cc, "turns")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let Some(turn) = turn.as_object() else {
            continue;
        };
        if get(turn, "role")
            .and_then(Value::as_str)
            .is_some_and(|r| r != "user")
        {
            continue;
        }
        for part in get(turn, "parts")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            if let Some(t) = part
                .as_object()
                .and_then(|p| get(p, "text"))
                .and_then(Value::as_str)
            {
                if !out.is_empty() {
                    out.push(' ');
                }
                out.push_str(t);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(duration_string(Duration::from_secs(1)), "1s");
        assert_eq!(duration_string(Duration::from_millis(1500)), "1.500s");
        assert_eq!(duration_string(Duration::from_millis(250)), "0.250s");
        assert_eq!(duration_string(Duration::from_nanos(1)), "0.000000001s");
    }
}
