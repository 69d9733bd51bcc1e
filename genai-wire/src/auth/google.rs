//! Google OAuth2 token sources for Vertex AI: service accounts (through yup-oauth2),
//! gcloud user credentials (`authorized_user`, refresh-token grant done here with
//! reqwest because yup-oauth2 hard-codes that token URI), and Application Default
//! Credentials discovery.
//!
//! All of them cache the token and refresh it [`DEFAULT_REFRESH_MARGIN`] before expiry,
//! retry transient failures with backoff ([`RetryPolicy`]), and keep every secret
//! (private key, client secret, refresh token, access token) out of `Debug`, errors and
//! logs.

use std::ffi::OsString;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::Deserialize;
use url::Url;
use yup_oauth2::authenticator::DefaultAuthenticator;

use super::cache::{FetchError, Fetched, RetryPolicy, TokenCache};
use super::{TokenFuture, TokenSource};
use crate::{Error, Result, Secret};

#[cfg(doc)]
use super::cache::DEFAULT_REFRESH_MARGIN;

/// The OAuth2 scope Vertex AI needs.
pub const CLOUD_PLATFORM_SCOPE: &str = "https://www.googleapis.com/auth/cloud-platform";
/// Google's OAuth2 token endpoint (the default for `authorized_user` refreshes).
pub const DEFAULT_TOKEN_URI: &str = "https://oauth2.googleapis.com/token";

/// A serde error without the offending value (which may be a secret).
fn json_error(what: &str, e: &serde_json::Error) -> Error {
    let kind = match e.classify() {
        serde_json::error::Category::Data => "missing or mistyped field",
        serde_json::error::Category::Syntax | serde_json::error::Category::Eof => "invalid JSON",
        serde_json::error::Category::Io => "read error",
    };
    // The message of a missing-field error names the field, not a value: keep those.
    let detail = e.to_string();
    let detail = if detail.starts_with("missing field") {
        format!(": {}", detail.split(" at line").next().unwrap_or_default())
    } else {
        String::new()
    };
    Error::Auth(format!(
        "{what}: {kind}{detail} (line {}, column {})",
        e.line(),
        e.column()
    ))
}

fn read_file(path: &Path) -> Result<String> {
    std::fs::read_to_string(path).map_err(|e| {
        Error::Auth(format!(
            "cannot read credentials file {}: {e}",
            path.display()
        ))
    })
}

/// `expires_in` from an absolute expiry.
fn until(unix_secs: i64) -> Duration {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    Duration::from_secs(unix_secs.saturating_sub(now).max(0) as u64)
}

// ---------------------------------------------------------------------------------------
// Service account (yup-oauth2)

/// Access tokens for a service account, signed with its private key (JWT-bearer grant,
/// through yup-oauth2) and requested from the key's `token_uri` (so a custom or local
/// token endpoint works). Scope: [`CLOUD_PLATFORM_SCOPE`] unless changed.
pub struct ServiceAccountTokenSource {
    auth: DefaultAuthenticator,
    scopes: Vec<String>,
    client_email: String,
    quota_project: Option<String>,
    cache: TokenCache,
}

impl fmt::Debug for ServiceAccountTokenSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServiceAccountTokenSource")
            .field("client_email", &self.client_email)
            .field("scopes", &self.scopes)
            .field("quota_project", &self.quota_project)
            .finish_non_exhaustive()
    }
}

impl ServiceAccountTokenSource {
    /// From a service-account key file (the JSON downloaded from the console).
    pub async fn from_file(path: impl AsRef<Path>) -> Result<Self> {
        let json = read_file(path.as_ref())?;
        Self::from_json(&json).await
    }

