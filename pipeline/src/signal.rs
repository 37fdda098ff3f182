//! The data that flows through pipelines: OTLP export requests, unchanged.

use std::fmt;
use std::sync::Arc;

use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::metrics::v1::metric::Data;
use prost::Message as _;
use serde::{Deserialize, Serialize};

use crate::ack::Acks;
use crate::visit;

mod encode;
mod encoded;
pub mod wire;

pub use encoded::{Encoded, EncodedMessage, Held};

/// One of the three OTLP signals a pipeline carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Signal {
    Traces,
    Metrics,
    Logs,
}

impl Signal {
    pub const ALL: [Signal; 3] = [Signal::Traces, Signal::Metrics, Signal::Logs];

    pub fn as_str(self) -> &'static str {
        match self {
            Signal::Traces => "traces",
            Signal::Metrics => "metrics",
            Signal::Logs => "logs",
        }
    }

    pub fn parse(text: &str) -> Option<Signal> {
        Signal::ALL.into_iter().find(|s| s.as_str() == text)
    }
}

impl fmt::Display for Signal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An OTLP export request of any signal. This is the in-pipeline model: no conversion.
#[derive(Debug, Clone, PartialEq)]
pub enum Payload {
    Traces(ExportTraceServiceRequest),
    Metrics(ExportMetricsServiceRequest),
    Logs(ExportLogsServiceRequest),
}

impl Payload {
    pub fn signal(&self) -> Signal {
        match self {
            Payload::Traces(_) => Signal::Traces,
            Payload::Metrics(_) => Signal::Metrics,
            Payload::Logs(_) => Signal::Logs,
        }
    }

    /// Items as the self-metrics count them: spans, metric data points or log records.
    pub fn item_count(&self) -> usize {
        match self {
            Payload::Traces(req) => visit::item_count(req),
            Payload::Metrics(req) => visit::data_point_count(req),
            Payload::Logs(req) => visit::item_count(req),
        }
    }

    /// Size of the protobuf encoding, used for byte budgets.
    pub fn encoded_len(&self) -> usize {
        match self {
            Payload::Traces(req) => req.encoded_len(),
            Payload::Metrics(req) => req.encoded_len(),
            Payload::Logs(req) => req.encoded_len(),
        }
    }

    pub fn encode_to_vec(&self) -> Vec<u8> {
        match self {
            Payload::Traces(req) => req.encode_to_vec(),
            Payload::Metrics(req) => req.encode_to_vec(),
            Payload::Logs(req) => req.encode_to_vec(),
        }
    }

    /// Decodes a protobuf export request of the given signal.
    pub fn decode(signal: Signal, bytes: &[u8]) -> Result<Payload, prost::DecodeError> {
        Ok(match signal {
            Signal::Traces => Payload::Traces(ExportTraceServiceRequest::decode(bytes)?),
            Signal::Metrics => Payload::Metrics(ExportMetricsServiceRequest::decode(bytes)?),
            Signal::Logs => Payload::Logs(ExportLogsServiceRequest::decode(bytes)?),
        })
    }

    pub fn is_empty(&self) -> bool {
        match self {
            Payload::Traces(req) => req.resource_spans.is_empty(),
            Payload::Metrics(req) => req.resource_metrics.is_empty(),
            Payload::Logs(req) => req.resource_logs.is_empty(),
        }
    }

    /// An empty request of the given signal.
    pub fn empty(signal: Signal) -> Payload {
        match signal {
            Signal::Traces => Payload::Traces(Default::default()),
            Signal::Metrics => Payload::Metrics(Default::default()),
            Signal::Logs => Payload::Logs(Default::default()),
        }
    }

