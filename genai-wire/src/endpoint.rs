//! Where a Live session connects: the websocket URL for each backend, and the model name
//! the backend expects in `setup.model`.
//!
//! Why a type and not a string: the two backends differ in host (global vs regional),
//! path (`.BidiGenerateContent` vs `/BidiGenerateContent`), version and model naming,
//! and getting any of them wrong costs a close code 1008 with a truncated reason. The
//! rules live here once (ai.google.dev/api/live; google-genai `_api_client.py`), validated up front with
//! [`Error::Endpoint`].
//!
//! An [`Endpoint`] never carries credentials: keys and tokens go in headers (see
//! [`crate::auth`]), so an endpoint can be logged freely.
//!
//! ```
//! use genai_wire::endpoint::{ApiVersion, Endpoint};
//! let dev = Endpoint::developer(ApiVersion::V1beta);
//! assert_eq!(
//!     dev.url().as_str(),
//!     "wss://generativelanguage.googleapis.com/ws/google.ai.generativelanguage.v1beta.GenerativeService.BidiGenerateContent"
//! );
//! assert_eq!(dev.model_name("gemini-live-2.5-flash").unwrap(), "models/gemini-live-2.5-flash");
//!
//! let vertex = Endpoint::vertex("my-proj", "us-central1").unwrap();
//! assert_eq!(vertex.url().host_str(), Some("us-central1-aiplatform.googleapis.com"));
//! assert_eq!(
//!     vertex.model_name("gemini-live-2.5-flash").unwrap(),
//!     "projects/my-proj/locations/us-central1/publishers/google/models/gemini-live-2.5-flash"
//! );
//! ```

use std::fmt;

use url::Url;

use crate::{Backend, Error, Result};

/// The default Developer API host.
pub const DEVELOPER_HOST: &str = "generativelanguage.googleapis.com";
/// The default Vertex AI API version.
pub const DEFAULT_VERTEX_VERSION: &str = "v1beta1";

/// Developer API version (the `{VERSION}` in
/// `google.ai.generativelanguage.{VERSION}.GenerativeService`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum ApiVersion {
    /// `v1beta`: the documented Live endpoint (default).
    #[default]
    V1beta,
    /// `v1alpha`: required for ephemeral tokens and some preview features.
    V1alpha,
    /// `v1`: the Python SDK 3.x default.
    V1,
}

impl ApiVersion {
    /// The version as it appears in the path.
    pub fn as_str(self) -> &'static str {
        match self {
            ApiVersion::V1beta => "v1beta",
            ApiVersion::V1alpha => "v1alpha",
            ApiVersion::V1 => "v1",
        }
    }

    /// Parses `v1beta`, `v1alpha` or `v1`.
    pub fn parse(s: &str) -> Result<Self> {
        match s {
            "v1beta" => Ok(ApiVersion::V1beta),
            "v1alpha" => Ok(ApiVersion::V1alpha),
            "v1" => Ok(ApiVersion::V1),
            other => Err(Error::Endpoint(format!(
                "unknown Developer API version `{other}` (expected v1beta, v1alpha or v1)"
            ))),
        }
    }
}

impl fmt::Display for ApiVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Kind {
    Developer {
        version: ApiVersion,
        constrained: bool,
    },
    Vertex {
        project: String,
        location: String,
        version: String,
    },
    Custom {
        url: Url,
        backend: Backend,
    },
}

/// Where to connect: backend, host, path and version. Build one with
/// [`Endpoint::developer`], [`Endpoint::ephemeral`], [`Endpoint::vertex`] or
/// [`Endpoint::custom`]; aim the first three at another server (a proxy, the local
/// emulator) with [`Endpoint::with_base_url`], which keeps their path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    kind: Kind,
    /// Scheme + authority (+ optional path prefix) replacing the default host.
    base: Option<Url>,
}

impl Endpoint {
    /// The Gemini Developer API (`generativelanguage.googleapis.com`), method
    /// `BidiGenerateContent`, at `version` (`ApiVersion::default()` is `v1beta`).
    pub fn developer(version: ApiVersion) -> Self {
        Endpoint {
            kind: Kind::Developer {
                version,
                constrained: false,
            },
            base: None,
        }
    }

