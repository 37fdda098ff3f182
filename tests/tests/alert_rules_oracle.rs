//! The `alert_rules` connector against a real Prometheus (Debian's `prometheus` package,
//! installed by tests/run-all.sh) as the oracle. One rule file (tests/data/
//! alert_rules_oracle.yaml, 20 rules over the supported functions) is loaded by both: the
//! real OpenTelemetry SDK sends a scripted metric sequence over OTLP/gRPC into Sentinel,
//! whose pipeline feeds the connector (→ file exporter) and the `prometheus` exporter that
//! Prometheus scrapes every second. For every rule, Sentinel's pending, firing and
//! resolved transitions must match Prometheus's `ALERTS` series (range query), with the
//! same label sets, within two evaluation intervals plus the scrape interval: the two
//! evaluate on their own 2 s grids (different phases, up to one interval apart) and the
//! data reaches Prometheus up to one scrape later than Sentinel. The largest difference
//! seen is printed.
//!
//! Also: the `for` state survives a restart (a 12 s `for`, restart after about 8 s: the
//! alert fires about 4 s after the restart, not 12 s).

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use opentelemetry::metrics::MeterProvider;
use opentelemetry::KeyValue;
use opentelemetry_otlp::WithExportConfig;
use opentelemetry_sdk::metrics::SdkMeterProvider;
use opentelemetry_sdk::Resource;
use sentinel_tests::services::{self, ServerProcess};
use sentinel_tests::{eventually, free_port, http_get, read_json_lines, workspace_root, Agent};
use serde_json::Value;

const EVAL_S: f64 = 2.0;
const SCRAPE_S: f64 = 1.0;
/// Steps of one second: quiet, 30 s of trouble, quiet again.
const STEPS: usize = 70;
const TROUBLE: std::ops::Range<usize> = 12..42;
/// Sensor s2 stops reporting in this range.
const SILENT: std::ops::Range<usize> = 20..34;

fn now_s() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

fn start_prometheus(dir: &Path, target: u16, rules: &Path) -> ServerProcess {
    let config = format!(
        "global: {{scrape_interval: 1s, scrape_timeout: 900ms, evaluation_interval: 2s}}\nrule_files: ['{}']\nscrape_configs:\n  - job_name: sentinel\n    honor_labels: true\n    static_configs: [{{targets: ['127.0.0.1:{target}']}}]\n",
        rules.display()
    );
    services::start_prometheus(dir, &config, &dir.join("tsdb"), &[])
}

fn provider(grpc: u16) -> SdkMeterProvider {
    let exporter = opentelemetry_otlp::MetricExporter::builder()
        .with_tonic()
        .with_endpoint(format!("http://127.0.0.1:{grpc}"))
        .with_timeout(Duration::from_millis(500))
        .build()
        .unwrap();
    let resource = Resource::builder()
        .with_service_name("oracle")
        .with_attribute(KeyValue::new("service.instance.id", "i1"))
        .build();
    SdkMeterProvider::builder()
        .with_resource(resource)
        .with_periodic_exporter(exporter)
        .build()
}

