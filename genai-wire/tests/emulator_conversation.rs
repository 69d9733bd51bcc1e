//! The scripted model over real sockets: turns, audio, tool calling semantics, barge-in.

mod emulator_support;

use std::time::Duration;

use base64::Engine as _;
use emulator_support::*;
use genai_wire::emulator::{Emulator, EmulatorHandle, Scenario, ViolationKind, kind};
use serde_json::{Value, json};

async fn with(scenario: &str) -> EmulatorHandle {
    Emulator::builder()
        .scenario(Scenario::from_json(scenario).unwrap())
        .bind("127.0.0.1:0")
        .await
        .unwrap()
}

fn search_tool(behavior: &str) -> Value {
    tools(
        json!([{"name": "search", "description": "web search", "behavior": behavior,
        "parameters": {"type": "OBJECT", "properties": {"query": {"type": "STRING"}}}}]),
    )
}

fn kinds(got: &[Got]) -> Vec<String> {
    got.iter()
        .map(|g| match g {
            Got::Msg(v, _) => {
                let k = genai_wire::emulator::classify(v);
                k.to_string()
            }
            Got::Close(c, _) => format!("close {c}"),
        })
        .collect()
}

fn call_id(got: &[Got]) -> String {
    got.iter()
        .find_map(|g| match g {
            Got::Msg(v, _) => v["toolCall"]["functionCalls"][0]["id"]
                .as_str()
                .map(str::to_string),
            _ => None,
        })
        .expect("a toolCall")
}

fn transcript(got: &[Got]) -> String {
    got.iter()
        .filter_map(|g| match g {
            Got::Msg(v, _) => v["serverContent"]["outputTranscription"]["text"]
                .as_str()
                .map(str::to_string),
            _ => None,
        })
        .collect()
}

async fn expect_silence(ws: &mut Ws, for_: Duration) {
    use futures::StreamExt;
    match tokio::time::timeout(for_, ws.next()).await {
        Err(_) => {}
        Ok(m) => panic!("expected silence, got {m:?}"),
    }
}

#[tokio::test]
async fn default_scenario_turn_with_audio_chunks_after_silence() {
    let emu = Emulator::builder().bind("127.0.0.1:0").await.unwrap();
    let mut ws = start(
        &emu.ws_url(),
        dev_setup(
            json!({"inputAudioTranscription": {}, "outputAudioTranscription": {},
                         "tools": search_tool("NON_BLOCKING")}),
        ),
    )
    .await;
    // 300 ms of speech in 100 ms chunks, then nothing: the turn ends after 500 ms.
    for _ in 0..3 {
        send(&mut ws, audio_msg(&voiced_b64(100))).await;
    }
    let got = recv_until(&mut ws, is_turn_complete).await;
    let k = kinds(&got);
    assert_eq!(k[0], kind::INPUT_TRANSCRIPTION, "{k:?}");
    assert_eq!(
        got[0].json()["serverContent"]["inputTranscription"]["text"],
        "What's the weather like in Paris today?"
    );
    let audio: Vec<&Value> = got
        .iter()
        .map(Got::json)
        .filter(|v| v["serverContent"]["modelTurn"].is_object())
        .collect();
    assert_eq!(audio.len(), 12, "1.2 s in 100 ms chunks");
    for a in &audio {
        let part = &a["serverContent"]["modelTurn"]["parts"][0]["inlineData"];
        assert_eq!(part["mimeType"], "audio/pcm;rate=24000");
        let pcm = base64::engine::general_purpose::STANDARD
            .decode(part["data"].as_str().unwrap())
            .unwrap();
        assert_eq!(pcm.len(), 4800);
        let level: u64 = pcm
            .chunks(2)
            .map(|c| i16::from_le_bytes([c[0], c[1]]).unsigned_abs() as u64)
            .sum::<u64>()
            / 2400;
        assert!(level > 100, "audio is not silence");
    }
    assert_eq!(transcript(&got), "Let me look that up for you.");
    let tc = got
        .iter()
        .map(Got::json)
        .find(|v| v.get("toolCall").is_some())
        .unwrap();
    let call = &tc["toolCall"]["functionCalls"][0];
    assert_eq!(call["name"], "search");
    assert_eq!(call["args"], json!({"query": "weather in Paris today"}));
    assert!(call["id"].as_str().unwrap().starts_with("function-call-"));
    let n = k.len();
    assert_eq!(
        &k[n - 2..],
        [kind::GENERATION_COMPLETE, kind::TURN_COMPLETE]
    );
    let usage = &got[n - 1].json()["usageMetadata"];
    assert!(usage["totalTokenCount"].as_u64().unwrap() > 0);
    // Pacing: 12 chunks of 100 ms took about 1.1 s or more.
    let s = emu.wait_for_session(T).await.unwrap();
    let chunks = s.frames_of(kind::MODEL_TURN);
    let span = chunks.last().unwrap().at - chunks[0].at;
    assert!(span >= Duration::from_millis(1000), "{span:?}");
}

