//! Credentials and the connect request (URL + headers) they produce.
//!
//! Why headers and never the URL: URLs end up in logs, proxies and error messages; the
//! Python SDK sends the key as `x-goog-api-key` and tokens as `Authorization`, and so do
//! we (ai.google.dev/api/live; google-genai `live.py`). Every key and token is a [`Secret`], and the header values
//! of a [`ConnectRequest`] are marked sensitive, so `Debug` output never shows them.
//!
//! Vertex AI needs an OAuth2 access token. [`TokenSource`] is the seam for that: use
//! `ServiceAccountTokenSource` (yup-oauth2), `AuthorizedUserTokenSource` (gcloud user
//! credentials), `adc` (discovery like `gcloud`), all three behind the default `oauth`
//! feature, or [`StaticToken`], or plug in another provider (gcp_auth,
//! google-cloud-auth) by implementing the trait.

#[cfg(feature = "oauth")]
mod cache;
#[cfg(feature = "oauth")]
mod google;

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use http::header::{AUTHORIZATION, HeaderMap, HeaderName, HeaderValue, USER_AGENT};
use url::Url;

use crate::endpoint::Endpoint;
use crate::{Error, Result, Secret};

#[cfg(feature = "oauth")]
#[cfg_attr(docsrs, doc(cfg(feature = "oauth")))]
pub use cache::{DEFAULT_REFRESH_MARGIN, RetryPolicy};
#[cfg(feature = "oauth")]
#[cfg_attr(docsrs, doc(cfg(feature = "oauth")))]
pub use google::{
    AuthorizedUserTokenSource, CLOUD_PLATFORM_SCOPE, DEFAULT_TOKEN_URI, ServiceAccountTokenSource,
    adc, adc_path, token_source_from_file, token_source_from_json,
};

/// The client identification sent as `user-agent` and `x-goog-api-client`.
pub const CLIENT_ID: &str = concat!("genai-wire-rust/", env!("CARGO_PKG_VERSION"));

/// The future a [`TokenSource`] returns.
pub type TokenFuture<'a> = Pin<Box<dyn Future<Output = Result<Secret>> + Send + 'a>>;

/// Something that produces OAuth2 access tokens (for `Authorization: Bearer`).
///
/// Implementations cache and refresh tokens themselves: [`TokenSource::token`] is called
/// on every connect and should be cheap when a fresh token is at hand.
pub trait TokenSource: Send + Sync {
    /// A currently valid access token.
    fn token(&self) -> TokenFuture<'_>;

    /// Forget any cached token (e.g. after the server refused it), so the next call to
    /// [`TokenSource::token`] fetches a new one. Default: nothing to forget.
    fn invalidate(&self) {}

    /// The project to bill (`x-goog-user-project`), if the credentials name one.
    fn quota_project(&self) -> Option<&str> {
        None
    }
}

/// A fixed access token (e.g. from `gcloud auth print-access-token`); never refreshed.
#[derive(Clone)]
pub struct StaticToken {
    token: Secret,
    quota_project: Option<String>,
}

impl StaticToken {
    /// A source that always returns `token`.
    pub fn new(token: impl Into<Secret>) -> Self {
        StaticToken {
            token: token.into(),
            quota_project: None,
        }
    }

    /// Also sends `x-goog-user-project: project`.
    pub fn with_quota_project(mut self, project: impl Into<String>) -> Self {
        self.quota_project = Some(project.into());
        self
    }
}

impl fmt::Debug for StaticToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StaticToken")
            .field("token", &self.token)
            .field("quota_project", &self.quota_project)
            .finish()
    }
}

impl TokenSource for StaticToken {
    fn token(&self) -> TokenFuture<'_> {
        let t = self.token.clone();
        Box::pin(async move { Ok(t) })
    }

    fn quota_project(&self) -> Option<&str> {
        self.quota_project.as_deref()
    }
}

/// How a session authenticates.
#[derive(Clone, Default)]
pub enum Credentials {
    /// A Gemini API key (Developer API, or Vertex express mode): header `x-goog-api-key`.
    ApiKey(Secret),
    /// An ephemeral token `auth_tokens/…` (Developer API, [`Endpoint::ephemeral`]):
    /// header `Authorization: Token auth_tokens/…`. Build it with
    /// [`Credentials::ephemeral_token`], which adds the `auth_tokens/` prefix if missing.
    EphemeralToken(Secret),
    /// OAuth2 access tokens (Vertex AI): header `Authorization: Bearer <token>`.
    Bearer(Arc<dyn TokenSource>),
    /// No credentials (a local emulator, or a proxy that adds them).
    #[default]
    None,
}

impl Credentials {
    /// An API key.
    pub fn api_key(key: impl Into<Secret>) -> Self {
        Credentials::ApiKey(key.into())
    }

