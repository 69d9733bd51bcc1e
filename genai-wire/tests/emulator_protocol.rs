//! The emulator's handshake, auth, setup and strict validation, over real sockets.

mod emulator_support;

use emulator_support::*;
use genai_wire::Backend;
use genai_wire::emulator::{Emulator, Scenario, ViolationKind, kind};
use serde_json::json;
use tokio_tungstenite::Connector;

async fn emulator() -> genai_wire::emulator::EmulatorHandle {
    Emulator::builder()
        .api_key("test-key")
        .scenario(Scenario::silent())
        .bind("127.0.0.1:0")
        .await
        .unwrap()
}

#[tokio::test]
async fn api_key_in_query_or_header_is_accepted() {
    let emu = emulator().await;
    let mut ws = start(
        &format!("{}?key=test-key", emu.ws_url()),
        dev_setup(json!({})),
    )
    .await;
    drop(ws.close(None).await);
    let mut ws = connect_with(&emu.ws_url(), &[("x-goog-api-key", "test-key")], None).await;
    send(&mut ws, dev_setup(json!({}))).await;
    assert_eq!(recv(&mut ws).await.json(), &json!({"setupComplete": {}}));
    assert!(emu.violations().is_empty());
}

#[tokio::test]
async fn bad_key_is_accepted_then_closed_1007() {
    let emu = emulator().await;
    let mut ws = connect(&format!("{}?key=wrong", emu.ws_url())).await;
    let g = recv(&mut ws).await;
    assert_eq!(
        g.close(),
        (1007, "API key not valid. Please pass a valid API key.")
    );
    let s = emu.wait_for_session(T).await.unwrap();
    assert_eq!(
        s.wait_for_violation(1, T).await.unwrap().kind,
        ViolationKind::Auth
    );
}

#[tokio::test]
async fn missing_credentials_close_1008_and_tokens_work() {
    let emu = Emulator::builder()
        .api_key("k")
        .access_token("auth_tokens/abc")
        .scenario(Scenario::silent())
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    let mut ws = connect(&emu.ws_url()).await;
    assert_eq!(recv(&mut ws).await.close().0, 1008);
    let url = emu.ws_url().replace(
        "v1beta.GenerativeService.BidiGenerateContent",
        "v1alpha.GenerativeService.BidiGenerateContentConstrained",
    );
    start(
        &format!("{url}?access_token=auth_tokens/abc"),
        dev_setup(json!({})),
    )
    .await;
    let mut ws = connect_with(&url, &[("authorization", "Token auth_tokens/abc")], None).await;
    send(&mut ws, dev_setup(json!({}))).await;
    assert!(has(recv(&mut ws).await.json(), "setupComplete"));
}

#[tokio::test]
async fn paths() {
    let emu = emulator().await;
    let base = format!("ws://{}", emu.addr());
    for path in [
        "/ws/google.ai.generativelanguage.v1beta.GenerativeService.BidiGenerateContent",
        "//ws/google.ai.generativelanguage.v1.GenerativeService.BidiGenerateContent",
        "/ws/google.ai.generativelanguage.v1alpha.GenerativeService.BidiGenerateContent",
    ] {
        start(&format!("{base}{path}?key=test-key"), dev_setup(json!({}))).await;
    }
    let err = tokio_tungstenite::connect_async(format!("{base}/ws/nope?key=test-key"))
        .await
        .unwrap_err();
    match err {
        tokio_tungstenite::tungstenite::Error::Http(resp) => assert_eq!(resp.status(), 404),
        other => panic!("expected HTTP 404, got {other}"),
    }
}

#[tokio::test]
async fn setup_must_come_first() {
    let emu = emulator().await;
    let mut ws = connect(&format!("{}?key=test-key", emu.ws_url())).await;
    send(&mut ws, text_msg("hello")).await;
    let g = recv(&mut ws).await;
    let (code, reason) = g.close();
    assert_eq!(code, 1007, "{reason}");
    // A second setup is refused too.
    let mut ws = start(
        &format!("{}?key=test-key", emu.ws_url()),
        dev_setup(json!({})),
    )
    .await;
    send(&mut ws, dev_setup(json!({}))).await;
    assert_eq!(recv(&mut ws).await.close().0, 1007);
}

#[tokio::test]
async fn unknown_model_closes_1008() {
    let emu = emulator().await;
    let mut ws = connect(&format!("{}?key=test-key", emu.ws_url())).await;
    send(
        &mut ws,
        json!({"setup": {"model": "gemini-live-2.5-flash-preview"}}),
    )
    .await;
    let g = recv(&mut ws).await;
    let (code, reason) = g.close();
    assert_eq!(code, 1008);
    assert!(
        reason.starts_with("gemini-live-2.5-flash-preview is not found for API version v1beta, or is not supported for bidiGenerateContent"),
        "{reason}"
    );
    assert!(reason.len() <= 123);

    let emu = Emulator::builder()
        .known_models(["gemini-live-2.5-flash-preview"])
        .scenario(Scenario::silent())
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    start(&emu.ws_url(), dev_setup(json!({}))).await;
    let mut ws = connect(&emu.ws_url()).await;
    send(&mut ws, json!({"setup": {"model": "models/x"}})).await;
    let g = recv(&mut ws).await;
    assert_eq!(g.close().0, 1008);
    assert!(
        g.close()
            .1
            .starts_with("models/x is not found for API version v1beta")
    );
}

