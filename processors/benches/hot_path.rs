//! Hot paths every span goes through: decoding an OTLP request (the Collector testbed's
//! shape: 100 spans, 2 int attributes), counting its items, and batching.

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use sentinel_pipeline::otlp::collector::trace::v1::ExportTraceServiceRequest;
use sentinel_pipeline::otlp::common::v1::{any_value, AnyValue, KeyValue};
use sentinel_pipeline::otlp::trace::v1::{ResourceSpans, ScopeSpans, Span};
use sentinel_pipeline::{Message, Payload, Processor, Signal};
use sentinel_processors::batch::{BatchConfig, Batcher};

fn request(spans: usize) -> Payload {
    let int = |key: &str, v: i64| KeyValue {
        key: key.into(),
        value: Some(AnyValue {
            value: Some(any_value::Value::IntValue(v)),
        }),
        ..Default::default()
    };
    Payload::Traces(ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            scope_spans: vec![ScopeSpans {
                spans: (0..spans)
                    .map(|i| Span {
                        trace_id: vec![1; 16],
                        span_id: (i as u64 + 1).to_be_bytes().to_vec(),
                        name: format!("load-generator-span{i}"),
                        kind: 3,
                        start_time_unix_nano: 1,
                        end_time_unix_nano: 1_000_001,
                        attributes: vec![int("load.seq", i as i64), int("load.attr0", 0)],
                        ..Default::default()
                    })
                    .collect(),
                ..Default::default()
            }],
            ..Default::default()
        }],
    })
}

fn hot_path(c: &mut Criterion) {
    let payload = request(100);
    let bytes = payload.encode_to_vec();
    let mut group = c.benchmark_group("100-span request");
    group.throughput(Throughput::Elements(100));
    group.bench_function("decode", |b| {
        b.iter(|| Payload::decode(Signal::Traces, &bytes).unwrap())
    });
    group.bench_function("item_count", |b| b.iter(|| payload.item_count()));
    group.bench_function("clone", |b| b.iter(|| payload.clone()));
    group.bench_function("batch 82 requests into 8192", |b| {
        b.iter_batched(
            || {
                (
                    Batcher::new(BatchConfig::default()),
                    vec![payload.clone(); 82],
                )
            },
            |(mut batcher, payloads)| {
                let mut out = Vec::new();
                for p in payloads {
                    batcher.process(Message::unacked(p), &mut out);
                }
                out
            },
            BatchSize::LargeInput,
        )
    });
    group.finish();
}

criterion_group!(benches, hot_path);
criterion_main!(benches);