/// Sends the scripted sequence, one collection per second.
fn send_script(grpc: u16) {
    let provider = provider(grpc);
    let meter = provider.meter("alert-oracle");
    let step = Arc::new(AtomicUsize::new(0));
    let trouble = |i: usize| TROUBLE.contains(&i);
    let s = step.clone();
    let _load = meter
        .f64_observable_gauge("demo.load")
        .with_callback(move |o| {
            let i = s.load(Ordering::Relaxed);
            o.observe(
                if trouble(i) { 90.0 } else { 10.0 },
                &[KeyValue::new("host", "a")],
            );
            o.observe(10.0, &[KeyValue::new("host", "b")]);
        })
        .build();
    let s = step.clone();
    let _queue = meter
        .f64_observable_gauge("demo.queue")
        .with_callback(move |o| {
            let i = s.load(Ordering::Relaxed);
            let v = if trouble(i) {
                (i - TROUBLE.start) as f64 * 10.0
            } else {
                0.0
            };
            o.observe(v, &[]);
        })
        .build();
    let s = step.clone();
    let _temp = meter
        .f64_observable_gauge("demo.temp")
        .with_callback(move |o| {
            let i = s.load(Ordering::Relaxed);
            o.observe(21.0, &[KeyValue::new("sensor", "s1")]);
            if !SILENT.contains(&i) {
                o.observe(22.0, &[KeyValue::new("sensor", "s2")]);
            }
        })
        .build();
    let requests = meter.u64_counter("demo.requests").build();
    let latency = meter
        .f64_histogram("demo.latency")
        .with_boundaries(vec![10.0, 50.0, 100.0, 250.0, 500.0, 1000.0])
        .build();
    let started = Instant::now();
    for i in 0..STEPS {
        step.store(i, Ordering::Relaxed);
        let errors = if trouble(i) { 20 } else { 1 };
        requests.add(
            errors,
            &[KeyValue::new("host", "a"), KeyValue::new("code", "500")],
        );
        requests.add(
            10,
            &[KeyValue::new("host", "a"), KeyValue::new("code", "200")],
        );
        for _ in 0..5 {
            latency.record(if trouble(i) { 800.0 } else { 20.0 }, &[]);
        }
        let _ = provider.force_flush();
        let next = started + Duration::from_secs(i as u64 + 1);
        std::thread::sleep(next.saturating_duration_since(Instant::now()));
    }
    let _ = provider.shutdown();
}

/// One alert's transitions: the first pending, the first firing, the first resolved
/// (after firing) times in seconds, and its label set.
#[derive(Debug, Default, Clone)]
struct Seen {
    pending: Option<f64>,
    firing: Option<f64>,
    resolved: Option<f64>,
    labels: BTreeSet<BTreeMap<String, String>>,
}

