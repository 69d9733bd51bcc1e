//! Resumption handles are checkpoints (the default `ResumptionMode::Checkpoint`), the
//! function-call ledger that proves which responses the server acted on, and the faults
//! robustness tests use: closes right after setup, a socket no longer read, arbitrary
//! injected frames. All over real sockets with a raw websocket client.

mod emulator_support;

use std::time::{Duration, Instant};

use emulator_support::*;
use futures::StreamExt;
use genai_wire::emulator::{
    Emulator, EmulatorHandle, Fault, IgnoreReason, Scenario, Scheduling, ViolationKind, kind,
};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

const NB: &str = r#"{"audio":{"speed":5},"toolResult":{"ms":200,"text":"Result from {name}."},
  "steps":[{"waitUserTurn":{}},{"speak":{"ms":200,"text":"Calling."}},
           {"call":{"name":"search","args":{}}},{"endTurn":{}}]}"#;

async fn emulator() -> EmulatorHandle {
    Emulator::builder()
        .scenario(Scenario::from_json(NB).unwrap())
        .bind("127.0.0.1:0")
        .await
        .unwrap()
}

fn resumable_setup(handle: Option<&str>, with_tool: bool) -> Value {
    let mut sr = json!({});
    if let Some(h) = handle {
        sr["handle"] = json!(h);
    }
    let mut extra = json!({"sessionResumption": sr, "outputAudioTranscription": {}});
    if with_tool {
        extra["tools"] = tools(json!([{"name": "search", "behavior": "NON_BLOCKING"}]));
    }
    dev_setup(extra)
}

fn handle_of(v: &Value) -> Option<String> {
    v["sessionResumptionUpdate"]["newHandle"]
        .as_str()
        .map(str::to_string)
}

fn not_resumable(v: &Value) -> bool {
    v == &json!({"sessionResumptionUpdate": {"resumable": false}})
}

/// Connects (resuming with `handle` if given), expects `setupComplete` and then a fresh
/// handle; returns the socket and that handle.
async fn open(emu: &EmulatorHandle, handle: Option<&str>, with_tool: bool) -> (Ws, String) {
    let mut ws = connect(&emu.ws_url()).await;
    send(&mut ws, resumable_setup(handle, with_tool)).await;
    let g = recv(&mut ws).await;
    assert!(has(g.json(), "setupComplete"), "{g:?}");
    let g = recv(&mut ws).await;
    let h = handle_of(g.json()).unwrap_or_else(|| panic!("a handle after setup, got {g:?}"));
    (ws, h)
}

fn call_id(got: &[Got]) -> String {
    got.iter()
        .find_map(|g| match g {
            Got::Msg(v, _) => v["toolCall"]["functionCalls"][0]["id"]
                .as_str()
                .map(str::to_string),
            Got::Close(..) => None,
        })
        .expect("a toolCall")
}

fn said(got: &[Got]) -> String {
    got.iter()
        .filter_map(|g| match g {
            Got::Msg(v, _) => v["serverContent"]["outputTranscription"]["text"].as_str(),
            Got::Close(..) => None,
        })
        .collect()
}

fn response(id: &str, extra: Value) -> Value {
    let mut fr = json!({"id": id, "name": "search", "response": {"output": 42}});
    for (k, v) in extra.as_object().unwrap() {
        fr[k] = v.clone();
    }
    json!({"toolResponse": {"functionResponses": [fr]}})
}

/// A user turn that starts a call; returns the call id. The turn ends with the call
/// open, so the update after it says "not resumable".
async fn turn_with_call(ws: &mut Ws) -> String {
    send(ws, text_msg("search")).await;
    let got = recv_until(ws, is_turn_complete).await;
    assert_eq!(said(&got), "Calling.");
    assert!(not_resumable(recv(ws).await.json()));
    call_id(&got)
}

async fn close_and_wait(ws: &mut Ws, emu: &EmulatorHandle, conn: u32) {
    ws.close(None).await.unwrap();
    let s = emu.wait_for_session(T).await.unwrap();
    s.wait_closed(conn, T).await.unwrap();
}

