//! One page's side of a session: session events out, page commands in.

use genai_wire::Backend;

use super::fence::PlaybackFence;
use super::page::{
    ConnectionState, OUTPUT_SAMPLE_RATE, PROTOCOL_VERSION, PageCommand, PageEvent, ProtocolError,
    Role, ToolPhase, ToolUpdate,
};
use super::tool_clock::ToolClock;
use crate::{LiveEvent, LiveHandle};

/// What goes to the page for one session event.
#[derive(Debug, Clone, PartialEq)]
pub enum Outgoing {
    /// A binary frame: model audio, PCM16 LE mono.
    Audio(Vec<u8>),
    /// A JSON text frame.
    Event(PageEvent),
}

/// Translates one session's events for its page and applies the page's commands.
///
/// It keeps the [`PlaybackFence`], the rate of the audio sent so far and each tool call's
/// start time. A server owns one per page connection.
///
/// ```
/// use adk_live::LiveEvent;
/// use adk_live::bridge::page::PageEvent;
/// use adk_live::bridge::{Outgoing, PageBridge};
///
/// let mut bridge = PageBridge::new();
/// let mut out = Vec::new();
/// bridge.translate(LiveEvent::Interrupted, &mut out);
/// bridge.translate(LiveEvent::Audio { pcm: vec![0; 4], sample_rate: 24_000 }, &mut out);
/// assert_eq!(out, vec![Outgoing::Event(PageEvent::Interrupted)], "late audio is fenced");
/// ```
#[derive(Debug)]
pub struct PageBridge {
    fence: PlaybackFence,
    output_rate: u32,
    /// Each call's start, for `elapsed_ms` (0 once a call is forgotten).
    clock: ToolClock,
}

impl Default for PageBridge {
    fn default() -> Self {
        Self::new()
    }
}

impl PageBridge {
    /// A bridge for a new page connection.
    pub fn new() -> Self {
        PageBridge {
            fence: PlaybackFence::default(),
            output_rate: OUTPUT_SAMPLE_RATE,
            clock: ToolClock::default(),
        }
    }

    /// The [`PageEvent::Ready`] for a session on `backend`.
    pub fn ready(&self, backend: Backend) -> PageEvent {
        PageEvent::Ready {
            protocol: PROTOCOL_VERSION,
            input_rate: super::page::INPUT_SAMPLE_RATE,
            output_rate: self.output_rate,
            backend: match backend {
                Backend::DeveloperApi => "developer",
                Backend::VertexAi => "vertex",
            }
            .into(),
        }
    }

    /// The fence, for its counters.
    pub fn fence(&self) -> &PlaybackFence {
        &self.fence
    }

