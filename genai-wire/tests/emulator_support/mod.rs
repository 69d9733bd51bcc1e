//! A raw websocket client for the emulator tests (tokio-tungstenite directly, so the
//! tests do not depend on the crate's own client code).
#![allow(dead_code)]

use std::time::Duration;

use base64::Engine as _;
use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::{Connector, MaybeTlsStream, WebSocketStream};

pub type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

pub const T: Duration = Duration::from_secs(10);

/// What the client read.
#[derive(Debug, Clone)]
pub enum Got {
    /// A message (parsed JSON) and whether it came in a binary frame.
    Msg(Value, bool),
    /// A close frame (code, reason); 1006 when the connection dropped without one.
    Close(u16, String),
}

impl Got {
    pub fn json(&self) -> &Value {
        match self {
            Got::Msg(v, _) => v,
            Got::Close(c, r) => panic!("expected a message, got close {c} {r:?}"),
        }
    }
    pub fn close(&self) -> (u16, &str) {
        match self {
            Got::Close(c, r) => (*c, r),
            Got::Msg(v, _) => panic!("expected a close, got {v}"),
        }
    }
}

pub async fn connect(url: &str) -> Ws {
    connect_with(url, &[], None).await
}

pub async fn connect_with(url: &str, headers: &[(&str, &str)], tls: Option<Connector>) -> Ws {
    let mut req = url.into_client_request().unwrap();
    for (k, v) in headers {
        req.headers_mut().insert(
            tokio_tungstenite::tungstenite::http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
            v.parse().unwrap(),
        );
    }
    let (ws, _) = tokio_tungstenite::connect_async_tls_with_config(req, None, true, tls)
        .await
        .unwrap_or_else(|e| panic!("connect {url}: {e}"));
    ws
}

pub async fn send(ws: &mut Ws, v: Value) {
    ws.send(Message::Text(v.to_string().into())).await.unwrap();
}

pub async fn send_raw(ws: &mut Ws, s: &str) {
    ws.send(Message::Text(s.to_string().into())).await.unwrap();
}

pub async fn recv(ws: &mut Ws) -> Got {
    match tokio::time::timeout(T, recv_inner(ws)).await {
        Ok(g) => g,
        Err(_) => panic!("nothing received within {T:?}"),
    }
}

async fn recv_inner(ws: &mut Ws) -> Got {
    loop {
        match ws.next().await {
            Some(Ok(Message::Binary(b))) => {
                assert!(b.len() < 1 << 20, "frame of {} bytes", b.len());
                return Got::Msg(serde_json::from_slice(&b).expect("server sent JSON"), true);
            }
            Some(Ok(Message::Text(t))) => {
                return Got::Msg(serde_json::from_str(&t).expect("server sent JSON"), false);
            }
            Some(Ok(Message::Close(cf))) => {
                return match cf {
                    Some(cf) => Got::Close(cf.code.into(), cf.reason.to_string()),
                    None => Got::Close(1005, String::new()),
                };
            }
            Some(Ok(_)) => continue,
            Some(Err(_)) | None => return Got::Close(1006, String::new()),
        }
    }
}

/// Reads until a message satisfies `pred` (returned last) or the socket closes.
pub async fn recv_until(ws: &mut Ws, mut pred: impl FnMut(&Value) -> bool) -> Vec<Got> {
    let mut out = Vec::new();
    loop {
        let g = recv(ws).await;
        let stop = match &g {
            Got::Msg(v, _) => pred(v),
            Got::Close(..) => true,
        };
        out.push(g);
        if stop {
            return out;
        }
    }
}

/// Reads until the socket closes; returns (messages, close).
pub async fn recv_until_close(ws: &mut Ws) -> (Vec<Value>, (u16, String)) {
    let mut msgs = Vec::new();
    loop {
        match recv(ws).await {
            Got::Msg(v, _) => msgs.push(v),
            Got::Close(c, r) => return (msgs, (c, r)),
        }
    }
}

pub fn is_turn_complete(v: &Value) -> bool {
    v["serverContent"]["turnComplete"] == true
}

pub fn has(v: &Value, key: &str) -> bool {
    v.get(key).is_some()
}

pub fn dev_setup(extra: Value) -> Value {
    let mut setup = json!({"model": "models/gemini-live-2.5-flash-preview"});
    if let (Some(s), Some(e)) = (setup.as_object_mut(), extra.as_object()) {
        for (k, v) in e {
            s.insert(k.clone(), v.clone());
        }
    }
    json!({ "setup": setup })
}

pub fn tools(decls: Value) -> Value {
    json!([{"functionDeclarations": decls}])
}

/// Connects, sends setup, and expects setupComplete.
pub async fn start(url: &str, setup: Value) -> Ws {
    let mut ws = connect(url).await;
    send(&mut ws, setup).await;
    let g = recv(&mut ws).await;
    assert!(
        has(g.json(), "setupComplete"),
        "expected setupComplete, got {g:?}"
    );
    ws
}

/// `ms` of a 16 kHz 440 Hz tone, base64 (standard alphabet).
pub fn voiced_b64(ms: u32) -> String {
    let n = 16 * ms as usize;
    let mut pcm = Vec::with_capacity(n * 2);
    for i in 0..n {
        let s = (i as f32 * 2.0 * std::f32::consts::PI * 440.0 / 16000.0).sin() * 8000.0;
        pcm.extend_from_slice(&(s as i16).to_le_bytes());
    }
    base64::engine::general_purpose::STANDARD.encode(pcm)
}

pub fn silence_b64(ms: u32) -> String {
    base64::engine::general_purpose::STANDARD.encode(vec![0u8; 32 * ms as usize])
}

pub fn audio_msg(b64: &str) -> Value {
    json!({"realtimeInput": {"audio": {"mimeType": "audio/pcm;rate=16000", "data": b64}}})
}

pub fn text_msg(t: &str) -> Value {
    json!({"realtimeInput": {"text": t}})
}

/// Waits until `cond` holds, polling, within [`T`]. For conditions over the emulator's
/// record read through its accessors (`SessionHandle::wait_for` holds the record's lock
/// while it asks, so those cannot be used inside it) or over anything else.
pub async fn until(what: &str, mut cond: impl FnMut() -> bool) {
    let met = tokio::time::timeout(T, async {
        while !cond() {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
    assert!(met.is_ok(), "timed out waiting for {what}");
}
