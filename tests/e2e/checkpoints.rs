//! Tool results across connection changes, against the emulator in checkpoint mode (the
//! real server's behaviour: a handle resumes the conversation as it was when the handle
//! was issued; a response for a call the restored session never issued is ignored).
//!
//! What counts is the emulator's record, not the client's counters: every call's result
//! reaches the model exactly once in the conversation the session ends with, as a
//! `functionResponse` where the server knows the id and as conversation where it does
//! not, and nothing is ever sent for an id the current server session does not know.

use std::time::Duration;

use adk_live::prelude::*;
use genai_wire::emulator::{Emulator, EmulatorHandle, SessionHandle};
use serde_json::json;

use crate::support::*;

/// Connects with the gated background `search` (`edit` adds to the builder) and waits
/// for the emulator's session: the session, the tool's gates, the emulator's session.
async fn gated_session(
    emu: &EmulatorHandle,
    edit: impl FnOnce(LiveBuilder) -> LiveBuilder,
) -> (LiveHandle, Gates, SessionHandle) {
    let gates = Gates::new();
    let builder = edit(Live::builder().tool(gates.tool()).tool_background("search"));
    let session = connect(emu, Backend::DeveloperApi, builder).await;
    let es = emu.wait_for_session(WAIT).await.unwrap();
    (session, gates, es)
}

/// The emulator session, other than `old`, that received a result as conversation (a
/// refused resume attempt makes a session of its own, closed with 1008).
async fn fresh_session_with_a_result(emu: &EmulatorHandle, old: &SessionHandle) -> SessionHandle {
    let mut fresh = None;
    until("the result as conversation on a fresh session", || {
        fresh = emu
            .sessions()
            .into_iter()
            .find(|s| s.id() != old.id() && !s.conversation_results().is_empty());
        fresh.is_some()
    })
    .await;
    fresh.unwrap()
}

/// Waits for the session's first resumable handle (the checkpoint before any call).
async fn first_handle(session: &LiveHandle) {
    events_until(session, |e| {
        matches!(
            e,
            LiveEvent::Resumption {
                resumable: true,
                ..
            }
        )
    })
    .await;
}

async fn checkpoint_emulator(handle_lag: Duration) -> EmulatorHandle {
    Emulator::builder()
        .scenario(scenario("e2e/single_call.json"))
        .handle_lag(handle_lag)
        .strict_tool_responses(true)
        .bind("127.0.0.1:0")
        .await
        .unwrap()
}

/// Where in the call's life the connection changes.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Point {
    BeforeAck,
    AckToProgress,
    ProgressToResult,
    ResultToFreshHandle,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Disruption {
    GoAway,
    Drop,
}

