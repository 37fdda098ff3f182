//! Real SDK spans → the real agent's `spanmetrics` connector → the `prometheus` exporter,
//! scraped: exact call counts and histogram bucket counts, for cumulative and delta
//! temporality, across an agent restart, and the final flush at shutdown.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, SystemTime};

use opentelemetry::trace::{Span, SpanKind, Status, Tracer, TracerProvider};
use opentelemetry::KeyValue;
use opentelemetry_otlp::WithExportConfig;
use opentelemetry_sdk::Resource;
use sentinel_tests::{eventually, free_port, http_get, read_json_lines, Agent};

struct Ports {
    grpc: u16,
    prometheus: u16,
    admin: u16,
}

impl Ports {
    fn new() -> Ports {
        Ports {
            grpc: free_port(),
            prometheus: free_port(),
            admin: free_port(),
        }
    }
}

fn config(ports: &Ports, connector: &str, metrics_file: &Path) -> String {
    format!(
        r#"
receivers:
  otlp:
    protocols:
      grpc:
        endpoint: 127.0.0.1:{grpc}
connectors:
  spanmetrics:
{connector}
    histogram:
      explicit:
        buckets: [10ms, 100ms, 1s]
    dimensions:
      - name: http.route
exporters:
  prometheus:
    endpoint: 127.0.0.1:{prometheus}
  file:
    path: {file}
service:
  telemetry:
    metrics:
      address: 127.0.0.1:{admin}
  pipelines:
    traces:
      receivers: [otlp]
      exporters: [spanmetrics]
    metrics:
      receivers: [spanmetrics]
      exporters: [prometheus, file]
"#,
        grpc = ports.grpc,
        prometheus = ports.prometheus,
        admin = ports.admin,
        file = metrics_file.display(),
    )
}

