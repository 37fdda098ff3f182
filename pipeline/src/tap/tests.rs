use super::*;
use crate::testing::{sample, TestSink};
use crate::{Acks, Signal};

fn message(items: usize, seed: u64) -> Message {
    Message {
        payload: sample(Signal::Traces, items, seed),
        acks: Acks::none(),
    }
}

#[test]
fn nothing_is_copied_while_nobody_taps() {
    let taps = TapRegistry::new();
    let sink = TestSink::new();
    let consumer = taps.consumer("otlp", "traces", true, sink.clone());
    consumer.consume(message(3, 1)).unwrap();
    assert_eq!(sink.items(), 3);
    let mut tap = taps.subscribe("otlp", None, 4);
    assert!(tap.receiver.try_recv().is_err(), "nothing before the tap");
}

#[test]
fn a_tap_sees_what_its_component_hands_on_and_only_that() {
    let taps = TapRegistry::new();
    let sink = TestSink::new();
    let first = taps.consumer("otlp", "traces/a", true, sink.clone());
    let second = taps.consumer("otlp", "traces/b", false, sink.clone());
    let other = taps.consumer("otlp/2", "traces/a", true, sink.clone());
    let mut all = taps.subscribe("otlp", None, 8);
    let mut only_b = taps.subscribe("otlp", Some("traces/b"), 8);
    for consumer in [&first, &second, &other] {
        consumer.consume(message(2, 7)).unwrap();
    }
    assert_eq!(tap_items(&all.receiver.try_recv().unwrap()), 2);
    assert!(all.receiver.try_recv().is_err(), "one copy per signal");
    assert!(only_b.receiver.try_recv().is_ok());
    assert!(only_b.receiver.try_recv().is_err());
    assert_eq!(
        taps.outputs_of("otlp").unwrap(),
        vec!["traces/a".to_string(), "traces/b".to_string()]
    );
    assert!(taps.outputs_of("nope").is_none());
}

#[test]
fn refused_data_is_not_tapped_and_a_full_tap_skips() {
    let taps = TapRegistry::new();
    let refusing = TestSink::full();
    let consumer = taps.consumer("otlp", "traces", true, refusing);
    let mut tap = taps.subscribe("otlp", None, 1);
    assert!(consumer.consume(message(1, 1)).is_err());
    assert!(tap.receiver.try_recv().is_err());

    let sink = TestSink::new();
    let consumer = taps.consumer("otlp", "traces", true, sink);
    for seed in 0..5 {
        consumer.consume(message(1, seed)).unwrap();
    }
    assert!(tap.receiver.try_recv().is_ok());
    assert!(
        tap.receiver.try_recv().is_err(),
        "bounded: the rest skipped"
    );
}

#[test]
fn closing_the_tap_turns_the_points_off() {
    let taps = TapRegistry::new();
    let tap = taps.subscribe("otlp", None, 1);
    let point = taps.point("otlp", "traces", true);
    assert!(point.active());
    drop(tap);
    assert!(!point.active());
}

#[test]
fn truncate_keeps_the_first_items() {
    let mut payload = sample(Signal::Logs, 10, 3);
    assert_eq!(truncate(&mut payload, 4), 4);
    let mut payload = sample(Signal::Metrics, 5, 3);
    assert!(truncate(&mut payload, 2) <= 2);
}

#[test]
fn services_are_counted_and_bounded() {
    let counter = ServiceCounter::new(1);
    let Payload::Traces(request) = sample(Signal::Traces, 6, 1) else {
        unreachable!()
    };
    counter.count(&request);
    counter.count(&request);
    let top = counter.top(5);
    let total: u64 = top.iter().map(|s| s.spans).sum();
    assert_eq!(total, 12);
    assert!(top.len() <= 2, "one name plus the overflow: {top:?}");
}

#[test]
fn only_a_receivers_primary_output_counts_services() {
    let taps = TapRegistry::new();
    let sink = TestSink::new();
    let primary = taps.source_consumer("otlp", None, "traces/a", true, sink.clone());
    let second = taps.source_consumer("otlp", None, "traces/b", false, sink.clone());
    let exporter = taps.consumer("file", "", true, sink.clone());
    let connector = taps.source_consumer("forward", Some("forward"), "traces/c", true, sink);
    for consumer in [&primary, &second, &exporter, &connector] {
        consumer.consume(message(5, 1)).unwrap();
    }
    let total: u64 = taps.services().top(10).iter().map(|s| s.spans).sum();
    assert_eq!(total, 5);
}

fn encoded(payload: &Payload) -> EncodedMessage {
    let bytes = payload.encode_to_vec();
    EncodedMessage {
        request: crate::Encoded::new(payload.signal(), bytes.into(), payload.item_count()),
        acks: Acks::none(),
    }
}

#[test]
fn encoded_requests_count_services_as_decoded_ones_do() {
    use crate::otlp::collector::trace::v1::ExportTraceServiceRequest;
    use crate::otlp::common::v1::{any_value, AnyValue, KeyValue};
    use crate::otlp::resource::v1::Resource;
    use crate::otlp::trace::v1::{ResourceSpans, ScopeSpans, Span};
    use crate::testing::string_kv;
    let group = |attributes: Option<Vec<KeyValue>>, scopes: &[usize]| ResourceSpans {
        resource: attributes.map(|attributes| Resource {
            attributes,
            ..Default::default()
        }),
        scope_spans: scopes
            .iter()
            .map(|spans| ScopeSpans {
                spans: vec![Span::default(); *spans],
                ..Default::default()
            })
            .collect(),
        ..Default::default()
    };
    let numeric_name = KeyValue {
        key: "service.name".into(),
        value: Some(AnyValue {
            value: Some(any_value::Value::IntValue(7)),
        }),
        ..Default::default()
    };
    let request = ExportTraceServiceRequest {
        resource_spans: vec![
            group(
                Some(vec![string_kv("host", "h"), string_kv("service.name", "a")]),
                &[2, 0, 3],
            ),
            group(Some(vec![string_kv("service.name", "b")]), &[]),
            group(Some(vec![numeric_name]), &[1]),
            group(None, &[4]),
            group(Some(vec![string_kv("service.name", "a")]), &[1]),
        ],
    };
    let (decoded, encoded) = (ServiceCounter::new(8), ServiceCounter::new(8));
    decoded.count(&request);
    encoded.count_encoded(&prost::Message::encode_to_vec(&request));
    assert_eq!(encoded.top(10), decoded.top(10));
    let count = |service: &str, spans| ServiceCount {
        service: service.into(),
        spans,
    };
    assert_eq!(
        decoded.top(10),
        [count("a", 6), count(services::UNKNOWN, 5)]
    );
}

#[test]
fn an_open_tap_gets_an_encoded_request_decoded_and_the_sink_gets_it_encoded() {
    let taps = TapRegistry::new();
    let sink = TestSink::new();
    let consumer = taps.source_consumer("otlp", None, "traces", true, sink.clone());
    let payload = sample(Signal::Traces, 3, 9);
    consumer.consume_encoded(encoded(&payload)).unwrap();
    assert_eq!(
        sink.items(),
        3,
        "decoded by the sink, which does not take encoded"
    );
    let mut tap = taps.subscribe("otlp", None, 4);
    consumer.consume_encoded(encoded(&payload)).unwrap();
    assert_eq!(tap.receiver.try_recv().unwrap(), payload);
    let total: u64 = taps.services().top(10).iter().map(|s| s.spans).sum();
    assert_eq!(total, 6, "services counted from the encoded bytes");
}
