//! The agent server in-process, in front of an emulator the test holds (to read what the
//! model received).

use std::sync::Arc;
use std::time::Duration;

use adk_live::bridge::twilio;
use adk_live::prelude::*;
use examples::server::{AgentServer, Caller, Connector, ServerConfig};
use examples::tools;
use futures::future::BoxFuture;
use genai_wire::emulator::{Emulator, EmulatorHandle, Scenario};

/// The voice agent's scenario.
pub const VOICE_SCENARIO: &str = include_str!("../../../fixtures/scenarios/voice_agent.json");

/// The agent of `agent_server` (background `search` with `stage` per stage, standard
/// `get_weather`), connected to `emulator`.
pub fn connector(emulator: &EmulatorHandle, stage: Duration) -> Connector {
    let url = emulator.ws_url();
    Arc::new(
        move |caller| -> BoxFuture<'static, Result<LiveHandle, String>> {
            let url = url.clone();
            Box::pin(async move {
                let builder = match caller {
                    // What the call's `<Parameter>`s said reaches the session's setup.
                    Caller::Phone(call) => {
                        twilio::phone_defaults(Live::builder()).instruction(format!(
                            "You are a friendly travel assistant on the phone with {}.",
                            call.custom_parameters
                                .get("caller")
                                .map_or("someone", String::as_str)
                        ))
                    }
                    _ => Live::builder().instruction("You are a friendly travel assistant."),
                };
                builder
                    .tool(tools::search(stage))
                    .tool_background("search")
                    .tool(tools::get_weather())
                    .connect_endpoint(&url, Credentials::None)
                    .await
                    .map_err(|e| e.to_string())
            })
        },
    )
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
