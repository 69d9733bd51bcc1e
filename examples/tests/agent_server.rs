//! The agent server's page protocol over a real websocket, from a raw client that
//! misbehaves on purpose: every malformed input closes that connection with a reason while
//! another page goes on; the token, Origin and session-limit checks; a closed page or a
//! shutdown cancelling running tools with nothing sent for them afterwards; the playback
//! fence against late audio a misbehaving server sends.

mod support;

use std::time::Duration;

use adk_live::bridge::page::{PageEvent, ToolPhase};
use examples::server::{AgentServer, ServerConfig};
use futures::{SinkExt, StreamExt};
use genai_wire::emulator::EmulatorHandle;
use serde_json::{Value, json};
use support::agent_server::{self, VOICE_SCENARIO};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::{Error as WsError, Message};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

const WAIT: Duration = Duration::from_secs(20);
const STAGE: Duration = Duration::from_millis(300);

/// A server in front of the voice agent's emulator.
async fn server(config: ServerConfig) -> (AgentServer, EmulatorHandle) {
    server_with(config, STAGE).await
}

async fn server_with(config: ServerConfig, stage: Duration) -> (AgentServer, EmulatorHandle) {
    let emulator = agent_server::emulator(VOICE_SCENARIO).await;
    let server = agent_server::start(config, &emulator, stage).await;
    (server, emulator)
}

fn ws_url(server: &AgentServer, query: &str) -> String {
    format!("ws://{}/ws{query}", server.addr())
}

/// Opens a socket with extra headers; Err is the HTTP status of a refused upgrade.
async fn open_with(url: &str, headers: &[(&str, &str)]) -> Result<Ws, u16> {
    let mut req = url.into_client_request().unwrap();
    for (k, v) in headers {
        req.headers_mut().insert(
            tokio_tungstenite::tungstenite::http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
            HeaderValue::from_str(v).unwrap(),
        );
    }
    match tokio_tungstenite::connect_async(req).await {
        Ok((ws, _)) => Ok(ws),
        Err(WsError::Http(resp)) => Err(resp.status().as_u16()),
        Err(e) => panic!("connect {url}: {e}"),
    }
}

async fn send_json(ws: &mut Ws, v: Value) {
    ws.send(Message::text(v.to_string())).await.unwrap();
}

/// Opens a page and completes the hello; returns the socket after `ready`.
async fn page(server: &AgentServer) -> Ws {
    let mut ws = open_with(&ws_url(server, ""), &[]).await.expect("upgrade");
    send_json(&mut ws, json!({"type": "hello", "protocol": 1})).await;
    match next_event(&mut ws).await {
        PageEvent::Ready {
            protocol,
            input_rate,
            output_rate,
            ..
        } => assert_eq!((protocol, input_rate, output_rate), (1, 16_000, 24_000)),
        other => panic!("expected ready, got {other:?}"),
    }
    ws
}

/// What the server sent next: an event, audio, or its close.
#[derive(Debug)]
enum In {
    Event(PageEvent),
    Audio(usize),
    Closed(Option<(u16, String)>),
}

async fn next(ws: &mut Ws) -> In {
    let frame = tokio::time::timeout(WAIT, ws.next())
        .await
        .expect("a frame from the server in time");
    match frame {
        None | Some(Err(_)) => In::Closed(None),
        Some(Ok(Message::Text(t))) => {
            In::Event(serde_json::from_str(&t).unwrap_or_else(|e| panic!("{t}: {e}")))
        }
        Some(Ok(Message::Binary(b))) => In::Audio(b.len()),
        Some(Ok(Message::Close(c))) => {
            In::Closed(c.map(|CloseFrame { code, reason }| (code.into(), reason.to_string())))
        }
        Some(Ok(_)) => Box::pin(next(ws)).await,
    }
}

async fn next_event(ws: &mut Ws) -> PageEvent {
    loop {
        match next(ws).await {
            In::Event(e) => return e,
            In::Audio(_) => {}
            In::Closed(c) => panic!("closed while waiting for an event: {c:?}"),
        }
    }
}

