//! The example voice agent.
//!
//! Streams a spoken prompt (a bundled WAV, or `--input FILE.wav`) in real-time-paced
//! 32 ms chunks, prints the transcripts and each tool's lifecycle as it happens, and
//! writes the model's audio to a 24 kHz WAV. The model has a slow background `search`
//! (acked at once, progress, result voiced when idle) and a standard `get_weather`.
//!
//! With no credentials it talks to an emulator started in-process; see
//! `examples::target` for `GEMINI_API_KEY`, `GOOGLE_CLOUD_PROJECT` and `--endpoint`.
//!
//! Built with the `sound` feature, `--mic` talks through the default microphone (until
//! Ctrl-C or `--timeout`) and `--speaker` plays the model on the default output device.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use adk_live::prelude::*;
use clap::Parser;
use examples::audio::{
    INPUT_RATE, ReplyWriter, decode_wav_16k_mono, read_wav_16k_mono, to_le_bytes,
};
use examples::console::{Console, Conversation};
use examples::sound::{self, Microphone, Speaker};
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
    #[arg(long, conflicts_with = "mic")]
    input: Option<PathBuf>,
    /// Talk through the default microphone instead (feature `sound`); the session runs
    /// until Ctrl-C or --timeout.
    #[arg(long)]
    mic: bool,
    /// Play the model's audio on the default output device (feature `sound`).
    #[arg(long)]
    speaker: bool,
    /// Where to write the model's audio (24 kHz mono WAV).
    #[arg(long, default_value = "voice_agent_reply.wav")]
    output: PathBuf,
    /// Stop waiting after this many seconds.
    #[arg(long, default_value_t = 60)]
    timeout: u64,
    #[command(flatten)]
    agent: tools::AgentArgs,
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
    let console = Console::new();
    // Devices first: a missing one should fail before anything connects.
    let speaker = if args.speaker {
        let speaker = Speaker::open()?;
        console.say(&format!("speaker: {}", speaker.name()));
        Some(speaker)
    } else {
        None
    };
    let (mic, input) = if args.mic {
        let (mic, chunks) = Microphone::open(CHUNK)?;
        console.say(&format!(
            "microphone: {} (Ctrl-C ends the session)",
            mic.name()
        ));
        (Some(mic), Input::Mic(chunks))
    } else {
        let prompt = match &args.input {
            Some(path) => read_wav_16k_mono(path)?,
            None => decode_wav_16k_mono(PROMPT_WAV)?,
        };
        (None, Input::Prompt(prompt))
    };
    let target = Target::choose(args.agent.endpoint.clone());
    console.say(&format!("connecting to {}", target.describe()));

    let builder = tools::travel_agent(&args.agent).voice("Kore");
    let (session, _emulator) = target.connect(builder, SCENARIO).await?;
    let session = Arc::new(session);
    console.say("session ready");

    let sender = match input {
        Input::Prompt(prompt) => tokio::spawn(stream_prompt(session.clone(), prompt)),
        Input::Mic(chunks) => tokio::spawn(stream_mic(session.clone(), chunks)),
    };
    let mut reply = ReplyWriter::default();
    let outcome = tokio::select! {
        outcome = converse(
            &session,
            Conversation::new(console),
            &mut reply,
            speaker.as_ref(),
            args.mic,
            Duration::from_secs(args.timeout),
        ) => outcome,
        _ = sound::ctrl_c() => {
            console.say("Ctrl-C: ending the session");
            Ok(())
        }
    };
    sender.abort();
    if let Some(mic) = mic {
        mic.stop();
    }
    session.disconnect().await;
    if let Some(speaker) = &speaker {
        speaker.drain(Duration::from_secs(30)).await;
    }

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

/// Where the user's audio comes from.
enum Input {
    /// A WAV, streamed in real time.
    Prompt(Vec<i16>),
    /// The microphone's 16 kHz chunks.
    Mic(tokio::sync::mpsc::UnboundedReceiver<Vec<i16>>),
}

/// Forwards the microphone to the session until it stops.
async fn stream_mic(
    session: Arc<LiveHandle>,
    mut chunks: tokio::sync::mpsc::UnboundedReceiver<Vec<i16>>,
) -> adk_live::Result<()> {
    while let Some(chunk) = chunks.recv().await {
        session.send_audio(&to_le_bytes(&chunk)).await?;
    }
    Ok(())
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
/// last result (or the timeout). With a speaker, the model's audio is played as it comes
/// and dropped when the user interrupts. `open_ended` (a microphone session) goes on
/// until the timeout instead.
async fn converse(
    session: &LiveHandle,
    mut conversation: Conversation,
    reply: &mut ReplyWriter,
    speaker: Option<&Speaker>,
    open_ended: bool,
    timeout: Duration,
) -> Result<(), String> {
    let console = *conversation.console();
    let deadline = tokio::time::sleep(timeout);
    tokio::pin!(deadline);
    let mut indicator = tokio::time::interval(Duration::from_millis(1000));
    indicator.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    loop {
        tokio::select! {
            _ = &mut deadline => {
                if open_ended {
                    console.say("--timeout reached: ending the session");
                    return Ok(());
                }
                console.say("timed out waiting for the conversation to finish");
                return if reply.seconds() > 0.0 { Ok(()) } else { Err("no reply audio before the timeout".into()) };
            }
            _ = indicator.tick(), if conversation.tools_running() => conversation.print_running(),
            event = session.next_event() => {
                let Some(event) = event else { return Err("session ended unexpectedly".into()) };
                conversation.show(&event);
                match event {
                    LiveEvent::Audio { pcm, sample_rate } => {
                        if let Some(speaker) = speaker {
                            speaker.play(&pcm, sample_rate);
                        }
                        reply.push(&pcm, sample_rate);
                    }
                    LiveEvent::Interrupted => {
                        if let Some(speaker) = speaker {
                            speaker.clear();
                        }
                    }
                    LiveEvent::Closed { close, error } => {
                        return match (close, error) {
                            (_, Some(e)) => Err(format!("session closed: {e}")),
                            _ if conversation.all_voiced() => Ok(()),
                            (c, None) => Err(format!("session closed early ({c:?})")),
                        };
                    }
                    _ => {}
                }
                if conversation.all_voiced() && !open_ended {
                    console.say("all tools finished and their results were voiced");
                    return Ok(());
                }
            }
        }
    }
}
