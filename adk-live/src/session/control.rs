//! The control lane: what each server message means for the application and the session.
//!
//! It runs inside the session task, for every decoded frame, and never waits: audio and
//! transcripts go to the event queue, tool calls and cancellations go to the tool lane
//! (which only queues and spawns), goAway and resumption updates become [`Signal`]s for
//! the session task.

use std::time::Duration;

use genai_wire::profile::IdleSignal;
use genai_wire::protocol::{
    InteractionStatus, ServerContent, ServerMessage, ServerPayload, VoiceActivityType,
};

use super::history::History;
use super::ledger::Ledger;
use crate::event::{EventQueue, LiveEvent};
use crate::tools::lane::ToolLane;

/// What the session task must act on after a message.
#[derive(Debug, PartialEq)]
pub(crate) enum Signal {
    /// Nothing to do.
    None,
    /// The server will close the connection after this long.
    GoAway(Option<Duration>),
}

/// Turn state, the latest resumption handle and the calls' ledger, kept across
/// connections.
#[derive(Debug, Default)]
pub(crate) struct ControlState {
    /// The model is producing a turn.
    pub(crate) generating: bool,
    /// The latest handle the server offered.
    pub(crate) handle: Option<String>,
    /// What the server session knows about each call.
    pub(crate) ledger: Ledger,
    /// The conversation so far, to seed a fresh server session.
    pub(crate) history: History,
    /// How the model signals that it is idle (its profile).
    pub(crate) idle_signal: IdleSignal,
    /// `lastConsumedClientMessageIndex` of the latest update (Vertex transparent mode).
    pub(crate) last_consumed: Option<i64>,
}

pub(crate) fn on_message(
    msg: ServerMessage,
    state: &mut ControlState,
    events: &EventQueue,
    lane: &ToolLane,
) -> Signal {
    let mut signal = Signal::None;
    match msg.payload {
        ServerPayload::ServerContent(content) => signal = on_content(content, state, events),
        ServerPayload::ToolCall(call) => {
            tracing::debug!(calls = call.function_calls.len(), "toolCall");
            for (id, name, started) in lane.on_tool_call(call) {
                state
                    .ledger
                    .issued(&id, &name, started.deferred, started.blocking);
                state.history.call(&name);
            }
        }
        ServerPayload::ToolCallCancellation(c) => {
            tracing::debug!(ids = ?c.ids, "toolCallCancellation");
            lane.on_cancellation(&c.ids);
            state.ledger.cancelled(&c.ids);
        }
        ServerPayload::GoAway(g) => {
            events.push(LiveEvent::GoAway {
                time_left: g.time_left,
            });
            signal = Signal::GoAway(g.time_left);
        }
        ServerPayload::SessionResumptionUpdate(u) => {
            let resumable = u.resumable.unwrap_or(false);
            tracing::debug!(
                resumable,
                handle = u.new_handle.as_deref().is_some_and(|h| !h.is_empty()),
                "sessionResumptionUpdate"
            );
            if let Some(h) = u.new_handle.as_ref().filter(|h| resumable && !h.is_empty()) {
                state.handle = Some(h.clone());
                state.ledger.new_handle();
            }
            if u.last_consumed_client_message_index.is_some() {
                state.last_consumed = u.last_consumed_client_message_index;
            }
            events.push(LiveEvent::Resumption {
                handle: u.new_handle,
                resumable,
            });
        }
        ServerPayload::VoiceActivity(v) => match v.voice_activity_type {
            Some(VoiceActivityType::ActivityStart) => {
                events.push(LiveEvent::VoiceActivity { start: true })
            }
            Some(VoiceActivityType::ActivityEnd) => {
                events.push(LiveEvent::VoiceActivity { start: false })
            }
            _ => {}
        },
        ServerPayload::SetupComplete(_) => tracing::debug!("extra setupComplete ignored"),
        ServerPayload::Unknown(raw) => tracing::debug!(%raw, "unknown server message ignored"),
        _ => {}
    }
    if let Some(usage) = msg.usage_metadata {
        events.push(LiveEvent::Usage(usage));
    }
    signal
}

fn on_content(content: ServerContent, state: &mut ControlState, events: &EventQueue) -> Signal {
    if let Some(t) = content.input_transcription
        && let Some(text) = t.text.filter(|t| !t.is_empty())
    {
        state.history.user(&text);
        events.push(LiveEvent::InputTranscript {
            text,
            finished: t.finished.unwrap_or(false),
        });
    }
    if content.model_turn.is_some() || content.output_transcription.is_some() {
        state.ledger.model_output();
    }
    if let Some(turn) = content.model_turn {
        state.generating = true;
        for part in turn.parts {
            let thought = part.is_thought();
            if let Some(blob) = part.inline_data {
                if blob.is_audio() {
                    let sample_rate = blob.sample_rate();
                    events.push(LiveEvent::Audio {
                        pcm: blob.data,
                        sample_rate,
                    });
                }
            } else if let Some(text) = part.text
                && !thought
            {
                state.history.model(&text);
                events.push(LiveEvent::Text(text));
            }
        }
    }
    if let Some(t) = content.output_transcription
        && let Some(text) = t.text.filter(|t| !t.is_empty())
    {
        state.history.model(&text);
        events.push(LiveEvent::OutputTranscript {
            text,
            finished: t.finished.unwrap_or(false),
        });
    }
    if content.interrupted == Some(true) {
        // The model stopped speaking; a turnComplete may or may not follow.
        state.generating = false;
        events.push(LiveEvent::Interrupted);
    }
    if content.generation_complete == Some(true) {
        events.push(LiveEvent::GenerationComplete);
    }
    // With `interactionStatus` (3.8 extended thinking) a turn's end is not idleness: the
    // model may speak again while it reasons or waits on tools, until `IDLE` ("always
    // sent alongside turn_complete": google-genai 3.6.1 types.py; REQUIRES_ACTION is the
    // deprecated spelling of IDLE).
    let status = content.interaction_status;
    match status {
        Some(InteractionStatus::InProgress) => state.generating = true,
        // Idle, even when it comes on its own after background reasoning.
        Some(InteractionStatus::Idle | InteractionStatus::RequiresAction) => {
            state.generating = false
        }
        _ => {}
    }
    if content.turn_complete == Some(true) {
        state.generating = match state.idle_signal {
            IdleSignal::TurnComplete => false,
            IdleSignal::InteractionStatus => status == Some(InteractionStatus::InProgress),
        };
        events.push(LiveEvent::TurnComplete);
    }
    Signal::None
}
