//! A scripted Twilio: what Twilio's Media Streams side does, from its documentation
//! (twilio.com/docs/voice/media-streams/websocket-messages and /docs/voice/twiml/stream):
//!
//! * JSON text frames only; `connected` first, then `start` with `streamSid`, `callSid`,
//!   `tracks`, `customParameters` and `mediaFormat` (`audio/x-mulaw`, 8000, 1); then
//!   `media` every 20 ms (160 bytes of μ-law, `chunk` and `timestamp` as strings), the
//!   microphone never stops; `dtmf` and `stop` when the script says so.
//! * Outbound `media` is buffered and played in order at real time. A `mark` comes back
//!   once the audio queued before it has played, or at once when nothing is buffered.
//!   `clear` empties the buffer and every pending mark comes back at once.
//!
//! UNVERIFIED against Twilio itself: the 20 ms inbound chunk size (third-party docs say
//! so; Twilio's reference does not give it) and the exact moment a mark comes back
//! relative to the audio's last sample.

use std::collections::VecDeque;
use std::time::Duration;

use adk_live::bridge::g711;
use adk_live::bridge::resample::StreamResampler;
use base64::Engine;
use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::sync::{mpsc, watch};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;

/// What the scripted Twilio saw from the server.
#[derive(Debug, Default, Clone)]
pub struct Seen {
    /// Milliseconds of audio received.
    pub media_ms: u64,
    /// Marks the server sent, in order.
    pub marks_sent: Vec<String>,
    /// Marks returned to the server, in order.
    pub marks_returned: Vec<String>,
    /// Marks returned because of a `clear`.
    pub marks_returned_by_clear: Vec<String>,
    /// `clear`s received.
    pub clears: u32,
    /// The most audio buffered at once (ms): what pacing keeps small.
    pub max_buffered_ms: u64,
    /// Every outbound event in order (`media`, `mark NAME`, `clear`).
    pub log: Vec<String>,
    /// The close frame, once closed.
    pub closed: Option<(u16, String)>,
    /// A message the server sent that is not in Twilio's documented outbound set.
    pub unexpected: Vec<String>,
}

/// What the test tells the scripted Twilio to do.
#[derive(Debug)]
pub enum Do {
    /// Speak the prompt (once) on the microphone, then silence again.
    Speak,
    /// Press a key.
    Dtmf(&'static str),
    /// Send `stop` (the caller hung up).
    Stop,
    /// Send this text frame as it is.
    Raw(String),
    /// Send a binary frame.
    Binary(Vec<u8>),
}

/// A running scripted call.
pub struct Twilio {
    /// What it saw, updated as it sees it.
    seen: watch::Receiver<Seen>,
    tx: mpsc::UnboundedSender<Do>,
}

/// The bundled prompt as 8 kHz μ-law.
pub fn prompt_ulaw() -> Vec<u8> {
    let wav = hound::WavReader::new(std::io::Cursor::new(include_bytes!(
        "../../../fixtures/audio/prompt_16k.wav"
    )))
    .unwrap();
    let pcm: Vec<i16> = wav.into_samples().map(|s| s.unwrap()).collect();
    let mut narrow = Vec::new();
    let mut r = StreamResampler::new(16_000, 8_000);
    r.push(&pcm, &mut narrow);
    r.flush(&mut narrow);
    let mut ulaw = Vec::new();
    g711::encode_into(&narrow, &mut ulaw);
    ulaw
}

/// `start`, as Twilio documents it, with this media format.
pub fn start_message(stream_sid: &str, params: Value, rate: u32) -> String {
    json!({
        "event": "start",
        "sequenceNumber": "1",
        "start": {
            "accountSid": "AC00000000000000000000000000000000",
            "streamSid": stream_sid,
            "callSid": "CA00000000000000000000000000000000",
            "tracks": ["inbound"],
            "customParameters": params,
            "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": rate, "channels": 1}
        },
        "streamSid": stream_sid
    })
    .to_string()
}

