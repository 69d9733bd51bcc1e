//! Tools that panic, fail or time out answer the model with an error and the session
//! lives on; unknown tools and duplicate calls follow their policy.

use std::time::Duration;

use adk_live::prelude::*;
use serde_json::json;

use crate::support::*;

fn failing_tools(builder: LiveBuilder) -> LiveBuilder {
    builder
        .tool(tool_fn(
            "panics",
            "Panics",
            |_: serde_json::Value, _ctx: ToolContext| async move {
                if true {
                    panic!("boom");
                }
                Ok::<_, ToolError>(json!({}))
            },
        ))
        .tool_background("panics")
        .tool(tool_fn(
            "fails",
            "Fails",
            |_: serde_json::Value, _ctx: ToolContext| async move {
                Err::<serde_json::Value, _>(ToolError::new("backend unavailable"))
            },
        ))
        .tool_with(
            tool_fn(
                "hangs",
                "Hangs",
                |_: serde_json::Value, _ctx: ToolContext| async move {
                    std::future::pending::<()>().await;
                    Ok::<_, ToolError>(json!({}))
                },
            ),
            ToolOptions::new().with_timeout(Duration::from_millis(200)),
        )
}

#[tokio::test]
async fn panic_error_and_timeout_answer_with_errors_and_the_session_lives_on() {
    let emu = emulator("e2e/single_call.json", Backend::DeveloperApi).await;
    let session = connect(&emu, Backend::DeveloperApi, failing_tools(Live::builder())).await;
    let es_wait = emu.wait_for_session(WAIT);

    session.send_text("panics").await.unwrap();
    let e = events_until(&session, |e| matches!(e, LiveEvent::ToolFailed { .. })).await;
    assert!(
        matches!(e.last(), Some(LiveEvent::ToolFailed { name, error, .. }) if name == "panics" && error.contains("boom"))
    );
    events_until(&session, |e| matches!(e, LiveEvent::TurnComplete)).await;

    session.send_text("fails").await.unwrap();
    let e = events_until(&session, |e| matches!(e, LiveEvent::ToolFailed { .. })).await;
    assert!(
        matches!(e.last(), Some(LiveEvent::ToolFailed { error, .. }) if error == "backend unavailable")
    );
    events_until(&session, |e| matches!(e, LiveEvent::TurnComplete)).await;

    session.send_text("hangs").await.unwrap();
    let e = events_until(&session, |e| matches!(e, LiveEvent::ToolFailed { .. })).await;
    assert!(
        matches!(e.last(), Some(LiveEvent::ToolFailed { error, .. }) if error.contains("timed out"))
    );

    let es = es_wait.await.unwrap();
    es.wait_for(WAIT, |f| responses_in(f).len() >= 4)
        .await
        .unwrap();
    let rs: Vec<_> = function_responses(&es)
        .into_iter()
        .map(|(_, r)| r)
        .collect();
    // Background `panics`: ack, then an error with the formatter's shape.
    assert_eq!(rs[0]["response"]["status"], "running");
    assert_eq!(
        rs[1]["response"],
        json!({"status": "error", "tool": "panics", "error": "tool panicked: boom"})
    );
    assert_eq!(rs[1]["willContinue"], false);
    // Standard tools: {"error": ...}.
    assert_eq!(rs[2]["response"], json!({"error": "backend unavailable"}));
    assert_eq!(rs[3]["response"], json!({"error": "timed out after 200ms"}));
    assert!(es.violations().is_empty(), "{:?}", es.violations());
    assert!(es.is_connected());
    assert_eq!(session.tools().len(), 0);
    session.disconnect().await;
}

