//! One websocket connection of a session: dial, setup handshake, typed writes and reads.

use std::time::Duration;

use genai_wire::auth::Credentials;
use genai_wire::endpoint::Endpoint;
use genai_wire::protocol::{
    self, ClientMessage, HistoryConfig, ServerMessage, ServerPayload, SessionResumptionConfig,
    Setup,
};
use genai_wire::transport::{
    self, CLOSE_ABNORMAL, CLOSE_NORMAL, Keepalive, TransportConfig, WireReader, WireWriter,
};
use genai_wire::{Backend, CloseInfo};

use crate::error::{Error, Result};

/// The barrier written before our close: above any the session uses.
const CLOSING_BARRIER: u64 = u64::MAX;

/// The longest a closing handshake may take.
const CLOSE_BOUND: Duration = Duration::from_secs(2);

/// Dials connections for one session (the first one and every reconnect).
#[derive(Debug, Clone)]
pub(crate) struct Dialer {
    pub(crate) endpoint: Endpoint,
    pub(crate) credentials: Credentials,
    pub(crate) transport: TransportConfig,
    /// The setup, encoded once and decoded again for each dial (rare), instead of kept
    /// as a tree for the session's life: the tools' JSON schemas alone are ~2.5 KB of
    /// maps per session (issue 14, in git history).
    pub(crate) setup: Box<str>,
    pub(crate) resumption: bool,
    pub(crate) transparent: bool,
    pub(crate) setup_timeout: Duration,
}

/// An open, set-up connection.
pub(crate) struct Link {
    pub(crate) writer: WireWriter,
    pub(crate) reader: WireReader,
    pub(crate) keepalive: Keepalive,
    pub(crate) backend: Backend,
    /// Vertex's session id from `setupComplete`.
    pub(crate) session_id: Option<String>,
    /// A write was abandoned midway: the websocket stream is unusable, so no closing
    /// handshake is attempted.
    pub(crate) broken: bool,
}

impl Dialer {
    pub(crate) fn backend(&self) -> Backend {
        self.endpoint.backend()
    }

    /// Encodes `setup` to keep it in a dialer.
    pub(crate) fn keep(setup: &Setup) -> Result<Box<str>> {
        serde_json::to_string(setup)
            .map(String::into_boxed_str)
            .map_err(|e| genai_wire::Error::Invalid(format!("cannot encode setup: {e}")).into())
    }

    /// The setup message for a connection, resuming with `handle` when given, announcing
    /// a `clientContent` history seed when `seeded`.
    pub(crate) fn setup_message(
        &self,
        handle: Option<&str>,
        seeded: bool,
    ) -> Result<ClientMessage> {
        // What `keep` encoded decodes (the types round-trip); an error is still an error.
        let mut setup: Setup = serde_json::from_str(&self.setup).map_err(|e| {
            genai_wire::Error::Invalid(format!("cannot decode the kept setup: {e}"))
        })?;
        if seeded {
            setup.history_config = Some(HistoryConfig {
                initial_history_in_client_content: Some(true),
            });
        }
        if self.resumption {
            setup.session_resumption = Some(SessionResumptionConfig {
                handle: handle.map(str::to_owned),
                transparent: self.transparent.then_some(true),
            });
        }
        Ok(ClientMessage::from(setup))
    }

    /// Connects, sends setup and waits for `setupComplete`. `seeded`: the first messages
    /// will be `clientContent` history (3.x `historyConfig.initialHistoryInClientContent`).
    pub(crate) async fn dial(&self, handle: Option<&str>, seeded: bool) -> Result<Link> {
        let backend = self.backend();
        let request = genai_wire::auth::connect_request(&self.endpoint, &self.credentials).await?;
        let connection = transport::connect(&request, &self.transport).await?;
        let keepalive = connection.keepalive();
        let (mut writer, mut reader) = connection.split();
        let setup = protocol::encode_client(&self.setup_message(handle, seeded)?, backend)?;
        // Both the setup write and the wait for its answer are bounded: a peer that stops
        // reading or never answers cannot hold a dial forever.
        let first = tokio::time::timeout(self.setup_timeout, async {
            writer.send_text(setup).await?;
            Ok::<_, genai_wire::Error>(reader.next_frame().await)
        })
        .await
        .map_err(|_| genai_wire::Error::Timeout("waiting for setupComplete".into()))??;
        let frame = match first {
            Some(frame) => frame?,
            None => {
                return Err(genai_wire::Error::Closed(CloseInfo {
                    code: CLOSE_ABNORMAL,
                    reason: String::new(),
                })
                .into());
            }
        };
        let message: ServerMessage = protocol::decode_server(frame.data())?;
        match message.payload {
            ServerPayload::SetupComplete(done) => Ok(Link {
                writer,
                reader,
                keepalive,
                backend,
                session_id: done.session_id,
                broken: false,
            }),
            other => Err(Error::Setup(format!(
                "expected setupComplete, got {other:?}"
            ))),
        }
    }
}

