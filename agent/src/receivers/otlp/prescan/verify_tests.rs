//! `Shape::forwardable`: true for what SDKs send, false for whatever prost or
//! `reject_invalid` would refuse, and never true for bytes they refuse.

use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, ArrayValue, KeyValueList};
use opentelemetry_proto::tonic::logs::v1::LogRecord;
use opentelemetry_proto::tonic::metrics::v1::metric::Data;
use opentelemetry_proto::tonic::trace::v1::Span;
use prost::Message;
use sentinel_pipeline::{Payload, Signal};

use super::super::decode::reject_invalid;
use super::{prescan, prescan_json, Limits};
use requests::{
    field, kv, log_record, logs, nest, rich_logs, rich_metrics, rich_traces, span, traces, SPAN_ID,
    TRACE_ID,
};

mod mutants;
mod requests;
mod table;

const LIMITS: Limits = Limits {
    max_items: 10_000,
    max_attributes: 1_000,
    max_depth: 32,
};

/// What happens to bytes that are not forwarded: decoded, then invalid items rejected.
/// The items when both pass untouched, as forwarding them assumes.
fn accepted_items(signal: Signal, bytes: &[u8]) -> Option<usize> {
    let mut payload = Payload::decode(signal, bytes).ok()?;
    let items = payload.item_count();
    reject_invalid(&mut payload).is_none().then_some(items)
}

fn accepted(signal: Signal, bytes: &[u8]) -> bool {
    accepted_items(signal, bytes).is_some()
}

/// The walk's verdict on bytes it must take (no limit broken, not malformed for it).
fn forwardable(signal: Signal, bytes: &[u8]) -> bool {
    prescan(signal, bytes, &LIMITS)
        .unwrap_or_else(|violation| panic!("{violation}"))
        .forwardable
}

fn rich() -> [(Signal, Vec<u8>); 3] {
    [
        (Signal::Traces, rich_traces().encode_to_vec()),
        (Signal::Metrics, rich_metrics().encode_to_vec()),
        (Signal::Logs, rich_logs().encode_to_vec()),
    ]
}

/// Bytes inside one span with valid ids, after them.
fn in_span(fields: Vec<u8>) -> Vec<u8> {
    nest(&[1, 2, 2], Some(2), fields)
}

#[test]
fn ordinary_requests_of_all_signals_are_forwardable() {
    for (signal, bytes) in rich() {
        let shape = prescan(signal, &bytes, &LIMITS).unwrap();
        assert!(shape.forwardable, "{signal:?}");
        assert_eq!(
            accepted_items(signal, &bytes),
            Some(shape.items),
            "{signal:?}"
        );
    }
}

#[test]
fn a_metric_whose_data_changes_kind_is_not_forwardable() {
    // prost keeps the last of the data oneof: the gauge's points the walk counted are gone.
    let gauge = nest(&[5], None, field(1, 2, &[]));
    let sum = nest(&[7], None, field(1, 2, &[]));
    let mixed = nest(&[1, 2, 2], None, [gauge.clone(), sum].concat());
    assert!(!forwardable(Signal::Metrics, &mixed));
    assert_eq!(accepted_items(Signal::Metrics, &mixed), Some(1));
    // The same kind twice is merged, points and all.
    let twice = nest(&[1, 2, 2], None, [gauge.clone(), gauge].concat());
    assert!(forwardable(Signal::Metrics, &twice));
    assert_eq!(accepted_items(Signal::Metrics, &twice), Some(2));
}

#[test]
fn json_is_never_forwardable() {
    let json = serde_json::to_vec(&rich_traces()).unwrap();
    let shape = prescan_json(Signal::Traces, &json, &LIMITS).unwrap();
    assert!(!shape.forwardable);
}

#[test]
fn unpacked_repeated_numbers_are_forwardable() {
    // HistogramDataPoint bucket_counts (fixed64) and explicit_bounds (double) one field
    // per number, and exponential Buckets bucket_counts (uint64) as separate varints.
    let point = [
        field(6, 1, &3u64.to_le_bytes()),
        field(6, 1, &4u64.to_le_bytes()),
        field(7, 1, &1.5f64.to_le_bytes()),
    ]
    .concat();
    let histogram = nest(&[1, 2, 2, 9, 1], None, point);
    let buckets = [field(2, 0, &[5]), field(2, 0, &[0x80, 0x01])].concat();
    let exponential = nest(&[1, 2, 2, 10, 1, 8], None, buckets);
    for bytes in [&histogram, &exponential] {
        assert!(forwardable(Signal::Metrics, bytes));
        assert!(accepted(Signal::Metrics, bytes));
    }
    let decoded = ExportMetricsServiceRequest::decode(&histogram[..]).unwrap();
    let Some(Data::Histogram(h)) = &decoded.resource_metrics[0].scope_metrics[0].metrics[0].data
    else {
        panic!("not a histogram: {decoded:?}");
    };
    assert_eq!(h.data_points[0].bucket_counts, [3, 4]);
    assert_eq!(h.data_points[0].explicit_bounds, [1.5]);
}

