//! Logs and traces for the example servers.
//!
//! Logs go to stderr through `tracing-subscriber` (`RUST_LOG` filters them). With the
//! `otel` feature and `OTEL_EXPORTER_OTLP_ENDPOINT` (or
//! `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`) set, the same `tracing` spans are exported over
//! OTLP/HTTP as OpenTelemetry spans: one per caller (`page`, `call`), one per Live session
//! (`live_session`) and one per tool call (`tool_call`, with `call_id`), each the parent
//! of the next. The exporter reads the standard `OTEL_*` variables (endpoint, headers,
//! timeout); the service is named by `OTEL_SERVICE_NAME`, else `agent_server`.

use tracing_subscriber::EnvFilter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

/// What [`init`] set up; flushes the exporter when dropped.
#[derive(Debug, Default)]
pub struct Telemetry {
    #[cfg(feature = "otel")]
    provider: Option<opentelemetry_sdk::trace::SdkTracerProvider>,
}

impl Telemetry {
    /// True when spans are exported.
    pub fn exporting(&self) -> bool {
        #[cfg(feature = "otel")]
        return self.provider.is_some();
        #[cfg(not(feature = "otel"))]
        false
    }
}

impl Drop for Telemetry {
    fn drop(&mut self) {
        #[cfg(feature = "otel")]
        if let Some(p) = self.provider.take() {
            let _ = p.shutdown();
        }
    }
}

/// Installs the global subscriber: stderr logs filtered by `RUST_LOG` (else
/// `default_filter`), plus OTLP export when configured (see the module docs).
pub fn init(default_filter: &str) -> Result<Telemetry, String> {
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_filter));
    let fmt = tracing_subscriber::fmt::layer().with_writer(std::io::stderr);
    #[cfg(feature = "otel")]
    {
        let configured = [
            "OTEL_EXPORTER_OTLP_ENDPOINT",
            "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
        ]
        .iter()
        .any(|k| std::env::var(k).is_ok_and(|v| !v.is_empty()));
        if configured {
            let provider = otlp_provider()?;
            let layer = otel_layer(&provider);
            tracing_subscriber::registry()
                .with(filter)
                .with(fmt)
                .with(layer)
                .try_init()
                .map_err(|e| e.to_string())?;
            return Ok(Telemetry {
                provider: Some(provider),
            });
        }
    }
    tracing_subscriber::registry()
        .with(filter)
        .with(fmt)
        .try_init()
        .map_err(|e| e.to_string())?;
    Ok(Telemetry::default())
}

/// The tracing layer that turns spans into OpenTelemetry spans of `provider`.
#[cfg(feature = "otel")]
pub fn otel_layer<S>(
    provider: &opentelemetry_sdk::trace::SdkTracerProvider,
) -> tracing_opentelemetry::OpenTelemetryLayer<S, opentelemetry_sdk::trace::Tracer>
where
    S: tracing::Subscriber + for<'span> tracing_subscriber::registry::LookupSpan<'span>,
{
    use opentelemetry::trace::TracerProvider as _;
    tracing_opentelemetry::layer().with_tracer(provider.tracer("agent_server"))
}

#[cfg(feature = "otel")]
fn otlp_provider() -> Result<opentelemetry_sdk::trace::SdkTracerProvider, String> {
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .build()
        .map_err(|e| format!("OTLP exporter: {e}"))?;
    let name = std::env::var("OTEL_SERVICE_NAME").unwrap_or_else(|_| "agent_server".into());
    Ok(opentelemetry_sdk::trace::SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .with_resource(
            opentelemetry_sdk::Resource::builder()
                .with_service_name(name)
                .build(),
        )
        .build())
}
