use sentinel_pipeline::config::parse_yaml;
use sentinel_pipeline::otlp::collector::trace::v1::ExportTraceServiceRequest;
use sentinel_pipeline::otlp::common::v1::{any_value, AnyValue, InstrumentationScope, KeyValue};
use sentinel_pipeline::otlp::resource::v1::Resource;
use sentinel_pipeline::otlp::trace::v1::{ResourceSpans, ScopeSpans, Span};
use sentinel_pipeline::testing::sample;
use sentinel_pipeline::{Factory, Payload, Signal};

use super::client::Encoding;
use super::split::{halve, resource_key, split, Keying};
use super::KafkaExporterFactory;

fn kv(key: &str, value: &str) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(AnyValue {
            value: Some(any_value::Value::StringValue(value.into())),
        }),
        ..Default::default()
    }
}

fn span(trace: u8, id: u8, blob: usize) -> Span {
    Span {
        trace_id: vec![trace; 16],
        span_id: vec![id; 8],
        name: format!("span-{trace}-{id}"),
        attributes: vec![kv("blob", &"x".repeat(blob))],
        ..Default::default()
    }
}

/// Two resources, each with two scopes of three spans from traces 1 and 2.
fn traces(blob: usize) -> Payload {
    let resource = |service: &str, first: u8| ResourceSpans {
        resource: Some(Resource {
            attributes: vec![kv("service.name", service)],
            ..Default::default()
        }),
        scope_spans: (0..2)
            .map(|s| ScopeSpans {
                scope: Some(InstrumentationScope {
                    name: format!("scope-{s}"),
                    ..Default::default()
                }),
                spans: (0..3)
                    .map(|i| span(1 + (i % 2), first + s * 3 + i, blob))
                    .collect(),
                ..Default::default()
            })
            .collect(),
        ..Default::default()
    };
    Payload::Traces(ExportTraceServiceRequest {
        resource_spans: vec![resource("a", 0), resource("b", 10)],
    })
}

/// `(service, scope, span name)` of every span, in order.
fn names(payload: &Payload) -> Vec<(String, String, String)> {
    let Payload::Traces(request) = payload else {
        panic!("not traces")
    };
    let mut out = Vec::new();
    for group in &request.resource_spans {
        let service = group.resource.as_ref().unwrap().attributes[0].clone();
        let Some(any_value::Value::StringValue(service)) = service.value.unwrap().value else {
            panic!()
        };
        for scope in &group.scope_spans {
            for span in &scope.spans {
                out.push((
                    service.clone(),
                    scope.scope.as_ref().unwrap().name.clone(),
                    span.name.clone(),
                ));
            }
        }
    }
    out
}

#[test]
fn records_fit_the_limit_and_keep_every_span_with_its_resource_and_scope() {
    let original = traces(300);
    let all = names(&original);
    let whole = original.encoded_len();
    for max in [whole, whole / 2, whole / 5, 800] {
        let out = split(original.clone(), Keying::None, Encoding::OtlpProto, max);
        assert!(out.oversized.is_empty());
        let mut seen = Vec::new();
        for record in &out.records {
            assert!(record.value.len() <= max, "{} > {max}", record.value.len());
            assert_eq!(
                Payload::decode(Signal::Traces, &record.value).unwrap(),
                record.payload
            );
            seen.extend(names(&record.payload));
        }
        assert_eq!(seen, all, "order and nesting kept at max {max}");
        if max == whole {
            assert_eq!(out.records.len(), 1, "a request that fits is not split");
        } else {
            assert!(out.records.len() > 1);
        }
    }
}

#[test]
fn a_single_item_over_the_limit_is_oversized_and_the_rest_still_fits() {
    let mut payload = traces(10);
    let Payload::Traces(request) = &mut payload else {
        unreachable!()
    };
    request.resource_spans[1].scope_spans[0].spans[1] = span(9, 99, 5000);
    let out = split(payload, Keying::None, Encoding::OtlpJson, 2000);
    assert_eq!(out.oversized.len(), 1);
    let (big, size) = &out.oversized[0];
    assert!(*size > 5000);
    assert_eq!(
        names(big),
        vec![("b".into(), "scope-0".into(), "span-9-99".into())]
    );
    let items: usize = out.records.iter().map(|r| r.payload.item_count()).sum();
    assert_eq!(items, 11);
    assert!(out.records.iter().all(|r| r.value.len() <= 2000));
}