    /// The Developer API endpoint for ephemeral tokens: `v1alpha`, method
    /// `BidiGenerateContentConstrained`. Use it with
    /// [`Credentials::EphemeralToken`](crate::auth::Credentials::EphemeralToken).
    pub fn ephemeral() -> Self {
        Endpoint {
            kind: Kind::Developer {
                version: ApiVersion::V1alpha,
                constrained: true,
            },
            base: None,
        }
    }

    /// Vertex AI for `project` in `location` (e.g. `us-central1`; `global` uses
    /// `aiplatform.googleapis.com`; `us`/`eu` use the multi-regional
    /// `aiplatform.{us|eu}.rep.googleapis.com`). API version `v1beta1`, see
    /// [`Endpoint::with_api_version`].
    pub fn vertex(project: impl Into<String>, location: impl Into<String>) -> Result<Self> {
        let project = project.into();
        let location = location.into();
        let project = project.trim().to_owned();
        let location = location.trim().to_owned();
        if project.is_empty() {
            return Err(Error::Endpoint("Vertex AI project is empty".into()));
        }
        if !project
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | ':'))
        {
            return Err(Error::Endpoint(format!(
                "Vertex AI project `{project}` has characters a project id cannot have"
            )));
        }
        if location.is_empty() {
            return Err(Error::Endpoint("Vertex AI location is empty".into()));
        }
        if !location
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        {
            return Err(Error::Endpoint(format!(
                "Vertex AI location `{location}` is not a location name like `us-central1`"
            )));
        }
        Ok(Endpoint {
            kind: Kind::Vertex {
                project,
                location,
                version: DEFAULT_VERTEX_VERSION.to_owned(),
            },
            base: None,
        })
    }

    /// Vertex AI in express mode: an API key ([`Credentials::ApiKey`], sent as
    /// `x-goog-api-key`) instead of OAuth, no project; the global host
    /// `aiplatform.googleapis.com`. Model names become `publishers/google/models/{m}`.
    ///
    /// [`Credentials::ApiKey`]: crate::auth::Credentials::ApiKey
    pub fn vertex_express() -> Self {
        Endpoint {
            kind: Kind::Vertex {
                project: String::new(),
                location: "global".to_owned(),
                version: DEFAULT_VERTEX_VERSION.to_owned(),
            },
            base: None,
        }
    }

    /// An explicit `ws://` or `wss://` URL used exactly as given (no path appended), for
    /// proxies and the local emulator. `backend` says which protocol dialect the server
    /// speaks (model naming, field rules). The URL must not carry credentials (`key=`,
    /// `access_token=` query parameters or userinfo): pass those as
    /// [`Credentials`](crate::auth::Credentials) so they travel in headers.
    pub fn custom(url: &str, backend: Backend) -> Result<Self> {
        let url = Url::parse(url)
            .map_err(|e| Error::Endpoint(format!("invalid URL `{}`: {e}", redact_url(url))))?;
        match url.scheme() {
            "ws" | "wss" => {}
            other => {
                return Err(Error::Endpoint(format!(
                    "custom endpoint scheme must be ws or wss, not `{other}`"
                )));
            }
        }
        check_no_credentials(&url)?;
        if url.host_str().is_none_or(str::is_empty) {
            return Err(Error::Endpoint("custom endpoint URL has no host".into()));
        }
        Ok(Endpoint {
            kind: Kind::Custom { url, backend },
            base: None,
        })
    }

    /// Replaces scheme and host (and port, and an optional path prefix) of a developer or
    /// Vertex endpoint, keeping its path: `with_base_url("ws://127.0.0.1:9000")` connects
    /// to `ws://127.0.0.1:9000/ws/google.ai.generativelanguage.v1beta...`. `http` maps to
    /// `ws` and `https` to `wss`. Refused on a [`Endpoint::custom`] endpoint (its URL is
    /// already explicit).
    pub fn with_base_url(mut self, base: &str) -> Result<Self> {
        if matches!(self.kind, Kind::Custom { .. }) {
            return Err(Error::Endpoint(
                "with_base_url does not apply to a custom endpoint; pass the full URL to Endpoint::custom".into(),
            ));
        }
        let mut url = Url::parse(base).map_err(|e| {
            Error::Endpoint(format!("invalid base URL `{}`: {e}", redact_url(base)))
        })?;
        let scheme = match url.scheme() {
            "ws" | "http" => "ws",
            "wss" | "https" => "wss",
            other => {
                return Err(Error::Endpoint(format!(
                    "base URL scheme must be ws, wss, http or https, not `{other}`"
                )));
            }
        };
        check_no_credentials(&url)?;
        if url.query().is_some() || url.fragment().is_some() {
            return Err(Error::Endpoint(
                "base URL must not have a query or fragment".into(),
            ));
        }
        if url.host_str().is_none_or(str::is_empty) {
            return Err(Error::Endpoint("base URL has no host".into()));
        }
        if url.scheme() != scheme {
            // ws <-> http are both "special" schemes in the URL standard, so this works.
            url.set_scheme(scheme)
                .map_err(|()| Error::Endpoint("cannot set base URL scheme".into()))?;
        }
        self.base = Some(url);
        Ok(self)
    }

    /// Overrides the API version: `v1beta`/`v1alpha`/`v1` on the Developer API (not on an
    /// ephemeral endpoint, which must stay `v1alpha`), any `v1…` version on Vertex (e.g.
    /// `v1`, default `v1beta1`). Refused on a custom endpoint.
    pub fn with_api_version(mut self, version: &str) -> Result<Self> {
        match &mut self.kind {
            Kind::Developer {
                constrained: true, ..
            } if version != "v1alpha" => Err(Error::Endpoint(
                "ephemeral tokens (BidiGenerateContentConstrained) need v1alpha".into(),
            )),
            Kind::Developer { version: v, .. } => {
                *v = ApiVersion::parse(version)?;
                Ok(self)
            }
            Kind::Vertex { version: v, .. } => {
                let ok = version.starts_with('v')
                    && version.len() > 1
                    && version.chars().all(|c| c.is_ascii_alphanumeric());
                if !ok {
                    return Err(Error::Endpoint(format!(
                        "Vertex AI API version `{version}` is not like `v1beta1` or `v1`"
                    )));
                }
                *v = version.to_owned();
                Ok(self)
            }
            Kind::Custom { .. } => Err(Error::Endpoint(
                "a custom endpoint's URL is used as given; put the version in the URL".into(),
            )),
        }
    }

    /// The backend (protocol dialect) this endpoint speaks.
    pub fn backend(&self) -> Backend {
        match &self.kind {
            Kind::Developer { .. } => Backend::DeveloperApi,
            Kind::Vertex { .. } => Backend::VertexAi,
            Kind::Custom { backend, .. } => *backend,
        }
    }

    /// `true` for the ephemeral-token method `BidiGenerateContentConstrained`.
    pub fn is_constrained(&self) -> bool {
        matches!(
            self.kind,
            Kind::Developer {
                constrained: true,
                ..
            }
        )
    }

    /// The Vertex AI project, if this is a Vertex endpoint (not express mode).
    pub fn project(&self) -> Option<&str> {
        match &self.kind {
            Kind::Vertex { project, .. } if !project.is_empty() => Some(project),
            _ => None,
        }
    }

    /// The Vertex AI location, if this is a Vertex endpoint.
    pub fn location(&self) -> Option<&str> {
        match &self.kind {
            Kind::Vertex { location, .. } => Some(location),
            _ => None,
        }
    }

    /// The API version in the path (`None` for a custom endpoint).
    pub fn api_version(&self) -> Option<&str> {
        match &self.kind {
            Kind::Developer { version, .. } => Some(version.as_str()),
            Kind::Vertex { version, .. } => Some(version),
            Kind::Custom { .. } => None,
        }
    }

    /// The full websocket URL to connect to.
    pub fn url(&self) -> Url {
        let (default_base, path) = match &self.kind {
            Kind::Custom { url, .. } => return url.clone(),
            Kind::Developer {
                version,
                constrained,
            } => (
                format!("wss://{DEVELOPER_HOST}"),
                format!(
                    "/ws/google.ai.generativelanguage.{version}.GenerativeService.{}",
                    if *constrained {
                        "BidiGenerateContentConstrained"
                    } else {
                        "BidiGenerateContent"
                    }
                ),
            ),
            Kind::Vertex {
                location, version, ..
            } => (
                format!("wss://{}", vertex_host(location)),
                format!("/ws/google.cloud.aiplatform.{version}.LlmBidiService/BidiGenerateContent"),
            ),
        };
        let base = match &self.base {
            Some(b) => b.clone(),
            None => Url::parse(&default_base).expect("static host parses"),
        };
        let mut url = base;
        let prefix = url.path().trim_end_matches('/').to_owned();
        url.set_path(&format!("{prefix}{path}"));
        url
    }

    /// Normalises a model name the way the backend expects it in `setup.model`
    /// (ai.google.dev/api/live; google-genai `_api_client.py`):
    ///
    /// * Developer API: `models/{m}`, unless `m` already starts with `models/` or
    ///   `tunedModels/`.
    /// * Vertex AI: `projects/{p}/locations/{l}/publishers/google/models/{m}`;
    ///   `publishers/…/models/m` gets the project prefix; `projects/…` (and `models/…`)
    ///   are kept as they are; `publisher/model` becomes
    ///   `publishers/publisher/models/model`. On a custom Vertex endpoint (no project
    ///   known) the result is `publishers/google/models/{m}`.
    pub fn model_name(&self, model: &str) -> Result<String> {
        let model = model.trim();
        if model.is_empty() || model.ends_with('/') {
            return Err(Error::Endpoint(format!("model name `{model}` is empty")));
        }
        if model.chars().any(char::is_whitespace) {
            return Err(Error::Endpoint(format!(
                "model name `{model}` contains whitespace"
            )));
        }
        match self.backend() {
            Backend::DeveloperApi => {
                if model.starts_with("models/") || model.starts_with("tunedModels/") {
                    Ok(model.to_owned())
                } else {
                    Ok(format!("models/{model}"))
                }
            }
            Backend::VertexAi => {
                let publisher_path =
                    if model.starts_with("projects/") || model.starts_with("models/") {
                        return Ok(model.to_owned());
                    } else if model.starts_with("publishers/") {
                        model.to_owned()
                    } else if let Some((publisher, id)) = model.split_once('/') {
                        format!("publishers/{publisher}/models/{id}")
                    } else {
                        format!("publishers/google/models/{model}")
                    };
                match (self.project(), self.location()) {
                    (Some(p), Some(l)) => {
                        Ok(format!("projects/{p}/locations/{l}/{publisher_path}"))
                    }
                    _ => Ok(publisher_path),
                }
            }
        }
    }
}

