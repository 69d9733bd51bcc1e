//! Phone calls: the TwiML webhook and the Twilio Media Streams websocket, mounted on the
//! agent server. The call itself runs in [`adk_live::bridge::twilio::TwilioCall`].
//!
//! * `POST|GET /twilio/twiml`: point a Twilio number's voice webhook here. It answers the
//!   TwiML `<Connect><Stream url="wss://HOST/twilio/stream">` with the caller's number as
//!   a `<Parameter>` (Twilio drops query strings from stream URLs). `HOST` is
//!   `--public-url` when set (a tunnel's address), else the request's `Host`.
//! * `GET /twilio/stream`: the stream. With a Twilio auth token configured, the upgrade's
//!   `X-Twilio-Signature` must be the base64 HMAC-SHA1, keyed with the auth token, of the
//!   full URL Twilio dialled (followed by the sorted POST parameters, of which a websocket
//!   upgrade has none): twilio.com/docs/usage/webhooks/webhooks-security. A missing or
//!   wrong signature gets 403. Without a token, only callers on this machine may open a
//!   stream: a loopback peer whose request carries no proxy headers, on a server with no
//!   public URL (behind a tunnel every request looks local).

use std::net::SocketAddr;
use std::sync::Arc;

use adk_live::bridge::twilio::{self, CallEvent, TwilioCall, WsFrame};
use adk_live::prelude::LiveEvent;
use axum::body::Bytes;
use axum::extract::ws::{Message, WebSocket};
use axum::extract::{ConnectInfo, State, WebSocketUpgrade};
use axum::http::{HeaderMap, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use futures::{SinkExt, StreamExt};
use hmac::{Hmac, Mac};
use tracing::{Instrument, info, info_span, warn};

use super::access::Slot;
use super::metrics::{SessionObserver, Transport};
use super::{Caller, Shared};

/// Twilio's settings on the agent server.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct TwilioConfig {
    /// The account's auth token: signatures are checked with it. Without it, only
    /// loopback peers may open a stream.
    pub auth_token: Option<genai_wire::Secret>,
    /// The server's public `https://` address (a tunnel's), for the stream URL in the
    /// TwiML and the signature check. Default: from the request's `Host`, as `wss://`.
    pub public_url: Option<String>,
    /// How each call runs (pacing lead, marks, timeouts); its frame limit is the server's.
    pub call: twilio::CallConfig,
}

/// The base URL (`scheme://host`) Twilio reaches this server at, as `https` or `wss`.
fn public_base(shared: &Shared, headers: &HeaderMap, websocket: bool) -> String {
    let base = match &shared.twilio.public_url {
        Some(url) => url.trim_end_matches('/').to_owned(),
        None => {
            let host = headers
                .get(header::HOST)
                .and_then(|h| h.to_str().ok())
                .unwrap_or("localhost");
            format!("https://{host}")
        }
    };
    if websocket {
        base.replacen("https://", "wss://", 1)
            .replacen("http://", "ws://", 1)
    } else {
        base
    }
}

