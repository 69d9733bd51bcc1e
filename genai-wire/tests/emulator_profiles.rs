//! The emulator plays the profile of the model named in setup (`profiles/models.json`):
//! for 2.5, 3.1, 3.8 and 3.8 extended thinking, on both backends, what each accepts and
//! refuses (1007 "Request contains an invalid argument." plus a `ModelProfile`
//! violation), what an undeclared `behavior` means, `interactionStatus` on extended
//! thinking, and the 3.8 cancellation of a BLOCKING call on new input.
//!
//! The expectations are written out here (not read from the profile), so a change to the
//! table shows up as a failing test.

mod emulator_support;

use std::time::Duration;

use emulator_support::*;
use genai_wire::Backend;
use genai_wire::emulator::{Behavior, Emulator, EmulatorHandle, Scenario, ViolationKind, kind};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

const M25: &str = "gemini-live-2.5-flash-preview";
const M31: &str = "gemini-3.1-flash-live-preview";
const M38: &str = "gemini-3.8-live";
const EXT: &str = "gemini-3.8-live-extended-thinking";
const MODELS: [&str; 4] = [M25, M31, M38, EXT];
const BACKENDS: [Backend; 2] = [Backend::DeveloperApi, Backend::VertexAi];
const REFUSED: &str = "Request contains an invalid argument.";

/// Every user turn: a word, a `search` call, another word, end of turn. Fast.
const SCENARIO: &str = r#"{
  "repeat": true,
  "audio": {"chunkMs": 20, "speed": 20.0},
  "turnDetection": {"silenceMs": 100, "level": 300},
  "toolResult": {"ms": 40, "text": "{name} says {response}."},
  "steps": [
    {"waitUserTurn": {}},
    {"speak": {"ms": 40, "text": "On it."}},
    {"call": {"name": "search", "args": {"q": "x"}}},
    {"speak": {"ms": 40, "text": "Meanwhile."}},
    {"endTurn": {}}
  ]
}"#;

async fn emu() -> EmulatorHandle {
    Emulator::builder()
        .scenario(Scenario::from_json(SCENARIO).unwrap())
        .bind("127.0.0.1:0")
        .await
        .unwrap()
}

fn url(emu: &EmulatorHandle, b: Backend) -> String {
    match b {
        Backend::DeveloperApi => emu.developer_url("v1beta"),
        Backend::VertexAi => emu.vertex_url("v1beta1"),
    }
}

/// A text-modality setup for `model` on `b`, with `extra` merged in.
fn setup(model: &str, b: Backend, extra: Value) -> Value {
    let name = match b {
        Backend::DeveloperApi => format!("models/{model}"),
        Backend::VertexAi => {
            format!("projects/p/locations/us-central1/publishers/google/models/{model}")
        }
    };
    let mut s = json!({"model": name, "generationConfig": {"responseModalities": ["TEXT"]}});
    for (k, v) in extra.as_object().unwrap() {
        s[k] = v.clone();
    }
    json!({ "setup": s })
}

fn search(behavior: Option<&str>) -> Value {
    let mut d = json!({"name": "search", "description": "web search",
        "parameters": {"type": "OBJECT", "properties": {"q": {"type": "STRING"}}}});
    if let Some(b) = behavior {
        d["behavior"] = json!(b);
    }
    tools(json!([d]))
}

/// The behavior each model takes by default, and whether it takes each declared one:
/// (default, NON_BLOCKING accepted, BLOCKING accepted).
fn expected(model: &str, b: Backend) -> (Behavior, bool, bool) {
    match (model, b) {
        (M25, Backend::DeveloperApi) => (Behavior::Blocking, true, true),
        (M25, Backend::VertexAi) => (Behavior::NonBlocking, true, true),
        (M31, _) => (Behavior::Blocking, false, true),
        (M38, _) => (Behavior::NonBlocking, true, true),
        (EXT, _) => (Behavior::NonBlocking, true, false),
        _ => unreachable!(),
    }
}

/// A behavior the model takes, for tests about something else.
fn accepted_behavior(model: &str, b: Backend) -> &'static str {
    if expected(model, b).1 {
        "NON_BLOCKING"
    } else {
        "BLOCKING"
    }
}

