//! What the dashboards test sends to the agent: the OpenTelemetry SDK over OTLP/gRPC and
//! Claude Code hook events over HTTP.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, SystemTime};

use opentelemetry::logs::{AnyValue, LogRecord, Logger, LoggerProvider, Severity};
use opentelemetry::metrics::MeterProvider;
use opentelemetry::trace::{
    Span, SpanContext, SpanKind, Status, TraceContextExt, Tracer, TracerProvider,
};
use opentelemetry::{Context, Key, KeyValue};
use opentelemetry_otlp::WithExportConfig;
use opentelemetry_sdk::Resource;

/// Ids of the traces the dashboards must find.
pub struct Sent {
    /// The slowest root span's trace: the trace view's default. It has a log record.
    pub slow_trace_id: String,
    /// A trace whose spans failed. It has a log record too.
    pub error_trace_id: String,
}

pub fn send(grpc: u16, hooks: u16) -> Sent {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let _guard = runtime.enter();
    let endpoint = format!("http://127.0.0.1:{grpc}");
    let (slow, error) = send_traces(&endpoint);
    send_pool_metrics(&endpoint);
    send_logs(&endpoint, &slow, &error);
    send_hook_events(hooks);
    Sent {
        slow_trace_id: slow.trace_id().to_string(),
        error_trace_id: error.trace_id().to_string(),
    }
}

fn resource(service: &str) -> Resource {
    Resource::builder()
        .with_service_name(service.to_string())
        .build()
}

/// Spans with explicit times: `offset` before now, lasting `ms`.
fn span(
    tracer: &opentelemetry_sdk::trace::SdkTracer,
    name: &str,
    kind: SpanKind,
    parent: Option<&Context>,
    timing: (u64, u64),
    attributes: Vec<KeyValue>,
) -> opentelemetry_sdk::trace::Span {
    let start = SystemTime::now() - Duration::from_millis(timing.0);
    let builder = tracer
        .span_builder(name.to_string())
        .with_kind(kind)
        .with_start_time(start)
        .with_attributes(attributes);
    let mut span = match parent {
        Some(cx) => builder.start_with_context(tracer, cx),
        None => builder.start(tracer),
    };
    span.set_attribute(KeyValue::new("sentinel.test.ms", timing.1 as i64));
    span
}

fn end(mut span: opentelemetry_sdk::trace::Span, timing: (u64, u64)) -> SpanContext {
    let start = SystemTime::now() - Duration::from_millis(timing.0);
    let cx = span.span_context().clone();
    span.end_with_timestamp(start + Duration::from_millis(timing.1));
    cx
}

fn send_traces(endpoint: &str) -> (SpanContext, SpanContext) {
    let provider = opentelemetry_sdk::trace::SdkTracerProvider::builder()
        .with_resource(resource("shop"))
        .with_simple_exporter(
            opentelemetry_otlp::SpanExporter::builder()
                .with_tonic()
                .with_endpoint(endpoint)
                .build()
                .unwrap(),
        )
        .build();
    let tracer = provider.tracer("grafana-e2e");
    let http = |route: &str| vec![KeyValue::new("http.route", route.to_string())];

    // The slow trace: a server span and a database call with an event.
    let root = span(
        &tracer,
        "GET /checkout",
        SpanKind::Server,
        None,
        (2000, 300),
        http("/checkout"),
    );
    let root_cx = Context::new().with_remote_span_context(root.span_context().clone());
    let mut child = span(
        &tracer,
        "SELECT orders",
        SpanKind::Client,
        Some(&root_cx),
        (1900, 100),
        vec![],
    );
    child.add_event("retry", vec![KeyValue::new("attempt", 2i64)]);
    end(child, (1900, 100));
    let slow = end(root, (2000, 300));

    // The failed trace.
    let mut root = span(
        &tracer,
        "POST /pay",
        SpanKind::Server,
        None,
        (1500, 20),
        http("/pay"),
    );
    root.set_status(Status::error("card declined"));
    let root_cx = Context::new().with_remote_span_context(root.span_context().clone());
    let mut child = span(
        &tracer,
        "charge card",
        SpanKind::Client,
        Some(&root_cx),
        (1495, 10),
        vec![],
    );
    child.set_status(Status::error("gateway timeout"));
    end(child, (1495, 10));
    let error = end(root, (1500, 20));

    // A priced and an unpriced GenAI call, and a health check.
    let genai = vec![
        KeyValue::new("gen_ai.operation.name", "chat"),
        KeyValue::new("gen_ai.provider.name", "anthropic"),
        KeyValue::new("gen_ai.request.model", "claude-sonnet-4-5"),
        KeyValue::new("gen_ai.usage.input_tokens", 1_000i64),
        KeyValue::new("gen_ai.usage.output_tokens", 500i64),
        KeyValue::new("session.id", "sess-1"),
    ];
    let call = span(
        &tracer,
        "chat claude-sonnet-4-5",
        SpanKind::Client,
        None,
        (1000, 50),
        genai,
    );
    end(call, (1000, 50));
    let unknown = vec![
        KeyValue::new("gen_ai.request.model", "mystery-llm-7b"),
        KeyValue::new("gen_ai.usage.input_tokens", 10i64),
        KeyValue::new("gen_ai.usage.output_tokens", 10i64),
    ];
    let call = span(
        &tracer,
        "chat mystery",
        SpanKind::Client,
        None,
        (950, 5),
        unknown,
    );
    end(call, (950, 5));
    let health = span(
        &tracer,
        "GET /health",
        SpanKind::Server,
        None,
        (900, 1),
        http("/health"),
    );
    end(health, (900, 1));
    provider.force_flush().unwrap();
    provider.shutdown().unwrap();
    (slow, error)
}

