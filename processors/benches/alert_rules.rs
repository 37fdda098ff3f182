//! Rule evaluation cost per rule per 1,000 series (one group evaluation, alert state
//! machine included, in steady state) and the window's memory per 10,000 series at the
//! default lookback (5 minutes of 15 s samples), printed once.

use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion};
use sentinel_pipeline::config::{decode, parse_yaml};
use sentinel_processors::alert_rules::engine::{Labels, Window, WindowLimits};
use sentinel_processors::alert_rules::group::{EvalSettings, GroupRuntime};
use sentinel_processors::alert_rules::rules::{compile, RuleFileSpec};

const STEP_MS: i64 = 15_000;
const SAMPLES: i64 = 20;

fn window(series: usize) -> Window {
    let mut window = Window::new(WindowLimits {
        lookback: Duration::from_secs(300),
        max_series: 1_000_000,
        max_samples: 100_000_000,
        range_needed: Duration::from_secs(300),
    });
    for i in 0..series {
        let labels = |name: &str| -> Labels {
            [
                ("__name__", name.to_string()),
                ("job", format!("job{}", i % 10)),
                ("instance", format!("host{i}")),
            ]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect()
        };
        let (counter, gauge) = (labels("demo_requests_total"), labels("demo_load"));
        for s in 0..SAMPLES {
            let t = s * STEP_MS;
            window.append(&counter, t, (s * (i as i64 % 20)) as f64 * 15.0);
            window.append(&gauge, t, ((i + s as usize) % 100) as f64);
        }
    }
    window
}

fn group(expr: &str) -> GroupRuntime {
    let yaml = format!("groups: [{{name: g, rules: [{{alert: A, expr: '{expr}', for: 1m, annotations: {{summary: '{{{{ $labels.instance }}}} at {{{{ $value | humanize }}}}'}}}}]}}]");
    let node = parse_yaml("bench.yaml", &yaml).unwrap().unwrap();
    let spec: RuleFileSpec = decode(&node).unwrap();
    let groups = compile(&spec.groups, node.get("groups"), "bench.yaml", None).unwrap();
    GroupRuntime::new(groups.into_iter().next().unwrap(), Duration::from_secs(15))
}

fn evaluation(c: &mut Criterion) {
    let mut window = window(1_000);
    let external = Labels::new();
    let settings = EvalSettings {
        external_labels: &external,
        resend_delay: Duration::from_secs(60),
    };
    let at = (SAMPLES - 1) * STEP_MS;
    let mut bench = c.benchmark_group("alert_rules_1000_series");
    for (name, expr) in [
        ("threshold", "demo_load > 50"),
        ("rate", "rate(demo_requests_total[5m]) > 100"),
        ("avg_over_time", "avg_over_time(demo_load[5m]) > 50"),
        (
            "sum_by_rate",
            "sum by (job) (rate(demo_requests_total[5m])) > 1000",
        ),
        (
            "ratio_on",
            "demo_load / on (job, instance) rate(demo_requests_total[5m]) > 1",
        ),
    ] {
        let mut g = group(expr);
        g.eval(&mut window, at, &settings);
        bench.bench_function(name, |b| b.iter(|| g.eval(&mut window, at, &settings)));
    }
    bench.finish();
    let big = self::window(10_000);
    eprintln!(
        "alert_rules window: 20000 series (10000 counters + 10000 gauges) x {SAMPLES} samples = {} bytes, {:.0} bytes per series",
        big.memory_bytes(),
        big.memory_bytes() as f64 / 20_000.0
    );
}

criterion_group!(benches, evaluation);
criterion_main!(benches);