    /// Appends what the page receives for `event` to `out` (nothing for events a page has
    /// no use for: usage, resumption handles).
    pub fn translate(&mut self, event: LiveEvent, out: &mut Vec<Outgoing>) {
        if !self.fence.admit(&event) {
            return;
        }
        let page = match event {
            LiveEvent::Audio { pcm, sample_rate } => {
                if sample_rate != self.output_rate {
                    self.output_rate = sample_rate;
                    out.push(Outgoing::Event(PageEvent::AudioFormat { sample_rate }));
                }
                out.push(Outgoing::Audio(pcm));
                return;
            }
            LiveEvent::Connected { .. } => connection(ConnectionState::Connected),
            LiveEvent::GoAway { time_left } => PageEvent::Connection {
                state: ConnectionState::GoAway,
                time_left_ms: time_left.map(|t| t.as_millis() as u64),
                detail: None,
            },
            LiveEvent::Reconnecting { error, .. } => PageEvent::Connection {
                state: ConnectionState::Reconnecting,
                time_left_ms: None,
                detail: Some(error),
            },
            LiveEvent::Reconnected { resumed } => connection(if resumed {
                ConnectionState::Resumed
            } else {
                ConnectionState::Fresh
            }),
            LiveEvent::Text(text) => PageEvent::Text { text },
            LiveEvent::InputTranscript { text, finished } => PageEvent::Transcript {
                role: Role::User,
                text,
                finished,
            },
            LiveEvent::OutputTranscript { text, finished } => PageEvent::Transcript {
                role: Role::Model,
                text,
                finished,
            },
            LiveEvent::GenerationComplete => PageEvent::GenerationComplete,
            LiveEvent::TurnComplete => PageEvent::TurnComplete,
            LiveEvent::Interrupted => PageEvent::Interrupted,
            LiveEvent::VoiceActivity { start } => PageEvent::VoiceActivity { start },
            LiveEvent::Error(message) => PageEvent::Error { message },
            LiveEvent::Closed { close, error } => PageEvent::Closed {
                reason: match (error, close) {
                    (Some(e), _) => e,
                    (None, Some(c)) => format!("the Live API closed the session: {c}"),
                    (None, None) => "the session ended".into(),
                },
            },
            LiveEvent::ToolStarted {
                call_id,
                name,
                args,
                background,
            } => {
                self.clock.start(&call_id);
                let mut u = self.update(call_id, name, ToolPhase::Started);
                u.args = Some(args);
                u.background = Some(background);
                PageEvent::Tool(u)
            }
            LiveEvent::ToolAcked { call_id, name } => {
                PageEvent::Tool(self.update(call_id, name, ToolPhase::Acked))
            }
            LiveEvent::ToolProgress {
                call_id,
                name,
                progress,
            } => {
                let mut u = self.update(call_id, name, ToolPhase::Progress);
                u.progress = Some(progress);
                PageEvent::Tool(u)
            }
            LiveEvent::ToolCompleted {
                call_id,
                name,
                result,
                elapsed,
            } => {
                let mut u = self.update(call_id, name, ToolPhase::Completed);
                u.elapsed_ms = elapsed.as_millis() as u64;
                u.result = Some(result);
                PageEvent::Tool(u)
            }
            LiveEvent::ToolFailed {
                call_id,
                name,
                error,
            } => {
                let mut u = self.update(call_id, name, ToolPhase::Failed);
                u.error = Some(error);
                PageEvent::Tool(u)
            }
            LiveEvent::ToolCancelled {
                call_id,
                name,
                reason,
                ..
            } => {
                let mut u = self.update(call_id, name, ToolPhase::Cancelled);
                u.reason = Some(reason.into());
                PageEvent::Tool(u)
            }
            LiveEvent::ToolResultAsConversation { call_id, name } => {
                PageEvent::Tool(self.update(call_id, name, ToolPhase::AsConversation))
            }
            LiveEvent::ToolResultUndelivered { call_id, name } => {
                PageEvent::Tool(self.update(call_id, name, ToolPhase::Undelivered))
            }
            LiveEvent::ToolResultUnconfirmed { call_id, name } => {
                PageEvent::Tool(self.update(call_id, name, ToolPhase::Unconfirmed))
            }
            // Nothing for the page: token counts, resumption handles, and whatever a
            // later version of the runtime adds.
            _ => return,
        };
        out.push(Outgoing::Event(page));
    }

    /// Applies one command from the page to the session. `Hello` after the handshake is a
    /// protocol error; a cancel of a call that is not running gets a non-fatal
    /// [`PageEvent::Error`] back (returned), as does a send the session refused.
    pub async fn apply(
        &self,
        command: PageCommand,
        session: &LiveHandle,
    ) -> Result<Option<PageEvent>, ProtocolError> {
        let refused = |what: &str, e: crate::Error| {
            Some(PageEvent::Error {
                message: format!("{what}: {e}"),
            })
        };
        Ok(match command {
            PageCommand::Hello { .. } => return Err(ProtocolError::Order("hello sent twice")),
            PageCommand::Text { text } => session
                .send_text(text)
                .await
                .err()
                .and_then(|e| refused("text refused", e)),
            PageCommand::CancelTool { call_id } => {
                if session.cancel_tool(&call_id) {
                    None
                } else {
                    Some(PageEvent::Error {
                        message: format!("no running tool call {call_id}"),
                    })
                }
            }
            PageCommand::Mute { muted } => {
                if muted && session.backend() == Backend::DeveloperApi {
                    session
                        .audio_stream_end()
                        .await
                        .err()
                        .and_then(|e| refused("audioStreamEnd refused", e))
                } else {
                    None
                }
            }
        })
    }

