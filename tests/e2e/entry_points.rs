//! The L2 entry points against the emulator, each on its own path and credential.

use adk_live::prelude::*;
use genai_wire::emulator::Emulator;

use crate::support::*;

#[tokio::test]
async fn connect_google_ai_sends_the_key_in_a_header_on_the_developer_path() {
    let emu = Emulator::builder()
        .api_key("AIza-test")
        .scenario(scenario("chat.json"))
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    let session = Live::builder()
        .base_url(emu.base_url())
        .connect_google_ai("AIza-test")
        .await
        .unwrap();
    session.send_text("hi").await.unwrap();
    events_until(&session, |e| matches!(e, LiveEvent::TurnComplete)).await;
    let es = emu.wait_for_session(WAIT).await.unwrap();
    assert_eq!(
        es.connections()[0].path,
        "/ws/google.ai.generativelanguage.v1beta.GenerativeService.BidiGenerateContent"
    );
    assert_eq!(
        es.received_client_messages()[0]["setup"]["model"],
        "models/gemini-3.8-live"
    );
    assert_eq!(
        es.received_client_messages()[0]["setup"]["contextWindowCompression"],
        serde_json::json!({"slidingWindow": {}}),
        "compression on by default"
    );
    assert!(!format!("{session:?}").contains("AIza-test"));
    session.disconnect().await;
}

#[tokio::test]
async fn connect_ephemeral_uses_the_constrained_method() {
    let emu = Emulator::builder()
        .access_token("auth_tokens/abc")
        .scenario(scenario("chat.json"))
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    // The `auth_tokens/` prefix is added when missing.
    let session = Live::builder()
        .base_url(emu.base_url())
        .connect_ephemeral("abc")
        .await
        .unwrap();
    session.send_text("hi").await.unwrap();
    events_until(&session, |e| matches!(e, LiveEvent::TurnComplete)).await;
    let es = emu.wait_for_session(WAIT).await.unwrap();
    assert_eq!(
        es.connections()[0].path,
        "/ws/google.ai.generativelanguage.v1alpha.GenerativeService.BidiGenerateContentConstrained"
    );
    session.disconnect().await;
}

#[tokio::test]
async fn l1_builder_with_a_dispatcher_and_modes() {
    let emu = emulator("e2e/mixed_call.json", Backend::DeveloperApi).await;
    let config = SessionConfig::new(
        Setup {
            model: "gemini-live-2.5-flash-preview".into(),
            ..Default::default()
        },
        Endpoint::custom(&emu.ws_url(), Backend::DeveloperApi).unwrap(),
        Credentials::None,
    );
    let dispatcher = ToolDispatcher::new()
        .with_options(
            search(
                std::time::Duration::from_millis(20),
                1,
                false,
                Drops::default(),
            ),
            ToolOptions::background(),
        )
        .with(lookup(std::time::Duration::from_millis(5)));
    let session = LiveSessionBuilder::new(config)
        .dispatcher(dispatcher)
        .connect()
        .await
        .unwrap();
    session.send_text("go").await.unwrap();
    let events = events_until(
        &session,
        |e| matches!(e, LiveEvent::ToolCompleted { name, .. } if name == "search"),
    )
    .await;
    assert!(
        events
            .iter()
            .any(|e| matches!(e, LiveEvent::ToolAcked { .. }))
    );
    session.disconnect().await;

    // A misspelt name fails at connect, before the wire, naming the registered tools.
    let bad = Live::builder()
        .tool(lookup(std::time::Duration::from_millis(5)))
        .tool_background("serach")
        .connect_endpoint(emu.ws_url(), Credentials::None)
        .await;
    match bad {
        Err(Error::Config(why)) => {
            assert!(
                why.contains("`serach`") && why.contains("`lookup`"),
                "{why}"
            );
        }
        other => panic!("expected a config error, got {other:?}"),
    }
    let mut dispatcher = ToolDispatcher::new().with(lookup(std::time::Duration::from_millis(5)));
    assert!(matches!(
        dispatcher.configure("serach", ToolOptions::background()),
        Err(Error::Config(_))
    ));
}

/// Testing your own agent, as the README shows it: a scenario written in Rust, the agent
/// against the emulator, then what the model received.
#[tokio::test]
async fn an_agent_tested_with_a_rust_scenario() {
    use genai_wire::emulator::{Emulator, Scenario};

    let scenario = Scenario::builder()
        .wait_user_turn()
        .say("Let me book that.")
        .call("book_table", serde_json::json!({"people": 4}))
        .end_turn()
        .tool_result_for("book_table", "Booked: {response}.")
        .build()
        .unwrap();
    let emulator = Emulator::builder()
        .scenario(scenario)
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    let session = Live::builder()
        .text_responses()
        .tool(tool_fn(
            "book_table",
            "Books a table",
            |args: serde_json::Value, _ctx: ToolContext| async move {
                Ok::<_, ToolError>(serde_json::json!({"table": 12, "people": args["people"]}))
            },
        ))
        .tool_background("book_table")
        .connect_endpoint(emulator.ws_url(), Credentials::None)
        .await
        .unwrap();
    session.send_text("a table for four").await.unwrap();
    let events = events_until(
        &session,
        |e| matches!(e, LiveEvent::Text(t) if t.contains("Booked")),
    )
    .await;
    assert!(
        events
            .iter()
            .any(|e| matches!(e, LiveEvent::ToolAcked { .. }))
    );
    let received = emulator
        .wait_for_session(WAIT)
        .await
        .unwrap()
        .accepted_function_responses();
    assert!(
        received
            .iter()
            .any(|r| r.name == "book_table" && !r.will_continue)
    );
    session.disconnect().await;
}