#[tokio::test]
async fn a_handle_from_before_a_call_does_not_know_it() {
    let emu = emulator().await;
    let (mut ws, h1) = open(&emu, None, true).await;
    let id = turn_with_call(&mut ws).await;
    close_and_wait(&mut ws, &emu, 0).await;

    // Resume with the handle from before the call.
    let (mut ws, h2) = open(&emu, Some(&h1), true).await;
    assert_ne!(h1, h2);
    let s = emu.wait_for_session(T).await.unwrap();
    assert_eq!(emu.sessions().len(), 1, "the resumed connection joined");
    send(&mut ws, response(&id, json!({"scheduling": "INTERRUPT"}))).await;
    let ignored = s.wait_for_ignored_response(1, T).await.unwrap();
    assert_eq!(
        (ignored.conn, ignored.id.as_str(), ignored.name.as_str()),
        (1, id.as_str(), "search")
    );
    assert_eq!(ignored.reason, IgnoreReason::UnknownId);
    // Nothing was generated for it: the next thing the model says answers the next
    // user turn (a result turn would have started before the server read this text).
    send(&mut ws, text_msg("hello")).await;
    let got = recv_until(&mut ws, is_turn_complete).await;
    assert!(not_resumable(got[0].json()), "{:?}", got[0]);
    assert_eq!(said(&got), "Calling.");
    let id2 = call_id(&got);
    assert_ne!(id2, id, "the restored conversation draws new ids");
    assert!(s.accepted_function_responses().is_empty());

    // The ledger: the first call was issued after h1 (so h1 cannot know it).
    let calls = s.function_calls_issued();
    assert_eq!(calls.len(), 2, "{calls:?}");
    assert_eq!((calls[0].conn, calls[0].id.as_str()), (0, id.as_str()));
    assert_eq!((calls[1].conn, calls[1].id.as_str()), (1, id2.as_str()));
    assert!(s.handle_seq(&h1).unwrap() <= calls[0].handle_seq);
    assert!(s.handle_seq(&h2).unwrap() <= calls[1].handle_seq);
    assert_eq!(s.handle_seq("nonsense"), None);
    let v = s.violations();
    assert_eq!(v.len(), 1, "{v:?}");
    assert_eq!((v[0].kind, v[0].conn), (ViolationKind::UnknownCallId, 1));

    // The result delivered as conversation instead, while another call is open: it is
    // recorded, and the model voices it (not a new user turn: no new call).
    send(
        &mut ws,
        json!({"clientContent": {"turns": [{"role": "user", "parts": [{"text":
            format!("The result of search (call {id}) is 42.")}]}], "turnComplete": true}}),
    )
    .await;
    let got = recv_until(&mut ws, is_turn_complete).await;
    assert_eq!(said(&got), "Result from search.");
    assert!(!got.iter().any(|g| has(g.json(), "toolCall")));
    send(&mut ws, text_msg(&format!("search {id2} returned 7"))).await;
    let got = recv_until(&mut ws, is_turn_complete).await;
    assert_eq!(said(&got), "Result from search.");
    assert_eq!(s.function_calls_issued().len(), 2);
    let conv = s.conversation_results();
    assert_eq!(conv.len(), 2, "{conv:?}");
    assert_eq!(
        (conv[0].conn, conv[0].id.as_str(), conv[0].name.as_str()),
        (1, id.as_str(), "search")
    );
    assert_eq!(conv[0].via, kind::CLIENT_CONTENT);
    assert_eq!(
        (conv[1].id.as_str(), conv[1].via),
        (id2.as_str(), kind::TEXT)
    );
    assert_eq!(s.violations().len(), 1);
}