/// One span to send: name, duration in ms, error status.
type Call = (&'static str, u64, bool);

/// Sends `calls` as server spans of service `checkout` with the real SDK over gRPC, with
/// exact start and end times so the durations are known.
fn send(grpc: u16, calls: &[Call]) {
    // tonic needs a runtime around the exporter.
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let _guard = runtime.enter();
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_tonic()
        .with_endpoint(format!("http://127.0.0.1:{grpc}"))
        .build()
        .unwrap();
    let provider = opentelemetry_sdk::trace::SdkTracerProvider::builder()
        .with_resource(Resource::builder().with_service_name("checkout").build())
        .with_simple_exporter(exporter)
        .build();
    let tracer = provider.tracer("spanmetrics-e2e");
    let start = SystemTime::now() - Duration::from_secs(60);
    for (name, ms, error) in calls {
        let mut span = tracer
            .span_builder(*name)
            .with_kind(SpanKind::Server)
            .with_start_time(start)
            .with_attributes([KeyValue::new("http.route", *name)])
            .start(&tracer);
        if *error {
            span.set_status(Status::error("payment declined"));
        }
        span.end_with_timestamp(start + Duration::from_millis(*ms));
    }
    provider.force_flush().unwrap();
    provider.shutdown().unwrap();
}

/// A series: metric name and labels.
type Series = (String, BTreeMap<String, String>);
/// Prometheus text → series → value.
type Scrape = BTreeMap<Series, f64>;

fn scrape(port: u16) -> Scrape {
    let Some((200, body)) = http_get(port, "/metrics") else {
        return Scrape::new();
    };
    body.lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .filter_map(parse_line)
        .collect()
}

fn parse_line(line: &str) -> Option<(Series, f64)> {
    let (series, value) = line.rsplit_once(' ')?;
    let value = value.parse().ok()?;
    let Some((name, rest)) = series.split_once('{') else {
        return Some(((series.to_string(), BTreeMap::new()), value));
    };
    let mut labels = BTreeMap::new();
    let mut rest = rest.strip_suffix('}')?;
    while let Some((key, after)) = rest.split_once("=\"") {
        let mut value = String::new();
        let mut chars = after.char_indices();
        let end = loop {
            match chars.next()? {
                (_, '\\') => value.push(chars.next()?.1),
                (i, '"') => break i,
                (_, c) => value.push(c),
            }
        };
        labels.insert(key.trim_start_matches(',').to_string(), value);
        rest = &after[end + 1..];
    }
    Some(((name.to_string(), labels), value))
}

/// The value of the series `name` whose labels include `labels`; there must be at most one.
fn value(scrape: &Scrape, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    let found: Vec<f64> = scrape
        .iter()
        .filter(|((n, l), _)| {
            n == name
                && labels
                    .iter()
                    .all(|(k, v)| l.get(*k).map(String::as_str) == Some(v))
        })
        .map(|(_, v)| *v)
        .collect();
    assert!(found.len() <= 1, "{name} {labels:?} matches {found:?}");
    found.first().copied()
}

fn route(name: &'static str, status: &'static str) -> Vec<(&'static str, &'static str)> {
    vec![
        ("job", "checkout"),
        ("service_name", "checkout"),
        ("span_name", name),
        ("span_kind", "SPAN_KIND_SERVER"),
        ("status_code", status),
        ("http_route", name),
    ]
}

const CALLS: &str = "traces_span_metrics_calls_total";
const BUCKET: &str = "traces_span_metrics_duration_bucket";

/// Checks calls, bucket counts, count and sum of one series.
fn assert_series(s: &Scrape, labels: &[(&str, &str)], buckets: [f64; 4], sum_ms: f64) {
    assert_eq!(value(s, CALLS, labels), Some(buckets[3]), "{labels:?}");
    for (le, expected) in ["10", "100", "1000", "+Inf"].iter().zip(buckets) {
        let mut with_le = labels.to_vec();
        with_le.push(("le", le));
        assert_eq!(
            value(s, BUCKET, &with_le),
            Some(expected),
            "le={le} {labels:?}"
        );
    }
    let count = value(s, "traces_span_metrics_duration_count", labels);
    assert_eq!(count, Some(buckets[3]));
    let sum = value(s, "traces_span_metrics_duration_sum", labels).unwrap();
    assert!((sum - sum_ms).abs() < 1e-6, "sum {sum} != {sum_ms}");
}

const BATCH: [Call; 8] = [
    ("GET /cart", 5, false),
    ("GET /cart", 5, false),
    ("GET /cart", 5, false),
    ("GET /cart", 50, false),
    ("GET /cart", 500, false),
    ("POST /pay", 20, true),
    ("POST /pay", 20, true),
    ("POST /pay", 2000, false),
];

fn wait_for(port: u16, labels: &[(&str, &str)], calls: f64) -> Scrape {
    let mut last = Scrape::new();
    let reached = eventually(Duration::from_secs(20), || {
        last = scrape(port);
        value(&last, CALLS, labels) == Some(calls)
    });
    assert!(
        reached,
        "calls never reached {calls}; last scrape: {last:#?}"
    );
    last
}

/// The `calls` points in the file exporter's output.
fn call_points(path: &Path) -> Vec<serde_json::Value> {
    let list = |v: &serde_json::Value, key: &str| v[key].as_array().cloned().unwrap_or_default();
    read_json_lines(path)
        .iter()
        .flat_map(|l| list(l, "resourceMetrics"))
        .flat_map(|r| list(&r, "scopeMetrics"))
        .flat_map(|s| list(&s, "metrics"))
        .filter(|m| m["name"] == "traces.span.metrics.calls")
        .flat_map(|m| list(&m["sum"], "dataPoints"))
        .collect()
}

/// A 64-bit field of OTLP JSON: a string, or a number.
fn int(v: &serde_json::Value) -> Option<u64> {
    v.as_str().and_then(|s| s.parse().ok()).or(v.as_u64())
}

/// Start times of the `calls` points in the file exporter's output.
fn call_start_times(path: &Path) -> Vec<u64> {
    call_points(path)
        .iter()
        .filter_map(|p| int(&p["startTimeUnixNano"]))
        .collect()
}

#[test]
fn cumulative_counts_and_buckets_are_exact_and_restart_with_the_agent() {
    let dir = tempfile::tempdir().unwrap();
    let (ports, file) = (Ports::new(), dir.path().join("metrics-1.jsonl"));
    let connector = "    metrics_flush_interval: 200ms";
    let agent = Agent::start(
        dir.path(),
        "first",
        &config(&ports, connector, &file),
        ports.admin,
    );
    send(ports.grpc, &BATCH);
    let cart = route("GET /cart", "STATUS_CODE_UNSET");
    let s = wait_for(ports.prometheus, &cart, 5.0);
    assert_series(&s, &cart, [3.0, 4.0, 5.0, 5.0], 565.0);
    let pay_errors = route("POST /pay", "STATUS_CODE_ERROR");
    assert_series(&s, &pay_errors, [0.0, 2.0, 2.0, 2.0], 40.0);
    let pay_ok = route("POST /pay", "STATUS_CODE_UNSET");
    assert_series(&s, &pay_ok, [0.0, 0.0, 0.0, 1.0], 2000.0);
    assert_eq!(agent.terminate(Duration::from_secs(10)).code(), Some(0));
    let first_starts = call_start_times(&file);
    assert!(!first_starts.is_empty());

    // A restarted agent starts its cumulative series over, with a later start time.
    let (ports, second_file) = (Ports::new(), dir.path().join("metrics-2.jsonl"));
    let agent = Agent::start(
        dir.path(),
        "second",
        &config(&ports, connector, &second_file),
        ports.admin,
    );
    send(ports.grpc, &BATCH[..2]);
    let s = wait_for(ports.prometheus, &cart, 2.0);
    assert_series(&s, &cart, [2.0, 2.0, 2.0, 2.0], 10.0);
    assert_eq!(
        value(&s, CALLS, &pay_errors),
        None,
        "no series from before the restart"
    );
    assert_eq!(agent.terminate(Duration::from_secs(10)).code(), Some(0));
    let second_starts = call_start_times(&second_file);
    let newest_before = first_starts.iter().max().unwrap();
    assert!(
        second_starts.iter().all(|s| s > newest_before),
        "{second_starts:?} vs {first_starts:?}"
    );
}

#[test]
fn delta_intervals_add_up_to_exact_counts_in_prometheus() {
    let dir = tempfile::tempdir().unwrap();
    let (ports, file) = (Ports::new(), dir.path().join("metrics.jsonl"));
    let connector =
        "    metrics_flush_interval: 100ms\n    aggregation_temporality: AGGREGATION_TEMPORALITY_DELTA";
    let _agent = Agent::start(
        dir.path(),
        "delta",
        &config(&ports, connector, &file),
        ports.admin,
    );
    let cart = route("GET /cart", "STATUS_CODE_UNSET");
    send(ports.grpc, &BATCH[..3]);
    wait_for(ports.prometheus, &cart, 3.0);
    send(ports.grpc, &BATCH);
    let s = wait_for(ports.prometheus, &cart, 8.0);
    assert_series(&s, &cart, [6.0, 7.0, 8.0, 8.0], 580.0);
    let pay_errors = route("POST /pay", "STATUS_CODE_ERROR");
    assert_series(&s, &pay_errors, [0.0, 2.0, 2.0, 2.0], 40.0);
}

#[test]
fn shutdown_emits_what_the_interval_has_not_yet() {
    let dir = tempfile::tempdir().unwrap();
    let (ports, file) = (Ports::new(), dir.path().join("metrics.jsonl"));
    let connector =
        "    metrics_flush_interval: 1h\n    aggregation_temporality: AGGREGATION_TEMPORALITY_DELTA";
    let agent = Agent::start(
        dir.path(),
        "final",
        &config(&ports, connector, &file),
        ports.admin,
    );
    send(ports.grpc, &BATCH);
    // Received, but an hour from the next flush.
    let received = eventually(Duration::from_secs(10), || {
        agent.metric_value("sentinel_component_received_items_total", &["spanmetrics"]) == Some(8.0)
    });
    assert!(received, "{}", agent.metrics());
    assert!(call_start_times(&file).is_empty());
    assert_eq!(agent.terminate(Duration::from_secs(10)).code(), Some(0));
    let points = call_points(&file);
    let calls: u64 = points.iter().filter_map(|p| int(&p["asInt"])).sum();
    let log = std::fs::read_to_string(dir.path().join("final.log")).unwrap_or_default();
    assert_eq!(calls, 8, "{points:?}\nlog:\n{log}");
}
