//! The example voice agent.
//!
//! Streams a spoken prompt (a bundled WAV, or `--input FILE.wav`) in real-time-paced
//! 32 ms chunks, prints the transcripts and each tool's lifecycle as it happens, and
//! writes the model's audio to a 24 kHz WAV. The model has a slow background `search`
//! (acked at once, progress, result voiced when idle) and a standard `get_weather`.
//!
//! With no credentials it talks to an emulator started in-process; see
//! `examples::target` for `GEMINI_API_KEY`, `GOOGLE_CLOUD_PROJECT` and `--endpoint`.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use adk_live::prelude::*;
use clap::Parser;
use examples::audio::{
    INPUT_RATE, ReplyWriter, decode_wav_16k_mono, read_wav_16k_mono, to_le_bytes,
};
use examples::target::Target;
use examples::tools;

const PROMPT_WAV: &[u8] = include_bytes!("../../../fixtures/audio/prompt_16k.wav");
const SCENARIO: &str = include_str!("../../../fixtures/scenarios/voice_agent.json");
/// 512 samples at 16 kHz: the chunk size Google's own examples use.
const CHUNK: Duration = Duration::from_millis(32);

#[derive(Debug, Parser)]
#[command(
    about = "A voice agent with a background tool, on the Gemini Live API (or the embedded emulator)"
)]
struct Args {
    /// The spoken prompt (any WAV: resampled to 16 kHz mono). Default: a bundled prompt.
    #[arg(long)]
    input: Option<PathBuf>,
    /// Where to write the model's audio (24 kHz mono WAV).
    #[arg(long, default_value = "voice_agent_reply.wav")]
    output: PathBuf,
    /// Connect to this ws:// or wss:// URL instead (a proxy, or `live-emulator`).
    #[arg(long)]
    endpoint: Option<String>,
    /// The model.
    #[arg(long, default_value = adk_live::DEFAULT_MODEL)]
    model: String,
    /// Stop waiting after this many seconds.
    #[arg(long, default_value_t = 60)]
    timeout: u64,
    /// Duration of each of the search tool's three stages, in milliseconds.
    #[arg(long, default_value_t = 700)]
    search_stage_ms: u64,
}

struct Console {
    start: Instant,
}