#[tokio::test]
async fn a_fresh_session_hears_results_of_the_old_sessions_calls() {
    let emu = emulator().await;
    let (mut ws, _) = open(&emu, None, true).await;
    let id = turn_with_call(&mut ws).await;
    let old = emu.wait_for_session(T).await.unwrap();
    old.expire_handles();
    close_and_wait(&mut ws, &emu, 0).await;

    // A new session (the handle was refused): the call is not its own, yet a text that
    // names it is recognised as its result.
    let (mut ws, _) = open(&emu, None, true).await;
    let fresh = emu.wait_for_sessions(2, T).await.unwrap().remove(1);
    // Context only (no turnComplete): nothing is said...
    send(
        &mut ws,
        json!({"clientContent": {"turns": [{"role": "user", "parts": [{"text":
            format!("Earlier, search (call {id}) found 42.")}]}], "turnComplete": false}}),
    )
    .await;
    fresh.wait_for_conversation_result(1, T).await.unwrap();
    // ... so the next thing the model says answers the next user turn.
    send(&mut ws, text_msg("and now?")).await;
    let got = recv_until(&mut ws, is_turn_complete).await;
    assert_eq!(said(&got), "Calling.");
    assert!(not_resumable(recv(&mut ws).await.json()));
    // With a reply asked for, it is voiced.
    send(&mut ws, text_msg(&format!("Result of search ({id}): 42"))).await;
    let got = recv_until(&mut ws, is_turn_complete).await;
    assert_eq!(said(&got), "Result from search.");
    let conv = fresh.conversation_results();
    assert_eq!(conv.len(), 2, "{conv:?}");
    assert!(
        conv.iter()
            .all(|c| c.id == id && c.name == "search" && c.conn == 0)
    );
    assert!(old.conversation_results().is_empty());
    // A made-up id is just text.
    send(&mut ws, text_msg("what about function-call-1?")).await;
    let got = recv_until(&mut ws, is_turn_complete).await;
    assert_eq!(said(&got), "Calling.");
    assert_eq!(fresh.conversation_results().len(), 2);
    assert!(fresh.violations().is_empty(), "{:?}", fresh.violations());
}

#[tokio::test]
async fn a_handle_after_the_answering_turn_resumes_with_the_call_closed() {
    let emu = emulator().await;
    let (mut ws, h1) = open(&emu, None, true).await;
    let id = turn_with_call(&mut ws).await;
    // Answered (WHEN_IDLE): voiced as its own turn, then the fresh handle.
    send(&mut ws, response(&id, json!({}))).await;
    let got = recv_until(&mut ws, is_turn_complete).await;
    assert_eq!(said(&got), "Result from search.");
    let h2 = handle_of(recv(&mut ws).await.json()).expect("a fresh handle after the turn");
    let s = emu.wait_for_session(T).await.unwrap();
    let call = &s.function_calls_issued()[0];
    assert!(s.handle_seq(&h2).unwrap() > call.handle_seq);
    close_and_wait(&mut ws, &emu, 0).await;

    // Resumed after the turn: the call is known, and closed.
    let (mut ws, _h3) = open(&emu, Some(&h2), true).await;
    send(&mut ws, response(&id, json!({}))).await;
    let ignored = s.wait_for_ignored_response(1, T).await.unwrap();
    assert_eq!((ignored.conn, ignored.reason), (1, IgnoreReason::Closed));
    close_and_wait(&mut ws, &emu, 1).await;

    // The older handle still names its own checkpoint, where the call never happened.
    let (mut ws, _) = open(&emu, Some(&h1), true).await;
    send(&mut ws, response(&id, json!({}))).await;
    let ignored = s.wait_for_ignored_response(2, T).await.unwrap();
    assert_eq!((ignored.conn, ignored.reason), (2, IgnoreReason::UnknownId));

    // Every call answered exactly once, by a response the server knew.
    let accepted = s.accepted_function_responses();
    assert_eq!(accepted.len(), 1, "{accepted:?}");
    assert_eq!(
        (accepted[0].conn, accepted[0].id.as_str()),
        (0, id.as_str())
    );
    assert!(!accepted[0].will_continue);
    assert_eq!(accepted[0].scheduling, None);
}

