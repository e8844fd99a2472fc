//! The limits every call of the service passes before a handler runs, in
//! one wrapper around the generated service:
//!
//! - a concurrency limit with load shedding: a call beyond it is answered
//!   RESOURCE_EXHAUSTED at once, never queued into a hang;
//! - a request size limit, answered RESOURCE_EXHAUSTED;
//! - a default deadline for calls that bring none (or a longer one),
//!   answered DEADLINE_EXCEEDED; a Watch counts until its stream starts;
//! - no NUL characters in any string: PostgreSQL's text cannot hold
//!   U+0000, so a string field carrying one used to fail deep in storage as
//!   INTERNAL for some fields and be stored for others. Each request is
//!   decoded once against its method's input descriptor and a NUL answers
//!   INVALID_ARGUMENT, naming the field;
//! - outside resources, every enum value defined and every timestamp
//!   between the years 1 and 9999 with its nanos in range, the same way for
//!   every request (an import's `source`, Watch's filters, a token's expiry,
//!   ...), answered INVALID_ARGUMENT naming the field. Resources are left
//!   to their kinds' validation, which names the field under the resource
//!   and, in an import, rejects the one item rather than the call.

use std::sync::Arc;

use http_body_util::{BodyExt as _, Full, Limited};
use prost_reflect::{DynamicMessage, MessageDescriptor, ReflectMessage as _, Value};
use tokio::sync::Semaphore;
use tonic::body::Body;
use tonic::codegen::{Service, http};
use tonic::server::NamedService;

use super::wrap::{GrpcService, ready, wrapper_service};

use crate::error::ApiError;

/// The limits, from the configuration.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// The largest request message, in bytes.
    pub max_request_bytes: usize,
    /// The deadline of calls that bring none or a longer one.
    pub default_deadline: std::time::Duration,
    /// Calls served at once; more are shed.
    pub max_concurrent_calls: usize,
}

/// Wraps a generated service.
#[derive(Debug, Clone)]
pub struct Guard<S> {
    inner: S,
    /// Method name → input message, from the descriptor set.
    inputs: Arc<std::collections::HashMap<String, MessageDescriptor>>,
    limits: Limits,
    calls: Arc<Semaphore>,
}

impl<S: NamedService> Guard<S> {
    pub fn new(inner: S, limits: Limits) -> Self {
        // Without the descriptor set (it does not decode), no call is
        // scanned, as with an empty pool.
        let inputs = crate::domain::reflect::pool()
            .ok()
            .and_then(|pool| pool.get_service_by_name(S::NAME))
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
            limits,
            calls: Arc::new(Semaphore::new(limits.max_concurrent_calls)),
        }
    }
}

impl<S: NamedService> NamedService for Guard<S> {
    const NAME: &'static str = S::NAME;
}

impl<S: GrpcService> Service<http::Request<Body>> for Guard<S> {
    wrapper_service!();

    fn call(&mut self, request: http::Request<Body>) -> Self::Future {
        let Some(input) = self.inputs.get(request.uri().path()).cloned() else {
            return Box::pin(self.inner.call(request));
        };
        let Ok(permit) = self.calls.clone().try_acquire_owned() else {
            metrics::counter!(crate::metrics::RPC_SHED, "grpc_service" => S::NAME).increment(1);
            let limit = self.limits.max_concurrent_calls;
            return Box::pin(async move {
                Ok(tonic::Status::resource_exhausted(format!(
                    "the server is serving its limit of {limit} calls at once; retry with backoff"
                ))
                .into_http())
            });
        };
        // The clone that was made ready serves this call.
        let mut inner = ready(&mut self.inner);
        let limits = self.limits;
        let deadline = deadline(&request, limits.default_deadline);
        Box::pin(async move {
            let _permit = permit;
            let (parts, body) = request.into_parts();
            // The frame header is 5 bytes.
            let bytes = match Limited::new(body, limits.max_request_bytes + 5)
                .collect()
                .await
            {
                Ok(collected) => collected.to_bytes(),
                Err(_) => {
                    return Ok(tonic::Status::resource_exhausted(format!(
                        "the request is larger than {} bytes",
                        limits.max_request_bytes
                    ))
                    .into_http());
                }
            };
            if let Some((field, why)) = violation(&input, &bytes) {
                let error = ApiError::invalid(field, why);
                return Ok(tonic::Status::from(error).into_http());
            }
            let body = Body::new(Full::new(bytes));
            let call = inner.call(http::Request::from_parts(parts, body));
            match tokio::time::timeout(deadline, call).await {
                Ok(response) => response,
                Err(_) => Ok(tonic::Status::deadline_exceeded(format!(
                    "the call did not finish within its deadline of {:.3} s",
                    deadline.as_secs_f64()
                ))
                .into_http()),
            }
        })
    }
}