    /// An ephemeral token; `auth_tokens/` is prefixed when missing.
    pub fn ephemeral_token(token: impl Into<Secret>) -> Self {
        let token: Secret = token.into();
        if token.expose().starts_with("auth_tokens/") {
            Credentials::EphemeralToken(token)
        } else {
            Credentials::EphemeralToken(Secret::new(format!("auth_tokens/{}", token.expose())))
        }
    }

    /// OAuth2 bearer tokens from `source`.
    pub fn bearer(source: impl TokenSource + 'static) -> Self {
        Credentials::Bearer(Arc::new(source))
    }

    /// An API key from `GEMINI_API_KEY`, else `GOOGLE_API_KEY` (the SDKs' variables).
    pub fn api_key_from_env() -> Result<Self> {
        ["GEMINI_API_KEY", "GOOGLE_API_KEY"]
            .iter()
            .find_map(|v| std::env::var(v).ok().filter(|s| !s.trim().is_empty()))
            .map(|k| Credentials::ApiKey(Secret::new(k.trim())))
            .ok_or_else(|| Error::Auth("neither GEMINI_API_KEY nor GOOGLE_API_KEY is set".into()))
    }

    /// Application Default Credentials as bearer tokens (see [`adc`]).
    #[cfg(feature = "oauth")]
    pub async fn adc() -> Result<Self> {
        Ok(Credentials::Bearer(adc().await?))
    }

    /// The headers these credentials add (values marked sensitive).
    pub async fn headers(&self) -> Result<HeaderMap> {
        let mut h = HeaderMap::new();
        match self {
            Credentials::ApiKey(k) => {
                h.insert(X_GOOG_API_KEY, secret_value(k.expose())?);
            }
            Credentials::EphemeralToken(t) => {
                let t = t.expose();
                let t = if t.starts_with("auth_tokens/") {
                    t.to_owned()
                } else {
                    format!("auth_tokens/{t}")
                };
                h.insert(AUTHORIZATION, secret_value(&format!("Token {t}"))?);
            }
            Credentials::Bearer(src) => {
                let token = src.token().await?;
                h.insert(
                    AUTHORIZATION,
                    secret_value(&format!("Bearer {}", token.expose()))?,
                );
                if let Some(p) = src.quota_project() {
                    let v = HeaderValue::from_str(p)
                        .map_err(|_| Error::Auth("quota project is not a valid header".into()))?;
                    h.insert(X_GOOG_USER_PROJECT, v);
                }
            }
            Credentials::None => {}
        }
        Ok(h)
    }
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Credentials::ApiKey(_) => f.write_str("ApiKey(***)"),
            Credentials::EphemeralToken(_) => f.write_str("EphemeralToken(***)"),
            Credentials::Bearer(_) => f.write_str("Bearer(<token source>)"),
            Credentials::None => f.write_str("None"),
        }
    }
}

const X_GOOG_API_KEY: HeaderName = HeaderName::from_static("x-goog-api-key");
const X_GOOG_API_CLIENT: HeaderName = HeaderName::from_static("x-goog-api-client");
const X_GOOG_USER_PROJECT: HeaderName = HeaderName::from_static("x-goog-user-project");

fn secret_value(s: &str) -> Result<HeaderValue> {
    let mut v = HeaderValue::from_str(s).map_err(|_| {
        Error::Auth("credential contains characters not allowed in a header".into())
    })?;
    v.set_sensitive(true);
    Ok(v)
}

/// Everything needed to open the websocket: the URL and the HTTP headers of the upgrade
/// request. Credential header values are marked sensitive; `Debug` prints them as
/// `***`. The URL never carries a key.
#[derive(Clone)]
pub struct ConnectRequest {
    /// The websocket URL (`ws://` or `wss://`).
    pub url: Url,
    /// Extra headers for the upgrade request (auth, user agent, ...).
    pub headers: HeaderMap,
}

impl ConnectRequest {
    /// A request for `url` with only the client identification headers (no auth).
    pub fn new(url: Url) -> Self {
        let mut headers = HeaderMap::new();
        headers.insert(USER_AGENT, HeaderValue::from_static(CLIENT_ID));
        headers.insert(X_GOOG_API_CLIENT, HeaderValue::from_static(CLIENT_ID));
        ConnectRequest { url, headers }
    }

    /// Adds (replaces) a header; `sensitive` hides the value from `Debug`.
    pub fn with_header(
        mut self,
        name: HeaderName,
        mut value: HeaderValue,
        sensitive: bool,
    ) -> Self {
        if sensitive {
            value.set_sensitive(true);
        }
        self.headers.insert(name, value);
        self
    }
}

impl fmt::Debug for ConnectRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        struct Headers<'a>(&'a HeaderMap);
        impl fmt::Debug for Headers<'_> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                let mut m = f.debug_map();
                for (k, v) in self.0 {
                    let redact = v.is_sensitive()
                        || k == AUTHORIZATION
                        || k == X_GOOG_API_KEY
                        || k.as_str().contains("token")
                        || k.as_str().contains("key");
                    if redact {
                        m.entry(&k.as_str(), &"***");
                    } else {
                        m.entry(&k.as_str(), &v.to_str().unwrap_or("<binary>"));
                    }
                }
                m.finish()
            }
        }
        f.debug_struct("ConnectRequest")
            .field("url", &self.url.as_str())
            .field("headers", &Headers(&self.headers))
            .finish()
    }
}

