//! The session task: the one task that owns the socket.
//!
//! It `select!`s, in priority order, over: shutdown, queued tool responses (so results
//! never wait behind audio), inbound frames (decoded and handed to the control lane), the
//! keepalive timer, the goAway deadline, and the application's sends. When a connection
//! ends it decides: a fatal close ends the session; a goAway or a retryable loss re-dials
//! (with the latest resumption handle) while every queue keeps its contents, so the
//! application sees one continuous session.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use genai_wire::protocol::{self, ClientMessage, FunctionResponse, ToolResponse};
use genai_wire::{CloseInfo, Error as WireError};
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use super::control::{self, ControlState, Signal};
use super::link::{Dialer, Link};
use super::replay::Replay;
use crate::config::ReconnectPolicy;
use crate::error::Error;
use crate::event::{EventQueue, LiveEvent};
use crate::metrics::Metrics;
use crate::tools::lane::ToolLane;

/// Why one connection's loop stopped.
enum Exit {
    /// Disconnect or drop of the handle.
    Shutdown,
    /// goAway: move to a new connection now.
    Switch,
    /// The connection failed.
    Lost(Error),
}

pub(crate) struct SessionTask {
    pub(crate) dialer: Dialer,
    /// Boxed: a queue's blocks are sized by its item, and a box is 8 bytes.
    pub(crate) app_rx: mpsc::Receiver<Box<ClientMessage>>,
    pub(crate) tool_rx: mpsc::UnboundedReceiver<Box<FunctionResponse>>,
    pub(crate) shutdown: CancellationToken,
    pub(crate) lane: ToolLane,
    pub(crate) events: Arc<EventQueue>,
    pub(crate) metrics: Arc<Metrics>,
    pub(crate) reconnect: ReconnectPolicy,
    pub(crate) goaway_margin: Duration,
    pub(crate) state: ControlState,
    /// Messages taken from a queue whose write failed: written first on the next link.
    pub(crate) pending: VecDeque<ClientMessage>,
    /// Sent but not yet consumed (Vertex transparent resumption only).
    pub(crate) replay: Replay,
}

impl SessionTask {
    pub(crate) fn spawn(self, link: Link) -> tokio::task::JoinHandle<()> {
        let span = tracing::info_span!(
            "live_session",
            session_id = link.session_id.as_deref().unwrap_or("")
        );
        tokio::spawn(self.run(link).instrument(span))
    }

    async fn run(mut self, mut link: Link) {
        let (close, error) = loop {
            let exit = self.serve(&mut link).await;
            let after_goaway = match exit {
                // The cold paths (close, redial, finish) are boxed so that the session
                // task's future, which lives as long as the session, stays small.
                Exit::Shutdown => {
                    Box::pin(link.close()).await;
                    break (None, None);
                }
                Exit::Switch => {
                    tracing::info!("goAway: switching connection");
                    Box::pin(link.close()).await;
                    true
                }
                Exit::Lost(e) if !e.is_fatal() && self.reconnect.max_attempts > 0 => {
                    tracing::warn!(error = %e, "connection lost; reconnecting");
                    self.events.push(LiveEvent::Reconnecting {
                        error: e.to_string(),
                    });
                    // Let go of the dead socket first: the server refuses to resume a
                    // session whose previous connection it still sees open.
                    drop(link);
                    false
                }
                Exit::Lost(e) => {
                    tracing::warn!(error = %e, "session ended by error");
                    break (e.close().cloned(), Some(e));
                }
            };
            match Box::pin(self.redial(after_goaway)).await {
                Ok(next) => link = next,
                Err(None) => break (None, None),
                Err(Some(e)) => break (e.close().cloned(), Some(e)),
            }
        };
        Box::pin(self.finish(close, error)).await;
    }

    /// Ends the session: cancels every tool, reports what could not be delivered, emits
    /// the final `Closed` event.
    async fn finish(mut self, close: Option<CloseInfo>, error: Option<Error>) {
        self.lane.shutdown().await;
        self.tool_rx.close();
        self.drop_queued_responses();
        self.events.push(LiveEvent::Closed {
            close,
            error: error.map(|e| e.to_string()),
        });
    }

    /// Re-dials until it works, the policy gives up (`Err(Some)`), or the session is shut
    /// down (`Err(None)`).
    async fn redial(&mut self, after_goaway: bool) -> Result<Link, Option<Error>> {
        let attempts = self.reconnect.max_attempts.max(1);
        let mut last = None;
        for attempt in 0..attempts {
            let delay = self.reconnect.delay(attempt);
            tokio::select! {
                _ = self.shutdown.cancelled() => return Err(None),
                _ = tokio::time::sleep(delay) => {}
            }
            let handle = self.state.handle.clone();
            let dialed = tokio::select! {
                _ = self.shutdown.cancelled() => return Err(None),
                r = self.dialer.dial(handle.as_deref()) => r,
            };
            match dialed {
                Ok(link) => {
                    self.on_reconnected(handle.is_some());
                    return Ok(link);
                }
                Err(e) if handle.is_some() && e.close().is_some_and(|c| c.code == 1008) => {
                    // The handle is stale: the conversation is gone; start afresh.
                    tracing::warn!(error = %e, "resumption refused; starting a new session");
                    self.state.handle = None;
                    last = Some(e);
                }
                // A token fetch that failed (its own retries spent) may be a passing outage
                // of the token endpoint: it gets the reconnect budget, not an instant end.
                Err(e) if e.is_fatal() && !matches!(e, Error::Wire(WireError::Auth(_))) => {
                    return Err(Some(e));
                }
                Err(e) => {
                    tracing::warn!(attempt, error = %e, after_goaway, "reconnect failed");
                    last = Some(e);
                }
            }
        }
        Err(last)
    }