#[tokio::test]
async fn undeclared_tools_are_not_called_and_text_modality_gets_text() {
    let emu = Emulator::builder().bind("127.0.0.1:0").await.unwrap();
    let mut ws = start(
        &emu.ws_url(),
        dev_setup(json!({"generationConfig": {"responseModalities": ["TEXT"]}})),
    )
    .await;
    send(&mut ws, json!({"clientContent": {"turns": [{"role": "user", "parts": [{"text": "hi"}]}], "turnComplete": true}})).await;
    let got = recv_until(&mut ws, is_turn_complete).await;
    let text: String = got
        .iter()
        .map(Got::json)
        .filter_map(|v| v["serverContent"]["modelTurn"]["parts"][0]["text"].as_str())
        .collect();
    assert_eq!(text, "Let me look that up for you.");
    assert!(!kinds(&got).iter().any(|k| k == kind::TOOL_CALL));
    assert!(
        !kinds(&got).iter().any(|k| k == kind::INPUT_TRANSCRIPTION),
        "no transcription for text input"
    );
}

const NB: &str = r#"{"audio":{"speed":4},"toolResult":{"ms":400,"text":"The {name} tool says {response}."},
  "steps":[{"waitUserTurn":{}},{"speak":{"ms":400,"text":"Searching now."}},
           {"call":{"name":"search","args":{"query":"x"}}},{"endTurn":{}}]}"#;

#[tokio::test]
async fn non_blocking_call_will_continue_then_final_silent() {
    let emu = with(NB).await;
    let mut ws = start(
        &emu.ws_url(),
        dev_setup(json!({"outputAudioTranscription": {}, "tools": search_tool("NON_BLOCKING")})),
    )
    .await;
    send(&mut ws, text_msg("search please")).await;
    let got = recv_until(&mut ws, is_turn_complete).await;
    let id = call_id(&got);
    // Partial result, WHEN_IDLE: voiced as its own turn, since the model is idle.
    send(
        &mut ws,
        json!({"toolResponse": {"functionResponses": [{"id": id, "name": "search",
        "response": {"output": "partial"}, "willContinue": true, "scheduling": "WHEN_IDLE"}]}}),
    )
    .await;
    let got = recv_until(&mut ws, is_turn_complete).await;
    let k = kinds(&got);
    assert!(k.contains(&kind::MODEL_TURN.to_string()), "{k:?}");
    assert_eq!(transcript(&got), "The search tool says partial.");
    assert_eq!(
        &k[k.len() - 2..],
        [kind::GENERATION_COMPLETE, kind::TURN_COMPLETE]
    );
    // Final result, SILENT: nothing is said.
    send(
        &mut ws,
        json!({"toolResponse": {"functionResponses": [{"id": id, "name": "search",
        "response": {}, "willContinue": false, "scheduling": "SILENT"}]}}),
    )
    .await;
    expect_silence(&mut ws, Duration::from_millis(600)).await;
    let s = emu.wait_for_session(T).await.unwrap();
    assert!(s.violations().is_empty(), "{:?}", s.violations());
    // The call is closed: one more response is a violation.
    send(&mut ws, json!({"toolResponse": {"functionResponses": [{"id": id, "name": "search", "response": {}}]}})).await;
    let v = s.wait_for_violation(1, T).await.unwrap();
    assert_eq!(v.kind, ViolationKind::ClosedCallId);
    assert!(v.detail.contains(&id));
}

const LONG: &str = r#"{"audio":{"chunkMs":100},"toolResult":{"ms":300,"text":"Result from {name}."},
  "steps":[{"waitUserTurn":{}},{"call":{"name":"search","args":{}}},
           {"speak":{"ms":3000,"text":"one two three four five six seven eight nine ten"}},{"endTurn":{}}]}"#;

async fn start_long_turn(emu: &EmulatorHandle, behavior: &str) -> (Ws, String) {
    let mut ws = start(
        &emu.ws_url(),
        dev_setup(json!({"outputAudioTranscription": {}, "tools": search_tool(behavior)})),
    )
    .await;
    send(&mut ws, text_msg("go")).await;
    let got = recv_until(&mut ws, |v| v["serverContent"]["modelTurn"].is_object()).await;
    (ws, call_id(&got))
}

