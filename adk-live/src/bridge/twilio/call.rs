//! One phone call over one Live session.
//!
//! What goes where (Twilio's side from twilio.com/docs/voice/media-streams/websocket-messages):
//!
//! * **In:** `media` (μ-law, 8 kHz) → PCM16 → 16 kHz ([`StreamResampler::phone_in`]) →
//!   the session. Only the `inbound` track is the caller.
//! * **Out:** the model's 24 kHz audio → 8 kHz ([`StreamResampler::phone_out`]) → μ-law →
//!   20 ms `media` frames, **paced at real time**: at most [`CallConfig::lead`] of audio is
//!   ahead of what Twilio has played. Gemini has no truncate: what was sent counts as said,
//!   so a deep buffer at Twilio would be audio the model believes the caller heard.
//! * **Marks:** a `mark` named `{generation}:{ms}` follows every [`CallConfig::mark_every`]
//!   of audio and the end of each turn. Twilio returns a mark when the audio before it has
//!   played, or when a `clear` discarded it, so a returned mark of the current generation
//!   says how much the caller heard ([`CallEvent::Heard`]). Marks of an older generation
//!   come back after a `clear` and are ignored (stale marks, openai-agents-js PR #1608).
//! * **Barge-in:** the session's `interrupted` sends `clear` at once (not a transcript: that
//!   lags 0.5–2 s, pipecat #3381), drops what was queued, starts a new playback generation,
//!   and the [`PlaybackFence`] drops audio of the cut turn that arrives later.
//! * **DTMF** becomes [`CallEvent::Dtmf`]. **`stop`**, a closed socket or the caller of
//!   [`TwilioCall::stop_on`] end the session: running tools are cancelled and nothing is
//!   sent for them afterwards.
//! * A malformed message, an unknown event, a binary frame (Twilio sends only text), a
//!   media format other than μ-law 8 kHz mono, or a frame over the size limit ends the
//!   call with [`CallEnd::Protocol`] and its reason.

use std::collections::VecDeque;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use futures::{Sink, SinkExt, Stream, StreamExt};
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::messages::{Inbound, MarkName, Outbound, OutboundMedia, Start};
use crate::bridge::fence::PlaybackFence;
use crate::bridge::g711;
use crate::bridge::resample::StreamResampler;
use crate::{LiveEvent, LiveHandle};

/// μ-law bytes in 20 ms at 8 kHz.
const FRAME: usize = 160;
/// How long a caller chunk may wait for room in the session's queue (it fills only while
/// the session reconnects) before it is dropped: realtime audio is not queued up.
const AUDIO_BUDGET: Duration = Duration::from_millis(50);
const FRAME_TIME: Duration = Duration::from_millis(20);

/// How a call runs.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct CallConfig {
    /// Audio sent ahead of real time. Default 100 ms: enough to ride out a scheduling
    /// hiccup, small enough that a barge-in has little to clear.
    pub lead: Duration,
    /// A mark after this much audio. Default 200 ms.
    pub mark_every: Duration,
    /// The largest text frame accepted from Twilio. Default 64 KiB (a 20 ms `media` is
    /// ~400 bytes).
    pub max_frame_bytes: usize,
    /// Time for `start` to arrive after the socket opened. Default 10 s.
    pub start_timeout: Duration,
    /// Time for the session to open. Default 30 s.
    pub connect_timeout: Duration,
    /// A write to Twilio that takes longer ends the call. Default 10 s.
    pub send_timeout: Duration,
    /// No frame from Twilio for this long ends the call (Twilio sends media every 20 ms,
    /// so silence means a dead socket). Default 10 s.
    pub idle_timeout: Duration,
}

impl Default for CallConfig {
    fn default() -> Self {
        CallConfig {
            lead: Duration::from_millis(100),
            mark_every: Duration::from_millis(200),
            max_frame_bytes: 64 * 1024,
            start_timeout: Duration::from_secs(10),
            connect_timeout: Duration::from_secs(30),
            send_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(10),
        }
    }
}