    /// From the key file's JSON text.
    pub async fn from_json(json: &str) -> Result<Self> {
        let key: yup_oauth2::ServiceAccountKey =
            serde_json::from_str(json).map_err(|e| json_error("service account key", &e))?;
        if let Some(t) = &key.key_type
            && t != "service_account"
        {
            return Err(Error::Auth(format!(
                "credentials of type `{t}` are not a service account key"
            )));
        }
        Url::parse(&key.token_uri)
            .map_err(|e| Error::Auth(format!("service account token_uri is not a URL: {e}")))?;
        let client_email = key.client_email.clone();
        let auth = yup_oauth2::ServiceAccountAuthenticator::builder(key)
            .build()
            .await
            .map_err(|e| Error::Auth(format!("cannot set up service account auth: {e}")))?;
        Ok(ServiceAccountTokenSource {
            auth,
            scopes: vec![CLOUD_PLATFORM_SCOPE.to_owned()],
            client_email,
            quota_project: None,
            cache: TokenCache::new(),
        })
    }

    /// Replaces the requested scopes.
    pub fn with_scopes<I, S>(mut self, scopes: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.scopes = scopes.into_iter().map(Into::into).collect();
        self
    }

    /// Refresh a token when less than `margin` of its life remains (default 5 min).
    pub fn with_refresh_margin(mut self, margin: Duration) -> Self {
        self.cache.set_margin(margin);
        self
    }

    /// How failed token requests are retried.
    pub fn with_retry(mut self, retry: RetryPolicy) -> Self {
        self.cache.set_retry(retry);
        self
    }

    /// Also send `x-goog-user-project: project`.
    pub fn with_quota_project(mut self, project: impl Into<String>) -> Self {
        self.quota_project = Some(project.into());
        self
    }

    /// The service account's email.
    pub fn client_email(&self) -> &str {
        &self.client_email
    }

    async fn fetch(&self) -> std::result::Result<Fetched, FetchError> {
        // Our cache decides when to refresh; yup-oauth2 signs and posts.
        match self.auth.force_refreshed_token(&self.scopes).await {
            Ok(t) => {
                let token = t
                    .token()
                    .ok_or_else(|| FetchError::transient("token response had no access_token"))?;
                Ok(Fetched {
                    token: Secret::new(token),
                    expires_in: t.expiration_time().map(|e| until(e.unix_timestamp())),
                })
            }
            Err(e) => Err(classify_yup(&e)),
        }
    }
}

fn classify_yup(e: &yup_oauth2::Error) -> FetchError {
    use yup_oauth2::Error as Y;
    use yup_oauth2::error::AuthErrorCode as C;
    match e {
        Y::AuthError(a) => match a.error {
            C::ExpiredToken | C::Other(_) => FetchError::transient(e.to_string()),
            _ => FetchError::fatal(e.to_string()),
        },
        Y::UserError(_) | Y::CredentialSourceError(_) => FetchError::fatal(e.to_string()),
        // A 5xx usually comes back as a non-JSON body: JSONError. Network errors too.
        _ => FetchError::transient(e.to_string()),
    }
}

impl TokenSource for ServiceAccountTokenSource {
    fn token(&self) -> TokenFuture<'_> {
        Box::pin(self.cache.get("service account token", || self.fetch()))
    }

    fn invalidate(&self) {
        self.cache.invalidate();
    }

    fn quota_project(&self) -> Option<&str> {
        self.quota_project.as_deref()
    }
}

// ---------------------------------------------------------------------------------------
// Authorized user (gcloud application-default login)

#[derive(Deserialize)]
struct AuthorizedUserJson {
    client_id: String,
    client_secret: String,
    refresh_token: String,
    #[serde(default)]
    quota_project_id: Option<String>,
    #[serde(default)]
    token_uri: Option<String>,
}

#[derive(Deserialize)]
struct TokenResponse {
    access_token: String,
    #[serde(default)]
    expires_in: Option<u64>,
}

#[derive(Deserialize)]
struct OAuthErrorBody {
    error: String,
    #[serde(default)]
    error_description: Option<String>,
}

/// Access tokens for a gcloud user (`gcloud auth application-default login`, JSON
/// `"type": "authorized_user"`): a refresh-token grant POSTed to the token URI
/// ([`DEFAULT_TOKEN_URI`] unless the file or [`Self::with_token_uri`] says otherwise).
/// The file's `quota_project_id` becomes `x-goog-user-project`.
pub struct AuthorizedUserTokenSource {
    client_id: String,
    client_secret: Secret,
    refresh_token: Secret,
    token_uri: Url,
    quota_project: Option<String>,
    http: reqwest::Client,
    cache: TokenCache,
}

