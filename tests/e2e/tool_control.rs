//! The one way to configure a tool, the read-only view of running calls, and the opt-in
//! task control the model uses to list and cancel them, end to end.

use adk_live::prelude::*;
use genai_wire::emulator::SessionHandle;
use serde_json::{Value, json};

use crate::support::*;

/// The function declarations the session announced in its setup.
fn declared(es: &SessionHandle) -> Vec<Value> {
    es.received_client_messages()[0]["setup"]["tools"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|t| {
            t["functionDeclarations"]
                .as_array()
                .cloned()
                .unwrap_or_default()
        })
        .collect()
}

/// The response the client sent for `id` (the emulator's raw record: an injected call is
/// one the emulator did not issue, so its ledger does not follow it).
fn response_to(es: &SessionHandle, id: &str) -> Option<Value> {
    es.received_client_messages()
        .into_iter()
        .filter_map(|m| m["toolResponse"]["functionResponses"].as_array().cloned())
        .flatten()
        .find(|r| r["id"] == json!(id))
}

/// The model calls `name` with `args` (injected as the server would send it).
fn model_calls(es: &SessionHandle, id: &str, name: &str, args: Value) {
    let call = json!({"toolCall": {"functionCalls": [{"id": id, "name": name, "args": args}]}});
    assert!(es.inject(call.to_string()));
}

#[tokio::test]
async fn settings_given_in_any_order_reach_the_wire() {
    let emu = emulator("e2e/single_call.json", Backend::DeveloperApi).await;
    let gates = Gates::new();
    gates.open_all();
    // The example: `tool`, then `tool_background`, then a timeout in a record of
    // its own. Before, the last call turned `search` back into a standard tool.
    let builder = Live::builder()
        .model("gemini-live-2.5-flash-preview")
        .tool(gates.tool())
        .tool_background("search")
        .tool_with(
            gates.tool(),
            ToolOptions::new().with_timeout(std::time::Duration::from_secs(30)),
        );
    let session = connect(&emu, Backend::DeveloperApi, builder).await;
    let es = emu.wait_for_session(WAIT).await.unwrap();
    let search = declared(&es)
        .into_iter()
        .find(|d| d["name"] == "search")
        .unwrap();
    assert_eq!(search["behavior"], "NON_BLOCKING", "{search}");
    session.send_text("search it").await.unwrap();
    events_until(&session, |e| matches!(e, LiveEvent::ToolAcked { .. })).await;
    events_until(&session, |e| matches!(e, LiveEvent::ToolCompleted { .. })).await;
    session.disconnect().await;
}

#[tokio::test]
async fn the_model_lists_and_cancels_a_running_task() {
    let emu = emulator("e2e/single_call.json", Backend::DeveloperApi).await;
    let gates = Gates::new();
    let builder = Live::builder()
        .tool_with(gates.tool(), ToolOptions::background())
        .llm_task_control();
    let session = connect(&emu, Backend::DeveloperApi, builder).await;
    let es = emu.wait_for_session(WAIT).await.unwrap();
    let names: Vec<Value> = declared(&es)
        .into_iter()
        .map(|d| d["name"].clone())
        .collect();
    assert_eq!(
        names,
        vec![
            json!("search"),
            json!("get_running_tasks"),
            json!("cancel_task")
        ]
    );

    session.send_text("search it").await.unwrap();
    let call = es.wait_for_function_call(1, WAIT).await.unwrap();
    gates.progress.add_permits(1);
    events_until(&session, |e| matches!(e, LiveEvent::ToolProgress { .. })).await;
    // The application's read-only view.
    let running = session.tools().list();
    assert_eq!(running.len(), 1);
    assert_eq!(running[0].call_id, call.id);
    assert_eq!(running[0].name, "search");
    assert!(running[0].background);
    assert_eq!(running[0].progress, Some(json!({"stage": 1})));
    assert_eq!(running[0].progress_updates, 1);

    // The model asks what runs, then cancels it by the id it was told.
    model_calls(&es, "ctl-1", "get_running_tasks", json!({}));
    until("the task list", || response_to(&es, "ctl-1").is_some()).await;
    let listed = response_to(&es, "ctl-1").unwrap();
    let tasks = &listed["response"]["output"]["tasks"];
    assert_eq!(tasks[0]["task_id"], json!(call.id), "{listed}");
    assert_eq!(tasks[0]["progress"], json!({"stage": 1}), "{listed}");

    model_calls(&es, "ctl-2", "cancel_task", json!({"task_id": call.id}));
    let events = events_until(&session, |e| matches!(e, LiveEvent::ToolCancelled { .. })).await;
    assert!(
        events.iter().any(|e| matches!(
            e,
            LiveEvent::ToolCancelled { call_id, reason: CancelReason::Model, .. } if *call_id == call.id
        )),
        "{events:?}"
    );
    until("the cancel answered", || {
        response_to(&es, "ctl-2").is_some()
    })
    .await;
    assert_eq!(
        response_to(&es, "ctl-2").unwrap()["response"]["output"],
        json!({"cancelled": call.id})
    );
    // The cancelled call itself is closed on the server's side with a final response.
    until("the cancelled call's final response", || {
        deliveries(&es, &call.id) == vec![(0, false)]
    })
    .await;
    assert!(session.tools().is_empty());

    // A task that does not run: an error the model can read, nothing cancelled.
    model_calls(&es, "ctl-3", "cancel_task", json!({"task_id": "nope"}));
    until("the refusal", || response_to(&es, "ctl-3").is_some()).await;
    let refused = response_to(&es, "ctl-3").unwrap();
    assert!(
        refused["response"]["error"]
            .as_str()
            .unwrap()
            .contains("nope"),
        "{refused}"
    );
    session.disconnect().await;
}

#[tokio::test]
async fn task_control_is_declared_only_when_on_and_never_shadows_a_tool() {
    let emu = emulator("e2e/single_call.json", Backend::DeveloperApi).await;
    let gates = Gates::new();
    let session = connect(
        &emu,
        Backend::DeveloperApi,
        Live::builder().tool_with(gates.tool(), ToolOptions::background()),
    )
    .await;
    let es = emu.wait_for_session(WAIT).await.unwrap();
    assert_eq!(declared(&es).len(), 1);
    session.disconnect().await;

    let clash = tool_fn("cancel_task", "Mine", |_: Value, _: ToolContext| async {
        Ok::<_, ToolError>(json!({}))
    });
    let refused = Live::builder()
        .tool(clash)
        .llm_task_control()
        .connect_endpoint(emu.ws_url(), Credentials::None)
        .await;
    assert!(matches!(refused, Err(Error::Config(_))), "{refused:?}");
}