#[test]
fn partitioning_by_trace_id_gives_one_key_per_trace() {
    let out = split(traces(10), Keying::TraceId, Encoding::OtlpProto, 1 << 20);
    let keys: Vec<_> = out.records.iter().map(|r| r.key.clone().unwrap()).collect();
    assert_eq!(keys, vec!["01".repeat(16), "02".repeat(16)]);
    for record in &out.records {
        let Payload::Traces(request) = &record.payload else {
            unreachable!()
        };
        let trace = &request.resource_spans[0].scope_spans[0].spans[0].trace_id;
        assert!(request
            .resource_spans
            .iter()
            .flat_map(|r| &r.scope_spans)
            .flat_map(|s| &s.spans)
            .all(|s| &s.trace_id == trace));
        assert_eq!(request.resource_spans.len(), 2, "both resources kept");
    }
    assert_eq!(
        out.records
            .iter()
            .map(|r| r.payload.item_count())
            .sum::<usize>(),
        12
    );
}

#[test]
fn partitioning_by_resource_keys_by_attributes_whatever_their_order() {
    assert_eq!(
        resource_key(&[kv("a", "1"), kv("b", "2")]),
        resource_key(&[kv("b", "2"), kv("a", "1")])
    );
    assert_ne!(resource_key(&[kv("a", "1")]), resource_key(&[kv("a", "2")]));
    let metrics = sample(Signal::Metrics, 6, 1);
    let groups = match &metrics {
        Payload::Metrics(r) => r.resource_metrics.len(),
        _ => unreachable!(),
    };
    let out = split(
        metrics,
        Keying::ResourceAttributes,
        Encoding::OtlpProto,
        1 << 20,
    );
    assert_eq!(out.records.len(), groups, "one record per resource");
    assert!(out.records.iter().all(|r| r.key.is_some()));
}

#[test]
fn halving_a_single_item_gives_it_back() {
    let one = split(traces(1), Keying::TraceId, Encoding::OtlpProto, 1 << 20)
        .records
        .remove(0)
        .payload;
    let mut rest = one;
    loop {
        match halve(rest) {
            Ok((first, _)) => rest = first,
            Err(single) => {
                assert_eq!(single.item_count(), 1);
                break;
            }
        }
    }
}

#[test]
fn config_keeps_the_collector_keys_and_checks_limits() {
    let ok = "brokers: [k1:9092, k2:9092]\ntraces:\n  topic: spans\n  encoding: otlp_json\ntopic: legacy\nproducer:\n  required_acks: 1\n  compression: zstd\n  max_message_bytes: 500000\n  linger: 5ms\nauth:\n  sasl:\n    username: u\n    password: p\n    mechanism: SCRAM-SHA-512\ntls:\n  ca_file: /etc/ca.pem\n";
    let node = parse_yaml("t.yaml", ok).unwrap().unwrap();
    let checked = KafkaExporterFactory.check(&node).unwrap();
    assert_eq!(
        checked["auth"]["sasl"]["password"], "[redacted]",
        "{checked}"
    );
    let config: super::KafkaExporterConfig =
        sentinel_pipeline::config::decode_valid(&node).unwrap();
    let topics = config.topics();
    assert_eq!(topics.topic(Signal::Traces), "spans");
    assert_eq!(topics.topic(Signal::Logs), "legacy");
    assert_eq!(topics.encoding(Signal::Traces), Encoding::OtlpJson);
    assert_eq!(topics.encoding(Signal::Metrics), Encoding::OtlpProto);
    let defaults: super::KafkaExporterConfig =
        sentinel_pipeline::config::decode_valid(&parse_yaml("t.yaml", "{}").unwrap().unwrap())
            .unwrap();
    assert_eq!(defaults.topics().topic(Signal::Metrics), "otlp_metrics");
    assert_eq!(defaults.producer.required_acks, -1, "acks=all by default");
    for bad in [
        "producer:\n  required_acks: 2\n",
        "producer:\n  max_message_bytes: 10\n",
        "brokers: []\n",
        "tls:\n  server_name_override: kafka\n",
        "producer:\n  linger: 10s\n",
        "unknown_key: 1\n",
    ] {
        let node = parse_yaml("t.yaml", bad).unwrap().unwrap();
        assert!(KafkaExporterFactory.check(&node).is_err(), "{bad}");
    }
}
