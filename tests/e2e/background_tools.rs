//! Background tools over a real websocket: ack at once, progress on the same id, the
//! final result with its scheduling; standard tools answered plainly; the Vertex rules.

use std::time::Duration;

use adk_live::prelude::*;
use serde_json::json;

use crate::support::*;

#[tokio::test]
async fn ack_leaves_before_the_standard_tool_finishes_then_progress_then_result() {
    let emu = emulator("e2e/mixed_call.json", Backend::DeveloperApi).await;
    let drops = Drops::default();
    let builder = Live::builder()
        .tool(search(Duration::from_millis(100), 3, false, drops.clone()))
        .tool_background("search")
        .tool(lookup(Duration::from_millis(500)));
    let session = connect(&emu, Backend::DeveloperApi, builder).await;
    session.send_text("find flights").await.unwrap();

    let events = tools_completed(&session, 2).await;
    assert!(
        events
            .iter()
            .any(|e| matches!(e, LiveEvent::ToolAcked { name, .. } if name == "search"))
    );
    assert_eq!(
        events
            .iter()
            .filter(|e| matches!(e, LiveEvent::ToolProgress { .. }))
            .count(),
        3
    );

    let es = emu.wait_for_session(WAIT).await.unwrap();
    es.wait_for(WAIT, |f| {
        responses_in(f)
            .iter()
            .any(|(_, r)| r["willContinue"] == false)
    })
    .await
    .unwrap();
    es.wait_for(WAIT, |f| {
        responses_in(f)
            .iter()
            .any(|(_, r)| r["response"].get("output").is_some())
    })
    .await
    .unwrap();
    let calls = function_calls(&es);
    let search_id = &calls.iter().find(|(_, n)| n == "search").unwrap().0;
    let lookup_id = &calls.iter().find(|(_, n)| n == "lookup").unwrap().0;
    let responses = function_responses(&es);
    let for_search: Vec<_> = responses
        .iter()
        .filter(|(_, r)| &r["id"] == search_id)
        .collect();
    let (lookup_at, lookup) = responses
        .iter()
        .find(|(_, r)| &r["id"] == lookup_id)
        .unwrap();

    // The ack: at once, running, willContinue, SILENT.
    let (ack_at, ack) = for_search[0];
    assert_eq!(
        ack["response"],
        json!({"status": "running", "tool": "search"})
    );
    assert_eq!(ack["willContinue"], true);
    assert_eq!(ack["scheduling"], "SILENT");
    assert!(
        *lookup_at >= *ack_at + Duration::from_millis(400),
        "ack {ack_at:?} must precede the standard result {lookup_at:?}"
    );

    // Progress on the same id, then the final result.
    let progress: Vec<_> = for_search[1..for_search.len() - 1]
        .iter()
        .map(|(_, r)| r)
        .collect();
    assert_eq!(progress.len(), 3);
    for (i, p) in progress.iter().enumerate() {
        assert_eq!(p["willContinue"], true);
        assert_eq!(p["scheduling"], "SILENT");
        assert_eq!(
            p["response"],
            json!({"status": "running", "tool": "search", "progress": {"stage": i}})
        );
    }
    let (_, last) = for_search.last().unwrap();
    assert_eq!(last["willContinue"], false);
    assert_eq!(last["scheduling"], "WHEN_IDLE");
    assert_eq!(
        last["response"],
        json!({"status": "completed", "tool": "search", "result": {"hits": ["flights"]}})
    );

    // The standard tool: one plain response.
    assert_eq!(lookup["response"], json!({"output": {"value": "v-k1"}}));
    assert!(lookup.get("willContinue").is_none() && lookup.get("scheduling").is_none());

    assert!(es.violations().is_empty(), "{:?}", es.violations());
    let m = session.metrics();
    assert_eq!((m.tool_acks, m.tool_progress, m.tool_results), (1, 3, 2));
    session.disconnect().await;
    assert_eq!(drops.count(), 1);
}