/// Reads until an event matches; everything read is returned.
async fn until(ws: &mut Ws, what: &str, pred: impl Fn(&PageEvent) -> bool) -> Vec<In> {
    let mut seen = Vec::new();
    loop {
        let f = next(ws).await;
        let done = matches!(&f, In::Event(e) if pred(e));
        if let In::Closed(c) = &f {
            panic!("closed while waiting for {what}: {c:?}; saw {seen:?}");
        }
        seen.push(f);
        if done {
            return seen;
        }
    }
}

/// Reads until the server closes; returns its close code and reason.
async fn closed(ws: &mut Ws) -> (u16, String) {
    loop {
        if let In::Closed(c) = next(ws).await {
            return c.expect("a close frame with a code");
        }
    }
}

fn is_tool(e: &PageEvent, name: &str, phase: ToolPhase) -> bool {
    matches!(e, PageEvent::Tool(u) if u.name == name && u.phase == phase)
}

/// A second page that is not disturbed: a typed turn gets the model's reply.
async fn still_talks(ws: &mut Ws) {
    send_json(
        ws,
        json!({"type": "text", "text": "flights to Lisbon please"}),
    )
    .await;
    until(ws, "the other page's tool call", |e| {
        is_tool(e, "search", ToolPhase::Started)
    })
    .await;
}

#[tokio::test]
async fn a_typed_turn_runs_the_tools_and_streams_audio() {
    let (server, _emu) = server(ServerConfig::default()).await;
    let mut ws = page(&server).await;
    send_json(
        &mut ws,
        json!({"type": "text", "text": "flights to Lisbon"}),
    )
    .await;
    let seen = until(&mut ws, "search completed", |e| {
        is_tool(e, "search", ToolPhase::Completed)
    })
    .await;
    let phases: Vec<ToolPhase> = seen
        .iter()
        .filter_map(|f| match f {
            In::Event(PageEvent::Tool(u)) if u.name == "search" => Some(u.phase),
            _ => None,
        })
        .collect();
    assert_eq!(
        &phases[..2],
        &[ToolPhase::Started, ToolPhase::Acked],
        "{phases:?}"
    );
    assert!(phases.contains(&ToolPhase::Progress));
    assert!(
        seen.iter()
            .any(|f| matches!(f, In::Audio(n) if *n > 0 && n % 2 == 0))
    );
    let completed = seen.iter().rev().find_map(|f| match f {
        In::Event(PageEvent::Tool(u)) if u.phase == ToolPhase::Completed => Some(u.elapsed_ms),
        _ => None,
    });
    assert!(
        completed.unwrap() >= 3 * STAGE.as_millis() as u64,
        "duration reported"
    );
    let health = http_get(&server, "/healthz").await;
    assert!(
        health.starts_with("HTTP/1.1 200") && health.contains("ok 1 pages"),
        "{health}"
    );
}