#[tokio::test]
async fn vertex_setup_complete_has_a_session_id() {
    let emu = Emulator::builder()
        .backend(Backend::VertexAi)
        .scenario(Scenario::silent())
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    assert!(
        emu.ws_url()
            .ends_with("/ws/google.cloud.aiplatform.v1beta1.LlmBidiService/BidiGenerateContent")
    );
    let mut ws = connect(&emu.ws_url()).await;
    send(&mut ws, json!({"setup": {"model": "projects/p/locations/us-central1/publishers/google/models/gemini-live-2.5-flash"}})).await;
    let g = recv(&mut ws).await;
    let id = g.json()["setupComplete"]["sessionId"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(id.len(), 36);
    let s = emu.wait_for_session(T).await.unwrap();
    assert_eq!(s.id().as_str(), id);
    assert_eq!(s.backend(), Backend::VertexAi);
    // A Developer-style model name is not a Vertex model.
    let mut ws = connect(&emu.ws_url()).await;
    send(&mut ws, json!({"setup": {"model": "models/gemini"}})).await;
    assert_eq!(recv(&mut ws).await.close().0, 1008);
}

#[tokio::test]
async fn strict_validation_closes_1007() {
    let emu = emulator().await;
    let url = format!("{}?key=test-key", emu.ws_url());
    // Unknown field in setup.
    let mut ws = connect(&url).await;
    send(
        &mut ws,
        json!({"setup": {"model": "models/m", "fooBar": 1}}),
    )
    .await;
    assert_eq!(
        recv(&mut ws).await.close(),
        (
            1007,
            "Invalid JSON payload received. Unknown name \"fooBar\" at 'setup': Cannot find field."
        )
    );
    // Unknown field deep inside a later message.
    let mut ws = start(&url, dev_setup(json!({}))).await;
    send(
        &mut ws,
        json!({"clientContent": {"turns": [{"role": "user", "parts": [{"txt": "hi"}]}]}}),
    )
    .await;
    let g = recv(&mut ws).await;
    assert_eq!(g.close().0, 1007);
    assert!(
        g.close().1.contains("client_content.turns[0].parts[0]"),
        "{}",
        g.close().1
    );
    // Bad base64.
    let mut ws = start(&url, dev_setup(json!({}))).await;
    send(&mut ws, audio_msg("not*base64")).await;
    assert_eq!(recv(&mut ws).await.close().0, 1007);
    // Bad enum.
    let mut ws = connect(&url).await;
    send(
        &mut ws,
        dev_setup(json!({"generationConfig": {"responseModalities": ["SMELL"]}})),
    )
    .await;
    assert_eq!(recv(&mut ws).await.close().0, 1007);
    // Not JSON at all, in a binary frame.
    let mut ws = start(&url, dev_setup(json!({}))).await;
    use futures::SinkExt;
    ws.send(tokio_tungstenite::tungstenite::Message::Binary(
        vec![0xff, 0x00, 0x7b].into(),
    ))
    .await
    .unwrap();
    assert_eq!(recv(&mut ws).await.close().0, 1007);
    // The server survived all of that.
    start(&url, dev_setup(json!({}))).await;
    let kinds: Vec<_> = emu.violations().into_iter().map(|(_, v)| v.kind).collect();
    assert!(
        kinds
            .iter()
            .filter(|k| **k == ViolationKind::InvalidMessage)
            .count()
            >= 5,
        "{kinds:?}"
    );
}

#[tokio::test]
async fn backend_specific_fields() {
    let emu = Emulator::builder()
        .scenario(Scenario::silent())
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    let vertex_setup =
        json!({"setup": {"model": "projects/p/locations/l/publishers/google/models/m"}});
    // willContinue does not exist on Vertex.
    let mut ws = start(&emu.vertex_url("v1beta1"), vertex_setup.clone()).await;
    send(&mut ws, json!({"toolResponse": {"functionResponses": [{"id": "x", "name": "f", "response": {}, "willContinue": true}]}})).await;
    let g = recv(&mut ws).await;
    assert_eq!(g.close().0, 1007);
    assert!(g.close().1.contains("willContinue"));
    // audioStreamEnd neither.
    let mut ws = start(&emu.vertex_url("v1beta1"), vertex_setup.clone()).await;
    send(&mut ws, json!({"realtimeInput": {"audioStreamEnd": true}})).await;
    assert_eq!(recv(&mut ws).await.close().0, 1007);
    // transparent resumption is Vertex-only.
    let mut ws = connect(&emu.developer_url("v1beta")).await;
    send(
        &mut ws,
        dev_setup(json!({"sessionResumption": {"transparent": true}})),
    )
    .await;
    assert_eq!(recv(&mut ws).await.close().0, 1007);
    let mut ws = connect(&emu.vertex_url("v1beta1")).await;
    send(
        &mut ws,
        json!({"setup": {"model": "projects/p/locations/l/publishers/google/models/m", "sessionResumption": {"transparent": true}}}),
    )
    .await;
    assert!(has(recv(&mut ws).await.json(), "setupComplete"));
}

#[tokio::test]
async fn python_sdk_style_snake_case_and_urlsafe_base64_are_accepted() {
    let emu = emulator().await;
    let url = format!("{}?key=test-key", emu.ws_url());
    let mut ws = start(
        &url,
        json!({"setup": {"model": "models/gemini-live-2.5-flash-preview",
            "generationConfig": {"responseModalities": ["AUDIO"], "temperature": 0.7,
              "speechConfig": {"voice_config": {"prebuilt_voice_config": {"voice_name": "Kore"}}, "language_code": "en-US"}},
            "systemInstruction": {"parts": [{"text": "You are terse."}], "role": "user"},
            "tools": [{"functionDeclarations": [{"description": "w", "name": "get_weather",
                "parameters": {"type": "OBJECT", "properties": {"city": {"type": "STRING"}}}, "behavior": "NON_BLOCKING"}]}],
            "realtimeInputConfig": {"automatic_activity_detection": {"disabled": false, "start_of_speech_sensitivity": "START_SENSITIVITY_LOW"},
                "activity_handling": "START_OF_ACTIVITY_INTERRUPTS", "turn_coverage": "TURN_INCLUDES_ONLY_ACTIVITY"},
            "contextWindowCompression": {"trigger_tokens": 25600, "sliding_window": {"target_tokens": "12800"}},
            "inputAudioTranscription": {}, "outputAudioTranscription": {},
            "proactivity": {"proactive_audio": true}}}),
    )
    .await;
    for msg in [
        json!({"realtime_input": {"audio": {"data": "__79_P_-_fw=", "mime_type": "audio/pcm;rate=16000"}}}),
        json!({"realtime_input": {"mediaChunks": [{"data": "AAA=", "mime_type": "audio/pcm;rate=16000"}]}}),
        json!({"realtime_input": {"audioStreamEnd": true}}),
        json!({"client_content": {"turns": [{"role": "user", "parts": [{"text": "hi"}]}], "turnComplete": false}}),
        json!({"tool_response": {"functionResponses": [{"will_continue": true, "scheduling": "WHEN_IDLE", "id": "fc-1", "name": "get_weather", "response": {"x": 1}}]}}),
    ] {
        send(&mut ws, msg).await;
    }
    let s = emu.wait_for_session(T).await.unwrap();
    s.wait_for_count(kind::TOOL_RESPONSE, 1, T).await.unwrap();
    assert!(s.last_close().is_none(), "{:?}", s.last_close());
    // The response named an id the model never issued: a violation, not a close.
    let v = s.wait_for_violation(1, T).await.unwrap();
    assert_eq!(v.kind, ViolationKind::UnknownCallId);
}

#[tokio::test]
async fn every_server_message_is_a_binary_frame() {
    let emu = Emulator::builder()
        .scenario(Scenario::from_json(r#"{"audio":{"speed":20},"steps":[{"waitUserTurn":{}},{"speak":{"ms":300,"text":"hi there"}},{"endTurn":{}}]}"#).unwrap())
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    let mut ws = connect(&emu.ws_url()).await;
    send(&mut ws, dev_setup(json!({"outputAudioTranscription": {}}))).await;
    send(&mut ws, text_msg("hello")).await;
    let got = recv_until(&mut ws, is_turn_complete).await;
    assert!(got.len() >= 5);
    for g in got {
        match g {
            Got::Msg(_, binary) => assert!(binary),
            Got::Close(c, r) => panic!("closed {c} {r}"),
        }
    }
    let s = emu.wait_for_session(T).await.unwrap();
    assert!(
        s.frames()
            .iter()
            .filter(|f| f.from_server())
            .all(|f| f.binary)
    );
    assert!(
        s.frames()
            .iter()
            .filter(|f| f.from_client())
            .all(|f| !f.binary)
    );
}

#[tokio::test]
async fn tls_with_the_generated_certificate() {
    let emu = Emulator::builder()
        .tls(true)
        .api_key("k")
        .scenario(Scenario::silent())
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    assert!(emu.ws_url().starts_with("wss://127.0.0.1:"));
    assert!(emu.base_url().starts_with("https://127.0.0.1:"));
    assert!(emu.cert_pem().unwrap().contains("BEGIN CERTIFICATE"));
    let connector = Connector::Rustls(emu.client_tls_config().unwrap());
    let mut ws = connect_with(&format!("{}?key=k", emu.ws_url()), &[], Some(connector)).await;
    send(&mut ws, dev_setup(json!({}))).await;
    assert_eq!(recv(&mut ws).await.json(), &json!({"setupComplete": {}}));
    // A client that does not trust the emulator's CA fails the handshake.
    let req = format!("{}?key=k", emu.ws_url());
    assert!(tokio_tungstenite::connect_async(req).await.is_err());
}
