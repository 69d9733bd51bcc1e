//! The real Vertex path, offline: `connect_vertex` over wss (the emulator's generated
//! certificate) with a bearer token that a service-account key fetched from a local
//! OAuth token endpoint (JWT-bearer grant via yup-oauth2).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use adk_live::prelude::*;
use genai_wire::auth::ServiceAccountTokenSource;
use genai_wire::emulator::Emulator;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use crate::support::*;

/// A token endpoint answering every POST with `token`; counts requests.
async fn token_endpoint(token: &'static str) -> (String, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/token", listener.local_addr().unwrap());
    let hits = Arc::new(AtomicUsize::new(0));
    let counter = hits.clone();
    tokio::spawn(async move {
        while let Ok((mut tcp, _)) = listener.accept().await {
            counter.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 4096];
                // Headers, then the body by Content-Length.
                loop {
                    let n = tcp.read(&mut chunk).await.unwrap_or(0);
                    if n == 0 {
                        return;
                    }
                    buf.extend_from_slice(&chunk[..n]);
                    let text = String::from_utf8_lossy(&buf).to_string();
                    if let Some(end) = text.find("\r\n\r\n") {
                        let len = text
                            .lines()
                            .find_map(|l| {
                                l.to_ascii_lowercase()
                                    .strip_prefix("content-length:")
                                    .map(|v| v.trim().parse::<usize>().unwrap_or(0))
                            })
                            .unwrap_or(0);
                        if buf.len() >= end + 4 + len {
                            break;
                        }
                    }
                }
                let body = format!(
                    r#"{{"access_token":"{token}","expires_in":3600,"token_type":"Bearer"}}"#
                );
                let reply = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = tcp.write_all(reply.as_bytes()).await;
            });
        }
    });
    (url, hits)
}

fn service_account_json(token_uri: &str) -> String {
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_RSA_SHA256).expect("throwaway RSA key");
    serde_json::json!({
        "type": "service_account",
        "project_id": "test-proj",
        "private_key_id": "k1",
        "private_key": key.serialize_pem(),
        "client_email": "live-test@test-proj.iam.gserviceaccount.com",
        "client_id": "1",
        "token_uri": token_uri,
    })
    .to_string()
}

#[tokio::test]
async fn connect_vertex_over_wss_with_a_service_account_token() {
    let (token_uri, hits) = token_endpoint("ya29.local-test-token").await;
    let source = ServiceAccountTokenSource::from_json(&service_account_json(&token_uri))
        .await
        .unwrap();
    let emu = Emulator::builder()
        .backend(Backend::VertexAi)
        .tls(true)
        .access_token("ya29.local-test-token")
        .scenario(scenario("e2e/mixed_call.json"))
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    let tls = emu.client_tls_config().expect("emulator serves TLS");
    let base = emu.base_url();
    // `https://` becomes `wss://` for the websocket; the emulator serves TLS only.
    assert!(base.starts_with("https://"), "{base}");

    let source: Arc<dyn genai_wire::auth::TokenSource> = Arc::new(source);
    let session = background_search(20, 1)
        .tool(lookup(std::time::Duration::from_millis(5)))
        .base_url(&base)
        .configure(move |c| c.transport = c.transport.clone().with_tls_config(tls))
        .connect_vertex("test-proj", "us-central1", source)
        .await
        .expect("wss + OAuth session");
    session.send_text("find flights").await.unwrap();
    events_until(
        &session,
        |e| matches!(e, LiveEvent::ToolCompleted { name, .. } if name == "search"),
    )
    .await;
    assert_eq!(
        hits.load(Ordering::SeqCst),
        1,
        "one token fetch, then cached"
    );

    let es = emu.wait_for_session(WAIT).await.unwrap();
    let conn = &es.connections()[0];
    assert_eq!(
        conn.path,
        "/ws/google.cloud.aiplatform.v1beta1.LlmBidiService/BidiGenerateContent"
    );
    assert!(es.violations().is_empty(), "{:?}", es.violations());
    session.disconnect().await;
}

/// A Vertex emulator that accepts only `token`.
async fn vertex_emulator_expecting(token: &str) -> genai_wire::emulator::EmulatorHandle {
    Emulator::builder()
        .backend(Backend::VertexAi)
        .access_token(token)
        .bind("127.0.0.1:0")
        .await
        .unwrap()
}

#[tokio::test]
async fn a_wrong_bearer_token_is_refused() {
    let emu = vertex_emulator_expecting("right").await;
    let err = Live::builder()
        .base_url(emu.base_url())
        .connect_vertex("p", "us-central1", "wrong")
        .await
        .unwrap_err();
    assert_eq!(err.close().map(|c| c.code), Some(1007), "{err}");
}

/// A token source that hands out "right", except on the calls listed, which fail with
/// the given error.
struct Flaky {
    calls: AtomicUsize,
    fail_on: std::ops::Range<usize>,
    error: fn() -> genai_wire::Error,
}

impl genai_wire::auth::TokenSource for Flaky {
    fn token(&self) -> genai_wire::auth::TokenFuture<'_> {
        let n = self.calls.fetch_add(1, Ordering::SeqCst);
        let result = if self.fail_on.contains(&n) {
            Err((self.error)())
        } else {
            Ok(Secret::new("right"))
        };
        Box::pin(async move { result })
    }
}

/// A token endpoint outage at reconnect gets the reconnect budget (the session resumes
/// once tokens come back); refused credentials end the session at once. The runtime
/// tells them apart by the error's class, not by its variant.
#[tokio::test]
async fn a_token_outage_is_retried_and_a_refusal_is_not() {
    for outage in [true, false] {
        let emu = vertex_emulator_expecting("right").await;
        let source = Arc::new(Flaky {
            calls: AtomicUsize::new(0),
            fail_on: 1..3,
            error: if outage {
                || genai_wire::Error::TokenUnavailable("token endpoint: 503".into())
            } else {
                || genai_wire::Error::Auth("invalid_grant".into())
            },
        });
        let token: Arc<dyn genai_wire::auth::TokenSource> = source.clone();
        let session = Live::builder()
            .base_url(emu.base_url())
            .configure(|c| {
                c.reconnect = ReconnectPolicy::default()
                    .with_backoff(Duration::from_millis(10), Duration::from_millis(50));
            })
            .connect_vertex("p", "us-central1", token)
            .await
            .unwrap();
        let es = emu.wait_for_session(WAIT).await.unwrap();
        assert!(es.drop_connection());
        let events = events_until(&session, |e| {
            matches!(e, LiveEvent::Reconnected { .. } | LiveEvent::Closed { .. })
        })
        .await;
        match events.last() {
            Some(LiveEvent::Reconnected { resumed }) if outage => {
                assert!(resumed, "{events:?}");
                assert_eq!(
                    source.calls.load(Ordering::SeqCst),
                    4,
                    "two failed, then a token"
                );
            }
            Some(LiveEvent::Closed { error: Some(e), .. }) if !outage => {
                assert!(e.contains("invalid_grant"), "{e}");
                assert_eq!(source.calls.load(Ordering::SeqCst), 2, "not retried");
            }
            other => panic!("outage={outage}: {other:?} after {events:?}"),
        }
        session.disconnect().await;
    }
}
