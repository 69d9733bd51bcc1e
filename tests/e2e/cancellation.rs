//! Cancellation: server `toolCallCancellation` after barge-in, the end of the session,
//! the drop of the handle — tokens fire, stubborn tasks are aborted after the grace
//! period, no response goes out for a cancelled id, and no task outlives the session.

use std::time::Duration;

use adk_live::prelude::*;

use crate::support::*;

/// 100 ms of loud 16 kHz PCM16 (a square wave): the emulator hears the user speak.
fn loud_chunk() -> Vec<u8> {
    (0..1600)
        .flat_map(|i: i32| (if (i / 20) % 2 == 0 { 4000i16 } else { -4000 }).to_le_bytes())
        .collect()
}

#[tokio::test]
async fn barge_in_cancels_the_running_call_and_its_late_result_is_dropped() {
    let emu = emulator("e2e/long_turn.json", Backend::DeveloperApi).await;
    let drops = Drops::default();
    // Ignores its token and finishes 600 ms in, well inside the 5 s grace period: its
    // result comes after the cancellation and must be dropped, not sent.
    let builder = Live::builder()
        .tool(search(Duration::from_millis(300), 2, true, drops.clone()))
        .tool_background("search")
        .configure(|c| c.cancel_grace = Duration::from_secs(5));
    let session = connect(&emu, Backend::DeveloperApi, builder).await;
    session.send_text("news please").await.unwrap();
    events_until(&session, |e| matches!(e, LiveEvent::Audio { .. })).await;

    // The user talks over the model.
    for _ in 0..3 {
        session.send_audio(&loud_chunk()).await.unwrap();
    }
    let events = events_until(&session, |e| matches!(e, LiveEvent::ToolCancelled { .. })).await;
    let (call_id, payload, reason) = events
        .iter()
        .find_map(|e| match e {
            LiveEvent::ToolCancelled {
                call_id,
                payload,
                reason,
                ..
            } => Some((call_id.clone(), payload.clone(), *reason)),
            _ => None,
        })
        .unwrap();
    assert_eq!(reason, CancelReason::Server);
    assert_eq!(
        payload,
        serde_json::json!({"status": "cancelled", "tool": "search", "call_id": call_id, "by": "server"})
    );
    events_until(&session, |e| matches!(e, LiveEvent::Interrupted)).await;

    // The stubborn tool finishes 600 ms in: its result is dropped and counted.
    until("the stubborn tool to finish", || {
        session.metrics().late_results_dropped > 0 && drops.count() > 0
    })
    .await;
    let m = session.metrics();
    assert_eq!(m.cancellations, 1);
    assert_eq!(m.late_results_dropped, 1);
    assert_eq!(session.tools().len(), 0);
    assert_eq!(drops.count(), 1);

    let es = emu.wait_for_session(WAIT).await.unwrap();
    // A response for the late result, had one gone out, is recorded by now.
    barrier(&session, &es).await;
    let frames = es.frames();
    let cancel_at = frames
        .iter()
        .find(|f| f.kind == "toolCallCancellation")
        .expect("server cancelled")
        .at;
    let interrupted_at = frames
        .iter()
        .find(|f| f.kind == "serverContent.interrupted")
        .expect("interrupted")
        .at;
    assert!(
        cancel_at <= interrupted_at,
        "toolCallCancellation comes first"
    );
    let late: Vec<_> = function_responses(&es)
        .into_iter()
        .filter(|(at, r)| r["id"] == call_id.as_str() && *at > cancel_at)
        .collect();
    assert!(late.is_empty(), "no response after cancellation: {late:?}");
    assert!(es.violations().is_empty(), "{:?}", es.violations());
    session.disconnect().await;
}

#[tokio::test]
async fn disconnect_cancels_everything_and_no_task_outlives_the_session() {
    let emu = emulator("e2e/single_call.json", Backend::DeveloperApi).await;
    let drops = Drops::default();
    // Stubborn: only the abort after the grace period stops it.
    let builder = Live::builder()
        .tool(search(Duration::from_secs(3600), 1, true, drops.clone()))
        .tool_background("search")
        .configure(|c| c.cancel_grace = Duration::from_millis(100));
    let session = connect(&emu, Backend::DeveloperApi, builder).await;
    session.send_text("search it").await.unwrap();
    events_until(&session, |e| matches!(e, LiveEvent::ToolAcked { .. })).await;
    assert_eq!(session.tools().len(), 1);

    session.disconnect().await;
    assert_eq!(session.tools().len(), 0);
    assert_eq!(session.tools().live_tasks(), 0, "every tool task ended");
    assert_eq!(drops.count(), 1, "the tool future was dropped (aborted)");
    let rest: Vec<_> = std::iter::from_fn(|| session.try_next_event()).collect();
    assert!(
        rest.iter().any(|e| matches!(
            e,
            LiveEvent::ToolCancelled {
                reason: CancelReason::SessionEnded,
                ..
            }
        )),
        "{rest:?}"
    );
    assert!(
        matches!(rest.last(), Some(LiveEvent::Closed { error: None, .. })),
        "{rest:?}"
    );

    let es = emu.wait_for_session(WAIT).await.unwrap();
    let close = es.wait_closed(0, WAIT).await.unwrap();
    assert_eq!(close.code, 1000);
}