/// The call's own deadline (`grpc-timeout`) if shorter than the default.
fn deadline(request: &http::Request<Body>, default: std::time::Duration) -> std::time::Duration {
    let asked = request
        .headers()
        .get("grpc-timeout")
        .and_then(|v| v.to_str().ok())
        .and_then(parse_grpc_timeout);
    asked.map_or(default, |asked| asked.min(default))
}

/// `grpc-timeout`: up to 8 digits and a unit (H, M, S, m, u, n).
fn parse_grpc_timeout(value: &str) -> Option<std::time::Duration> {
    use std::time::Duration;
    let (digits, unit) = value.split_at_checked(value.len().checked_sub(1)?)?;
    let n: u64 = digits.parse().ok()?;
    Some(match unit {
        "H" => Duration::from_secs(n.saturating_mul(3600)),
        "M" => Duration::from_secs(n.saturating_mul(60)),
        "S" => Duration::from_secs(n),
        "m" => Duration::from_millis(n),
        "u" => Duration::from_micros(n),
        "n" => Duration::from_nanos(n),
        _ => return None,
    })
}

/// The path of the first field breaking a rule every request obeys, and
/// why, in the (uncompressed, single-message) gRPC body: a string holding a
/// NUL anywhere; outside resources, an enum value its enum does not define
/// or a timestamp outside the years 1 to 9999. Bodies that do not decode
/// are left to tonic, which answers them as usual.
///
/// The body is first scanned in its wire format ([`suspect`]), which costs
/// no allocation; only a body the scan finds suspect (or cannot read) is
/// decoded as a dynamic message to name the field. Decoding every body
/// took a quarter of the server's CPU in bulk calls (measured with perf on
/// `ImportResources` of 500 items).
fn violation(input: &MessageDescriptor, body: &[u8]) -> Option<(String, String)> {
    let (header, message) = body.split_at_checked(5)?;
    if header[0] != 0 || !suspect(input, message, 0, is_resource(input)) {
        return None;
    }
    let message = DynamicMessage::decode(input.clone(), message).ok()?;
    find(&message, "", is_resource(input))
}

/// The path of the first string holding a NUL, if any (tests).
#[cfg(test)]
fn nul_field(input: &MessageDescriptor, body: &[u8]) -> Option<String> {
    violation(input, body)
        .filter(|(_, why)| why.contains("NUL"))
        .map(|(path, _)| path)
}

const NUL: &str = "must not contain a NUL character (U+0000)";
const TIMESTAMP: &str = "google.protobuf.Timestamp";

/// Whether a message is a resource (its kind validates its own fields).
fn is_resource(message: &MessageDescriptor) -> bool {
    frontierwatch_proto::kinds::KindInfo::of_message(message.full_name()).is_some()
}

/// Whether the encoded `message` may break a rule: false only when the
/// wire format reads to its end and no string holds a NUL and, outside
/// resources, every enum value is defined and every timestamp in range.
/// Fields are found by number in the descriptor; nested messages (map
/// entries among them) are scanned in turn.
fn suspect(message: &MessageDescriptor, bytes: &[u8], depth: usize, in_resource: bool) -> bool {
    use crate::domain::wire;
    use prost_reflect::Kind;
    if depth > wire::MAX_DEPTH {
        return true;
    }
    if !in_resource && message.full_name() == TIMESTAMP {
        return timestamp_of(bytes)
            .is_none_or(|t| crate::domain::violations::check_timestamp(&t).is_err());
    }
    for field in wire::fields(bytes) {
        let Ok((number, value)) = field else {
            return true;
        };
        let Some(kind) = message.get_field(number).map(|f| f.kind()) else {
            continue;
        };
        match (kind, value) {
            (Kind::String, wire::Value::Delimited(value)) if value.contains(&0) => return true,
            (Kind::Message(inner), wire::Value::Delimited(value)) => {
                let inside = in_resource || is_resource(&inner);
                if suspect(&inner, value, depth + 1, inside) {
                    return true;
                }
            }
            // Enums are int32 on the wire, negatives sign-extended.
            (Kind::Enum(e), wire::Value::Varint(v))
                if !in_resource && e.get_value(v as i32).is_none() =>
            {
                return true;
            }
            // A packed repeated enum.
            (Kind::Enum(e), wire::Value::Delimited(mut packed)) if !in_resource => {
                while !packed.is_empty() {
                    match prost::encoding::decode_varint(&mut packed) {
                        Ok(v) if e.get_value(v as i32).is_some() => {}
                        _ => return true,
                    }
                }
            }
            _ => {}
        }
    }
    false
}

/// A timestamp's seconds and nanos from its wire format.
fn timestamp_of(bytes: &[u8]) -> Option<prost_types::Timestamp> {
    use prost::Message as _;
    prost_types::Timestamp::decode(bytes).ok()
}

