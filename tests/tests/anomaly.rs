//! The `anomaly` connector end to end: a gauge sent by the real OpenTelemetry SDK over
//! OTLP/gRPC with one injected spike produces a `sentinel.anomaly` event on the spike's
//! point (the documented delay: the point itself, once the 100-point probation is over),
//! and a flat gauge sent alongside produces none; the state is snapshotted at shutdown. Also the backtest command's output is
//! byte-identical on a rerun.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use opentelemetry::metrics::MeterProvider;
use opentelemetry_otlp::WithExportConfig;
use sentinel_tests::{eventually, free_port, read_json_lines, sentinel_bin, Agent};
use serde_json::Value;

const POINTS: usize = 160;
const SPIKE_AT: usize = 130;
const SPIKE: f64 = 95.0;

/// A noisy CPU-like value around 20, and the spike.
fn spiky(i: usize) -> f64 {
    if i == SPIKE_AT {
        SPIKE
    } else {
        20.0 + (i as f64 * 0.7).sin() + ((i * 7919) % 13) as f64 * 0.1
    }
}

/// One export per point: record both gauges, then flush.
fn send_with_sdk(grpc: u16) {
    let exporter = opentelemetry_otlp::MetricExporter::builder()
        .with_tonic()
        .with_endpoint(format!("http://127.0.0.1:{grpc}"))
        .build()
        .unwrap();
    let provider = opentelemetry_sdk::metrics::SdkMeterProvider::builder()
        .with_periodic_exporter(exporter)
        .build();
    let meter = provider.meter("anomaly-e2e");
    let cpu = meter.f64_gauge("demo.cpu.utilization").build();
    let flat = meter.f64_gauge("demo.flat").build();
    for i in 0..POINTS {
        cpu.record(spiky(i), &[]);
        flat.record(5.0, &[]);
        provider.force_flush().unwrap();
    }
    provider.shutdown().unwrap();
}

fn attribute<'a>(record: &'a Value, key: &str) -> Option<&'a Value> {
    record["attributes"]
        .as_array()?
        .iter()
        .find(|kv| kv["key"] == key)
        .map(|kv| &kv["value"])
}

/// Every `sentinel.anomaly` log record the file exporter wrote.
fn events(path: &Path) -> Vec<Value> {
    read_json_lines(path)
        .iter()
        .flat_map(|l| l["resourceLogs"].as_array().cloned().unwrap_or_default())
        .flat_map(|r| r["scopeLogs"].as_array().cloned().unwrap_or_default())
        .flat_map(|s| s["logRecords"].as_array().cloned().unwrap_or_default())
        .filter(|r| r["eventName"] == "sentinel.anomaly")
        .collect()
}

/// Score points written for `metric` (the `metric.name` attribute).
fn score_points(path: &Path, metric: &str) -> usize {
    read_json_lines(path)
        .iter()
        .flat_map(|l| l["resourceMetrics"].as_array().cloned().unwrap_or_default())
        .flat_map(|r| r["scopeMetrics"].as_array().cloned().unwrap_or_default())
        .flat_map(|s| s["metrics"].as_array().cloned().unwrap_or_default())
        .filter(|m| m["name"] == "sentinel.anomaly.score")
        .flat_map(|m| {
            m["gauge"]["dataPoints"]
                .as_array()
                .cloned()
                .unwrap_or_default()
        })
        .filter(|p| {
            attribute(p, "metric.name").and_then(|v| v["stringValue"].as_str()) == Some(metric)
        })
        .count()
}