fn kvlist(value: &Value) -> BTreeMap<String, String> {
    value["kvlistValue"]["values"]
        .as_array()
        .map(|kvs| {
            kvs.iter()
                .map(|kv| {
                    (
                        kv["key"].as_str().unwrap_or_default().to_string(),
                        kv["value"]["stringValue"]
                            .as_str()
                            .unwrap_or_default()
                            .to_string(),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

fn attr<'a>(record: &'a Value, key: &str) -> &'a Value {
    record["attributes"]
        .as_array()
        .and_then(|a| a.iter().find(|kv| kv["key"] == key))
        .map_or(&Value::Null, |kv| &kv["value"])
}

/// The `sentinel.alert` records the file exporter wrote.
fn records(path: &Path) -> Vec<Value> {
    read_json_lines(path)
        .iter()
        .flat_map(|l| l["resourceLogs"].as_array().cloned().unwrap_or_default())
        .flat_map(|r| r["scopeLogs"].as_array().cloned().unwrap_or_default())
        .flat_map(|s| s["logRecords"].as_array().cloned().unwrap_or_default())
        .filter(|r| r["eventName"] == "sentinel.alert")
        .collect()
}

fn ours(path: &Path) -> BTreeMap<String, Seen> {
    let mut out: BTreeMap<String, Seen> = BTreeMap::new();
    for record in records(path) {
        let name = attr(&record, "alertname")["stringValue"]
            .as_str()
            .unwrap()
            .to_string();
        let state = attr(&record, "state")["stringValue"]
            .as_str()
            .unwrap()
            .to_string();
        let t = record["timeUnixNano"].as_str().map_or_else(
            || record["timeUnixNano"].as_f64().unwrap_or(0.0),
            |s| s.parse::<f64>().unwrap(),
        ) / 1e9;
        let seen = out.entry(name).or_default();
        let mut labels = kvlist(attr(&record, "labels"));
        labels.remove("alertname");
        seen.labels.insert(labels);
        match state.as_str() {
            "pending" => {
                seen.pending.get_or_insert(t);
            }
            "firing" => {
                seen.firing.get_or_insert(t);
            }
            "resolved" if seen.firing.is_some() => {
                seen.resolved.get_or_insert(t);
            }
            _ => {}
        }
    }
    out
}

fn url_encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Prometheus's `ALERTS` series over [start, end] at 1 s steps.
fn theirs(port: u16, start: f64, end: f64) -> BTreeMap<String, Seen> {
    let path = format!(
        "/api/v1/query_range?query={}&start={start:.3}&end={end:.3}&step=1",
        url_encode("ALERTS")
    );
    let (status, body) = http_get(port, &path).expect("query prometheus");
    assert_eq!(status, 200, "{body}");
    let json: Value = serde_json::from_str(&body).unwrap();
    let mut out: BTreeMap<String, Seen> = BTreeMap::new();
    for series in json["data"]["result"].as_array().unwrap() {
        let mut labels: BTreeMap<String, String> = series["metric"]
            .as_object()
            .unwrap()
            .iter()
            .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_string()))
            .collect();
        let name = labels.remove("alertname").unwrap();
        let state = labels.remove("alertstate").unwrap();
        labels.remove("__name__");
        let times: Vec<f64> = series["values"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v[0].as_f64().unwrap())
            .collect();
        let seen = out.entry(name).or_default();
        seen.labels.insert(labels);
        let (first, last) = (times[0], *times.last().unwrap());
        match state.as_str() {
            "pending" => seen.pending = Some(seen.pending.map_or(first, |p: f64| p.min(first))),
            _ => {
                seen.firing = Some(seen.firing.map_or(first, |f: f64| f.min(first)));
                // Gone after the last evaluation that returned it: resolved one
                // evaluation later (ranges step 1 s, so within a second of it).
                if last < end - 2.0 * EVAL_S {
                    seen.resolved = Some(last + EVAL_S);
                }
            }
        }
    }
    out
}

fn close(a: Option<f64>, b: Option<f64>, tolerance: f64) -> bool {
    match (a, b) {
        (Some(a), Some(b)) => (a - b).abs() <= tolerance,
        (None, None) => true,
        _ => false,
    }
}

fn sentinel_config(
    grpc: u16,
    admin: u16,
    exporter: u16,
    rules: &Path,
    alerts: &Path,
    data: &Path,
) -> String {
    format!(
        "receivers:
  otlp:
    protocols:
      grpc:
        endpoint: 127.0.0.1:{grpc}
connectors:
  alert_rules:
    rule_files: ['{rules}']
    evaluation_interval: 2s
exporters:
  prometheus:
    endpoint: 127.0.0.1:{exporter}
    metric_expiration: 1500ms
  file/alerts:
    path: {alerts}
service:
  data_dir: {data}
  telemetry:
    metrics:
      address: 127.0.0.1:{admin}
  pipelines:
    metrics:
      receivers: [otlp]
      exporters: [prometheus, alert_rules]
    logs:
      receivers: [alert_rules]
      exporters: [file/alerts]
",
        rules = rules.display(),
        alerts = alerts.display(),
        data = data.display(),
    )
}

#[test]
fn transitions_match_prometheus_alerts() {
    services::require_binary("prometheus");
    let dir = tempfile::tempdir().unwrap();
    let rules = workspace_root().join("tests/data/alert_rules_oracle.yaml");
    let (grpc, admin, exporter) = (free_port(), free_port(), free_port());
    let alerts = dir.path().join("alerts.jsonl");
    let config = sentinel_config(
        grpc,
        admin,
        exporter,
        &rules,
        &alerts,
        &dir.path().join("data"),
    );
    let agent = Agent::start(dir.path(), "alert-oracle", &config, admin);
    let prometheus = start_prometheus(dir.path(), exporter, &rules);
    let port = prometheus.port;
    let start = now_s();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    {
        let _guard = runtime.enter();
        send_script(grpc);
    }
    // Let both resolve what the quiet tail cleared.
    std::thread::sleep(Duration::from_secs(8));
    let end = now_s();
    let ours = ours(&alerts);
    let theirs = theirs(port, start, end);
    drop(agent);
    let tolerance = 2.0 * EVAL_S + SCRAPE_S;
    let mut largest: f64 = 0.0;
    let names: BTreeSet<&String> = ours.keys().chain(theirs.keys()).collect();
    let mut problems = Vec::new();
    for name in &names {
        let (a, b) = (
            ours.get(*name).cloned().unwrap_or_default(),
            theirs.get(*name).cloned().unwrap_or_default(),
        );
        // Absence is seen later by Prometheus: the exporter keeps a series for
        // metric_expiration (1.5 s) after its last point.
        let slack = if name.as_str() == "SensorMissing" {
            1.5
        } else {
            0.0
        };
        let checks = [
            ("pending", a.pending, b.pending),
            ("firing", a.firing, b.firing),
            ("resolved", a.resolved, b.resolved),
        ];
        for (what, x, y) in checks {
            if let (Some(x), Some(y)) = (x, y) {
                largest = largest.max((x - y).abs());
            }
            if !close(x, y, tolerance + slack) {
                problems.push(format!(
                    "{name} {what}: sentinel {:?} prometheus {:?} (start {start:.1})",
                    x.map(|t| t - start),
                    y.map(|t| t - start)
                ));
            }
        }
        if a.labels != b.labels {
            problems.push(format!(
                "{name} labels: sentinel {:?} prometheus {:?}",
                a.labels, b.labels
            ));
        }
    }
    println!(
        "{} rules compared; largest difference {largest:.2} s",
        names.len()
    );
    assert!(
        names.len() >= 15,
        "only {} rules fired: {names:?}",
        names.len()
    );
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn for_state_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let rules = dir.path().join("rules.yaml");
    std::fs::write(
        &rules,
        "groups:\n  - name: restart\n    interval: 1s\n    rules:\n      - alert: SlowBurn\n        expr: demo_load > 50\n        for: 12s\n",
    )
    .unwrap();
    let (grpc, admin, exporter) = (free_port(), free_port(), free_port());
    let alerts = dir.path().join("alerts.jsonl");
    let config = sentinel_config(
        grpc,
        admin,
        exporter,
        &rules,
        &alerts,
        &dir.path().join("data"),
    );
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let sender = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Runtime::new().unwrap();
            let _guard = runtime.enter();
            let provider = provider(grpc);
            let meter = provider.meter("restart");
            let _load = meter
                .f64_observable_gauge("demo.load")
                .with_callback(|o| o.observe(90.0, &[]))
                .build();
            while !stop.load(Ordering::Relaxed) {
                let _ = provider.force_flush();
                std::thread::sleep(Duration::from_millis(500));
            }
            let _ = provider.shutdown();
        })
    };
    let agent = Agent::start(dir.path(), "restart-1", &config, admin);
    let pending = |path: &Path, state: &str| {
        records(path)
            .iter()
            .find(|r| attr(r, "state")["stringValue"] == state)
            .map(|r| r["timeUnixNano"].as_str().unwrap().parse::<f64>().unwrap() / 1e9)
    };
    assert!(
        eventually(Duration::from_secs(20), || pending(&alerts, "pending")
            .is_some()),
        "never pending"
    );
    let pending_at = pending(&alerts, "pending").unwrap();
    std::thread::sleep(Duration::from_secs_f64(
        (pending_at + 8.0 - now_s()).max(0.0),
    ));
    agent.terminate(Duration::from_secs(10));
    assert!(
        pending(&alerts, "firing").is_none(),
        "fired before the restart"
    );
    let restarted_at = now_s();
    let agent = Agent::start(dir.path(), "restart-2", &config, admin);
    let fired = eventually(Duration::from_secs(20), || {
        pending(&alerts, "firing").is_some()
    });
    stop.store(true, Ordering::Relaxed);
    sender.join().unwrap();
    drop(agent);
    assert!(fired, "never fired after the restart");
    let firing_at = pending(&alerts, "firing").unwrap();
    // `for` counted from the first pending evaluation, across the restart (the downtime
    // is added, as Prometheus's restore does): about 4 s after the restart, not 12 s.
    let after_restart = firing_at - restarted_at;
    assert!(
        (firing_at - pending_at) >= 12.0 && after_restart <= 8.0,
        "pending at {pending_at:.1}, restarted at {restarted_at:.1}, fired at {firing_at:.1} ({after_restart:.1} s after the restart)"
    );
}