/// Sends `setup` and returns either the socket (setupComplete) or the close.
async fn try_start(url: &str, setup: Value) -> Result<Ws, (u16, String)> {
    let mut ws = connect(url).await;
    send(&mut ws, setup).await;
    match recv(&mut ws).await {
        Got::Msg(v, _) if has(&v, "setupComplete") => Ok(ws),
        Got::Msg(v, _) => panic!("expected setupComplete, got {v}"),
        Got::Close(c, r) => Err((c, r)),
    }
}

async fn expect_refused(ws: &mut Ws, label: &str) {
    let (_, (code, reason)) = recv_until_close(ws).await;
    assert_eq!((code, reason.as_str()), (1007, REFUSED), "{label}");
}

/// No close and no violation for anything sent so far: a round trip (10 ms of silence,
/// which the model ignores, sent after it and recorded by the emulator) proves the
/// emulator has acted on every earlier message.
async fn expect_accepted(emu: &EmulatorHandle, ws: &mut Ws, label: &str) {
    use futures::SinkExt;
    let s = emu.sessions().pop().unwrap();
    let n = s.count(kind::AUDIO) + 1;
    let barrier = audio_msg(&silence_b64(10)).to_string();
    let sent = ws.send(Message::Text(barrier.into())).await;
    let recorded = s.wait_for_count(kind::AUDIO, n, T).await;
    assert!(
        sent.is_ok() && recorded.is_ok(),
        "{label}: barrier not read ({sent:?}, {recorded:?}); violations {:?}, close {:?}",
        s.violations(),
        s.last_close()
    );
    assert!(s.violations().is_empty(), "{label}: {:?}", s.violations());
    assert!(s.is_connected(), "{label}: {:?}", s.last_close());
}