#[test]
fn a_spike_from_the_sdk_raises_one_event_and_a_flat_gauge_none() {
    let dir = tempfile::tempdir().unwrap();
    let (grpc, admin) = (free_port(), free_port());
    let logs = dir.path().join("events.jsonl");
    let scores = dir.path().join("scores.jsonl");
    let state = dir.path().join("state");
    let config = format!(
        r"receivers:
  otlp:
    protocols:
      grpc:
        endpoint: 127.0.0.1:{grpc}
connectors:
  anomaly:
    include: {{ match_type: regexp, metric_names: ['^demo\.'] }}
    directory: {state}
exporters:
  file/logs:
    path: {logs}
  file/scores:
    path: {scores}
service:
  telemetry:
    metrics:
      address: 127.0.0.1:{admin}
  pipelines:
    metrics:
      receivers: [otlp]
      exporters: [anomaly]
    metrics/scores:
      receivers: [anomaly]
      exporters: [file/scores]
    logs:
      receivers: [anomaly]
      exporters: [file/logs]
",
        logs = logs.display(),
        state = state.display(),
        scores = scores.display()
    );
    let agent = Agent::start(dir.path(), "anomaly", &config, admin);
    // tonic needs a runtime to build its channels.
    let runtime = tokio::runtime::Runtime::new().unwrap();
    {
        let _guard = runtime.enter();
        send_with_sdk(grpc);
    }
    let all_scored = eventually(Duration::from_secs(20), || {
        score_points(&scores, "demo.cpu.utilization") >= POINTS
            && score_points(&scores, "demo.flat") >= POINTS
    });
    assert!(
        all_scored,
        "not every point was scored; log:\n{}",
        agent.log()
    );
    let found = events(&logs);
    let name = |r: &Value| {
        attribute(r, "metric.name")
            .and_then(|v| v["stringValue"].as_str())
            .unwrap_or_default()
            .to_string()
    };
    assert!(
        found.iter().all(|r| name(r) != "demo.flat"),
        "the flat gauge raised an event: {found:?}"
    );
    let cpu: Vec<&Value> = found
        .iter()
        .filter(|r| name(r) == "demo.cpu.utilization")
        .collect();
    assert_eq!(cpu.len(), 1, "one event for the spike: {found:?}");
    let value = attribute(cpu[0], "anomaly.value").and_then(|v| v["doubleValue"].as_f64());
    assert_eq!(value, Some(SPIKE), "the event is on the spike's own point");
    let reason = attribute(cpu[0], "anomaly.reason").and_then(|v| v["stringValue"].as_str());
    assert!(reason.is_some_and(|r| r.contains("above")), "{reason:?}");
    assert!(agent.terminate(Duration::from_secs(15)).success());
    // The state was snapshotted at shutdown, both series in it.
    let snapshot = std::fs::read_to_string(state.join("anomaly.json")).expect("snapshot");
    assert!(snapshot.contains("demo.cpu.utilization") && snapshot.contains("demo.flat"));
}

#[test]
fn the_backtest_is_byte_identical_on_a_rerun() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("series.csv");
    let mut text = String::from("timestamp,value\n");
    for i in 0..400 {
        text += &format!(
            "2026-01-01 {:02}:{:02}:00,{}\n",
            i / 60 % 24,
            i % 60,
            spiky(i)
        );
    }
    std::fs::write(&input, text).unwrap();
    let config = sentinel_tests::workspace_root().join("config/examples/anomaly.yaml");
    let run = |out: &str| {
        let out = dir.path().join(out);
        let status = Command::new(sentinel_bin())
            .args(["anomaly", "backtest", "--config"])
            .arg(&config)
            .args(["--component", "anomaly", "--input"])
            .arg(&input)
            .arg("--output")
            .arg(&out)
            .status()
            .unwrap();
        assert!(status.success());
        std::fs::read(out.join("series.csv")).unwrap()
    };
    let (first, second) = (run("a"), run("b"));
    assert_eq!(first, second);
    let text = String::from_utf8(first).unwrap();
    assert!(text.starts_with("timestamp,value,anomaly_score,label\n"));
    assert_eq!(text.lines().count(), 401);
    let labelled: Vec<usize> = text
        .lines()
        .skip(1)
        .enumerate()
        .filter(|(_, l)| l.ends_with(",1"))
        .map(|(i, _)| i)
        .collect();
    assert_eq!(labelled, vec![SPIKE_AT]);
}
