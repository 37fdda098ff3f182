//! The dedup processor: ns per span, data point and log record on the paths that matter
//! (a new identity, a duplicate), and the seen-set's bytes per key and measured
//! false-positive rate at 1M and 10M keys (printed before the timings).

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use sentinel_pipeline::testing::{sample, snippet};
use sentinel_pipeline::{BuildContext, Message, Processor, ProcessorFactory, SelfMetrics, Signal};
use sentinel_processors::dedup::seen::measure_false_positives;
use sentinel_processors::dedup::DedupFactory;
use tokio_util::sync::CancellationToken;

const ITEMS: usize = 100;

fn build(signal: Signal) -> Box<dyn Processor> {
    let ctx = BuildContext {
        id: "dedup".to_string(),
        metrics: SelfMetrics::new(),
        shutdown: CancellationToken::new(),
        data_dir: std::env::temp_dir(),
    };
    DedupFactory
        .build(&snippet(""), signal, ctx)
        .expect("default config builds")
        .stage
}

fn per_item(c: &mut Criterion) {
    for signal in Signal::ALL {
        let mut group = c.benchmark_group(format!("dedup {signal}, {ITEMS} per request"));
        group.throughput(Throughput::Elements(ITEMS as u64));
        let mut dedup = build(signal);
        let mut seed = 1u64;
        group.bench_function("new identities", |b| {
            b.iter_batched(
                || {
                    seed += 1;
                    Message::unacked(sample(signal, ITEMS, seed))
                },
                |msg| {
                    let mut out = Vec::new();
                    dedup.process(msg, &mut out);
                    black_box(out)
                },
                BatchSize::SmallInput,
            )
        });
        let mut dedup = build(signal);
        let repeated = sample(signal, ITEMS, 0);
        dedup.process(Message::unacked(repeated.clone()), &mut Vec::new());
        group.bench_function("duplicates", |b| {
            b.iter_batched(
                || Message::unacked(repeated.clone()),
                |msg| {
                    let mut out = Vec::new();
                    dedup.process(msg, &mut out);
                    black_box(out)
                },
                BatchSize::SmallInput,
            )
        });
        group.finish();
    }
}

fn false_positives(_c: &mut Criterion) {
    for keys in [1_000_000, 10_000_000] {
        let measured = measure_false_positives(keys, 1e-6);
        println!(
            "seen-set at false_positive_rate 1e-6, {keys} keys filling both generations: \
             {:.2e} while filling, {:.2e} when full, {:.2} bytes per guaranteed key, {} bytes",
            measured.while_filling,
            measured.when_full,
            measured.bytes_per_key,
            measured.memory_bytes
        );
    }
}

criterion_group!(benches, false_positives, per_item);
criterion_main!(benches);