impl Console {
    fn say(&self, what: &str) {
        println!("[{:>6.2}s] {what}", self.start.elapsed().as_secs_f32());
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    match run(Args::parse()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("voice_agent: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run(args: Args) -> Result<(), String> {
    let prompt = match &args.input {
        Some(path) => read_wav_16k_mono(path)?,
        None => decode_wav_16k_mono(PROMPT_WAV)?,
    };
    let target = Target::choose(args.endpoint.clone());
    let console = Console {
        start: Instant::now(),
    };
    console.say(&format!("connecting to {}", target.describe()));

    let builder = Live::builder()
        .model(&args.model)
        .instruction("You are a friendly travel assistant. Use `search` for flights and `get_weather` for weather.")
        .voice("Kore")
        .tool(tools::search(Duration::from_millis(args.search_stage_ms)))
        .tool_background("search")
        .tool(tools::get_weather());
    let (session, _emulator) = target.connect(builder, SCENARIO).await?;
    let session = Arc::new(session);
    console.say("session ready");

    let sender = tokio::spawn(stream_prompt(session.clone(), prompt));
    let mut reply = ReplyWriter::default();
    let outcome = converse(
        &session,
        &console,
        &mut reply,
        Duration::from_secs(args.timeout),
    )
    .await;
    sender.abort();
    session.disconnect().await;

    reply.write(&args.output)?;
    let m = session.metrics();
    console.say(&format!(
        "wrote {:.1} s of reply audio to {} (tool acks {}, progress {}, results {}, cancellations {})",
        reply.seconds(),
        args.output.display(),
        m.tool_acks,
        m.tool_progress,
        m.tool_results,
        m.cancellations
    ));
    outcome
}

/// Streams the prompt in real time, then a second of silence, then `audioStreamEnd`.
async fn stream_prompt(session: Arc<LiveHandle>, prompt: Vec<i16>) -> adk_live::Result<()> {
    let per_chunk = (INPUT_RATE as u128 * CHUNK.as_millis() / 1000) as usize;
    let silence = vec![0i16; INPUT_RATE as usize];
    let mut tick = tokio::time::interval(CHUNK);
    for chunk in prompt.chunks(per_chunk).chain(silence.chunks(per_chunk)) {
        tick.tick().await;
        session.send_audio(&to_le_bytes(chunk)).await?;
    }
    if session.backend() == Backend::DeveloperApi {
        session.audio_stream_end().await?;
    }
    Ok(())
}

/// Prints the conversation until every tool has finished and the model has voiced the
/// last result (or the timeout).
async fn converse(
    session: &LiveHandle,
    console: &Console,
    reply: &mut ReplyWriter,
    timeout: Duration,
) -> Result<(), String> {
    let deadline = tokio::time::sleep(timeout);
    tokio::pin!(deadline);
    let mut indicator = tokio::time::interval(Duration::from_millis(1000));
    indicator.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut running: BTreeMap<String, (String, Instant)> = BTreeMap::new();
    // Done when a model turn that began after the last tool finished has completed: that
    // is the turn in which the last result was voiced.
    let mut last_finish: Option<Instant> = None;
    let mut turn_began: Option<Instant> = None;
    let mut done = false;
    let (mut said, mut heard) = (String::new(), String::new());
    loop {
        tokio::select! {
            _ = &mut deadline => {
                console.say("timed out waiting for the conversation to finish");
                return if reply.seconds() > 0.0 { Ok(()) } else { Err("no reply audio before the timeout".into()) };
            }
            _ = indicator.tick(), if !running.is_empty() => {
                let list: Vec<String> = running.values().map(|(n, t)| format!("{n} {:.1}s", t.elapsed().as_secs_f32())).collect();
                console.say(&format!("⏳ running: {}", list.join(", ")));
            }
            event = session.next_event() => {
                let Some(event) = event else { return Err("session ended unexpectedly".into()) };
                let model_output = matches!(event, LiveEvent::Audio { .. } | LiveEvent::OutputTranscript { .. } | LiveEvent::Text(_));
                if model_output {
                    turn_began.get_or_insert_with(Instant::now);
                    if !heard.is_empty() {
                        console.say(&format!("you   : {}", std::mem::take(&mut heard).trim()));
                    }
                }
                match event {
                    LiveEvent::Audio { pcm, sample_rate } => reply.push(&pcm, sample_rate),
                    LiveEvent::InputTranscript { text, .. } => heard.push_str(&text),
                    LiveEvent::OutputTranscript { text, .. } => said.push_str(&text),
                    LiveEvent::Text(text) => said.push_str(&text),
                    LiveEvent::Interrupted => console.say("model interrupted"),
                    LiveEvent::TurnComplete => {
                        if !said.is_empty() {
                            console.say(&format!("model : {}", std::mem::take(&mut said).trim()));
                        }
                        let began = turn_began.take();
                        done = running.is_empty() && matches!((last_finish, began), (Some(f), Some(b)) if b > f);
                    }
                    LiveEvent::ToolStarted { call_id, name, args, background } => {
                        let kind = if background { "background" } else { "standard" };
                        console.say(&format!("tool ▸ {name} started ({kind}) {args}"));
                        running.insert(call_id, (name, Instant::now()));
                    }
                    LiveEvent::ToolAcked { name, .. } => console.say(&format!("tool ✓ {name} acked: the model knows it is running")),
                    LiveEvent::ToolProgress { name, progress, .. } => console.say(&format!("tool … {name} progress {progress}")),
                    LiveEvent::ToolCompleted { call_id, name, result, elapsed } => {
                        running.remove(&call_id);
                        last_finish = Some(Instant::now());
                        console.say(&format!("tool ✔ {name} completed in {:.2}s: {result}", elapsed.as_secs_f32()));
                    }
                    LiveEvent::ToolFailed { call_id, name, error } => {
                        running.remove(&call_id);
                        last_finish = Some(Instant::now());
                        console.say(&format!("tool ✘ {name} failed: {error}"));
                    }
                    LiveEvent::ToolCancelled { call_id, name, reason, .. } => {
                        running.remove(&call_id);
                        last_finish = Some(Instant::now());
                        console.say(&format!("tool ✘ {name} cancelled ({reason:?})"));
                    }
                    LiveEvent::GoAway { time_left } => console.say(&format!("server goAway ({time_left:?} left): switching connection")),
                    LiveEvent::Reconnected { resumed } => console.say(&format!("reconnected (resumed: {resumed})")),
                    LiveEvent::Error(e) => console.say(&format!("warning: {e}")),
                    LiveEvent::Closed { close, error } => {
                        return match (close, error) {
                            (_, Some(e)) => Err(format!("session closed: {e}")),
                            _ if done => Ok(()),
                            (c, None) => Err(format!("session closed early ({c:?})")),
                        };
                    }
                    _ => {}
                }
                if done {
                    console.say("all tools finished and their results were voiced");
                    return Ok(());
                }
            }
        }
    }
}