    fn update(&self, call_id: String, name: String, phase: ToolPhase) -> ToolUpdate {
        let elapsed_ms = self
            .clock
            .elapsed(&call_id)
            .map_or(0, |t| t.as_millis() as u64);
        ToolUpdate {
            call_id,
            name,
            phase,
            elapsed_ms,
            background: None,
            args: None,
            progress: None,
            result: None,
            error: None,
            reason: None,
        }
    }
}

fn connection(state: ConnectionState) -> PageEvent {
    PageEvent::Connection {
        state,
        time_left_ms: None,
        detail: None,
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use serde_json::json;

    use super::*;
    use crate::CancelReason;

    fn run(events: Vec<LiveEvent>) -> Vec<Outgoing> {
        let mut bridge = PageBridge::new();
        let mut out = Vec::new();
        for e in events {
            bridge.translate(e, &mut out);
        }
        out
    }

    #[test]
    fn a_tool_call_life_with_durations() {
        let out = run(vec![
            LiveEvent::ToolStarted {
                call_id: "c1".into(),
                name: "search".into(),
                args: json!({"query": "q"}),
                background: true,
            },
            LiveEvent::ToolAcked {
                call_id: "c1".into(),
                name: "search".into(),
            },
            LiveEvent::ToolCompleted {
                call_id: "c1".into(),
                name: "search".into(),
                result: json!({"ok": true}),
                elapsed: Duration::from_millis(2100),
            },
            LiveEvent::ToolCancelled {
                call_id: "c2".into(),
                name: "get_weather".into(),
                payload: json!({}),
                reason: CancelReason::Server,
            },
        ]);
        let phases: Vec<_> = out
            .iter()
            .map(|o| match o {
                Outgoing::Event(PageEvent::Tool(u)) => (u.phase, u.elapsed_ms, u.reason),
                other => panic!("unexpected {other:?}"),
            })
            .collect();
        assert_eq!(phases[0].0, ToolPhase::Started);
        assert_eq!(phases[1].0, ToolPhase::Acked);
        assert_eq!(phases[2], (ToolPhase::Completed, 2100, None));
        assert_eq!(
            phases[3],
            (
                ToolPhase::Cancelled,
                0,
                Some(super::super::page::CancelledBy::Server)
            )
        );
    }

    #[test]
    fn audio_at_a_new_rate_is_announced_once() {
        let audio = |rate| LiveEvent::Audio {
            pcm: vec![0; 2],
            sample_rate: rate,
        };
        let out = run(vec![audio(24_000), audio(16_000), audio(16_000)]);
        assert_eq!(
            out,
            vec![
                Outgoing::Audio(vec![0; 2]),
                Outgoing::Event(PageEvent::AudioFormat {
                    sample_rate: 16_000
                }),
                Outgoing::Audio(vec![0; 2]),
                Outgoing::Audio(vec![0; 2]),
            ]
        );
    }

    #[test]
    fn tracked_calls_stay_bounded() {
        let mut bridge = PageBridge::new();
        let mut out = Vec::new();
        for i in 0..ToolClock::TRACKED + 10 {
            bridge.translate(
                LiveEvent::ToolStarted {
                    call_id: format!("c{i}"),
                    name: "t".into(),
                    args: json!({}),
                    background: false,
                },
                &mut out,
            );
        }
        assert_eq!(bridge.clock.len(), ToolClock::TRACKED);
        assert!(
            bridge
                .clock
                .elapsed(&format!("c{}", ToolClock::TRACKED + 9))
                .is_some()
        );
    }
}
