//! The session against peers that misbehave the way networks and servers do: a peer that
//! stops reading, absurd values, a tool that panics before it returns its future, a
//! server that closes right after setup, a result larger than the frame limit. Each of
//! these hung, panicked, stormed or lost a result before the fix that came with it.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use adk_live::prelude::*;
use adk_live::tools::ToolFuture;
use genai_wire::protocol::FunctionDeclaration;
use serde_json::{Value, json};

use crate::raw_server::{self, RawServer};
use crate::support::*;

/// Reads events until the final `Closed`; returns them all.
async fn until_closed(session: &LiveHandle, within: Duration) -> Vec<LiveEvent> {
    let mut seen = Vec::new();
    let ended = tokio::time::timeout(within, async {
        while let Some(e) = session.next_event().await {
            let closed = matches!(e, LiveEvent::Closed { .. });
            seen.push(e);
            if closed {
                return;
            }
        }
    })
    .await;
    assert!(
        ended.is_ok(),
        "no Closed event within {within:?}; got {seen:#?}"
    );
    seen
}

fn closed_error(events: &[LiveEvent]) -> String {
    match events.last() {
        Some(LiveEvent::Closed { error, .. }) => error.clone().unwrap_or_default(),
        other => panic!("last event is not Closed: {other:?}"),
    }
}

/// Streams 256 KiB audio chunks until `stop`; counts the sends that completed.
fn feeder(session: Arc<LiveHandle>, sent: Arc<AtomicUsize>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let chunk = vec![0u8; 256 * 1024];
        while session.send_audio(&chunk).await.is_ok() {
            sent.fetch_add(1, Ordering::SeqCst);
        }
    })
}

/// Waits until `sent` stops moving (the session's queue is full because the session task
/// cannot write): the condition is "no send completed for a whole second", checked with a
/// generous overall timeout.
async fn wait_until_stuck(sent: &AtomicUsize) {
    tokio::time::timeout(Duration::from_secs(60), async {
        loop {
            let before = sent.load(Ordering::SeqCst);
            tokio::time::sleep(Duration::from_secs(1)).await;
            let after = sent.load(Ordering::SeqCst);
            if after == before && after > 0 {
                return;
            }
        }
    })
    .await
    .expect("the peer never pushed back");
}

#[tokio::test]
async fn a_peer_that_stops_reading_is_a_lost_connection_not_a_hang() {
    let server = RawServer::start(|_, mut ws| async move {
        raw_server::accept_setup(&mut ws).await;
        raw_server::stop_reading(ws).await;
    })
    .await;
    let session = Arc::new(
        Live::builder()
            .configure(|c| {
                c.write_timeout = Duration::from_secs(2);
                c.reconnect = ReconnectPolicy::never();
            })
            .connect_endpoint(server.url.clone(), Credentials::None)
            .await
            .unwrap(),
    );
    let sent = Arc::new(AtomicUsize::new(0));
    let feed = feeder(session.clone(), sent.clone());
    let events = until_closed(&session, Duration::from_secs(60)).await;
    let error = closed_error(&events);
    assert!(error.contains("peer stopped reading"), "{error}");
    tokio::time::timeout(WAIT, feed).await.unwrap().unwrap();
    assert_eq!(session.tools().live_tasks(), 0);
}

#[tokio::test]
async fn disconnect_returns_promptly_while_a_write_is_stuck() {
    let server = RawServer::start(|_, mut ws| async move {
        raw_server::accept_setup(&mut ws).await;
        raw_server::stop_reading(ws).await;
    })
    .await;
    let session = Arc::new(
        Live::builder()
            // The write bound is far away: only shutdown can end the stuck write.
            .configure(|c| c.write_timeout = Duration::from_secs(3600))
            .connect_endpoint(server.url.clone(), Credentials::None)
            .await
            .unwrap(),
    );
    let sent = Arc::new(AtomicUsize::new(0));
    let feed = feeder(session.clone(), sent.clone());
    wait_until_stuck(&sent).await;
    // Documented bound: about 2 s for the close plus the tools' grace period.
    tokio::time::timeout(Duration::from_secs(5), session.disconnect())
        .await
        .expect("disconnect returned");
    tokio::time::timeout(WAIT, feed).await.unwrap().unwrap();
    let events = until_closed(&session, WAIT).await;
    assert!(matches!(events.last(), Some(LiveEvent::Closed { .. })));
}