fn find(message: &DynamicMessage, prefix: &str, in_resource: bool) -> Option<(String, String)> {
    let descriptor = message.descriptor();
    if !in_resource && descriptor.full_name() == TIMESTAMP {
        let t = message.transcode_to::<prost_types::Timestamp>().ok()?;
        return crate::domain::violations::check_timestamp(&t)
            .err()
            .map(|why| (prefix.to_owned(), why.to_owned()));
    }
    for (field, value) in message.fields() {
        let path = if prefix.is_empty() {
            field.name().to_owned()
        } else {
            format!("{prefix}.{}", field.name())
        };
        if let Some(found) = value_violation(&field, value, &path, in_resource) {
            return Some(found);
        }
    }
    None
}

fn value_violation(
    field: &prost_reflect::FieldDescriptor,
    value: &Value,
    path: &str,
    in_resource: bool,
) -> Option<(String, String)> {
    match value {
        Value::String(s) => s.contains('\0').then(|| (path.to_owned(), NUL.to_owned())),
        Value::Message(m) => find(m, path, in_resource || is_resource(&m.descriptor())),
        Value::EnumNumber(number) if !in_resource => match field.kind() {
            prost_reflect::Kind::Enum(e) if e.get_value(*number).is_none() => Some((
                path.to_owned(),
                format!("{number} is not a value of {}", e.full_name()),
            )),
            _ => None,
        },
        Value::List(items) => items.iter().enumerate().find_map(|(i, item)| {
            value_violation(field, item, &format!("{path}[{i}]"), in_resource)
        }),
        Value::Map(entries) => entries.iter().find_map(|(key, item)| {
            let key = match key {
                prost_reflect::MapKey::String(k) => {
                    if k.contains('\0') {
                        return Some((path.to_owned(), NUL.to_owned()));
                    }
                    k.clone()
                }
                other => format!("{other:?}"),
            };
            let entry_value = field
                .kind()
                .as_message()
                .and_then(|m| m.get_field_by_name("value"));
            match entry_value {
                Some(value_field) => {
                    value_violation(&value_field, item, &format!("{path}[{key}]"), in_resource)
                }
                None => None,
            }
        }),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use frontierwatch_proto::v1::*;
    use prost::Message as _;

    fn descriptor(name: &str) -> MessageDescriptor {
        crate::domain::reflect::pool()
            .unwrap()
            .get_message_by_name(name)
            .expect("the message is in the descriptor set")
    }

    /// The scan and the full decode agree, on bodies with and without a
    /// NUL, nested, repeated, beside zero bytes that are not strings.
    #[test]
    fn the_wire_scan_agrees_with_the_full_decode() {
        let item = |i: i64, name: &str| ImportItem {
            line: i,
            resource: Some(import_item::Resource::BenchmarkResult(BenchmarkResult {
                name: format!("benchmarkResults/{name}"),
                // 50.0 and 0 shots encode zero bytes outside any string.
                score: 50.0,
                settings: Some(EvaluationSettings {
                    shots: Some(0),
                    ..Default::default()
                }),
                ..Default::default()
            })),
        };
        let clean = ImportResourcesRequest {
            items: (0..50).map(|i| item(i, &format!("r{i}"))).collect(),
            ..Default::default()
        };
        let mut dirty = clean.clone();
        dirty.items[37] = item(37, "r\0");
        let input = descriptor("frontierwatch.v1.ImportResourcesRequest");
        let body = |m: &ImportResourcesRequest| {
            let mut body = vec![0, 0, 0, 0, 0];
            body.extend(m.encode_to_vec());
            body
        };
        assert!(
            clean.encode_to_vec().contains(&0),
            "zero bytes outside strings"
        );
        assert!(!suspect(&input, &clean.encode_to_vec(), 0, false));
        assert_eq!(nul_field(&input, &body(&clean)), None);
        assert!(suspect(&input, &dirty.encode_to_vec(), 0, false));
        assert_eq!(
            nul_field(&input, &body(&dirty)).as_deref(),
            Some("items[37].benchmark_result.name")
        );

        let org = descriptor("frontierwatch.v1.CreateOrganizationRequest");
        let request = |alias: &str| CreateOrganizationRequest {
            organization_id: "o".into(),
            organization: Some(Organization {
                aliases: vec!["fine".into(), alias.into()],
                ..Default::default()
            }),
            request_id: String::new(),
        };
        assert!(!suspect(
            &org,
            &request("also fine").encode_to_vec(),
            0,
            false
        ));
        assert!(suspect(
            &org,
            &request("not\0fine").encode_to_vec(),
            0,
            false
        ));
    }

    /// What the scan cannot read it leaves to the full decode.
    #[test]
    fn the_wire_scan_leaves_what_it_cannot_read_to_the_decode() {
        let org = descriptor("frontierwatch.v1.CreateOrganizationRequest");
        // A length beyond the body, a group, a truncated varint.
        for bytes in [&[0x0a, 0x05, b'a'][..], &[0x0b][..], &[0x08, 0x80][..]] {
            assert!(suspect(&org, bytes, 0, false), "{bytes:?}");
        }
        assert_eq!(nul_field(&org, &[0, 0, 0, 0, 3, 0x0a, 0x05, b'a']), None);
    }
}
