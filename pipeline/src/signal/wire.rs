//! Reading protobuf fields straight from bytes, for the few places that look into a
//! request kept encoded (see [`super::Encoded`]) without decoding all of it.

/// One field's value as the wire has it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Value<'a> {
    Varint(u64),
    Fixed64(u64),
    Fixed32(u32),
    /// Strings, bytes, embedded messages and packed lists.
    Delimited(&'a [u8]),
}

/// The fields of one message as `(field number, value)`, in wire order. Stops at the
/// first malformed field (requests kept encoded were checked to decode, so there is none).
pub fn fields(message: &[u8]) -> Fields<'_> {
    Fields { rest: message }
}

pub struct Fields<'a> {
    rest: &'a [u8],
}

impl<'a> Iterator for Fields<'a> {
    type Item = (u64, Value<'a>);

    fn next(&mut self) -> Option<Self::Item> {
        if self.rest.is_empty() {
            return None;
        }
        let parsed = self.field();
        if parsed.is_none() {
            self.rest = &[];
        }
        parsed
    }
}

impl<'a> Fields<'a> {
    fn field(&mut self) -> Option<(u64, Value<'a>)> {
        let key = self.varint()?;
        let value = match key & 7 {
            0 => Value::Varint(self.varint()?),
            1 => Value::Fixed64(u64::from_le_bytes(self.take(8)?.try_into().ok()?)),
            5 => Value::Fixed32(u32::from_le_bytes(self.take(4)?.try_into().ok()?)),
            2 => {
                let len = usize::try_from(self.varint()?).ok()?;
                Value::Delimited(self.take(len)?)
            }
            _ => return None,
        };
        Some((key >> 3, value))
    }

    fn take(&mut self, len: usize) -> Option<&'a [u8]> {
        if self.rest.len() < len {
            return None;
        }
        let (head, rest) = self.rest.split_at(len);
        self.rest = rest;
        Some(head)
    }

    fn varint(&mut self) -> Option<u64> {
        let mut value = 0u64;
        for (i, byte) in self.rest.iter().enumerate().take(10) {
            value |= u64::from(byte & 0x7f) << (7 * i);
            if byte & 0x80 == 0 {
                self.rest = &self.rest[i + 1..];
                return Some(value);
            }
        }
        None
    }
}

/// The embedded messages (or strings) of field `number`.
pub fn delimited(message: &[u8], number: u64) -> impl Iterator<Item = &[u8]> + '_ {
    fields(message).filter_map(move |(n, value)| match value {
        Value::Delimited(body) if n == number => Some(body),
        _ => None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, KeyValue};
    use prost::Message as _;

    #[test]
    fn reads_every_wire_type_and_stops_at_garbage() {
        let kv = KeyValue {
            key: "k".into(),
            value: Some(AnyValue {
                value: Some(any_value::Value::IntValue(300)),
            }),
            ..Default::default()
        };
        let mut bytes = kv.encode_to_vec();
        let read: Vec<_> = fields(&bytes).collect();
        assert_eq!(read[0], (1, Value::Delimited(b"k")));
        let (2, Value::Delimited(any)) = read[1] else {
            panic!("{read:?}")
        };
        assert_eq!(fields(any).collect::<Vec<_>>(), [(3, Value::Varint(300))]);
        bytes.extend([0x09, 1, 2, 3, 4, 5, 6, 7, 8, 0x15, 1, 0, 0, 0]);
        let tail: Vec<_> = fields(&bytes).skip(2).collect();
        assert_eq!(
            tail,
            [
                (1, Value::Fixed64(0x0807_0605_0403_0201)),
                (2, Value::Fixed32(1))
            ]
        );
        bytes.extend([0x0a, 50, b'x']);
        assert_eq!(
            fields(&bytes).count(),
            4,
            "a field past the end is not read"
        );
    }
}