#[tokio::test]
async fn absurd_values_from_the_wire_never_panic_the_session() {
    let server = RawServer::start(|index, mut ws| async move {
        raw_server::accept_setup(&mut ws).await;
        if index > 0 {
            // The connection after the switch: a normal turn, then hold.
            raw_server::send_json(&mut ws, r#"{"serverContent":{"turnComplete":true}}"#).await;
            raw_server::stop_reading(ws).await;
            return;
        }
        for absurd in [
            r#"{"serverContent":{"modelTurn":{"parts":[{"inlineData":{"mimeType":"audio/pcm;rate=99999999999999999999","data":"AAA="}}]}}}"#,
            r#"{"voiceActivity":{"type":"ACTIVITY_START","audioOffset":"99999999999999999999.9s"}}"#,
            r#"{"usageMetadata":{"totalTokenCount":"99999999999999999999999"}}"#,
            r#"{"sessionResumptionUpdate":{"newHandle":"h1","resumable":true,"lastConsumedClientMessageIndex":"-9223372036854775808"}}"#,
            // While the model is generating: the deadline is computed and kept.
            r#"{"goAway":{"timeLeft":"18446744073709551615.999999999s"}}"#,
            r#"{"serverContent":{"turnComplete":true}}"#,
        ] {
            raw_server::send_json(&mut ws, absurd).await;
        }
        raw_server::stop_reading(ws).await;
    })
    .await;
    let session = Live::builder()
        .connect_endpoint(server.url.clone(), Credentials::None)
        .await
        .unwrap();
    let events = events_until(&session, |e| matches!(e, LiveEvent::Reconnected { .. })).await;
    assert!(
        events.iter().any(|e| matches!(e, LiveEvent::GoAway { .. })),
        "{events:#?}"
    );
    assert!(
        !events.iter().any(|e| matches!(e, LiveEvent::Closed { .. })),
        "{events:#?}"
    );
    // A goAway with no generation in progress switches as soon as a handle is a clean
    // checkpoint: same absurd value.
    let server2 = RawServer::start(|index, mut ws| async move {
        raw_server::accept_setup(&mut ws).await;
        if index == 0 {
            raw_server::send_json(&mut ws, r#"{"goAway":{"timeLeft":"99999999999999999s"}}"#).await;
            raw_server::send_json(
                &mut ws,
                r#"{"sessionResumptionUpdate":{"newHandle":"h1","resumable":true}}"#,
            )
            .await;
        }
        raw_server::stop_reading(ws).await;
    })
    .await;
    let session2 = Live::builder()
        .connect_endpoint(server2.url.clone(), Credentials::None)
        .await
        .unwrap();
    events_until(&session2, |e| matches!(e, LiveEvent::Reconnected { .. })).await;
    tokio::time::timeout(WAIT, session.disconnect())
        .await
        .unwrap();
    tokio::time::timeout(WAIT, session2.disconnect())
        .await
        .unwrap();
}

/// A tool whose `call` panics before it returns a future.
struct PanicsEarly;

impl Tool for PanicsEarly {
    fn name(&self) -> &str {
        "panics"
    }

    fn declaration(&self) -> FunctionDeclaration {
        FunctionDeclaration {
            name: "panics".into(),
            description: Some("Panics at once".into()),
            ..Default::default()
        }
    }

    fn call(&self, _args: Value, _ctx: ToolContext) -> ToolFuture {
        panic!("no future for you")
    }
}

#[tokio::test]
async fn a_tool_that_panics_before_its_future_gets_an_error_response() {
    let emu = emulator("e2e/single_call.json", Backend::DeveloperApi).await;
    let builder = Live::builder().tool_with(
        PanicsEarly,
        ToolOptions::new().with_duplicates(DuplicatePolicy::Reject),
    );
    let session = connect(&emu, Backend::DeveloperApi, builder).await;
    let es = emu.wait_for_session(WAIT).await.unwrap();
    for round in 1..=2 {
        session.send_text("panics").await.unwrap();
        let e = events_until(&session, |e| matches!(e, LiveEvent::ToolFailed { .. })).await;
        assert!(
            matches!(e.last(), Some(LiveEvent::ToolFailed { error, .. }) if error.contains("no future for you")),
            "{e:#?}"
        );
        // The model got an error response on the call's id (the emulator's record), and
        // the call left the tracker: the second round is not refused as a duplicate.
        let calls = function_calls(&es);
        es.wait_for(WAIT, |f| responses_in(f).len() >= round)
            .await
            .unwrap();
        let (_, response) = function_responses(&es).pop().unwrap();
        assert_eq!(response["id"], json!(calls[round - 1].0));
        assert!(
            response["response"]["error"]
                .as_str()
                .is_some_and(|e| e.contains("panicked")),
            "{response}"
        );
        assert_eq!(session.tools().len(), 0);
        events_until(&session, |e| matches!(e, LiveEvent::TurnComplete)).await;
    }
    tokio::time::timeout(WAIT, session.disconnect())
        .await
        .unwrap();
}

#[tokio::test]
async fn a_server_that_closes_after_setup_gets_backoff_then_a_clear_end() {
    let server = RawServer::start(|_, mut ws| async move {
        raw_server::accept_setup(&mut ws).await;
        raw_server::close(&mut ws, 1011, "Internal error occurred.").await;
    })
    .await;
    let session = Live::builder()
        .configure(|c| {
            c.reconnect = ReconnectPolicy::default()
                .with_max_attempts(4)
                .with_backoff(Duration::from_millis(20), Duration::from_millis(200));
        })
        .connect_endpoint(server.url.clone(), Credentials::None)
        .await
        .unwrap();
    let events = until_closed(&session, Duration::from_secs(30)).await;
    let error = closed_error(&events);
    assert!(error.contains("gave up after"), "{error}");
    assert!(error.contains("1011"), "{error}");
    // The first connection, then one per failure in the budget: no storm.
    let dials = server.connections();
    assert!((2..=6).contains(&dials), "{dials} connections");
}

#[tokio::test]
async fn a_result_larger_than_the_frame_limit_is_refused_locally() {
    let emu = emulator("e2e/single_call.json", Backend::DeveloperApi).await;
    let huge = tool_fn(
        "search",
        "Returns far too much",
        |_: Query, _ctx: ToolContext| async move {
            Ok::<_, ToolError>(json!({ "blob": "x".repeat(2 << 20) }))
        },
    );
    let builder = Live::builder()
        .tool(huge)
        .configure(|c| c.transport = c.transport.clone().with_max_message_size(1 << 20));
    let session = connect(&emu, Backend::DeveloperApi, builder).await;
    let es = emu.wait_for_session(WAIT).await.unwrap();
    session.send_text("search").await.unwrap();
    let events = events_until(&session, |e| matches!(e, LiveEvent::ToolFailed { .. })).await;
    assert!(
        matches!(events.last(), Some(LiveEvent::ToolFailed { error, .. }) if error.contains("exceeds the send limit")),
        "{events:#?}"
    );
    es.wait_for(WAIT, |f| !responses_in(f).is_empty())
        .await
        .unwrap();
    let responses = function_responses(&es);
    assert_eq!(responses.len(), 1, "{responses:?}");
    assert_eq!(responses[0].1["id"], json!(function_calls(&es)[0].0));
    assert_eq!(responses[0].1["response"]["status"], json!("error"));
    events_until(&session, |e| matches!(e, LiveEvent::TurnComplete)).await;
    assert_eq!(session.metrics().reconnects, 0);
    assert_eq!(session.metrics().responses_refused, 1);
    assert_eq!(es.connections().len(), 1);
    tokio::time::timeout(WAIT, session.disconnect())
        .await
        .unwrap();
}

/// After a goAway, a session that never had a resumption handle keeps its live connection
/// (it has the whole `timeLeft`) until a handle arrives, then switches on that clean
/// checkpoint, resuming with it. It used to switch at once to a fresh session, giving up
/// the connection and the conversation (the second setup had no handle: this test failed).
#[tokio::test]
async fn go_away_before_any_handle_waits_for_one() {
    let setups = Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let seen = setups.clone();
    let server = RawServer::start(move |index, mut ws| {
        let seen = seen.clone();
        async move {
            use futures::{SinkExt, StreamExt};
            use tokio_tungstenite::tungstenite::Message;
            let mut frames = Vec::new();
            // The setup, kept for the test.
            while let Some(Ok(m)) = ws.next().await {
                let text = match m {
                    Message::Text(t) => t.to_string(),
                    Message::Binary(b) => String::from_utf8_lossy(&b).into_owned(),
                    _ => continue,
                };
                if text.contains("\"setup\"") {
                    seen.lock().unwrap().push(text);
                    break;
                }
                frames.push(text);
            }
            raw_server::send_json(&mut ws, r#"{"setupComplete":{}}"#).await;
            if index > 0 {
                raw_server::stop_reading(ws).await;
                return;
            }
            raw_server::send_json(&mut ws, r#"{"goAway":{"timeLeft":"30s"}}"#).await;
            // The client, told of the goAway, sends a text: it must arrive here, on the
            // connection that still has 30 s; then the first handle is issued.
            while let Some(Ok(m)) = ws.next().await {
                if let Message::Text(t) = &m
                    && t.contains("still here")
                {
                    raw_server::send_json(
                        &mut ws,
                        r#"{"sessionResumptionUpdate":{"newHandle":"h1","resumable":true}}"#,
                    )
                    .await;
                    break;
                }
            }
            let _ = ws.send(Message::Ping(Vec::new().into())).await;
            raw_server::stop_reading(ws).await;
        }
    })
    .await;
    let session = Live::builder()
        .connect_endpoint(server.url.clone(), Credentials::None)
        .await
        .unwrap();
    events_until(&session, |e| matches!(e, LiveEvent::GoAway { .. })).await;
    session.send_text("still here").await.unwrap();
    let events = events_until(&session, |e| matches!(e, LiveEvent::Reconnected { .. })).await;
    assert!(
        events.contains(&LiveEvent::Reconnected { resumed: true }),
        "{events:#?}"
    );
    let setups = setups.lock().unwrap().clone();
    assert_eq!(setups.len(), 2, "{setups:?}");
    assert!(
        setups[1].contains("\"handle\":\"h1\""),
        "resumed with h1: {}",
        setups[1]
    );
    tokio::time::timeout(WAIT, session.disconnect())
        .await
        .unwrap();
}