impl fmt::Debug for AuthorizedUserTokenSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthorizedUserTokenSource")
            .field("client_id", &self.client_id)
            .field("client_secret", &self.client_secret)
            .field("refresh_token", &self.refresh_token)
            .field("token_uri", &self.token_uri.as_str())
            .field("quota_project", &self.quota_project)
            .finish_non_exhaustive()
    }
}

impl AuthorizedUserTokenSource {
    /// From an `authorized_user` JSON file.
    pub fn from_file(path: impl AsRef<Path>) -> Result<Self> {
        Self::from_json(&read_file(path.as_ref())?)
    }

    /// From `authorized_user` JSON text.
    pub fn from_json(json: &str) -> Result<Self> {
        let v: serde_json::Value = serde_json::from_str(json)
            .map_err(|e| json_error("authorized user credentials", &e))?;
        if let Some(t) = v.get("type").and_then(|t| t.as_str())
            && t != "authorized_user"
        {
            return Err(Error::Auth(format!(
                "credentials of type `{t}` are not authorized_user credentials"
            )));
        }
        let j: AuthorizedUserJson =
            serde_json::from_value(v).map_err(|e| json_error("authorized user credentials", &e))?;
        let token_uri = j.token_uri.as_deref().unwrap_or(DEFAULT_TOKEN_URI);
        let token_uri = parse_token_uri(token_uri)?;
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .map_err(|e| Error::Auth(format!("cannot build HTTP client: {e}")))?;
        Ok(AuthorizedUserTokenSource {
            client_id: j.client_id,
            client_secret: Secret::new(j.client_secret),
            refresh_token: Secret::new(j.refresh_token),
            token_uri,
            quota_project: j.quota_project_id.filter(|p| !p.is_empty()),
            http,
            cache: TokenCache::new(),
        })
    }

    /// Sends the refresh request to `uri` instead (e.g. a local test server).
    pub fn with_token_uri(mut self, uri: &str) -> Result<Self> {
        self.token_uri = parse_token_uri(uri)?;
        Ok(self)
    }

    /// Uses this HTTP client for token requests.
    pub fn with_http_client(mut self, client: reqwest::Client) -> Self {
        self.http = client;
        self
    }

    /// Refresh a token when less than `margin` of its life remains (default 5 min).
    pub fn with_refresh_margin(mut self, margin: Duration) -> Self {
        self.cache.set_margin(margin);
        self
    }

    /// How failed token requests are retried.
    pub fn with_retry(mut self, retry: RetryPolicy) -> Self {
        self.cache.set_retry(retry);
        self
    }

    /// Overrides (or clears) the quota project.
    pub fn with_quota_project(mut self, project: Option<String>) -> Self {
        self.quota_project = project;
        self
    }

    async fn fetch(&self) -> std::result::Result<Fetched, FetchError> {
        let body = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("grant_type", "refresh_token")
            .append_pair("client_id", &self.client_id)
            .append_pair("client_secret", self.client_secret.expose())
            .append_pair("refresh_token", self.refresh_token.expose())
            .finish();
        let resp = self
            .http
            .post(self.token_uri.clone())
            .header(
                http::header::CONTENT_TYPE,
                "application/x-www-form-urlencoded",
            )
            .header(http::header::ACCEPT, "application/json")
            .body(body)
            .send()
            .await
            // reqwest errors name the URL, which holds no secret.
            .map_err(|e| FetchError::transient(format!("token request failed: {e}")))?;
        let status = resp.status();
        let bytes = resp
            .bytes()
            .await
            .map_err(|e| FetchError::transient(format!("reading token response: {e}")))?;
        if !status.is_success() {
            let detail = serde_json::from_slice::<OAuthErrorBody>(&bytes)
                .map(|b| match b.error_description {
                    Some(d) => format!(": {}: {}", b.error, truncate(&d, 200)),
                    None => format!(": {}", b.error),
                })
                .unwrap_or_default();
            let msg = format!("token endpoint answered {status}{detail}");
            return Err(if status.is_server_error() || status.as_u16() == 429 {
                FetchError::transient(msg)
            } else {
                FetchError::fatal(msg)
            });
        }
        let t: TokenResponse = serde_json::from_slice(&bytes).map_err(|e| {
            FetchError::transient(format!(
                "token response is not the expected JSON (line {}, column {})",
                e.line(),
                e.column()
            ))
        })?;
        if t.access_token.is_empty() {
            return Err(FetchError::transient(
                "token response had an empty access_token",
            ));
        }
        Ok(Fetched {
            token: Secret::new(t.access_token),
            expires_in: t.expires_in.map(Duration::from_secs),
        })
    }
}

