//! Where an example connects: chosen from flags and the environment.
//!
//! * `--endpoint URL`: that `ws://`/`wss://` URL (a proxy, or `live-emulator` in another
//!   process), with `GEMINI_API_KEY` as the key when set;
//! * `GEMINI_API_KEY`: the Gemini Developer API;
//! * `GOOGLE_CLOUD_PROJECT` (+ `GOOGLE_CLOUD_LOCATION`, default `us-central1`): Vertex AI
//!   with Application Default Credentials (`GOOGLE_APPLICATION_CREDENTIALS` or gcloud's
//!   ADC file);
//! * otherwise: an emulator started in-process on 127.0.0.1 with the given scenario.

use adk_live::prelude::*;
use genai_wire::emulator::{Emulator, EmulatorHandle, Scenario};

/// The place to connect to.
#[derive(Debug, Clone)]
pub enum Target {
    /// An explicit websocket URL.
    Endpoint(String),
    /// The Developer API with a key.
    Developer(Secret),
    /// Vertex AI.
    Vertex {
        /// Project id.
        project: String,
        /// Location.
        location: String,
    },
    /// The embedded emulator.
    Embedded,
}

impl Target {
    /// Picks the target from an optional `--endpoint` and the environment.
    pub fn choose(endpoint: Option<String>) -> Target {
        let env = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
        if let Some(url) = endpoint {
            Target::Endpoint(url)
        } else if let Some(key) = env("GEMINI_API_KEY") {
            Target::Developer(key.into())
        } else if let Some(project) = env("GOOGLE_CLOUD_PROJECT") {
            Target::Vertex {
                project,
                location: env("GOOGLE_CLOUD_LOCATION").unwrap_or_else(|| "us-central1".into()),
            }
        } else {
            Target::Embedded
        }
    }

    /// A one-line description for the console.
    pub fn describe(&self) -> String {
        match self {
            Target::Endpoint(url) => format!("endpoint {url}"),
            Target::Developer(_) => "Gemini Developer API (GEMINI_API_KEY)".into(),
            Target::Vertex { project, location } => {
                format!("Vertex AI project {project} in {location}")
            }
            Target::Embedded => "embedded emulator (no credentials set)".into(),
        }
    }

    /// Connects `builder` to this target. For [`Target::Embedded`] the emulator is
    /// started with `scenario` and returned so it lives as long as the session.
    pub async fn connect(
        self,
        builder: LiveBuilder,
        scenario: &str,
    ) -> Result<(LiveHandle, Option<EmulatorHandle>), String> {
        let err = |e: adk_live::Error| match e.close() {
            Some(close) => format!("the server refused the session: {close}"),
            None => format!("cannot connect: {e}"),
        };
        match self {
            Target::Endpoint(url) => {
                let key = std::env::var("GEMINI_API_KEY")
                    .ok()
                    .filter(|k| !k.is_empty());
                let auth = key.map(Credentials::api_key).unwrap_or(Credentials::None);
                builder
                    .connect_endpoint(&url, auth)
                    .await
                    .map(|h| (h, None))
                    .map_err(err)
            }
            Target::Developer(key) => builder
                .connect_google_ai(key)
                .await
                .map(|h| (h, None))
                .map_err(err),
            Target::Vertex { project, location } => {
                let token = genai_wire::auth::adc()
                    .await
                    .map_err(|e| format!("Vertex credentials: {e}"))?;
                builder
                    .connect_vertex(project, location, token)
                    .await
                    .map(|h| (h, None))
                    .map_err(err)
            }
            Target::Embedded => {
                let scenario = Scenario::from_json(scenario).map_err(|e| e.to_string())?;
                let emulator = Emulator::builder()
                    .scenario(scenario)
                    .bind("127.0.0.1:0")
                    .await
                    .map_err(|e| format!("cannot start the embedded emulator: {e}"))?;
                let url = emulator.ws_url();
                let handle = builder
                    .connect_endpoint(&url, Credentials::None)
                    .await
                    .map_err(err)?;
                Ok((handle, Some(emulator)))
            }
        }
    }
}