impl Default for Endpoint {
    /// The Developer API at `v1beta`.
    fn default() -> Self {
        Endpoint::developer(ApiVersion::default())
    }
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.url(), self.backend())
    }
}

fn vertex_host(location: &str) -> String {
    match location {
        "global" => "aiplatform.googleapis.com".to_owned(),
        "us" | "eu" => format!("aiplatform.{location}.rep.googleapis.com"),
        loc => format!("{loc}-aiplatform.googleapis.com"),
    }
}

fn check_no_credentials(url: &Url) -> Result<()> {
    if !url.username().is_empty() || url.password().is_some() {
        return Err(Error::Endpoint(
            "URL must not carry user info; pass credentials as Credentials".into(),
        ));
    }
    if url
        .query_pairs()
        .any(|(k, _)| matches!(k.as_ref(), "key" | "access_token" | "token"))
    {
        return Err(Error::Endpoint(
            "URL must not carry a key or token; pass it as Credentials so it goes in a header"
                .into(),
        ));
    }
    Ok(())
}

/// An unparsable URL might still contain a key: show only its scheme-ish start.
fn redact_url(s: &str) -> String {
    let cut: String = s
        .chars()
        .take_while(|c| *c != '?' && *c != '@')
        .take(80)
        .collect();
    if cut.len() < s.len() {
        format!("{cut}…")
    } else {
        cut
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn developer_urls() {
        assert_eq!(
            Endpoint::developer(ApiVersion::V1).url().as_str(),
            "wss://generativelanguage.googleapis.com/ws/google.ai.generativelanguage.v1.GenerativeService.BidiGenerateContent"
        );
        assert_eq!(
            Endpoint::developer(ApiVersion::V1alpha).url().as_str(),
            "wss://generativelanguage.googleapis.com/ws/google.ai.generativelanguage.v1alpha.GenerativeService.BidiGenerateContent"
        );
        assert_eq!(Endpoint::default(), Endpoint::developer(ApiVersion::V1beta));
        let e = Endpoint::ephemeral();
        assert!(e.is_constrained());
        assert_eq!(
            e.url().as_str(),
            "wss://generativelanguage.googleapis.com/ws/google.ai.generativelanguage.v1alpha.GenerativeService.BidiGenerateContentConstrained"
        );
        assert!(e.clone().with_api_version("v1beta").is_err());
        assert!(e.with_api_version("v1alpha").is_ok());
        let v = Endpoint::developer(ApiVersion::V1beta)
            .with_api_version("v1")
            .unwrap();
        assert_eq!(v.api_version(), Some("v1"));
        assert!(v.with_api_version("v2").is_err());
    }

    #[test]
    fn vertex_hosts_and_paths() {
        let path = "/ws/google.cloud.aiplatform.v1beta1.LlmBidiService/BidiGenerateContent";
        for (loc, host) in [
            ("us-central1", "us-central1-aiplatform.googleapis.com"),
            ("europe-west4", "europe-west4-aiplatform.googleapis.com"),
            ("global", "aiplatform.googleapis.com"),
            ("us", "aiplatform.us.rep.googleapis.com"),
            ("eu", "aiplatform.eu.rep.googleapis.com"),
        ] {
            let e = Endpoint::vertex("p", loc).unwrap();
            assert_eq!(e.url().as_str(), format!("wss://{host}{path}"), "{loc}");
            assert_eq!(e.backend(), Backend::VertexAi);
        }
        let e = Endpoint::vertex("p", "us-central1")
            .unwrap()
            .with_api_version("v1")
            .unwrap();
        assert_eq!(
            e.url().path(),
            "/ws/google.cloud.aiplatform.v1.LlmBidiService/BidiGenerateContent"
        );
        assert!(e.with_api_version("../x").is_err());
    }

    #[test]
    fn vertex_validation() {
        assert!(matches!(
            Endpoint::vertex("", "us-central1"),
            Err(Error::Endpoint(_))
        ));
        assert!(matches!(
            Endpoint::vertex("  ", "us-central1"),
            Err(Error::Endpoint(_))
        ));
        assert!(matches!(Endpoint::vertex("p", ""), Err(Error::Endpoint(_))));
        assert!(matches!(
            Endpoint::vertex("p", "us central"),
            Err(Error::Endpoint(_))
        ));
        assert!(matches!(
            Endpoint::vertex("p", "x.evil.com/"),
            Err(Error::Endpoint(_))
        ));
        assert!(matches!(
            Endpoint::vertex("a/b", "us"),
            Err(Error::Endpoint(_))
        ));
        // Domain-scoped project ids are legal.
        assert!(Endpoint::vertex("example.com:my-proj", "us-central1").is_ok());
    }

    #[test]
    fn custom_urls() {
        let e = Endpoint::custom("ws://127.0.0.1:9000/live", Backend::VertexAi).unwrap();
        assert_eq!(e.url().as_str(), "ws://127.0.0.1:9000/live");
        assert_eq!(e.backend(), Backend::VertexAi);
        assert_eq!(e.api_version(), None);
        assert!(Endpoint::custom("wss://proxy.example/x", Backend::DeveloperApi).is_ok());
        for bad in [
            "http://127.0.0.1:9000/",
            "https://x/",
            "ftp://x/",
            "not a url",
            "wss://x/?key=AIzaSECRET",
            "wss://x/?access_token=auth_tokens/SECRET",
            "wss://user:pw@x/",
        ] {
            let err = Endpoint::custom(bad, Backend::DeveloperApi).unwrap_err();
            assert!(matches!(err, Error::Endpoint(_)), "{bad}");
            assert!(!err.to_string().contains("SECRET"), "{err}");
        }
        let e = Endpoint::custom("ws://127.0.0.1:1/", Backend::DeveloperApi).unwrap();
        assert!(e.with_base_url("ws://x").is_err());
    }

    #[test]
    fn base_url_override_keeps_path() {
        let e = Endpoint::developer(ApiVersion::V1beta)
            .with_base_url("ws://127.0.0.1:9000")
            .unwrap();
        assert_eq!(
            e.url().as_str(),
            "ws://127.0.0.1:9000/ws/google.ai.generativelanguage.v1beta.GenerativeService.BidiGenerateContent"
        );
        assert_eq!(e.backend(), Backend::DeveloperApi);
        // A trailing slash does not produce `//ws/`.
        let e = Endpoint::developer(ApiVersion::V1)
            .with_base_url("https://localhost:8443/")
            .unwrap();
        assert!(
            e.url()
                .as_str()
                .starts_with("wss://localhost:8443/ws/google.ai.")
        );
        // A path prefix is kept.
        let e = Endpoint::vertex("p", "us-central1")
            .unwrap()
            .with_base_url("http://127.0.0.1:1234/proxy/")
            .unwrap();
        assert_eq!(
            e.url().as_str(),
            "ws://127.0.0.1:1234/proxy/ws/google.cloud.aiplatform.v1beta1.LlmBidiService/BidiGenerateContent"
        );
        assert!(Endpoint::default().with_base_url("ftp://x").is_err());
        assert!(Endpoint::default().with_base_url("ws://x/?key=1").is_err());
        assert!(Endpoint::default().with_base_url("ws://x/?a=1").is_err());
    }

    #[test]
    fn developer_model_names() {
        let e = Endpoint::default();
        assert_eq!(
            e.model_name("gemini-2.5-flash").unwrap(),
            "models/gemini-2.5-flash"
        );
        assert_eq!(
            e.model_name("models/gemini-2.5-flash").unwrap(),
            "models/gemini-2.5-flash"
        );
        assert_eq!(e.model_name("tunedModels/abc").unwrap(), "tunedModels/abc");
        assert!(e.model_name("").is_err());
        assert!(e.model_name("models/").is_err());
        assert!(e.model_name("a b").is_err());
    }

    #[test]
    fn vertex_model_names() {
        let e = Endpoint::vertex("my-proj", "us-central1").unwrap();
        let full =
            "projects/my-proj/locations/us-central1/publishers/google/models/gemini-live-2.5-flash";
        assert_eq!(e.model_name("gemini-live-2.5-flash").unwrap(), full);
        assert_eq!(
            e.model_name("publishers/google/models/gemini-live-2.5-flash")
                .unwrap(),
            full
        );
        assert_eq!(e.model_name(full).unwrap(), full);
        assert_eq!(
            e.model_name("projects/o/locations/l/endpoints/123")
                .unwrap(),
            "projects/o/locations/l/endpoints/123"
        );
        assert_eq!(
            e.model_name("anthropic/claude").unwrap(),
            "projects/my-proj/locations/us-central1/publishers/anthropic/models/claude"
        );
        let c = Endpoint::custom("ws://127.0.0.1:1/", Backend::VertexAi).unwrap();
        assert_eq!(c.model_name("m").unwrap(), "publishers/google/models/m");
        let x = Endpoint::vertex_express();
        assert_eq!(x.model_name("m").unwrap(), "publishers/google/models/m");
        assert_eq!(x.project(), None);
        assert_eq!(x.backend(), Backend::VertexAi);
        assert_eq!(
            x.url().as_str(),
            "wss://aiplatform.googleapis.com/ws/google.cloud.aiplatform.v1beta1.LlmBidiService/BidiGenerateContent"
        );
        let c = Endpoint::custom("ws://127.0.0.1:1/", Backend::DeveloperApi).unwrap();
        assert_eq!(c.model_name("m").unwrap(), "models/m");
    }
}
