//! Hot paths every span goes through: decoding an OTLP request (the Collector testbed's
//! shape: 100 spans, 2 int attributes), counting its items, batching and splitting, and
//! the per-item walks of the `attributes` processor over spans and metric data points.

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use sentinel_pipeline::otlp::collector::metrics::v1::ExportMetricsServiceRequest;
use sentinel_pipeline::otlp::collector::trace::v1::ExportTraceServiceRequest;
use sentinel_pipeline::otlp::common::v1::{any_value, AnyValue, KeyValue};
use sentinel_pipeline::otlp::metrics::v1::{
    metric, number_data_point, Gauge, Metric, NumberDataPoint, ResourceMetrics, ScopeMetrics,
};
use sentinel_pipeline::otlp::trace::v1::{ResourceSpans, ScopeSpans, Span};
use sentinel_pipeline::{Message, Payload, Processor, Signal};
use sentinel_processors::actions::{ActionConfig, ActionKind, AttributeValue};
use sentinel_processors::attributes::AttributesProcessor;
use sentinel_processors::batch::{BatchConfig, Batcher};

fn int(key: &str, v: i64) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(AnyValue {
            value: Some(any_value::Value::IntValue(v)),
        }),
        ..Default::default()
    }
}

fn request(spans: usize) -> Payload {
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

/// 10 gauges of 10 points each: 100 data points.
fn gauges() -> Payload {
    let metric = |m: usize| Metric {
        name: format!("load.gauge{m}"),
        data: Some(metric::Data::Gauge(Gauge {
            data_points: (0..10)
                .map(|p| NumberDataPoint {
                    attributes: vec![int("load.seq", p)],
                    value: Some(number_data_point::Value::AsInt(p)),
                    ..Default::default()
                })
                .collect(),
        })),
        ..Default::default()
    };
    Payload::Metrics(ExportMetricsServiceRequest {
        resource_metrics: vec![ResourceMetrics {
            scope_metrics: vec![ScopeMetrics {
                metrics: (0..10).map(metric).collect(),
                ..Default::default()
            }],
            ..Default::default()
        }],
    })
}

fn upsert_env() -> AttributesProcessor {
    AttributesProcessor::new(vec![ActionConfig {
        key: "env".into(),
        value: Some(AttributeValue::String("prod".into())),
        from_attribute: None,
        action: ActionKind::Upsert,
    }])
}

/// Runs `processor` over the same message again and again (upsert is idempotent).
fn bench_processor(
    b: &mut criterion::Bencher<'_>,
    mut processor: impl Processor,
    payload: &Payload,
) {
    let mut out = vec![Message::unacked(payload.clone())];
    b.iter(|| {
        let msg = out.pop().expect("the processor passes every message on");
        processor.process(msg, &mut out);
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
    group.bench_function("attributes upsert", |b| {
        bench_processor(b, upsert_env(), &payload)
    });
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

    let big = request(8200);
    let mut group = c.benchmark_group("8200-span request");
    group.throughput(Throughput::Elements(8200));
    group.bench_function("split into 1000", |b| {
        let config = BatchConfig {
            send_batch_size: 1000,
            send_batch_max_size: 1000,
            ..BatchConfig::default()
        };
        b.iter_batched(
            || (Batcher::new(config.clone()), big.clone()),
            |(mut batcher, payload)| {
                let mut out = Vec::new();
                batcher.process(Message::unacked(payload), &mut out);
                out
            },
            BatchSize::LargeInput,
        )
    });
    group.finish();

    let metrics = gauges();
    let mut group = c.benchmark_group("100-point metrics request");
    group.throughput(Throughput::Elements(100));
    group.bench_function("item_count", |b| b.iter(|| metrics.item_count()));
    group.bench_function("attributes upsert", |b| {
        bench_processor(b, upsert_env(), &metrics)
    });
    group.finish();
}

criterion_group!(benches, hot_path);
criterion_main!(benches);
