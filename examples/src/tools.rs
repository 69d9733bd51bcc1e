//! The demo tools: a slow background `search` that reports progress, and a quick
//! standard `get_weather`.

use std::time::Duration;

use adk_live::prelude::*;
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::json;

/// Arguments of `search`.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct SearchArgs {
    /// What to search for.
    pub query: String,
}

/// Arguments of `get_weather`.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct WeatherArgs {
    /// The city.
    pub city: String,
}

/// A search that takes `step * 3` and reports progress after each stage; it stops early
/// when cancelled.
pub fn search(step: Duration) -> impl Tool {
    tool_fn(
        "search",
        "Searches flights, hotels and the web. Slow: runs in the background.",
        move |args: SearchArgs, ctx: ToolContext| async move {
            for (i, stage) in ["querying providers", "comparing fares", "ranking results"]
                .iter()
                .enumerate()
            {
                ctx.progress(json!({"stage": stage, "percent": (i * 100) / 3}));
                tokio::select! {
                    _ = ctx.cancelled() => return Err(ToolError::new("cancelled")),
                    _ = tokio::time::sleep(step) => {}
                }
            }
            Ok(json!({
                "query": args.query,
                "results": [
                    {"flight": "LX2086", "departs": "07:10", "price_chf": 189},
                    {"flight": "TP939", "departs": "09:35", "price_chf": 164},
                    {"flight": "LX2088", "departs": "11:50", "price_chf": 212}
                ]
            }))
        },
    )
}

/// The weather, at once.
pub fn get_weather() -> impl Tool {
    tool_fn(
        "get_weather",
        "Current weather for a city.",
        |args: WeatherArgs, _ctx: ToolContext| async move {
            Ok::<_, ToolError>(json!({"city": args.city, "temp_c": 22, "sky": "sunny"}))
        },
    )
}

/// What both agents share on the command line.
#[derive(Debug, clap::Args)]
pub struct AgentArgs {
    /// Connect to this ws:// or wss:// URL instead (a proxy, or `live-emulator`).
    #[arg(long)]
    pub endpoint: Option<String>,
    /// The model.
    #[arg(long, default_value = adk_live::DEFAULT_MODEL)]
    pub model: String,
    /// Duration of each of the search tool's three stages, in milliseconds.
    #[arg(long, default_value_t = 700)]
    pub search_stage_ms: u64,
}

/// The travel assistant of the agents: its instruction, the background `search` and the
/// standard `get_weather`.
pub fn travel_agent(args: &AgentArgs) -> LiveBuilder {
    travel_agent_on(Live::builder(), args)
}

/// The travel assistant on top of `base` (phone settings, say).
pub fn travel_agent_on(base: LiveBuilder, args: &AgentArgs) -> LiveBuilder {
    base.model(&args.model)
        .instruction("You are a friendly travel assistant. Use `search` for flights and `get_weather` for weather.")
        .tool(search(Duration::from_millis(args.search_stage_ms)))
        .tool_background("search")
        .tool(get_weather())
}
