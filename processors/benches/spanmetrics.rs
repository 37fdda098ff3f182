//! The spanmetrics connector: ns per span into known series (explicit and exponential
//! histograms, with and without extra dimensions), ns per span that creates a series, and
//! the live heap bytes per series, measured with a counting allocator and printed before
//! the timings.

use std::alloc::{GlobalAlloc, Layout, System};
use std::hint::black_box;
use std::sync::atomic::{AtomicIsize, Ordering};
use std::sync::Arc;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use sentinel_pipeline::otlp::collector::trace::v1::ExportTraceServiceRequest;
use sentinel_pipeline::otlp::common::v1::{any_value, AnyValue, KeyValue};
use sentinel_pipeline::otlp::resource::v1::Resource;
use sentinel_pipeline::otlp::trace::v1::{ResourceSpans, ScopeSpans, Span};
use sentinel_pipeline::testing::{sinks_for, snippet};
use sentinel_pipeline::{
    BuildContext, Connector, ConnectorFactory, Message, Output, Outputs, Payload, SelfMetrics,
    Signal,
};
use sentinel_processors::spanmetrics::SpanMetricsFactory;
use tokio_util::sync::CancellationToken;

/// Counts live heap bytes, to measure what each series keeps.
struct Counting;

static LIVE: AtomicIsize = AtomicIsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size() as isize, Ordering::Relaxed);
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size() as isize, Ordering::Relaxed);
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LIVE.fetch_add(
            new_size as isize - layout.size() as isize,
            Ordering::Relaxed,
        );
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

const SPANS: usize = 100;
/// No flush during a run: only the aggregation is measured.
const NO_FLUSH: &str = "metrics_flush_interval: 24h\ndimensions_cache_size: 10000000\n";

fn build(extra: &str) -> (Arc<dyn Connector>, Outputs) {
    let ctx = BuildContext {
        id: "spanmetrics".to_string(),
        metrics: SelfMetrics::new(),
        shutdown: CancellationToken::new(),
        data_dir: std::env::temp_dir(),
    };
    let connector = SpanMetricsFactory
        .build(&snippet(&format!("{NO_FLUSH}{extra}")), ctx)
        .expect("config builds");
    let (_sinks, outputs) = sinks_for(&[Signal::Metrics], false);
    (connector, outputs)
}

fn string(key: &str, value: &str) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(AnyValue {
            value: Some(any_value::Value::StringValue(value.into())),
        }),
        ..Default::default()
    }
}

/// `SPANS` spans named `name(i)`, durations 0.1 ms to 10 s, with http attributes.
fn request(name: impl Fn(usize) -> String) -> Payload {
    let spans = (0..SPANS)
        .map(|i| Span {
            trace_id: vec![1; 16],
            span_id: vec![2; 8],
            name: name(i),
            kind: 2,
            start_time_unix_nano: 1_000,
            end_time_unix_nano: 1_000 + 100_000 * 1.1f64.powi(i as i32) as u64,
            attributes: vec![
                string(
                    "http.request.method",
                    if i % 3 == 0 { "POST" } else { "GET" },
                ),
                string("http.route", "/api/orders/{id}"),
            ],
            ..Default::default()
        })
        .collect();
    Payload::Traces(ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: Some(Resource {
                attributes: vec![
                    string("service.name", "checkout"),
                    string("host.name", "web-1"),
                ],
                ..Default::default()
            }),
            scope_spans: vec![ScopeSpans {
                spans,
                ..Default::default()
            }],
            ..Default::default()
        }],
    })
}

fn consume(connector: &Arc<dyn Connector>, outputs: &Outputs, payload: Payload) {
    connector
        .consume(Message::unacked(payload), outputs)
        .expect("no flush, no refusal");
}

const CONFIGS: [(&str, &str); 3] = [
    ("explicit", ""),
    ("exponential", "histogram: {exponential: {max_size: 160}}\n"),
    (
        "explicit + 2 dimensions",
        "dimensions: [{name: http.request.method}, {name: http.route}]\n",
    ),
];

fn per_span(c: &mut Criterion) {
    for (label, extra) in CONFIGS {
        let mut group =
            c.benchmark_group(format!("spanmetrics {label}, {SPANS} spans per request"));
        group.throughput(Throughput::Elements(SPANS as u64));
        let (connector, outputs) = build(extra);
        // Ten operations: every span lands in a series that already exists.
        let known = request(|i| format!("GET /api/{}", i % 10));
        consume(&connector, &outputs, known.clone());
        // What freeing the request costs, part of every measurement below.
        group.bench_function("baseline: drop the request", |b| {
            b.iter_batched(
                || Message::unacked(known.clone()),
                drop,
                BatchSize::SmallInput,
            )
        });
        group.bench_function("known series", |b| {
            b.iter_batched(
                || known.clone(),
                |p| consume(&connector, &outputs, black_box(p)),
                BatchSize::SmallInput,
            )
        });
        let (connector, outputs) = build(extra);
        let mut round = 0u64;
        group.bench_function("new series", |b| {
            b.iter_batched(
                || {
                    round += 1;
                    request(|i| format!("op-{round}-{i}"))
                },
                |p| consume(&connector, &outputs, black_box(p)),
                BatchSize::SmallInput,
            )
        });
        group.finish();
    }
}

/// Live heap bytes per series once 10,000 series exist (request data freed first).
fn bytes_per_series() {
    const SERIES: usize = 10_000;
    for (label, extra) in CONFIGS {
        let (connector, outputs) = build(extra);
        let mut kept = 0isize;
        for r in 0..SERIES / SPANS {
            let before = LIVE.load(Ordering::Relaxed);
            let payload = request(move |i| format!("op-{r}-{i}"));
            consume(&connector, &outputs, payload);
            // `consume` dropped the request: what remains is what the series keep.
            kept += LIVE.load(Ordering::Relaxed) - before;
        }
        println!(
            "spanmetrics {label}: {} bytes per series ({SERIES} series, live heap)",
            kept / SERIES as isize
        );
        black_box(connector);
    }
}

/// One flush of 1,000 cumulative series (what a timer tick does, plus the copy kept in
/// case the metrics are refused), handed to a downstream that takes everything.
fn flush(c: &mut Criterion) {
    const SERIES: usize = 1_000;
    let ctx = BuildContext {
        id: "spanmetrics".to_string(),
        metrics: SelfMetrics::new(),
        shutdown: CancellationToken::new(),
        data_dir: std::env::temp_dir(),
    };
    let connector = SpanMetricsFactory
        .build(&snippet("metrics_flush_interval: 0s"), ctx)
        .expect("config builds");
    let outputs: Outputs = [(Signal::Metrics, Output::default())].into_iter().collect();
    for r in 0..SERIES / SPANS {
        consume(
            &connector,
            &outputs,
            request(move |i| format!("op-{r}-{i}")),
        );
    }
    let one_span = match request(|_| "op-0-0".to_string()) {
        Payload::Traces(mut t) => {
            t.resource_spans[0].scope_spans[0].spans.truncate(1);
            Payload::Traces(t)
        }
        _ => unreachable!(),
    };
    let mut group = c.benchmark_group("spanmetrics flush");
    group.throughput(Throughput::Elements(SERIES as u64));
    group.bench_function(format!("{SERIES} series"), |b| {
        b.iter_batched(
            || one_span.clone(),
            |p| consume(&connector, &outputs, black_box(p)),
            BatchSize::SmallInput,
        )
    });
    group.finish();
}

fn memory(_c: &mut Criterion) {
    bytes_per_series();
}

criterion_group!(benches, memory, per_span, flush);
criterion_main!(benches);