impl Twilio {
    /// Dials `url`, sends `connected` and `start` (with `start` as given), and runs the
    /// call in the background.
    pub async fn call(url: &str, start: String, signature: Option<&str>) -> Result<Twilio, u16> {
        let mut req = url.into_client_request().unwrap();
        if let Some(sig) = signature {
            req.headers_mut()
                .insert("x-twilio-signature", HeaderValue::from_str(sig).unwrap());
        }
        let ws = match tokio_tungstenite::connect_async(req).await {
            Ok((ws, _)) => ws,
            Err(tokio_tungstenite::tungstenite::Error::Http(r)) => return Err(r.status().as_u16()),
            Err(e) => panic!("{url}: {e}"),
        };
        let (seen_tx, seen) = watch::channel(Seen::default());
        let (tx, rx) = mpsc::unbounded_channel();
        tokio::spawn(run(ws, start, seen_tx, rx));
        Ok(Twilio { seen, tx })
    }

    /// Tells it to do something.
    pub fn act(&self, what: Do) {
        let _ = self.tx.send(what);
    }

    /// A copy of what it saw.
    pub fn seen(&self) -> Seen {
        self.seen.borrow().clone()
    }

    /// Waits until `pred` holds over what it saw (woken by each change; panics after
    /// `timeout`, with what it saw).
    pub async fn wait(&self, what: &str, timeout: Duration, pred: impl Fn(&Seen) -> bool) -> Seen {
        let mut rx = self.seen.clone();
        if let Ok(Ok(seen)) = tokio::time::timeout(timeout, rx.wait_for(|s| pred(s))).await {
            return seen.clone();
        }
        let seen = self.seen();
        panic!(
            "timed out waiting for {what}; saw {} ms of media, {} clears, {} marks sent, {} returned \
             ({} by clear), {} ms most buffered, closed {:?}, unexpected {:?}, last events {:?}",
            seen.media_ms,
            seen.clears,
            seen.marks_sent.len(),
            seen.marks_returned.len(),
            seen.marks_returned_by_clear.len(),
            seen.max_buffered_ms,
            seen.closed,
            seen.unexpected,
            seen.log.iter().rev().take(12).collect::<Vec<_>>()
        );
    }
}

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn run(
    mut ws: Ws,
    start: String,
    seen: watch::Sender<Seen>,
    mut rx: mpsc::UnboundedReceiver<Do>,
) {
    let sid = serde_json::from_str::<Value>(&start)
        .ok()
        .and_then(|v| v["streamSid"].as_str().map(String::from))
        .unwrap_or_default();
    let _ = ws
        .send(Message::text(
            r#"{"event":"connected","protocol":"Call","version":"1.0.0"}"#,
        ))
        .await;
    let _ = ws.send(Message::text(start)).await;
    let prompt = prompt_ulaw();
    let mut speaking: Option<usize> = None;
    // The playback buffer: audio bytes, with marks at positions in it.
    let mut buffer: VecDeque<u8> = VecDeque::new();
    let mut marks: VecDeque<(usize, String)> = VecDeque::new(); // (bytes still ahead of it, name)
    let mut seq = 2u64;
    let mut chunk = 0u64;
    let mut tick = tokio::time::interval(Duration::from_millis(20));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let mut returns: Vec<String> = Vec::new();
    // After `stop` Twilio sends nothing more (it is the stream's last message); a socket
    // that refuses a write is read on until its close frame, which may already be queued.
    let mut silent = false;
    loop {
        tokio::select! {
            frame = ws.next() => {
                let Some(Ok(frame)) = frame else {
                    break;
                };
                let text = match frame {
                    Message::Text(t) => t.to_string(),
                    Message::Close(c) => {
                        seen.send_modify(|s| s.closed = Some(c.map_or((1005, String::new()), |c| (c.code.into(), c.reason.to_string()))));
                        break;
                    }
                    Message::Binary(_) => {
                        seen.send_modify(|s| s.unexpected.push("binary frame".into()));
                        continue;
                    }
                    _ => continue,
                };
                let v: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
                seen.send_modify(|s| {
                if v["streamSid"] != json!(sid) {
                    s.unexpected.push(text.clone());
                }
                match v["event"].as_str() {
                    Some("media") => {
                        let audio = base64::engine::general_purpose::STANDARD
                            .decode(v["media"]["payload"].as_str().unwrap_or_default())
                            .unwrap_or_default();
                        s.media_ms += audio.len() as u64 / 8;
                        buffer.extend(audio);
                        s.max_buffered_ms = s.max_buffered_ms.max(buffer.len() as u64 / 8);
                        s.log.push("media".into());
                    }
                    Some("mark") => {
                        let name = v["mark"]["name"].as_str().unwrap_or_default().to_owned();
                        s.marks_sent.push(name.clone());
                        s.log.push(format!("mark {name}"));
                        if buffer.is_empty() {
                            returns.push(name);
                        } else {
                            marks.push_back((buffer.len(), name));
                        }
                    }
                    Some("clear") => {
                        s.clears += 1;
                        s.log.push("clear".into());
                        buffer.clear();
                        for (_, name) in marks.drain(..) {
                            s.marks_returned_by_clear.push(name.clone());
                            returns.push(name);
                        }
                    }
                    _ => s.unexpected.push(text.clone()),
                }
                });
            }
            what = rx.recv() => {
                let frame = match what {
                    None => break,
                    Some(Do::Speak) => { speaking = Some(0); continue; }
                    Some(Do::Dtmf(d)) => json!({"event": "dtmf", "streamSid": sid, "sequenceNumber": seq.to_string(), "dtmf": {"track": "inbound_track", "digit": d}}).to_string(),
                    Some(Do::Stop) => { silent = true; json!({"event": "stop", "sequenceNumber": seq.to_string(), "streamSid": sid, "stop": {"accountSid": "AC00000000000000000000000000000000", "callSid": "CA00000000000000000000000000000000"}}).to_string() }
                    Some(Do::Raw(t)) => t,
                    Some(Do::Binary(b)) => {
                        let _ = ws.send(Message::binary(b)).await;
                        continue;
                    }
                };
                seq += 1;
                let _ = ws.send(Message::text(frame)).await;
            }
            _ = tick.tick(), if !silent => {
                // Play 20 ms of what is buffered; marks whose audio has played come back.
                let played = buffer.len().min(160);
                buffer.drain(..played);
                for m in marks.iter_mut() {
                    m.0 = m.0.saturating_sub(played);
                }
                while marks.front().is_some_and(|m| m.0 == 0) {
                    returns.push(marks.pop_front().unwrap().1);
                }
                // 20 ms of microphone: the prompt when speaking, else silence (0xFF).
                let mic: Vec<u8> = match speaking {
                    Some(at) if at < prompt.len() => {
                        let end = (at + 160).min(prompt.len());
                        speaking = Some(end);
                        let mut c = prompt[at..end].to_vec();
                        c.resize(160, 0xFF);
                        c
                    }
                    _ => { speaking = None; vec![0xFF; 160] }
                };
                chunk += 1;
                let media = json!({"event": "media", "sequenceNumber": seq.to_string(), "media": {"track": "inbound", "chunk": chunk.to_string(), "timestamp": (chunk * 20).to_string(), "payload": base64::engine::general_purpose::STANDARD.encode(&mic)}, "streamSid": sid});
                seq += 1;
                if ws.send(Message::text(media.to_string())).await.is_err() {
                    silent = true;
                }
            }
        }
        if silent {
            returns.clear();
        }
        for name in returns.drain(..) {
            seen.send_modify(|s| s.marks_returned.push(name.clone()));
            let m = json!({"event": "mark", "sequenceNumber": seq.to_string(), "streamSid": sid, "mark": {"name": name}});
            seq += 1;
            let _ = ws.send(Message::text(m.to_string())).await;
        }
    }
    seen.send_modify(|s| {
        s.closed.get_or_insert((1006, "no close frame".into()));
    });
}