#[tokio::test]
async fn scheduling_interrupt_cuts_the_audio_and_speaks_now() {
    let emu = with(LONG).await;
    let (mut ws, id) = start_long_turn(&emu, "NON_BLOCKING").await;
    send(
        &mut ws,
        json!({"toolResponse": {"functionResponses": [{"id": id, "name": "search",
        "response": {"output": 1}, "scheduling": "INTERRUPT"}]}}),
    )
    .await;
    let got = recv_until(&mut ws, |v| v["serverContent"]["interrupted"] == true).await;
    assert!(got.len() < 30, "interrupted early");
    let next = recv(&mut ws).await;
    assert!(is_turn_complete(next.json()), "{next:?}");
    let got = recv_until(&mut ws, is_turn_complete).await;
    let k = kinds(&got);
    assert_eq!(transcript(&got), "Result from search.");
    assert_eq!(
        &k[k.len() - 2..],
        [kind::GENERATION_COMPLETE, kind::TURN_COMPLETE]
    );
    assert!(!k.contains(&kind::TOOL_CALL_CANCELLATION.to_string()));
}

#[tokio::test]
async fn scheduling_when_idle_waits_for_the_turn_to_end() {
    let emu = with(LONG).await;
    let (mut ws, id) = start_long_turn(&emu, "NON_BLOCKING").await;
    send(
        &mut ws,
        json!({"toolResponse": {"functionResponses": [{"id": id, "name": "search",
        "response": {"output": 1}, "scheduling": "WHEN_IDLE"}]}}),
    )
    .await;
    let first = recv_until(&mut ws, is_turn_complete).await;
    let k = kinds(&first);
    assert!(!k.contains(&kind::INTERRUPTED.to_string()), "{k:?}");
    assert!(
        transcript(&first).ends_with("eight nine ten"),
        "{}",
        transcript(&first)
    );
    let second = recv_until(&mut ws, is_turn_complete).await;
    assert_eq!(transcript(&second), "Result from search.");
}

#[tokio::test]
async fn scheduling_silent_says_nothing() {
    let emu = with(NB).await;
    let mut ws = start(
        &emu.ws_url(),
        dev_setup(json!({"tools": search_tool("NON_BLOCKING")})),
    )
    .await;
    send(&mut ws, text_msg("go")).await;
    let id = call_id(&recv_until(&mut ws, is_turn_complete).await);
    send(&mut ws, json!({"toolResponse": {"functionResponses": [{"id": id, "name": "search", "response": {}, "scheduling": "SILENT"}]}})).await;
    expect_silence(&mut ws, Duration::from_millis(700)).await;
}

#[tokio::test]
async fn blocking_call_keeps_the_model_silent() {
    let emu = with(
        r#"{"audio":{"speed":4},"toolResult":{"ms":200,"text":"Booked with {name}."},
            "steps":[{"waitUserTurn":{}},{"speak":{"ms":200,"text":"Booking."}},
                     {"call":{"name":"book","args":{}}},{"speak":{"ms":200,"text":"All set."}},{"endTurn":{}}]}"#,
    )
    .await;
    let mut ws = start(
        &emu.ws_url(),
        dev_setup(json!({"outputAudioTranscription": {}, "tools": tools(json!([{"name": "book", "behavior": "BLOCKING"}]))})),
    )
    .await;
    send(&mut ws, text_msg("book it")).await;
    let got = recv_until(&mut ws, |v| v.get("toolCall").is_some()).await;
    let id = call_id(&got);
    // The model waits for the result: no more output, no turnComplete.
    expect_silence(&mut ws, Duration::from_millis(800)).await;
    send(&mut ws, json!({"toolResponse": {"functionResponses": [{"id": id, "name": "book", "response": {"output": "ok"}}]}})).await;
    let got = recv_until(&mut ws, is_turn_complete).await;
    // "Booking." came earlier in the same turn, hence the leading space.
    assert_eq!(transcript(&got), " Booked with book. All set.");
    let k = kinds(&got);
    assert_eq!(
        k.iter().filter(|k| *k == kind::TURN_COMPLETE).count(),
        1,
        "{k:?}"
    );
}

