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