/// A frame from Twilio's websocket, as the server framework gave it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WsFrame {
    /// A text frame.
    Text(String),
    /// A binary frame (its length): Twilio never sends one.
    Binary(usize),
    /// The socket closed or failed.
    Closed,
}

/// Who is calling: what the session is built from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallStart {
    /// The stream.
    pub stream_sid: String,
    /// The call.
    pub call_sid: String,
    /// The account.
    pub account_sid: String,
    /// The TwiML `<Parameter>`s (caller number, language, instruction, ...).
    pub custom_parameters: std::collections::BTreeMap<String, String>,
}

/// What the application hears during a call.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum CallEvent {
    /// The session is open.
    Started {
        /// The call.
        call: CallStart,
        /// Its session (to send text on a key press, cancel a tool, read metrics).
        session: Arc<LiveHandle>,
    },
    /// The caller pressed a key.
    Dtmf {
        /// `0`-`9`, `*` or `#`.
        digit: String,
    },
    /// A mark came back: the caller heard the current playback up to `ms`.
    Heard {
        /// The playback generation (one per interruption).
        generation: u64,
        /// Milliseconds of this generation's audio played.
        ms: u64,
    },
    /// The caller interrupted: `clear` was sent; `sent_ms` of the cut generation had been
    /// sent, `heard_ms` confirmed played.
    Cleared {
        /// The generation that was cut.
        generation: u64,
        /// Audio of it sent to Twilio.
        sent_ms: u64,
        /// Audio of it confirmed played by a mark.
        heard_ms: u64,
    },
    /// Anything else the session reported (transcripts, tool lifecycle, connection).
    Session(LiveEvent),
}

/// How a call ended.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum CallEnd {
    /// Twilio sent `stop`: the call is over.
    StreamStopped,
    /// The socket closed without `stop`.
    Hangup,
    /// The session ended (or could not be opened).
    SessionEnded(String),
    /// Twilio (or something pretending to be it) broke the protocol.
    Protocol(String),
    /// [`TwilioCall::stop_on`]'s token fired (a server shutting down).
    Shutdown,
}

impl CallEnd {
    /// True when the call ended because of bad input, not by hanging up.
    pub fn is_fault(&self) -> bool {
        matches!(self, CallEnd::Protocol(_))
    }

    /// A short reason for a close frame and the log.
    pub fn reason(&self) -> String {
        match self {
            CallEnd::StreamStopped => "stream stopped".into(),
            CallEnd::Hangup => "socket closed".into(),
            CallEnd::SessionEnded(why) => format!("session ended: {why}"),
            CallEnd::Protocol(why) => why.clone(),
            CallEnd::Shutdown => "server shutting down".into(),
        }
    }
}

type Connect = Box<
    dyn FnOnce(
            CallStart,
        )
            -> std::pin::Pin<Box<dyn Future<Output = Result<LiveHandle, String>> + Send>>
        + Send,
>;

/// One call: configure it, then [`run`](TwilioCall::run) it over the socket.
///
/// ```no_run
/// # async fn demo(
/// #     inbound: impl futures::Stream<Item = adk_live::bridge::twilio::WsFrame> + Unpin,
/// #     outbound: impl futures::Sink<String> + Unpin,
/// # ) {
/// use adk_live::prelude::*;
/// use adk_live::bridge::twilio::{self, TwilioCall};
///
/// let end = TwilioCall::new(|call| async move {
///     let language = call.custom_parameters.get("language").cloned().unwrap_or("en".into());
///     twilio::phone_defaults(Live::builder())
///         .instruction(format!("Answer the phone in {language}."))
///         .connect_google_ai(std::env::var("GEMINI_API_KEY").unwrap_or_default())
///         .await
///         .map_err(|e| e.to_string())
/// })
/// .run(inbound, outbound)
/// .await;
/// println!("call ended: {}", end.reason());
/// # }
/// ```
pub struct TwilioCall {
    connect: Connect,
    config: CallConfig,
    events: Option<mpsc::Sender<CallEvent>>,
    stop: CancellationToken,
}

