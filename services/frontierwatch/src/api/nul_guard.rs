//! One place that refuses NUL characters in any string of any request.
//!
//! PostgreSQL's text cannot hold U+0000, so a string field carrying one
//! used to fail deep in storage as INTERNAL for some fields and be stored
//! for others. This wrapper around the service decodes each request once
//! against its method's input descriptor and answers INVALID_ARGUMENT,
//! naming the field, before any handler runs.

use std::convert::Infallible;
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};

use http_body_util::{BodyExt as _, Full, Limited};
use prost_reflect::{DescriptorPool, DynamicMessage, MessageDescriptor, Value};
use tonic::body::Body;
use tonic::codegen::{BoxFuture, Service, http};
use tonic::server::NamedService;

use crate::error::ApiError;

/// The largest request body buffered (a default gRPC limit, 4 MiB, plus the
/// 5-byte frame header); larger ones are refused as tonic would refuse them.
const MAX_BODY: usize = 4 * 1024 * 1024 + 5;

fn pool() -> &'static DescriptorPool {
    static POOL: OnceLock<DescriptorPool> = OnceLock::new();
    POOL.get_or_init(|| {
        DescriptorPool::decode(frontierwatch_proto::FILE_DESCRIPTOR_SET)
            .unwrap_or_else(|_| DescriptorPool::new())
    })
}

/// Wraps a generated service.
#[derive(Debug, Clone)]
pub struct NulGuard<S> {
    inner: S,
    /// Method name → input message, from the descriptor set.
    inputs: Arc<std::collections::HashMap<String, MessageDescriptor>>,
}

impl<S: NamedService> NulGuard<S> {
    pub fn new(inner: S) -> Self {
        let inputs = pool()
            .get_service_by_name(S::NAME)
            .map(|service| {
                service
                    .methods()
                    .map(|m| (format!("/{}/{}", S::NAME, m.name()), m.input()))
                    .collect()
            })
            .unwrap_or_default();
        Self {
            inner,
            inputs: Arc::new(inputs),
        }
    }
}

impl<S: NamedService> NamedService for NulGuard<S> {
    const NAME: &'static str = S::NAME;
}

impl<S> Service<http::Request<Body>> for NulGuard<S>
where
    S: Service<http::Request<Body>, Response = http::Response<Body>, Error = Infallible>
        + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
{
    type Response = http::Response<Body>;
    type Error = Infallible;
    type Future = BoxFuture<Self::Response, Self::Error>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<Body>) -> Self::Future {
        let Some(input) = self.inputs.get(request.uri().path()).cloned() else {
            return Box::pin(self.inner.call(request));
        };
        // The clone that was made ready serves this call.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        Box::pin(async move {
            let (parts, body) = request.into_parts();
            let bytes = match Limited::new(body, MAX_BODY).collect().await {
                Ok(collected) => collected.to_bytes(),
                Err(_) => {
                    return Ok(tonic::Status::resource_exhausted(
                        "the request is larger than 4 MiB",
                    )
                    .into_http());
                }
            };
            if let Some(field) = nul_field(&input, &bytes) {
                let error = ApiError::invalid(field, "must not contain a NUL character (U+0000)");
                return Ok(tonic::Status::from(error).into_http());
            }
            let body = Body::new(Full::new(bytes));
            inner.call(http::Request::from_parts(parts, body)).await
        })
    }
}

/// The path of the first string holding a NUL in the (uncompressed,
/// single-message) gRPC body, if any. Bodies that do not decode are left
/// to tonic, which answers them as usual.
fn nul_field(input: &MessageDescriptor, body: &[u8]) -> Option<String> {
    let (header, message) = body.split_at_checked(5)?;
    if header[0] != 0 {
        return None;
    }
    let message = DynamicMessage::decode(input.clone(), message).ok()?;
    find_nul(&message, "")
}

fn find_nul(message: &DynamicMessage, prefix: &str) -> Option<String> {
    for (field, value) in message.fields() {
        let path = if prefix.is_empty() {
            field.name().to_owned()
        } else {
            format!("{prefix}.{}", field.name())
        };
        if let Some(found) = value_nul(value, &path) {
            return Some(found);
        }
    }
    None
}

fn value_nul(value: &Value, path: &str) -> Option<String> {
    match value {
        Value::String(s) => s.contains('\0').then(|| path.to_owned()),
        Value::Message(m) => find_nul(m, path),
        Value::List(items) => items
            .iter()
            .enumerate()
            .find_map(|(i, item)| value_nul(item, &format!("{path}[{i}]"))),
        Value::Map(entries) => entries.iter().find_map(|(key, item)| {
            let key = match key {
                prost_reflect::MapKey::String(k) => {
                    if k.contains('\0') {
                        return Some(path.to_owned());
                    }
                    k.clone()
                }
                other => format!("{other:?}"),
            };
            value_nul(item, &format!("{path}[{key}]"))
        }),
        _ => None,
    }
}
