//! Many concurrent sessions against one emulator: every one completes a spoken turn
//! with a tool call. (The emulator must carry 1,000–2,000 sessions on 2 cores; this
//! runs 1,000 in CI, clients included in the same process.)

mod emulator_support;

use std::time::Duration;

use emulator_support::*;
use genai_wire::emulator::{Emulator, RecordMode, Scenario};
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_concurrent_sessions() {
    const N: usize = 1000;
    let emu = Emulator::builder()
        .scenario(
            Scenario::from_json(
                r#"{"audio":{"chunkMs":100},"steps":[{"waitUserTurn":{}},{"speak":{"ms":500,"text":"hello there"}},
                    {"call":{"name":"search","args":{}}},{"endTurn":{}}]}"#,
            )
            .unwrap(),
        )
        .record(RecordMode::Metadata)
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    let url = emu.ws_url();
    // Open all sessions first (so they are concurrent), then talk.
    let mut clients = Vec::with_capacity(N);
    for chunk in (0..N).collect::<Vec<_>>().chunks(100) {
        let opened = futures::future::join_all(chunk.iter().map(|_| {
            let url = url.clone();
            async move {
                start(&url, dev_setup(json!({"tools": tools(json!([{"name": "search", "behavior": "NON_BLOCKING"}]))}))).await
            }
        }))
        .await;
        clients.extend(opened);
    }
    assert_eq!(emu.active_connections(), N);
    let t0 = std::time::Instant::now();
    let results = futures::future::join_all(clients.into_iter().map(|mut ws| async move {
        send(&mut ws, text_msg("hi")).await;
        let got = recv_until(&mut ws, is_turn_complete).await;
        let calls = got
            .iter()
            .filter(|g| matches!(g, Got::Msg(v, _) if v.get("toolCall").is_some()))
            .count();
        let audio = got
            .iter()
            .filter(|g| matches!(g, Got::Msg(v, _) if v["serverContent"]["modelTurn"].is_object()))
            .count();
        (calls, audio, ws)
    }))
    .await;
    let took = t0.elapsed();
    for (calls, audio, _) in &results {
        assert_eq!((*calls, *audio), (1, 5));
    }
    // Real-time pacing held: the 0.5 s turns did not take much longer with 1,000 at once.
    assert!(took < Duration::from_secs(8), "{took:?}");
    assert!(emu.violations().is_empty());
    drop(results);
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while emu.active_connections() > 0 && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(emu.active_connections(), 0);
}