fn truncate(s: &str, n: usize) -> &str {
    match s.char_indices().nth(n) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}

fn parse_token_uri(uri: &str) -> Result<Url> {
    let u = Url::parse(uri).map_err(|e| Error::Auth(format!("token URI is not a URL: {e}")))?;
    match u.scheme() {
        "https" | "http" => Ok(u),
        s => Err(Error::Auth(format!(
            "token URI scheme must be http(s), not `{s}`"
        ))),
    }
}

impl TokenSource for AuthorizedUserTokenSource {
    fn token(&self) -> TokenFuture<'_> {
        Box::pin(self.cache.get("authorized user token", || self.fetch()))
    }

    fn invalidate(&self) {
        self.cache.invalidate();
    }

    fn quota_project(&self) -> Option<&str> {
        self.quota_project.as_deref()
    }
}

// ---------------------------------------------------------------------------------------
// Discovery

/// A token source from a credentials JSON of type `service_account` or
/// `authorized_user` (other types, e.g. `external_account`, are refused).
pub async fn token_source_from_json(json: &str) -> Result<Arc<dyn TokenSource>> {
    #[derive(Deserialize)]
    struct Typed {
        #[serde(rename = "type")]
        kind: Option<String>,
    }
    let t: Typed = serde_json::from_str(json).map_err(|e| json_error("credentials", &e))?;
    match t.kind.as_deref() {
        Some("service_account") => Ok(Arc::new(ServiceAccountTokenSource::from_json(json).await?)),
        Some("authorized_user") => Ok(Arc::new(AuthorizedUserTokenSource::from_json(json)?)),
        Some(other) => Err(Error::Auth(format!(
            "credentials of type `{other}` are not supported (use service_account or authorized_user, or implement TokenSource)"
        ))),
        None => Err(Error::Auth("credentials JSON has no `type`".into())),
    }
}

/// [`token_source_from_json`] on a file's contents.
pub async fn token_source_from_file(path: impl AsRef<Path>) -> Result<Arc<dyn TokenSource>> {
    let path = path.as_ref();
    let json = read_file(path)?;
    token_source_from_json(&json).await.map_err(|e| match e {
        Error::Auth(m) => Error::Auth(format!("{}: {m}", path.display())),
        e => e,
    })
}

/// Where Application Default Credentials are read from: `GOOGLE_APPLICATION_CREDENTIALS`
/// if set (the file must exist), else gcloud's
/// `application_default_credentials.json` (in `$CLOUDSDK_CONFIG`, else
/// `~/.config/gcloud`, or `%APPDATA%\gcloud` on Windows) if it exists.
pub fn adc_path() -> Result<PathBuf> {
    let config_dir = std::env::var_os("CLOUDSDK_CONFIG")
        .filter(|s| !s.is_empty())
        .map(PathBuf::from)
        .or_else(|| {
            if cfg!(windows) {
                std::env::var_os("APPDATA").map(|a| PathBuf::from(a).join("gcloud"))
            } else {
                std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".config").join("gcloud"))
            }
        });
    adc_path_from(
        std::env::var_os("GOOGLE_APPLICATION_CREDENTIALS"),
        config_dir,
    )
}

