//! Turning request bodies into OTLP payloads: protobuf and OTLP/JSON decoding, and the
//! per-item checks behind partial success. (Decompression under a size cap is
//! `sentinel_pipeline::http::body`.)

use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::logs::v1::SeverityNumber;
use opentelemetry_proto::tonic::trace::v1::span::SpanKind;
use opentelemetry_proto::tonic::trace::v1::status::StatusCode;
use opentelemetry_proto::tonic::trace::v1::Span;
use sentinel_pipeline::{visit, Payload, Signal};
use serde_json::Value;

/// How the request body is encoded (`Content-Type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// `application/x-protobuf`, and always on gRPC.
    Protobuf,
    /// `application/json`: OTLP/JSON.
    Json,
}

/// Why a body is not a valid export request. Its text is what the client is told.
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    #[error("{0}")]
    Protobuf(#[from] prost::DecodeError),
    #[error("{0}")]
    Json(#[from] serde_json::Error),
}

/// Decodes an export request of `signal`.
pub fn decode(signal: Signal, format: Format, bytes: &[u8]) -> Result<Payload, DecodeError> {
    match format {
        Format::Protobuf => Ok(Payload::decode(signal, bytes)?),
        Format::Json => decode_json(signal, bytes),
    }
}

/// OTLP/JSON. The generated serde code of opentelemetry-proto handles what encoders
/// normally send (hex ids, integer enums, 64-bit integers as strings or numbers). What it
/// rejects but the protobuf JSON mapping allows (nulls, omitted empty lists, enum names,
/// 32-bit integers as strings) is rewritten by [`normalize`] on a second attempt, so the
/// common case pays for one parse only.
pub fn decode_json(signal: Signal, bytes: &[u8]) -> Result<Payload, DecodeError> {
    let first_error = match parse_json(signal, bytes) {
        Ok(payload) => return Ok(payload),
        Err(err) => err,
    };
    let Ok(mut value) = serde_json::from_slice::<Value>(bytes) else {
        return Err(first_error.into());
    };
    normalize(&mut value, "");
    from_json_value(signal, value).map_err(|_| first_error.into())
}

fn parse_json(signal: Signal, bytes: &[u8]) -> serde_json::Result<Payload> {
    Ok(match signal {
        Signal::Traces => {
            Payload::Traces(serde_json::from_slice::<ExportTraceServiceRequest>(bytes)?)
        }
        Signal::Metrics => Payload::Metrics(serde_json::from_slice::<ExportMetricsServiceRequest>(
            bytes,
        )?),
        Signal::Logs => Payload::Logs(serde_json::from_slice::<ExportLogsServiceRequest>(bytes)?),
    })
}

fn from_json_value(signal: Signal, value: Value) -> serde_json::Result<Payload> {
    Ok(match signal {
        Signal::Traces => Payload::Traces(serde_json::from_value(value)?),
        Signal::Metrics => Payload::Metrics(serde_json::from_value(value)?),
        Signal::Logs => Payload::Logs(serde_json::from_value(value)?),
    })
}

/// JSON names of 32-bit integer fields, which the protobuf JSON mapping lets senders
/// quote. (64-bit ones are handled by opentelemetry-proto itself.)
const INT32_FIELDS: &[&str] = &[
    "droppedAttributesCount",
    "droppedEventsCount",
    "droppedLinksCount",
    "flags",
    "scale",
    "offset",
    "aggregationTemporality",
];

/// Fields whose elements are `KeyValue`s, which need a `key` to deserialize.
const KEY_VALUE_LISTS: &[&str] = &["attributes", "filteredAttributes", "metadata"];

/// Rewrites valid protobuf-JSON that opentelemetry-proto's serde code does not take.
/// `field` is the JSON name under which `value` sits. User data (attribute keys and
/// values) never appears as a JSON object key in OTLP, so matching on field names is safe.
fn normalize(value: &mut Value, field: &str) {
    match value {
        Value::Object(map) => {
            // `null` means "default" for every field in the protobuf JSON mapping.
            map.retain(|_, v| !v.is_null());
            for (key, child) in map.iter_mut() {
                normalize_field(field, key, child);
                normalize(child, key);
            }
        }
        Value::Array(items) => {
            for item in items.iter_mut() {
                if KEY_VALUE_LISTS.contains(&field) {
                    ensure_key(item);
                }
                // Elements of `kvlistValue.values` are KeyValues, of `arrayValue.values`
                // AnyValues; only the former carry `value`.
                if field == "values" && item.get("value").is_some() {
                    ensure_key(item);
                }
                normalize(item, field);
            }
        }
        _ => {}
    }
}

fn normalize_field(parent: &str, key: &str, value: &mut Value) {
    match key {
        // An empty array or map may be written without its (empty) `values`.
        "arrayValue" | "kvlistValue" => {
            if let Value::Object(map) = value {
                map.entry("values")
                    .or_insert_with(|| Value::Array(Vec::new()));
            }
        }
        "kind" => enum_to_int(value, |name| {
            SpanKind::from_str_name(name).map(|k| k as i32)
        }),
        "severityNumber" => enum_to_int(value, |name| {
            SeverityNumber::from_str_name(name).map(|s| s as i32)
        }),
        "code" if parent == "status" => enum_to_int(value, |name| {
            StatusCode::from_str_name(name).map(|c| c as i32)
        }),
        "doubleValue" => {
            if let Some(number) = value
                .as_str()
                .and_then(|s| s.parse::<f64>().ok())
                .and_then(serde_json::Number::from_f64)
            {
                *value = Value::Number(number);
            }
        }
        key if INT32_FIELDS.contains(&key) => quoted_int(value),
        _ => {}
    }
}

/// An enum written by name (or as a quoted number) becomes its number.
fn enum_to_int(value: &mut Value, by_name: impl Fn(&str) -> Option<i32>) {
    if let Some(number) = value.as_str().and_then(by_name) {
        *value = Value::from(number);
    } else {
        quoted_int(value);
    }
}

fn quoted_int(value: &mut Value) {
    if let Some(number) = value.as_str().and_then(|s| s.trim().parse::<i64>().ok()) {
        *value = Value::from(number);
    }
}

fn ensure_key(item: &mut Value) {
    if let Value::Object(map) = item {
        map.entry("key")
            .or_insert_with(|| Value::String(String::new()));
    }
}

/// Items removed from a request because no exporter could use them, reported back to
/// the client as partial success.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejected {
    pub items: usize,
    pub message: &'static str,
}

