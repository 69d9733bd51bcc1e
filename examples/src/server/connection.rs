//! One page connection: the `hello`, its Live session, and the pump between them.
//!
//! The pump is one loop over three things: a frame from the page (audio to the session,
//! commands applied), an event from the session (translated by the
//! [`PageBridge`](adk_live::bridge::PageBridge), audio through its playback fence), and
//! the server's shutdown. Every limit that can end the connection ends it here with a
//! close code and a reason, logged; the session is then disconnected, which cancels its
//! running tools (nothing is sent for them afterwards) and waits for their tasks.

use std::sync::Arc;
use std::time::{Duration, Instant};

use adk_live::bridge::page::{PROTOCOL_VERSION, PageCommand, PageEvent, ProtocolError};
use adk_live::bridge::{Outgoing, PageBridge};
use adk_live::{LiveEvent, LiveHandle};
use axum::extract::ws::{CloseFrame, Message, WebSocket};
use tokio::time::{sleep, timeout};
use tracing::{Instrument, info, info_span, warn};

use super::Shared;
use super::access::Slot;
use super::metrics::{SessionObserver, Transport};
use super::rate::FrameRate;

/// How a page connection ended: the close frame sent to the page.
#[derive(Debug)]
struct Ending {
    code: u16,
    reason: String,
    /// True when the page broke the protocol or a limit (logged as a warning).
    fault: bool,
}

impl Ending {
    fn normal(code: u16, reason: impl Into<String>) -> Self {
        Ending {
            code,
            reason: reason.into(),
            fault: false,
        }
    }
}

impl From<ProtocolError> for Ending {
    fn from(e: ProtocolError) -> Self {
        Ending {
            code: e.close_code(),
            reason: e.reason(),
            fault: true,
        }
    }
}

/// Serves one upgraded page socket until it ends; the slot is held until the session has
/// been disconnected.
pub(super) async fn serve(mut socket: WebSocket, shared: Arc<Shared>, slot: Slot, id: u64) {
    let span = info_span!("page", id);
    async move {
        info!("page connected");
        let ending = converse(&mut socket, &shared).await;
        if ending.fault {
            warn!(code = ending.code, reason = %ending.reason, "page closed for a protocol or limit violation");
        } else {
            info!(code = ending.code, reason = %ending.reason, "page closed");
        }
        close(&mut socket, ending.code, ending.reason, shared.limits.send_timeout).await;
        drop(slot);
    }
    .instrument(span)
    .await
}

async fn converse(socket: &mut WebSocket, shared: &Shared) -> Ending {
    let limits = &shared.limits;
    // 1. The hello, before any quota is spent.
    let first = tokio::select! {
        frame = timeout(limits.hello_timeout, socket.recv()) => frame,
        _ = shared.shutdown.cancelled() => return Ending::normal(1001, "server shutting down"),
    };
    let hello = match first {
        Err(_) => return ProtocolError::Order("no hello in time").into(),
        Ok(None | Some(Err(_))) => return Ending::normal(1000, "page left before hello"),
        Ok(Some(Ok(Message::Text(text)))) => {
            if text.len() > limits.max_frame_bytes {
                return too_large(text.len(), limits.max_frame_bytes);
            }
            match PageCommand::parse(&text) {
                Ok(hello) => hello,
                Err(e) => return e.into(),
            }
        }
        Ok(Some(Ok(_))) => return ProtocolError::Order("the first frame must be hello").into(),
    };
    match hello {
        PageCommand::Hello { protocol } if protocol == PROTOCOL_VERSION => {}
        PageCommand::Hello { protocol } => return ProtocolError::Version { got: protocol }.into(),
        _ => return ProtocolError::Order("the first frame must be hello").into(),
    }

    // 2. The Live session.
    let _active = shared.metrics.caller_connected(Transport::Page);
    let connected = tokio::select! {
        r = timeout(limits.connect_timeout, (shared.connector)(super::Caller::Page)) => r,
        _ = shared.shutdown.cancelled() => return Ending::normal(1001, "server shutting down"),
    };
    let session = match connected {
        Ok(Ok(session)) => session,
        Ok(Err(e)) => return session_failed(socket, shared, e).await,
        Err(_) => {
            return session_failed(socket, shared, "the Live API did not answer in time".into())
                .await;
        }
    };
    shared.metrics.session_opened(Transport::Page, true);
    info!(backend = %session.backend(), "session open");

    // 3. The pump; then the session ends, its tools cancelled.
    let ending = pump(socket, shared, &session).await;
    session.disconnect().await;
    ending
}

