//! The final result's `scheduling`, observed on the emulator: INTERRUPT cuts the model's
//! speech and voices the result, WHEN_IDLE voices it after the turn, SILENT says nothing.

use std::time::Duration;

use adk_live::prelude::*;
use genai_wire::emulator::{Frame, kind};

use crate::support::*;

/// The first word of the emulator's voicing of a result ("Result of search is in."),
/// streamed word by word in `outputTranscription`.
const VOICED: &str = r#"{"text":"Result"}"#;

async fn run(scheduling: FunctionResponseScheduling) -> Vec<Frame> {
    let emu = emulator("e2e/long_turn.json", Backend::DeveloperApi).await;
    let builder = Live::builder().tool_with(
        search(Duration::from_millis(100), 2, false, Drops::default()),
        ToolOptions::background().with_scheduling(scheduling),
    );
    let session = connect(&emu, Backend::DeveloperApi, builder).await;
    session.send_text("news please").await.unwrap();
    events_until(&session, |e| matches!(e, LiveEvent::ToolCompleted { .. })).await;
    let es = emu.wait_for_session(WAIT).await.unwrap();
    // The scripted turn speaks 3 s.
    if scheduling == FunctionResponseScheduling::Silent {
        // Nothing is voiced: once the turn is over (a result waiting for it would be
        // voiced at once) and the emulator has read everything the client sent, nothing
        // will be.
        es.wait_for_count(kind::TURN_COMPLETE, 1, WAIT)
            .await
            .expect("the scripted turn ends");
        barrier(&session, &es).await;
    } else {
        // The result is voiced in a turn of its own, which ends too.
        es.wait_for_count(kind::TURN_COMPLETE, 2, WAIT)
            .await
            .expect("the result's turn ends");
    }
    assert!(es.violations().is_empty(), "{:?}", es.violations());
    session.disconnect().await;
    es.frames()
}

fn voiced_at(frames: &[Frame]) -> Option<Duration> {
    frames
        .iter()
        .find(|f| f.kind.starts_with("serverContent") && f.text().contains(VOICED))
        .map(|f| f.at)
}

fn first(frames: &[Frame], kind: &str) -> Option<Duration> {
    frames.iter().find(|f| f.kind == kind).map(|f| f.at)
}

fn final_response_at(frames: &[Frame]) -> Duration {
    responses_in(frames)
        .into_iter()
        .find(|(_, r)| r["willContinue"] == false)
        .expect("final response")
        .0
}

#[tokio::test]
async fn interrupt_cuts_the_current_speech_and_voices_the_result() {
    let frames = run(FunctionResponseScheduling::Interrupt).await;
    let result = final_response_at(&frames);
    let interrupted =
        first(&frames, "serverContent.interrupted").expect("INTERRUPT sends interrupted");
    assert!(
        interrupted >= result && interrupted < result + Duration::from_millis(1500),
        "{interrupted:?} vs {result:?}"
    );
    assert!(
        interrupted < Duration::from_millis(2500),
        "cut before the 3 s speech ended"
    );
    assert!(voiced_at(&frames).expect("result voiced") >= interrupted);
}

#[tokio::test]
async fn when_idle_waits_for_the_turn_to_end() {
    let frames = run(FunctionResponseScheduling::WhenIdle).await;
    assert!(first(&frames, "serverContent.interrupted").is_none());
    let turn_end = first(&frames, "serverContent.turnComplete").expect("turn ends");
    let voiced = voiced_at(&frames).expect("result voiced");
    assert!(
        voiced > turn_end,
        "voiced {voiced:?} after the turn {turn_end:?}"
    );
}

#[tokio::test]
async fn silent_adds_the_result_without_speaking() {
    let frames = run(FunctionResponseScheduling::Silent).await;
    assert!(first(&frames, "serverContent.interrupted").is_none());
    assert!(voiced_at(&frames).is_none(), "SILENT must not be voiced");
    assert_eq!(
        frames
            .iter()
            .filter(|f| f.kind == "serverContent.turnComplete")
            .count(),
        1
    );
}
