//! The request body of an export straight from the queue's shared records: encoded into
//! tonic's buffer record after record, with nothing merged or copied first.

use prost::bytes::{Buf, BufMut};
use prost::encoding::{DecodeContext, WireType};
use sentinel_pipeline::SharedBatch;

/// An OTLP export request made of queue records. Encoding the records one after the other
/// gives the encoding of their merge (see [`SharedBatch::encode_merged`]), so the sink
/// receives exactly the request that merging them would have built.
#[derive(Debug)]
pub(crate) struct SharedRequest(pub SharedBatch);

impl prost::Message for SharedRequest {
    fn encode_raw(&self, buf: &mut impl BufMut) {
        self.0.encode_merged(buf);
    }

    fn merge_field(
        &mut self,
        tag: u32,
        wire_type: WireType,
        buf: &mut impl Buf,
        ctx: DecodeContext,
    ) -> Result<(), prost::DecodeError> {
        // Only ever encoded; a decode has nothing to merge into.
        prost::encoding::skip_field(wire_type, tag, buf, ctx)
    }

    fn encoded_len(&self) -> usize {
        self.0.encoded_len()
    }

    fn clear(&mut self) {
        self.0.records.clear();
    }
}

/// gRPC codec of an export: the request is written straight from the shared records
/// ([`SharedBatch::encode_merged`], every item sized once), without the whole-request
/// size walk that prost's `encode` makes first to check the buffer's room (tonic's
/// buffer grows); the response is decoded by prost.
pub(crate) struct SharedCodec<R>(tonic_prost::ProstCodec<SharedRequest, R>);

impl<R> Default for SharedCodec<R> {
    fn default() -> Self {
        SharedCodec(tonic_prost::ProstCodec::default())
    }
}

pub(crate) struct SharedEncoder;

impl tonic::codec::Encoder for SharedEncoder {
    type Item = SharedRequest;
    type Error = tonic::Status;

    fn encode(
        &mut self,
        item: SharedRequest,
        dst: &mut tonic::codec::EncodeBuf<'_>,
    ) -> Result<(), tonic::Status> {
        item.0.encode_merged(dst);
        Ok(())
    }
}

impl<R> tonic::codec::Codec for SharedCodec<R>
where
    R: prost::Message + Default + Send + 'static,
{
    type Encode = SharedRequest;
    type Decode = R;
    type Encoder = SharedEncoder;
    type Decoder = <tonic_prost::ProstCodec<SharedRequest, R> as tonic::codec::Codec>::Decoder;

    fn encoder(&mut self) -> SharedEncoder {
        SharedEncoder
    }

    fn decoder(&mut self) -> Self::Decoder {
        self.0.decoder()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use prost::Message as _;
    use sentinel_pipeline::{
        Encoded, Held, Payload, QueueRecord, RecordBatch, SharedRecord, Signal,
    };

    use super::*;

    #[test]
    fn the_shared_encoding_is_the_encoding_of_the_merged_request() {
        let payloads: Vec<Payload> = ["a", "b", "c"]
            .iter()
            .map(|name| crate::sending::test_support::logs(name, 3))
            .collect();
        let shared = SharedBatch {
            queue_id: 1,
            records: payloads
                .iter()
                .enumerate()
                .map(|(seq, p)| SharedRecord {
                    seq: seq as u64,
                    // The middle record as a receiver forwards it, still encoded.
                    data: Arc::new(match seq {
                        1 => Held::Encoded(Encoded::new(
                            Signal::Logs,
                            p.encode_to_vec().into(),
                            p.item_count(),
                        )),
                        _ => Held::Decoded(p.clone()),
                    }),
                })
                .collect(),
        };
        let merged = RecordBatch {
            queue_id: 1,
            records: payloads
                .into_iter()
                .map(|payload| QueueRecord { seq: 0, payload })
                .collect(),
        }
        .into_payload();
        let request = SharedRequest(shared);
        assert_eq!(request.encoded_len(), merged.encoded_len());
        let bytes = request.encode_to_vec();
        assert_eq!(bytes, merged.encode_to_vec());
        assert_eq!(Payload::decode(Signal::Logs, &bytes).unwrap(), merged);
    }
}