#[tokio::test]
async fn dropping_the_handle_cancels_running_tools() {
    let emu = emulator("e2e/single_call.json", Backend::DeveloperApi).await;
    let drops = Drops::default();
    let builder = Live::builder()
        .tool(search(Duration::from_secs(3600), 1, false, drops.clone()))
        .tool_background("search");
    let session = connect(&emu, Backend::DeveloperApi, builder).await;
    session.send_text("search it").await.unwrap();
    events_until(&session, |e| matches!(e, LiveEvent::ToolAcked { .. })).await;
    let tracker = session.tools().clone();
    drop(session);
    tokio::time::timeout(WAIT, async {
        while tracker.live_tasks() > 0 || drops.count() == 0 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .expect("tool task ended after the handle was dropped");
    assert!(tracker.is_empty());
    let es = emu.wait_for_session(WAIT).await.unwrap();
    es.wait_closed(0, WAIT)
        .await
        .expect("socket closed after drop");
}

/// A tool that never finishes.
fn hangs() -> impl Tool {
    tool_fn(
        "hangs",
        "Never finishes",
        |_: serde_json::Value, _ctx: ToolContext| async move {
            std::future::pending::<()>().await;
            Ok::<_, ToolError>(serde_json::json!({}))
        },
    )
}

#[tokio::test]
async fn the_application_cancels_a_call_through_the_lane_and_the_model_is_answered() {
    let emu = emulator("e2e/single_call.json", Backend::DeveloperApi).await;
    let hangs = hangs();
    let session = connect(&emu, Backend::DeveloperApi, Live::builder().tool(hangs)).await;
    let es = emu.wait_for_session(WAIT).await.unwrap();
    session.send_text("hangs").await.unwrap();
    let started = events_until(&session, |e| matches!(e, LiveEvent::ToolStarted { .. })).await;
    let Some(LiveEvent::ToolStarted { call_id, .. }) = started.last() else {
        unreachable!()
    };
    assert!(session.cancel_tool(call_id));
    assert!(!session.cancel_tool(call_id), "only once");
    let events = events_until(&session, |e| matches!(e, LiveEvent::ToolCancelled { .. })).await;
    assert!(matches!(
        events.last(),
        Some(LiveEvent::ToolCancelled {
            reason: CancelReason::Application,
            ..
        })
    ));
    // The blocking call is closed on the model's side: an error response on its id.
    let accepted = es.wait_for_accepted_response(1, WAIT).await.unwrap();
    assert_eq!(&accepted.id, call_id);
    assert!(!accepted.will_continue);
    assert_eq!(session.tools().len(), 0);
    assert!(es.violations().is_empty(), "{:?}", es.violations());
    session.disconnect().await;
}

/// What the docs of `ToolCancelled` and `format_cancelled` say, checked on the wire: an
/// application cancel of a background call sends one final response, the formatter's
/// payload (with the tool's name) and the tool's cancel scheduling; the server's own
/// cancellation (barge-in) sends nothing for its id.
#[tokio::test]
async fn what_a_cancel_sends_is_what_the_docs_say() {
    let emu = emulator("e2e/single_call.json", Backend::DeveloperApi).await;
    let hangs = hangs();
    let builder = Live::builder().tool_with(
        hangs,
        ToolOptions::background().with_cancel_scheduling(FunctionResponseScheduling::WhenIdle),
    );
    let session = connect(&emu, Backend::DeveloperApi, builder).await;
    let es = emu.wait_for_session(WAIT).await.unwrap();
    session.send_text("hangs").await.unwrap();
    let acked = events_until(&session, |e| matches!(e, LiveEvent::ToolAcked { .. })).await;
    let Some(LiveEvent::ToolAcked { call_id, .. }) = acked.last() else {
        unreachable!()
    };
    assert!(session.cancel_tool(call_id));
    let events = events_until(&session, |e| matches!(e, LiveEvent::ToolCancelled { .. })).await;
    let Some(LiveEvent::ToolCancelled { payload, .. }) = events.last() else {
        unreachable!()
    };
    assert_eq!(payload["tool"], "hangs");
    assert_eq!(payload["by"], "application");
    let last = es.wait_for_accepted_response(2, WAIT).await.unwrap();
    assert_eq!(&last.id, call_id);
    assert!(!last.will_continue, "the final response");
    assert_eq!(
        last.scheduling,
        Some(genai_wire::emulator::Scheduling::WhenIdle),
        "the tool's cancel scheduling"
    );
    let sent = function_responses(&es);
    let (_, response) = sent.last().unwrap();
    assert_eq!(response["response"]["tool"], "hangs", "{response}");
    session.disconnect().await;
}