impl std::fmt::Debug for TwilioCall {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TwilioCall")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl TwilioCall {
    /// A call whose session `connect` opens from the call's `start`.
    pub fn new<F, Fut>(connect: F) -> Self
    where
        F: FnOnce(CallStart) -> Fut + Send + 'static,
        Fut: Future<Output = Result<LiveHandle, String>> + Send + 'static,
    {
        TwilioCall {
            connect: Box::new(move |start| Box::pin(connect(start))),
            config: CallConfig::default(),
            events: None,
            stop: CancellationToken::new(),
        }
    }

    /// Replaces the settings.
    pub fn config(mut self, config: CallConfig) -> Self {
        self.config = config;
        self
    }

    /// Where [`CallEvent`]s go. A full channel drops events (never audio: audio is not an
    /// event here), so the call never waits for the application.
    pub fn events(mut self, tx: mpsc::Sender<CallEvent>) -> Self {
        self.events = Some(tx);
        self
    }

    /// Ends the call (session disconnected, tools cancelled) when `token` fires.
    pub fn stop_on(mut self, token: CancellationToken) -> Self {
        self.stop = token;
        self
    }

    /// Runs the call until it ends. `inbound` is Twilio's frames, `outbound` takes JSON
    /// text frames for Twilio. The session, once open, is disconnected before this
    /// returns: its running tools are cancelled and nothing more is sent for them.
    pub async fn run<In, Out>(self, mut inbound: In, mut outbound: Out) -> CallEnd
    where
        In: Stream<Item = WsFrame> + Unpin,
        Out: Sink<String> + Unpin,
    {
        let mut call = Call::new(self.config, self.events);
        let end = call
            .run(self.connect, &mut inbound, &mut outbound, &self.stop)
            .await;
        if let Some(session) = call.session.take() {
            session.disconnect().await;
        }
        tracing::info!(reason = %end.reason(), "call ended");
        end
    }
}

/// The running state of one call.
struct Call {
    config: CallConfig,
    events: Option<mpsc::Sender<CallEvent>>,
    stream_sid: String,
    session: Option<Arc<LiveHandle>>,
    up: StreamResampler,
    down: StreamResampler,
    /// The rate `down` takes (the model's audio rate).
    down_rate: u32,
    fence: PlaybackFence,
    /// μ-law waiting to be sent, paced.
    queued: VecDeque<u8>,
    /// The turn ended: what is queued may go out in a short last frame.
    draining: bool,
    /// When what was sent so far will have played at Twilio (if it plays at once).
    played_until: Instant,
    generation: u64,
    sent_ms: u64,
    heard_ms: u64,
    next_mark_ms: u64,
    pcm: Vec<i16>,
    ulaw: Vec<u8>,
}

/// What woke the call's loop.
enum Woke {
    Stop,
    Frame(Option<WsFrame>),
    Event(Option<LiveEvent>),
    Pace,
    StartTimeout,
    Idle,
}

impl Call {
    fn new(config: CallConfig, events: Option<mpsc::Sender<CallEvent>>) -> Self {
        Call {
            config,
            events,
            stream_sid: String::new(),
            session: None,
            up: StreamResampler::phone_in(),
            down: StreamResampler::phone_out(),
            down_rate: 24_000,
            fence: PlaybackFence::default(),
            queued: VecDeque::new(),
            draining: false,
            played_until: Instant::now(),
            generation: 0,
            sent_ms: 0,
            heard_ms: 0,
            next_mark_ms: 0,
            pcm: Vec::with_capacity(480),
            ulaw: Vec::with_capacity(480),
        }
    }

