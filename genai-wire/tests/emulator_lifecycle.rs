//! Connection lifecycle over real sockets: goAway and lifetime, session resumption,
//! fault injection, shutdown.

mod emulator_support;

use std::time::{Duration, Instant};

use emulator_support::*;
use futures::{SinkExt, StreamExt};
use genai_wire::Backend;
use genai_wire::emulator::{
    CloseBy, Emulator, EmulatorHandle, Fault, ResumptionMode, Scenario, ViolationKind, kind,
};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

const NB: &str = r#"{"audio":{"speed":5},"toolResult":{"ms":200,"text":"Result from {name}."},
  "steps":[{"waitUserTurn":{}},{"speak":{"ms":200,"text":"Calling."}},
           {"call":{"name":"search","args":{}}},{"endTurn":{}}]}"#;

async fn nb_emulator() -> EmulatorHandle {
    Emulator::builder()
        .scenario(Scenario::from_json(NB).unwrap())
        .bind("127.0.0.1:0")
        .await
        .unwrap()
}

fn resumable_setup(handle: Option<&str>) -> Value {
    let mut sr = json!({});
    if let Some(h) = handle {
        sr["handle"] = json!(h);
    }
    dev_setup(
        json!({"sessionResumption": sr, "outputAudioTranscription": {},
        "tools": tools(json!([{"name": "search", "behavior": "NON_BLOCKING"}]))}),
    )
}

fn handle_of(v: &Value) -> Option<String> {
    v["sessionResumptionUpdate"]["newHandle"]
        .as_str()
        .map(str::to_string)
}

#[tokio::test]
async fn go_away_then_close_at_the_end_of_the_lifetime() {
    let emu = Emulator::builder()
        .scenario(Scenario::silent())
        .connection_lifetime(Duration::from_millis(1500))
        .goaway_lead(Duration::from_secs(1))
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    let t0 = Instant::now();
    let mut ws = start(&emu.ws_url(), dev_setup(json!({}))).await;
    let g = recv(&mut ws).await;
    assert_eq!(g.json(), &json!({"goAway": {"timeLeft": "1s"}}));
    let at = t0.elapsed();
    assert!(
        at >= Duration::from_millis(400) && at < Duration::from_millis(1400),
        "{at:?}"
    );
    let g = recv(&mut ws).await;
    assert_eq!(g.close(), (1000, "connection lifetime reached"));
    assert!(t0.elapsed() >= Duration::from_millis(1400));
}