    /// Appends the resources of `other` (same signal) to `self`.
    /// Returns `other` back if the signals differ.
    pub fn append(&mut self, other: Payload) -> Result<(), Payload> {
        match (self, other) {
            (Payload::Traces(a), Payload::Traces(b)) => a.resource_spans.extend(b.resource_spans),
            (Payload::Metrics(a), Payload::Metrics(b)) => {
                a.resource_metrics.extend(b.resource_metrics)
            }
            (Payload::Logs(a), Payload::Logs(b)) => a.resource_logs.extend(b.resource_logs),
            (_, other) => return Err(other),
        }
        Ok(())
    }
}

/// Number of data points in one metric, whatever its type.
pub fn data_point_count(data: Option<&Data>) -> usize {
    match data {
        Some(Data::Gauge(g)) => g.data_points.len(),
        Some(Data::Sum(s)) => s.data_points.len(),
        Some(Data::Histogram(h)) => h.data_points.len(),
        Some(Data::ExponentialHistogram(h)) => h.data_points.len(),
        Some(Data::Summary(s)) => s.data_points.len(),
        None => 0,
    }
}

/// A payload on its way through the pipeline, with the acknowledgements of the client
/// requests it carries. The client is answered once every exporter queue on its path
/// has accepted (or one of them refused) the data.
#[derive(Debug, Clone)]
pub struct Message {
    pub payload: Payload,
    pub acks: Acks,
}

impl Message {
    pub fn new(payload: Payload, acks: Acks) -> Self {
        Message { payload, acks }
    }

    /// A message nobody waits for (internally generated data, tests).
    pub fn unacked(payload: Payload) -> Self {
        Message {
            payload,
            acks: Acks::none(),
        }
    }
}

/// One queue record as the sending queue hands it to an exporter: shared, not copied.
/// The queue keeps its own reference until the record is settled, so an attempt that
/// fails leaves the data in place for the next one.
#[derive(Debug, Clone)]
pub struct SharedRecord {
    /// The record's sequence number in its queue.
    pub seq: u64,
    pub data: Arc<Held>,
}

/// Consecutive records of one queue and one signal, shared with the queue: what
/// [`crate::Exporter::export_shared`] receives. Exporters that only encode and send the
/// data take this and copy nothing (records may still be in their received encoding, see
/// [`Held`]); the rest get an owned, decoded copy through [`SharedBatch::to_record_batch`].
#[derive(Debug, Clone)]
pub struct SharedBatch {
    /// See [`crate::RecordBatch::queue_id`].
    pub queue_id: u128,
    pub records: Vec<SharedRecord>,
}

impl SharedBatch {
    /// The batch's signal (a batch holds one); `None` when empty.
    pub fn signal(&self) -> Option<Signal> {
        self.records.first().map(|r| r.data.signal())
    }

    /// The records' data in order.
    pub fn data(&self) -> impl Iterator<Item = &Held> + '_ {
        self.records.iter().map(|r| r.data.as_ref())
    }

    /// An owned deep copy, for exporters that take their data by value.
    pub fn to_record_batch(&self) -> crate::RecordBatch {
        crate::RecordBatch {
            queue_id: self.queue_id,
            records: self
                .records
                .iter()
                .map(|r| crate::QueueRecord {
                    seq: r.seq,
                    payload: r.data.to_payload(),
                })
                .collect(),
        }
    }

    /// Size of the merged request's protobuf encoding.
    pub fn encoded_len(&self) -> usize {
        self.data().map(Held::encoded_len).sum()
    }

    /// Appends the merged request's protobuf encoding to `buf` without merging anything:
    /// an OTLP export request has one repeated field, so the concatenation of encoded
    /// requests is the encoding of their merge (protobuf appends repeated fields).
    pub fn encode_merged(&self, buf: &mut impl bytes::BufMut) {
        encode::encode_requests(self.data(), buf);
    }
}

impl Payload {
    /// Writes the request's protobuf fields (no length prefix) to `buf`.
    pub fn encode_raw(&self, buf: &mut impl bytes::BufMut) {
        match self {
            Payload::Traces(req) => req.encode_raw(buf),
            Payload::Metrics(req) => req.encode_raw(buf),
            Payload::Logs(req) => req.encode_raw(buf),
        }
    }
}
