//! Accepting connections: TCP, optional TLS with a generated certificate, the HTTP
//! upgrade with the real service's paths, and the credential check; binding a listener
//! and the [`EmulatorHandle`] of a bound emulator (its URLs and certificate). Each
//! accepted connection is served by `connection`.
//!
//! Paths served (a run of leading slashes is accepted, since the official SDKs build
//! `//ws/...` URLs):
//! * Developer API: `/ws/google.ai.generativelanguage.{v1beta|v1alpha|v1}.GenerativeService.BidiGenerateContent`
//!   and `...BidiGenerateContentConstrained` (ephemeral tokens);
//! * Vertex AI: `/ws/google.cloud.aiplatform.{v1beta1|v1}.LlmBidiService/BidiGenerateContent`;
//! * optionally one extra path served as Vertex ("proxy mode" of the SDKs).
//!
//! Anything else is refused with HTTP 404 before the upgrade, like production. The
//! backend of a session follows from its path, so one emulator serves both.
//!
//! Credentials (`x-goog-api-key` header, `key=` or `access_token=` query parameters,
//! `Authorization: Bearer|Token ...`) are checked after the upgrade, as the real service
//! does: a bad key is a websocket close with 1007, not an HTTP error.
//!
//! TLS uses a throwaway CA generated with rcgen once per process, and a leaf
//! certificate for `127.0.0.1`, `::1` and `localhost` signed by it. Clients trust the CA
//! ([`TlsMaterial::ca_pem`]); the Python SDK needs this because it always dials `wss`.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio::net::{TcpListener, ToSocketAddrs};
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::handshake::server::{ErrorResponse, Request};
use tokio_tungstenite::tungstenite::http::{Response, StatusCode};

use super::builder::EmulatorError;
use super::connection;
use super::instance::Emulator;
use super::shared::Shared;
use crate::Backend;

/// Which service a request path belongs to.
#[derive(Debug, Clone)]
pub(crate) struct Route {
    pub backend: Backend,
    pub api_version: String,
    /// The `BidiGenerateContentConstrained` method (ephemeral tokens).
    #[allow(dead_code)]
    pub constrained: bool,
}

/// What the upgrade request carried.
#[derive(Debug, Clone)]
pub(crate) struct RequestInfo {
    pub route: Route,
    pub path: String,
    pub auth: AuthOutcome,
}

/// The result of the credential check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum AuthOutcome {
    Ok,
    Missing,
    BadKey,
    BadToken,
}

/// Which credentials the emulator accepts.
#[derive(Debug, Clone, Default)]
pub(crate) enum Credentials {
    /// Anything, including nothing.
    #[default]
    AcceptAny,
    /// One of these secrets, presented in any of the supported places.
    OneOf(HashSet<String>),
}

/// Parses a request path into a route.
pub(crate) fn route(path: &str, proxy_path: Option<&str>) -> Option<Route> {
    let trimmed = path.trim_start_matches('/');
    let normal = format!("/{trimmed}");
    if let Some(p) = proxy_path
        && normal == format!("/{}", p.trim_start_matches('/'))
    {
        return Some(Route {
            backend: Backend::VertexAi,
            api_version: "v1beta1".into(),
            constrained: false,
        });
    }
    let rest = trimmed.strip_prefix("ws/")?;
    if let Some(rest) = rest.strip_prefix("google.ai.generativelanguage.") {
        let (version, method) = rest.split_once(".GenerativeService.")?;
        if !matches!(version, "v1beta" | "v1alpha" | "v1") {
            return None;
        }
        let constrained = match method {
            "BidiGenerateContent" => false,
            "BidiGenerateContentConstrained" => true,
            _ => return None,
        };
        return Some(Route {
            backend: Backend::DeveloperApi,
            api_version: version.into(),
            constrained,
        });
    }
    if let Some(rest) = rest.strip_prefix("google.cloud.aiplatform.") {
        let version = rest.strip_suffix(".LlmBidiService/BidiGenerateContent")?;
        if !matches!(version, "v1beta1" | "v1") {
            return None;
        }
        return Some(Route {
            backend: Backend::VertexAi,
            api_version: version.into(),
            constrained: false,
        });
    }
    None
}