    fn on_reconnected(&mut self, resumed: bool) {
        Metrics::inc(&self.metrics.reconnects);
        let unconsumed = self.replay.take_for_new_link();
        if resumed {
            Metrics::inc(&self.metrics.resumptions);
            for message in unconsumed.into_iter().rev() {
                self.pending.push_front(message);
            }
        } else {
            // A fresh session knows none of the old calls: stop them and drop their
            // responses (reported), rather than answer ids the server never issued.
            self.lane.cancel_all_session_ended();
            self.drop_queued_responses();
        }
        self.state.generating = false;
        self.events.push(LiveEvent::Reconnected { resumed });
    }

    /// Takes every tool response still queued (failed writes and the lane's queue) and
    /// reports each as undelivered: none is dropped silently.
    fn drop_queued_responses(&mut self) {
        let mut lost = Vec::new();
        self.pending.retain(|m| match m {
            ClientMessage::ToolResponse(r) => {
                lost.extend(r.function_responses.iter().cloned());
                false
            }
            _ => true,
        });
        while let Ok(r) = self.tool_rx.try_recv() {
            lost.push(*r);
        }
        for r in lost {
            Metrics::inc(&self.metrics.undelivered_results);
            self.events.push(LiveEvent::ToolResultUndelivered {
                call_id: r.id.unwrap_or_default(),
                name: r.name,
            });
        }
    }

    /// Writes one message on the link and records it for replay.
    async fn write(&mut self, link: &mut Link, message: &ClientMessage) -> Result<(), Error> {
        link.send(message).await?;
        self.replay.sent(message);
        Ok(())
    }

    /// Runs one connection until it ends.
    async fn serve(&mut self, link: &mut Link) -> Exit {
        let mut goaway_deadline: Option<Instant> = None;
        loop {
            while let Some(message) = self.pending.pop_front() {
                if let Err(e) = self.write(link, &message).await {
                    self.pending.push_front(message);
                    return Exit::Lost(e);
                }
            }
            let goaway = async {
                match goaway_deadline {
                    Some(d) => tokio::time::sleep_until(d).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                biased;
                _ = self.shutdown.cancelled() => return Exit::Shutdown,
                Some(response) = self.tool_rx.recv() => {
                    let message = ClientMessage::ToolResponse(ToolResponse { function_responses: vec![*response] });
                    if let Err(e) = self.write(link, &message).await {
                        self.pending.push_back(message);
                        return Exit::Lost(e);
                    }
                }
                frame = link.reader.next_frame() => {
                    let frame = match frame {
                        Some(Ok(frame)) => frame,
                        Some(Err(e)) => return Exit::Lost(e.into()),
                        None => return Exit::Lost(WireError::Closed(CloseInfo { code: 1006, reason: String::new() }).into()),
                    };
                    let message = match protocol::decode_server(frame.data()) {
                        Ok(m) => m,
                        Err(e) => {
                            Metrics::inc(&self.metrics.decode_errors);
                            tracing::warn!(error = %e, "undecodable server frame");
                            self.events.push(LiveEvent::Error(e.to_string()));
                            continue;
                        }
                    };
                    let signal = control::on_message(message, &mut self.state, &self.events, &self.lane);
                    if let Some(index) = self.state.last_consumed.take() {
                        self.replay.consumed(index);
                    }
                    match signal {
                        Signal::GoAway(time_left) => {
                            let left = time_left.unwrap_or(Duration::ZERO);
                            goaway_deadline = Some(Instant::now() + left.saturating_sub(self.goaway_margin));
                            if !self.state.generating {
                                return Exit::Switch;
                            }
                        }
                        Signal::TurnBoundary if goaway_deadline.is_some() => return Exit::Switch,
                        _ => {}
                    }
                }
                due = link.keepalive.tick() => {
                    if let Err(e) = due {
                        return Exit::Lost(e.into());
                    }
                    if let Err(e) = link.writer.ping().await {
                        return Exit::Lost(e.into());
                    }
                }
                _ = goaway => return Exit::Switch,
                message = self.app_rx.recv() => {
                    let Some(message) = message else { return Exit::Shutdown };
                    let message = *message;
                    if let Err(e) = self.write(link, &message).await {
                        if e.is_fatal() {
                            // Refused locally (backend rules): report, keep the session.
                            self.events.push(LiveEvent::Error(e.to_string()));
                            continue;
                        }
                        self.pending.push_back(message);
                        return Exit::Lost(e);
                    }
                }
            }
        }
    }
}
