//! One hostmetrics round on this machine's real `/proc` and `/sys`: the host scrapers
//! (everything but `process`), and the `process` scraper over every process with 300 extra
//! idle children, as in `tests/bench/host_bench.sh`. The figure per round is the CPU cost
//! the agent pays every `collection_interval`. The `scraper/*` rounds run one scraper
//! each, so a change to one file's parser shows in its own figure.

use std::process::{Child, Command, Stdio};

use criterion::{criterion_group, criterion_main, Criterion};
use sentinel_agent::receivers::hostmetrics::{Collector, HostMetricsConfig};
use sentinel_pipeline::SelfMetrics;
use serde_json::json;

fn collector(scrapers: serde_json::Value) -> Collector {
    let config: HostMetricsConfig =
        serde_json::from_value(json!({ "scrapers": scrapers })).expect("valid config");
    Collector::build(&config, &SelfMetrics::new(), "hostmetrics/bench").expect("collector")
}

fn idle_children(count: usize) -> Vec<Child> {
    (0..count)
        .map(|_| {
            Command::new("sleep")
                .arg("600")
                .stdin(Stdio::null())
                .spawn()
                .expect("spawn sleep")
        })
        .collect()
}

fn process_count() -> usize {
    std::fs::read_dir("/proc")
        .map(|d| {
            d.filter_map(Result::ok)
                .filter(|e| e.file_name().to_string_lossy().parse::<u32>().is_ok())
                .count()
        })
        .unwrap_or(0)
}

fn hostmetrics(c: &mut Criterion) {
    let mut host = collector(json!({
        "cpu": { "metrics": { "system.cpu.utilization": { "enabled": true } } },
        "memory": null, "disk": null, "filesystem": null, "network": null, "load": null,
        "paging": null, "processes": null, "system": null, "container": null
    }));
    let mut children = idle_children(300);
    let mut process = collector(json!({
        "process": { "metrics": {
            "process.cpu.utilization": { "enabled": true },
            "process.threads": { "enabled": true },
            "process.open_file_descriptors": { "enabled": true }
        } }
    }));
    eprintln!("processes on the machine: {}", process_count());
    let mut group = c.benchmark_group("hostmetrics");
    group.sample_size(30);
    group.bench_function("host_scrapers_round", |b| {
        b.iter(|| host.collect().expect("scrape"))
    });
    group.bench_function("process_scraper_round", |b| {
        b.iter(|| process.collect().expect("scrape"))
    });
    group.finish();
    // One scraper per collector: read + parse + encode of its files.
    let mut single = c.benchmark_group("scraper");
    single.sample_size(50);
    for (name, scraper) in [
        (
            "cpu",
            json!({ "cpu": { "metrics": { "system.cpu.utilization": { "enabled": true } } } }),
        ),
        ("memory", json!({ "memory": null })),
        ("disk", json!({ "disk": null })),
        ("network", json!({ "network": null })),
        ("load", json!({ "load": null })),
        ("paging", json!({ "paging": null })),
        ("processes", json!({ "processes": null })),
    ] {
        let mut one = collector(scraper);
        single.bench_function(name, |b| b.iter(|| one.collect().expect("scrape")));
    }
    single.finish();
    for child in &mut children {
        let _ = child.kill();
        let _ = child.wait();
    }
}

criterion_group!(benches, hostmetrics);
criterion_main!(benches);