impl Link {
    /// Closes the connection: sends our close and, with `await_reply`, a barrier before it
    /// and reads until the server's close (bounded at [`CLOSE_BOUND`]; skipped on a broken
    /// stream). True when the server answered the barrier: it had read every frame
    /// written before it.
    pub(crate) async fn close(mut self, await_reply: bool) -> bool {
        if self.broken {
            return false;
        }
        let Link { writer, reader, .. } = &mut self;
        let handshake = async {
            if await_reply {
                // Its pong proves the server read everything before it; a close frame
                // alone does not (it may be the server's own, sent before ours).
                writer.barrier(CLOSING_BARRIER).await.ok()?;
            }
            writer.close(CLOSE_NORMAL, "client closed").await.ok()?;
            if !await_reply {
                return Some(false);
            }
            loop {
                match reader.next_frame().await? {
                    Ok(_) => continue,
                    Err(genai_wire::Error::Closed(c)) if c.code != CLOSE_ABNORMAL => {
                        return Some(reader.barrier() == CLOSING_BARRIER);
                    }
                    Err(_) => return Some(false),
                }
            }
        };
        matches!(
            tokio::time::timeout(CLOSE_BOUND, handshake).await,
            Ok(Some(true))
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use genai_wire::protocol::{FunctionDeclaration, GenerationConfig, Tool};
    use serde_json::json;

    fn dialer(setup: &Setup) -> Dialer {
        Dialer {
            endpoint: Endpoint::custom("ws://127.0.0.1:9/ws", Backend::DeveloperApi).unwrap(),
            credentials: Credentials::None,
            transport: TransportConfig::default(),
            setup: Dialer::keep(setup).unwrap(),
            resumption: false,
            transparent: false,
            setup_timeout: Duration::from_secs(1),
        }
    }

    /// The setup is kept encoded and decoded at each dial: every setup in the wire
    /// fixtures, and one with a tool schema and floats, comes back as it went in.
    #[test]
    fn a_kept_setup_comes_back_unchanged() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../fixtures/wire");
        let mut setups = Vec::new();
        for entry in std::fs::read_dir(dir).unwrap() {
            let text = std::fs::read_to_string(entry.unwrap().path()).unwrap();
            for line in text.lines().filter(|l| l.starts_with('>')) {
                let Some(json) = line.find('{').map(|i| &line[i..]) else {
                    continue;
                };
                if let Ok(ClientMessage::Setup(setup)) = protocol::decode_client(json.as_bytes()) {
                    setups.push(*setup);
                }
            }
        }
        assert!(setups.len() >= 5, "fixtures with a setup: {}", setups.len());
        setups.push(Setup {
            model: "models/m".into(),
            generation_config: Some(GenerationConfig {
                temperature: Some(0.7),
                ..Default::default()
            }),
            tools: vec![Tool {
                function_declarations: vec![FunctionDeclaration {
                    name: "search".into(),
                    description: Some("Looks things up.".into()),
                    parameters: Some(json!({
                        "type": "OBJECT",
                        "properties": {"query": {"type": "STRING"}, "limit": {"type": "INTEGER", "maximum": 1.5e3}},
                        "required": ["query"]
                    })),
                    ..Default::default()
                }],
                ..Default::default()
            }],
            labels: Some([("k".to_owned(), "v\"\\".to_owned())].into()),
            ..Default::default()
        });
        for setup in setups {
            let message = dialer(&setup).setup_message(None, false).unwrap();
            assert_eq!(message, ClientMessage::from(setup));
        }
    }
}
