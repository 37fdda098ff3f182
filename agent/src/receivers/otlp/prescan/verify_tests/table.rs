//! The field table against prost itself: every field number of every message, sent with
//! every wire type, is forwardable exactly when prost (and `reject_invalid`) take it.

use sentinel_pipeline::Signal;

use super::super::verify::{kind, FieldKind};
use super::super::{field as walked, prescan, Field, Msg, Point};
use super::requests::{field, nest};
use super::{accepted, accepted_items, LIMITS};

use Signal::{Logs, Metrics, Traces};

/// Every message reachable from the three requests, where it sits: its signal, the field
/// numbers from the request down to it, and which of them enters a span (that span gets
/// valid ids first).
const PLACES: &[(Msg, Signal, &[u64], Option<usize>)] = &[
    (Msg::Request(Traces), Traces, &[], None),
    (Msg::ResourceSpans, Traces, &[1], None),
    (Msg::Resource, Traces, &[1, 1], None),
    (Msg::EntityRef, Traces, &[1, 1, 3], None),
    (Msg::KeyValue, Traces, &[1, 1, 1], None),
    (Msg::AnyValue, Traces, &[1, 1, 1, 2], None),
    (Msg::ArrayValue, Traces, &[1, 1, 1, 2, 5], None),
    (Msg::KvList, Traces, &[1, 1, 1, 2, 6], None),
    (Msg::ScopeSpans, Traces, &[1, 2], None),
    (Msg::Scope, Traces, &[1, 2, 1], None),
    (Msg::Span, Traces, &[1, 2, 2], Some(2)),
    (Msg::Event, Traces, &[1, 2, 2, 11], Some(2)),
    (Msg::Link, Traces, &[1, 2, 2, 13], Some(2)),
    (Msg::Status, Traces, &[1, 2, 2, 15], Some(2)),
    (Msg::Request(Metrics), Metrics, &[], None),
    (Msg::ResourceMetrics, Metrics, &[1], None),
    (Msg::ScopeMetrics, Metrics, &[1, 2], None),
    (Msg::Metric, Metrics, &[1, 2, 2], None),
    (Msg::Points(Point::Number), Metrics, &[1, 2, 2, 5], None),
    (Msg::Points(Point::Number), Metrics, &[1, 2, 2, 7], None),
    (Msg::Points(Point::Histogram), Metrics, &[1, 2, 2, 9], None),
    (
        Msg::Points(Point::Exponential),
        Metrics,
        &[1, 2, 2, 10],
        None,
    ),
    (Msg::Points(Point::Summary), Metrics, &[1, 2, 2, 11], None),
    (Msg::Point(Point::Number), Metrics, &[1, 2, 2, 7, 1], None),
    (
        Msg::Point(Point::Histogram),
        Metrics,
        &[1, 2, 2, 9, 1],
        None,
    ),
    (
        Msg::Point(Point::Exponential),
        Metrics,
        &[1, 2, 2, 10, 1],
        None,
    ),
    (Msg::Point(Point::Summary), Metrics, &[1, 2, 2, 11, 1], None),
    (Msg::Buckets, Metrics, &[1, 2, 2, 10, 1, 8], None),
    (Msg::Quantile, Metrics, &[1, 2, 2, 11, 1, 6], None),
    (Msg::Exemplar, Metrics, &[1, 2, 2, 7, 1, 5], None),
    (Msg::Request(Logs), Logs, &[], None),
    (Msg::ResourceLogs, Logs, &[1], None),
    (Msg::ScopeLogs, Logs, &[1, 2], None),
    (Msg::LogRecord, Logs, &[1, 2, 2], None),
];

/// A gauge's fields 2 and 3 are a sum's: held to a varint though prost skips them.
const GAUGE: &[u64] = &[1, 2, 2, 5];

#[test]
fn every_field_of_every_message_is_judged_as_prost_judges_it() {
    let values: [(u64, &[u8]); 8] = [
        (0, &[1]),
        (0, &[0x80, 0x01]),
        (1, &[0; 8]),
        (5, &[0; 4]),
        (2, &[]),
        (2, &[0; 8]),
        (2, b"a"),
        (2, &[0xff]),
    ];
    let mut compared = 0;
    for &(msg, signal, path, span_at) in PLACES {
        for number in 1..=17 {
            for (wire_type, payload) in values {
                let bytes = nest(path, span_at, field(number, wire_type, payload));
                // What the walk calls malformed is refused before prost sees it.
                let Ok(shape) = prescan(signal, &bytes, &LIMITS) else {
                    continue;
                };
                compared += 1;
                let case = format!("{msg:?} field {number}, wire type {wire_type}, {payload:?}");
                if path == GAUGE && matches!(number, 2 | 3) && wire_type != 0 {
                    assert!(!shape.forwardable && accepted(signal, &bytes), "{case}");
                    continue;
                }
                let accepted = accepted_items(signal, &bytes);
                assert_eq!(shape.forwardable, accepted.is_some(), "{case}");
                if shape.forwardable {
                    assert_eq!(accepted, Some(shape.items), "{case}");
                }
            }
        }
    }
    // 34 places, 17 numbers, 8 values; the walk refuses some message bodies.
    assert!(compared > 4000, "{compared}");
}

#[test]
fn the_walk_enters_every_message_field_prost_decodes() {
    for &(msg, ..) in PLACES {
        for number in 0..=20 {
            let kind = kind(msg, number);
            let case = format!("{msg:?} field {number}: {kind:?}");
            match walked(msg, number) {
                Some(Field::One(_) | Field::Many(_)) => {
                    assert_eq!(kind, Some(FieldKind::Message), "{case}");
                }
                Some(Field::Strings) => assert_eq!(kind, Some(FieldKind::Text), "{case}"),
                Some(Field::Varints) => assert_eq!(kind, Some(FieldKind::Varints), "{case}"),
                Some(Field::Fixed) => assert_eq!(kind, Some(FieldKind::Fixed64s), "{case}"),
                None => assert_ne!(kind, Some(FieldKind::Message), "{case}"),
            }
        }
    }
}