/// What the receiver rejects (partial success), as the OTLP spec defines validity:
/// - spans whose `trace_id` is not 16 bytes or all zero, whose `span_id` is not 8 bytes
///   or all zero, or whose `parent_span_id` is set but not 8 bytes;
/// - log records whose `trace_id` / `span_id` are set but not 16 / 8 bytes long;
/// - nothing for metrics.
///
/// One such item would otherwise make a whole batch fail at a strict backend.
pub fn reject_invalid(payload: &mut Payload) -> Option<Rejected> {
    let (rejected, message) = match payload {
        Payload::Traces(request) => (
            visit::retain_items(request, |_, _, span| valid_span(span)),
            "spans need a 16-byte trace_id and an 8-byte span_id (not all zero) \
             and an empty or 8-byte parent_span_id",
        ),
        Payload::Logs(request) => (
            visit::retain_items(request, |_, _, record| {
                matches!(record.trace_id.len(), 0 | 16) && matches!(record.span_id.len(), 0 | 8)
            }),
            "log records need an empty or 16-byte trace_id and an empty or \
             8-byte span_id",
        ),
        Payload::Metrics(_) => return None,
    };
    (rejected > 0).then_some(Rejected {
        items: rejected,
        message,
    })
}

fn valid_span(span: &Span) -> bool {
    let nonzero = |id: &[u8]| id.iter().any(|&b| b != 0);
    span.trace_id.len() == 16
        && nonzero(&span.trace_id)
        && span.span_id.len() == 8
        && nonzero(&span.span_id)
        && matches!(span.parent_span_id.len(), 0 | 8)
}