/// Bytes the walk takes and prost decodes, but `reject_invalid` would trim.
fn assert_rejected_not_forwardable(signal: Signal, bytes: &[u8]) {
    assert!(!forwardable(signal, bytes));
    let mut payload = Payload::decode(signal, bytes).unwrap();
    assert!(reject_invalid(&mut payload).is_some());
}

#[test]
fn items_with_invalid_ids_are_not_forwardable() {
    let spans: [fn(&mut Span); 7] = [
        |s| s.span_id = vec![1; 7],
        |s| s.span_id = vec![0; 8],
        |s| s.span_id.clear(),
        |s| s.trace_id = vec![0; 16],
        |s| s.trace_id = vec![1; 15],
        |s| s.trace_id.clear(),
        |s| s.parent_span_id = vec![1; 3],
    ];
    for break_ids in spans {
        let mut bad = span();
        break_ids(&mut bad);
        let bytes = traces(vec![span(), bad]).encode_to_vec();
        assert_rejected_not_forwardable(Signal::Traces, &bytes);
    }
    let records: [fn(&mut LogRecord); 3] = [
        |r| r.trace_id = vec![1; 15],
        |r| r.trace_id = vec![1; 8],
        |r| r.span_id = vec![1; 4],
    ];
    for break_ids in records {
        let mut bad = log_record();
        break_ids(&mut bad);
        let bytes = logs(vec![bad, log_record()]).encode_to_vec();
        assert_rejected_not_forwardable(Signal::Logs, &bytes);
    }
}

#[test]
fn the_last_occurrence_of_an_id_is_the_one_checked() {
    let valid = span().encode_to_vec();
    let zeroed = nest(&[1, 2, 2], None, [valid, field(2, 2, &[0; 8])].concat());
    assert_rejected_not_forwardable(Signal::Traces, &zeroed);
    let mut bad = span();
    bad.span_id = vec![9; 3];
    let repaired = nest(
        &[1, 2, 2],
        None,
        [bad.encode_to_vec(), field(2, 2, &SPAN_ID)].concat(),
    );
    assert!(forwardable(Signal::Traces, &repaired));
    assert!(accepted(Signal::Traces, &repaired));

    let record = log_record().encode_to_vec();
    let cut = nest(
        &[1, 2, 2],
        None,
        [record, field(9, 2, &TRACE_ID[..5])].concat(),
    );
    assert_rejected_not_forwardable(Signal::Logs, &cut);
    let mut bad = log_record();
    bad.span_id = vec![1; 3];
    let cleared = nest(
        &[1, 2, 2],
        None,
        [bad.encode_to_vec(), field(10, 2, &[])].concat(),
    );
    assert!(forwardable(Signal::Logs, &cleared));
    assert!(accepted(Signal::Logs, &cleared));
}

const MARK: &str = "MARK#";

/// `bytes` with the second byte of the only `MARK` set to `byte`.
fn patched(bytes: &[u8], byte: u8) -> Vec<u8> {
    let at: Vec<usize> = bytes
        .windows(MARK.len())
        .enumerate()
        .filter(|(_, w)| *w == MARK.as_bytes())
        .map(|(i, _)| i)
        .collect();
    assert_eq!(at.len(), 1, "one mark expected");
    let mut bytes = bytes.to_vec();
    bytes[at[0] + 1] = byte;
    bytes
}

fn marked_value() -> AnyValue {
    let value = |v| AnyValue { value: Some(v) };
    let deep = value(any_value::Value::ArrayValue(ArrayValue {
        values: vec![value(any_value::Value::StringValue(MARK.into()))],
    }));
    value(any_value::Value::KvlistValue(KeyValueList {
        values: vec![kv("k", deep)],
    }))
}

