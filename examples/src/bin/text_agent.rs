//! The example text agent: the voice agent's tools, without audio.
//!
//! Reads lines from stdin and sends each as realtime text (`LiveHandle::send_text`),
//! prints the model's output transcripts (or text) and each tool's lifecycle, and on end
//! of input waits until no tool is running and the last turn has completed, then
//! disconnects and exits 0.
//!
//! Turn-taking: a line is sent once the model has answered the previous one and is not
//! speaking. Text sent while the model speaks barges in, and like speech it cancels the
//! tool calls of the interrupted turn; typed-ahead lines (or a piped file) therefore
//! wait their turn.
//!
//! ```text
//! printf 'search flights to Lisbon\nwhat is the weather\n' | cargo run -p examples --bin text_agent
//! ```
//!
//! With no credentials it talks to an emulator started in-process; see
//! `examples::target` for `GEMINI_API_KEY`, `GOOGLE_CLOUD_PROJECT` and `--endpoint`.

use std::io::BufRead;
use std::process::ExitCode;
use std::time::Duration;

use adk_live::prelude::*;
use clap::Parser;
use examples::console::{Console, Conversation};
use examples::target::Target;
use examples::tools;
use tokio::sync::mpsc;
use tokio::time::Instant;

const SCENARIO: &str = include_str!("../../../fixtures/scenarios/text_agent.json");

#[derive(Debug, Parser)]
#[command(
    about = "A text agent with a background tool, on the Gemini Live API (or the embedded emulator): one message per stdin line"
)]
struct Args {
    /// Seconds to wait for the model's reply to a line, and, after the end of input, for
    /// running tools and the last turn.
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
            eprintln!("text_agent: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run(args: Args) -> Result<(), String> {
    let target = Target::choose(args.agent.endpoint.clone());
    let console = Console::new();
    console.say(&format!("connecting to {}", target.describe()));

    let builder = tools::travel_agent(&args.agent);
    let (session, _emulator) = target.connect(builder, SCENARIO).await?;
    console.say("session ready");

    let lines = read_lines();
    let outcome = converse(
        &session,
        Conversation::new(console),
        lines,
        Duration::from_secs(args.timeout),
    )
    .await;
    session.disconnect().await;
    let m = session.metrics();
    console.say(&format!(
        "disconnected (tool acks {}, progress {}, results {}, cancellations {})",
        m.tool_acks, m.tool_progress, m.tool_results, m.cancellations
    ));
    outcome
}

/// Stdin lines on a channel, read on a plain thread: a blocking read of an interactive
/// terminal cannot be cancelled, and a detached thread does not keep the process alive.
fn read_lines() -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel(16);
    std::thread::spawn(move || {
        for line in std::io::stdin().lock().lines() {
            let Ok(line) = line else { break };
            if tx.blocking_send(line).is_err() {
                break;
            }
        }
    });
    rx
}

/// Sends each line when the model is ready for it and prints the conversation; after
/// the end of input, returns once everything has settled (or the timeout).
async fn converse(
    session: &LiveHandle,
    mut conversation: Conversation,
    mut lines: mpsc::Receiver<String>,
    timeout: Duration,
) -> Result<(), String> {
    let console = *conversation.console();
    let mut indicator = tokio::time::interval(Duration::from_millis(1000));
    indicator.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut pending: Option<String> = None;
    let mut input_open = true;
    // When the last line was sent, while its reply has not completed yet.
    let mut awaiting: Option<Instant> = None;
    let mut last_sent = Instant::now();
    let mut sent_any = false;
    // After the end of input: when to give up waiting.
    let mut deadline: Option<Instant> = None;
    loop {
        if awaiting.is_some_and(|sent| conversation.turn_completed_since(sent.into_std())) {
            awaiting = None;
        }
        if awaiting.is_none()
            && !conversation.in_turn()
            && let Some(line) = pending.take()
        {
            console.say(&format!("you   : {line}"));
            session
                .send_text(line)
                .await
                .map_err(|e| format!("cannot send: {e}"))?;
            last_sent = Instant::now();
            awaiting = Some(last_sent);
            sent_any = true;
        }
        if !input_open && pending.is_none() {
            let idle = !conversation.tools_running() && !conversation.in_turn();
            if !sent_any && idle {
                console.say("end of input: nothing was sent");
                return Ok(());
            }
            if conversation.settled_since(last_sent.into_std()) {
                console.say("end of input: no tool running and the last turn completed");
                return Ok(());
            }
            deadline.get_or_insert_with(|| {
                console.say("end of input: waiting for running tools and the model's last turn");
                Instant::now() + timeout
            });
        }
        let reply_due = awaiting.map(|sent| sent + timeout);
        tokio::select! {
            line = lines.recv(), if input_open && pending.is_none() => match line {
                Some(line) if line.trim().is_empty() => {}
                Some(line) => pending = Some(line.trim().to_owned()),
                None => input_open = false,
            },
            _ = sleep_until(deadline) => {
                let running = if conversation.tools_running() { "a tool is still running" } else { "the model's last turn did not complete" };
                return Err(format!("timed out after {} s after the end of input: {running}", timeout.as_secs()));
            }
            _ = sleep_until(reply_due) => {
                console.say(&format!("no reply within {} s; going on", timeout.as_secs()));
                awaiting = None;
            }
            _ = indicator.tick(), if conversation.tools_running() => conversation.print_running(),
            event = session.next_event() => {
                let Some(event) = event else { return Err("session ended unexpectedly".into()) };
                conversation.show(&event);
                if let LiveEvent::Closed { close, error } = event {
                    return match (close, error) {
                        (_, Some(e)) => Err(format!("session closed: {e}")),
                        (c, None) => Err(format!("session closed early ({c:?})")),
                    };
                }
            }
        }
    }
}

async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}
