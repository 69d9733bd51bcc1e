//! The agent server in-process, in front of an emulator the test holds (to read what the
//! model received).

use std::sync::Arc;
use std::time::Duration;

use adk_live::prelude::*;
use examples::server::{AgentServer, Connector, ServerConfig};
use examples::tools;
use futures::future::BoxFuture;
use genai_wire::emulator::{Emulator, EmulatorHandle, Scenario};

/// The voice agent's scenario.
pub const VOICE_SCENARIO: &str = include_str!("../../../fixtures/scenarios/voice_agent.json");

/// The agent of `agent_server` (background `search` with `stage` per stage, standard
/// `get_weather`), connected to `emulator`.
pub fn connector(emulator: &EmulatorHandle, stage: Duration) -> Connector {
    let url = emulator.ws_url();
    Arc::new(move || -> BoxFuture<'static, Result<LiveHandle, String>> {
        let url = url.clone();
        Box::pin(async move {
            Live::builder()
                .instruction("You are a friendly travel assistant.")
                .tool(tools::search(stage))
                .tool_background("search")
                .tool(tools::get_weather())
                .connect_endpoint(&url, Credentials::None)
                .await
                .map_err(|e| e.to_string())
        })
    })
}

/// An emulator playing `scenario`.
pub async fn emulator(scenario: &str) -> EmulatorHandle {
    Emulator::builder()
        .scenario(Scenario::from_json(scenario).expect("scenario"))
        .bind("127.0.0.1:0")
        .await
        .expect("emulator")
}

/// The server on 127.0.0.1:0 with `config`'s other settings, in front of `emulator`.
pub async fn start(
    mut config: ServerConfig,
    emulator: &EmulatorHandle,
    stage: Duration,
) -> AgentServer {
    config.addr = "127.0.0.1:0".parse().unwrap();
    AgentServer::start(config, connector(emulator, stage))
        .await
        .expect("agent server")
}