/// Requests with `MARK` in one string field each, from the request down to nested values.
fn marked() -> Vec<(Signal, Vec<u8>)> {
    let span_with = |f: fn(&mut Span)| {
        let mut s = span();
        f(&mut s);
        (Signal::Traces, traces(vec![span(), s]).encode_to_vec())
    };
    let traces_with = |f: fn(&mut ExportTraceServiceRequest)| {
        let mut request = rich_traces();
        f(&mut request);
        (Signal::Traces, request.encode_to_vec())
    };
    let metric_with = |f: fn(&mut ExportMetricsServiceRequest)| {
        let mut request = rich_metrics();
        f(&mut request);
        (Signal::Metrics, request.encode_to_vec())
    };
    let record_with = |f: fn(&mut LogRecord)| {
        let mut record = log_record();
        f(&mut record);
        (Signal::Logs, logs(vec![record]).encode_to_vec())
    };
    vec![
        span_with(|s| s.name = MARK.into()),
        span_with(|s| s.trace_state = MARK.into()),
        span_with(|s| s.attributes[2].key = MARK.into()),
        span_with(|s| s.attributes.push(kv("nested", marked_value()))),
        span_with(|s| s.events[0].name = MARK.into()),
        span_with(|s| s.links[0].trace_state = MARK.into()),
        span_with(|s| s.status.as_mut().unwrap().message = MARK.into()),
        traces_with(|r| {
            let resource = r.resource_spans[0].resource.as_mut().unwrap();
            resource.entity_refs[0].id_keys[1] = MARK.into();
        }),
        traces_with(|r| {
            r.resource_spans[0].scope_spans[0]
                .scope
                .as_mut()
                .unwrap()
                .version = MARK.into()
        }),
        traces_with(|r| r.resource_spans[0].schema_url = MARK.into()),
        metric_with(|r| r.resource_metrics[0].scope_metrics[0].metrics[1].unit = MARK.into()),
        metric_with(|r| {
            r.resource_metrics[0].scope_metrics[0].metrics[4].description = MARK.into()
        }),
        metric_with(|r| {
            let Some(Data::Histogram(h)) =
                &mut r.resource_metrics[0].scope_metrics[0].metrics[2].data
            else {
                unreachable!()
            };
            h.data_points[0].exemplars[0].filtered_attributes[0].key = MARK.into();
        }),
        record_with(|r| r.severity_text = MARK.into()),
        record_with(|r| r.event_name = MARK.into()),
        record_with(|r| r.body = Some(marked_value())),
    ]
}

#[test]
fn invalid_utf8_in_any_string_is_not_forwardable() {
    for (i, (signal, bytes)) in marked().into_iter().enumerate() {
        // The same bytes with an ASCII byte there are fine: the byte is what matters.
        let ascii = patched(&bytes, b'_');
        assert!(forwardable(signal, &ascii), "case {i}");
        assert!(accepted(signal, &ascii), "case {i}");
        for byte in [0xff, 0x80, 0xc3] {
            let broken = patched(&bytes, byte);
            assert!(!forwardable(signal, &broken), "case {i}, byte {byte:#x}");
            assert!(Payload::decode(signal, &broken).is_err(), "case {i}");
        }
    }
}

/// Bytes the walk takes but prost refuses.
fn assert_refused_not_forwardable(signal: Signal, bytes: &[u8], case: &str) {
    assert!(!forwardable(signal, bytes), "{case}");
    assert!(Payload::decode(signal, bytes).is_err(), "{case}");
}

#[test]
fn known_fields_with_the_wrong_wire_type_are_not_forwardable() {
    let cases = [
        (
            "span kind length-delimited",
            Signal::Traces,
            in_span(field(6, 2, &[1])),
        ),
        (
            "span dropped count empty",
            Signal::Traces,
            in_span(field(10, 2, &[])),
        ),
        (
            "span flags as varint",
            Signal::Traces,
            in_span(field(16, 0, &[1])),
        ),
        (
            "span start as fixed32",
            Signal::Traces,
            in_span(field(7, 5, &[0; 4])),
        ),
        (
            "span name as varint",
            Signal::Traces,
            in_span(field(5, 0, &[1])),
        ),
        (
            "trace_id as fixed64",
            Signal::Traces,
            in_span(field(1, 1, &[1; 8])),
        ),
        (
            "status as varint",
            Signal::Traces,
            in_span(field(15, 0, &[1])),
        ),
        (
            "status code length-delimited",
            Signal::Traces,
            in_span(field(15, 2, &field(3, 2, &[2]))),
        ),
        (
            "any value int length-delimited",
            Signal::Traces,
            nest(&[1, 1, 1, 2], None, field(3, 2, &[1])),
        ),
        (
            "sum temporality length-delimited",
            Signal::Metrics,
            nest(&[1, 2, 2, 7], None, field(2, 2, &[1])),
        ),
        (
            "point time as varint",
            Signal::Metrics,
            nest(&[1, 2, 2, 9, 1], None, field(3, 0, &[1])),
        ),
        (
            "severity number length-delimited",
            Signal::Logs,
            nest(&[1, 2, 2], None, field(2, 2, &[9])),
        ),
        (
            "log flags as fixed64",
            Signal::Logs,
            nest(&[1, 2, 2], None, field(8, 1, &[0; 8])),
        ),
    ];
    for (case, signal, bytes) in cases {
        assert_refused_not_forwardable(signal, &bytes, case);
    }
}