#[tokio::test]
async fn go_away_on_demand_and_from_a_scenario() {
    let emu = Emulator::builder()
        .scenario(
            Scenario::from_json(r#"{"steps":[{"waitUserTurn":{}},{"goAway":{"timeLeftMs":300}}]}"#)
                .unwrap(),
        )
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    let mut ws = start(&emu.ws_url(), dev_setup(json!({}))).await;
    let s = emu.wait_for_session(T).await.unwrap();
    assert!(s.go_away(Duration::from_millis(1500)));
    assert_eq!(
        recv(&mut ws).await.json(),
        &json!({"goAway": {"timeLeft": "1.500s"}})
    );
    send(&mut ws, text_msg("hi")).await;
    assert_eq!(
        recv(&mut ws).await.json(),
        &json!({"goAway": {"timeLeft": "0.300s"}})
    );
    assert_eq!(recv(&mut ws).await.close().0, 1000);
}

/// `ResumptionMode::Latest` (an explicit opt-in, not the real server): any handle
/// resumes the latest state, so a call issued after the handle is still open on the new
/// socket. The checkpoint truth is in `emulator_checkpoint.rs`.
#[tokio::test]
async fn latest_mode_resumption_continues_an_open_call_on_a_new_socket() {
    let emu = Emulator::builder()
        .scenario(Scenario::from_json(NB).unwrap())
        .resumption_mode(ResumptionMode::Latest)
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    let mut ws = connect(&emu.ws_url()).await;
    send(&mut ws, resumable_setup(None)).await;
    assert!(has(recv(&mut ws).await.json(), "setupComplete"));
    let first = recv(&mut ws).await;
    let handle = handle_of(first.json()).expect("a handle right after setup");
    assert_eq!(first.json()["sessionResumptionUpdate"]["resumable"], true);

    send(&mut ws, text_msg("search")).await;
    let got = recv_until(&mut ws, is_turn_complete).await;
    let id = got
        .iter()
        .find_map(|g| {
            g.json()["toolCall"]["functionCalls"][0]["id"]
                .as_str()
                .map(str::to_string)
        })
        .unwrap();
    // While generating / with a call open, the session is not resumable.
    assert!(
        got.iter()
            .any(|g| g.json()["sessionResumptionUpdate"] == json!({"resumable": false}))
    );
    let after = recv(&mut ws).await;
    assert_eq!(
        after.json(),
        &json!({"sessionResumptionUpdate": {"resumable": false}})
    );

    ws.close(None).await.unwrap();
    let s = emu.wait_for_session(T).await.unwrap();
    s.wait_closed(0, T).await.unwrap();

    // New socket, same conversation.
    let mut ws = connect(&emu.ws_url()).await;
    send(&mut ws, resumable_setup(Some(&handle))).await;
    assert!(has(recv(&mut ws).await.json(), "setupComplete"));
    assert_eq!(
        recv(&mut ws).await.json(),
        &json!({"sessionResumptionUpdate": {"resumable": false}})
    );
    send(&mut ws, json!({"toolResponse": {"functionResponses": [{"id": id, "name": "search", "response": {"output": 42}}]}})).await;
    let got = recv_until(&mut ws, is_turn_complete).await;
    let said: String = got
        .iter()
        .filter_map(|g| {
            g.json()["serverContent"]["outputTranscription"]["text"]
                .as_str()
                .map(str::to_string)
        })
        .collect();
    assert_eq!(said, "Result from search.");
    // Call closed, model idle: resumable again, with a new handle.
    let upd = recv(&mut ws).await;
    assert!(
        handle_of(upd.json()).is_some_and(|h| h != handle),
        "{upd:?}"
    );

    let sessions = emu.sessions();
    assert_eq!(
        sessions.len(),
        1,
        "the resumed connection joined the first session"
    );
    let conns = sessions[0].connections();
    assert_eq!(conns.len(), 2);
    assert!(conns[1].resumed);
    assert!(
        sessions[0].violations().is_empty(),
        "{:?}",
        sessions[0].violations()
    );
    assert!(
        sessions[0]
            .frames()
            .iter()
            .any(|f| f.conn == 1 && f.is(kind::TOOL_RESPONSE))
    );
}

#[tokio::test]
async fn resuming_a_session_that_is_still_connected_closes_1011() {
    let emu = nb_emulator().await;
    let mut ws = connect(&emu.ws_url()).await;
    send(&mut ws, resumable_setup(None)).await;
    recv(&mut ws).await;
    let handle = handle_of(recv(&mut ws).await.json()).unwrap();
    let mut second = connect(&emu.ws_url()).await;
    send(&mut second, resumable_setup(Some(&handle))).await;
    assert_eq!(recv(&mut second).await.close().0, 1011);
    // The first connection is unaffected.
    send(&mut ws, text_msg("still there?")).await;
    assert!(recv_until(&mut ws, is_turn_complete).await.len() > 1);
}

#[tokio::test]
async fn unknown_or_stale_handles_close_1008() {
    let emu = nb_emulator().await;
    for bad in ["nonsense", "CiQ5ZjVhNzk5ZS1mOGIz"] {
        let mut ws = connect(&emu.ws_url()).await;
        send(&mut ws, resumable_setup(Some(bad))).await;
        assert_eq!(
            recv(&mut ws).await.close(),
            (1008, "BidiGenerateContent session not found")
        );
    }
    // A real handle, invalidated.
    let mut ws = connect(&emu.ws_url()).await;
    send(&mut ws, resumable_setup(None)).await;
    recv(&mut ws).await;
    let handle = handle_of(recv(&mut ws).await.json()).unwrap();
    ws.close(None).await.unwrap();
    let s = emu.wait_for_sessions(3, T).await.unwrap().remove(2);
    assert_eq!(s.latest_handle().as_deref(), Some(handle.as_str()));
    s.wait_closed(0, T).await.unwrap();
    s.expire_handles();
    let mut ws = connect(&emu.ws_url()).await;
    send(&mut ws, resumable_setup(Some(&handle))).await;
    assert_eq!(recv(&mut ws).await.close().0, 1008);
    let kinds: Vec<_> = emu.violations().into_iter().map(|(_, v)| v.kind).collect();
    assert!(
        kinds.iter().all(|k| *k == ViolationKind::Resumption),
        "{kinds:?}"
    );
}

#[tokio::test]
async fn a_session_without_resumption_cannot_be_resumed() {
    let emu = nb_emulator().await;
    let mut ws = start(&emu.ws_url(), dev_setup(json!({}))).await;
    let s = emu.wait_for_session(T).await.unwrap();
    // It got no handles; forge one from another session to be sure ids matter.
    let mut other = connect(&emu.ws_url()).await;
    send(&mut other, resumable_setup(None)).await;
    recv(&mut other).await;
    let h = handle_of(recv(&mut other).await.json()).unwrap();
    assert!(s.latest_handle().is_none());
    ws.close(None).await.unwrap();
    other.close(None).await.unwrap();
    // The other session's handle still works after it disconnected.
    let sessions = emu.wait_for_sessions(2, T).await.unwrap();
    sessions[1].wait_closed(0, T).await.unwrap();
    let mut ws = connect(&emu.ws_url()).await;
    send(&mut ws, resumable_setup(Some(&h))).await;
    assert!(has(recv(&mut ws).await.json(), "setupComplete"));
}

#[tokio::test]
async fn vertex_transparent_resumption_reports_the_consumed_index() {
    let emu = Emulator::builder()
        .backend(Backend::VertexAi)
        .scenario(Scenario::from_json(NB).unwrap())
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    let mut ws = connect(&emu.ws_url()).await;
    send(
        &mut ws,
        json!({"setup": {"model": "projects/p/locations/l/publishers/google/models/m",
        "sessionResumption": {"transparent": true}}}),
    )
    .await;
    recv(&mut ws).await;
    let u = recv(&mut ws).await;
    assert_eq!(
        u.json()["sessionResumptionUpdate"]["lastConsumedClientMessageIndex"],
        "0"
    );
    send(&mut ws, text_msg("one")).await;
    let got = recv_until(&mut ws, is_turn_complete).await;
    let last = got
        .iter()
        .rev()
        .find(|g| g.json().get("sessionResumptionUpdate").is_some());
    assert!(last.is_some());
    let upd = recv(&mut ws).await;
    assert_eq!(
        upd.json()["sessionResumptionUpdate"]["lastConsumedClientMessageIndex"],
        "1"
    );
    assert_eq!(upd.json()["sessionResumptionUpdate"]["resumable"], true);
}

#[tokio::test]
async fn fault_drop_is_seen_as_1006() {
    let emu = nb_emulator().await;
    let mut ws = start(&emu.ws_url(), dev_setup(json!({}))).await;
    let s = emu.wait_for_session(T).await.unwrap();
    assert!(s.drop_connection());
    assert_eq!(recv(&mut ws).await.close().0, 1006);
    let c = s.wait_closed(0, T).await.unwrap();
    assert_eq!(c.by, CloseBy::Dropped);
    assert!(!s.drop_connection(), "nothing left to drop");
}

#[tokio::test]
async fn fault_close_and_inject() {
    let emu = nb_emulator().await;
    let mut ws = start(&emu.ws_url(), dev_setup(json!({}))).await;
    let s = emu.wait_for_session(T).await.unwrap();
    let ctl = emu.control();
    assert!(ctl.inject(
        &s.id(),
        r#"{"serverContent":{"turnComplete":true},"futureField":1}"#
    ));
    let g = recv(&mut ws).await;
    assert_eq!(g.json()["futureField"], 1);
    assert!(s.inject_text(r#"{"goAway":{"timeLeft":"9s"}}"#));
    match recv(&mut ws).await {
        Got::Msg(v, binary) => {
            assert!(!binary);
            assert_eq!(v["goAway"]["timeLeft"], "9s");
        }
        other => panic!("{other:?}"),
    }
    assert!(ctl.close(&s.id(), 1011, "Internal error occurred."));
    assert_eq!(
        recv(&mut ws).await.close(),
        (1011, "Internal error occurred.")
    );
    assert_eq!(s.wait_closed(0, T).await.unwrap().by, CloseBy::Server);
}

#[tokio::test]
async fn stalled_pongs() {
    let emu = nb_emulator().await;
    let mut ws = start(&emu.ws_url(), dev_setup(json!({}))).await;
    // Pongs normally come right back.
    ws.send(Message::Ping(b"a".to_vec().into())).await.unwrap();
    let t0 = Instant::now();
    let m = tokio::time::timeout(T, ws.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(m, Message::Pong(b"a".to_vec().into()));
    assert!(t0.elapsed() < Duration::from_millis(300));
    // Stalled: the pong only comes after the stall.
    let s = emu.wait_for_session(T).await.unwrap();
    assert!(s.stall_pongs(Duration::from_millis(800)));
    until("the stall to start", || {
        s.connections()[0]
            .faults
            .iter()
            .any(|f| matches!(f.fault, Fault::StalledPongs(_)))
    })
    .await;
    ws.send(Message::Ping(b"b".to_vec().into())).await.unwrap();
    let t0 = Instant::now();
    let m = tokio::time::timeout(T, ws.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(m, Message::Pong(b"b".to_vec().into()));
    assert!(
        t0.elapsed() >= Duration::from_millis(600),
        "{:?}",
        t0.elapsed()
    );
}

#[tokio::test]
async fn shutdown_closes_every_session_1001() {
    let emu = nb_emulator().await;
    let mut a = start(&emu.ws_url(), dev_setup(json!({}))).await;
    let mut b = start(&emu.ws_url(), dev_setup(json!({}))).await;
    emu.wait_for_sessions(2, T).await.unwrap();
    let waiter =
        tokio::spawn(async move { (recv(&mut a).await.close().0, recv(&mut b).await.close().0) });
    emu.shutdown().await;
    assert_eq!(waiter.await.unwrap(), (1001, 1001));
}

#[tokio::test]
async fn transcripts_use_the_recordings_format() {
    let dir = std::env::temp_dir().join(format!("emu-transcript-{}", std::process::id()));
    let path = dir.with_extension("log");
    let _ = std::fs::remove_file(&path);
    let emu = Emulator::builder()
        .scenario(Scenario::from_json(NB).unwrap())
        .transcript_out(&path)
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    let mut ws = start(&emu.ws_url(), dev_setup(json!({}))).await;
    send(&mut ws, text_msg("hi")).await;
    recv_until(&mut ws, is_turn_complete).await;
    ws.close(None).await.unwrap();
    let s = emu.wait_for_session(T).await.unwrap();
    s.wait_closed(0, T).await.unwrap();
    let t = s.transcript();
    let mut lines = t.lines();
    let first = lines.next().unwrap();
    assert!(
        first.starts_with(">") && first.contains(r#"{"setup":"#),
        "{first}"
    );
    let (len, json) = first[1..].split_once(' ').unwrap();
    assert_eq!(len.parse::<usize>().unwrap(), json.len());
    assert!(
        lines
            .next()
            .unwrap()
            .starts_with(r#"<20 {"setupComplete":{}}"#)
    );
    // The file sink gets the same lines once the connection ended.
    let written = || std::fs::read_to_string(&path).unwrap_or_default();
    until("the transcript file", || written() == t).await;
    assert_eq!(written(), t);
    let _ = std::fs::remove_file(&path);
}
