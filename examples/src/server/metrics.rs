//! What the agent server counts, exported at `/metrics` in the OpenMetrics text format
//! (which Prometheus scrapes).
//!
//! The library counts per session (`adk_live::MetricsSnapshot`) and reports every step as
//! a `LiveEvent`; the server observes those events for each caller and keeps the totals
//! here. Names follow Prometheus conventions: base units, `_total` on counters (added by
//! the encoder), `_seconds` on durations.
//!
//! | metric | labels | what |
//! |---|---|---|
//! | `agent_sessions_active` | `transport` (`page`, `phone`) | callers connected now |
//! | `agent_sessions_total` | `transport` | Live sessions opened |
//! | `agent_session_failures_total` | `transport` | sessions that could not be opened |
//! | `agent_live_reconnects_total` | `resumed` (`true`, `false`) | connection switches: resumed with a handle, or fresh |
//! | `agent_live_go_aways_total` | | goAways received |
//! | `agent_tool_calls_total` | `outcome` | completed, failed, cancelled_by_{server,application,model,session_end,replacement}, delivered_as_conversation, undelivered, unconfirmed |
//! | `agent_tool_ack_seconds` | | tool call started → acked (background calls) |
//! | `agent_tool_duration_seconds` | | tool call started → completed, failed or cancelled |
//! | `agent_audio_chunks_late_total` | `transport` | caller chunks the session took longer than 20 ms to accept, or dropped |
//! | `agent_caller_bytes_total` | `transport`, `direction` (`in`, `out`) | bytes on the callers' sockets |
//! | `agent_draining` | | 1 while draining |

use adk_live::bridge::ToolClock;
use adk_live::{CancelReason, LiveEvent};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

/// Which kind of caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    /// A page of the page protocol.
    Page,
    /// A Twilio call.
    Phone,
}

impl Transport {
    fn label(self) -> &'static str {
        match self {
            Transport::Page => "page",
            Transport::Phone => "phone",
        }
    }
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TransportLabel {
    transport: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ResumedLabel {
    resumed: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabel {
    outcome: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct BytesLabel {
    transport: &'static str,
    direction: &'static str,
}

/// The server's metrics.
#[derive(Debug)]
pub struct ServerMetrics {
    registry: Registry,
    sessions_active: Family<TransportLabel, Gauge>,
    sessions: Family<TransportLabel, Counter>,
    session_failures: Family<TransportLabel, Counter>,
    reconnects: Family<ResumedLabel, Counter>,
    go_aways: Counter,
    tool_calls: Family<OutcomeLabel, Counter>,
    tool_ack: Histogram,
    tool_duration: Histogram,
    audio_late: Family<TransportLabel, Counter>,
    bytes: Family<BytesLabel, Counter>,
    draining: Gauge,
}

impl Default for ServerMetrics {
    fn default() -> Self {
        Self::new()
    }
}

impl ServerMetrics {
    /// Empty metrics, registered.
    pub fn new() -> Self {
        let mut registry = Registry::default();
        let sessions_active = Family::<TransportLabel, Gauge>::default();
        let sessions = Family::<TransportLabel, Counter>::default();
        let session_failures = Family::<TransportLabel, Counter>::default();
        let reconnects = Family::<ResumedLabel, Counter>::default();
        let go_aways = Counter::default();
        let tool_calls = Family::<OutcomeLabel, Counter>::default();
        // An ack is written at once: sub-millisecond buckets.
        let tool_ack = Histogram::new([0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5]);
        // Tools run for seconds or minutes.
        let tool_duration =
            Histogram::new([0.01, 0.1, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0]);
        let audio_late = Family::<TransportLabel, Counter>::default();
        let bytes = Family::<BytesLabel, Counter>::default();
        let draining = Gauge::default();
        registry.register(
            "agent_sessions_active",
            "Callers connected now",
            sessions_active.clone(),
        );
        registry.register("agent_sessions", "Live sessions opened", sessions.clone());
        registry.register(
            "agent_session_failures",
            "Live sessions that could not be opened",
            session_failures.clone(),
        );
        registry.register(
            "agent_live_reconnects",
            "Connection switches: resumed with a handle, or fresh",
            reconnects.clone(),
        );
        registry.register("agent_live_go_aways", "goAways received", go_aways.clone());
        registry.register(
            "agent_tool_calls",
            "Tool calls by outcome",
            tool_calls.clone(),
        );
        registry.register(
            "agent_tool_ack_seconds",
            "Tool call started to acked (background calls)",
            tool_ack.clone(),
        );
        registry.register(
            "agent_tool_duration_seconds",
            "Tool call started to completed, failed or cancelled",
            tool_duration.clone(),
        );
        registry.register(
            "agent_audio_chunks_late",
            "Caller audio chunks the session took longer than 20 ms to accept, or dropped",
            audio_late.clone(),
        );
        registry.register(
            "agent_caller_bytes",
            "Bytes on the callers' sockets",
            bytes.clone(),
        );
        registry.register(
            "agent_draining",
            "1 while the server drains",
            draining.clone(),
        );
        ServerMetrics {
            registry,
            sessions_active,
            sessions,
            session_failures,
            reconnects,
            go_aways,
            tool_calls,
            tool_ack,
            tool_duration,
            audio_late,
            bytes,
            draining,
        }
    }

    /// The OpenMetrics text.
    pub fn render(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = encode(&mut out, &self.registry);
        out
    }

    /// A caller connected (its session may still fail to open).
    pub fn caller_connected(&self, t: Transport) -> ActiveGuard<'_> {
        self.sessions_active.get_or_create(&transport(t)).inc();
        ActiveGuard { metrics: self, t }
    }

    /// A session opened, or failed to.
    pub fn session_opened(&self, t: Transport, ok: bool) {
        let family = if ok {
            &self.sessions
        } else {
            &self.session_failures
        };
        family.get_or_create(&transport(t)).inc();
    }

    /// Bytes on a caller's socket.
    pub fn bytes(&self, t: Transport, inbound: bool, n: usize) {
        self.bytes
            .get_or_create(&BytesLabel {
                transport: t.label(),
                direction: if inbound { "in" } else { "out" },
            })
            .inc_by(n as u64);
    }

    /// A caller audio chunk late or dropped.
    pub fn audio_late(&self, t: Transport) {
        self.audio_late.get_or_create(&transport(t)).inc();
    }

    /// The drain started.
    pub fn set_draining(&self) {
        self.draining.set(1);
    }
}

fn transport(t: Transport) -> TransportLabel {
    TransportLabel {
        transport: t.label(),
    }
}

/// Holds `agent_sessions_active` up while a caller is connected.
#[derive(Debug)]
pub struct ActiveGuard<'a> {
    metrics: &'a ServerMetrics,
    t: Transport,
}

impl Drop for ActiveGuard<'_> {
    fn drop(&mut self) {
        self.metrics
            .sessions_active
            .get_or_create(&transport(self.t))
            .dec();
    }
}