async fn one_point(point: Point, disruption: Disruption) {
    let lag = if point == Point::ResultToFreshHandle {
        Duration::from_secs(60)
    } else {
        Duration::from_millis(20)
    };
    let emu = checkpoint_emulator(lag).await;
    let (session, gates, es) = gated_session(&emu, |b| b).await;
    first_handle(&session).await;
    session.send_text("search it").await.unwrap();
    let call = es.wait_for_function_call(1, WAIT).await.unwrap();
    match point {
        Point::BeforeAck => {}
        Point::AckToProgress => {
            es.wait_for_accepted_response(1, WAIT).await.unwrap();
        }
        Point::ProgressToResult => {
            gates.progress.add_permits(1);
            es.wait_for_accepted_response(2, WAIT).await.unwrap();
        }
        Point::ResultToFreshHandle => {
            gates.open_all();
            until("the result on the first connection", || {
                deliveries(&es, &call.id).iter().any(|(conn, _)| *conn == 0)
            })
            .await;
        }
    }
    match disruption {
        // Too little time left for a clean checkpoint: the switch happens at the deadline.
        Disruption::GoAway => assert!(es.go_away(Duration::from_millis(500))),
        Disruption::Drop => assert!(es.drop_connection()),
    }
    events_until(&session, |e| matches!(e, LiveEvent::Reconnected { .. })).await;
    gates.open_all();
    let label = format!("{point:?} / {disruption:?}");
    until(&format!("{label}: a delivery after the switch"), || {
        deliveries(&es, &call.id).iter().any(|(conn, _)| *conn >= 1)
    })
    .await;
    // Settle: the model voices what it got, the client has nothing left to send.
    events_until(&session, |e| matches!(e, LiveEvent::TurnComplete)).await;

    let got = deliveries(&es, &call.id);
    let after: Vec<_> = got.iter().filter(|(conn, _)| *conn >= 1).collect();
    assert_eq!(
        after.len(),
        1,
        "{label}: exactly once after the switch: {got:?}"
    );
    // The checkpoint resumed predates the call, so the new session does not know it: the
    // result reaches it as conversation.
    assert!(after[0].1, "{label}: as conversation: {got:?}");
    let before = got.len() - after.len();
    let expected_before = usize::from(point == Point::ResultToFreshHandle);
    assert_eq!(before, expected_before, "{label}: {got:?}");
    assert!(
        es.ignored_function_responses().is_empty(),
        "{label}: sent for an unknown id: {:?}",
        es.ignored_function_responses()
    );
    assert!(es.violations().is_empty(), "{label}: {:?}", es.violations());
    assert!(es.connections()[1].resumed, "{label}");
    assert_eq!(session.metrics().results_as_conversation, 1, "{label}");
    tokio::time::timeout(WAIT, session.disconnect())
        .await
        .unwrap();
}

#[tokio::test]
async fn goaway_at_each_point_of_a_background_call() {
    for point in [
        Point::BeforeAck,
        Point::AckToProgress,
        Point::ProgressToResult,
        Point::ResultToFreshHandle,
    ] {
        one_point(point, Disruption::GoAway).await;
    }
}

#[tokio::test]
async fn dropped_connection_at_each_point_of_a_background_call() {
    for point in [
        Point::BeforeAck,
        Point::AckToProgress,
        Point::ProgressToResult,
        Point::ResultToFreshHandle,
    ] {
        one_point(point, Disruption::Drop).await;
    }
}

#[tokio::test]
async fn with_time_left_the_switch_waits_for_a_clean_checkpoint() {
    let emu = checkpoint_emulator(Duration::from_millis(20)).await;
    let session = connect(&emu, Backend::DeveloperApi, background_search(200, 2)).await;
    let es = emu.wait_for_session(WAIT).await.unwrap();
    assert_eq!(
        es.received_client_messages()[0]["setup"]["sessionResumption"],
        json!({}),
        "resumption on by default"
    );
    session.send_text("search it").await.unwrap();
    let call = es.wait_for_function_call(1, WAIT).await.unwrap();
    events_until(&session, |e| matches!(e, LiveEvent::ToolAcked { .. })).await;
    assert!(es.go_away(Duration::from_secs(20)));
    events_until(&session, |e| {
        matches!(e, LiveEvent::Reconnected { resumed: true })
    })
    .await;
    // The result went on the old connection as a functionResponse, and the client moved
    // only once a handle newer than the call (and the turn that voiced it) arrived.
    assert_eq!(deliveries(&es, &call.id), vec![(0, false)]);
    let connections = es.connections();
    assert_eq!(connections.len(), 2);
    assert!(connections[1].resumed);
    assert!(es.ignored_function_responses().is_empty());
    assert!(es.violations().is_empty(), "{:?}", es.violations());
    assert_eq!(session.metrics().results_as_conversation, 0);
    session.disconnect().await;
}

