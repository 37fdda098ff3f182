//! The anomaly detector: ns per point for one series (the detector alone, and through the
//! connector with 100 points per request), and the heap bytes each series costs the
//! connector's store, measured with a counting allocator over 10,000 series (printed
//! before the timings).

use std::alloc::{GlobalAlloc, Layout, System};
use std::hint::black_box;
use std::sync::atomic::{AtomicIsize, Ordering};

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use sentinel_pipeline::otlp::collector::metrics::v1::ExportMetricsServiceRequest;
use sentinel_pipeline::otlp::common::v1::{any_value, AnyValue, KeyValue};
use sentinel_pipeline::otlp::metrics::v1::{
    metric, number_data_point, Gauge, Metric, NumberDataPoint, ResourceMetrics, ScopeMetrics,
};
use sentinel_pipeline::testing::snippet;
use sentinel_pipeline::{
    BuildContext, ConnectorFactory, Consumer, Fanout, Message, Output, Outputs, Payload, Refusal,
    SelfMetrics, Signal,
};
use sentinel_processors::anomaly::store::Store;
use sentinel_processors::anomaly::{AnomalyFactory, Detector, DetectorConfig, SeriesState};
use tokio_util::sync::CancellationToken;

/// Counts live heap bytes, to measure what a series costs.
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
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

fn value(i: usize) -> f64 {
    20.0 + (i as f64 * 0.7).sin() + ((i * 7919) % 13) as f64 * 0.1
}

/// Heap bytes per series of the connector's store, keys like a host metric's.
fn bytes_per_series() {
    const SERIES: usize = 10_000;
    let keys: Vec<String> = (0..SERIES)
        .map(|i| format!("system.network.io{{host.name=web-{i:05}|device=eth0,direction=receive}}"))
        .collect();
    let before = LIVE.load(Ordering::Relaxed);
    let mut store = Store::new(SERIES);
    let detector = Detector::new(DetectorConfig::default());
    for key in &keys {
        let (series, _) = store.touch(key);
        detector.step(&mut series.state, 1.0);
    }
    let after = LIVE.load(Ordering::Relaxed);
    let per = (after - before) as f64 / SERIES as f64;
    println!(
        "anomaly store: {per:.0} heap bytes per series over {SERIES} series \
         (detector state {} bytes, key {} bytes, the rest map and LRU entries)",
        std::mem::size_of::<SeriesState>(),
        keys[0].len()
    );
    black_box(store);
}

fn detector(c: &mut Criterion) {
    bytes_per_series();
    let mut group = c.benchmark_group("anomaly detector");
    group.throughput(Throughput::Elements(1));
    let d = Detector::new(DetectorConfig::default());
    let mut state = SeriesState::default();
    let mut i = 0usize;
    group.bench_function("step (one point)", |b| {
        b.iter(|| {
            i += 1;
            black_box(d.step(&mut state, black_box(value(i))))
        })
    });
    group.finish();
}

fn request(from: usize, points: usize) -> Payload {
    let attributes = vec![KeyValue {
        key: "cpu".into(),
        value: Some(AnyValue {
            value: Some(any_value::Value::StringValue("cpu0".into())),
        }),
        ..Default::default()
    }];
    let metrics = (0..points)
        .map(|k| Metric {
            name: "system.cpu.utilization".into(),
            data: Some(metric::Data::Gauge(Gauge {
                data_points: vec![NumberDataPoint {
                    attributes: attributes.clone(),
                    time_unix_nano: (from + k) as u64,
                    value: Some(number_data_point::Value::AsDouble(value(from + k))),
                    ..Default::default()
                }],
            })),
            ..Default::default()
        })
        .collect();
    Payload::Metrics(ExportMetricsServiceRequest {
        resource_metrics: vec![ResourceMetrics {
            scope_metrics: vec![ScopeMetrics {
                metrics,
                ..Default::default()
            }],
            ..Default::default()
        }],
    })
}

/// A downstream pipeline that takes everything and keeps nothing.
struct Discard;

impl Consumer for Discard {
    fn consume(&self, msg: Message) -> Result<(), Refusal> {
        black_box(msg);
        Ok(())
    }
}

fn discarding_outputs() -> Outputs {
    [Signal::Metrics, Signal::Logs]
        .into_iter()
        .map(|signal| {
            let output = Output {
                fanout: Fanout::new(vec![std::sync::Arc::new(Discard)]),
                budgets: Vec::new(),
            };
            (signal, output)
        })
        .collect()
}

fn connector(c: &mut Criterion) {
    const POINTS: usize = 100;
    let ctx = BuildContext {
        id: "anomaly".into(),
        metrics: SelfMetrics::new(),
        shutdown: CancellationToken::new(),
        data_dir: sentinel_pipeline::testing::scratch_dir("anomaly"),
    };
    let connector = AnomalyFactory.build(&snippet(""), ctx).expect("builds");
    let outputs = discarding_outputs();
    let mut group = c.benchmark_group(format!("anomaly connector, {POINTS} points per request"));
    group.throughput(Throughput::Elements(POINTS as u64));
    let mut from = 0;
    group.bench_function("score and emit", |b| {
        b.iter_batched(
            || {
                from += POINTS;
                Message::unacked(request(from, POINTS))
            },
            |msg| connector.consume(msg, &outputs).expect("accepted"),
            BatchSize::SmallInput,
        )
    });
    group.finish();
}

criterion_group!(benches, detector, connector);
criterion_main!(benches);