#[tokio::test]
async fn duplicate_calls_follow_the_policy() {
    for (policy, expect_started, expect_error, expect_replaced) in [
        (DuplicatePolicy::Allow, 2, false, false),
        (DuplicatePolicy::Reject, 1, true, false),
        (DuplicatePolicy::Replace, 2, false, true),
    ] {
        let emu = emulator("e2e/single_call.json", Backend::DeveloperApi).await;
        let builder = Live::builder().tool_with(
            search(Duration::from_millis(300), 1, false, Drops::default()),
            ToolOptions::background().with_duplicates(policy),
        );
        let session = connect(&emu, Backend::DeveloperApi, builder).await;
        session.send_text("dup").await.unwrap();
        let events = events_until(&session, |e| matches!(e, LiveEvent::ToolCompleted { .. })).await;
        let started = events
            .iter()
            .filter(|e| matches!(e, LiveEvent::ToolStarted { .. }))
            .count();
        let rejected = events.iter().any(
            |e| matches!(e, LiveEvent::ToolFailed { error, .. } if error.contains("duplicate")),
        );
        let replaced = events.iter().any(|e| {
            matches!(
                e,
                LiveEvent::ToolCancelled {
                    reason: CancelReason::Replaced,
                    ..
                }
            )
        });
        assert_eq!(
            (started, rejected, replaced),
            (expect_started, expect_error, expect_replaced),
            "{policy:?}: {events:#?}"
        );
        let es = emu.wait_for_session(WAIT).await.unwrap();
        // Every call id gets closed exactly once on the wire.
        let ids: Vec<String> = function_calls(&es).into_iter().map(|(id, _)| id).collect();
        es.wait_for(WAIT, |f| {
            let rs = responses_in(f);
            ids.iter().all(|id| {
                rs.iter()
                    .any(|(_, r)| r["id"] == id.as_str() && r["willContinue"] == false)
            })
        })
        .await
        .unwrap_or_else(|_| {
            panic!(
                "{policy:?}: every call closed: {:?}",
                function_responses(&es)
            )
        });
        for id in &ids {
            let finals = function_responses(&es)
                .iter()
                .filter(|(_, r)| r["id"] == id.as_str() && r["willContinue"] == false)
                .count();
            assert_eq!(finals, 1, "{policy:?} {id}");
        }
        assert!(
            es.violations().is_empty(),
            "{policy:?}: {:?}",
            es.violations()
        );
        session.disconnect().await;
    }
}

#[tokio::test]
async fn an_unknown_tool_is_answered_with_an_error() {
    let emu = emulator("e2e/single_call.json", Backend::DeveloperApi).await;
    // Declares nothing; the scenario forces no call, so inject one.
    let session = connect(&emu, Backend::DeveloperApi, Live::builder()).await;
    let es = emu.wait_for_session(WAIT).await.unwrap();
    assert!(emu.control().inject(
        &es.id(),
        r#"{"toolCall":{"functionCalls":[{"id":"fc-9","name":"nope","args":{}}]}}"#
    ));
    let e = events_until(&session, |e| matches!(e, LiveEvent::ToolFailed { .. })).await;
    assert!(
        matches!(e.last(), Some(LiveEvent::ToolFailed { error, .. }) if error.contains("unknown tool"))
    );
    es.wait_for(WAIT, |f| !responses_in(f).is_empty())
        .await
        .unwrap();
    assert_eq!(
        function_responses(&es)[0].1["response"],
        json!({"error": "unknown tool `nope`"})
    );
    session.disconnect().await;
}

