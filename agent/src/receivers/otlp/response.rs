//! What the receiver answers: `Export*ServiceResponse` (with partial success) and the
//! `google.rpc.Status` of failures, in protobuf or JSON.

use std::time::Duration;

use bytes::Bytes;
use opentelemetry_proto::tonic::collector::logs::v1::{
    ExportLogsPartialSuccess, ExportLogsServiceResponse,
};
use opentelemetry_proto::tonic::collector::metrics::v1::{
    ExportMetricsPartialSuccess, ExportMetricsServiceResponse,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTracePartialSuccess, ExportTraceServiceResponse,
};
use prost::Message as _;
use sentinel_pipeline::Signal;
use serde_json::{Map, Value};

use super::decode::Rejected;

/// The success response of one signal's `Export` call.
#[derive(Debug, Clone, PartialEq)]
pub enum ExportResponse {
    Traces(ExportTraceServiceResponse),
    Metrics(ExportMetricsServiceResponse),
    Logs(ExportLogsServiceResponse),
}

impl ExportResponse {
    /// Full success, or partial success when items were rejected.
    pub fn new(signal: Signal, rejected: Option<&Rejected>) -> ExportResponse {
        let count = |r: &Rejected| i64::try_from(r.items).unwrap_or(i64::MAX);
        let message = |r: &Rejected| r.message.to_string();
        match signal {
            Signal::Traces => ExportResponse::Traces(ExportTraceServiceResponse {
                partial_success: rejected.map(|r| ExportTracePartialSuccess {
                    rejected_spans: count(r),
                    error_message: message(r),
                }),
            }),
            Signal::Metrics => ExportResponse::Metrics(ExportMetricsServiceResponse {
                partial_success: rejected.map(|r| ExportMetricsPartialSuccess {
                    rejected_data_points: count(r),
                    error_message: message(r),
                }),
            }),
            Signal::Logs => ExportResponse::Logs(ExportLogsServiceResponse {
                partial_success: rejected.map(|r| ExportLogsPartialSuccess {
                    rejected_log_records: count(r),
                    error_message: message(r),
                }),
            }),
        }
    }

    pub fn encode(&self, buf: &mut impl bytes::BufMut) -> Result<(), prost::EncodeError> {
        match self {
            ExportResponse::Traces(r) => r.encode(buf),
            ExportResponse::Metrics(r) => r.encode(buf),
            ExportResponse::Logs(r) => r.encode(buf),
        }
    }
}

/// The protobuf body of an OTLP/HTTP success. Empty for full success (all fields default).
pub fn protobuf_success(signal: Signal, rejected: Option<&Rejected>) -> Bytes {
    if rejected.is_none() {
        return Bytes::new();
    }
    let response = ExportResponse::new(signal, rejected);
    let mut buf = Vec::new();
    // Encoding into a Vec only fails for lack of capacity, which a Vec does not have.
    let _ = response.encode(&mut buf);
    buf.into()
}

/// The JSON body of an OTLP/HTTP success, built by hand because the generated serializer
/// writes `"partialSuccess": null` and 64-bit counts as numbers, where the protobuf JSON
/// mapping wants strings.
pub fn json_success(signal: Signal, rejected: Option<&Rejected>) -> Bytes {
    let Some(rejected) = rejected else {
        return Bytes::from_static(b"{}");
    };
    let count_field = match signal {
        Signal::Traces => "rejectedSpans",
        Signal::Metrics => "rejectedDataPoints",
        Signal::Logs => "rejectedLogRecords",
    };
    let mut partial = Map::new();
    partial.insert(
        count_field.into(),
        Value::String(rejected.items.to_string()),
    );
    partial.insert(
        "errorMessage".into(),
        Value::String(rejected.message.into()),
    );
    let mut body = Map::new();
    body.insert("partialSuccess".into(), Value::Object(partial));
    serde_json::to_vec(&Value::Object(body))
        .unwrap_or_default()
        .into()
}

/// gRPC status codes used here (google.rpc.Code).
pub mod code {
    pub const INVALID_ARGUMENT: i32 = 3;
    pub const RESOURCE_EXHAUSTED: i32 = 8;
    pub const OUT_OF_RANGE: i32 = 11;
    pub const UNAVAILABLE: i32 = 14;
}

/// `google.rpc.Status`, the body of OTLP/HTTP failures and the detail of gRPC ones.
#[derive(Clone, PartialEq, prost::Message)]
pub struct RpcStatus {
    #[prost(int32, tag = "1")]
    pub code: i32,
    #[prost(string, tag = "2")]
    pub message: String,
    #[prost(message, repeated, tag = "3")]
    pub details: Vec<ProtoAny>,
}

/// `google.protobuf.Any`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct ProtoAny {
    #[prost(string, tag = "1")]
    pub type_url: String,
    #[prost(bytes = "vec", tag = "2")]
    pub value: Vec<u8>,
}

/// `google.rpc.RetryInfo`: OTLP clients retry RESOURCE_EXHAUSTED only when it is present.
#[derive(Clone, PartialEq, prost::Message)]
pub struct RetryInfo {
    #[prost(message, optional, tag = "1")]
    pub retry_delay: Option<ProtoDuration>,
}

/// `google.protobuf.Duration`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct ProtoDuration {
    #[prost(int64, tag = "1")]
    pub seconds: i64,
    #[prost(int32, tag = "2")]
    pub nanos: i32,
}

pub const RETRY_INFO_TYPE_URL: &str = "type.googleapis.com/google.rpc.RetryInfo";

impl RpcStatus {
    pub fn new(code: i32, message: impl Into<String>) -> RpcStatus {
        RpcStatus {
            code,
            message: message.into(),
            details: Vec::new(),
        }
    }

    /// Adds a `RetryInfo` detail telling the client when to retry.
    pub fn with_retry_after(mut self, delay: Duration) -> RpcStatus {
        let info = RetryInfo {
            retry_delay: Some(ProtoDuration {
                seconds: i64::try_from(delay.as_secs()).unwrap_or(i64::MAX),
                nanos: i32::try_from(delay.subsec_nanos()).unwrap_or(0),
            }),
        };
        self.details.push(ProtoAny {
            type_url: RETRY_INFO_TYPE_URL.to_string(),
            value: info.encode_to_vec(),
        });
        self
    }

    /// The JSON mapping of the status, without details (HTTP carries `Retry-After`).
    pub fn to_json(&self) -> Vec<u8> {
        let mut body = Map::new();
        body.insert("code".into(), Value::from(self.code));
        body.insert("message".into(), Value::String(self.message.clone()));
        serde_json::to_vec(&Value::Object(body)).unwrap_or_default()
    }
}
