//! Phone calls through the agent server's Twilio Media Streams bridge, from a scripted
//! Twilio that follows Twilio's documentation field for field (`support/twilio.rs`
//! cites it), against the emulator.

mod support;

use std::time::Duration;

use examples::server::{AgentServer, ServerConfig};
use genai_wire::emulator::EmulatorHandle;
use serde_json::{Value, json};
use support::agent_server::{self, VOICE_SCENARIO};
use support::twilio::{Do, Twilio, start_message};

const WAIT: Duration = Duration::from_secs(30);

/// The voice agent's scenario with the model's audio generated `speed` times faster than
/// it plays: without pacing, Twilio's buffer would fill with seconds of audio.
fn fast_scenario(speed: f64) -> String {
    let mut v: Value = serde_json::from_str(VOICE_SCENARIO).unwrap();
    v["audio"]["speed"] = json!(speed);
    v.to_string()
}

async fn server(
    config: ServerConfig,
    scenario: &str,
    stage: Duration,
) -> (AgentServer, EmulatorHandle) {
    let emulator = agent_server::emulator(scenario).await;
    let server = agent_server::start(config, &emulator, stage).await;
    (server, emulator)
}

fn stream_url(server: &AgentServer) -> String {
    format!("ws://{}/twilio/stream", server.addr())
}

fn start(sid: &str) -> String {
    start_message(sid, json!({"caller": "+15550100"}), 8000)
}

async fn call(server: &AgentServer, sid: &str) -> Twilio {
    Twilio::call(&stream_url(server), start(sid), None)
        .await
        .expect("upgrade")
}

/// A whole call: the caller asks, the background `search` is acked, reports progress and
/// completes, and its result is voiced; the model's audio is paced at real time, marks come
/// back, and the caller's `<Parameter>` reached the session's setup.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_runs_a_background_tool_and_voices_the_result() {
    let (server, emu) = server(
        ServerConfig::default(),
        &fast_scenario(4.0),
        Duration::from_millis(300),
    )
    .await;
    let twilio = call(&server, "MZcall").await;
    twilio.act(Do::Speak);
    let session = emu.wait_for_session(WAIT).await.unwrap();
    // The result was voiced: the emulator spoke its tool-result turn after the final
    // response, and that audio reached the phone.
    accepted(&session, "the final search result", |r| {
        r.name == "search" && !r.will_continue
    })
    .await;
    let responses = session.accepted_function_responses();
    let search: Vec<_> = responses.iter().filter(|r| r.name == "search").collect();
    assert!(search.len() >= 3, "ack, progress, result: {search:?}");
    assert!(search[0].will_continue, "acked first");
    let seen = twilio
        .wait("the voiced result to play", WAIT, |s| {
            s.media_ms >= 5_000 && !s.marks_returned.is_empty()
        })
        .await;
    // Paced: never more than the lead (100 ms) plus a frame ahead of playback, although
    // the emulator produced audio at four times real time.
    assert!(
        seen.max_buffered_ms <= 140,
        "buffered {} ms at Twilio",
        seen.max_buffered_ms
    );
    assert!(seen.unexpected.is_empty(), "{:?}", seen.unexpected);
    assert!(
        seen.marks_returned
            .iter()
            .all(|m| seen.marks_sent.contains(m))
    );
    // The setup carried the caller's number, and phone VAD settings.
    let setup = session
        .received_client_messages()
        .into_iter()
        .find(|m| m.get("setup").is_some())
        .unwrap();
    let text = setup.to_string();
    assert!(text.contains("+15550100"), "{text}");
    assert!(text.contains("START_SENSITIVITY_HIGH"), "{text}");
    // The caller's audio arrived as 16 kHz PCM.
    let audio = session.frames_of("realtimeInput.audio");
    assert!(!audio.is_empty());
    assert!(String::from_utf8_lossy(&audio[0].raw).contains("audio/pcm;rate=16000"));
    twilio.act(Do::Stop);
    let seen = twilio.wait("the close", WAIT, |s| s.closed.is_some()).await;
    assert_eq!(seen.closed, Some((1000, "stream stopped".into())));
}

/// The caller talks over the model: `clear` goes out, every pending mark comes back and
/// is treated as stale, and later marks belong to a new playback generation.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn barge_in_clears_twilio_and_the_pending_marks_come_back() {
    let mut config = ServerConfig::default();
    // A mark after every frame, and the model's audio made twice as fast as it
    // plays: while the reply plays, the server always holds more of it than Twilio does,
    // so Twilio's buffer is full (the pacing lead) and marks are pending when the caller
    // cuts in.
    config.twilio.call.mark_every = Duration::from_millis(20);
    let (server, _emu) = server(config, &fast_scenario(2.0), Duration::from_millis(300)).await;
    let twilio = call(&server, "MZbarge").await;
    twilio.act(Do::Speak);
    twilio
        .wait("the model's reply", WAIT, |s| s.media_ms >= 200)
        .await;
    twilio.act(Do::Speak);
    let seen = twilio.wait("a clear", WAIT, |s| s.clears >= 1).await;
    assert!(
        !seen.marks_returned_by_clear.is_empty(),
        "pending marks came back on clear"
    );
    assert!(
        seen.marks_returned_by_clear
            .iter()
            .all(|m| m.starts_with("0:"))
    );
    // The next reply's marks are of generation 1.
    let seen = twilio
        .wait("marks of the next generation", WAIT, |s| {
            let clear_at = s.log.iter().position(|e| e == "clear").unwrap();
            s.log[clear_at..].iter().any(|e| e.starts_with("mark 1:"))
        })
        .await;
    let clear_at = seen.log.iter().position(|e| e == "clear").unwrap();
    assert!(
        seen.log[clear_at..]
            .iter()
            .filter(|e| e.starts_with("mark "))
            .all(|e| !e.starts_with("mark 0:")),
        "no mark of the cut generation after clear: {:?}",
        &seen.log[clear_at..]
    );
}

