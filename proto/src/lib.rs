//! The `frontierwatch.v1` contract as Rust types.
//!
//! Messages are always available. The gRPC client (`client` feature, on by
//! default) and server traits (`server` feature) are generated into the same
//! module, so a client crate never compiles server code.

/// Messages and service stubs of package `frontierwatch.v1`.
pub mod v1 {
    #![allow(
        missing_docs,
        clippy::large_enum_variant,
        clippy::doc_lazy_continuation
    )]
    include!(concat!(env!("OUT_DIR"), "/frontierwatch.v1.rs"));
}

pub mod codec;
pub mod kinds;
pub mod wire;

/// The encoded `FileDescriptorSet` of every `frontierwatch.v1` file, for
/// server reflection and for dynamic inspection of messages.
pub const FILE_DESCRIPTOR_SET: &[u8] =
    include_bytes!(concat!(env!("OUT_DIR"), "/frontierwatch_descriptor.bin"));
