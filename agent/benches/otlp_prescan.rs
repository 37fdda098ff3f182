//! The OTLP receiver's pre-decode pass over a request shaped like the load generator's
//! (100 spans, 2 attributes each): with the forwarding checks (`verify`, what a passthrough
//! path runs), limits only (what a decoding path runs), and prost's decode for scale.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, InstrumentationScope, KeyValue};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};
use prost::Message;
use sentinel_agent::fuzz_api::prescan_protobuf;
use sentinel_pipeline::Signal;

fn attribute(key: &str, value: any_value::Value) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(AnyValue { value: Some(value) }),
        ..Default::default()
    }
}

fn request(spans: u64) -> Vec<u8> {
    let spans = (0..spans)
        .map(|seq| {
            let mut trace_id = [0u8; 16];
            trace_id[0] = 0x5e;
            trace_id[8..].copy_from_slice(&seq.to_be_bytes());
            Span {
                trace_id: trace_id.to_vec(),
                span_id: (seq + 1).to_be_bytes().to_vec(),
                name: format!("load-generator-span{seq}"),
                kind: 3,
                start_time_unix_nano: 1_700_000_000_000_000_000,
                end_time_unix_nano: 1_700_000_000_001_000_000,
                attributes: vec![
                    attribute("load.seq", any_value::Value::IntValue(seq as i64)),
                    attribute("load.attr0", any_value::Value::IntValue(0)),
                ],
                ..Default::default()
            }
        })
        .collect();
    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: Some(Resource {
                attributes: vec![attribute(
                    "service.name",
                    any_value::Value::StringValue("loadgen".into()),
                )],
                ..Default::default()
            }),
            scope_spans: vec![ScopeSpans {
                scope: Some(InstrumentationScope {
                    name: "sentinel-loadgen".into(),
                    ..Default::default()
                }),
                spans,
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
    .encode_to_vec()
}

fn prescan(c: &mut Criterion) {
    let bytes = request(100);
    let mut group = c.benchmark_group("otlp_prescan/100_spans");
    group.throughput(Throughput::Bytes(bytes.len() as u64));
    group.bench_function("verify", |b| {
        b.iter(|| {
            let shape = prescan_protobuf(Signal::Traces, std::hint::black_box(&bytes), true);
            assert_eq!(shape, Some((100, true)));
        })
    });
    group.bench_function("limits_only", |b| {
        b.iter(|| prescan_protobuf(Signal::Traces, std::hint::black_box(&bytes), false))
    });
    group.bench_function("prost_decode", |b| {
        b.iter(|| ExportTraceServiceRequest::decode(std::hint::black_box(&bytes[..])))
    });
    group.finish();
}

criterion_group!(benches, prescan);
criterion_main!(benches);