/// `stop` while the background tool runs: the tool is cancelled, no final response
/// reaches the model, the socket closes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stop_mid_tool_cancels_it_and_nothing_follows() {
    let (server, emu) = server(
        ServerConfig::default(),
        VOICE_SCENARIO,
        Duration::from_secs(30),
    )
    .await;
    let twilio = call(&server, "MZstop").await;
    twilio.act(Do::Speak);
    let session = emu.wait_for_session(WAIT).await.unwrap();
    accepted(&session, "the search ack", |r| {
        r.name == "search" && r.will_continue
    })
    .await;
    twilio.act(Do::Stop);
    let seen = twilio.wait("the close", WAIT, |s| s.closed.is_some()).await;
    assert_eq!(seen.closed, Some((1000, "stream stopped".into())));
    session
        .wait_closed(0, WAIT)
        .await
        .expect("the Live session ended");
    let search: Vec<_> = session
        .accepted_function_responses()
        .into_iter()
        .filter(|r| r.name == "search")
        .collect();
    assert!(
        search.iter().all(|r| r.will_continue),
        "no final response: {search:?}"
    );
    support::wait_until("the call's slot to come back", WAIT, || {
        server.active_pages() == 0
    })
    .await;
}

/// A key press reaches the application, which (in the agent server) tells the model.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dtmf_reaches_the_application() {
    let (server, emu) = server(
        ServerConfig::default(),
        VOICE_SCENARIO,
        Duration::from_millis(300),
    )
    .await;
    let twilio = call(&server, "MZdtmf").await;
    let session = emu.wait_for_session(WAIT).await.unwrap();
    twilio.act(Do::Dtmf("5"));
    session
        .wait_for(WAIT, |frames| {
            frames.iter().any(|f| {
                f.kind == "realtimeInput.text"
                    && String::from_utf8_lossy(&f.raw).contains("pressed 5")
            })
        })
        .await
        .expect("the key press reached the model");
}

