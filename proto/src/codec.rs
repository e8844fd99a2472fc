//! The codec of every `frontierwatch.v1` method: prost's, with a small
//! first encode buffer.
//!
//! tonic gives each response body an encode buffer of the codec's
//! `buffer_size` when the response starts, and keeps what is left of it
//! for as long as the response lives (each message sent is split off its
//! front). With prost's default of 8 KiB, every open Watch stream held
//! 8 KiB however idle; a replica holds thousands of them, and their
//! messages between changes are bookmarks of a few dozen bytes. The buffer
//! grows as a message needs, so a large response costs a reallocation or
//! two, not a limit.

use std::marker::PhantomData;

use tonic::codec::{BufferSettings, Codec as TonicCodec};
use tonic_prost::ProstCodec;

/// The first encode buffer of a response, in bytes.
pub const ENCODE_BUFFER_BYTES: usize = 1024;
/// Encoded bytes gathered before they are handed to the transport (tonic's
/// default).
const YIELD_THRESHOLD_BYTES: usize = 32 * 1024;
/// The decode buffer (tonic's default): requests are read once and dropped.
const DECODE_BUFFER_BYTES: usize = 8 * 1024;

/// `tonic_prost::ProstCodec` with [`ENCODE_BUFFER_BYTES`].
#[derive(Debug, Clone)]
pub struct Codec<T, U>(PhantomData<(T, U)>);

impl<T, U> Default for Codec<T, U> {
    fn default() -> Self {
        Self(PhantomData)
    }
}

impl<T, U> TonicCodec for Codec<T, U>
where
    T: prost::Message + Send + 'static,
    U: prost::Message + Default + Send + 'static,
{
    type Encode = T;
    type Decode = U;
    type Encoder = <ProstCodec<T, U> as TonicCodec>::Encoder;
    type Decoder = <ProstCodec<T, U> as TonicCodec>::Decoder;

    fn encoder(&mut self) -> Self::Encoder {
        ProstCodec::<T, U>::raw_encoder(BufferSettings::new(
            ENCODE_BUFFER_BYTES,
            YIELD_THRESHOLD_BYTES,
        ))
    }

    fn decoder(&mut self) -> Self::Decoder {
        ProstCodec::<T, U>::raw_decoder(BufferSettings::new(
            DECODE_BUFFER_BYTES,
            YIELD_THRESHOLD_BYTES,
        ))
    }
}

#[cfg(test)]
mod tests {
    /// The generated client and server both name this codec, and no other.
    #[test]
    fn every_generated_method_uses_this_codec() {
        let generated = include_str!(concat!(env!("OUT_DIR"), "/frontierwatch.v1.rs"));
        assert!(generated.contains("crate::codec::Codec::default()"));
        assert!(!generated.contains("ProstCodec"));
    }
}