#[tokio::test]
async fn an_acknowledged_call_keeps_the_session_unresumable() {
    let emu = emulator().await;
    let (mut ws, h1) = open(&emu, None, true).await;
    let id = turn_with_call(&mut ws).await;
    // A partial result (willContinue) is voiced; the call stays open.
    send(
        &mut ws,
        response(
            &id,
            json!({"willContinue": true, "scheduling": "WHEN_IDLE"}),
        ),
    )
    .await;
    let got = recv_until(&mut ws, is_turn_complete).await;
    assert!(not_resumable(got[0].json()), "{:?}", got[0]);
    assert_eq!(said(&got), "Result from search.");
    assert!(not_resumable(recv(&mut ws).await.json()));
    // The final result, SILENT, closes it with the model idle: now a fresh handle.
    send(
        &mut ws,
        response(&id, json!({"willContinue": false, "scheduling": "SILENT"})),
    )
    .await;
    let h2 = handle_of(recv(&mut ws).await.json()).expect("a fresh handle");
    let s = emu.wait_for_session(T).await.unwrap();
    // The recording shows no handle between the two: h2 came after the final response.
    let frames = s.frames();
    let handles: Vec<(usize, String)> = frames
        .iter()
        .enumerate()
        .filter_map(|(i, f)| handle_of(&f.json()).map(|h| (i, h)))
        .collect();
    let last_response = frames
        .iter()
        .rposition(|f| f.is(kind::TOOL_RESPONSE))
        .unwrap();
    assert_eq!(
        handles.iter().map(|(_, h)| h.clone()).collect::<Vec<_>>(),
        [h1, h2]
    );
    assert!(handles[1].0 > last_response);
    let accepted = s.accepted_function_responses();
    assert_eq!(accepted.len(), 2);
    assert!(accepted[0].will_continue && !accepted[1].will_continue);
    assert_eq!(accepted[0].scheduling, Some(Scheduling::WhenIdle));
    assert_eq!(accepted[1].scheduling, Some(Scheduling::Silent));
}

#[tokio::test]
async fn the_fresh_handle_comes_a_lag_after_the_turn() {
    let emu = Emulator::builder()
        .scenario(Scenario::from_json(NB).unwrap())
        .handle_lag(Duration::from_millis(400))
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    // No tool declared: the turn has no call.
    let (mut ws, _) = open(&emu, None, false).await;
    send(&mut ws, text_msg("hi")).await;
    recv_until(&mut ws, is_turn_complete).await;
    let t0 = Instant::now();
    let g = recv(&mut ws).await;
    assert!(handle_of(g.json()).is_some(), "{g:?}");
    assert!(
        t0.elapsed() >= Duration::from_millis(350),
        "{:?}",
        t0.elapsed()
    );
}

#[tokio::test]
async fn handles_older_than_the_kept_checkpoints_are_refused() {
    let emu = Emulator::builder()
        .scenario(Scenario::from_json(NB).unwrap())
        .checkpoints_kept(2)
        .handle_lag(Duration::ZERO)
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    let (mut ws, h1) = open(&emu, None, false).await;
    let mut handles = vec![h1];
    for _ in 0..2 {
        send(&mut ws, text_msg("hi")).await;
        recv_until(&mut ws, is_turn_complete).await;
        handles.push(handle_of(recv(&mut ws).await.json()).unwrap());
    }
    close_and_wait(&mut ws, &emu, 0).await;
    let mut old = connect(&emu.ws_url()).await;
    send(&mut old, resumable_setup(Some(&handles[0]), false)).await;
    assert_eq!(
        recv(&mut old).await.close(),
        (1008, "BidiGenerateContent session not found")
    );
    let (_ws, _) = open(&emu, Some(&handles[1]), false).await;
    let v = emu.violations();
    assert_eq!(v.len(), 1, "{v:?}");
    assert_eq!(v[0].1.kind, ViolationKind::Resumption);
}