#[tokio::test]
async fn barge_in_cancels_calls_then_interrupts() {
    let emu = with(LONG).await;
    let (mut ws, id) = start_long_turn(&emu, "NON_BLOCKING").await;
    send(&mut ws, audio_msg(&voiced_b64(100))).await;
    let got = recv_until(&mut ws, |v| v.get("toolCallCancellation").is_some()).await;
    let last = got.last().unwrap().json();
    assert_eq!(last["toolCallCancellation"]["ids"], json!([id]));
    assert_eq!(
        recv(&mut ws).await.json(),
        &json!({"serverContent": {"interrupted": true}})
    );
    assert!(is_turn_complete(recv(&mut ws).await.json()));
    // A late response for the cancelled call is a violation.
    send(&mut ws, json!({"toolResponse": {"functionResponses": [{"id": id, "name": "search", "response": {}}]}})).await;
    let s = emu.wait_for_session(T).await.unwrap();
    assert_eq!(
        s.wait_for_violation(1, T).await.unwrap().kind,
        ViolationKind::CancelledCallId
    );
    // The user's barge-in is a user turn: once it ends, the model answers it.
    let got = recv_until(&mut ws, |v| v.get("toolCall").is_some()).await;
    assert_ne!(call_id(&got), id);
}

#[tokio::test]
async fn silent_audio_does_not_barge_in_and_no_interruption_mode_is_respected() {
    let emu = with(LONG).await;
    let (mut ws, _id) = start_long_turn(&emu, "NON_BLOCKING").await;
    send(&mut ws, audio_msg(&silence_b64(100))).await;
    let got = recv_until(&mut ws, is_turn_complete).await;
    assert!(!kinds(&got).contains(&kind::INTERRUPTED.to_string()));

    let mut ws = start(
        &emu.ws_url(),
        dev_setup(json!({"tools": search_tool("NON_BLOCKING"),
            "realtimeInputConfig": {"activityHandling": "NO_INTERRUPTION"}})),
    )
    .await;
    send(&mut ws, text_msg("go")).await;
    recv_until(&mut ws, |v| v["serverContent"]["modelTurn"].is_object()).await;
    send(&mut ws, audio_msg(&voiced_b64(100))).await;
    let got = recv_until(&mut ws, is_turn_complete).await;
    assert!(!kinds(&got).contains(&kind::INTERRUPTED.to_string()));
}

#[tokio::test]
async fn unknown_call_ids_are_violations_or_1008_when_strict() {
    let emu = with(NB).await;
    let mut ws = start(&emu.ws_url(), dev_setup(json!({}))).await;
    send(&mut ws, json!({"toolResponse": {"functionResponses": [{"id": "function-call-1", "name": "getStatus", "response": {"mood": "happy"}}]}})).await;
    let s = emu.wait_for_session(T).await.unwrap();
    let v = s.wait_for_violation(1, T).await.unwrap();
    assert_eq!(v.kind, ViolationKind::UnknownCallId);
    // Missing id on the Developer API.
    send(
        &mut ws,
        json!({"toolResponse": {"functionResponses": [{"name": "getStatus", "response": {}}]}}),
    )
    .await;
    assert_eq!(
        s.wait_for_violation(2, T).await.unwrap().kind,
        ViolationKind::MissingCallId
    );

    let strict = Emulator::builder()
        .scenario(Scenario::silent())
        .strict_tool_responses(true)
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    let mut ws = start(&strict.ws_url(), dev_setup(json!({}))).await;
    send(&mut ws, json!({"toolResponse": {"functionResponses": [{"id": "nope", "name": "f", "response": {}}]}})).await;
    assert_eq!(
        recv(&mut ws).await.close(),
        (1008, "Requested entity was not found.")
    );
}

#[tokio::test]
async fn manual_activity_signals_end_the_turn() {
    let emu = with(NB).await;
    let mut ws = start(
        &emu.ws_url(),
        dev_setup(
            json!({"realtimeInputConfig": {"automaticActivityDetection": {"disabled": true}}}),
        ),
    )
    .await;
    send(&mut ws, json!({"realtimeInput": {"activityStart": {}}})).await;
    send(&mut ws, audio_msg(&voiced_b64(200))).await;
    expect_silence(&mut ws, Duration::from_millis(700)).await; // no VAD: waits for activityEnd
    send(&mut ws, json!({"realtimeInput": {"activityEnd": {}}})).await;
    let got = recv_until(&mut ws, is_turn_complete).await;
    assert!(kinds(&got).contains(&kind::MODEL_TURN.to_string()));
    let s = emu.wait_for_session(T).await.unwrap();
    assert!(s.violations().is_empty());
}

#[tokio::test]
async fn audio_stream_end_ends_the_turn() {
    let emu = with(NB).await;
    let mut ws = start(&emu.ws_url(), dev_setup(json!({}))).await;
    send(&mut ws, audio_msg(&voiced_b64(100))).await;
    send(&mut ws, json!({"realtimeInput": {"audioStreamEnd": true}})).await;
    let got = tokio::time::timeout(Duration::from_millis(400), recv(&mut ws))
        .await
        .expect("answered before the silence timeout");
    assert_eq!(kinds(&[got])[0], kind::MODEL_TURN);
}