/// Bad input ends that call with a reason; another call goes on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_ends_only_that_call() {
    let (server, _emu) = server(
        ServerConfig::default(),
        VOICE_SCENARIO,
        Duration::from_millis(300),
    )
    .await;
    let other = call(&server, "MZother").await;
    let huge = json!({"event": "media", "sequenceNumber": "3", "streamSid": "MZbad",
        "media": {"track": "inbound", "chunk": "1", "timestamp": "20", "payload": "A".repeat(100_000)}})
    .to_string();
    let cases: Vec<(Option<Do>, String, &str)> = vec![
        (
            Some(Do::Raw("{not json".into())),
            start("MZbad"),
            "malformed message",
        ),
        (
            Some(Do::Raw(r#"{"event":"launch","streamSid":"MZbad"}"#.into())),
            start("MZbad"),
            "unknown variant",
        ),
        (
            Some(Do::Binary(vec![0xFF; 160])),
            start("MZbad"),
            "binary frame",
        ),
        (
            None,
            start_message("MZbad", json!({}), 16000),
            "media format",
        ),
        (Some(Do::Raw(huge)), start("MZbad"), "over the limit"),
    ];
    for (act, start, reason) in cases {
        let twilio = Twilio::call(&stream_url(&server), start, None)
            .await
            .unwrap();
        if let Some(a) = act {
            twilio.act(a);
        }
        let seen = twilio.wait(reason, WAIT, |s| s.closed.is_some()).await;
        let (code, why) = seen.closed.unwrap();
        assert_eq!(code, 1008, "{why}");
        assert!(why.contains(reason), "{why:?} should say {reason:?}");
    }
    // The other call still streams: its caller speaks and the model answers.
    other.act(Do::Speak);
    other
        .wait("the other call's reply", WAIT, |s| s.media_ms >= 200)
        .await;
    assert!(other.seen().closed.is_none());
}

/// With a Twilio auth token, the stream's upgrade must carry Twilio's signature of the
/// stream URL, and the webhook's of its URL and form.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signatures_are_checked_when_a_token_is_set() {
    let emulator = agent_server::emulator(VOICE_SCENARIO).await;
    // Bind first to learn the port the public URL names.
    let probe = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = probe.local_addr().unwrap();
    drop(probe);
    let mut config = ServerConfig::default();
    config.addr = addr;
    config.twilio.auth_token = Some("twilio-auth-token".into());
    // A public URL (a tunnel) needs the page token too.
    config.token = Some("a-page-token-of-16-chars".into());
    config.twilio.public_url = Some(format!("http://{addr}"));
    let server = AgentServer::start(
        config,
        agent_server::connector(&emulator, Duration::from_millis(300)),
    )
    .await
    .expect("server");
    let url = stream_url(&server);
    assert_eq!(
        Twilio::call(&url, start("MZsig"), None).await.err(),
        Some(403)
    );
    assert_eq!(
        Twilio::call(&url, start("MZsig"), Some("d3Jvbmc="))
            .await
            .err(),
        Some(403)
    );
    let good = examples::server::phone::signature("twilio-auth-token", &url, &[]);
    let twilio = Twilio::call(&url, start("MZsig"), Some(&good))
        .await
        .expect("signed upgrade");
    emulator
        .wait_for_session(WAIT)
        .await
        .expect("the call opened a session");
    twilio.act(Do::Stop);

    // The webhook: POST form, signed over URL + sorted params.
    let body = "From=%2B15550100&CallSid=CA1";
    let webhook = format!("http://{addr}/twilio/twiml");
    let params = vec![
        ("CallSid".to_string(), "CA1".to_string()),
        ("From".to_string(), "+15550100".to_string()),
    ];
    let sig = examples::server::phone::signature("twilio-auth-token", &webhook, &params);
    let ok = post(addr, "/twilio/twiml", body, Some(&sig)).await;
    assert!(ok.starts_with("HTTP/1.1 200"), "{ok}");
    assert!(
        ok.contains(&format!(r#"<Stream url="ws://{addr}/twilio/stream">"#)),
        "{ok}"
    );
    assert!(
        ok.contains(r#"<Parameter name="caller" value="+15550100"/>"#),
        "{ok}"
    );
    let forged = post(
        addr,
        "/twilio/twiml",
        "From=%2B19990000&CallSid=CA1",
        Some(&sig),
    )
    .await;
    assert!(forged.starts_with("HTTP/1.1 403"), "{forged}");
}

/// Without a token the webhook answers anyone (the TwiML holds no secret) and names the
/// `wss://` stream on the request's host.
#[tokio::test]
async fn the_twiml_connects_the_call_to_the_stream() {
    let (server, _emu) = server(
        ServerConfig::default(),
        VOICE_SCENARIO,
        Duration::from_millis(300),
    )
    .await;
    let r = post(
        server.addr(),
        "/twilio/twiml",
        "From=%2B15550100&To=%2B15550199",
        None,
    )
    .await;
    assert!(
        r.starts_with("HTTP/1.1 200") && r.contains("text/xml"),
        "{r}"
    );
    assert!(
        r.contains("<Response><Connect><Stream url=\"wss://x.example/twilio/stream\">"),
        "{r}"
    );
    assert!(
        r.contains(r#"<Parameter name="caller" value="+15550100"/>"#),
        "{r}"
    );
}

/// Waits until the model has accepted a function response matching `pred`.
async fn accepted(
    session: &genai_wire::emulator::SessionHandle,
    what: &str,
    pred: impl Fn(&genai_wire::emulator::AcceptedResponse) -> bool,
) {
    support::wait_until(what, WAIT, || {
        session.accepted_function_responses().iter().any(&pred)
    })
    .await;
}

async fn post(addr: std::net::SocketAddr, path: &str, body: &str, sig: Option<&str>) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    let host = if sig.is_some() {
        addr.to_string()
    } else {
        "x.example".into()
    };
    let sig = sig
        .map(|s| format!("X-Twilio-Signature: {s}\r\n"))
        .unwrap_or_default();
    let req = format!(
        "POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/x-www-form-urlencoded\r\n{sig}Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes()).await.unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).await.unwrap();
    out
}

/// Behind a public URL (a tunnel) every request looks local: without Twilio's signature
/// the stream is refused, and a proxied request is refused even on a plain loopback server.
#[tokio::test]
async fn a_tunnel_is_not_loopback() {
    let mut config = ServerConfig::default();
    config.token = Some("a-page-token-of-16-chars".into());
    config.twilio.public_url = Some("https://tunnel.example".into());
    let (tunnelled, _emu) = server(config, VOICE_SCENARIO, Duration::from_millis(300)).await;
    assert_eq!(
        Twilio::call(&stream_url(&tunnelled), start("MZtunnel"), None)
            .await
            .err(),
        Some(403)
    );
    let (plain, _emu) = server(
        ServerConfig::default(),
        VOICE_SCENARIO,
        Duration::from_millis(300),
    )
    .await;
    let mut req = tokio_tungstenite::tungstenite::client::IntoClientRequest::into_client_request(
        stream_url(&plain).as_str(),
    )
    .unwrap();
    req.headers_mut()
        .insert("x-forwarded-for", "203.0.113.9".parse().unwrap());
    match tokio_tungstenite::connect_async(req).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(r)) => assert_eq!(r.status(), 403),
        other => panic!("a proxied stream was let in: {:?}", other.map(|_| ())),
    }
}