    async fn run<In, Out>(
        &mut self,
        connect: Connect,
        inbound: &mut In,
        outbound: &mut Out,
        stop: &CancellationToken,
    ) -> CallEnd
    where
        In: Stream<Item = WsFrame> + Unpin,
        Out: Sink<String> + Unpin,
    {
        let mut connect = Some(connect);
        let start_deadline = Instant::now() + self.config.start_timeout;
        let mut last_frame = Instant::now();
        loop {
            let idle_at = last_frame + self.config.idle_timeout;
            let next_send = self.next_send();
            let woke = {
                let session = self.session.clone();
                tokio::select! {
                    biased;
                    _ = stop.cancelled() => Woke::Stop,
                    frame = inbound.next() => Woke::Frame(frame),
                    event = async { match &session {
                        Some(s) => s.next_event().await,
                        None => std::future::pending().await,
                    }} => Woke::Event(event),
                    _ = tokio::time::sleep_until(next_send.unwrap_or(start_deadline)), if next_send.is_some() => Woke::Pace,
                    _ = tokio::time::sleep_until(start_deadline), if self.session.is_none() => Woke::StartTimeout,
                    _ = tokio::time::sleep_until(idle_at) => Woke::Idle,
                }
            };
            if matches!(woke, Woke::Frame(_)) {
                last_frame = Instant::now();
            }
            let step = match woke {
                Woke::Stop => Err(CallEnd::Shutdown),
                Woke::Idle => Err(CallEnd::Protocol(format!(
                    "nothing from Twilio for {:?}",
                    self.config.idle_timeout
                ))),
                Woke::StartTimeout => Err(CallEnd::Protocol("no start in time".into())),
                Woke::Frame(None | Some(WsFrame::Closed)) => Err(CallEnd::Hangup),
                Woke::Frame(Some(WsFrame::Binary(n))) => Err(CallEnd::Protocol(format!(
                    "a binary frame ({n} bytes): Twilio sends only text"
                ))),
                Woke::Frame(Some(WsFrame::Text(text))) => {
                    self.on_text(&text, &mut connect, stop).await
                }
                Woke::Event(None) => Err(CallEnd::SessionEnded("the session closed".into())),
                Woke::Event(Some(event)) => self.on_event(event, outbound).await,
                Woke::Pace => self.pace(outbound).await,
            };
            if let Err(end) = step {
                return end;
            }
        }
    }

    /// When the next paced frame is due, if one is waiting.
    fn next_send(&self) -> Option<Instant> {
        let ready = self.queued.len() >= FRAME || (self.draining && !self.queued.is_empty());
        ready.then(|| {
            self.played_until
                .checked_sub(self.config.lead)
                .unwrap_or(self.played_until)
        })
    }

    async fn on_text(
        &mut self,
        text: &str,
        connect: &mut Option<Connect>,
        stop: &CancellationToken,
    ) -> Result<(), CallEnd> {
        if text.len() > self.config.max_frame_bytes {
            return Err(CallEnd::Protocol(format!(
                "a frame of {} bytes, over the limit of {}",
                text.len(),
                self.config.max_frame_bytes
            )));
        }
        let message: Inbound = serde_json::from_str(text)
            .map_err(|e| CallEnd::Protocol(format!("malformed message: {e}")))?;
        match message {
            Inbound::Connected { .. } => Ok(()),
            Inbound::Start { start, .. } => {
                let Some(connect) = connect.take() else {
                    return Err(CallEnd::Protocol("a second start".into()));
                };
                self.start(start, connect, stop).await
            }
            Inbound::Media { media, .. } => {
                let Some(session) = &self.session else {
                    return Err(CallEnd::Protocol("media before start".into()));
                };
                if media.track != "inbound" {
                    return Ok(());
                }
                let ulaw = base64::engine::general_purpose::STANDARD
                    .decode(media.payload.as_bytes())
                    .map_err(|e| CallEnd::Protocol(format!("media payload is not base64: {e}")))?;
                self.pcm.clear();
                g711::decode_into(&ulaw, &mut self.pcm);
                let mut wide = Vec::with_capacity(self.pcm.len() * 2 + 320);
                self.up.push(&self.pcm, &mut wide);
                if wide.is_empty() {
                    return Ok(());
                }
                let bytes: Vec<u8> = wide.iter().flat_map(|s| s.to_le_bytes()).collect();
                // Realtime audio: dropped, not waited for, if the session cannot take it.
                match tokio::time::timeout(AUDIO_BUDGET, session.send_audio(&bytes)).await {
                    Ok(Ok(())) => Ok(()),
                    Ok(Err(e)) => Err(CallEnd::SessionEnded(e.to_string())),
                    Err(_) => {
                        tracing::warn!("the session is not taking audio; a chunk was dropped");
                        Ok(())
                    }
                }
            }
            Inbound::Dtmf { dtmf, .. } => {
                self.emit(CallEvent::Dtmf { digit: dtmf.digit });
                Ok(())
            }
            Inbound::Mark { mark, .. } => {
                self.on_mark(&mark.name);
                Ok(())
            }
            Inbound::Stop { .. } => Err(CallEnd::StreamStopped),
        }
    }

