//! Sessions that survive: goAway, resumption, connection loss, fatal closes, stalled
//! pongs, slow consumers — driven through the emulator's fault injection.

use std::time::Duration;

use adk_live::prelude::*;
use genai_wire::emulator::{Emulator, Fault, kind};
use serde_json::Value;

use crate::support::*;

fn texts_received(es: &genai_wire::emulator::SessionHandle) -> Vec<(u32, String)> {
    es.frames_of("realtimeInput.text")
        .into_iter()
        .map(|f| {
            let v: Value = serde_json::from_slice(&f.raw).unwrap();
            (
                f.conn,
                v["realtimeInput"]["text"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
            )
        })
        .collect()
}

#[tokio::test]
async fn connection_killed_mid_turn_queued_sends_arrive_in_order_after_resume() {
    let emu = emulator("e2e/long_turn.json", Backend::DeveloperApi).await;
    let session = connect(&emu, Backend::DeveloperApi, Live::builder()).await;
    let es = emu.wait_for_session(WAIT).await.unwrap();
    // A handle exists from the start; kill the connection in the middle of a model turn.
    session.send_text("hello").await.unwrap();
    events_until(&session, |e| matches!(e, LiveEvent::Audio { .. })).await;
    assert!(emu.control().drop_connection(&es.id()));
    events_until(&session, |e| matches!(e, LiveEvent::Reconnecting { .. })).await;
    for i in 1..=5 {
        session.send_text(format!("m{i}")).await.unwrap();
    }
    events_until(&session, |e| {
        matches!(e, LiveEvent::Reconnected { resumed: true })
    })
    .await;
    es.wait_for(WAIT, |f| {
        f.iter().filter(|f| f.kind == "realtimeInput.text").count() >= 6
    })
    .await
    .unwrap();
    // Anything sent again would be written before the barrier.
    barrier(&session, &es).await;
    let texts: Vec<String> = texts_received(&es)
        .into_iter()
        .filter(|(c, _)| *c == 1)
        .map(|(_, t)| t)
        .collect();
    assert_eq!(
        texts,
        ["m1", "m2", "m3", "m4", "m5"],
        "in order, exactly once, on the resumed connection"
    );
    assert!(es.violations().is_empty(), "{:?}", es.violations());
    session.disconnect().await;
}

#[tokio::test]
async fn a_policy_close_is_reported_without_retry() {
    let emu = emulator("e2e/single_call.json", Backend::DeveloperApi).await;
    let session = connect(&emu, Backend::DeveloperApi, Live::builder()).await;
    let es = emu.wait_for_session(WAIT).await.unwrap();
    assert!(
        emu.control()
            .close(&es.id(), 1008, "Requested entity was not found.")
    );
    let events = events_until(&session, |e| matches!(e, LiveEvent::Closed { .. })).await;
    match events.last() {
        Some(LiveEvent::Closed {
            close: Some(c),
            error: Some(e),
        }) => {
            assert_eq!(c.code, 1008);
            assert_eq!(c.reason, "Requested entity was not found.");
            assert!(e.contains("Requested entity was not found."));
        }
        other => panic!("{other:?}"),
    }
    assert!(
        !events
            .iter()
            .any(|e| matches!(e, LiveEvent::Reconnecting { .. }))
    );
    // The session task has ended: no retry can follow.
    tokio::time::timeout(WAIT, session.closed())
        .await
        .expect("the session ended after the policy close");
    assert_eq!(
        emu.sessions()
            .iter()
            .map(|s| s.connections().len())
            .sum::<usize>(),
        1,
        "no retry"
    );
    assert_eq!(session.metrics().reconnects, 0);
    assert!(matches!(
        session.send_text("x").await,
        Err(Error::SessionEnded)
    ));
}

#[tokio::test]
async fn a_bad_key_fails_connect_with_the_servers_reason() {
    let emu = Emulator::builder()
        .api_key("right-key")
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    let err = Live::builder()
        .connect_endpoint(emu.ws_url(), Credentials::api_key("wrong-key"))
        .await
        .unwrap_err();
    let close = err.close().expect("a close").clone();
    assert_eq!(close.code, 1007);
    assert!(close.reason.contains("API key not valid"), "{close:?}");
    assert!(err.is_fatal());
    assert!(
        !format!("{err:?} {err}").contains("wrong-key"),
        "no secret in errors"
    );
}

fn keepalive(builder: LiveBuilder, interval_ms: u64, timeout_ms: u64) -> LiveBuilder {
    builder.configure(move |c| {
        c.transport = c.transport.clone().with_keepalive(
            Some(Duration::from_millis(interval_ms)),
            Some(Duration::from_millis(timeout_ms)),
        )
    })
}

/// Waits until the emulator has stopped reading the first connection (a stall it was
/// asked for takes effect on its connection's task); returns when.
async fn stall_started(es: &genai_wire::emulator::SessionHandle) -> Duration {
    let at = || {
        es.connections()[0]
            .faults
            .iter()
            .find(|f| matches!(f.fault, Fault::StalledPongs(_)))
            .map(|f| f.at)
    };
    until("the stall to start", || at().is_some()).await;
    at().unwrap()
}

#[tokio::test]
async fn a_stalled_pong_does_not_kill_a_healthy_session() {
    let emu = emulator("chat.json", Backend::DeveloperApi).await;
    let session = connect(
        &emu,
        Backend::DeveloperApi,
        keepalive(Live::builder(), 100, 1500),
    )
    .await;
    let es = emu.wait_for_session(WAIT).await.unwrap();
    assert!(
        emu.control()
            .stall_pongs(&es.id(), Duration::from_millis(800))
    );
    let stalled_at = stall_started(&es).await;
    // Sent during the stall: the emulator reads it once the stall is over, while the
    // client's pings went unanswered for 800 ms.
    session.send_text("are you there").await.unwrap();
    let read = es
        .wait_for_frame(WAIT, |f| f.kind == kind::TEXT)
        .await
        .unwrap();
    assert!(
        read.at >= stalled_at + Duration::from_millis(800),
        "read at {:?}, stalled at {stalled_at:?}",
        read.at
    );
    let events = events_until(&session, |e| matches!(e, LiveEvent::TurnComplete)).await;
    assert!(
        !events
            .iter()
            .any(|e| matches!(e, LiveEvent::Reconnecting { .. } | LiveEvent::Closed { .. })),
        "{events:#?}"
    );
    assert_eq!(es.connections().len(), 1);
    session.disconnect().await;
}

#[tokio::test]
async fn a_dead_peer_is_detected_by_keepalive_and_the_session_resumes() {
    let emu = emulator("chat.json", Backend::DeveloperApi).await;
    let session = connect(
        &emu,
        Backend::DeveloperApi,
        keepalive(Live::builder(), 100, 500),
    )
    .await;
    let es = emu.wait_for_session(WAIT).await.unwrap();
    assert!(emu.control().stall_pongs(&es.id(), Duration::from_secs(3)));
    let events = events_until(&session, |e| matches!(e, LiveEvent::Reconnected { .. })).await;
    assert!(
        events.iter().any(
            |e| matches!(e, LiveEvent::Reconnecting { error, .. } if error.contains("keepalive"))
        ),
        "{events:#?}"
    );
    session.disconnect().await;
}

#[tokio::test]
async fn a_consumer_that_stops_reading_does_not_stall_the_tool_lane() {
    let emu = emulator("e2e/long_turn.json", Backend::DeveloperApi).await;
    let builder = background_search(50, 1).configure(|c| c.audio_queue = 4);
    let session = connect(&emu, Backend::DeveloperApi, builder).await;
    session.send_text("news please").await.unwrap();
    // Read nothing while 3 s of audio stream in and the tool runs.
    let es = emu.wait_for_session(WAIT).await.unwrap();
    es.wait_for(WAIT, |f| {
        responses_in(f)
            .iter()
            .any(|(_, r)| r["willContinue"] == false)
    })
    .await
    .unwrap();
    es.wait_for(WAIT, |f| {
        f.iter().any(|f| f.kind == "serverContent.turnComplete")
    })
    .await
    .unwrap();
    // Wait until the client has handled the turnComplete, without reading (which would
    // make room for more audio): every audio chunk is queued (4) or dropped and counted,
    // so once it has handled a chunk sent after the turnComplete (the result, voiced once
    // the turn is over), it has handled the turnComplete too.
    es.wait_for(WAIT, |f| {
        f.iter()
            .skip_while(|f| f.kind != kind::TURN_COMPLETE)
            .any(|f| f.kind == kind::MODEL_TURN)
    })
    .await
    .unwrap();
    let handled = {
        let frames = es.frames();
        let turn_end = frames
            .iter()
            .position(|f| f.kind == kind::TURN_COMPLETE)
            .unwrap();
        let after = turn_end
            + frames[turn_end..]
                .iter()
                .position(|f| f.kind == kind::MODEL_TURN)
                .unwrap();
        frames[..=after]
            .iter()
            .filter(|f| f.kind == kind::MODEL_TURN)
            .count() as u64
    };
    until("the client to handle the audio sent after the turn", || {
        session.metrics().audio_chunks_dropped + 4 >= handled
    })
    .await;
    assert!(
        session.metrics().audio_chunks_dropped > 0,
        "audio beyond the bound is dropped and counted"
    );
    let events: Vec<_> = std::iter::from_fn(|| session.try_next_event()).collect();
    let audio = events
        .iter()
        .filter(|e| matches!(e, LiveEvent::Audio { .. }))
        .count();
    assert_eq!(audio, 4, "the bound holds");
    for wanted in ["ToolStarted", "ToolAcked", "ToolCompleted", "TurnComplete"] {
        assert!(
            events.iter().any(|e| format!("{e:?}").starts_with(wanted)),
            "{wanted} kept"
        );
    }
    session.disconnect().await;
}

#[tokio::test]
async fn vertex_transparent_resumption_replays_unconsumed_messages() {
    let emu = emulator("chat.json", Backend::VertexAi).await;
    let session = Live::builder()
        .base_url(emu.base_url())
        .configure(|c| {
            c.transparent_resumption = true;
            // So that a message refused locally can serve as a barrier (below).
            c.transport = c.transport.clone().with_max_message_size(1 << 20);
        })
        .connect_vertex("p", "us-central1", "t")
        .await
        .unwrap();
    let es = emu.wait_for_session(WAIT).await.unwrap();
    assert_eq!(
        es.received_client_messages()[0]["setup"]["sessionResumption"]["transparent"],
        true
    );
    // First turn: consumed and acknowledged by the resumption update that follows it.
    session.send_text("one").await.unwrap();
    events_until(&session, |e| matches!(e, LiveEvent::TurnComplete)).await;
    events_until(&session, |e| {
        matches!(
            e,
            LiveEvent::Resumption {
                resumable: true,
                ..
            }
        )
    })
    .await;
    // Stop the server from reading, send two more with audio between them (encoded by
    // this task, written as a ready frame), then kill the connection: none was reported
    // consumed, so all three are sent again, in order, on the resumed connection.
    assert!(emu.control().stall_pongs(&es.id(), Duration::from_secs(2)));
    stall_started(&es).await;
    session.send_text("two").await.unwrap();
    session.send_audio(&[0, 0, 1, 0]).await.unwrap();
    session.send_text("three").await.unwrap();
    // The session writes in order: once it has refused a message too large to send (an
    // `Error` event, nothing written), "two" and "three" are on the old connection.
    session.send_text("x".repeat(1 << 20)).await.unwrap();
    events_until(
        &session,
        |e| matches!(e, LiveEvent::Error(m) if m.contains("exceeds the send limit")),
    )
    .await;
    assert!(emu.control().drop_connection(&es.id()));
    events_until(&session, |e| {
        matches!(e, LiveEvent::Reconnected { resumed: true })
    })
    .await;
    es.wait_for(WAIT, |f| {
        f.iter()
            .filter(|f| f.kind == "realtimeInput.text" && f.conn == 1)
            .count()
            >= 2
    })
    .await
    .unwrap();
    let on_new: Vec<String> = texts_received(&es)
        .into_iter()
        .filter(|(c, _)| *c == 1)
        .map(|(_, t)| t)
        .collect();
    assert_eq!(on_new, ["two", "three"]);
    let replayed: Vec<Value> = es
        .frames()
        .into_iter()
        .filter(|f| f.conn == 1 && f.kind.starts_with("realtimeInput."))
        .map(|f| f.json()["realtimeInput"].clone())
        .collect();
    assert_eq!(
        replayed,
        [
            serde_json::json!({"text": "two"}),
            serde_json::json!({"audio": {"mimeType": "audio/pcm;rate=16000", "data": "AAABAA=="}}),
            serde_json::json!({"text": "three"}),
        ]
    );
    session.disconnect().await;
}
