//! The *floor* client: the same sockets, TLS and workload as the adk-live sessions, with
//! nothing on top. Each session is one task that owns its websocket (genai-wire's
//! transport, the same tungstenite + rustls stack adk-live uses), writes frames encoded
//! once up front, and finds what it must react to in a frame by substring search instead
//! of decoding it: no session task, no event queue, no tool lane, no ledger.
//!
//! Why: adk-live's CPU as a ratio to this is what the runtime costs on top of the kernel,
//! TLS and the websocket (issue 14's "within 25 % of the floor"). It answers the
//! background tool exactly as adk-live does on the wire (ack with `willContinue: true`
//! and `SILENT` at once, the result `WHEN_IDLE` after `tool_ms`), so the emulator runs
//! the same script for both.

use std::collections::VecDeque;
use std::future::Future;
use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;

use genai_wire::Backend;
use genai_wire::auth::{Credentials, connect_request};
use genai_wire::endpoint::Endpoint;
use genai_wire::protocol::{
    self, Behavior, ClientMessage, SessionResumptionConfig, Setup, Tool as WireTool,
};
use genai_wire::transport::{self, TextFrame, Wait, Wakes, WireFrame, WireReader, WireWriter};
use tokio::time::Instant;

use super::client::{Act, ClientOpts, Lateness, SessionResult, Target, Turns};

/// Frames every floor session writes, encoded once (the chunks shared: a write clones a
/// reference, not the bytes).
pub struct Frames {
    setup: String,
    voiced: TextFrame,
    silence: TextFrame,
    text: TextFrame,
}

impl Frames {
    /// Encodes the setup (what adk-live sends for the same builder: default model,
    /// audio, both transcriptions, sliding-window compression, resumption, `search`
    /// declared `NON_BLOCKING`) and the chunks.
    pub fn new(
        voiced: &[u8],
        silence: &[u8],
        search: genai_wire::protocol::FunctionDeclaration,
    ) -> Frames {
        let mut search = search;
        search.behavior = Some(Behavior::NonBlocking);
        // The setup `Live::builder()` starts from, read through its own editing hook so
        // that the floor follows its defaults; then what connecting adds for this
        // builder: the model's full name, resumption, the tool.
        let mut setup = Setup::default();
        let _ = adk_live::Live::builder().setup(|s| setup = s.clone());
        setup.model = Endpoint::developer(Default::default())
            .model_name(&setup.model)
            .unwrap();
        setup.session_resumption = Some(SessionResumptionConfig::default());
        setup.tools = vec![WireTool {
            function_declarations: vec![search],
            ..Default::default()
        }];
        let encode = |m: &ClientMessage| protocol::encode_client(m, Backend::DeveloperApi).unwrap();
        let chunk = |pcm: &[u8]| protocol::encode_audio_input(pcm, 16_000);
        Frames {
            setup: encode(&ClientMessage::from(setup)),
            voiced: chunk(voiced).into(),
            silence: chunk(silence).into(),
            text: encode(&ClientMessage::realtime_text(
                "Find me a flight to Lisbon.".to_owned(),
            ))
            .into(),
        }
    }
}

impl Frames {
    /// The setup message, as JSON (what a [`super::client::Peer`] mirrors).
    pub fn setup_json(&self) -> serde_json::Value {
        serde_json::from_str(&self.setup).unwrap_or_default()
    }
}

/// One set-up floor connection.
pub struct FloorConn {
    writer: WireWriter,
    reader: WireReader,
}

/// Dials, sends the setup and waits for `setupComplete`.
pub async fn connect(
    target: &Target,
    o: &ClientOpts,
    frames: &Frames,
) -> Result<FloorConn, String> {
    let endpoint =
        Endpoint::custom(&target.url, Backend::DeveloperApi).map_err(|e| e.to_string())?;
    let request = connect_request(&endpoint, &Credentials::None)
        .await
        .map_err(|e| e.to_string())?;
    let config = target
        .transport
        .clone()
        .with_read_buffer_size(o.read_buffer);
    let connection = transport::connect(&request, &config)
        .await
        .map_err(|e| e.to_string())?;
    let (mut writer, mut reader) = connection.split();
    writer
        .send_text(frames.setup.clone())
        .await
        .map_err(|e| e.to_string())?;
    match reader.next_frame().await {
        Some(Ok(f)) if contains(f.data(), b"setupComplete") => Ok(FloorConn { writer, reader }),
        other => Err(format!(
            "no setupComplete: {:?}",
            other.map(|f| f.map(|f| f.data().len()))
        )),
    }
}

/// Substring search at memory speed (SIMD): a frame of model audio is ~6.5 KB and is
/// searched a few times, so a naive window-by-window compare would put its own cost into
/// the floor.
fn contains(hay: &[u8], needle: &[u8]) -> bool {
    memchr::memmem::find(hay, needle).is_some()
}

/// The ids of the calls in a `toolCall` frame (`"id": "..."` after `functionCalls`).
fn call_ids(frame: &[u8]) -> Vec<String> {
    let text = String::from_utf8_lossy(frame);
    let Some(start) = text.find("\"functionCalls\"") else {
        return Vec::new();
    };
    let mut ids = Vec::new();
    let mut rest = &text[start..];
    while let Some(at) = rest.find("\"id\"") {
        rest = &rest[at + 4..];
        let Some(open) = rest.find('"') else { break };
        let value = &rest[open + 1..];
        let Some(close) = value.find('"') else { break };
        ids.push(value[..close].to_owned());
        rest = &value[close + 1..];
    }
    ids
}