fn send_pool_metrics(endpoint: &str) {
    let provider = opentelemetry_sdk::metrics::SdkMeterProvider::builder()
        .with_resource(resource("shop"))
        .with_periodic_exporter(
            opentelemetry_otlp::MetricExporter::builder()
                .with_tonic()
                .with_endpoint(endpoint)
                .build()
                .unwrap(),
        )
        .build();
    let meter = provider.meter("grafana-e2e");
    let pool = |extra: &[(&str, &str)]| {
        let mut attributes = vec![KeyValue::new("db.client.connection.pool.name", "main")];
        attributes.extend(
            extra
                .iter()
                .map(|(k, v)| KeyValue::new(k.to_string(), v.to_string())),
        );
        attributes
    };
    let count = meter.i64_gauge("db.client.connection.count").build();
    count.record(3, &pool(&[("db.client.connection.state", "used")]));
    count.record(7, &pool(&[("db.client.connection.state", "idle")]));
    meter
        .i64_gauge("db.client.connection.max")
        .build()
        .record(10, &pool(&[]));
    meter
        .i64_gauge("db.client.connection.pending_requests")
        .build()
        .record(1, &pool(&[]));
    provider.force_flush().unwrap();
    provider.shutdown().unwrap();
}

fn logger_provider(endpoint: &str, service: &str) -> opentelemetry_sdk::logs::SdkLoggerProvider {
    opentelemetry_sdk::logs::SdkLoggerProvider::builder()
        .with_resource(resource(service))
        .with_simple_exporter(
            opentelemetry_otlp::LogExporter::builder()
                .with_tonic()
                .with_endpoint(endpoint)
                .build()
                .unwrap(),
        )
        .build()
}

fn send_logs(endpoint: &str, slow: &SpanContext, error: &SpanContext) {
    let provider = logger_provider(endpoint, "shop");
    let logger = provider.logger("grafana-e2e");
    for (cx, body, severity) in [
        (slow, "order lookup retried", Severity::Warn),
        (error, "payment failed", Severity::Error),
    ] {
        let mut record = logger.create_log_record();
        record.set_body(AnyValue::from(body));
        record.set_severity_number(severity);
        record.set_severity_text(severity.name());
        record.set_trace_context(cx.trace_id(), cx.span_id(), Some(cx.trace_flags()));
        logger.emit(record);
    }
    provider.force_flush().unwrap();
    provider.shutdown().unwrap();

    // Alert records as the alert_rules connector emits them (alert_contract.md).
    let provider = logger_provider(endpoint, "sentinel");
    let logger = provider.logger_with_scope(
        opentelemetry::InstrumentationScope::builder("sentinel.alert_rules").build(),
    );
    for (state, ago) in [("pending", 60u64), ("firing", 1)] {
        let labels: HashMap<Key, AnyValue> = [
            ("alertname", "HighErrorRate"),
            ("severity", "critical"),
            ("service", "shop"),
        ]
        .into_iter()
        .map(|(k, v)| (Key::from(k), AnyValue::from(v)))
        .collect();
        let mut record = logger.create_log_record();
        record.set_event_name("sentinel.alert");
        record.set_timestamp(SystemTime::now() - Duration::from_secs(ago));
        record.set_severity_number(Severity::Error);
        record.set_severity_text("ERROR");
        record.set_body(AnyValue::from("Error rate of shop above 5%"));
        record.add_attribute("alertname", "HighErrorRate");
        record.add_attribute("state", state);
        record.add_attribute("labels", AnyValue::Map(Box::new(labels)));
        record.add_attribute("fingerprint", "0f1e2d3c4b5a6978");
        record.add_attribute("value", 0.5);
        record.add_attribute("startsAt", "2026-11-30T18:00:00.000Z");
        record.add_attribute("rule_group", "shop");
        logger.emit(record);
    }
    provider.force_flush().unwrap();
    provider.shutdown().unwrap();
}

fn post_hook(port: u16, body: &str) {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    write!(
        stream,
        "POST /v1/hooks HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut response = String::new();
    let _ = stream.read_to_string(&mut response);
    assert!(response.starts_with("HTTP/1.1 200"), "{body}: {response}");
}

fn send_hook_events(port: u16) {
    let common = r#""session_id":"sess-1","cwd":"/work/shop","transcript_path":"/tmp/t.jsonl""#;
    for event in [
        r#""hook_event_name":"SessionStart","source":"startup""#,
        r#""hook_event_name":"UserPromptSubmit","prompt":"list the files""#,
        r#""hook_event_name":"PreToolUse","tool_name":"Bash","tool_input":{"command":"ls"},"tool_use_id":"t1""#,
        r#""hook_event_name":"PostToolUse","tool_name":"Bash","tool_input":{"command":"ls"},"tool_response":{"stdout":"a"},"tool_use_id":"t1""#,
        r#""hook_event_name":"PreToolUse","tool_name":"Bash","tool_input":{"command":"rm -rf /"},"tool_use_id":"t2""#,
    ] {
        post_hook(port, &format!("{{{common},{event}}}"));
    }
}
