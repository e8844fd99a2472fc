//! Calls to any method of the service with messages built from JSON or
//! YAML, through the descriptors compiled into the proto crate. This keeps
//! the CLI generic: one code path for every resource.

use std::sync::OnceLock;

use anyhow::{Context as _, anyhow};
use prost::Message as _;
use prost_reflect::{
    DescriptorPool, DynamicMessage, MessageDescriptor, MethodDescriptor, SerializeOptions,
};
use tonic::codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder};
use tonic::transport::Channel as Transport;

/// A connection that sends the bearer token.
pub type Channel =
    tonic::service::interceptor::InterceptedService<Transport, frontierwatch_client::Auth>;
use tonic::{Status, codegen::http::uri::PathAndQuery};

/// The descriptor pool of `frontierwatch.v1`.
pub fn pool() -> &'static DescriptorPool {
    static POOL: OnceLock<DescriptorPool> = OnceLock::new();
    POOL.get_or_init(|| {
        DescriptorPool::decode(frontierwatch_proto::FILE_DESCRIPTOR_SET)
            .expect("the descriptor set compiled into the binary decodes")
    })
}

/// A method of `frontierwatch.v1.FrontierWatchService`.
pub fn method(name: &str) -> anyhow::Result<MethodDescriptor> {
    pool()
        .get_service_by_name("frontierwatch.v1.FrontierWatchService")
        .and_then(|s| s.methods().find(|m| m.name() == name))
        .ok_or_else(|| anyhow!("no method {name}"))
}

/// A message type by full name.
pub fn message(full_name: &str) -> anyhow::Result<MessageDescriptor> {
    pool()
        .get_message_by_name(full_name)
        .ok_or_else(|| anyhow!("no message {full_name}"))
}

/// Builds a message from JSON (proto3 JSON mapping, field names in either
/// form, enums by name).
pub fn from_json(
    desc: MessageDescriptor,
    value: serde_json::Value,
) -> anyhow::Result<DynamicMessage> {
    DynamicMessage::deserialize(desc.clone(), value)
        .with_context(|| format!("not a valid {}", desc.full_name()))
}

/// The proto3 JSON form of a message.
pub fn to_json(message: &DynamicMessage) -> serde_json::Value {
    let options = SerializeOptions::new().stringify_64_bit_integers(false);
    message
        .serialize_with_options(serde_json::value::Serializer, &options)
        .unwrap_or(serde_json::Value::Null)
}

/// Converts a generated message to its dynamic form.
pub fn dynamic<T: prost::Message + prost::Name>(value: &T) -> anyhow::Result<DynamicMessage> {
    let desc = message(&T::full_name())?;
    Ok(DynamicMessage::decode(
        desc,
        value.encode_to_vec().as_slice(),
    )?)
}

/// Encodes and decodes dynamic messages.
#[derive(Clone)]
struct DynamicCodec {
    response: MessageDescriptor,
}

impl Codec for DynamicCodec {
    type Encode = DynamicMessage;
    type Decode = DynamicMessage;
    type Encoder = DynamicCodec;
    type Decoder = DynamicCodec;

    fn encoder(&mut self) -> Self::Encoder {
        self.clone()
    }

    fn decoder(&mut self) -> Self::Decoder {
        self.clone()
    }
}

impl Encoder for DynamicCodec {
    type Item = DynamicMessage;
    type Error = Status;

    fn encode(&mut self, item: Self::Item, dst: &mut EncodeBuf<'_>) -> Result<(), Self::Error> {
        item.encode(dst)
            .map_err(|e| Status::internal(e.to_string()))
    }
}

impl Decoder for DynamicCodec {
    type Item = DynamicMessage;
    type Error = Status;

    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<Self::Item>, Self::Error> {
        DynamicMessage::decode(self.response.clone(), src)
            .map(Some)
            .map_err(|e| Status::internal(e.to_string()))
    }
}

/// Calls a unary method with a dynamic request.
pub async fn unary(
    channel: Channel,
    method: &MethodDescriptor,
    request: DynamicMessage,
) -> Result<DynamicMessage, Status> {
    let mut grpc = tonic::client::Grpc::new(channel).max_decoding_message_size(64 * 1024 * 1024);
    grpc.ready()
        .await
        .map_err(|e| Status::unavailable(format!("cannot reach the server: {e}")))?;
    let path = PathAndQuery::from_maybe_shared(format!(
        "/{}/{}",
        method.parent_service().full_name(),
        method.name()
    ))
    .map_err(|e| Status::internal(e.to_string()))?;
    let codec = DynamicCodec {
        response: method.output(),
    };
    grpc.unary(tonic::Request::new(request), path, codec)
        .await
        .map(tonic::Response::into_inner)
}
