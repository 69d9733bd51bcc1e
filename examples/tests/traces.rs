//! The agent server's spans as OpenTelemetry sees them (feature `otel`), through the SDK's
//! in-memory exporter: a `page` span, its `live_session`, and a `tool_call` per call with
//! its `call_id`, each the parent of the next, in one trace.

mod support;

use std::time::Duration;

use adk_live::bridge::page::{PageEvent, ToolPhase};
use examples::server::ServerConfig;
use futures::{SinkExt, StreamExt};
use opentelemetry::trace::{SpanId, TraceId};
use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracerProvider, SpanData};
use support::agent_server::{self, VOICE_SCENARIO};
use tokio_tungstenite::tungstenite::Message;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

const WAIT: Duration = Duration::from_secs(20);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spans_nest_page_session_tool_call() {
    let exporter = InMemorySpanExporter::default();
    let provider = SdkTracerProvider::builder()
        .with_simple_exporter(exporter.clone())
        .build();
    tracing_subscriber::registry()
        .with(examples::telemetry::otel_layer(&provider))
        .init();

    let emu = agent_server::emulator(VOICE_SCENARIO).await;
    let server =
        agent_server::start(ServerConfig::default(), &emu, Duration::from_millis(100)).await;
    let (mut ws, _) = tokio_tungstenite::connect_async(format!("ws://{}/ws", server.addr()))
        .await
        .unwrap();
    ws.send(Message::text(r#"{"type":"hello","protocol":1}"#))
        .await
        .unwrap();
    ws.send(Message::text(r#"{"type":"text","text":"flights"}"#))
        .await
        .unwrap();
    let mut search_id = None;
    tokio::time::timeout(WAIT, async {
        while let Some(Ok(m)) = ws.next().await {
            if let Message::Text(t) = m
                && let Ok(PageEvent::Tool(u)) = serde_json::from_str::<PageEvent>(&t)
                && u.name == "search"
                && u.phase == ToolPhase::Completed
            {
                search_id = Some(u.call_id);
                return;
            }
        }
    })
    .await
    .expect("search completed");
    let search_id = search_id.unwrap();
    ws.close(None).await.unwrap();
    server.shutdown().await;
    provider.force_flush().unwrap();

    let spans = exporter.get_finished_spans().unwrap();
    let named =
        |name: &str| -> Vec<&SpanData> { spans.iter().filter(|s| s.name == name).collect() };
    let page = named("page");
    assert_eq!(
        page.len(),
        1,
        "{:?}",
        spans.iter().map(|s| &s.name).collect::<Vec<_>>()
    );
    let session = named("live_session");
    assert_eq!(session.len(), 1);
    let tool = named("tool_call")
        .into_iter()
        .find(|s| {
            s.attributes
                .iter()
                .any(|kv| kv.key.as_str() == "call_id" && kv.value.as_str() == search_id.as_str())
        })
        .expect("a tool_call span with the search's call_id");
    let trace: TraceId = page[0].span_context.trace_id();
    assert_eq!(
        session[0].parent_span_id,
        page[0].span_context.span_id(),
        "session under page"
    );
    assert_eq!(
        tool.parent_span_id,
        session[0].span_context.span_id(),
        "tool call under session"
    );
    assert_eq!(page[0].parent_span_id, SpanId::INVALID, "page is a root");
    for s in [session[0], tool] {
        assert_eq!(s.span_context.trace_id(), trace, "one trace");
    }
    assert!(
        tool.attributes
            .iter()
            .any(|kv| kv.key.as_str() == "tool" && kv.value.as_str() == "search")
    );
}