/// Twilio's request signature: base64 HMAC-SHA1 of the URL and the sorted POST
/// parameters (each name then value, no separators).
pub fn signature(auth_token: &str, url: &str, params: &[(String, String)]) -> String {
    let mut sorted: Vec<&(String, String)> = params.iter().collect();
    sorted.sort();
    let mut data = url.to_owned();
    for (k, v) in sorted {
        data.push_str(k);
        data.push_str(v);
    }
    let mut mac =
        Hmac::<sha1::Sha1>::new_from_slice(auth_token.as_bytes()).expect("any key length");
    mac.update(data.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

fn signed(shared: &Shared, headers: &HeaderMap, url: &str, params: &[(String, String)]) -> bool {
    let Some(token) = &shared.twilio.auth_token else {
        return true;
    };
    let Some(given) = headers
        .get("x-twilio-signature")
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let want = signature(token.expose(), url, params);
    given.len() == want.len()
        && given
            .bytes()
            .zip(want.bytes())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0
}

/// `/twilio/twiml`: the TwiML that connects the call to the stream.
pub(super) async fn twiml(
    State(shared): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let params: Vec<(String, String)> = if method == Method::POST {
        url::form_urlencoded::parse(&body).into_owned().collect()
    } else {
        uri.query()
            .map(|q| {
                url::form_urlencoded::parse(q.as_bytes())
                    .into_owned()
                    .collect()
            })
            .unwrap_or_default()
    };
    let url = format!("{}{}", public_base(&shared, &headers, false), uri);
    let signed_params: &[(String, String)] = if method == Method::POST { &params } else { &[] };
    if !signed(&shared, &headers, &url, signed_params) {
        warn!("TwiML webhook refused: bad or missing X-Twilio-Signature");
        return (StatusCode::FORBIDDEN, "bad signature").into_response();
    }
    let caller = params
        .iter()
        .find(|(k, _)| k == "From")
        .map(|(_, v)| v.as_str())
        .unwrap_or("unknown");
    let stream = format!("{}/twilio/stream", public_base(&shared, &headers, true));
    (
        [(header::CONTENT_TYPE, "text/xml")],
        twilio::twiml(&stream, &[("caller", caller)]),
    )
        .into_response()
}

/// `/twilio/stream`: checks the caller, then runs the call.
pub(super) async fn stream(
    State(shared): State<Arc<Shared>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    uri: Uri,
    ws: WebSocketUpgrade,
) -> Response {
    if shared.drain.is_cancelled() {
        return (StatusCode::SERVICE_UNAVAILABLE, "draining").into_response();
    }
    if shared.twilio.auth_token.is_some() {
        let url = format!("{}{}", public_base(&shared, &headers, true), uri);
        if !signed(&shared, &headers, &url, &[]) {
            warn!(%peer, "Twilio stream refused: bad or missing X-Twilio-Signature");
            return (StatusCode::FORBIDDEN, "bad signature").into_response();
        }
    } else if !peer.ip().is_loopback()
        || super::access::proxied(&headers)
        || shared.twilio.public_url.is_some()
    {
        // Without Twilio's signature only a caller on this machine may stream; behind a
        // public URL (a tunnel) any request may be from anywhere, proxy headers or not.
        warn!(%peer, "Twilio stream refused: no Twilio auth token, and the caller may be remote");
        return (
            StatusCode::FORBIDDEN,
            "set a Twilio auth token to take streams from beyond loopback",
        )
            .into_response();
    }
    let slot = match shared.access.slot() {
        Ok(slot) => slot,
        Err(refusal) => return (refusal.status, refusal.reason).into_response(),
    };
    let id = shared
        .next_id
        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    super::limited(ws, &shared.limits).on_upgrade(move |socket| {
        let pages = shared.pages.clone();
        pages.track_future(call(socket, shared, slot, id))
    })
}

async fn call(socket: WebSocket, shared: Arc<Shared>, slot: Slot, id: u64) {
    let span = info_span!("call", id);
    async move {
        let (mut sink, mut stream) = socket.split();
        let (tx, mut rx) = tokio::sync::mpsc::channel(256);
        let connector = shared.connector.clone();
        let mut config = shared.twilio.call.clone();
        config.max_frame_bytes = shared.limits.max_frame_bytes;
        let metrics = &shared.metrics;
        let _active = metrics.caller_connected(Transport::Phone);
        let run = {
            let inbound = (&mut stream).filter_map(|m| async move {
                match m {
                    Ok(Message::Text(t)) => {
                        metrics.bytes(Transport::Phone, true, t.len());
                        Some(WsFrame::Text(t.to_string()))
                    }
                    Ok(Message::Binary(b)) => Some(WsFrame::Binary(b.len())),
                    Ok(Message::Close(_)) | Err(_) => Some(WsFrame::Closed),
                    Ok(Message::Ping(_) | Message::Pong(_)) => None,
                }
            });
            let outbound = (&mut sink).with(|s: String| async move {
                metrics.bytes(Transport::Phone, false, s.len());
                Ok::<_, axum::Error>(Message::Text(s.into()))
            });
            TwilioCall::new(move |start| connector(Caller::Phone(start)))
                .config(config)
                .events(tx)
                .stop_on(shared.shutdown.child_token())
                .run(Box::pin(inbound), Box::pin(outbound))
        };
        let events = async {
            let mut session = None;
            let mut started = false;
            let mut observer = SessionObserver::default();
            while let Some(event) = rx.recv().await {
                if let CallEvent::Session(e) = &event {
                    observer.observe(metrics, e);
                }
                match event {
                    CallEvent::Started { call, session: s } => {
                        metrics.session_opened(Transport::Phone, true);
                        started = true;
                        info!(
                            caller = call.custom_parameters.get("caller").map(String::as_str),
                            "call connected"
                        );
                        session = Some(s);
                    }
                    // A key press is told to the model as a typed turn (a phone menu).
                    CallEvent::Dtmf { digit } => {
                        info!(%digit, "caller pressed a key");
                        if let Some(s) = &session {
                            let _ = s
                                .send_text(format!("(The caller pressed {digit} on the keypad.)"))
                                .await;
                        }
                    }
                    CallEvent::Cleared {
                        generation,
                        sent_ms,
                        heard_ms,
                    } => {
                        info!(
                            generation,
                            sent_ms, heard_ms, "caller interrupted: Twilio's buffer cleared"
                        );
                    }
                    CallEvent::Session(LiveEvent::ToolStarted { call_id, name, .. }) => {
                        info!(%call_id, %name, "tool started");
                    }
                    CallEvent::Session(LiveEvent::ToolCancelled {
                        call_id,
                        name,
                        reason,
                        ..
                    }) => {
                        info!(%call_id, %name, ?reason, "tool cancelled");
                    }
                    _ => {}
                }
            }
            started
        };
        let (end, started) = tokio::join!(run, events);
        if !started && matches!(end, twilio::CallEnd::SessionEnded(_)) {
            metrics.session_opened(Transport::Phone, false);
        }
        if end.is_fault() {
            warn!(reason = %end.reason(), "call ended for a protocol violation");
        }
        let code = match &end {
            twilio::CallEnd::Shutdown => 1001,
            e if e.is_fault() => 1008,
            _ => 1000,
        };
        let reason = adk_live::bridge::page::close_reason(end.reason());
        if let Ok(mut socket) = sink.reunite(stream) {
            super::connection::close(&mut socket, code, reason, shared.limits.send_timeout).await;
        }
        drop(slot);
    }
    .instrument(span)
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Twilio's published vector (twilio-php `tests/Twilio/Unit/Security/RequestValidatorTest.php`,
    /// the same in twilio-python and twilio-csharp): auth token `12345`, this URL and these
    /// POST parameters sign as `RSOYDt4T1cUTdK1PDd93/VVr8B8=`.
    #[test]
    fn twilios_published_signature_vector() {
        let params: Vec<(String, String)> = [
            ("Digits", "1234"),
            ("To", "+18005551212"),
            ("From", "+14158675309"),
            ("Caller", "+14158675309"),
            ("CallSid", "CA1234567890ABCDE"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let url = "https://mycompany.com/myapp.php?foo=1&bar=2";
        assert_eq!(
            signature("12345", url, &params),
            "RSOYDt4T1cUTdK1PDd93/VVr8B8="
        );
        assert_ne!(
            signature("12345", &format!("{url}&x=1"), &params),
            "RSOYDt4T1cUTdK1PDd93/VVr8B8="
        );
    }
}
