//! The alert-rule PromQL engine: evaluation cost of typical rules over 1,000 series, and
//! the heap bytes of the series store for 10,000 series at the default 5 m lookback with
//! 15 s sample spacing, measured with a counting allocator (printed before the timings)
//! and compared with the store's own `memory_bytes` accounting.

use std::alloc::{GlobalAlloc, Layout, System};
use std::hint::black_box;
use std::sync::atomic::{AtomicIsize, Ordering};
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use sentinel_processors::alert_rules::promql::{evaluate, parse, Labels, SeriesStore, StoreLimits};

/// Counts live heap bytes.
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

const STEP_MS: i64 = 15_000;
const NOW_MS: i64 = 1_700_000_000_000;

/// `series` series named `name` with realistic labels, one sample every 15 s over
/// `window`, ending at NOW_MS; `le` buckets when `buckets` > 0.
fn fill(store: &mut SeriesStore, name: &str, series: usize, buckets: usize, window: Duration) {
    let samples = (window.as_millis() as i64 / STEP_MS) + 1;
    let les = [
        "0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1", "2.5", "+Inf",
    ];
    let groups = series.checked_div(buckets).unwrap_or(series);
    for s in 0..groups {
        let base = Labels::from_pairs([
            ("__name__", name.to_string()),
            ("job", format!("service-{}", s % 10)),
            ("instance", format!("10.0.{}.{}:9100", s / 250, s % 250)),
            ("http_route", format!("/api/v1/resource/{}", s % 37)),
        ]);
        let variants: Vec<Labels> = if buckets > 0 {
            les[..buckets]
                .iter()
                .map(|le| base.clone().with("le", *le))
                .collect()
        } else {
            vec![base]
        };
        for (b, labels) in variants.into_iter().enumerate() {
            for i in 0..samples {
                let t = NOW_MS - (samples - 1 - i) * STEP_MS;
                let value = (i * (b as i64 + 1) * 7 + s as i64) as f64;
                store
                    .append(labels.clone(), t, value)
                    .expect("within limits");
            }
        }
    }
}

fn memory() {
    for (label, range_needed) in [
        ("lookback only", Duration::ZERO),
        ("5m range rules", Duration::from_secs(300)),
    ] {
        let before = LIVE.load(Ordering::Relaxed);
        let limits = StoreLimits {
            max_series: 20_000,
            max_samples: 1_000_000,
            ..StoreLimits::default()
        };
        let mut store = SeriesStore::new(limits, range_needed);
        let window = store.window();
        fill(&mut store, "http_server_requests_total", 10_000, 0, window);
        let live = LIVE.load(Ordering::Relaxed) - before;
        println!(
            "promql store, 10k series, {label} (window {:?}, {} samples): {} bytes live \
             ({:.0} B/series, {:.1} B/sample); memory_bytes() says {}",
            store.window(),
            store.sample_count(),
            live,
            live as f64 / 10_000.0,
            live as f64 / store.sample_count() as f64,
            store.memory_bytes()
        );
        drop(store);
    }
}

fn rules(c: &mut Criterion) {
    memory();
    let window = Duration::from_secs(600);
    let mut store = SeriesStore::new(StoreLimits::default(), Duration::from_secs(300));
    fill(&mut store, "http_requests_total", 1_000, 0, window);
    fill(&mut store, "http_duration_bucket", 1_000, 10, window);
    fill(&mut store, "queue_fill", 1_000, 0, window);
    // Unrelated series the selectors must not touch.
    fill(
        &mut store,
        "other_metric",
        5_000,
        0,
        Duration::from_secs(60),
    );
    let mut group = c.benchmark_group("promql rule over 1,000 series");
    group.throughput(Throughput::Elements(1_000));
    for expr in [
        "queue_fill > 5000",
        "rate(http_requests_total[5m])",
        "sum by (job) (queue_fill)",
        "sum by (job) (rate(http_requests_total[5m])) > 10",
        "histogram_quantile(0.99, sum by (le) (rate(http_duration_bucket[5m])))",
        "queue_fill / on (job) group_left sum by (job) (queue_fill) > 0.01",
    ] {
        let parsed = parse(expr).expect("parses");
        group.bench_function(expr, |b| {
            b.iter(|| black_box(evaluate(&parsed, &store, NOW_MS).expect("evaluates")))
        });
    }
    group.finish();
}

criterion_group!(benches, rules);
criterion_main!(benches);