/// The page's mute sends `audioStreamEnd` after silent audio: no speech, so no turn (the
/// real server's voice detection finds none; the emulator used to answer a phantom turn).
#[tokio::test]
async fn audio_stream_end_after_silence_is_no_turn() {
    let emu = with(NB).await;
    let mut ws = start(&emu.ws_url(), dev_setup(json!({}))).await;
    send(&mut ws, audio_msg(&silence_b64(300))).await;
    send(&mut ws, json!({"realtimeInput": {"audioStreamEnd": true}})).await;
    expect_silence(&mut ws, Duration::from_millis(700)).await;
}

#[tokio::test]
async fn branches_on_user_text_and_closes() {
    let chat = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../fixtures/scenarios/chat.json"
    ))
    .unwrap();
    let emu = with(&chat).await;
    let mut ws = start(
        &emu.ws_url(),
        dev_setup(json!({"outputAudioTranscription": {}})),
    )
    .await;
    send(&mut ws, text_msg("hello")).await;
    let got = recv_until(&mut ws, is_turn_complete).await;
    assert_eq!(transcript(&got), "Yes, I can hear you. How can I help?");
    send(&mut ws, text_msg("OK, bye now")).await;
    let (msgs, close) = recv_until_close(&mut ws).await;
    let said: String = msgs
        .iter()
        .filter_map(|v| v["serverContent"]["outputTranscription"]["text"].as_str())
        .collect();
    assert_eq!(said, "Goodbye!");
    assert_eq!(close, (1000, "conversation ended".to_string()));
}

#[tokio::test]
async fn emit_and_wait_client_steps() {
    let emu = with(
        r#"{"repeat":false,"steps":[
            {"waitClient":{"kind":"realtimeInput.text","textContains":"ping"}},
            {"emit":{"serverContent":{"modelTurn":{"parts":[{"text":"pong {{userText}}"}]},"turnComplete":true}}},
            {"waitClient":{"kind":"clientContent"}},
            {"emit":{"goAway":{"timeLeft":"5s"}}}
        ]}"#,
    )
    .await;
    let mut ws = start(&emu.ws_url(), dev_setup(json!({}))).await;
    send(&mut ws, text_msg("hello")).await;
    expect_silence(&mut ws, Duration::from_millis(300)).await;
    send(&mut ws, text_msg("PING!")).await;
    let g = recv(&mut ws).await;
    assert_eq!(
        g.json()["serverContent"]["modelTurn"]["parts"][0]["text"],
        "pong PING!"
    );
    send(
        &mut ws,
        json!({"clientContent": {"turns": [], "turnComplete": false}}),
    )
    .await;
    assert_eq!(
        recv(&mut ws).await.json(),
        &json!({"goAway": {"timeLeft": "5s"}})
    );
}

#[tokio::test]
async fn the_crate_decoder_understands_everything_the_emulator_sends() {
    use genai_wire::protocol::{ServerPayload, decode_server, transcript::parse_transcript};
    let emu = with(LONG).await;
    let mut ws = start(
        &emu.ws_url(),
        dev_setup(json!({"outputAudioTranscription": {}, "sessionResumption": {}, "tools": search_tool("NON_BLOCKING")})),
    )
    .await;
    send(&mut ws, text_msg("go")).await;
    recv_until(&mut ws, |v| v["serverContent"]["modelTurn"].is_object()).await;
    send(&mut ws, audio_msg(&voiced_b64(100))).await; // barge-in: cancellation + interrupted
    recv_until(&mut ws, |v| v.get("toolCall").is_some()).await;
    let s = emu.wait_for_session(T).await.unwrap();
    s.go_away(Duration::from_secs(30));
    s.wait_for_count(kind::GO_AWAY, 1, T).await.unwrap();
    let mut seen = std::collections::BTreeSet::new();
    for f in s.frames().iter().filter(|f| f.from_server()) {
        let m = decode_server(&f.raw).unwrap_or_else(|e| panic!("{e}: {}", f.text()));
        assert!(
            !matches!(m.payload, ServerPayload::Unknown(_)),
            "{}",
            f.text()
        );
        seen.insert(m.payload.kind());
    }
    for k in [
        "setupComplete",
        "serverContent",
        "toolCall",
        "toolCallCancellation",
        "goAway",
        "sessionResumptionUpdate",
    ] {
        assert!(seen.contains(k), "{k} not exercised: {seen:?}");
    }
    let parsed = parse_transcript(&s.transcript()).unwrap();
    assert_eq!(parsed.len(), s.frames().len());
}