/// Checks the request's credentials.
pub(crate) fn check_auth(req: &Request, creds: &Credentials) -> AuthOutcome {
    let mut keys: Vec<String> = Vec::new();
    let mut tokens: Vec<String> = Vec::new();
    if let Some(v) = req
        .headers()
        .get("x-goog-api-key")
        .and_then(|v| v.to_str().ok())
    {
        keys.push(v.trim().to_string());
    }
    if let Some(v) = req
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
    {
        let v = v.trim();
        let tok = v
            .strip_prefix("Bearer ")
            .or_else(|| v.strip_prefix("bearer "))
            .or_else(|| v.strip_prefix("Token "))
            .or_else(|| v.strip_prefix("token "))
            .unwrap_or(v);
        tokens.push(tok.trim().to_string());
    }
    if let Some(q) = req.uri().query() {
        for (k, v) in url::form_urlencoded::parse(q.as_bytes()) {
            match &*k {
                "key" => keys.push(v.into_owned()),
                "access_token" => tokens.push(v.into_owned()),
                _ => {}
            }
        }
    }
    let set = match creds {
        Credentials::AcceptAny => return AuthOutcome::Ok,
        Credentials::OneOf(set) => set,
    };
    if keys.is_empty() && tokens.is_empty() {
        return AuthOutcome::Missing;
    }
    if keys.iter().chain(tokens.iter()).any(|c| set.contains(c)) {
        AuthOutcome::Ok
    } else if !keys.is_empty() {
        AuthOutcome::BadKey
    } else {
        AuthOutcome::BadToken
    }
}

/// The upgrade callback's decision: a route (and credentials to check later) or 404.
/// (The error type is tungstenite's, hence large.)
#[allow(clippy::result_large_err)]
pub(crate) fn on_request(
    req: &Request,
    creds: &Credentials,
    proxy_path: Option<&str>,
) -> Result<RequestInfo, ErrorResponse> {
    let path = req.uri().path();
    match route(path, proxy_path) {
        Some(route) => Ok(RequestInfo {
            route,
            path: req
                .uri()
                .path_and_query()
                .map_or_else(|| path.to_string(), |p| p.to_string()),
            auth: check_auth(req, creds),
        }),
        None => {
            let mut resp = Response::new(Some(format!(
                "<!DOCTYPE html><html><body><p>The requested URL <code>{path}</code> was not found on this server.</p></body></html>"
            )));
            *resp.status_mut() = StatusCode::NOT_FOUND;
            Err(resp)
        }
    }
}

/// Binds a listener and starts accepting connections for `emu`.
pub(super) async fn listen(
    emu: Emulator,
    addr: impl ToSocketAddrs,
) -> Result<EmulatorHandle, EmulatorError> {
    let listener = TcpListener::bind(addr).await?;
    let addr = listener.local_addr()?;
    let accept = tokio::spawn(accept_loop(listener, emu.shared.clone()));
    tracing::info!(%addr, tls = emu.shared.tls.is_some(), "live emulator listening");
    Ok(EmulatorHandle {
        emu,
        addr,
        accept: Some(accept),
    })
}

/// Accepts TCP connections until shutdown; one task per connection.
async fn accept_loop(listener: TcpListener, shared: Arc<Shared>) {
    let mut shutdown = shared.shutdown.subscribe();
    let acceptor = shared
        .tls
        .as_ref()
        .map(|t| tokio_rustls::TlsAcceptor::from(t.server_config()));
    loop {
        let accepted = tokio::select! {
            _ = shutdown.changed() => break,
            r = listener.accept() => r,
        };
        let (tcp, peer) = match accepted {
            Ok(x) => x,
            Err(e) => {
                // Out of file descriptors and the like: back off instead of spinning.
                tracing::warn!(error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(20)).await;
                continue;
            }
        };
        let _ = tcp.set_nodelay(true);
        let shared = shared.clone();
        let acceptor = acceptor.clone();
        tokio::spawn(async move {
            match acceptor {
                Some(acc) => {
                    match tokio::time::timeout(Duration::from_secs(10), acc.accept(tcp)).await {
                        Ok(Ok(tls)) => connection::serve(tls, shared).await,
                        Ok(Err(e)) => tracing::debug!(%peer, error = %e, "TLS handshake failed"),
                        Err(_) => tracing::debug!(%peer, "TLS handshake timed out"),
                    }
                }
                None => connection::serve(tcp, shared).await,
            }
        });
    }
}

