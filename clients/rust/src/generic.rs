//! Request bodies of the standard methods, encoded for any kind.
//!
//! Every kind's Get request is `{name = 1}`; every Create request is
//! `{<kind>_id = 1, <kind> = 2, request_id = 3}`, or for a kind with a
//! parent `{parent = 1, <kind>_id = 2, <kind> = 3, request_id = 4}`. The
//! contract crate's tests check these shapes against the descriptor set for
//! every registered kind, so the generic calls cannot drift from it.

use prost::bytes::{Buf, BufMut};
use prost::encoding::{self, DecodeContext, WireType};

/// A request body encoded ahead of the call.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Encoded(Vec<u8>);

impl prost::Message for Encoded {
    fn encode_raw(&self, buf: &mut impl BufMut) {
        buf.put_slice(&self.0);
    }

    fn merge_field(
        &mut self,
        tag: u32,
        wire_type: WireType,
        buf: &mut impl Buf,
        ctx: DecodeContext,
    ) -> Result<(), prost::DecodeError> {
        // Only ever sent, never received.
        encoding::skip_field(wire_type, tag, buf, ctx)
    }

    fn encoded_len(&self) -> usize {
        self.0.len()
    }

    fn clear(&mut self) {
        self.0.clear();
    }
}

/// `Get{Kind}Request { name }`.
pub fn get_request(name: &str) -> Encoded {
    let mut buf = Vec::new();
    encoding::string::encode(1, &name.to_owned(), &mut buf);
    Encoded(buf)
}

/// `Create{Kind}Request`, with or without a parent.
pub fn create_request<T: prost::Message>(
    parent: Option<&str>,
    id: &str,
    resource: &T,
    request_id: &str,
) -> Encoded {
    let mut buf = Vec::new();
    let mut tag = 1;
    if let Some(parent) = parent {
        encoding::string::encode(tag, &parent.to_owned(), &mut buf);
        tag += 1;
    }
    encoding::string::encode(tag, &id.to_owned(), &mut buf);
    encoding::message::encode(tag + 1, resource, &mut buf);
    encoding::string::encode(tag + 2, &request_id.to_owned(), &mut buf);
    Encoded(buf)
}