#[tokio::test]
async fn malformed_frames_close_only_their_page_with_a_reason() {
    let mut config = ServerConfig::default();
    config.limits.max_frame_bytes = 4096;
    let (server, _emu) = server(config).await;
    let mut other = page(&server).await;

    // (what the page sends, the close code, a word of the reason)
    let cases: Vec<(Message, u16, &str)> = vec![
        (Message::text("{not json"), 1007, "malformed"),
        (
            Message::text(r#"{"type":"launch"}"#),
            1007,
            "unknown variant",
        ),
        (Message::text(r#"{"type":"text"}"#), 1007, "missing field"),
        (
            Message::text(r#"{"type":"text","text":"x","x":1}"#),
            1007,
            "unknown field",
        ),
        (
            Message::text(r#"{"type":"hello","protocol":1}"#),
            1002,
            "hello sent twice",
        ),
        (Message::binary(vec![0u8; 641]), 1007, "not PCM16"),
        (Message::binary(vec![0u8; 5000]), 1009, "over the limit"),
        (Message::text("x".repeat(5000)), 1009, "over the limit"),
    ];
    for (frame, code, reason) in cases {
        let shown = format!("{frame:?}").chars().take(60).collect::<String>();
        let mut ws = page(&server).await;
        ws.send(frame).await.unwrap();
        let (got, why) = closed(&mut ws).await;
        assert_eq!(got, code, "{shown}: {why}");
        assert!(
            why.contains(reason),
            "{shown}: {why:?} should say {reason:?}"
        );
    }
    still_talks(&mut other).await;
}

#[tokio::test]
async fn the_hello_is_checked() {
    let mut config = ServerConfig::default();
    config.limits.hello_timeout = Duration::from_millis(300);
    let (server, emu) = server(config).await;
    let url = ws_url(&server, "");
    let cases: Vec<(Option<Message>, u16, &str)> = vec![
        (
            Some(Message::text(r#"{"type":"hello","protocol":2}"#)),
            1002,
            "unsupported protocol version 2; this server speaks 1",
        ),
        (
            Some(Message::binary(vec![0u8; 640])),
            1002,
            "the first frame must be hello",
        ),
        (
            Some(Message::text(r#"{"type":"text","text":"hi"}"#)),
            1002,
            "the first frame must be hello",
        ),
        (None, 1002, "no hello in time"),
    ];
    for (first, code, reason) in cases {
        let mut ws = open_with(&url, &[]).await.unwrap();
        if let Some(f) = first {
            ws.send(f).await.unwrap();
        }
        let (got, why) = closed(&mut ws).await;
        assert_eq!((got, why.as_str()), (code, reason));
    }
    assert!(emu.sessions().is_empty(), "no Live session was opened");
}

#[tokio::test]
async fn a_flood_and_an_idle_page_are_closed() {
    let mut config = ServerConfig::default();
    config.limits.max_frames_per_sec = 20;
    config.limits.idle_timeout = Duration::from_millis(500);
    let (server, _emu) = server(config).await;

    let mut flood = page(&server).await;
    for _ in 0..200 {
        if flood.send(Message::binary(vec![0u8; 640])).await.is_err() {
            break;
        }
    }
    assert_eq!(
        closed(&mut flood).await,
        (1008, "more than 20 frames per second".into())
    );

    let mut idle = page(&server).await;
    let (code, reason) = closed(&mut idle).await;
    assert_eq!((code, reason.as_str()), (1008, "idle for 500 ms"));
}

#[tokio::test]
async fn the_token_is_required_beyond_loopback_and_checked() {
    let mut config = ServerConfig::default();
    config.addr = "0.0.0.0:0".parse().unwrap();
    let emu = agent_server::emulator(VOICE_SCENARIO).await;
    let refused = AgentServer::start(config.clone(), agent_server::connector(&emu, STAGE))
        .await
        .unwrap_err();
    assert!(refused.contains("without an access token"), "{refused}");

    config.token = Some("a-token-of-16-chars-or-more".into());
    let server = agent_server::start(config, &emu, STAGE).await;
    let url = ws_url(&server, "");
    assert_eq!(open_with(&url, &[]).await.err(), Some(401));
    assert_eq!(
        open_with(&ws_url(&server, "?token=wrong"), &[]).await.err(),
        Some(401)
    );
    let ok = open_with(&ws_url(&server, "?token=a-token-of-16-chars-or-more"), &[]).await;
    assert!(ok.is_ok());
    let bearer = open_with(
        &url,
        &[("authorization", "Bearer a-token-of-16-chars-or-more")],
    )
    .await;
    assert!(bearer.is_ok());
}

#[tokio::test]
async fn a_foreign_origin_is_refused() {
    let mut config = ServerConfig::default();
    config.allowed_origins = vec!["https://kiosk.example".into()];
    let (server, _emu) = server(config).await;
    let url = ws_url(&server, "");
    let own = format!("http://{}", server.addr());
    assert_eq!(
        open_with(&url, &[("origin", "https://evil.example")])
            .await
            .err(),
        Some(403)
    );
    assert!(open_with(&url, &[("origin", &own)]).await.is_ok());
    assert!(
        open_with(&url, &[("origin", "https://kiosk.example")])
            .await
            .is_ok()
    );
}

#[tokio::test]
async fn the_session_limit_holds_until_a_page_has_gone() {
    let mut config = ServerConfig::default();
    config.limits.max_sessions = 1;
    let (server, _emu) = server(config).await;
    let mut first = page(&server).await;
    assert_eq!(open_with(&ws_url(&server, ""), &[]).await.err(), Some(503));
    first.close(None).await.unwrap();
    support::wait_until("the slot to come back", WAIT, || server.active_pages() == 0).await;
    page(&server).await;
}

/// Closing the page mid-tool ends the session: the tool is cancelled and no final
/// response for it reaches the model.
#[tokio::test]
async fn a_closed_page_cancels_its_tools() {
    let (server, emu) = server_with(ServerConfig::default(), Duration::from_secs(30)).await;
    let mut ws = page(&server).await;
    send_json(&mut ws, json!({"type": "text", "text": "flights"})).await;
    until(&mut ws, "search acked", |e| {
        is_tool(e, "search", ToolPhase::Acked)
    })
    .await;
    let session = emu.wait_for_session(WAIT).await.unwrap();
    ws.close(None).await.unwrap();
    session
        .wait_closed(0, WAIT)
        .await
        .expect("the Live session ended");
    let responses = session.accepted_function_responses();
    let search: Vec<_> = responses.iter().filter(|r| r.name == "search").collect();
    assert!(!search.is_empty(), "the ack reached the model");
    assert!(
        search.iter().all(|r| r.will_continue),
        "no final response for a cancelled call: {search:?}"
    );
    support::wait_until("the page's slot to come back", WAIT, || {
        server.active_pages() == 0
    })
    .await;
}

/// Asks for flights, cancels the search once acked; returns its id and what was read up
/// to its cancellation.
async fn cancel_a_running_search(ws: &mut Ws) -> (String, Vec<In>) {
    send_json(ws, json!({"type": "text", "text": "flights"})).await;
    let seen = until(ws, "search acked", |e| {
        is_tool(e, "search", ToolPhase::Acked)
    })
    .await;
    let call_id = seen
        .iter()
        .find_map(|f| match f {
            In::Event(PageEvent::Tool(u)) if u.name == "search" => Some(u.call_id.clone()),
            _ => None,
        })
        .unwrap();
    send_json(ws, json!({"type": "cancel_tool", "call_id": call_id})).await;
    let seen = until(ws, "search cancelled", |e| {
        is_tool(e, "search", ToolPhase::Cancelled)
    })
    .await;
    (call_id, seen)
}

/// A page can cancel a running call; the panel hears `cancelled by application`.
#[tokio::test]
async fn the_page_cancels_a_running_tool() {
    let (server, _emu) = server_with(ServerConfig::default(), Duration::from_secs(30)).await;
    let mut ws = page(&server).await;
    let (call_id, seen) = cancel_a_running_search(&mut ws).await;
    let Some(In::Event(PageEvent::Tool(u))) = seen.last() else {
        unreachable!()
    };
    assert_eq!(
        u.reason,
        Some(adk_live::bridge::page::CancelledBy::Application)
    );
    // Cancelling it again is a non-fatal error.
    send_json(&mut ws, json!({"type": "cancel_tool", "call_id": call_id})).await;
    until(
        &mut ws,
        "an error",
        |e| matches!(e, PageEvent::Error { message } if message.contains("no running tool call")),
    )
    .await;
}

/// A server that keeps sending audio of a turn after `interrupted`: none of it reaches
/// the page until the cut turn's `turnComplete`.
#[tokio::test]
async fn late_audio_of_an_interrupted_turn_is_fenced() {
    let (server, emu) = server(ServerConfig::default()).await;
    let mut ws = page(&server).await;
    let session = emu.wait_for_session(WAIT).await.unwrap();
    let audio = json!({"serverContent": {"modelTurn": {"parts": [{"inlineData": {
        "mimeType": "audio/pcm;rate=24000", "data": "AAABAAIAAwA="}}]}}})
    .to_string();
    for frame in [
        audio.clone(),
        json!({"serverContent": {"interrupted": true}}).to_string(),
        audio.clone(),
        audio.clone(),
        json!({"serverContent": {"turnComplete": true}}).to_string(),
        audio.clone(),
    ] {
        assert!(session.inject(frame));
    }
    let mut order = Vec::new();
    loop {
        match next(&mut ws).await {
            In::Audio(n) => order.push(format!("audio {n}")),
            In::Event(PageEvent::Interrupted) => order.push("interrupted".into()),
            In::Event(PageEvent::TurnComplete) => order.push("turn_complete".into()),
            In::Event(_) => continue,
            In::Closed(c) => panic!("closed: {c:?}"),
        }
        if order.len() == 4 {
            break;
        }
    }
    assert_eq!(
        order,
        ["audio 8", "interrupted", "turn_complete", "audio 8"]
    );
}

/// Shutdown closes every page with 1001 after telling it, and cancels running tools.
#[tokio::test]
async fn shutdown_closes_pages_and_cancels_tools() {
    let (server, emu) = server_with(ServerConfig::default(), Duration::from_secs(30)).await;
    let mut ws = page(&server).await;
    send_json(&mut ws, json!({"type": "text", "text": "flights"})).await;
    until(&mut ws, "search acked", |e| {
        is_tool(e, "search", ToolPhase::Acked)
    })
    .await;
    let session = emu.wait_for_session(WAIT).await.unwrap();
    let shutdown = tokio::spawn(server.shutdown());
    until(
        &mut ws,
        "the closing event",
        |e| matches!(e, PageEvent::Closed { reason } if reason.contains("shutting down")),
    )
    .await;
    assert_eq!(closed(&mut ws).await, (1001, "server shutting down".into()));
    tokio::time::timeout(WAIT, shutdown).await.unwrap().unwrap();
    session
        .wait_closed(0, WAIT)
        .await
        .expect("the Live session ended");
    assert!(
        session
            .accepted_function_responses()
            .iter()
            .filter(|r| r.name == "search")
            .all(|r| r.will_continue),
        "nothing final was sent for the cancelled search"
    );
}

async fn http_get(server: &AgentServer, path: &str) -> String {
    http_get_addr(server.addr(), path).await
}

#[tokio::test]
async fn the_page_and_its_worklets_are_served() {
    let (server, _emu) = server(ServerConfig::default()).await;
    let index = http_get(&server, "/").await;
    assert!(index.contains("text/html") && index.contains("<script src=\"app.js\">"));
    for js in ["/app.js", "/capture-worklet.js", "/playback-worklet.js"] {
        let r = http_get(&server, js).await;
        assert!(
            r.starts_with("HTTP/1.1 200") && r.contains("text/javascript"),
            "{js}"
        );
    }
    assert!(
        http_get(&server, "/nope.js")
            .await
            .starts_with("HTTP/1.1 404")
    );
}

/// The user's every turn calls the background `search` at once.
const SEARCH_EACH_TURN: &str = r#"{"repeat": true, "steps": [
    {"waitUserTurn": {}}, {"call": {"name": "search", "args": {"query": "flights"}}}, {"endTurn": {}}]}"#;

/// The binary refuses a public bind without a token, and drains on SIGTERM: readiness
/// 503 and new pages refused at once; a call goes on, and a tool result finished during
/// the drain reaches the model; at the deadline the tool still running is cancelled and
/// reported to the page, nothing is sent for it, the page is closed with 1001, and the
/// process exits 0.
#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_binary_drains_on_sigterm() {
    use std::io::{BufRead, BufReader};
    use std::process::{Command, Stdio};

    let exe = env!("CARGO_BIN_EXE_agent_server");
    let dir = support::scratch("agent-server-binary");
    let refused = support::example(exe, &dir)
        .args(["--addr", "0.0.0.0:0"])
        .output()
        .unwrap();
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("without an access token"));
    // A container (AGENT_SERVER_EMULATOR=off) without credentials refuses to start.
    let no_credentials = support::example(exe, &dir)
        .env("AGENT_SERVER_EMULATOR", "off")
        .args(["--addr", "127.0.0.1:0"])
        .output()
        .unwrap();
    assert!(!no_credentials.status.success());
    assert!(String::from_utf8_lossy(&no_credentials.stderr).contains("the emulator is off"));

    let emu = agent_server::emulator(SEARCH_EACH_TURN).await;
    // search takes 3 s; the drain deadline is 5 s.
    let mut child = support::example(exe, &dir)
        .args([
            "--addr",
            "127.0.0.1:0",
            "--search-stage-ms",
            "1000",
            "--drain-seconds",
            "5",
        ])
        .args(["--endpoint", &emu.ws_url()])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let url = tokio::task::spawn_blocking(move || {
        let url = lines
            .by_ref()
            .map_while(Result::ok)
            .find_map(|l| {
                l.strip_prefix("agent server ready: open ")
                    .map(str::to_owned)
            })
            .expect("the ready line");
        (url, lines)
    });
    let (url, lines) = tokio::time::timeout(WAIT, url).await.unwrap().unwrap();
    let addr: std::net::SocketAddr = url
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .parse()
        .unwrap();
    let ws_url = format!("ws://{addr}/ws");
    let mut ws = open_with(&ws_url, &[]).await.expect("upgrade");
    send_json(&mut ws, json!({"type": "hello", "protocol": 1})).await;
    send_json(&mut ws, json!({"type": "text", "text": "one"})).await;
    until(&mut ws, "search started", |e| {
        is_tool(e, "search", ToolPhase::Started)
    })
    .await;

    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    until(&mut ws, "the drain notice", |e| {
        matches!(e, PageEvent::Draining { deadline_ms: 5000 })
    })
    .await;
    assert!(
        http_get_addr(addr, "/healthz")
            .await
            .starts_with("HTTP/1.1 503")
    );
    assert!(
        http_get_addr(addr, "/livez")
            .await
            .starts_with("HTTP/1.1 200")
    );
    assert_eq!(
        open_with(&ws_url, &[]).await.err(),
        Some(503),
        "new pages refused"
    );

    // The first search finishes during the drain, and its result reaches the model.
    until(&mut ws, "the first search completed", |e| {
        is_tool(e, "search", ToolPhase::Completed)
    })
    .await;
    let session = emu.wait_for_session(WAIT).await.unwrap();
    support::wait_until("the result to reach the model", WAIT, || {
        session
            .accepted_function_responses()
            .iter()
            .any(|r| r.name == "search" && !r.will_continue)
    })
    .await;
    let metrics = http_get_addr(addr, "/metrics").await;
    assert!(metrics.contains("agent_draining 1"), "{metrics}");
    assert!(
        metrics.contains(r#"agent_tool_calls_total{outcome="completed"} 1"#),
        "{metrics}"
    );

    // A second search, still running at the deadline: cancelled and reported.
    send_json(&mut ws, json!({"type": "text", "text": "two"})).await;
    let seen = until(&mut ws, "the second search cancelled", |e| {
        is_tool(e, "search", ToolPhase::Cancelled)
    })
    .await;
    let Some(In::Event(PageEvent::Tool(u))) = seen.last() else {
        unreachable!()
    };
    assert_eq!(
        u.reason,
        Some(adk_live::bridge::page::CancelledBy::SessionEnded)
    );
    assert_eq!(closed(&mut ws).await, (1001, "server shutting down".into()));
    let status = tokio::task::spawn_blocking(move || child.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(status.success(), "{status:?}");
    let rest: Vec<String> = lines.map_while(Result::ok).collect();
    assert!(
        rest.iter()
            .any(|l| l.contains("0 finished on their own, 1 ended at the deadline")),
        "{rest:?}"
    );
    let finals = session
        .accepted_function_responses()
        .iter()
        .filter(|r| r.name == "search" && !r.will_continue)
        .count();
    assert_eq!(finals, 1, "nothing final was sent for the cancelled search");
}

/// `/metrics` counts what happened: sessions by transport, tool calls by outcome, the ack
/// and duration histograms, bytes.
#[tokio::test]
async fn metrics_count_sessions_and_tool_outcomes() {
    let (server, _emu) = server_with(ServerConfig::default(), Duration::from_secs(30)).await;
    let mut ws = page(&server).await;
    cancel_a_running_search(&mut ws).await;
    let m = http_get(&server, "/metrics").await;
    for line in [
        "application/openmetrics-text",
        r#"agent_sessions_active{transport="page"} 1"#,
        r#"agent_sessions_total{transport="page"} 1"#,
        r#"agent_tool_calls_total{outcome="cancelled_by_application"} 1"#,
        r#"agent_tool_calls_total{outcome="completed"} 1"#, // get_weather
        "agent_tool_ack_seconds_count 1",
        "agent_tool_duration_seconds_count 2",
        r#"agent_caller_bytes_total{transport="page",direction="in"}"#,
        "agent_draining 0",
    ] {
        assert!(m.contains(line), "{line} in\n{m}");
    }
}

async fn http_get_addr(addr: std::net::SocketAddr, path: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").as_bytes())
        .await
        .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).await.unwrap();
    out
}
