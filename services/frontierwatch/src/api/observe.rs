//! What every call of every service (API, tokens, health, reflection)
//! records: started and handled counts by service, method and status code,
//! the handling time of unary calls, and the calls in flight.
//!
//! The status of a call is in its response headers when it failed before
//! any message (trailers-only) and otherwise in the trailers that end the
//! body, so the body is wrapped and the call is counted when it ends; a
//! body dropped before its trailers (the client went away) counts as
//! CANCELLED.

use std::collections::HashMap;
use std::pin::Pin;
use std::sync::OnceLock;
use std::task::{Context, Poll};
use std::time::Instant;

use bytes::Bytes;
use http_body::Frame;
use prost_reflect::DescriptorPool;
use tonic::body::Body;
use tonic::codegen::{BoxFuture, Service, http};
use tower_layer::Layer;

use crate::metrics::{RPC_HANDLED, RPC_IN_FLIGHT, RPC_SECONDS, RPC_STARTED};

/// A method the server serves: its labels, and whether it streams its
/// response (then its handling time is not a latency).
#[derive(Debug, Clone, Copy)]
struct Method {
    service: &'static str,
    method: &'static str,
    streaming: bool,
}

const UNKNOWN: Method = Method {
    service: "unknown",
    method: "unknown",
    streaming: false,
};

/// Every served method by path, from the descriptor sets: label values
/// are bounded by what the server serves, whatever paths clients send.
fn methods() -> &'static HashMap<String, Method> {
    static METHODS: OnceLock<HashMap<String, Method>> = OnceLock::new();
    METHODS.get_or_init(|| {
        let mut methods = HashMap::new();
        for set in [
            frontierwatch_proto::FILE_DESCRIPTOR_SET,
            tonic_health::pb::FILE_DESCRIPTOR_SET,
            tonic_reflection::pb::v1::FILE_DESCRIPTOR_SET,
            tonic_reflection::pb::v1alpha::FILE_DESCRIPTOR_SET,
        ] {
            let Ok(pool) = DescriptorPool::decode(set) else {
                continue;
            };
            for service in pool.services() {
                // Built once per process, from a fixed set of names.
                let service_name: &'static str = Box::leak(service.full_name().into());
                for method in service.methods() {
                    methods.insert(
                        format!("/{}/{}", service.full_name(), method.name()),
                        Method {
                            service: service_name,
                            method: Box::leak(method.name().into()),
                            streaming: method.is_server_streaming(),
                        },
                    );
                }
            }
        }
        methods
    })
}

/// The canonical name of a gRPC status code.
pub fn code_name(code: i32) -> &'static str {
    const NAMES: [&str; 17] = [
        "OK",
        "CANCELLED",
        "UNKNOWN",
        "INVALID_ARGUMENT",
        "DEADLINE_EXCEEDED",
        "NOT_FOUND",
        "ALREADY_EXISTS",
        "PERMISSION_DENIED",
        "RESOURCE_EXHAUSTED",
        "FAILED_PRECONDITION",
        "ABORTED",
        "OUT_OF_RANGE",
        "UNIMPLEMENTED",
        "INTERNAL",
        "UNAVAILABLE",
        "DATA_LOSS",
        "UNAUTHENTICATED",
    ];
    usize::try_from(code)
        .ok()
        .and_then(|i| NAMES.get(i))
        .copied()
        .unwrap_or("UNKNOWN")
}

fn status_of(headers: &http::HeaderMap) -> Option<i32> {
    headers
        .get("grpc-status")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
}

/// The layer for `Server::builder().layer(...)`.
#[derive(Debug, Clone, Copy, Default)]
pub struct ObserveLayer;

impl<S> Layer<S> for ObserveLayer {
    type Service = Observe<S>;

    fn layer(&self, inner: S) -> Self::Service {
        Observe { inner }
    }
}

/// Records every call; see the module's documentation.
#[derive(Debug, Clone)]
pub struct Observe<S> {
    inner: S,
}

impl<S, B> Service<http::Request<B>> for Observe<S>
where
    S: Service<http::Request<B>, Response = http::Response<Body>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    B: Send + 'static,
{
    type Response = http::Response<Body>;
    type Error = S::Error;
    type Future = BoxFuture<Self::Response, Self::Error>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        let method = methods()
            .get(request.uri().path())
            .copied()
            .unwrap_or(UNKNOWN);
        let call = Call::start(method);
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        Box::pin(async move {
            // Inside the call's span: carries its trace id.
            tracing::debug!(grpc.method = method.method, "call received");
            let response = inner.call(request).await?;
            if let Some(code) = status_of(response.headers()) {
                call.finish(code);
                return Ok(response);
            }
            Ok(response.map(|body| {
                Body::new(Observed {
                    inner: body,
                    call: Some(call),
                })
            }))
        })
    }
}

/// A call being served; counted as handled exactly once.
struct Call {
    method: Method,
    started: Instant,
}

impl Call {
    fn start(method: Method) -> Call {
        metrics::counter!(RPC_STARTED, "grpc_service" => method.service, "grpc_method" => method.method)
            .increment(1);
        metrics::gauge!(RPC_IN_FLIGHT, "grpc_service" => method.service).increment(1.0);
        Call {
            method,
            started: Instant::now(),
        }
    }

    fn finish(self, code: i32) {
        let Method {
            service,
            method,
            streaming,
        } = self.method;
        metrics::gauge!(RPC_IN_FLIGHT, "grpc_service" => service).decrement(1.0);
        metrics::counter!(
            RPC_HANDLED,
            "grpc_service" => service,
            "grpc_method" => method,
            "grpc_code" => code_name(code),
        )
        .increment(1);
        if !streaming {
            metrics::histogram!(RPC_SECONDS, "grpc_service" => service, "grpc_method" => method)
                .record(self.started.elapsed().as_secs_f64());
        }
    }
}

/// A response body that counts its call when its trailers pass, when it
/// ends without them (UNKNOWN), or when it is dropped first (CANCELLED).
struct Observed {
    inner: Body,
    call: Option<Call>,
}

impl http_body::Body for Observed {
    type Data = Bytes;
    type Error = tonic::Status;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let polled = Pin::new(&mut self.inner).poll_frame(cx);
        match &polled {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(trailers) = frame.trailers_ref()
                    && let Some(call) = self.call.take()
                {
                    call.finish(status_of(trailers).unwrap_or(2));
                }
            }
            Poll::Ready(Some(Err(_))) | Poll::Ready(None) => {
                if let Some(call) = self.call.take() {
                    call.finish(2);
                }
            }
            Poll::Pending => {}
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

impl Drop for Observed {
    fn drop(&mut self) {
        if let Some(call) = self.call.take() {
            call.finish(1);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_served_method_has_bounded_labels_and_unknown_paths_share_one() {
        let methods = methods();
        assert!(methods.contains_key("/frontierwatch.v1.FrontierWatchService/Watch"));
        assert!(methods["/frontierwatch.v1.FrontierWatchService/Watch"].streaming);
        assert!(!methods["/frontierwatch.v1.FrontierWatchService/GetRelease"].streaming);
        assert!(methods.contains_key("/grpc.health.v1.Health/Check"));
        assert!(methods.contains_key("/frontierwatch.v1.TokenService/CreateToken"));
        assert!(!methods.contains_key("/x.Y/organizations-123"));
        assert_eq!(code_name(0), "OK");
        assert_eq!(code_name(16), "UNAUTHENTICATED");
        assert_eq!(code_name(99), "UNKNOWN");
    }
}