    async fn start(
        &mut self,
        start: Start,
        connect: Connect,
        stop: &CancellationToken,
    ) -> Result<(), CallEnd> {
        let f = &start.media_format;
        if f.encoding != "audio/x-mulaw" || f.sample_rate != 8000 || f.channels != 1 {
            return Err(CallEnd::Protocol(format!(
                "media format {} at {} Hz, {} channel(s): only audio/x-mulaw at 8000 Hz mono is spoken",
                f.encoding, f.sample_rate, f.channels
            )));
        }
        let call = CallStart {
            stream_sid: start.stream_sid,
            call_sid: start.call_sid,
            account_sid: start.account_sid,
            custom_parameters: start.custom_parameters,
        };
        self.stream_sid = call.stream_sid.clone();
        let opening = tokio::time::timeout(self.config.connect_timeout, connect(call.clone()));
        let opened = tokio::select! {
            r = opening => r,
            _ = stop.cancelled() => return Err(CallEnd::Shutdown),
        };
        let session = match opened {
            Ok(Ok(s)) => Arc::new(s),
            Ok(Err(e)) => return Err(CallEnd::SessionEnded(format!("could not open: {e}"))),
            Err(_) => return Err(CallEnd::SessionEnded("could not open in time".into())),
        };
        tracing::info!(call_sid = %call.call_sid, stream_sid = %call.stream_sid, "call started");
        self.session = Some(session.clone());
        self.emit(CallEvent::Started { call, session });
        Ok(())
    }

    async fn on_event<Out>(&mut self, event: LiveEvent, outbound: &mut Out) -> Result<(), CallEnd>
    where
        Out: Sink<String> + Unpin,
    {
        if !self.fence.admit(&event) {
            return Ok(());
        }
        match event {
            LiveEvent::Audio { pcm, sample_rate } => {
                if sample_rate != self.down_rate {
                    // The model's audio changed rate (24 kHz on every model today): a new
                    // resampler for it, once; a rate it cannot take is dropped, not played.
                    match StreamResampler::try_new(sample_rate, 8_000) {
                        Some(r) => {
                            self.down = r;
                            self.down_rate = sample_rate;
                        }
                        None => {
                            tracing::warn!(
                                sample_rate,
                                "model audio at a rate that cannot be resampled; dropped"
                            );
                            return Ok(());
                        }
                    }
                }
                self.pcm.clear();
                self.pcm.extend(
                    pcm.chunks_exact(2)
                        .map(|b| i16::from_le_bytes([b[0], b[1]])),
                );
                let mut narrow = Vec::with_capacity(self.pcm.len() / 3 + 160);
                self.down.push(&self.pcm, &mut narrow);
                self.queue(&narrow);
                self.draining = false;
                self.pace(outbound).await
            }
            LiveEvent::Interrupted => {
                self.emit(CallEvent::Cleared {
                    generation: self.generation,
                    sent_ms: self.sent_ms,
                    heard_ms: self.heard_ms,
                });
                self.queued.clear();
                self.down.reset();
                self.draining = false;
                self.generation += 1;
                self.sent_ms = 0;
                self.heard_ms = 0;
                self.next_mark_ms = 0;
                self.played_until = Instant::now();
                let clear = Outbound::Clear {
                    stream_sid: self.stream_sid.clone(),
                };
                self.send(outbound, clear).await?;
                self.emit(CallEvent::Session(LiveEvent::Interrupted));
                Ok(())
            }
            LiveEvent::GenerationComplete | LiveEvent::TurnComplete => {
                let mut narrow = Vec::new();
                self.down.flush(&mut narrow);
                self.queue(&narrow);
                self.draining = true;
                self.emit(CallEvent::Session(event));
                self.pace(outbound).await
            }
            LiveEvent::Closed { close, error } => {
                let why = match (error, close) {
                    (Some(e), _) => e,
                    (None, Some(c)) => c.to_string(),
                    (None, None) => "closed".into(),
                };
                Err(CallEnd::SessionEnded(why))
            }
            other => {
                self.emit(CallEvent::Session(other));
                Ok(())
            }
        }
    }