/// The full connect request for `endpoint` with `credentials`: the endpoint's URL plus
/// `user-agent`, `x-goog-api-client` and the credential headers. Fetches a bearer token
/// when the credentials need one.
///
/// Warns (tracing) on combinations the server is known to refuse: an ephemeral token
/// off the `BidiGenerateContentConstrained` endpoint.
pub async fn connect_request(
    endpoint: &Endpoint,
    credentials: &Credentials,
) -> Result<ConnectRequest> {
    if matches!(credentials, Credentials::EphemeralToken(_))
        && !endpoint.is_constrained()
        && endpoint.api_version().is_some()
    {
        tracing::warn!(
            "ephemeral tokens are meant for Endpoint::ephemeral() (v1alpha BidiGenerateContentConstrained)"
        );
    }
    let mut req = ConnectRequest::new(endpoint.url());
    let auth = credentials.headers().await?;
    req.headers.extend(auth);
    tracing::debug!(url = %req.url, backend = ?endpoint.backend(), credentials = ?credentials, "built connect request");
    Ok(req)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Backend;
    use crate::endpoint::ApiVersion;

    const KEY: &str = "AIzaSyTOPSECRETKEY";

    #[tokio::test]
    async fn api_key_goes_in_a_header_not_the_url() {
        let ep = Endpoint::developer(ApiVersion::V1beta);
        let req = connect_request(&ep, &Credentials::api_key(KEY))
            .await
            .unwrap();
        assert_eq!(req.headers["x-goog-api-key"], KEY);
        assert!(req.headers["x-goog-api-key"].is_sensitive());
        assert!(!req.url.as_str().contains(KEY));
        assert!(
            req.headers["user-agent"]
                .to_str()
                .unwrap()
                .starts_with("genai-wire-rust/")
        );
        assert_eq!(req.headers["x-goog-api-client"], CLIENT_ID);
        assert!(!req.headers.contains_key("authorization"));
    }

    #[tokio::test]
    async fn ephemeral_token_is_prefixed() {
        let c = Credentials::ephemeral_token("abcSECRET");
        let req = connect_request(&Endpoint::ephemeral(), &c).await.unwrap();
        assert_eq!(req.headers["authorization"], "Token auth_tokens/abcSECRET");
        let c = Credentials::ephemeral_token("auth_tokens/xyz");
        let h = c.headers().await.unwrap();
        assert_eq!(h["authorization"], "Token auth_tokens/xyz");
        // Built directly without the helper: still prefixed.
        let h = Credentials::EphemeralToken(Secret::new("raw"))
            .headers()
            .await
            .unwrap();
        assert_eq!(h["authorization"], "Token auth_tokens/raw");
    }

    #[tokio::test]
    async fn bearer_and_quota_project() {
        let c =
            Credentials::bearer(StaticToken::new("ya29.SECRET").with_quota_project("billing-proj"));
        let ep = Endpoint::vertex("p", "us-central1").unwrap();
        let req = connect_request(&ep, &c).await.unwrap();
        assert_eq!(req.headers["authorization"], "Bearer ya29.SECRET");
        assert_eq!(req.headers["x-goog-user-project"], "billing-proj");
        let none = connect_request(&ep, &Credentials::None).await.unwrap();
        assert!(!none.headers.contains_key("authorization"));
    }

    #[tokio::test]
    async fn debug_never_shows_secrets() {
        let secrets = [
            "AIzaSyTOPSECRETKEY",
            "auth_tokens/EPHSECRET",
            "ya29.BEARERSECRET",
        ];
        let creds = [
            Credentials::api_key(secrets[0]),
            Credentials::ephemeral_token(secrets[1]),
            Credentials::bearer(StaticToken::new(secrets[2])),
        ];
        let ep = Endpoint::custom("ws://127.0.0.1:1/x", Backend::DeveloperApi).unwrap();
        for c in &creds {
            let req = connect_request(&ep, c).await.unwrap();
            let dump = format!("{c:?} {req:?} {ep:?} {ep} {:?} {:#?}", req.headers, req);
            for s in secrets {
                assert!(!dump.contains(s), "{s} leaked in {dump}");
                assert!(!dump.contains("SECRET"), "leak in {dump}");
            }
            assert!(dump.contains("user-agent"));
        }
        assert!(!format!("{:?}", StaticToken::new("ya29.SECRET")).contains("SECRET"));
    }

    #[test]
    fn bad_header_characters_are_refused() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let err = rt
            .block_on(Credentials::api_key("bad\nkey").headers())
            .unwrap_err();
        assert!(matches!(err, Error::Auth(_)));
        assert!(!err.to_string().contains("bad"));
    }
}