fn ack(id: &str) -> String {
    format!(
        r#"{{"toolResponse":{{"functionResponses":[{{"id":"{id}","name":"search","response":{{"status":"running","tool":"search"}},"willContinue":true,"scheduling":"SILENT"}}]}}}}"#
    )
}

fn result(id: &str) -> String {
    format!(
        r#"{{"toolResponse":{{"functionResponses":[{{"id":"{id}","name":"search","response":{{"status":"completed","tool":"search","result":{{"query":"Lisbon","results":[{{"flight":"TP1337","price_eur":89}}]}}}},"willContinue":false,"scheduling":"WHEN_IDLE"}}]}}}}"#
    )
}

/// The floor loop's waits with a waker of their own.
const SOCKET: Wait = Wait::new(0);
const TICK: Wait = Wait::new(1);

/// What ended one wait of the floor loop.
enum Woke {
    Frame(Option<genai_wire::Result<WireFrame>>),
    Result,
    Tick(Instant),
}

/// Runs one floor session through the workload until `end`.
#[allow(clippy::too_many_arguments)]
pub async fn drive(
    i: usize,
    conn: FloorConn,
    o: Arc<ClientOpts>,
    frames: Arc<Frames>,
    start: Instant,
    end: Instant,
    lateness: Arc<Lateness>,
) -> SessionResult {
    let FloorConn {
        mut writer,
        mut reader,
    } = conn;
    let mut r = SessionResult::default();
    let mut turns = Turns::new(i, &o, start);
    let mut tick = turns.ticks(i, start);
    let tool = Duration::from_millis(o.tool_ms);
    let mut due_results: VecDeque<(Instant, String)> = VecDeque::new();
    let failed = |r: &mut SessionResult, what: &str, e: &dyn std::fmt::Display| {
        r.error = Some(format!("session {i}: {what}: {e}"));
    };
    // Like adk-live's session task, the socket and the tick are polled only when their
    // own waker fired: a floor that polled its socket on every tick would pay for reads
    // adk-live does not make (see `genai_wire::transport::Wakes`).
    let wakes = Wakes::new(2);
    'session: loop {
        let next_result = due_results.front().map(|(at, _)| *at);
        let woke = {
            let mut frame = std::pin::pin!(reader.next_frame());
            // Re-created each turn, so polled each turn while a result is due.
            let mut result_due = std::pin::pin!(next_result.map(tokio::time::sleep_until));
            std::future::poll_fn(|cx| {
                let woken = wakes.begin(cx);
                if let Poll::Ready(f) = wakes.poll(woken, SOCKET, |cx| frame.as_mut().poll(cx)) {
                    return Poll::Ready(Woke::Frame(f));
                }
                if let Some(due) = result_due.as_mut().as_pin_mut()
                    && due.poll(cx).is_ready()
                {
                    return Poll::Ready(Woke::Result);
                }
                if let Poll::Ready(due) = wakes.poll(woken, TICK, |cx| tick.poll_tick(cx)) {
                    return Poll::Ready(Woke::Tick(due));
                }
                Poll::Pending
            })
            .await
        };
        match woke {
            Woke::Frame(frame) => {
                let frame = match frame {
                    Some(Ok(f)) => f,
                    Some(Err(e)) => {
                        failed(&mut r, "read", &e);
                        break;
                    }
                    None => {
                        r.error = Some(format!("session {i}: closed"));
                        break;
                    }
                };
                let data = frame.data();
                let now = Instant::now();
                if contains(data, b"\"toolCall\"") {
                    for id in call_ids(data) {
                        r.tool_started += 1;
                        if let Err(e) = writer.send_text(ack(&id)).await {
                            failed(&mut r, "ack", &e);
                            break 'session;
                        }
                        r.metrics_acks += 1;
                        due_results.push_back((now + tool, id));
                    }
                } else if contains(data, b"\"inlineData\"") {
                    r.audio_received += 1;
                    turns.on_audio(now, &mut r);
                }
                if contains(data, b"\"turnComplete\":true") {
                    turns.on_turn_complete(now, &mut r);
                }
                if contains(data, b"\"interrupted\":true") {
                    r.interrupted += 1;
                }
            }
            Woke::Result => {
                if let Some((_, id)) = due_results.pop_front() {
                    if let Err(e) = writer.send_text(result(&id)).await {
                        failed(&mut r, "result", &e);
                        break;
                    }
                    r.metrics_results += 1;
                }
            }
            Woke::Tick(due) => {
                if due >= end {
                    break;
                }
                let frame = match turns.on_tick(due, Instant::now(), &mut r, &lateness) {
                    Act::Nothing => continue,
                    Act::Text => &frames.text,
                    Act::Audio(true) => &frames.voiced,
                    Act::Audio(false) => &frames.silence,
                };
                if let Err(e) = writer.send_frame(frame.clone()).await {
                    failed(&mut r, "send", &e);
                    break;
                }
                r.chunks_sent += u64::from(o.mic);
            }
        }
    }
    let _ = tokio::time::timeout(Duration::from_secs(2), writer.close(1000, "done")).await;
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_call_ids_of_a_tool_call() {
        let frame = br#"{"toolCall":{"functionCalls":[{"id":"a-1","name":"search","args":{"query":"x"}},{"name":"search","id":"b-2","args":{}}]}}"#;
        assert_eq!(call_ids(frame), vec!["a-1".to_owned(), "b-2".to_owned()]);
        assert!(call_ids(br#"{"serverContent":{}}"#).is_empty());
    }
}