    fn queue(&mut self, pcm: &[i16]) {
        self.ulaw.clear();
        g711::encode_into(pcm, &mut self.ulaw);
        self.queued.extend(self.ulaw.iter().copied());
    }

    /// Sends every frame that is due (at most `lead` ahead of real time), with marks.
    async fn pace<Out>(&mut self, outbound: &mut Out) -> Result<(), CallEnd>
    where
        Out: Sink<String> + Unpin,
    {
        loop {
            let now = Instant::now();
            if self.played_until < now {
                self.played_until = now;
            }
            let whole = self.queued.len() >= FRAME;
            if !(whole || (self.draining && !self.queued.is_empty())) {
                break;
            }
            if self.played_until > now + self.config.lead {
                break;
            }
            let n = self.queued.len().min(FRAME);
            let frame: Vec<u8> = self.queued.drain(..n).collect();
            let ms = (n as u64 * 1000) / 8000;
            let media = Outbound::Media {
                stream_sid: self.stream_sid.clone(),
                media: OutboundMedia {
                    payload: base64::engine::general_purpose::STANDARD.encode(&frame),
                },
            };
            self.send(outbound, media).await?;
            self.played_until += FRAME_TIME * n as u32 / FRAME as u32;
            self.sent_ms += ms;
            let end_of_turn = self.draining && self.queued.is_empty();
            if self.sent_ms >= self.next_mark_ms || end_of_turn {
                let name = format!("{}:{}", self.generation, self.sent_ms);
                self.next_mark_ms = self.sent_ms + self.config.mark_every.as_millis() as u64;
                let mark = Outbound::Mark {
                    stream_sid: self.stream_sid.clone(),
                    mark: MarkName { name },
                };
                self.send(outbound, mark).await?;
            }
        }
        Ok(())
    }

    fn on_mark(&mut self, name: &str) {
        let parsed = name
            .split_once(':')
            .and_then(|(g, ms)| Some((g.parse::<u64>().ok()?, ms.parse::<u64>().ok()?)));
        match parsed {
            Some((generation, ms)) if generation == self.generation => {
                self.heard_ms = self.heard_ms.max(ms);
                self.emit(CallEvent::Heard { generation, ms });
            }
            // A mark of a cut generation (returned by `clear`), or not ours: stale.
            _ => {}
        }
    }

    async fn send<Out>(&mut self, outbound: &mut Out, message: Outbound) -> Result<(), CallEnd>
    where
        Out: Sink<String> + Unpin,
    {
        match tokio::time::timeout(self.config.send_timeout, outbound.send(message.to_json())).await
        {
            Ok(Ok(())) => Ok(()),
            Ok(Err(_)) => Err(CallEnd::Hangup),
            Err(_) => Err(CallEnd::Protocol("Twilio is not reading".into())),
        }
    }

    fn emit(&self, event: CallEvent) {
        if let Some(tx) = &self.events {
            let _ = tx.try_send(event);
        }
    }
}
