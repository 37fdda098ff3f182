//! `prometheusremotewrite` against real stores: Debian's Prometheus (with its remote-write
//! receiver and exemplar storage on) and Debian's VictoriaMetrics, both started by the test
//! on free loopback ports. The agent receives OTLP metrics (gauge, cumulative and delta
//! sums, delta and cumulative histograms) and writes to both; each store is queried back
//! over its HTTP API and every value is checked exactly.

use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use opentelemetry_proto::tonic::collector::metrics::v1::metrics_service_client::MetricsServiceClient;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, KeyValue};
use opentelemetry_proto::tonic::metrics::v1::{
    exemplar, metric, number_data_point, AggregationTemporality, Exemplar, Gauge, Histogram,
    HistogramDataPoint, Metric, NumberDataPoint, ResourceMetrics, ScopeMetrics, Sum,
};
use opentelemetry_proto::tonic::resource::v1::Resource;
use sentinel_tests::services::{self, ServerProcess};
use sentinel_tests::{eventually, free_port, http_get, Agent};

/// A store process (killed when dropped) and the path remote write posts to.
struct Store {
    server: ServerProcess,
    write_path: &'static str,
}

fn start_prometheus(dir: &Path) -> Store {
    let flags = [
        "--web.enable-remote-write-receiver",
        "--enable-feature=exemplar-storage",
    ];
    let server = services::start_prometheus(
        dir,
        "global:\n  scrape_interval: 1h\n",
        &dir.join("prometheus-data"),
        &flags,
    );
    Store {
        server,
        write_path: "/api/v1/write",
    }
}

fn start_victoria(dir: &Path) -> Store {
    let port = free_port();
    let args = vec![
        format!("-storageDataPath={}", dir.join("victoria-data").display()),
        // Answer queries about the last seconds too (the default hides the last 30 s).
        "-search.latencyOffset=0s".into(),
        format!("-httpListenAddr=127.0.0.1:{port}"),
    ];
    Store {
        server: services::start_server(
            dir,
            "victoria-metrics",
            "victoria-metrics",
            &args,
            port,
            "/health",
        ),
        write_path: "/api/v1/write",
    }
}

