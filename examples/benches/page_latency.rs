//! What the agent server adds to each audio frame's trip, in both directions.
//!
//! ```text
//! cargo bench -p examples --bench page_latency [-- FRAMES]
//! ```
//!
//! One process: the emulator, an adk-live session straight to it, and the agent server
//! with one page (a raw websocket) whose session goes to the same emulator. Frames go one
//! at a time, each waited for before the next, so nothing queues:
//!
//! * **model → caller:** a 100 ms, 24 kHz audio frame is injected into the emulator's
//!   session; the clock stops when the direct session's application has the
//!   `LiveEvent::Audio`, or when the page has the binary frame;
//! * **caller → model:** a 20 ms, 16 kHz chunk is sent (`send_audio`, or a binary frame
//!   from the page); the clock stops when the emulator has recorded it.
//!
//! The server's added latency is the through-server figure minus the direct one at the
//! same percentile. Both paths wait the same way, so the waiting cost cancels out.

use std::time::{Duration, Instant};

use adk_live::prelude::*;
use base64::Engine;
use examples::server::{AgentServer, ServerConfig};
use futures::{SinkExt, StreamExt};
use genai_wire::emulator::{Emulator, EmulatorHandle, Scenario, SessionHandle};
use tokio_tungstenite::tungstenite::Message;

/// The emulator's model stays quiet: it waits for a user turn that silent audio never
/// ends.
const QUIET: &str = r#"{"repeat": false, "steps": [{"waitUserTurn": {}}]}"#;
const WAIT: Duration = Duration::from_secs(10);

fn main() {
    let frames: usize = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(2000);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(run(frames));
}

async fn emulator() -> EmulatorHandle {
    Emulator::builder()
        .scenario(Scenario::from_json(QUIET).unwrap())
        .bind("127.0.0.1:0")
        .await
        .unwrap()
}

async fn session(url: &str) -> LiveHandle {
    Live::builder()
        .connect_endpoint(url, Credentials::None)
        .await
        .unwrap()
}

async fn run(frames: usize) {
    // Direct.
    let emu = emulator().await;
    let direct = session(&emu.ws_url()).await;
    let emu_session = emu.wait_for_session(WAIT).await.unwrap();
    let direct_out = outbound(frames, &emu_session, || async {
        loop {
            match direct.next_event().await {
                Some(LiveEvent::Audio { .. }) => return,
                Some(_) => {}
                None => panic!("direct session ended"),
            }
        }
    })
    .await;
    let chunk = vec![0u8; 640];
    let direct_in = inbound(frames, &emu_session, || async {
        direct.send_audio(&chunk).await.map_err(|e| e.to_string())
    })
    .await;
    direct.disconnect().await;

    // Through the agent server.
    let emu = emulator().await;
    let url = emu.ws_url();
    let mut config = ServerConfig::default();
    config.addr = "127.0.0.1:0".parse().unwrap();
    // Frames go back to back here, far above a real microphone's 50 a second.
    config.limits.max_frames_per_sec = 1_000_000;
    let server = AgentServer::start(
        config,
        std::sync::Arc::new(move |_caller| {
            let url = url.clone();
            Box::pin(async move { Ok(session(&url).await) })
        }),
    )
    .await
    .unwrap();
    let (ws, _) = tokio_tungstenite::connect_async(format!("ws://{}/ws", server.addr()))
        .await
        .unwrap();
    let ws = tokio::sync::Mutex::new(ws);
    ws.lock()
        .await
        .send(Message::text(r#"{"type":"hello","protocol":1}"#))
        .await
        .unwrap();
    let emu_session = emu.wait_for_session(WAIT).await.unwrap();
    let page_out = outbound(frames, &emu_session, || async {
        let mut ws = ws.lock().await;
        loop {
            match ws.next().await {
                Some(Ok(Message::Binary(_))) => return,
                Some(Ok(_)) => {}
                other => panic!("page: {other:?}"),
            }
        }
    })
    .await;
    let page_in = inbound(frames, &emu_session, || async {
        ws.lock()
            .await
            .send(Message::binary(chunk.clone()))
            .await
            .map_err(|e| e.to_string())
    })
    .await;
    server.shutdown().await;

    println!("page_latency: {frames} frames each way, one at a time (µs)");
    println!(
        "{:<34} {:>8} {:>8} {:>8} {:>8}",
        "", "p50", "p90", "p99", "max"
    );
    for (name, d) in [
        ("model → caller, direct", &direct_out),
        ("model → caller, through server", &page_out),
        ("caller → model, direct", &direct_in),
        ("caller → model, through server", &page_in),
    ] {
        println!(
            "{name:<34} {:>8} {:>8} {:>8} {:>8}",
            pct(d, 50.0),
            pct(d, 90.0),
            pct(d, 99.0),
            pct(d, 100.0)
        );
    }
    for (name, direct, page) in [
        ("model → caller", &direct_out, &page_out),
        ("caller → model", &direct_in, &page_in),
    ] {
        println!(
            "added by the server, {name}: p50 {} µs, p99 {} µs",
            pct(page, 50.0) as i64 - pct(direct, 50.0) as i64,
            pct(page, 99.0) as i64 - pct(direct, 99.0) as i64
        );
    }
}

/// Injects `n` model audio frames one at a time; `arrived` completes when the client
/// has one.
async fn outbound<F, Fut>(n: usize, emu: &SessionHandle, mut arrived: F) -> Vec<u64>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let pcm = base64::engine::general_purpose::STANDARD.encode(vec![1u8; 4800]);
    let frame = format!(
        r#"{{"serverContent":{{"modelTurn":{{"parts":[{{"inlineData":{{"mimeType":"audio/pcm;rate=24000","data":"{pcm}"}}}}]}}}}}}"#
    );
    let mut took = Vec::with_capacity(n);
    for _ in 0..n {
        let t0 = Instant::now();
        assert!(emu.inject(frame.clone()));
        tokio::time::timeout(WAIT, arrived())
            .await
            .expect("frame arrived");
        took.push(t0.elapsed().as_micros() as u64);
    }
    took
}

/// Sends `n` caller chunks one at a time; each is waited for in the emulator's record.
async fn inbound<F, Fut>(n: usize, emu: &SessionHandle, mut send: F) -> Vec<u64>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<(), String>>,
{
    let before = emu.count("realtimeInput.audio");
    let mut took = Vec::with_capacity(n);
    for i in 1..=n {
        let t0 = Instant::now();
        send().await.expect("send");
        emu.wait_for_count("realtimeInput.audio", before + i, WAIT)
            .await
            .expect("chunk arrived");
        took.push(t0.elapsed().as_micros() as u64);
    }
    took
}

fn pct(samples: &[u64], p: f64) -> u64 {
    let mut s = samples.to_vec();
    s.sort_unstable();
    let rank = ((p / 100.0) * s.len() as f64).ceil().max(1.0) as usize;
    s[rank.min(s.len()) - 1]
}