/// A running emulator bound to a socket. Dereferences to [`Emulator`]. Dropping it
/// stops the listener and closes every session.
pub struct EmulatorHandle {
    emu: Emulator,
    addr: SocketAddr,
    accept: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for EmulatorHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EmulatorHandle")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

impl std::ops::Deref for EmulatorHandle {
    type Target = Emulator;
    fn deref(&self) -> &Emulator {
        &self.emu
    }
}

impl Drop for EmulatorHandle {
    fn drop(&mut self) {
        self.emu.shared.shutdown.send_replace(true);
        if let Some(t) = self.accept.take() {
            t.abort();
        }
    }
}

impl EmulatorHandle {
    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The bound port.
    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    fn host(&self) -> String {
        match self.addr {
            SocketAddr::V4(a) if a.ip().is_unspecified() => "127.0.0.1".to_string(),
            SocketAddr::V4(a) => a.ip().to_string(),
            SocketAddr::V6(a) if a.ip().is_unspecified() => "[::1]".to_string(),
            SocketAddr::V6(a) => format!("[{}]", a.ip()),
        }
    }

    /// `http(s)://host:port`: what to give an SDK as `base_url`.
    pub fn base_url(&self) -> String {
        let scheme = if self.emu.shared.tls.is_some() {
            "https"
        } else {
            "http"
        };
        format!("{scheme}://{}:{}", self.host(), self.port())
    }

    fn ws_base(&self) -> String {
        let scheme = if self.emu.shared.tls.is_some() {
            "wss"
        } else {
            "ws"
        };
        format!("{scheme}://{}:{}", self.host(), self.port())
    }

    /// The Developer API websocket URL for an API version (`v1beta`, `v1alpha`, `v1`).
    pub fn developer_url(&self, version: &str) -> String {
        format!(
            "{}/ws/google.ai.generativelanguage.{version}.GenerativeService.BidiGenerateContent",
            self.ws_base()
        )
    }

    /// The Vertex websocket URL for an API version (`v1beta1`, `v1`).
    pub fn vertex_url(&self, version: &str) -> String {
        format!(
            "{}/ws/google.cloud.aiplatform.{version}.LlmBidiService/BidiGenerateContent",
            self.ws_base()
        )
    }

    /// The websocket URL of the configured backend (`v1beta` / `v1beta1`), without
    /// credentials.
    pub fn ws_url(&self) -> String {
        match self.emu.shared.cfg.backend {
            Backend::DeveloperApi => self.developer_url("v1beta"),
            Backend::VertexAi => self.vertex_url("v1beta1"),
        }
    }

    /// The CA certificate to trust (PEM), when serving TLS.
    pub fn cert_pem(&self) -> Option<&str> {
        self.emu.tls().map(TlsMaterial::ca_pem)
    }

    /// The CA certificate to trust (DER), when serving TLS.
    pub fn cert_der(&self) -> Option<&[u8]> {
        self.emu.tls().map(|t| t.ca_der().as_ref())
    }

    /// A rustls client config trusting the emulator, when serving TLS.
    pub fn client_tls_config(&self) -> Option<Arc<rustls::ClientConfig>> {
        self.emu.tls().map(TlsMaterial::client_config)
    }

    /// Stops accepting, closes every session (1001) and waits for them to end.
    pub async fn shutdown(mut self) {
        if let Some(t) = self.accept.take() {
            t.abort();
        }
        self.emu.shutdown().await;
    }
}

/// The emulator's TLS certificate material.
pub struct TlsMaterial {
    ca_pem: String,
    ca_der: CertificateDer<'static>,
    server: Arc<rustls::ServerConfig>,
    client: Arc<rustls::ClientConfig>,
}

impl std::fmt::Debug for TlsMaterial {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsMaterial").finish_non_exhaustive()
    }
}

impl TlsMaterial {
    /// The CA certificate to trust, PEM (e.g. for `SSL_CERT_FILE`).
    pub fn ca_pem(&self) -> &str {
        &self.ca_pem
    }

    /// The CA certificate to trust, DER.
    pub fn ca_der(&self) -> &CertificateDer<'static> {
        &self.ca_der
    }

    /// A rustls client configuration (aws-lc-rs provider) that trusts only the emulator.
    pub fn client_config(&self) -> Arc<rustls::ClientConfig> {
        self.client.clone()
    }

    pub(crate) fn server_config(&self) -> Arc<rustls::ServerConfig> {
        self.server.clone()
    }

    /// The process-wide material (generated on first use).
    pub fn shared() -> Result<Arc<TlsMaterial>, String> {
        static TLS: OnceLock<Result<Arc<TlsMaterial>, String>> = OnceLock::new();
        TLS.get_or_init(|| generate().map(Arc::new)).clone()
    }
}

