//! The real Rust OpenTelemetry SDK sends traces, metrics and logs to the real agent over
//! gRPC and over HTTP/protobuf; the `file` exporter's output must hold exactly what was
//! sent: names, attributes, values and ids.

use std::path::Path;
use std::time::Duration;

use opentelemetry::logs::{AnyValue, LogRecord, Logger, LoggerProvider, Severity};
use opentelemetry::metrics::MeterProvider;
use opentelemetry::trace::{Span, TraceContextExt, Tracer, TracerProvider};
use opentelemetry::KeyValue;
use opentelemetry_otlp::{Protocol, WithExportConfig};
use opentelemetry_sdk::Resource;
use sentinel_tests::{eventually, free_port, read_json_lines, Agent};
use serde_json::Value;

fn config(grpc: u16, http: u16, admin: u16, dir: &Path) -> String {
    let out = |signal: &str| dir.join(format!("{signal}.jsonl")).display().to_string();
    format!(
        r#"
receivers:
  otlp:
    protocols:
      grpc:
        endpoint: 127.0.0.1:{grpc}
      http:
        endpoint: 127.0.0.1:{http}
processors:
  batch:
    timeout: 50ms
exporters:
  file/traces:
    path: {traces}
  file/metrics:
    path: {metrics}
  file/logs:
    path: {logs}
service:
  telemetry:
    metrics:
      address: 127.0.0.1:{admin}
  pipelines:
    traces:
      receivers: [otlp]
      processors: [batch]
      exporters: [file/traces]
    metrics:
      receivers: [otlp]
      processors: [batch]
      exporters: [file/metrics]
    logs:
      receivers: [otlp]
      processors: [batch]
      exporters: [file/logs]
"#,
        traces = out("traces"),
        metrics = out("metrics"),
        logs = out("logs"),
    )
}

#[derive(Debug)]
struct SentSpan {
    name: String,
    trace_id: String,
    span_id: String,
}

/// Sends one of each signal with the SDK and returns the ids of the spans sent.
fn send_with_sdk(service: &str, transport: Transport, grpc: u16, http: u16) -> Vec<SentSpan> {
    let resource = Resource::builder()
        .with_service_name(service.to_string())
        .build();
    let (span_exporter, metric_exporter, log_exporter) = match transport {
        Transport::Grpc => {
            let endpoint = format!("http://127.0.0.1:{grpc}");
            (
                opentelemetry_otlp::SpanExporter::builder()
                    .with_tonic()
                    .with_endpoint(&endpoint)
                    .build()
                    .unwrap(),
                opentelemetry_otlp::MetricExporter::builder()
                    .with_tonic()
                    .with_endpoint(&endpoint)
                    .build()
                    .unwrap(),
                opentelemetry_otlp::LogExporter::builder()
                    .with_tonic()
                    .with_endpoint(&endpoint)
                    .build()
                    .unwrap(),
            )
        }
        Transport::Http => {
            let url = |signal: &str| format!("http://127.0.0.1:{http}/v1/{signal}");
            (
                opentelemetry_otlp::SpanExporter::builder()
                    .with_http()
                    .with_protocol(Protocol::HttpBinary)
                    .with_endpoint(url("traces"))
                    .build()
                    .unwrap(),
                opentelemetry_otlp::MetricExporter::builder()
                    .with_http()
                    .with_protocol(Protocol::HttpBinary)
                    .with_endpoint(url("metrics"))
                    .build()
                    .unwrap(),
                opentelemetry_otlp::LogExporter::builder()
                    .with_http()
                    .with_protocol(Protocol::HttpBinary)
                    .with_endpoint(url("logs"))
                    .build()
                    .unwrap(),
            )
        }
    };

    let tracer_provider = opentelemetry_sdk::trace::SdkTracerProvider::builder()
        .with_resource(resource.clone())
        .with_simple_exporter(span_exporter)
        .build();
    let tracer = tracer_provider.tracer("sentinel-e2e");
    let mut sent = Vec::new();
    for (name, order) in [("checkout", 42i64), ("payment", 43)] {
        let mut span = tracer
            .span_builder(name)
            .with_attributes([
                KeyValue::new("order.id", order),
                KeyValue::new("customer", "alice"),
                KeyValue::new("express", true),
            ])
            .start(&tracer);
        let context = span.span_context().clone();
        span.end();
        sent.push(SentSpan {
            name: name.to_string(),
            trace_id: context.trace_id().to_string(),
            span_id: context.span_id().to_string(),
        });
    }
    // A child span, so parent ids are checked too.
    let parent = tracer.start("parent");
    let parent_cx = opentelemetry::Context::current_with_span(parent);
    let child = tracer.start_with_context("child", &parent_cx);
    drop(child);
    drop(parent_cx);
    tracer_provider.force_flush().unwrap();
    tracer_provider.shutdown().unwrap();

    let meter_provider = opentelemetry_sdk::metrics::SdkMeterProvider::builder()
        .with_resource(resource.clone())
        .with_periodic_exporter(metric_exporter)
        .build();
    let meter = meter_provider.meter("sentinel-e2e");
    let counter = meter.u64_counter("orders.placed").build();
    counter.add(3, &[KeyValue::new("region", "eu")]);
    counter.add(4, &[KeyValue::new("region", "eu")]);
    let gauge = meter.f64_gauge("queue.depth").build();
    gauge.record(12.5, &[]);
    meter_provider.force_flush().unwrap();
    meter_provider.shutdown().unwrap();

    let logger_provider = opentelemetry_sdk::logs::SdkLoggerProvider::builder()
        .with_resource(resource)
        .with_simple_exporter(log_exporter)
        .build();
    let logger = logger_provider.logger("sentinel-e2e");
    let mut record = logger.create_log_record();
    record.set_body(AnyValue::from("payment failed"));
    record.set_severity_number(Severity::Error);
    record.set_severity_text("ERROR");
    record.add_attribute("order.id", 42i64);
    logger.emit(record);
    logger_provider.force_flush().unwrap();
    logger_provider.shutdown().unwrap();
    sent
}