fn adc_path_from(env: Option<OsString>, gcloud_dir: Option<PathBuf>) -> Result<PathBuf> {
    if let Some(p) = env.filter(|p| !p.is_empty()) {
        let p = PathBuf::from(p);
        if p.is_file() {
            return Ok(p);
        }
        return Err(Error::Auth(format!(
            "GOOGLE_APPLICATION_CREDENTIALS points to {}, which is not a readable file",
            p.display()
        )));
    }
    if let Some(dir) = gcloud_dir {
        let p = dir.join("application_default_credentials.json");
        if p.is_file() {
            return Ok(p);
        }
    }
    Err(Error::Auth(
        "no Application Default Credentials: set GOOGLE_APPLICATION_CREDENTIALS to a key file, \
         or run `gcloud auth application-default login` (the metadata server is not supported)"
            .into(),
    ))
}

/// Application Default Credentials: the token source for the file [`adc_path`] finds.
pub async fn adc() -> Result<Arc<dyn TokenSource>> {
    let path = adc_path()?;
    tracing::debug!(path = %path.display(), "using application default credentials");
    token_source_from_file(&path).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tmpdir(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("genai-wire-adc-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn adc_path_order() {
        let d = tmpdir("order");
        let key = d.join("key.json");
        std::fs::write(&key, "{}").unwrap();
        // The env var wins.
        assert_eq!(
            adc_path_from(Some(key.clone().into()), Some(d.clone())).unwrap(),
            key
        );
        // Env var set to a missing file: an error, no fallback.
        let err = adc_path_from(Some(d.join("nope.json").into()), Some(d.clone())).unwrap_err();
        assert!(err.to_string().contains("GOOGLE_APPLICATION_CREDENTIALS"));
        // gcloud's file.
        assert!(adc_path_from(None, Some(d.clone())).is_err());
        let gc = d.join("application_default_credentials.json");
        std::fs::write(&gc, "{}").unwrap();
        assert_eq!(adc_path_from(None, Some(d.clone())).unwrap(), gc);
        assert_eq!(
            adc_path_from(Some(OsString::new()), Some(d.clone())).unwrap(),
            gc
        );
        let err = adc_path_from(None, None).unwrap_err();
        assert!(matches!(err, Error::Auth(_)));
        assert!(
            err.to_string()
                .contains("gcloud auth application-default login")
        );
        let _ = std::fs::remove_dir_all(&d);
    }

    #[tokio::test]
    async fn unknown_types_and_bad_json_do_not_leak() {
        let err = token_source_from_json(r#"{"type":"external_account"}"#)
            .await
            .err()
            .unwrap();
        assert!(err.to_string().contains("external_account"));
        let err = token_source_from_json(r#"{"client_secret": 5}"#)
            .await
            .err()
            .unwrap();
        assert!(matches!(err, Error::Auth(_)));
        // A mistyped field must not echo its (secret) value.
        let err = AuthorizedUserTokenSource::from_json(
            r#"{"type":"authorized_user","client_id":"c","client_secret":"s","refresh_token":["TOPSECRET"]}"#,
        )
        .err()
        .unwrap();
        assert!(!err.to_string().contains("TOPSECRET"), "{err}");
        let err =
            AuthorizedUserTokenSource::from_json(r#"{"type":"authorized_user","client_id":"c"}"#)
                .err()
                .unwrap();
        assert!(err.to_string().contains("client_secret"), "{err}");
    }

    #[test]
    fn authorized_user_parses_and_redacts() {
        let src = AuthorizedUserTokenSource::from_json(
            r#"{"type":"authorized_user","client_id":"cid.apps.googleusercontent.com",
                "client_secret":"CLIENTSECRET","refresh_token":"1//REFRESHSECRET",
                "quota_project_id":"qp"}"#,
        )
        .unwrap();
        assert_eq!(src.token_uri.as_str(), DEFAULT_TOKEN_URI);
        assert_eq!(TokenSource::quota_project(&src), Some("qp"));
        let dbg = format!("{src:?}");
        assert!(
            !dbg.contains("CLIENTSECRET") && !dbg.contains("REFRESHSECRET"),
            "{dbg}"
        );
        assert!(src.with_token_uri("ftp://x").is_err());
    }
}
