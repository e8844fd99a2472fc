//! Reading an encoded protobuf message field by field in its wire format,
//! without decoding it: what the server's request guard and the rules every
//! message obeys scan before they decode (`api::guard`, `domain::reflect`),
//! and what `fwatch import` reads of the names a batch mentions.

use prost::encoding::decode_varint;

/// How deep a scan follows nested messages before it leaves the answer to
/// a full decode (prost's own limit is 100).
pub const MAX_DEPTH: usize = 100;

/// One field's value as the wire format holds it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Value<'a> {
    /// Wire type 0: ints, bools, enums.
    Varint(u64),
    /// Wire types 1 and 5: fixed 8 or 4 bytes.
    Fixed(&'a [u8]),
    /// Wire type 2: strings, bytes, messages, packed repeated scalars.
    Delimited(&'a [u8]),
}

/// A field that does not read: truncated, too long, a group, or not
/// protobuf at all.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Unreadable;

/// The fields of an encoded message, in order: (field number, value). After
/// the first that does not read, it yields `Err(Unreadable)` and ends.
pub fn fields(bytes: &[u8]) -> Fields<'_> {
    Fields {
        bytes,
        failed: false,
    }
}

/// See [`fields`].
pub struct Fields<'a> {
    bytes: &'a [u8],
    failed: bool,
}

impl<'a> Fields<'a> {
    fn read(&mut self) -> Option<(u32, Value<'a>)> {
        let key = decode_varint(&mut self.bytes).ok()?;
        let number = u32::try_from(key >> 3).ok()?;
        let value = match key & 7 {
            0 => Value::Varint(decode_varint(&mut self.bytes).ok()?),
            1 => Value::Fixed(self.take(8)?),
            5 => Value::Fixed(self.take(4)?),
            2 => {
                let len = usize::try_from(decode_varint(&mut self.bytes).ok()?).ok()?;
                Value::Delimited(self.take(len)?)
            }
            _ => return None,
        };
        Some((number, value))
    }

    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let (value, rest) = self.bytes.split_at_checked(n)?;
        self.bytes = rest;
        Some(value)
    }
}

impl<'a> Iterator for Fields<'a> {
    type Item = Result<(u32, Value<'a>), Unreadable>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed || self.bytes.is_empty() {
            return None;
        }
        let field = self.read();
        self.failed = field.is_none();
        Some(field.ok_or(Unreadable))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_read_every_wire_type_and_stop_at_what_does_not_read() {
        // 1: varint 150; 2: "hi"; 3: fixed64; 4: fixed32.
        let mut bytes = vec![0x08, 0x96, 0x01, 0x12, 0x02, b'h', b'i', 0x19];
        bytes.extend([1, 2, 3, 4, 5, 6, 7, 8]);
        bytes.extend([0x25, 9, 9, 9, 9]);
        let read: Vec<_> = fields(&bytes).collect();
        assert_eq!(
            read,
            vec![
                Ok((1, Value::Varint(150))),
                Ok((2, Value::Delimited(b"hi"))),
                Ok((3, Value::Fixed(&[1, 2, 3, 4, 5, 6, 7, 8]))),
                Ok((4, Value::Fixed(&[9, 9, 9, 9]))),
            ]
        );
        // A length beyond the message, a group, a truncated varint, a
        // truncated fixed32: one error, then the end.
        for bad in [&[0x0a, 0x05, b'a'][..], &[0x0b], &[0x08, 0x80], &[0x25, 1]] {
            let read: Vec<_> = fields(bad).collect();
            assert_eq!(read, vec![Err(Unreadable)], "{bad:?}");
        }
    }
}