#[tokio::test]
async fn a_tool_longer_than_two_goaways_is_voiced_after_both_switches() {
    let emu = checkpoint_emulator(Duration::from_millis(20)).await;
    let (session, gates, es) = gated_session(&emu, |b| b).await;
    session.send_text("search it").await.unwrap();
    let call = es.wait_for_function_call(1, WAIT).await.unwrap();
    gates.progress.add_permits(1);
    for switch in 1..=2u32 {
        until("connected", || es.is_connected()).await;
        assert!(es.go_away(Duration::from_millis(500)));
        events_until(&session, |e| matches!(e, LiveEvent::Reconnected { .. })).await;
        until("the new connection", || {
            es.connections().len() as u32 > switch
        })
        .await;
    }
    gates.result.add_permits(1);
    let events = events_until(&session, |e| {
        matches!(e, LiveEvent::ToolResultAsConversation { .. })
    })
    .await;
    assert!(
        events
            .iter()
            .all(|e| !matches!(e, LiveEvent::ToolCancelled { .. }))
    );
    // Voiced: the model speaks after the result reached it.
    events_until(&session, |e| {
        matches!(e, LiveEvent::OutputTranscript { .. })
    })
    .await;
    assert_eq!(deliveries(&es, &call.id), vec![(2, true)]);
    assert!(es.ignored_function_responses().is_empty());
    assert!(es.violations().is_empty(), "{:?}", es.violations());
    session.disconnect().await;
}

#[tokio::test]
async fn a_refused_handle_mid_call_seeds_the_fresh_session_then_delivers_the_result() {
    let emu = checkpoint_emulator(Duration::from_millis(20)).await;
    // 2.5: the seed is `clientContent` context (`turnComplete: false`).
    let (session, gates, old) =
        gated_session(&emu, |b| b.model("gemini-live-2.5-flash-preview")).await;
    session.send_text("search it").await.unwrap();
    let call = old.wait_for_function_call(1, WAIT).await.unwrap();
    events_until(&session, |e| matches!(e, LiveEvent::TurnComplete)).await;
    old.expire_handles();
    assert!(old.drop_connection());
    events_until(&session, |e| {
        matches!(e, LiveEvent::Reconnected { resumed: false })
    })
    .await;
    assert_eq!(session.tools().len(), 1, "the call keeps running");
    gates.open_all();
    events_until(&session, |e| {
        matches!(e, LiveEvent::ToolResultAsConversation { .. })
    })
    .await;

    let fresh = fresh_session_with_a_result(&emu, &old).await;
    // First the seed (the user's words and the call) as context, no reply asked for;
    // then the result as conversation.
    let received = fresh.received_client_messages();
    assert!(
        received[0]["setup"]["historyConfig"].is_null(),
        "{received:#?}"
    );
    let seed = &received[1]["clientContent"];
    assert_eq!(seed["turnComplete"], json!(false), "{received:#?}");
    let seed_text = seed.to_string();
    assert!(seed_text.contains("search it"), "{seed_text}");
    assert!(seed_text.contains("called `search`"), "{seed_text}");
    let results = fresh.conversation_results();
    assert_eq!(results.len(), 1);
    assert_eq!(results[0].id, call.id);
    assert!(fresh.accepted_function_responses().is_empty());
    assert!(
        fresh.ignored_function_responses().is_empty(),
        "{:?} {:#?}",
        fresh.ignored_function_responses(),
        fresh.received_client_messages()
    );
    session.disconnect().await;
}

/// A result that reached the model as conversation is lost by every switch to a
/// checkpoint older than its turn, so it is said again after each one, not only the first.
/// (Found by the fault soak: the second rollback lost it without a report.)
#[tokio::test]
async fn a_result_said_as_conversation_survives_repeated_rollbacks() {
    // No fresh handle after the first: every switch resumes the checkpoint from before
    // the call.
    let emu = checkpoint_emulator(Duration::from_secs(600)).await;
    let (session, gates, es) = gated_session(&emu, |b| b).await;
    first_handle(&session).await;
    session.send_text("search it").await.unwrap();
    let call = es.wait_for_function_call(1, WAIT).await.unwrap();
    assert!(es.drop_connection());
    events_until(&session, |e| matches!(e, LiveEvent::Reconnected { .. })).await;
    gates.open_all();
    for conn in 1..=3u32 {
        until(&format!("the result on connection {conn}"), || {
            deliveries(&es, &call.id).iter().any(|(c, _)| *c == conn)
        })
        .await;
        if conn < 3 {
            assert!(es.drop_connection());
            events_until(&session, |e| matches!(e, LiveEvent::Reconnected { .. })).await;
        }
    }
    assert_eq!(
        deliveries(&es, &call.id),
        vec![(1, true), (2, true), (3, true)],
        "once per connection, each a rollback past the last"
    );
    assert!(es.ignored_function_responses().is_empty());
    assert!(es.violations().is_empty(), "{:?}", es.violations());
    tokio::time::timeout(WAIT, session.disconnect())
        .await
        .unwrap();
}