fn last_violation_is_profile(emu: &EmulatorHandle, label: &str) {
    let v = emu.sessions().pop().unwrap().violations();
    assert!(
        v.iter().any(|v| v.kind == ViolationKind::ModelProfile),
        "{label}: {v:?}"
    );
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

fn has_tool_call(v: &Value) -> bool {
    v.get("toolCall").is_some()
}

async fn expect_silence(ws: &mut Ws, for_: Duration) {
    use futures::StreamExt;
    match tokio::time::timeout(for_, ws.next()).await {
        Err(_) => {}
        Ok(m) => panic!("expected silence, got {m:?}"),
    }
}

fn response(id: &str, extra: Value) -> Value {
    let mut fr = json!({"id": id, "name": "search", "response": {"output": "42"}});
    for (k, v) in extra.as_object().unwrap() {
        fr[k] = v.clone();
    }
    json!({"toolResponse": {"functionResponses": [fr]}})
}

#[tokio::test]
async fn declared_behaviors_per_profile() {
    let emu = emu().await;
    for b in BACKENDS {
        for m in MODELS {
            let (_, nb, bl) = expected(m, b);
            for (behavior, ok) in [
                ("NON_BLOCKING", nb),
                ("BLOCKING", bl),
                ("UNSPECIFIED", true),
            ] {
                let label = format!("{m} on {b:?}, {behavior}");
                match try_start(
                    &url(&emu, b),
                    setup(m, b, json!({"tools": search(Some(behavior))})),
                )
                .await
                {
                    Ok(_) => assert!(ok, "{label}: accepted"),
                    Err((code, reason)) => {
                        assert!(!ok, "{label}: refused {code} {reason}");
                        assert_eq!((code, reason.as_str()), (1007, REFUSED), "{label}");
                        last_violation_is_profile(&emu, &label);
                    }
                }
            }
        }
    }
}

#[tokio::test]
async fn undeclared_behavior_is_the_profile_default() {
    let emu = emu().await;
    for b in BACKENDS {
        for m in MODELS {
            let label = format!("{m} on {b:?}");
            let (default, _, _) = expected(m, b);
            let mut ws = start(&url(&emu, b), setup(m, b, json!({"tools": search(None)}))).await;
            send(&mut ws, text_msg("go")).await;
            let got = recv_until(&mut ws, has_tool_call).await;
            let id = call_id(&got);
            let s = emu.sessions().pop().unwrap();
            assert_eq!(s.function_calls_issued()[0].behavior, default, "{label}");
            match default {
                // The model is silent until the result, voiced inside the same turn.
                Behavior::Blocking => {
                    expect_silence(&mut ws, Duration::from_millis(300)).await;
                    send(&mut ws, response(&id, json!({}))).await;
                    recv_until(&mut ws, is_turn_complete).await;
                }
                // The turn goes on without the result.
                Behavior::NonBlocking => {
                    recv_until(&mut ws, is_turn_complete).await;
                    send(&mut ws, response(&id, json!({}))).await;
                    recv_until(&mut ws, is_turn_complete).await;
                }
            }
            assert!(s.violations().is_empty(), "{label}: {:?}", s.violations());
            // Only extended thinking signals idleness with interactionStatus.
            let with_status = s
                .sent_server_messages()
                .iter()
                .filter(|v| v["serverContent"].get("interactionStatus").is_some())
                .count();
            if m == EXT {
                assert!(with_status > 0, "{label}");
            } else {
                assert_eq!(with_status, 0, "{label}");
            }
        }
    }
}

#[tokio::test]
async fn function_response_fields_per_profile() {
    let emu = emu().await;
    for b in BACKENDS {
        for m in MODELS {
            // (extra response fields, accepted)
            let cases = [
                // willContinue: Developer API only (schema), and not on 3.1 (profile).
                (
                    json!({"willContinue": true}),
                    b == Backend::DeveloperApi && m != M31,
                ),
                (json!({"scheduling": "SILENT"}), m != M31),
                (json!({"scheduling": "SCHEDULING_UNSPECIFIED"}), true),
            ];
            for (extra, ok) in cases {
                let label = format!("{m} on {b:?}, {extra}");
                let behavior = accepted_behavior(m, b);
                let mut ws = start(
                    &url(&emu, b),
                    setup(m, b, json!({"tools": search(Some(behavior))})),
                )
                .await;
                send(&mut ws, text_msg("go")).await;
                let got = recv_until(&mut ws, has_tool_call).await;
                send(&mut ws, response(&call_id(&got), extra.clone())).await;
                if ok {
                    expect_accepted(&emu, &mut ws, &label).await;
                } else if b == Backend::VertexAi && extra.get("willContinue").is_some() {
                    // Refused by the schema already: Vertex has no such field.
                    let (_, (code, reason)) = recv_until_close(&mut ws).await;
                    assert_eq!(code, 1007, "{label}");
                    assert!(reason.contains("willContinue"), "{label}: {reason}");
                } else {
                    expect_refused(&mut ws, &label).await;
                    let v = emu.sessions().pop().unwrap().violations();
                    assert!(
                        v.iter().any(|v| v.kind == ViolationKind::ModelProfile),
                        "{label}: {v:?}"
                    );
                }
            }
        }
    }
}

#[tokio::test]
async fn thinking_config_per_profile() {
    let emu = emu().await;
    for b in BACKENDS {
        for m in MODELS {
            // (thinkingConfig, accepted)
            let cases = [
                (json!({"includeThoughts": true}), m != M38),
                (json!({"thinkingBudget": 0}), m == M25),
                (json!({"thinkingLevel": "LOW"}), m == M31 || m == EXT),
                (json!({"thinking_level": "LOW"}), m == M31 || m == EXT),
            ];
            for (tc, ok) in cases {
                let label = format!("{m} on {b:?}, {tc}");
                let s = setup(
                    m,
                    b,
                    json!({"generationConfig": {"responseModalities": ["TEXT"], "thinkingConfig": tc}}),
                );
                match try_start(&url(&emu, b), s).await {
                    Ok(_) => assert!(ok, "{label}: accepted"),
                    Err((code, reason)) => {
                        assert!(!ok, "{label}: refused {code} {reason}");
                        assert_eq!((code, reason.as_str()), (1007, REFUSED), "{label}");
                        last_violation_is_profile(&emu, &label);
                    }
                }
            }
        }
    }
}

fn client_content(text: &str, turn_complete: bool) -> Value {
    json!({"clientContent": {"turns": [{"role": "user", "parts": [{"text": text}]}],
        "turnComplete": turn_complete}})
}

#[tokio::test]
async fn client_content_mid_session_per_profile() {
    let emu = emu().await;
    for b in BACKENDS {
        for m in MODELS {
            let label = format!("{m} on {b:?}");
            let mut ws = start(&url(&emu, b), setup(m, b, json!({}))).await;
            send(&mut ws, client_content("hello", true)).await;
            if m == M31 {
                expect_refused(&mut ws, &label).await;
                last_violation_is_profile(&emu, &label);
            } else {
                recv_until(&mut ws, is_turn_complete).await;
                expect_accepted(&emu, &mut ws, &label).await;
            }
        }
    }
}

#[tokio::test]
async fn initial_history_then_realtime_input() {
    let emu = emu().await;
    for b in BACKENDS {
        for m in MODELS {
            let label = format!("{m} on {b:?}");
            let mut ws = start(
                &url(&emu, b),
                setup(
                    m,
                    b,
                    json!({"historyConfig": {"initialHistoryInClientContent": true}}),
                ),
            )
            .await;
            // The history: context only, no model call.
            send(&mut ws, client_content("earlier", false)).await;
            send(&mut ws, client_content("and then", true)).await;
            expect_silence(&mut ws, Duration::from_millis(300)).await;
            // Then realtime input starts the conversation.
            send(&mut ws, text_msg("go on")).await;
            recv_until(&mut ws, is_turn_complete).await;
            expect_accepted(&emu, &mut ws, &label).await;
            // After the history, clientContent is mid-session again.
            send(&mut ws, client_content("more", true)).await;
            if m == M31 {
                expect_refused(&mut ws, &label).await;
            } else {
                recv_until(&mut ws, is_turn_complete).await;
                expect_accepted(&emu, &mut ws, &label).await;
            }
        }
    }
}

fn statuses(got: &[Got]) -> Vec<String> {
    got.iter()
        .filter_map(|g| match g {
            Got::Msg(v, _) if is_turn_complete(v) => Some(
                v["serverContent"]["interactionStatus"]
                    .as_str()
                    .unwrap_or("-")
                    .to_string(),
            ),
            _ => None,
        })
        .collect()
}

#[tokio::test]
async fn extended_thinking_interaction_status_sequence() {
    let emu = emu().await;
    for b in BACKENDS {
        let label = format!("{EXT} on {b:?}");
        let mut ws = start(
            &url(&emu, b),
            setup(EXT, b, json!({"tools": search(Some("NON_BLOCKING"))})),
        )
        .await;
        // 1. The call is open when the turn ends: IN_PROGRESS.
        send(&mut ws, text_msg("go")).await;
        let got = recv_until(&mut ws, is_turn_complete).await;
        let id = call_id(&got);
        assert_eq!(statuses(&got), ["IN_PROGRESS"], "{label}");
        // 2. A partial result (Developer API: willContinue) is voiced; the call is still
        //    open: IN_PROGRESS. On Vertex, a second call instead.
        let second = if b == Backend::DeveloperApi {
            send(&mut ws, response(&id, json!({"willContinue": true}))).await;
            let got = recv_until(&mut ws, is_turn_complete).await;
            assert_eq!(statuses(&got), ["IN_PROGRESS"], "{label}");
            id.clone()
        } else {
            send(&mut ws, text_msg("again")).await;
            let got = recv_until(&mut ws, is_turn_complete).await;
            assert_eq!(statuses(&got), ["IN_PROGRESS"], "{label}");
            send(&mut ws, response(&id, json!({}))).await;
            let got = recv_until(&mut ws, is_turn_complete).await;
            // The first result voiced while the second call is open.
            assert_eq!(statuses(&got), ["IN_PROGRESS"], "{label}");
            call_id(&got_calls(&emu, 1))
        };
        // 3. The final result is voiced and nothing is left: IDLE.
        send(&mut ws, response(&second, json!({}))).await;
        let got = recv_until(&mut ws, is_turn_complete).await;
        assert_eq!(statuses(&got), ["IDLE"], "{label}");
        // 4. INTERRUPT: the cut turn says IN_PROGRESS (a result turn follows), the
        //    result turn IDLE.
        send(&mut ws, text_msg("once more")).await;
        let got = recv_until(&mut ws, has_tool_call).await;
        let id = call_id(&got);
        send(&mut ws, response(&id, json!({"scheduling": "INTERRUPT"}))).await;
        let mut seen = Vec::new();
        while seen.last().map(String::as_str) != Some("IDLE") {
            let got = recv_until(&mut ws, is_turn_complete).await;
            seen.extend(statuses(&got));
        }
        assert_eq!(
            seen.first().map(String::as_str),
            Some("IN_PROGRESS"),
            "{label}: {seen:?}"
        );
        let s = emu.sessions().pop().unwrap();
        assert!(s.violations().is_empty(), "{label}: {:?}", s.violations());
    }
}

/// The `n`th call the newest session issued, as a fake `Got` list for `call_id`.
fn got_calls(emu: &EmulatorHandle, n: usize) -> Vec<Got> {
    let c = &emu.sessions().pop().unwrap().function_calls_issued()[n];
    vec![Got::Msg(
        json!({"toolCall": {"functionCalls": [{"id": c.id, "name": c.name}]}}),
        true,
    )]
}

#[tokio::test]
async fn new_input_cancels_a_blocking_call_on_3_8() {
    let emu = emu().await;
    for b in BACKENDS {
        for m in [M25, M38] {
            let label = format!("{m} on {b:?}");
            // No barge-in: only the 3.8 rule can cancel the call.
            let mut ws = start(
                &url(&emu, b),
                setup(
                    m,
                    b,
                    json!({"tools": search(Some("BLOCKING")),
                       "realtimeInputConfig": {"activityHandling": "NO_INTERRUPTION"}}),
                ),
            )
            .await;
            send(&mut ws, text_msg("go")).await;
            let id = call_id(&recv_until(&mut ws, has_tool_call).await);
            send(&mut ws, audio_msg(&voiced_b64(100))).await;
            if m == M38 {
                let got = recv_until(&mut ws, |v| v.get("toolCallCancellation").is_some()).await;
                let c = got.last().unwrap().json();
                assert_eq!(c["toolCallCancellation"]["ids"], json!([id]), "{label}");
                // The model is released: the turn goes on and ends.
                recv_until(&mut ws, is_turn_complete).await;
            } else {
                expect_silence(&mut ws, Duration::from_millis(300)).await;
            }
            expect_accepted(&emu, &mut ws, &label).await;
        }
    }
}

#[tokio::test]
async fn parameters_json_schema_is_planned_as_text_on_extended_thinking() {
    let emu = emu().await;
    for b in BACKENDS {
        for m in [EXT, M38] {
            let label = format!("{m} on {b:?}");
            let decl = tools(json!([{"name": "search", "behavior": "NON_BLOCKING",
                "parametersJsonSchema": {"type": "object", "properties": {"q": {"type": "string"}}}}]));
            let mut ws = start(&url(&emu, b), setup(m, b, json!({"tools": decl}))).await;
            send(&mut ws, text_msg("go")).await;
            let got = recv_until(&mut ws, is_turn_complete).await;
            let called = got.iter().any(|g| has_tool_call(g.json()));
            let s = emu.sessions().pop().unwrap();
            if m == EXT {
                assert!(!called, "{label}");
                assert!(
                    s.violations()
                        .iter()
                        .any(|v| v.kind == ViolationKind::ModelProfile),
                    "{label}"
                );
                assert!(s.is_connected(), "{label}");
            } else {
                assert!(called, "{label}");
                assert!(s.violations().is_empty(), "{label}: {:?}", s.violations());
            }
        }
    }
}

#[tokio::test]
async fn the_3x_models_are_known_by_default() {
    let emu = emu().await;
    for b in BACKENDS {
        for m in MODELS {
            start(&url(&emu, b), setup(m, b, json!({}))).await;
        }
    }
}