#[test]
fn broken_packed_runs_and_oversized_varints_are_not_forwardable() {
    let overflow = [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02];
    // Key 160 (field 20, varint) written in 10 bytes whose last overflows 64 bits.
    let long_key = [0xa0, 0x81, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x02];
    let mut wide_key = Vec::new();
    requests::put_varint(&mut wide_key, (1 << 32) | (20 << 3));
    let cases = [
        (
            "packed fixed64, 12 bytes",
            Signal::Metrics,
            nest(&[1, 2, 2, 9, 1], None, field(6, 2, &[0; 12])),
        ),
        (
            "packed doubles, 7 bytes",
            Signal::Metrics,
            nest(&[1, 2, 2, 9, 1], None, field(7, 2, &[0; 7])),
        ),
        (
            "packed varints cut",
            Signal::Metrics,
            nest(&[1, 2, 2, 10, 1, 8], None, field(2, 2, &[1, 0x80])),
        ),
        (
            "packed varint overflow",
            Signal::Metrics,
            nest(&[1, 2, 2, 10, 1, 8], None, field(2, 2, &overflow)),
        ),
        (
            "varint overflow",
            Signal::Traces,
            in_span(field(10, 0, &overflow)),
        ),
        (
            "unknown varint overflow",
            Signal::Traces,
            in_span(field(20, 0, &overflow)),
        ),
        (
            "length overflow",
            Signal::Traces,
            in_span([&[0xa2, 0x01][..], &[0x80; 9], &[0x02]].concat()),
        ),
        (
            "key overflow",
            Signal::Traces,
            in_span([&long_key[..], &[1]].concat()),
        ),
        (
            "key over 32 bits",
            Signal::Traces,
            in_span([wide_key, vec![1]].concat()),
        ),
    ];
    for (case, signal, bytes) in cases {
        assert_refused_not_forwardable(signal, &bytes, case);
    }
}

#[test]
fn unknown_fields_and_long_but_fitting_varints_stay_forwardable() {
    let fitting = [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01];
    let cases = [
        in_span(field(99, 0, &[1])),
        in_span(field(99, 1, &[0; 8])),
        in_span(field(99, 2, &[0xff, 0xfe])),
        in_span(field(99, 5, &[0; 4])),
        in_span(field(10, 0, &[0x81, 0x80, 0x00])),
        in_span(field(10, 0, &fitting)),
        in_span(field(15, 2, &field(9, 0, &[1]))),
        nest(&[1, 1], None, field(77, 2, b"\xff")),
    ];
    for bytes in cases {
        assert!(forwardable(Signal::Traces, &bytes), "{bytes:02x?}");
        assert!(accepted(Signal::Traces, &bytes), "{bytes:02x?}");
    }
}

#[test]
fn nesting_past_prosts_recursion_limit_is_not_forwardable() {
    let roomy = Limits {
        max_depth: 200,
        ..LIMITS
    };
    // The record is at level 3, its body at 4: `levels` values nest down to level
    // 2 * levels + 2, and prost refuses a message past level 100.
    for levels in 40..=56 {
        let mut value = AnyValue {
            value: Some(any_value::Value::StringValue("leaf".into())),
        };
        for _ in 1..levels {
            value = AnyValue {
                value: Some(any_value::Value::ArrayValue(ArrayValue {
                    values: vec![value],
                })),
            };
        }
        let mut record = log_record();
        record.body = Some(value);
        let bytes = logs(vec![record]).encode_to_vec();
        let shape = prescan(Signal::Logs, &bytes, &roomy).unwrap();
        let accepted = accepted(Signal::Logs, &bytes);
        assert!(!shape.forwardable || accepted, "{levels} levels");
        assert_eq!(shape.forwardable, levels <= 48, "{levels} levels");
        assert_eq!(accepted, levels <= 49, "{levels} levels");
    }
}