fn agent_config(grpc: u16, admin: u16, data: &Path, stores: &[(&str, &Store)]) -> String {
    let exporters: String = stores
        .iter()
        .map(|(name, store)| {
            format!(
                "  prometheusremotewrite/{name}:\n    endpoint: http://127.0.0.1:{}{}\n    external_labels: {{sent_by: sentinel}}\n",
                store.server.port, store.write_path
            )
        })
        .collect();
    let list: Vec<String> = stores
        .iter()
        .map(|(name, _)| format!("prometheusremotewrite/{name}"))
        .collect();
    format!(
        r#"
receivers:
  otlp:
    protocols:
      grpc:
        endpoint: 127.0.0.1:{grpc}
exporters:
{exporters}
service:
  data_dir: {data}
  telemetry:
    metrics:
      address: 127.0.0.1:{admin}
  pipelines:
    metrics:
      receivers: [otlp]
      exporters: [{list}]
"#,
        data = data.display(),
        list = list.join(", "),
    )
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

fn point(value: f64, at_ms: i64) -> NumberDataPoint {
    NumberDataPoint {
        time_unix_nano: at_ms as u64 * 1_000_000,
        value: Some(number_data_point::Value::AsDouble(value)),
        ..Default::default()
    }
}

fn sum(name: &str, unit: &str, temporality: AggregationTemporality, value: f64, at: i64) -> Metric {
    Metric {
        name: name.into(),
        unit: unit.into(),
        data: Some(metric::Data::Sum(Sum {
            data_points: vec![point(value, at)],
            aggregation_temporality: temporality as i32,
            is_monotonic: true,
        })),
        ..Default::default()
    }
}

fn histogram(
    name: &str,
    temporality: AggregationTemporality,
    counts: [u64; 3],
    total: f64,
    at: i64,
) -> Metric {
    Metric {
        name: name.into(),
        unit: "s".into(),
        data: Some(metric::Data::Histogram(Histogram {
            data_points: vec![HistogramDataPoint {
                time_unix_nano: at as u64 * 1_000_000,
                count: counts.iter().sum(),
                sum: Some(total),
                bucket_counts: counts.to_vec(),
                explicit_bounds: vec![0.1, 1.0],
                exemplars: vec![Exemplar {
                    time_unix_nano: at as u64 * 1_000_000,
                    trace_id: vec![0x7a; 16],
                    span_id: vec![0x3b; 8],
                    value: Some(exemplar::Value::AsDouble(0.5)),
                    ..Default::default()
                }],
                ..Default::default()
            }],
            aggregation_temporality: temporality as i32,
        })),
        ..Default::default()
    }
}

/// Round 1 or 2 of the test's metrics, stamped `at`.
fn round(n: u8, at: i64) -> ExportMetricsServiceRequest {
    use AggregationTemporality::{Cumulative, Delta};
    let first = n == 1;
    let metrics = vec![
        Metric {
            name: "e2e.temperature".into(),
            unit: "Cel".into(),
            data: Some(metric::Data::Gauge(Gauge {
                data_points: vec![point(if first { 21.5 } else { 19.25 }, at)],
            })),
            ..Default::default()
        },
        sum(
            "e2e.requests",
            "{request}",
            Cumulative,
            if first { 10.0 } else { 15.0 },
            at,
        ),
        sum("e2e.io", "By", Delta, if first { 100.0 } else { 50.0 }, at),
        if first {
            histogram("e2e.latency", Delta, [1, 2, 0], 1.25, at)
        } else {
            histogram("e2e.latency", Delta, [0, 1, 1], 3.5, at)
        },
        if first {
            histogram("e2e.wait", Cumulative, [2, 0, 0], 0.1, at)
        } else {
            histogram("e2e.wait", Cumulative, [3, 1, 0], 0.75, at)
        },
    ];
    ExportMetricsServiceRequest {
        resource_metrics: vec![ResourceMetrics {
            resource: Some(Resource {
                attributes: vec![
                    string("service.name", "rw-e2e"),
                    string("service.instance.id", "inst-1"),
                    string("host.name", "h1"),
                ],
                ..Default::default()
            }),
            scope_metrics: vec![ScopeMetrics {
                metrics,
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}

fn encode(query: &str) -> String {
    query
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// The value of an instant query at `at_ms`, if it returns exactly one series.
fn query(store: &Store, promql: &str, at_ms: i64) -> Option<f64> {
    let path = format!(
        "/api/v1/query?query={}&time={:.3}",
        encode(promql),
        at_ms as f64 / 1000.0
    );
    let (status, body) = http_get(store.server.port, &path)?;
    let json: serde_json::Value = serde_json::from_str(&body).ok()?;
    let result = json["data"]["result"].as_array()?;
    if status != 200 || result.len() != 1 {
        return None;
    }
    result[0]["value"][1].as_str()?.parse().ok()
}

/// Every value of the test, as (query, value at round 1, value at round 2).
fn expectations() -> Vec<(&'static str, f64, f64)> {
    let job = r#"{job="rw-e2e",instance="inst-1",sent_by="sentinel"}"#;
    let _ = job;
    vec![
        (
            r#"e2e_temperature_celsius{job="rw-e2e",instance="inst-1",sent_by="sentinel"}"#,
            21.5,
            19.25,
        ),
        ("e2e_requests_total", 10.0, 15.0),
        // Delta sums accumulated to cumulative.
        ("e2e_io_bytes_total", 100.0, 150.0),
        (r#"e2e_latency_seconds_bucket{le="0.1"}"#, 1.0, 1.0),
        (r#"e2e_latency_seconds_bucket{le="1"}"#, 3.0, 4.0),
        (r#"e2e_latency_seconds_bucket{le="+Inf"}"#, 3.0, 5.0),
        ("e2e_latency_seconds_count", 3.0, 5.0),
        ("e2e_latency_seconds_sum", 1.25, 4.75),
        (r#"e2e_wait_seconds_bucket{le="0.1"}"#, 2.0, 3.0),
        (r#"e2e_wait_seconds_bucket{le="+Inf"}"#, 2.0, 4.0),
        ("e2e_wait_seconds_sum", 0.1, 0.75),
        (
            r#"target_info{job="rw-e2e",instance="inst-1",host_name="h1"}"#,
            1.0,
            1.0,
        ),
    ]
}

#[test]
fn metrics_reach_prometheus_and_victoria_metrics_with_exact_values() {
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    let prometheus = start_prometheus(dir);
    let victoria = start_victoria(dir);
    let (grpc, admin) = (free_port(), free_port());
    let config = agent_config(
        grpc,
        admin,
        &dir.join("data"),
        &[("prometheus", &prometheus), ("victoria", &victoria)],
    );
    let agent = Agent::start(dir, "agent", &config, admin);

    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    // Whole seconds, so that query times are exact.
    let (t1, t2) = (now / 1000 * 1000 - 40_000, now / 1000 * 1000 - 20_000);
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let mut client = MetricsServiceClient::connect(format!("http://127.0.0.1:{grpc}"))
            .await
            .unwrap();
        client.export(round(1, t1)).await.unwrap();
        client.export(round(2, t2)).await.unwrap();
    });

    for (name, store) in [("prometheus", &prometheus), ("victoria-metrics", &victoria)] {
        for (promql, first, second) in expectations() {
            let mut last = (None, None);
            let exact = eventually(Duration::from_secs(30), || {
                last = (query(store, promql, t1), query(store, promql, t2));
                last == (Some(first), Some(second))
            });
            assert!(
                exact,
                "{name}: {promql} at t1, t2 = {last:?}, expected ({first}, {second}); agent log:\n{}",
                agent.log()
            );
        }
    }

    // The exemplar reached Prometheus with its trace id.
    let path = format!(
        "/api/v1/query_exemplars?query={}&start={}&end={}",
        encode("e2e_latency_seconds_bucket"),
        t1 / 1000 - 1,
        t2 / 1000 + 1
    );
    let (_, body) = http_get(prometheus.server.port, &path).unwrap();
    assert!(body.contains(&"7a".repeat(16)), "{body}");
    agent.terminate(Duration::from_secs(20));
}
