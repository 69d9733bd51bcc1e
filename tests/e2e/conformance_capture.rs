//! Drives every kind of client message this library emits, on both backends, and writes
//! the emulator's transcripts to `target/tmp/client-transcripts/`. `.ci/run` then feeds
//! them to the official SDK's strict `LiveClientMessage` validation
//! (`tests/conformance/run.sh validate-client`). The emulator's own strict validator
//! already checks them here: any refused field would close the socket with 1007.

use std::path::PathBuf;
use std::time::Duration;

use adk_live::prelude::*;
use genai_wire::emulator::SessionHandle;
use genai_wire::protocol::{
    ActivityHandling, AutomaticActivityDetection, ClientMessage, Content, ContextUpdate,
    ContextWindowCompressionConfig, ProactivityConfig, RealtimeInputConfig, SlidingWindow,
    StartSensitivity,
};

use crate::support::*;

fn transcript_dir() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("client-transcripts");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn save(es: &SessionHandle, name: &str) {
    assert!(es.violations().is_empty(), "{name}: {:?}", es.violations());
    es.write_transcript(transcript_dir().join(format!("{name}.log")))
        .unwrap();
}

fn full_setup(builder: LiveBuilder) -> LiveBuilder {
    builder
        .instruction("You are terse.")
        .voice("Kore")
        .setup(|s| {
            s.context_window_compression = Some(ContextWindowCompressionConfig {
                trigger_tokens: Some(25_600),
                sliding_window: Some(SlidingWindow {
                    target_tokens: Some(12_800),
                }),
            });
            s.realtime_input_config = Some(RealtimeInputConfig {
                automatic_activity_detection: Some(AutomaticActivityDetection {
                    start_of_speech_sensitivity: Some(StartSensitivity::Low),
                    ..Default::default()
                }),
                activity_handling: Some(ActivityHandling::StartOfActivityInterrupts),
                ..Default::default()
            });
        })
        .tool(search(
            Duration::from_millis(50),
            2,
            false,
            Drops::default(),
        ))
        .tool_background("search")
        .tool(lookup(Duration::from_millis(10)))
}

/// Waits for both tools of a `mixed_call` turn to complete and the turn to end.
async fn turn_with_tools(session: &LiveHandle) {
    let (mut completed, mut turn_done) = (0, false);
    events_until(session, |e| {
        completed += matches!(e, LiveEvent::ToolCompleted { .. }) as usize;
        turn_done |= matches!(e, LiveEvent::TurnComplete);
        completed == 2 && turn_done
    })
    .await;
}

#[tokio::test]
async fn developer_api_client_messages() {
    let emu = emulator("e2e/mixed_call.json", Backend::DeveloperApi).await;
    let builder = full_setup(Live::builder()).setup(|s| {
        s.proactivity = Some(ProactivityConfig {
            proactive_audio: Some(true),
            ..Default::default()
        })
    });
    let session = connect(&emu, Backend::DeveloperApi, builder).await;
    session
        .send_video_frame("image/jpeg", vec![0xff, 0xd8, 0xff, 0xd9])
        .await
        .unwrap();
    // Three user turns, each through a different input, each waited for: new input while a
    // turn's calls are in flight would (rightly) make the server cancel them.
    session.send_user_turn("hello").await.unwrap();
    turn_with_tools(&session).await;
    // Speech (the emulator, like the real server, answers no turn of silence alone).
    let voiced: Vec<u8> = (0..320)
        .flat_map(|i| if i % 2 == 0 { 3000i16 } else { -3000 }.to_le_bytes())
        .collect();
    session.send_audio(&voiced).await.unwrap();
    session.audio_stream_end().await.unwrap();
    turn_with_tools(&session).await;
    session.send_text("find flights").await.unwrap();
    turn_with_tools(&session).await;
    session
        .send(ClientMessage::ContextUpdate(ContextUpdate {
            system_instruction: Some(Content::user("Be brief.")),
            ..Default::default()
        }))
        .await
        .unwrap();
    let es = emu.wait_for_session(WAIT).await.unwrap();
    es.wait_for(WAIT, |f| f.iter().any(|f| f.kind == "contextUpdate"))
        .await
        .unwrap();
    es.wait_for(WAIT, |f| {
        responses_in(f)
            .iter()
            .any(|(_, r)| r["willContinue"] == false)
    })
    .await
    .unwrap();
    session.disconnect().await;
    save(&es, "developer_api");
}

#[tokio::test]
async fn developer_api_manual_activity_messages() {
    let emu = emulator("chat.json", Backend::DeveloperApi).await;
    let builder = Live::builder().setup(|s| {
        s.realtime_input_config = Some(RealtimeInputConfig {
            automatic_activity_detection: Some(AutomaticActivityDetection {
                disabled: Some(true),
                ..Default::default()
            }),
            ..Default::default()
        })
    });
    let session = connect(&emu, Backend::DeveloperApi, builder).await;
    session.activity_start().await.unwrap();
    session
        .send_audio_at(&vec![1u8; 960], 24_000)
        .await
        .unwrap();
    session.activity_end().await.unwrap();
    events_until(&session, |e| matches!(e, LiveEvent::TurnComplete)).await;
    let es = emu.wait_for_session(WAIT).await.unwrap();
    session.disconnect().await;
    save(&es, "developer_api_manual_activity");
}

#[tokio::test]
async fn vertex_client_messages() {
    let emu = emulator("e2e/mixed_call.json", Backend::VertexAi).await;
    let session = full_setup(Live::builder())
        .base_url(emu.base_url())
        .configure(|c| c.transparent_resumption = true)
        .connect_vertex("my-project", "us-central1", "token")
        .await
        .unwrap();
    session.send_audio(&vec![0u8; 640]).await.unwrap();
    session.send_text("find flights").await.unwrap();
    tools_completed(&session, 2).await;
    // Refused locally, not by the server: audioStreamEnd is Developer-API-only.
    assert!(matches!(
        session.audio_stream_end().await,
        Err(Error::Wire(genai_wire::Error::Unsupported { .. }))
    ));
    let es = emu.wait_for_session(WAIT).await.unwrap();
    es.wait_for(WAIT, |f| responses_in(f).len() >= 2)
        .await
        .unwrap();
    session.disconnect().await;
    save(&es, "vertex");
}