#[tokio::test]
async fn vertex_background_tool_gets_exactly_one_final_response() {
    let emu = emulator("e2e/mixed_call.json", Backend::VertexAi).await;
    let builder = background_search(50, 2)
        .tool(lookup(Duration::from_millis(10)))
        .base_url(emu.base_url());
    let session = builder
        .connect_vertex("my-project", "us-central1", "vertex-token")
        .await
        .expect("vertex session");
    assert!(
        session.session_id().is_some(),
        "Vertex setupComplete carries a session id"
    );
    session.send_text("find flights").await.unwrap();
    let events = events_until(
        &session,
        |e| matches!(e, LiveEvent::ToolCompleted { name, .. } if name == "search"),
    )
    .await;
    assert!(
        !events
            .iter()
            .any(|e| matches!(e, LiveEvent::ToolAcked { .. })),
        "no ack on Vertex"
    );
    assert_eq!(
        events
            .iter()
            .filter(|e| matches!(e, LiveEvent::ToolProgress { .. }))
            .count(),
        2,
        "progress still reaches the app"
    );

    let es = emu.wait_for_session(WAIT).await.unwrap();
    let search_id = function_calls(&es)
        .into_iter()
        .find(|(_, n)| n == "search")
        .unwrap()
        .0;
    es.wait_for(WAIT, |f| {
        responses_in(f)
            .iter()
            .any(|(_, r)| r["id"] == search_id.as_str())
    })
    .await
    .unwrap();
    // A second response for the call, had one gone out, is recorded by now.
    barrier(&session, &es).await;
    let for_search: Vec<_> = function_responses(&es)
        .into_iter()
        .filter(|(_, r)| r["id"] == search_id.as_str())
        .collect();
    assert_eq!(for_search.len(), 1, "{for_search:?}");
    let r = &for_search[0].1;
    assert!(r.get("willContinue").is_none());
    assert_eq!(r["scheduling"], "WHEN_IDLE");
    assert_eq!(r["response"]["status"], "completed");
    let setup = &es.received_client_messages()[0]["setup"];
    assert!(
        setup["model"]
            .as_str()
            .unwrap()
            .starts_with("projects/my-project/locations/us-central1/publishers/google/models/")
    );
    assert_eq!(
        setup["tools"][0]["functionDeclarations"][0]["behavior"],
        "NON_BLOCKING"
    );
    assert!(es.violations().is_empty(), "{:?}", es.violations());
    assert!(es.is_connected(), "no 1007 close");
    session.disconnect().await;
}

#[tokio::test]
async fn custom_formatter_and_scheduling_are_used() {
    struct Terse;
    impl ResultFormatter for Terse {
        fn format_running(&self, tool: &str, _args: &serde_json::Value) -> serde_json::Value {
            json!({"msg": format!("{tool} started")})
        }
        fn format_result(
            &self,
            tool: &str,
            result: Result<&serde_json::Value, &str>,
        ) -> serde_json::Value {
            json!({"msg": format!("{tool} done"), "ok": result.is_ok()})
        }
        fn format_cancelled(
            &self,
            tool: &str,
            call_id: &str,
            _reason: CancelReason,
        ) -> serde_json::Value {
            json!({"msg": format!("{tool} {call_id} cancelled")})
        }
    }
    let emu = emulator("e2e/single_call.json", Backend::DeveloperApi).await;
    let builder = Live::builder().tool_with(
        search(Duration::from_millis(10), 1, false, Drops::default()),
        ToolOptions::new()
            .with_formatter(std::sync::Arc::new(Terse))
            .with_scheduling(FunctionResponseScheduling::Interrupt),
    );
    let session = connect(&emu, Backend::DeveloperApi, builder).await;
    session.send_text("search please").await.unwrap();
    events_until(&session, |e| matches!(e, LiveEvent::ToolCompleted { .. })).await;
    let es = emu.wait_for_session(WAIT).await.unwrap();
    es.wait_for(WAIT, |f| {
        responses_in(f)
            .iter()
            .any(|(_, r)| r["willContinue"] == false)
    })
    .await
    .unwrap();
    let rs: Vec<_> = function_responses(&es)
        .into_iter()
        .map(|(_, r)| r)
        .collect();
    assert_eq!(
        rs.first().unwrap()["response"],
        json!({"msg": "search started"})
    );
    let last = rs.last().unwrap();
    assert_eq!(last["response"], json!({"msg": "search done", "ok": true}));
    assert_eq!(last["scheduling"], "INTERRUPT");
    session.disconnect().await;
}

/// A tool chooses its result's scheduling per call: INTERRUPT when it failed, the
/// tool's own (WHEN_IDLE) otherwise.
#[tokio::test]
async fn a_tool_schedules_each_result_itself() {
    let emu = emulator("e2e/single_call.json", Backend::DeveloperApi).await;
    let book = tool_fn(
        "search",
        "Books",
        |args: serde_json::Value, ctx: ToolContext| async move {
            if args["query"] == "x" {
                ctx.schedule_result(FunctionResponseScheduling::Interrupt);
                return Err(ToolError::new("no table free"));
            }
            Ok(json!({"table": 12}))
        },
    );
    let session = connect(
        &emu,
        Backend::DeveloperApi,
        Live::builder().tool(book).tool_background("search"),
    )
    .await;
    session.send_text("search please").await.unwrap();
    let es = emu.wait_for_session(WAIT).await.unwrap();
    let last = es.wait_for_accepted_response(2, WAIT).await.unwrap();
    assert!(!last.will_continue);
    assert_eq!(
        last.scheduling,
        Some(genai_wire::emulator::Scheduling::Interrupt)
    );
    session.disconnect().await;
}
