//! The background-tool conversation (ack, progress, result, goAway mid-call) against every
//! model profile on both backends. The emulator plays the profile named by the model in
//! setup and refuses what that model refuses, so each run's wire is what the profile
//! accepts: the emulator's record has no violation and no ignored response, and the
//! result reaches the model exactly once, on the wire where the profile allows a
//! background call and as conversation where it does not.

use std::time::Duration;

use adk_live::prelude::*;
use genai_wire::emulator::Emulator;
use genai_wire::profile::ModelProfile;
use genai_wire::protocol::Behavior;

use crate::support::*;

const MODELS: [&str; 4] = [
    "gemini-live-2.5-flash-preview",
    "gemini-3.1-flash-live-preview",
    "gemini-3.8-live",
    "gemini-3.8-live-extended-thinking",
];

async fn background_conversation(model: &str, backend: Backend) {
    let label = format!("{model} on {backend}");
    let profile = ModelProfile::for_model(model, backend);
    assert!(!profile.is_unknown(), "{label}");
    let emu = Emulator::builder()
        .backend(backend)
        .scenario(scenario("e2e/single_call.json"))
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    let session = connect(&emu, backend, background_search(100, 2).model(model)).await;
    let es = emu.wait_for_session(WAIT).await.unwrap();

    // The declaration says NON_BLOCKING only where the model takes it.
    let setup = &es.received_client_messages()[0]["setup"];
    let declared = &setup["tools"][0]["functionDeclarations"][0]["behavior"];
    if profile.accepts_non_blocking {
        assert_eq!(declared, "NON_BLOCKING", "{label}");
    } else {
        assert!(declared.is_null(), "{label}: {declared}");
    }

    // 1. A background call, start to finish.
    session.send_text("search it").await.unwrap();
    let call = es.wait_for_function_call(1, WAIT).await.unwrap();
    events_until(&session, |e| matches!(e, LiveEvent::ToolCompleted { .. })).await;
    until(&format!("{label}: the result"), || {
        deliveries(&es, &call.id)
            .iter()
            .any(|(_, conversation)| !profile.is_sync_only() || *conversation)
    })
    .await;
    let got = deliveries(&es, &call.id);
    if profile.is_sync_only() {
        // The immediate "running" answer on the wire, the result as conversation.
        assert_eq!(got, vec![(0, false), (0, true)], "{label}");
    } else {
        assert_eq!(got, vec![(0, false)], "{label}");
    }
    let interim = es
        .accepted_function_responses()
        .into_iter()
        .filter(|r| r.will_continue)
        .count();
    if profile.accepts_will_continue && !profile.is_sync_only() {
        assert!(interim >= 1, "{label}: ack and progress on the call's id");
    } else {
        assert_eq!(interim, 0, "{label}");
    }
    if !profile.accepts_scheduling {
        assert!(
            es.frames_of("toolResponse")
                .iter()
                .all(|f| !f.text().contains("scheduling")),
            "{label}"
        );
    }
    events_until(&session, |e| matches!(e, LiveEvent::TurnComplete)).await;

    // 2. goAway in the middle of a second call: the result still arrives exactly once.
    session.send_text("search again").await.unwrap();
    let second = es.wait_for_function_call(2, WAIT).await.unwrap();
    assert!(es.go_away(Duration::from_millis(500)), "{label}");
    events_until(&session, |e| matches!(e, LiveEvent::Reconnected { .. })).await;
    until(&format!("{label}: the second result"), || {
        deliveries(&es, &second.id)
            .iter()
            .any(|(conn, _)| *conn >= 1)
            || deliveries(&es, &second.id).len() >= 2
    })
    .await;
    let after: Vec<_> = deliveries(&es, &second.id)
        .into_iter()
        .filter(|(conn, _)| *conn >= 1)
        .collect();
    assert!(after.len() <= 1, "{label}: {after:?}");

    assert!(
        es.ignored_function_responses().is_empty(),
        "{label}: {:?}",
        es.ignored_function_responses()
    );
    assert!(es.violations().is_empty(), "{label}: {:?}", es.violations());
    tokio::time::timeout(WAIT, session.disconnect())
        .await
        .unwrap();
}

#[tokio::test]
async fn every_profile_on_the_developer_api() {
    for model in MODELS {
        background_conversation(model, Backend::DeveloperApi).await;
    }
}

#[tokio::test]
async fn every_profile_on_vertex() {
    for model in MODELS {
        background_conversation(model, Backend::VertexAi).await;
    }
}

#[tokio::test]
async fn a_setup_the_profile_refuses_is_refused_before_the_wire() {
    let emu = emulator("e2e/single_call.json", Backend::DeveloperApi).await;
    let err = Live::builder()
        .model("gemini-3.8-live")
        .setup(|s| {
            s.generation_config
                .get_or_insert_with(Default::default)
                .thinking_config = Some(Default::default());
        })
        .connect_endpoint(emu.ws_url(), Credentials::None)
        .await
        .unwrap_err();
    assert!(err.is_refused_locally(), "{err}");
    assert!(err.to_string().contains("thinkingConfig"), "{err}");
    assert!(emu.sessions().is_empty(), "nothing reached the server");
    // A standard tool on 3.8 is declared BLOCKING explicitly (the default is NON_BLOCKING).
    let session = connect(
        &emu,
        Backend::DeveloperApi,
        Live::builder()
            .model("gemini-3.8-live")
            .tool(lookup(Duration::from_millis(1))),
    )
    .await;
    let es = emu.wait_for_session(WAIT).await.unwrap();
    let setup = &es.received_client_messages()[0]["setup"];
    assert_eq!(
        setup["tools"][0]["functionDeclarations"][0]["behavior"],
        serde_json::json!(Behavior::Blocking)
    );
    session.disconnect().await;
}
