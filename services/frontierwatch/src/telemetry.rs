//! Logging and tracing: human-readable or JSON logs on stderr, and OTLP
//! trace export when `OTEL_EXPORTER_OTLP_ENDPOINT` is set.

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;
use tracing_subscriber::{EnvFilter, Layer as _};

use crate::config::LogFormat;

/// Keeps the trace exporter alive; `shutdown` flushes it.
#[derive(Debug)]
pub struct TelemetryGuard {
    provider: Option<SdkTracerProvider>,
}

/// Installs the global subscriber. Must run inside the Tokio runtime.
pub fn init(format: LogFormat) -> anyhow::Result<TelemetryGuard> {
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn,h2=warn,tower=warn,hyper=warn"));
    let logs = match format {
        LogFormat::Text => tracing_subscriber::fmt::layer()
            .with_writer(std::io::stderr)
            .boxed(),
        LogFormat::Json => tracing_subscriber::fmt::layer()
            .json()
            .with_current_span(true)
            .with_writer(std::io::stderr)
            .boxed(),
    };
    let provider = match std::env::var("OTEL_EXPORTER_OTLP_ENDPOINT") {
        Ok(endpoint) if !endpoint.is_empty() => {
            let exporter = opentelemetry_otlp::SpanExporter::builder()
                .with_tonic()
                .build()?;
            let resource = opentelemetry_sdk::Resource::builder()
                .with_service_name("frontierwatch")
                .build();
            Some(
                SdkTracerProvider::builder()
                    .with_batch_exporter(exporter)
                    .with_resource(resource)
                    .build(),
            )
        }
        _ => None,
    };
    let otel = provider.as_ref().map(|p| {
        tracing_opentelemetry::layer()
            .with_tracer(p.tracer("frontierwatch"))
            .with_filter(EnvFilter::new(
                "info,sqlx=warn,h2=off,tower=off,hyper=off,tonic=off",
            ))
    });
    tracing_subscriber::registry()
        .with(filter)
        .with(logs)
        .with(otel)
        .try_init()?;
    Ok(TelemetryGuard { provider })
}

impl TelemetryGuard {
    /// Flushes pending spans, off the async threads since the SDK blocks.
    pub async fn shutdown(self) {
        if let Some(provider) = self.provider {
            let result = tokio::task::spawn_blocking(move || provider.shutdown()).await;
            if let Ok(Err(error)) = result {
                eprintln!("trace export did not flush: {error}");
            }
        }
    }
}

/// The caller's span context, from its W3C trace context headers
/// (`traceparent: 00-<trace id>-<parent span id>-<flags>`, and
/// `tracestate`), read by OpenTelemetry's `TraceContextPropagator`;
/// anything malformed, or the all-zero ids the specification forbids, is
/// `None` (a new trace is started).
pub fn remote_parent(
    headers: &tonic::codegen::http::HeaderMap,
) -> Option<opentelemetry::trace::SpanContext> {
    use opentelemetry::propagation::{Extractor, TextMapPropagator as _};
    use opentelemetry::trace::TraceContextExt as _;

    struct Headers<'a>(&'a tonic::codegen::http::HeaderMap);
    impl Extractor for Headers<'_> {
        fn get(&self, key: &str) -> Option<&str> {
            let value = self.0.get(key).and_then(|v| v.to_str().ok())?;
            // The propagator checks everything but the fields' lengths (it
            // takes a 31-digit trace id), which the W3C format fixes.
            let sized = |v: &str| v.trim().split('-').take(4).map(str::len).eq([2, 32, 16, 2]);
            (key != "traceparent" || sized(value)).then_some(value)
        }
        fn keys(&self) -> Vec<&str> {
            self.0.keys().map(|k| k.as_str()).collect()
        }
    }
    let context =
        opentelemetry_sdk::propagation::TraceContextPropagator::new().extract(&Headers(headers));
    let span_context = context.span().span_context().clone();
    span_context.is_valid().then_some(span_context)
}

/// The span of one gRPC call. It continues the caller's trace when the
/// call carries a valid `traceparent`, and its `trace_id` field (in every
/// log line inside the call) is the trace's id: the caller's, the one the
/// OpenTelemetry exporter started, or a fresh one when neither exists.
pub fn grpc_span<B>(request: &tonic::codegen::http::Request<B>) -> tracing::Span {
    use opentelemetry::trace::{TraceContextExt as _, TraceId};
    use tracing_opentelemetry::OpenTelemetrySpanExt as _;

    let span = tracing::info_span!(
        "grpc",
        rpc.system = "grpc",
        rpc.method = %request.uri().path(),
        otel.kind = "server",
        trace_id = tracing::field::Empty,
    );
    let incoming = remote_parent(request.headers());
    if let Some(parent) = &incoming {
        let _ =
            span.set_parent(opentelemetry::Context::new().with_remote_span_context(parent.clone()));
    }
    let exported = span.context().span().span_context().trace_id();
    let trace_id = if exported != TraceId::INVALID {
        u128::from_be_bytes(exported.to_bytes())
    } else if let Some(parent) = &incoming {
        u128::from_be_bytes(parent.trace_id().to_bytes())
    } else {
        u128::from_be_bytes(*uuid::Uuid::new_v4().as_bytes())
    };
    span.record(
        "trace_id",
        tracing::field::display(format!("{trace_id:032x}")),
    );
    span
}

#[cfg(test)]
mod tests {
    use super::remote_parent;
    use tonic::codegen::http::{HeaderMap, HeaderValue};

    fn parse(value: &str) -> Option<(u128, u64, bool)> {
        let mut headers = HeaderMap::new();
        headers.insert("traceparent", HeaderValue::from_str(value).ok()?);
        remote_parent(&headers).map(|c| {
            (
                u128::from_be_bytes(c.trace_id().to_bytes()),
                u64::from_be_bytes(c.span_id().to_bytes()),
                c.is_sampled(),
            )
        })
    }

    #[test]
    fn traceparent_is_parsed_as_the_w3c_recommendation_says() {
        let (trace_id, span_id, sampled) =
            parse("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01").unwrap();
        assert_eq!(trace_id, 0x4bf92f3577b34da6a3ce929d0e0e4736);
        assert_eq!(span_id, 0x00f067aa0ba902b7);
        assert!(sampled);
        for bad in [
            "",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",
            "00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01",
        ] {
            assert_eq!(parse(bad), None, "{bad}");
        }
        // A later version may carry more fields.
        assert!(parse("01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-x").is_some());
    }
}