#[tokio::test]
async fn malformed_server_frames_are_reported_and_the_session_lives_on() {
    let emu = emulator("chat.json", Backend::DeveloperApi).await;
    let session = connect(&emu, Backend::DeveloperApi, Live::builder()).await;
    let es = emu.wait_for_session(WAIT).await.unwrap();
    let garbage = [
        "{not json",
        r#"{"serverContent":{"modelTurn":{"parts":[{"inlineData":{"mimeType":"audio/pcm","data":"%%%"}}]}}}"#,
        r#"{"toolCall":{"functionCalls":"nope"}}"#,
        r#"{"sessionResumptionUpdate":{"resumable":{"no":1}}}"#,
        "[1,2,3]",
        "",
    ];
    for g in garbage {
        assert!(es.inject(g));
    }
    // Unknown kinds and unknown fields are not errors: ignored.
    assert!(es.inject(r#"{"brandNewMessage":{"x":1}}"#));
    assert!(es.inject_text(r#"{"serverContent":{"turnComplete":true,"futureField":7}}"#));
    let events = events_until(&session, |e| matches!(e, LiveEvent::TurnComplete)).await;
    let errors = events
        .iter()
        .filter(|e| matches!(e, LiveEvent::Error(_)))
        .count();
    assert_eq!(errors, garbage.len(), "{events:#?}");
    assert_eq!(session.metrics().decode_errors, garbage.len() as u64);

    // The conversation goes on.
    session.send_text("still there?").await.unwrap();
    events_until(&session, |e| matches!(e, LiveEvent::TurnComplete)).await;
    session.disconnect().await;
}

/// The server ends the session with a normal close after it accepted a result, and the
/// session does not reconnect: that result is not reported undelivered (it was written
/// and the emulator accepted it). It used to be (`ToolResultUndelivered`, issue 23's
/// newcomer report); it is now `ToolResultUnconfirmed` (written, no later checkpoint).
#[tokio::test]
async fn a_written_result_is_not_reported_undelivered() {
    let emu = emulator("e2e/single_call.json", Backend::DeveloperApi).await;
    let builder = Live::builder()
        .tool(tool_fn(
            "search",
            "Searches",
            |_: serde_json::Value, _ctx: ToolContext| async move {
                Ok::<_, ToolError>(json!({"hits": 3}))
            },
        ))
        .tool_background("search")
        .configure(|c| c.reconnect = ReconnectPolicy::never());
    let session = connect(&emu, Backend::DeveloperApi, builder).await;
    session.send_text("search please").await.unwrap();
    let es = emu.wait_for_session(WAIT).await.unwrap();
    let call = es.wait_for_function_call(1, WAIT).await.unwrap();
    // The ack and the final result, both accepted by the server.
    es.wait_for_accepted_response(2, WAIT).await.unwrap();
    assert!(es.close(1000, "bye"));
    let events = events_until(&session, |e| matches!(e, LiveEvent::Closed { .. })).await;
    assert!(
        !events
            .iter()
            .any(|e| matches!(e, LiveEvent::ToolResultUndelivered { .. })),
        "a written result reported undelivered: {events:#?}"
    );
    let unconfirmed: Vec<_> = events
        .iter()
        .filter_map(|e| match e {
            LiveEvent::ToolResultUnconfirmed { call_id, .. } => Some(call_id.clone()),
            _ => None,
        })
        .collect();
    assert!(
        unconfirmed.is_empty() || unconfirmed == vec![call.id.clone()],
        "{unconfirmed:?}"
    );
}

/// A background call whose arguments do not parse is answered with the error at once:
/// no "running" ack first (the model used to hear "running", then the error).
#[tokio::test]
async fn bad_arguments_are_refused_before_the_ack() {
    #[derive(serde::Deserialize, schemars::JsonSchema)]
    struct NeedsCity {
        /// The city.
        #[allow(dead_code)]
        city: String,
    }
    let emu = emulator("e2e/single_call.json", Backend::DeveloperApi).await;
    let builder = Live::builder()
        .tool(tool_fn(
            "search",
            "Searches",
            |_: NeedsCity, _ctx: ToolContext| async move { Ok::<_, ToolError>(json!({})) },
        ))
        .tool_background("search");
    let session = connect(&emu, Backend::DeveloperApi, builder).await;
    session.send_text("search please").await.unwrap();
    let events = events_until(&session, |e| matches!(e, LiveEvent::ToolFailed { .. })).await;
    assert!(
        !events
            .iter()
            .any(|e| matches!(e, LiveEvent::ToolAcked { .. })),
        "{events:#?}"
    );
    let es = emu.wait_for_session(WAIT).await.unwrap();
    let first = es.wait_for_accepted_response(1, WAIT).await.unwrap();
    assert!(
        !first.will_continue,
        "the first response is the final error"
    );
    let (_, response) = function_responses(&es).remove(0);
    assert!(
        response["response"]["error"]
            .as_str()
            .is_some_and(|e| e.contains("invalid arguments for search")),
        "{response}"
    );
}

/// A connect error says what was dialled, and never the key (the Developer API carries it
/// in the query string). It used to say only `Connection refused (os error 111)`.
#[tokio::test]
async fn a_connect_error_names_what_was_dialled_without_the_key() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let url = format!(
        "ws://127.0.0.1:{port}/ws/google.ai.generativelanguage.v1beta.GenerativeService.BidiGenerateContent"
    );
    let err = Live::builder()
        .connect_endpoint(&url, Credentials::api_key("secret-key-123"))
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains(&format!("127.0.0.1:{port}")), "{err}");
    assert!(!err.contains("secret-key-123"), "{err}");
}
