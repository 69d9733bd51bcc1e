//! Token sources against a local OAuth2 token endpoint on 127.0.0.1: a tiny HTTP/1.1
//! server on a tokio `TcpListener` that answers scripted responses and records requests.
//! The service-account key is a throwaway RSA key generated here by rcgen.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine;
use genai_wire::Error;
use genai_wire::auth::{
    AuthorizedUserTokenSource, CLOUD_PLATFORM_SCOPE, Credentials, RetryPolicy,
    ServiceAccountTokenSource, TokenSource, connect_request, token_source_from_file,
    token_source_from_json,
};
use genai_wire::endpoint::Endpoint;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

#[derive(Clone, Debug)]
struct Recorded {
    path: String,
    content_type: String,
    body: String,
}

struct TokenServer {
    url: String,
    script: Arc<Mutex<VecDeque<(u16, String)>>>,
    requests: Arc<Mutex<Vec<Recorded>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for TokenServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn token_json(token: &str, expires_in: u64) -> (u16, String) {
    (
        200,
        format!(r#"{{"access_token":"{token}","expires_in":{expires_in},"token_type":"Bearer"}}"#),
    )
}

impl TokenServer {
    /// Answers each request with the next scripted response; when the script runs out,
    /// with a fresh token `tok-N` valid for an hour.
    async fn start(script: Vec<(u16, String)>) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!(
            "http://127.0.0.1:{}/token",
            listener.local_addr().unwrap().port()
        );
        let script = Arc::new(Mutex::new(VecDeque::from(script)));
        let requests = Arc::new(Mutex::new(Vec::new()));
        let (s, r) = (script.clone(), requests.clone());
        let task = tokio::spawn(async move {
            loop {
                let (mut tcp, _) = listener.accept().await.unwrap();
                let (s, r) = (s.clone(), r.clone());
                tokio::spawn(async move {
                    let Some(rec) = read_request(&mut tcp).await else {
                        return;
                    };
                    let n = {
                        let mut reqs = r.lock().unwrap();
                        reqs.push(rec);
                        reqs.len()
                    };
                    let (status, body) = s
                        .lock()
                        .unwrap()
                        .pop_front()
                        .unwrap_or_else(|| token_json(&format!("tok-{n}"), 3600));
                    let reason = if status == 200 { "OK" } else { "Error" };
                    let resp = format!(
                        "HTTP/1.1 {status} {reason}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                        body.len()
                    );
                    let _ = tcp.write_all(resp.as_bytes()).await;
                    let _ = tcp.shutdown().await;
                });
            }
        });
        TokenServer {
            url,
            script,
            requests,
            task,
        }
    }

    fn requests(&self) -> Vec<Recorded> {
        self.requests.lock().unwrap().clone()
    }

    fn push(&self, resp: (u16, String)) {
        self.script.lock().unwrap().push_back(resp);
    }
}

async fn read_request(tcp: &mut tokio::net::TcpStream) -> Option<Recorded> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        let n = tcp.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let mut lines = head.lines();
    let request_line = lines.next()?;
    let mut parts = request_line.split_whitespace();
    assert_eq!(parts.next()?, "POST", "token requests are POSTs");
    let path = parts.next()?.to_owned();
    let mut content_length = 0;
    let mut content_type = String::new();
    for l in lines {
        if let Some((k, v)) = l.split_once(':') {
            match k.trim().to_ascii_lowercase().as_str() {
                "content-length" => content_length = v.trim().parse().unwrap(),
                "content-type" => content_type = v.trim().to_owned(),
                _ => {}
            }
        }
    }
    while buf.len() < head_end + content_length {
        let n = tcp.read(&mut chunk).await.ok()?;
        if n == 0 {
            break;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    Some(Recorded {
        path,
        content_type,
        body: String::from_utf8_lossy(&buf[head_end..]).into_owned(),
    })
}

fn form(body: &str) -> Vec<(String, String)> {
    url::form_urlencoded::parse(body.as_bytes())
        .into_owned()
        .collect()
}

fn field(body: &str, name: &str) -> Option<String> {
    form(body)
        .into_iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v)
}

fn fast_retry() -> RetryPolicy {
    RetryPolicy::default().with_backoff(Duration::from_millis(10), Duration::from_millis(50))
}

/// A service-account key JSON with a fresh throwaway RSA key and `token_uri`.
fn service_account_json(token_uri: &str) -> String {
    let key =
        rcgen::KeyPair::generate_for(&rcgen::PKCS_RSA_SHA256).expect("RSA keygen (aws-lc-rs)");
    serde_json::json!({
        "type": "service_account",
        "project_id": "test-proj",
        "private_key_id": "test-key-id",
        "private_key": key.serialize_pem(),
        "client_email": "live-test@test-proj.iam.gserviceaccount.com",
        "client_id": "1234567890",
        "auth_uri": "https://accounts.google.com/o/oauth2/auth",
        "token_uri": token_uri,
    })
    .to_string()
}

fn authorized_user_json(token_uri: Option<&str>) -> String {
    let mut v = serde_json::json!({
        "type": "authorized_user",
        "client_id": "cid.apps.googleusercontent.com",
        "client_secret": "CLIENTSECRET-xyz",
        "refresh_token": "1//REFRESHSECRET-abc",
        "quota_project_id": "billing-proj",
    });
    if let Some(u) = token_uri {
        v["token_uri"] = u.into();
    }
    v.to_string()
}

fn jwt_claims(assertion: &str) -> serde_json::Value {
    let payload = assertion.split('.').nth(1).expect("JWT has three parts");
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .unwrap();
    serde_json::from_slice(&bytes).unwrap()
}

#[tokio::test]
async fn service_account_token_is_fetched_and_cached() {
    let server = TokenServer::start(vec![token_json("ya29.sa-one", 3600)]).await;
    let src = ServiceAccountTokenSource::from_json(&service_account_json(&server.url))
        .await
        .unwrap();
    assert_eq!(
        src.client_email(),
        "live-test@test-proj.iam.gserviceaccount.com"
    );
    assert_eq!(src.token().await.unwrap().expose(), "ya29.sa-one");
    assert_eq!(src.token().await.unwrap().expose(), "ya29.sa-one");
    let reqs = server.requests();
    assert_eq!(reqs.len(), 1, "the second call is served from the cache");
    assert_eq!(reqs[0].path, "/token");
    assert_eq!(
        field(&reqs[0].body, "grant_type").as_deref(),
        Some("urn:ietf:params:oauth:grant-type:jwt-bearer")
    );
    let claims = jwt_claims(&field(&reqs[0].body, "assertion").unwrap());
    assert_eq!(claims["iss"], "live-test@test-proj.iam.gserviceaccount.com");
    assert_eq!(claims["aud"], server.url.as_str());
    assert_eq!(claims["scope"], CLOUD_PLATFORM_SCOPE);
    // Debug shows no key material.
    let dbg = format!("{src:?}");
    assert!(
        !dbg.contains("PRIVATE KEY") && !dbg.contains("ya29"),
        "{dbg}"
    );

    // The bearer header on a Vertex connect request.
    let creds = Credentials::bearer(src);
    let ep = Endpoint::vertex("test-proj", "us-central1").unwrap();
    let req = connect_request(&ep, &creds).await.unwrap();
    assert_eq!(req.headers["authorization"], "Bearer ya29.sa-one");
    assert!(!format!("{req:?} {creds:?}").contains("ya29"));
    assert_eq!(server.requests().len(), 1);
}

#[tokio::test]
async fn service_account_token_is_refreshed_near_expiry() {
    // 10 s of life is inside the 5-minute margin: every call refreshes.
    let server =
        TokenServer::start(vec![token_json("short-1", 10), token_json("short-2", 10)]).await;
    let src = ServiceAccountTokenSource::from_json(&service_account_json(&server.url))
        .await
        .unwrap();
    assert_eq!(src.token().await.unwrap().expose(), "short-1");
    assert_eq!(src.token().await.unwrap().expose(), "short-2");
    assert_eq!(server.requests().len(), 2);
    // With no margin, the 10 s token is good for a while... until invalidated.
    let src = ServiceAccountTokenSource::from_json(&service_account_json(&server.url))
        .await
        .unwrap()
        .with_refresh_margin(Duration::ZERO);
    server.push(token_json("long-ish", 10));
    assert_eq!(src.token().await.unwrap().expose(), "long-ish");
    assert_eq!(src.token().await.unwrap().expose(), "long-ish");
    assert_eq!(server.requests().len(), 3);
    src.invalidate();
    assert_eq!(src.token().await.unwrap().expose(), "tok-4");
}

#[tokio::test]
async fn service_account_retries_after_500_but_not_after_invalid_grant() {
    let server = TokenServer::start(vec![
        (500, "<html>oops</html>".into()),
        (503, r#"{"error":"backendError"}"#.into()),
        token_json("after-retry", 3600),
    ])
    .await;
    let src = ServiceAccountTokenSource::from_json(&service_account_json(&server.url))
        .await
        .unwrap()
        .with_retry(fast_retry());
    assert_eq!(src.token().await.unwrap().expose(), "after-retry");
    assert_eq!(server.requests().len(), 3);

    let server = TokenServer::start(vec![(
        400,
        r#"{"error":"invalid_grant","error_description":"Invalid JWT Signature."}"#.into(),
    )])
    .await;
    let src = ServiceAccountTokenSource::from_json(&service_account_json(&server.url))
        .await
        .unwrap()
        .with_retry(fast_retry());
    let err = src.token().await.unwrap_err();
    assert!(matches!(err, Error::Auth(_)), "{err:?}");
    assert!(err.is_fatal());
    assert_eq!(server.requests().len(), 1, "a refusal is not retried");
}

#[tokio::test]
async fn service_account_retries_are_bounded() {
    let server = TokenServer::start((0..10).map(|_| (500, "down".to_owned())).collect()).await;
    let src = ServiceAccountTokenSource::from_json(&service_account_json(&server.url))
        .await
        .unwrap()
        .with_retry(fast_retry().with_max_attempts(3));
    assert!(src.token().await.is_err());
    assert_eq!(server.requests().len(), 3);
}

#[tokio::test]
async fn authorized_user_refresh_grant() {
    let server = TokenServer::start(vec![token_json("ya29.user-1", 3600)]).await;
    let src = AuthorizedUserTokenSource::from_json(&authorized_user_json(None))
        .unwrap()
        .with_token_uri(&server.url)
        .unwrap()
        .with_http_client(reqwest::Client::builder().no_proxy().build().unwrap());
    assert_eq!(src.token().await.unwrap().expose(), "ya29.user-1");
    assert_eq!(src.token().await.unwrap().expose(), "ya29.user-1");
    let reqs = server.requests();
    assert_eq!(reqs.len(), 1);
    assert_eq!(reqs[0].content_type, "application/x-www-form-urlencoded");
    let f = &reqs[0].body;
    assert_eq!(field(f, "grant_type").as_deref(), Some("refresh_token"));
    assert_eq!(
        field(f, "refresh_token").as_deref(),
        Some("1//REFRESHSECRET-abc")
    );
    assert_eq!(
        field(f, "client_id").as_deref(),
        Some("cid.apps.googleusercontent.com")
    );
    assert_eq!(
        field(f, "client_secret").as_deref(),
        Some("CLIENTSECRET-xyz")
    );
    assert_eq!(src.quota_project(), Some("billing-proj"));

    let creds = Credentials::Bearer(Arc::new(src));
    let req = connect_request(&Endpoint::vertex("p", "global").unwrap(), &creds)
        .await
        .unwrap();
    assert_eq!(req.headers["authorization"], "Bearer ya29.user-1");
    assert_eq!(req.headers["x-goog-user-project"], "billing-proj");
    let dbg = format!("{req:?} {creds:?}");
    for s in ["ya29", "REFRESHSECRET", "CLIENTSECRET"] {
        assert!(!dbg.contains(s), "{s} in {dbg}");
    }
}

#[tokio::test]
async fn authorized_user_refresh_retry_and_refusal() {
    let server = TokenServer::start(vec![
        (500, "internal".into()),
        token_json("u-short", 60),
        token_json("u-next", 3600),
    ])
    .await;
    // token_uri from the JSON itself.
    let src = AuthorizedUserTokenSource::from_json(&authorized_user_json(Some(&server.url)))
        .unwrap()
        .with_retry(fast_retry());
    assert_eq!(src.token().await.unwrap().expose(), "u-short");
    assert_eq!(server.requests().len(), 2, "one 500, one success");
    // 60 s left is inside the 5-minute margin: refreshed.
    assert_eq!(src.token().await.unwrap().expose(), "u-next");
    assert_eq!(src.token().await.unwrap().expose(), "u-next");
    assert_eq!(server.requests().len(), 3);

    let server = TokenServer::start(vec![(
        400,
        r#"{"error":"invalid_grant","error_description":"Token has been expired or revoked."}"#
            .into(),
    )])
    .await;
    let src = AuthorizedUserTokenSource::from_json(&authorized_user_json(Some(&server.url)))
        .unwrap()
        .with_retry(fast_retry());
    let err = src.token().await.unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.contains("invalid_grant") && msg.contains("400"),
        "{msg}"
    );
    assert!(
        !msg.contains("REFRESHSECRET") && !msg.contains("CLIENTSECRET"),
        "{msg}"
    );
    assert_eq!(server.requests().len(), 1);
}

#[tokio::test]
async fn credentials_files_of_both_types() {
    let server = TokenServer::start(vec![]).await;
    let dir = std::env::temp_dir().join(format!("genai-wire-auth-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let sa = dir.join("sa.json");
    std::fs::write(&sa, service_account_json(&server.url)).unwrap();
    let user = dir.join("user.json");
    std::fs::write(&user, authorized_user_json(Some(&server.url))).unwrap();

    let a = token_source_from_file(&sa).await.unwrap();
    assert_eq!(a.token().await.unwrap().expose(), "tok-1");
    let b = token_source_from_file(&user).await.unwrap();
    assert_eq!(b.token().await.unwrap().expose(), "tok-2");
    assert_eq!(b.quota_project(), Some("billing-proj"));
    let reqs = server.requests();
    assert!(field(&reqs[0].body, "assertion").is_some());
    assert_eq!(
        field(&reqs[1].body, "grant_type").as_deref(),
        Some("refresh_token")
    );

    let err = token_source_from_json(r#"{"type":"external_account"}"#)
        .await
        .err()
        .unwrap();
    assert!(matches!(err, Error::Auth(_)));
    let err = token_source_from_file(dir.join("missing.json"))
        .await
        .err()
        .unwrap();
    assert!(matches!(err, Error::Auth(_)));
    let _ = std::fs::remove_dir_all(&dir);
}