async fn session_failed(socket: &mut WebSocket, shared: &Shared, error: String) -> Ending {
    warn!(%error, "session could not be opened");
    shared.metrics.session_opened(Transport::Page, false);
    let event = PageEvent::Closed {
        reason: format!("the session could not be opened: {error}"),
    };
    let _ = timeout(shared.limits.send_timeout, socket.send(text(&event))).await;
    Ending::normal(1011, "the session could not be opened")
}

async fn pump(socket: &mut WebSocket, shared: &Shared, session: &LiveHandle) -> Ending {
    let limits = &shared.limits;
    let mut bridge = PageBridge::new();
    let mut out = Vec::with_capacity(4);
    let mut rate = FrameRate::new(limits.max_frames_per_sec);
    let idle = sleep(limits.idle_timeout);
    tokio::pin!(idle);
    let mut audio_dropped = 0u64;
    let mut observer = SessionObserver::default();
    let mut told_of_drain = false;

    if let Err(e) = send(socket, shared, text(&bridge.ready(session.backend()))).await {
        return e;
    }
    loop {
        tokio::select! {
            biased;
            _ = shared.shutdown.cancelled() => {
                // End the session first, so the page hears how its running tools ended
                // (cancelled, session ended) before it is told goodbye.
                session.disconnect().await;
                while let Some(event) = session.try_next_event() {
                    if matches!(event, LiveEvent::Closed { .. }) {
                        break;
                    }
                    observer.observe(&shared.metrics, &event);
                    bridge.translate(event, &mut out);
                }
                out.push(Outgoing::Event(PageEvent::Closed {
                    reason: "the server is shutting down".into(),
                }));
                for o in out.drain(..) {
                    if send(socket, shared, frame(o)).await.is_err() {
                        break;
                    }
                }
                return Ending::normal(1001, "server shutting down");
            }
            _ = shared.drain.cancelled(), if !told_of_drain => {
                told_of_drain = true;
                let deadline_ms = shared.drain_ms.load(std::sync::atomic::Ordering::Relaxed);
                if let Err(e) = send(socket, shared, text(&PageEvent::Draining { deadline_ms })).await {
                    return e;
                }
            }
            frame = socket.recv() => {
                let frame = match frame {
                    None => return Ending::normal(1000, "page left"),
                    Some(Err(e)) => return Ending {
                        code: 1002,
                        reason: "websocket error".into(),
                        fault: { warn!(error = %e, "page websocket error"); true },
                    },
                    Some(Ok(frame)) => frame,
                };
                if !rate.admit(Instant::now()) {
                    return ProtocolError::Flood(limits.max_frames_per_sec).into();
                }
                match frame {
                    Message::Binary(pcm) => {
                        shared.metrics.bytes(Transport::Page, true, pcm.len());
                        if pcm.len() > limits.max_frame_bytes {
                            return too_large(pcm.len(), limits.max_frame_bytes);
                        }
                        if pcm.len() % 2 != 0 {
                            return ProtocolError::OddAudio(pcm.len()).into();
                        }
                        idle.as_mut().reset(tokio::time::Instant::now() + limits.idle_timeout);
                        // Audio is realtime: if the session cannot take it in time (a long
                        // reconnect), this chunk is dropped rather than the page stalled.
                        let t0 = Instant::now();
                        match timeout(AUDIO_BUDGET, session.send_audio(&pcm)).await {
                            Ok(_) if t0.elapsed() <= CHUNK_BUDGET => {}
                            Ok(_) => shared.metrics.audio_late(Transport::Page),
                            Err(_) => {
                                shared.metrics.audio_late(Transport::Page);
                                audio_dropped += 1;
                                warn!(audio_dropped, "session not taking audio; chunk dropped");
                            }
                        }
                    }
                    Message::Text(body) => {
                        shared.metrics.bytes(Transport::Page, true, body.len());
                        if body.len() > limits.max_frame_bytes {
                            return too_large(body.len(), limits.max_frame_bytes);
                        }
                        idle.as_mut().reset(tokio::time::Instant::now() + limits.idle_timeout);
                        let command = match PageCommand::parse(&body) {
                            Ok(c) => c,
                            Err(e) => return e.into(),
                        };
                        // A command waits for room in the session's queue at most the send
                        // timeout, and never past a shutdown.
                        let applied = tokio::select! {
                            r = timeout(limits.send_timeout, bridge.apply(command, session)) => r,
                            _ = shared.shutdown.cancelled() => continue,
                        };
                        let reply = match applied {
                            Ok(Ok(reply)) => reply,
                            Ok(Err(e)) => return e.into(),
                            Err(_) => Some(PageEvent::Error {
                                message: "the session is busy reconnecting; command dropped".into(),
                            }),
                        };
                        if let Some(reply) = reply
                            && let Err(e) = send(socket, shared, text(&reply)).await
                        {
                            return e;
                        }
                    }
                    Message::Close(_) => return Ending::normal(1000, "page closed"),
                    // Pings are answered by the websocket layer; they count only against
                    // the rate.
                    Message::Ping(_) | Message::Pong(_) => {}
                }
            }
            event = session.next_event() => {
                let Some(event) = event else {
                    return Ending::normal(1000, "session ended");
                };
                let ended = match &event {
                    LiveEvent::Closed { error, .. } => Some(error.is_some()),
                    _ => None,
                };
                observer.observe(&shared.metrics, &event);
                bridge.translate(event, &mut out);
                for o in out.drain(..) {
                    let f = frame(o);
                    shared.metrics.bytes(Transport::Page, false, frame_len(&f));
                    if let Err(e) = send(socket, shared, f).await {
                        return e;
                    }
                }
                match ended {
                    Some(false) => return Ending::normal(1000, "session ended"),
                    Some(true) => return Ending::normal(1011, "session ended with an error"),
                    None => {}
                }
            }
            _ = &mut idle => {
                return ProtocolError::Idle(limits.idle_timeout.as_millis() as u64).into();
            }
        }
    }
}

