//! Quickstart: one background tool, one typed question, the tool's lifecycle printed.
//! Uses the Gemini Developer API when GEMINI_API_KEY is set, else a local emulator.
//! Run: cargo run -p examples --bin quickstart
use std::time::Duration;

use adk_live::prelude::*;
use genai_wire::emulator::{Emulator, Scenario};
use serde::Deserialize;
use serde_json::json;

#[derive(Deserialize, schemars::JsonSchema)]
struct SearchArgs {
    /// What to search for.
    query: String,
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // A slow tool: reports progress, stops early when cancelled.
    let search = tool_fn(
        "search",
        "Searches the web. Slow: runs in the background.",
        |args: SearchArgs, ctx: ToolContext| async move {
            for percent in [0, 50] {
                ctx.progress(json!({ "percent": percent }));
                tokio::select! {
                    _ = ctx.cancelled() => return Err(ToolError::new("cancelled")),
                    _ = tokio::time::sleep(Duration::from_millis(500)) => {}
                }
            }
            Ok(json!({ "query": args.query, "answer": "sunny, 24 °C" }))
        },
    );

    let builder = Live::builder()
        .instruction("You are a helpful voice assistant. Use `search` for current facts.")
        .tool(search)
        .tool_background("search"); // NON_BLOCKING: acked at once, result WHEN_IDLE

    let mut _emulator = None; // keeps the local emulator alive while the session runs
    let session = match std::env::var("GEMINI_API_KEY") {
        Ok(key) if !key.is_empty() => builder.connect_google_ai(key).await?,
        _ => {
            let emulator = Emulator::builder()
                .scenario(Scenario::default())
                .bind("127.0.0.1:0")
                .await?;
            let url = emulator.ws_url();
            _emulator = Some(emulator);
            builder.connect_endpoint(url, Credentials::None).await?
        }
    };

    session
        .send_text("What's the weather like in Paris today?")
        .await?;
    let (mut said, mut result_sent, mut voicing_result) = (String::new(), false, false);
    let conversation = async {
        while let Some(event) = session.next_event().await {
            match event {
                LiveEvent::OutputTranscript { text, .. } | LiveEvent::Text(text) => {
                    // A turn that starts after the result was sent is the one voicing it.
                    voicing_result |= result_sent && said.is_empty();
                    said.push_str(&text);
                }
                LiveEvent::TurnComplete => {
                    println!("model: {}", std::mem::take(&mut said).trim());
                    if voicing_result {
                        break;
                    }
                }
                LiveEvent::ToolStarted { name, args, .. } => println!("[{name}] started {args}"),
                LiveEvent::ToolAcked { name, .. } => println!("[{name}] acked"),
                LiveEvent::ToolProgress { name, progress, .. } => {
                    println!("[{name}] progress {progress}")
                }
                LiveEvent::ToolCompleted { name, result, .. } => {
                    println!("[{name}] completed {result}");
                    result_sent = true;
                }
                LiveEvent::Closed { error, .. } => return Err(format!("closed: {error:?}")),
                _ => {}
            }
        }
        Ok(())
    };
    tokio::time::timeout(Duration::from_secs(60), conversation).await??;
    session.disconnect().await;
    Ok(())
}
