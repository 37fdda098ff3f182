//! Export requests kept in the protobuf bytes they were received in. When nothing on a
//! request's path looks inside it (no processor, no connector, exporters that only
//! re-encode), the receiver checks the bytes decode and hands them on as they are: no
//! decode, no allocation per item, no re-encode at the exporter.

use bytes::Bytes;

use super::{Message, Payload, Signal};
use crate::ack::Acks;

/// An export request of one signal in its protobuf encoding.
#[derive(Debug, Clone)]
pub struct Encoded {
    signal: Signal,
    bytes: Bytes,
    items: usize,
}

impl Encoded {
    /// `bytes` must be an export request of `signal` that prost decodes without error,
    /// holding `items` items as [`Payload::item_count`] counts them; the receiver checks
    /// both before it builds one.
    pub fn new(signal: Signal, bytes: Bytes, items: usize) -> Encoded {
        Encoded {
            signal,
            bytes,
            items,
        }
    }

    pub fn signal(&self) -> Signal {
        self.signal
    }

    /// Spans, data points or log records.
    pub fn items(&self) -> usize {
        self.items
    }

    pub fn bytes(&self) -> &Bytes {
        &self.bytes
    }

    pub fn len(&self) -> usize {
        self.bytes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }

    pub fn decode(&self) -> Result<Payload, prost::DecodeError> {
        Payload::decode(self.signal, &self.bytes)
    }
}

/// A request as a sending queue holds it and hands it to exporters.
#[derive(Debug, Clone)]
pub enum Held {
    Decoded(Payload),
    Encoded(Encoded),
}

impl Held {
    pub fn signal(&self) -> Signal {
        match self {
            Held::Decoded(payload) => payload.signal(),
            Held::Encoded(encoded) => encoded.signal,
        }
    }

    pub fn item_count(&self) -> usize {
        match self {
            Held::Decoded(payload) => payload.item_count(),
            Held::Encoded(encoded) => encoded.items,
        }
    }

    /// Size of the protobuf encoding.
    pub fn encoded_len(&self) -> usize {
        match self {
            Held::Decoded(payload) => payload.encoded_len(),
            Held::Encoded(encoded) => encoded.len(),
        }
    }

    /// Bytes held in memory: the decoded structs with their heap, or the encoding.
    pub fn memory_size(&self) -> usize {
        match self {
            Held::Decoded(payload) => crate::admission::decoded_size(payload),
            Held::Encoded(encoded) => encoded.len(),
        }
    }

    /// The decoded request, copied or decoded.
    pub fn to_payload(&self) -> Payload {
        match self {
            Held::Decoded(payload) => payload.clone(),
            Held::Encoded(encoded) => decode_checked(encoded),
        }
    }
}

/// Decodes bytes the receiver checked. A failure would be a bug in that check; it is
/// logged, and the request becomes empty rather than failing its whole batch forever.
fn decode_checked(encoded: &Encoded) -> Payload {
    encoded.decode().unwrap_or_else(|err| {
        tracing::error!(
            signal = %encoded.signal,
            items = encoded.items,
            %err,
            "A request checked at the receiver does not decode; its items are lost."
        );
        Payload::empty(encoded.signal)
    })
}

/// An encoded request on its way to the exporter queues, with its acknowledgements.
#[derive(Debug, Clone)]
pub struct EncodedMessage {
    pub request: Encoded,
    pub acks: Acks,
}

impl EncodedMessage {
    /// The decoded message, for a consumer that needs it.
    pub fn decode(self) -> Result<Message, (prost::DecodeError, Acks)> {
        match self.request.decode() {
            Ok(payload) => Ok(Message::new(payload, self.acks)),
            Err(err) => Err((err, self.acks)),
        }
    }
}