/// A caller chunk the session takes longer than this to accept counts as late (the
/// shortest chunk the page protocol suggests is 20 ms).
const CHUNK_BUDGET: std::time::Duration = std::time::Duration::from_millis(20);

/// How long a caller chunk may wait for room in the session's queue (it fills only while
/// the session reconnects) before it is dropped: realtime audio is not queued up, and the
/// page's other frames and the model's events keep flowing.
const AUDIO_BUDGET: std::time::Duration = std::time::Duration::from_millis(50);

fn frame_len(m: &Message) -> usize {
    match m {
        Message::Binary(b) => b.len(),
        Message::Text(t) => t.len(),
        _ => 0,
    }
}

fn frame(o: Outgoing) -> Message {
    match o {
        Outgoing::Audio(pcm) => Message::Binary(pcm.into()),
        Outgoing::Event(e) => text(&e),
    }
}

fn text(event: &PageEvent) -> Message {
    Message::Text(event.to_json().into())
}

fn too_large(size: usize, limit: usize) -> Ending {
    ProtocolError::TooLarge { size, limit }.into()
}

/// Ends a websocket with the closing handshake of RFC 6455 §7.1.1: our Close frame, then
/// the peer's Close read back before the TCP connection is dropped, all within `limit`.
///
/// Dropping the socket right after our Close loses it when the peer is still writing (a
/// Twilio media frame, a page's microphone chunk): the peer's next write meets a reset,
/// and its stack may discard the Close it had not read yet, so the caller sees a 1006
/// instead of the reason. Frames the peer sends meanwhile are read and dropped.
pub(super) async fn close(socket: &mut WebSocket, code: u16, reason: String, limit: Duration) {
    let handshake = async {
        let frame = Message::Close(Some(CloseFrame {
            code,
            reason: reason.into(),
        }));
        if socket.send(frame).await.is_err() {
            return;
        }
        while let Some(Ok(m)) = socket.recv().await {
            if matches!(m, Message::Close(_)) {
                break;
            }
        }
    };
    let _ = timeout(limit, handshake).await;
}

/// Sends one frame, bounded by the send timeout: a page that does not read is closed.
async fn send(socket: &mut WebSocket, shared: &Shared, frame: Message) -> Result<(), Ending> {
    match timeout(shared.limits.send_timeout, socket.send(frame)).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(_)) => Err(Ending::normal(1000, "page gone")),
        Err(_) => Err(Ending {
            code: 1008,
            reason: "page not reading".into(),
            fault: true,
        }),
    }
}