/// One session's view: the start time of each call, to time acks and durations.
#[derive(Debug, Default)]
pub struct SessionObserver {
    clock: ToolClock,
}

impl SessionObserver {
    /// Counts what `event` says.
    pub fn observe(&mut self, m: &ServerMetrics, event: &LiveEvent) {
        let outcome = |o: &'static str| {
            m.tool_calls
                .get_or_create(&OutcomeLabel { outcome: o })
                .inc();
        };
        match event {
            LiveEvent::GoAway { .. } => {
                m.go_aways.inc();
            }
            LiveEvent::Reconnected { resumed } => {
                m.reconnects
                    .get_or_create(&ResumedLabel {
                        resumed: if *resumed { "true" } else { "false" },
                    })
                    .inc();
            }
            LiveEvent::ToolStarted { call_id, .. } => self.clock.start(call_id),
            LiveEvent::ToolAcked { call_id, .. } => {
                if let Some(t) = self.clock.elapsed(call_id) {
                    m.tool_ack.observe(t.as_secs_f64());
                }
            }
            LiveEvent::ToolCompleted {
                elapsed, call_id, ..
            } => {
                outcome("completed");
                m.tool_duration.observe(elapsed.as_secs_f64());
                self.clock.finish(call_id);
            }
            LiveEvent::ToolFailed { call_id, .. } => {
                outcome("failed");
                self.finish(m, call_id);
            }
            LiveEvent::ToolCancelled {
                call_id, reason, ..
            } => {
                outcome(match reason {
                    CancelReason::Server => "cancelled_by_server",
                    CancelReason::Application => "cancelled_by_application",
                    CancelReason::Model => "cancelled_by_model",
                    CancelReason::SessionEnded => "cancelled_by_session_end",
                    CancelReason::Replaced => "cancelled_by_replacement",
                });
                self.finish(m, call_id);
            }
            LiveEvent::ToolResultAsConversation { .. } => outcome("delivered_as_conversation"),
            LiveEvent::ToolResultUndelivered { .. } => outcome("undelivered"),
            LiveEvent::ToolResultUnconfirmed { .. } => outcome("unconfirmed"),
            _ => {}
        }
    }

    fn finish(&mut self, m: &ServerMetrics, call_id: &str) {
        if let Some(t) = self.clock.finish(call_id) {
            m.tool_duration.observe(t.as_secs_f64());
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use serde_json::json;

    use super::*;

    #[test]
    fn names_follow_prometheus_conventions() {
        let m = ServerMetrics::new();
        let _page = m.caller_connected(Transport::Page);
        m.session_opened(Transport::Page, true);
        let mut o = SessionObserver::default();
        o.observe(
            &m,
            &LiveEvent::ToolStarted {
                call_id: "c".into(),
                name: "search".into(),
                args: json!({}),
                background: true,
            },
        );
        o.observe(
            &m,
            &LiveEvent::ToolAcked {
                call_id: "c".into(),
                name: "search".into(),
            },
        );
        o.observe(
            &m,
            &LiveEvent::ToolCompleted {
                call_id: "c".into(),
                name: "search".into(),
                result: json!({}),
                elapsed: Duration::from_millis(1500),
            },
        );
        let text = m.render();
        for line in [
            "agent_sessions_active{transport=\"page\"} 1",
            "agent_sessions_total{transport=\"page\"} 1",
            "agent_tool_calls_total{outcome=\"completed\"} 1",
            "agent_tool_ack_seconds_count 1",
            "agent_tool_duration_seconds_bucket{le=\"2.5\"} 1",
            "agent_draining 0",
            "# EOF",
        ] {
            assert!(text.contains(line), "{line} in\n{text}");
        }
        drop(_page);
        assert!(
            m.render()
                .contains("agent_sessions_active{transport=\"page\"} 0")
        );
    }
}