/// Closing the session is the last chance to say what the model may never have had: a
/// result written into a socket the server no longer reads is reported undelivered, and
/// one the server read (it answered the close) is not.
#[tokio::test]
async fn disconnect_reports_results_the_server_never_read() {
    // With resumption off too: there the answer is followed only until the server has
    // read it.
    for (server_reads, resumption) in [(true, true), (false, true), (false, false)] {
        let emu = checkpoint_emulator(Duration::from_secs(600)).await;
        let (session, gates, es) =
            gated_session(&emu, |b| b.configure(move |c| c.resumption = resumption)).await;
        session.send_text("search it").await.unwrap();
        let call = es.wait_for_function_call(1, WAIT).await.unwrap();
        es.wait_for_accepted_response(1, WAIT).await.unwrap();
        if !server_reads {
            assert!(es.stop_reading());
        }
        gates.open_all();
        until("the result written", || {
            session.metrics().results_written == 1
        })
        .await;
        if server_reads {
            until("the result read", || !deliveries(&es, &call.id).is_empty()).await;
        }
        tokio::time::timeout(WAIT, session.disconnect())
            .await
            .unwrap();
        let (mut undelivered, mut unconfirmed) = (Vec::new(), Vec::new());
        while let Some(e) = session.try_next_event() {
            match e {
                LiveEvent::ToolResultUndelivered { call_id, .. } => undelivered.push(call_id),
                LiveEvent::ToolResultUnconfirmed { call_id, .. } => unconfirmed.push(call_id),
                _ => {}
            }
        }
        assert!(
            undelivered.is_empty(),
            "written, yet reported undelivered: {undelivered:?}"
        );
        if server_reads {
            assert!(
                unconfirmed.is_empty(),
                "read, yet reported: {unconfirmed:?}"
            );
        } else {
            assert!(deliveries(&es, &call.id).is_empty());
            assert_eq!(unconfirmed, vec![call.id.clone()], "written, never read");
        }
    }
}

/// A result answered just before the handle was refused (no checkpoint covers it) goes
/// to the fresh session once, as conversation, not also in the history seed.
#[tokio::test]
async fn a_fresh_session_hears_an_unsettled_result_once() {
    let emu = checkpoint_emulator(Duration::from_secs(600)).await;
    let (session, gates, old) =
        gated_session(&emu, |b| b.model("gemini-live-2.5-flash-preview")).await;
    session.send_text("search it").await.unwrap();
    let call = old.wait_for_function_call(1, WAIT).await.unwrap();
    gates.open_all();
    until("the result on the wire", || {
        deliveries(&old, &call.id) == vec![(0, false)]
    })
    .await;
    old.expire_handles();
    assert!(old.drop_connection());
    events_until(&session, |e| {
        matches!(e, LiveEvent::Reconnected { resumed: false })
    })
    .await;
    let fresh = fresh_session_with_a_result(&emu, &old).await;
    let received = fresh.received_client_messages();
    let seed = received[1]["clientContent"].to_string();
    assert!(seed.contains("search it"), "{seed}");
    assert!(
        !seed.contains(&format!("(id {})", call.id)),
        "the result is said as conversation, not also seeded: {seed}"
    );
    let results = fresh.conversation_results();
    assert_eq!(results.len(), 1);
    assert_eq!(results[0].id, call.id);
    session.disconnect().await;
}