#[tokio::test]
async fn close_after_setup_closes_the_next_connections() {
    let emu = Emulator::builder()
        .scenario(Scenario::from_json(NB).unwrap())
        .close_after_setup(1011, "Internal error occurred.", 2)
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    for _ in 0..2 {
        let mut ws = start(&emu.ws_url(), resumable_setup(None, false)).await;
        assert_eq!(
            recv(&mut ws).await.close(),
            (1011, "Internal error occurred.")
        );
    }
    let (mut ws, h1) = open(&emu, None, false).await;
    let sessions = emu.wait_for_sessions(3, T).await.unwrap();
    let faults: Vec<Fault> = sessions[0].connections()[0]
        .faults
        .iter()
        .map(|f| f.fault.clone())
        .collect();
    assert_eq!(
        faults,
        [Fault::ClosedAfterSetup {
            code: 1011,
            reason: "Internal error occurred.".into()
        }]
    );
    assert!(sessions[2].connections()[0].faults.is_empty());

    // Armed at run time: a resumed connection is closed too, and its checkpoint stays
    // usable.
    close_and_wait(&mut ws, &emu, 0).await;
    let s = sessions[2].clone();
    s.wait_closed(0, T).await.unwrap();
    emu.close_after_setup(1011, "Internal error occurred.", Some(1));
    let mut ws = start(&emu.ws_url(), resumable_setup(Some(&h1), false)).await;
    assert_eq!(recv(&mut ws).await.close().0, 1011);
    s.wait_closed(1, T).await.unwrap();
    let (mut ws, _) = open(&emu, Some(&h1), false).await;
    send(&mut ws, text_msg("hi")).await;
    assert_eq!(
        said(&recv_until(&mut ws, is_turn_complete).await),
        "Calling."
    );
    let conns = s.connections();
    assert_eq!(conns.len(), 3);
    assert!(conns[1].resumed && !conns[1].faults.is_empty());
    assert!(conns[2].faults.is_empty());

    // Every connection, until cleared.
    emu.close_after_setup(1011, "Internal error occurred.", None);
    for _ in 0..3 {
        let mut ws = start(&emu.ws_url(), dev_setup(json!({}))).await;
        assert_eq!(recv(&mut ws).await.close().0, 1011);
    }
    emu.clear_close_after_setup();
    let mut ws = start(&emu.ws_url(), dev_setup(json!({}))).await;
    send(&mut ws, text_msg("hi")).await;
    recv_until(&mut ws, is_turn_complete).await;
}

#[tokio::test]
async fn stop_reading_lets_the_clients_writes_block() {
    use futures::SinkExt as _;
    let emu = emulator().await;
    let mut ws = start(&emu.ws_url(), dev_setup(json!({}))).await;
    let s = emu.wait_for_session(T).await.unwrap();
    assert!(s.stop_reading());
    // Commands run in order: once the goAway arrives, reading has stopped. The
    // emulator still sends.
    assert!(s.go_away(Duration::from_secs(60)));
    assert_eq!(
        recv(&mut ws).await.json(),
        &json!({"goAway": {"timeLeft": "60s"}})
    );
    let chunk = text_msg(&"x".repeat(64 << 10)).to_string();
    let mut written = 0usize;
    loop {
        let msg = Message::Text(chunk.clone().into());
        match tokio::time::timeout(Duration::from_secs(2), ws.send(msg)).await {
            Ok(Ok(())) => written += chunk.len(),
            Ok(Err(e)) => panic!("send failed after {written} bytes: {e}"),
            Err(_) => break, // blocked: the emulator's receive buffer is full
        }
        assert!(written < 1 << 30, "never blocked after {written} bytes");
    }
    assert!(written > 0);
    assert_eq!(s.count(kind::TEXT), 0, "nothing was read");
    let faults: Vec<Fault> = s.connections()[0]
        .faults
        .iter()
        .map(|f| f.fault.clone())
        .collect();
    assert_eq!(
        faults,
        [
            Fault::StoppedReading,
            Fault::GoAway(Duration::from_secs(60))
        ]
    );
}

#[tokio::test]
async fn inject_sends_any_frame_verbatim() {
    let emu = emulator().await;
    let mut ws = start(&emu.ws_url(), dev_setup(json!({}))).await;
    let s = emu.wait_for_session(T).await.unwrap();
    let absurd = r#"{"goAway":{"timeLeft":"99999999999999999s"}}"#;
    assert!(s.inject(absurd));
    assert_eq!(
        recv(&mut ws).await.json(),
        &json!({"goAway": {"timeLeft": "99999999999999999s"}})
    );
    // Larger than the emulator ever sends on its own, and not JSON.
    let big = vec![b'{'; 2 << 20];
    assert!(emu.control().inject_bytes(&s.id(), &big));
    match tokio::time::timeout(T, ws.next()).await.unwrap() {
        Some(Ok(Message::Binary(b))) => assert_eq!(b.len(), big.len()),
        other => panic!("{other:?}"),
    }
    let faults: Vec<Fault> = s.connections()[0]
        .faults
        .iter()
        .map(|f| f.fault.clone())
        .collect();
    assert_eq!(
        faults,
        [
            Fault::Injected {
                kind: kind::GO_AWAY,
                len: absurd.len(),
                text: false
            },
            Fault::Injected {
                kind: kind::OTHER,
                len: big.len(),
                text: false
            }
        ]
    );
}