fn generate() -> Result<TlsMaterial, String> {
    use rcgen::{
        BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose,
        IsCa, KeyPair, KeyUsagePurpose,
    };
    let e = |e: rcgen::Error| format!("certificate generation: {e}");
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).map_err(e)?;
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "genai-wire live emulator CA");
    ca_params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().map_err(e)?).map_err(e)?;

    let mut leaf_params = CertificateParams::new(vec![
        "127.0.0.1".to_string(),
        "::1".to_string(),
        "localhost".to_string(),
    ])
    .map_err(e)?;
    leaf_params
        .distinguished_name
        .push(DnType::CommonName, "127.0.0.1");
    leaf_params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    leaf_params.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyEncipherment,
    ];
    let leaf_key = KeyPair::generate().map_err(e)?;
    let leaf = leaf_params.signed_by(&leaf_key, &ca).map_err(e)?;

    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(leaf_key.serialize_der()));
    let mut server = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_no_client_auth()
        .with_single_cert(vec![leaf.der().clone(), ca.der().clone()], key)
        .map_err(|e| e.to_string())?;
    server.alpn_protocols = vec![b"http/1.1".to_vec()];

    let mut roots = rustls::RootCertStore::empty();
    roots.add(ca.der().clone()).map_err(|e| e.to_string())?;
    let client = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots)
        .with_no_client_auth();

    Ok(TlsMaterial {
        ca_pem: ca.pem(),
        ca_der: ca.der().clone(),
        server: Arc::new(server),
        client: Arc::new(client),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes() {
        let r = route(
            "/ws/google.ai.generativelanguage.v1beta.GenerativeService.BidiGenerateContent",
            None,
        )
        .unwrap();
        assert_eq!(
            (r.backend, r.api_version.as_str(), r.constrained),
            (Backend::DeveloperApi, "v1beta", false)
        );
        let r = route(
            "//ws/google.ai.generativelanguage.v1.GenerativeService.BidiGenerateContent",
            None,
        )
        .unwrap();
        assert_eq!(r.api_version, "v1");
        let r = route("/ws/google.ai.generativelanguage.v1alpha.GenerativeService.BidiGenerateContentConstrained", None).unwrap();
        assert!(r.constrained);
        let r = route(
            "/ws/google.cloud.aiplatform.v1beta1.LlmBidiService/BidiGenerateContent",
            None,
        )
        .unwrap();
        assert_eq!(r.backend, Backend::VertexAi);
        assert!(
            route(
                "/ws/google.cloud.aiplatform.v1.LlmBidiService/BidiGenerateContent",
                None
            )
            .is_some()
        );
        assert!(
            route(
                "/ws/google.ai.generativelanguage.v2.GenerativeService.BidiGenerateContent",
                None
            )
            .is_none()
        );
        assert!(
            route(
                "/ws/google.cloud.aiplatform.v1beta1.LlmBidiService.BidiGenerateContent",
                None
            )
            .is_none()
        );
        assert!(route("/", None).is_none());
        assert!(route("/my/proxy", Some("/my/proxy")).is_some());
    }

    fn req(uri: &str, headers: &[(&str, &str)]) -> Request {
        let mut b = Request::builder().uri(uri);
        for (k, v) in headers {
            b = b.header(*k, *v);
        }
        b.body(()).unwrap()
    }

    #[test]
    fn auth() {
        let creds = Credentials::OneOf(["k1".to_string(), "auth_tokens/t".to_string()].into());
        assert_eq!(check_auth(&req("/x?key=k1", &[]), &creds), AuthOutcome::Ok);
        assert_eq!(
            check_auth(&req("/x", &[("x-goog-api-key", "k1")]), &creds),
            AuthOutcome::Ok
        );
        assert_eq!(
            check_auth(&req("/x?key=nope", &[]), &creds),
            AuthOutcome::BadKey
        );
        assert_eq!(check_auth(&req("/x", &[]), &creds), AuthOutcome::Missing);
        assert_eq!(
            check_auth(&req("/x?access_token=auth_tokens%2Ft", &[]), &creds),
            AuthOutcome::Ok
        );
        assert_eq!(
            check_auth(
                &req(
                    "/x",
                    &[
                        ("x-goog-api-key", "auth_tokens/t"),
                        ("authorization", "Token auth_tokens/t")
                    ]
                ),
                &creds
            ),
            AuthOutcome::Ok
        );
        assert_eq!(
            check_auth(&req("/x", &[("authorization", "Bearer bad")]), &creds),
            AuthOutcome::BadToken
        );
        assert_eq!(
            check_auth(&req("/x", &[]), &Credentials::AcceptAny),
            AuthOutcome::Ok
        );
    }

    #[test]
    fn tls_material() {
        let t = TlsMaterial::shared().unwrap();
        assert!(t.ca_pem().starts_with("-----BEGIN CERTIFICATE-----"));
    }
}
