//! Opt-in task control for the model: it can list the background calls still running and
//! cancel one by id.
//!
//! Why: a background tool can run for minutes while the conversation moves on, and the
//! user may change their mind ("forget the flight search"). Only the model hears that, so
//! it needs a way to stop the call. Peers do the same: LiveKit's agents offer
//! `get_running_tasks` / `cancel_task`, pipecat marks functions `cancellable_by_llm`.
//!
//! How: two functions declared only while the option is on
//! ([`SessionConfig::llm_task_control`](crate::SessionConfig::llm_task_control)), answered
//! by the tool lane itself (no user code): the list comes from the tracker, and a cancel
//! goes through the same path as the application's (the cancelled call gets its final
//! "cancelled" response, the application a `ToolCancelled` event with
//! [`CancelReason::Model`](crate::CancelReason::Model)).

use genai_wire::protocol::FunctionDeclaration;
use serde_json::{Value, json};

use super::tracker::RunningCall;

/// Lists the running background calls.
pub(crate) const LIST: &str = "get_running_tasks";
/// Cancels one running call by id.
pub(crate) const CANCEL: &str = "cancel_task";

/// The two declarations (their `behavior` is set like a standard tool's).
pub(crate) fn declarations() -> Vec<FunctionDeclaration> {
    vec![
        FunctionDeclaration {
            name: LIST.into(),
            description: Some(
                "Lists the tasks (earlier function calls) still running in the background: \
                 each task's id, function name, seconds running and last progress."
                    .into(),
            ),
            ..Default::default()
        },
        FunctionDeclaration {
            name: CANCEL.into(),
            description: Some(
                "Cancels a task still running in the background, by the id that \
                 get_running_tasks gives. Use it when the user no longer wants its result."
                    .into(),
            ),
            parameters: Some(json!({
                "type": "OBJECT",
                "properties": {
                    "task_id": {"type": "STRING", "description": "The task's id."}
                },
                "required": ["task_id"]
            })),
            ..Default::default()
        },
    ]
}

/// True for the names this module answers.
pub(crate) fn is_control(name: &str) -> bool {
    name == LIST || name == CANCEL
}

/// The answer to `get_running_tasks`: the background calls (a standard call holds the
/// model until it answers, so it is not the model's to list).
pub(crate) fn list(running: &[RunningCall]) -> Value {
    let tasks: Vec<Value> = running
        .iter()
        .filter(|c| c.background)
        .map(|c| {
            json!({
                "task_id": c.call_id,
                "name": c.name,
                "running_seconds": c.elapsed.as_secs(),
                "progress": c.progress,
            })
        })
        .collect();
    json!({ "tasks": tasks })
}

/// The id `cancel_task` names, if its arguments have one.
pub(crate) fn task_id(args: &Value) -> Option<&str> {
    args.get("task_id").and_then(Value::as_str)
}
