//! The tail sampler: ns per span to hold and decide traces under each policy type, and
//! the cost of a storm of distinct one-span traces against a full 64 MiB budget (every
//! new trace decides the oldest early), from which the highest traces/s one core holds.

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use sentinel_pipeline::otlp::collector::trace::v1::ExportTraceServiceRequest;
use sentinel_pipeline::otlp::common::v1::{any_value, AnyValue, KeyValue};
use sentinel_pipeline::otlp::trace::v1::{status, ResourceSpans, ScopeSpans, Span, Status};
use sentinel_pipeline::testing::snippet;
use sentinel_processors::tail_sampling::{TailSampler, TailSamplingConfig};
use tokio::time::Instant;

const TRACES: u64 = 10;
const SPANS_PER_TRACE: u64 = 10;

fn attribute(key: &str, value: any_value::Value) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(AnyValue { value: Some(value) }),
        ..Default::default()
    }
}

/// `traces` traces of `spans` spans, numbered from `first`; every fifth trace has an
/// error, spans carry a route, a status code and a flag like real server spans do.
fn request(first: u64, traces: u64, spans: u64) -> ExportTraceServiceRequest {
    let mut all = Vec::new();
    for t in first..first + traces {
        let mut trace_id = [0u8; 16];
        trace_id[..8].copy_from_slice(&t.to_be_bytes());
        trace_id[8..].copy_from_slice(&t.wrapping_mul(0x9e37_79b9_7f4a_7c15).to_be_bytes());
        for s in 0..spans {
            let error = t % 5 == 0 && s == spans - 1;
            all.push(Span {
                trace_id: trace_id.to_vec(),
                span_id: (t * 1000 + s).to_be_bytes().to_vec(),
                name: format!("GET /api/items/{s}"),
                start_time_unix_nano: 1_000_000 * s,
                end_time_unix_nano: 1_000_000 * (s + 3),
                attributes: vec![
                    attribute(
                        "http.route",
                        any_value::Value::StringValue("/api/items".into()),
                    ),
                    attribute(
                        "http.status_code",
                        any_value::Value::IntValue(200 + 300 * (error as i64)),
                    ),
                    attribute("cache.hit", any_value::Value::BoolValue(s % 2 == 0)),
                ],
                status: error.then(|| Status {
                    code: status::StatusCode::Error as i32,
                    message: String::new(),
                }),
                ..Default::default()
            });
        }
    }
    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            scope_spans: vec![ScopeSpans {
                spans: all,
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}

fn config(yaml: &str) -> TailSamplingConfig {
    sentinel_pipeline::config::decode_valid(&snippet(yaml)).expect("a valid config")
}

const POLICIES: [(&str, &str); 14] = [
    ("always_sample", "{name: p, type: always_sample}"),
    ("latency", "{name: p, type: latency, latency: {threshold_ms: 5}}"),
    ("status_code", "{name: p, type: status_code, status_code: {status_codes: [ERROR]}}"),
    ("string_attribute", "{name: p, type: string_attribute, string_attribute: {key: http.route, values: [/checkout, /pay]}}"),
    ("string_attribute regex", "{name: p, type: string_attribute, string_attribute: {key: http.route, values: ['^/(checkout|pay)'], enabled_regex_matching: true}}"),
    ("numeric_attribute", "{name: p, type: numeric_attribute, numeric_attribute: {key: http.status_code, min_value: 500}}"),
    ("boolean_attribute", "{name: p, type: boolean_attribute, boolean_attribute: {key: debug, value: true}}"),
    ("probabilistic", "{name: p, type: probabilistic, probabilistic: {sampling_percentage: 10}}"),
    ("rate_limiting", "{name: p, type: rate_limiting, rate_limiting: {spans_per_second: 1000}}"),
    ("span_count", "{name: p, type: span_count, span_count: {min_spans: 5}}"),
    ("trace_state", "{name: p, type: trace_state, trace_state: {key: vendor, values: [gold]}}"),
    ("and", "{name: p, type: and, and: {and_sub_policy: [{name: a, type: latency, latency: {threshold_ms: 5}}, {name: b, type: status_code, status_code: {status_codes: [ERROR]}}]}}"),
    ("drop", "{name: p, type: drop, drop: {drop_sub_policy: [{name: a, type: string_attribute, string_attribute: {key: http.route, values: [/health]}}]}}"),
    ("composite", "{name: p, type: composite, composite: {max_total_spans_per_second: 100000, policy_order: [a, b], composite_sub_policy: [{name: a, type: status_code, status_code: {status_codes: [ERROR]}}, {name: b, type: always_sample}], rate_allocation: [{policy: a, percent: 50}]}}"),
];

/// Hold a request of 10 traces × 10 spans, then decide them: the whole cost per span.
fn per_policy(c: &mut Criterion) {
    let mut group = c.benchmark_group("tail_sampling hold and decide, per span");
    group.throughput(Throughput::Elements(TRACES * SPANS_PER_TRACE));
    for (name, policy) in POLICIES {
        let mut sampler = TailSampler::new(&config(&format!("policies: [{policy}]")));
        let mut first = 0;
        let later = Instant::now() + Duration::from_secs(3600);
        group.bench_function(name, |b| {
            b.iter_batched(
                || {
                    first += TRACES;
                    request(first, TRACES, SPANS_PER_TRACE)
                },
                |req| {
                    let now = Instant::now();
                    black_box(sampler.ingest(req, now));
                    black_box(sampler.decide_due(later))
                },
                BatchSize::SmallInput,
            )
        });
    }
    group.finish();
}

/// Distinct one-span traces against a full 64 MiB budget and a 30 s wait: each trace
/// taken in decides the oldest pending one early.
fn storm(c: &mut Criterion) {
    let mut sampler = TailSampler::new(&config(
        "decision_wait: 30s\nnum_traces: 100000000\nmax_memory_mib: 64\npolicies: [{name: p, type: probabilistic, probabilistic: {sampling_percentage: 1}}]",
    ));
    let now = Instant::now();
    let mut first = 0;
    while sampler.pending_bytes() < 63 * 1024 * 1024 {
        sampler.ingest(request(first, 1000, 1), now);
        first += 1000;
    }
    println!(
        "storm: {} traces pending in {:.1} MiB ({} estimated bytes per one-span trace)",
        sampler.pending_traces(),
        sampler.pending_bytes() as f64 / (1024.0 * 1024.0),
        sampler.pending_bytes() / sampler.pending_traces().max(1)
    );
    let mut group = c.benchmark_group("tail_sampling storm at a full 64 MiB budget");
    group.throughput(Throughput::Elements(1000));
    group.bench_function("1000 new one-span traces", |b| {
        b.iter_batched(
            || {
                first += 1000;
                request(first, 1000, 1)
            },
            |req| black_box(sampler.ingest(req, now)),
            BatchSize::SmallInput,
        )
    });
    group.finish();
}

criterion_group!(benches, per_policy, storm);
criterion_main!(benches);