#[derive(Clone, Copy)]
enum Transport {
    Grpc,
    Http,
}

/// The resources in a file exporter output whose service.name is `service`.
fn resources<'a>(lines: &'a [Value], kind: &str, service: &str) -> Vec<&'a Value> {
    lines
        .iter()
        .flat_map(|l| l[kind].as_array().into_iter().flatten())
        .filter(|r| attr(&r["resource"], "service.name") == Some(&Value::from(service)))
        .collect()
}

/// The value of attribute `key` in an object with an `attributes` list.
fn attr<'a>(item: &'a Value, key: &str) -> Option<&'a Value> {
    let kv = item["attributes"]
        .as_array()?
        .iter()
        .find(|kv| kv["key"] == key)?;
    let value = kv["value"].as_object()?;
    value.values().next()
}

fn int_value(v: Option<&Value>) -> Option<i64> {
    match v? {
        Value::String(s) => s.parse().ok(),
        Value::Number(n) => n.as_i64(),
        _ => None,
    }
}

fn check_roundtrip(transport: Transport, service: &str) {
    let dir = tempfile::tempdir().unwrap();
    let (grpc, http, admin) = (free_port(), free_port(), free_port());
    let agent = Agent::start(
        dir.path(),
        "agent",
        &config(grpc, http, admin, dir.path()),
        admin,
    );

    let runtime = tokio::runtime::Runtime::new().unwrap();
    let sent = match transport {
        // tonic needs a runtime; the blocking HTTP client must not run inside one.
        Transport::Grpc => {
            let _guard = runtime.enter();
            send_with_sdk(service, transport, grpc, http)
        }
        Transport::Http => send_with_sdk(service, transport, grpc, http),
    };

    let traces_path = dir.path().join("traces.jsonl");
    let spans = || -> Vec<Value> {
        resources(&read_json_lines(&traces_path), "resourceSpans", service)
            .into_iter()
            .flat_map(|r| r["scopeSpans"].as_array().cloned().unwrap_or_default())
            .flat_map(|s| s["spans"].as_array().cloned().unwrap_or_default())
            .collect()
    };
    assert!(
        eventually(Duration::from_secs(10), || spans().len() >= 4),
        "4 spans expected in {traces_path:?}, got {:?}\nagent log:\n{}",
        spans(),
        agent.log()
    );
    let spans = spans();
    assert_eq!(spans.len(), 4, "each span exactly once: {spans:#?}");
    for expected in &sent {
        let span = spans
            .iter()
            .find(|s| s["name"] == expected.name.as_str())
            .unwrap_or_else(|| panic!("span {} missing", expected.name));
        assert_eq!(span["traceId"], expected.trace_id.as_str());
        assert_eq!(span["spanId"], expected.span_id.as_str());
        assert_eq!(attr(span, "customer"), Some(&Value::from("alice")));
        assert_eq!(attr(span, "express"), Some(&Value::from(true)));
    }
    let order_ids: Vec<i64> = sent
        .iter()
        .map(|s| {
            let span = spans.iter().find(|x| x["name"] == s.name.as_str()).unwrap();
            int_value(attr(span, "order.id")).unwrap()
        })
        .collect();
    assert_eq!(order_ids, vec![42, 43]);
    let parent = spans.iter().find(|s| s["name"] == "parent").unwrap();
    let child = spans.iter().find(|s| s["name"] == "child").unwrap();
    assert_eq!(child["parentSpanId"], parent["spanId"]);
    assert_eq!(child["traceId"], parent["traceId"]);

    let metrics_path = dir.path().join("metrics.jsonl");
    let metrics = || -> Vec<Value> {
        resources(&read_json_lines(&metrics_path), "resourceMetrics", service)
            .into_iter()
            .flat_map(|r| r["scopeMetrics"].as_array().cloned().unwrap_or_default())
            .flat_map(|s| s["metrics"].as_array().cloned().unwrap_or_default())
            .collect()
    };
    assert!(
        eventually(Duration::from_secs(10), || metrics().len() >= 2),
        "metrics missing; agent log:\n{}",
        agent.log()
    );
    let metrics = metrics();
    let counter = metrics
        .iter()
        .find(|m| m["name"] == "orders.placed")
        .unwrap();
    let point = &counter["sum"]["dataPoints"][0];
    assert_eq!(int_value(point.get("asInt")), Some(7), "3 + 4 = 7: {point}");
    assert_eq!(attr(point, "region"), Some(&Value::from("eu")));
    assert_eq!(counter["sum"]["isMonotonic"], true);
    let gauge = metrics.iter().find(|m| m["name"] == "queue.depth").unwrap();
    assert_eq!(gauge["gauge"]["dataPoints"][0]["asDouble"], 12.5);

    let logs_path = dir.path().join("logs.jsonl");
    let logs = || -> Vec<Value> {
        resources(&read_json_lines(&logs_path), "resourceLogs", service)
            .into_iter()
            .flat_map(|r| r["scopeLogs"].as_array().cloned().unwrap_or_default())
            .flat_map(|s| s["logRecords"].as_array().cloned().unwrap_or_default())
            .collect()
    };
    assert!(
        eventually(Duration::from_secs(10), || !logs().is_empty()),
        "log record missing; agent log:\n{}",
        agent.log()
    );
    let logs = logs();
    assert_eq!(logs.len(), 1);
    assert_eq!(logs[0]["body"]["stringValue"], "payment failed");
    assert_eq!(logs[0]["severityNumber"], Severity::Error as i32);
    assert_eq!(logs[0]["severityText"], "ERROR");
    assert_eq!(int_value(attr(&logs[0], "order.id")), Some(42));

    let status = agent.terminate(Duration::from_secs(15));
    assert!(status.success(), "SIGTERM must exit 0, got {status:?}");
}

#[test]
fn rust_sdk_over_grpc_arrives_exactly() {
    check_roundtrip(Transport::Grpc, "sdk-e2e-grpc");
}

#[test]
fn rust_sdk_over_http_protobuf_arrives_exactly() {
    check_roundtrip(Transport::Http, "sdk-e2e-http");
}
