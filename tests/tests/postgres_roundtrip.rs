//! The real agent writes to a real PostgreSQL: what the Rust OpenTelemetry SDK sends is read
//! back through the public views unchanged; hostile strings are stored safely; a batch the
//! database refuses for good is dead-lettered while the rest flows; `db migrate` is safe
//! when run twice at once; the dsn is secret.

mod postgres_support;

use std::time::Duration;

use opentelemetry::logs::{AnyValue, LogRecord, Logger, LoggerProvider, Severity};
use opentelemetry::metrics::MeterProvider;
use opentelemetry::trace::{Span, TraceContextExt, Tracer, TracerProvider};
use opentelemetry::KeyValue;
use opentelemetry_otlp::WithExportConfig;
use opentelemetry_sdk::metrics::Temporality;
use opentelemetry_sdk::Resource;
use postgres_support::{count, json_rows, sentinel, table_exists, wait_for_count, Pg, PgAgent};
use serde_json::{json, Value};

/// A span as the SDK sent it.
struct SentSpan {
    name: String,
    trace_id: String,
    span_id: String,
    duration: Duration,
}

struct Sent {
    spans: Vec<SentSpan>,
    parent_span_id: String,
    child_parent_id: String,
}

fn send_with_sdk(grpc: u16) -> Sent {
    let endpoint = format!("http://127.0.0.1:{grpc}");
    let resource = Resource::builder().with_service_name("shop").build();
    let tracer_provider = opentelemetry_sdk::trace::SdkTracerProvider::builder()
        .with_resource(resource.clone())
        .with_simple_exporter(
            opentelemetry_otlp::SpanExporter::builder()
                .with_tonic()
                .with_endpoint(&endpoint)
                .build()
                .unwrap(),
        )
        .build();
    let tracer = tracer_provider.tracer("pg-e2e");
    let mut spans = Vec::new();
    // Explicit start and end times: the stored duration must be exactly their difference.
    let start = std::time::SystemTime::now();
    for (name, order, duration) in [
        ("checkout", 42i64, Duration::from_nanos(1_250_000)),
        ("payment", 43, Duration::from_nanos(2_500_001)),
    ] {
        let mut span = tracer
            .span_builder(name)
            .with_kind(opentelemetry::trace::SpanKind::Server)
            .with_start_time(start)
            .with_attributes([
                KeyValue::new("order.id", order),
                KeyValue::new("customer", "alice"),
                KeyValue::new("express", true),
                KeyValue::new("ratio", 0.25),
            ])
            .start(&tracer);
        if name == "payment" {
            span.set_status(opentelemetry::trace::Status::error("card declined"));
        }
        let cx = span.span_context().clone();
        span.end_with_timestamp(start + duration);
        spans.push(SentSpan {
            name: name.to_string(),
            trace_id: cx.trace_id().to_string(),
            span_id: cx.span_id().to_string(),
            duration,
        });
    }
    let parent = tracer.start("parent");
    let parent_span_id = parent.span_context().span_id().to_string();
    let parent_cx = opentelemetry::Context::current_with_span(parent);
    let child = tracer.start_with_context("child", &parent_cx);
    let child_parent_id = parent_span_id.clone();
    drop(child);
    drop(parent_cx);
    tracer_provider.force_flush().unwrap();
    tracer_provider.shutdown().unwrap();

    let metrics = |temporality| {
        opentelemetry_sdk::metrics::SdkMeterProvider::builder()
            .with_resource(resource.clone())
            .with_periodic_exporter(
                opentelemetry_otlp::MetricExporter::builder()
                    .with_tonic()
                    .with_endpoint(&endpoint)
                    .with_temporality(temporality)
                    .build()
                    .unwrap(),
            )
            .build()
    };
    let provider = metrics(Temporality::Cumulative);
    let meter = provider.meter("pg-e2e");
    let counter = meter
        .u64_counter("orders.placed")
        .with_unit("{order}")
        .build();
    counter.add(3, &[KeyValue::new("region", "eu")]);
    counter.add(4, &[KeyValue::new("region", "eu")]);
    meter.f64_gauge("queue.depth").build().record(12.5, &[]);
    let histogram = meter
        .f64_histogram("request.duration")
        .with_unit("ms")
        .with_boundaries(vec![1.0, 5.0, 10.0])
        .build();
    for v in [0.5, 3.0, 7.0, 20.0] {
        histogram.record(v, &[KeyValue::new("route", "/pay")]);
    }
    provider.force_flush().unwrap();
    provider.shutdown().unwrap();

    // Delta counters (what Claude Code sends): two exports of 5 and 6.
    let provider = metrics(Temporality::Delta);
    let tokens = provider.meter("pg-e2e").u64_counter("tokens.used").build();
    tokens.add(5, &[KeyValue::new("model", "m1")]);
    provider.force_flush().unwrap();
    tokens.add(6, &[KeyValue::new("model", "m1")]);
    provider.force_flush().unwrap();
    provider.shutdown().unwrap();

    let logger_provider = opentelemetry_sdk::logs::SdkLoggerProvider::builder()
        .with_resource(resource)
        .with_simple_exporter(
            opentelemetry_otlp::LogExporter::builder()
                .with_tonic()
                .with_endpoint(&endpoint)
                .build()
                .unwrap(),
        )
        .build();
    let logger = logger_provider.logger("pg-e2e");
    let mut record = logger.create_log_record();
    record.set_event_name("payment.failed");
    record.set_body(AnyValue::from("payment failed"));
    record.set_severity_number(Severity::Error);
    record.set_severity_text("ERROR");
    record.add_attribute("order.id", 42i64);
    logger.emit(record);
    logger_provider.force_flush().unwrap();
    logger_provider.shutdown().unwrap();
    Sent {
        spans,
        parent_span_id,
        child_parent_id,
    }
}

/// A uuid as OTel writes trace ids: 32 hex digits.
fn hex_uuid(v: &Value) -> String {
    v.as_str().unwrap().replace('-', "")
}

/// A bytea as JSON (`\x0102...`) as hex.
fn hex_bytes(v: &Value) -> String {
    v.as_str().unwrap().trim_start_matches("\\x").to_string()
}

fn floats(v: &Value) -> Vec<f64> {
    v.as_array()
        .unwrap_or_else(|| panic!("not an array: {v}"))
        .iter()
        .map(|n| n.as_f64().unwrap())
        .collect()
}

#[test]
fn sdk_signals_read_back_through_the_views_unchanged() {
    let pg = Pg::start();
    let dir = tempfile::tempdir().unwrap();
    let setup = PgAgent::new(dir.path(), &pg);
    let agent = setup.start(dir.path(), "agent");
    let started = std::time::Instant::now();
    // tonic needs a runtime to build its channels.
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let sent = {
        let _guard = runtime.enter();
        send_with_sdk(setup.grpc)
    };

    eprintln!("sent in {:?}", started.elapsed());
    let spans = wait_for_count(
        &pg,
        "SELECT count(*) FROM sentinel.otel_spans",
        4,
        Duration::from_secs(30),
    );
    assert_eq!(spans, 4, "agent log:\n{}", agent.log());
    for SentSpan {
        name,
        trace_id,
        span_id,
        duration,
    } in &sent.spans
    {
        let rows = json_rows(
            &pg,
            &format!("SELECT * FROM sentinel.otel_spans WHERE span_name = '{name}'"),
        );
        assert_eq!(rows.len(), 1, "{name}: {rows:?}");
        let row = &rows[0];
        assert_eq!(hex_uuid(&row["trace_id"]), *trace_id);
        assert_eq!(hex_bytes(&row["span_id"]), *span_id);
        assert_eq!(row["service_name"], "shop");
        assert_eq!(row["span_kind"], "server");
        let order = if name == "checkout" { 42 } else { 43 };
        assert_eq!(
            row["attributes"],
            json!({"order.id": order, "customer": "alice", "express": true, "ratio": 0.25})
        );
        assert_eq!(row["resource_attributes"]["service.name"], "shop");
        assert_eq!(
            row["duration_ns"].as_u64(),
            Some(duration.as_nanos() as u64),
            "{name}: end minus start"
        );
        let status = if name == "payment" { "error" } else { "unset" };
        assert_eq!(row["status_code"], status);
    }
    let child = &json_rows(
        &pg,
        "SELECT * FROM sentinel.otel_spans WHERE span_name = 'child'",
    )[0];
    assert_eq!(hex_bytes(&child["parent_span_id"]), sent.child_parent_id);
    let parent = &json_rows(
        &pg,
        "SELECT * FROM sentinel.otel_spans WHERE span_name = 'parent'",
    )[0];
    assert_eq!(hex_bytes(&parent["span_id"]), sent.parent_span_id);
    assert!(parent["parent_span_id"].is_null());

    wait_for_count(
        &pg,
        "SELECT count(*) FROM sentinel.otel_logs",
        1,
        Duration::from_secs(20),
    );
    let logs = json_rows(&pg, "SELECT * FROM sentinel.otel_logs");
    assert_eq!(logs.len(), 1);
    assert_eq!(logs[0]["body"], "payment failed");
    assert_eq!(logs[0]["severity_number"], 17);
    assert_eq!(logs[0]["severity_text"], "ERROR");
    assert_eq!(logs[0]["event_name"], "payment.failed");
    assert_eq!(logs[0]["service_name"], "shop");
    assert_eq!(logs[0]["attributes"], json!({"order.id": 42}));

    wait_for_count(
        &pg,
        "SELECT count(*) FROM sentinel.otel_metrics WHERE metric_name = 'tokens.used'",
        2,
        Duration::from_secs(20),
    );
    // The SDK exports cumulative points at force_flush and again at shutdown: every copy
    // must carry the same values.
    let orders = json_rows(
        &pg,
        "SELECT * FROM sentinel.otel_metrics WHERE metric_name = 'orders.placed'",
    );
    assert!(!orders.is_empty());
    for point in &orders {
        assert_eq!(point["kind"], "sum");
        assert_eq!(point["unit"], "{order}");
        assert_eq!(point["value"], 7.0);
        assert_eq!(point["attributes"], json!({"region": "eu"}));
    }
    let gauge = json_rows(
        &pg,
        "SELECT * FROM sentinel.otel_metrics WHERE metric_name = 'queue.depth'",
    );
    assert_eq!(gauge[0]["kind"], "gauge");
    assert_eq!(gauge[0]["value"], 12.5);
    let histogram = json_rows(
        &pg,
        "SELECT * FROM sentinel.otel_metrics WHERE metric_name = 'request.duration'",
    );
    assert!(!histogram.is_empty());
    let h = &histogram[0];
    assert_eq!(h["kind"], "histogram");
    assert_eq!(h["unit"], "ms");
    assert_eq!(h["count"], 4);
    assert_eq!(h["sum"], 30.5);
    assert_eq!(floats(&h["bucket_bounds"]), [1.0, 5.0, 10.0]);
    assert_eq!(floats(&h["bucket_counts"]), [1.0, 1.0, 1.0, 1.0]);
    assert_eq!(h["attributes"], json!({"route": "/pay"}));
    assert!(h["value"].is_null());

    // Delta points keep their temporality; the sums view adds them up.
    let deltas = json_rows(
        &pg,
        "SELECT value, total, temporality FROM sentinel.otel_metric_sums WHERE metric_name = 'tokens.used' ORDER BY ts",
    );
    assert_eq!(deltas.len(), 2, "{deltas:?}");
    assert_eq!(deltas[0]["temporality"], "delta");
    assert_eq!(deltas[0]["value"], 5.0);
    assert_eq!(deltas[1]["value"], 6.0);
    assert_eq!(deltas[1]["total"], 11.0);
    assert_eq!(
        count(
            &pg,
            "SELECT count(*) FROM sentinel.metric_series WHERE metric_name = 'tokens.used'"
        ),
        1,
        "both delta points belong to one series"
    );

    // Six self-metrics, counted by the exporter's queue.
    let sent_spans = agent
        .metric_value(
            "sentinel_component_sent_items_total",
            &["component_id=\"postgres\"", "signal=\"traces\""],
        )
        .unwrap_or(0.0);
    assert_eq!(sent_spans, 4.0);
    for family in ["received", "refused", "dropped", "failed", "queue_size"] {
        assert!(
            agent
                .metrics()
                .contains(&format!("sentinel_component_{family}")),
            "missing {family}"
        );
    }
}

#[test]
fn two_db_migrate_at_once_on_an_empty_database_both_succeed_and_the_dsn_stays_secret() {
    let pg = Pg::start();
    let dir = tempfile::tempdir().unwrap();
    let mut setup = PgAgent::new(dir.path(), &pg);
    setup.dsn = "${env:SENTINEL_PG_DSN}".into();
    let config = dir.path().join("pg.yaml");
    std::fs::write(&config, setup.config()).unwrap();
    let dsn = pg.dsn("postgres").replace("postgres@", "postgres:hunter2@");
    let config_arg = config.display().to_string();
    let runs: Vec<_> = (0..2)
        .map(|_| {
            std::process::Command::new(sentinel_tests::sentinel_bin())
                .args(["db", "migrate", "--config", &config_arg])
                .env("SENTINEL_PG_DSN", &dsn)
                .output()
        })
        .collect::<Vec<_>>();
    // Output::spawn is sequential above; run two truly concurrent ones as well.
    let children: Vec<_> = (0..2)
        .map(|_| {
            std::process::Command::new(sentinel_tests::sentinel_bin())
                .args(["db", "migrate", "--config", &config_arg])
                .env("SENTINEL_PG_DSN", &dsn)
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    let concurrent: Vec<_> = children
        .into_iter()
        .map(|c| c.wait_with_output().unwrap())
        .collect();
    for out in runs.into_iter().map(Result::unwrap).chain(concurrent) {
        assert!(
            out.status.success(),
            "db migrate failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    assert_eq!(
        count(&pg, "SELECT count(*) FROM sentinel.schema_migrations"),
        1
    );
    for table in [
        "spans",
        "logs",
        "metric_series",
        "metric_points",
        "metric_histograms",
        "batch_ledger",
        "otel_spans",
        "otel_logs",
        "otel_metrics",
    ] {
        assert!(table_exists(&pg, table), "{table} missing");
    }

    let printed = sentinel(
        &["print-config", "--config", &config_arg],
        &[("SENTINEL_PG_DSN", &dsn)],
    );
    let text = String::from_utf8_lossy(&printed.stdout);
    assert!(
        printed.status.success(),
        "{}",
        String::from_utf8_lossy(&printed.stderr)
    );
    assert!(!text.contains("hunter2"), "the dsn leaked:\n{text}");
    assert!(text.contains("[redacted]"));

    let unreachable = sentinel(
        &["db", "migrate", "--config", &config_arg],
        &[(
            "SENTINEL_PG_DSN",
            "postgresql://postgres@127.0.0.1:1/postgres",
        )],
    );
    assert!(
        !unreachable.status.success(),
        "an unreachable database must fail the migration"
    );
}

#[test]
fn two_agents_migrating_the_same_empty_database_at_once_both_start_and_write() {
    let pg = Pg::start();
    let dir = tempfile::tempdir().unwrap();
    let a_dir = dir.path().join("a");
    let b_dir = dir.path().join("b");
    std::fs::create_dir_all(&a_dir).unwrap();
    std::fs::create_dir_all(&b_dir).unwrap();
    let a = PgAgent::new(&a_dir, &pg);
    let b = PgAgent::new(&b_dir, &pg);
    let mut agent_a = sentinel_tests::Agent::spawn(&a_dir, "a", &a.config(), a.admin);
    let mut agent_b = sentinel_tests::Agent::spawn(&b_dir, "b", &b.config(), b.admin);
    agent_a.wait_ready(Duration::from_secs(20));
    agent_b.wait_ready(Duration::from_secs(20));
    let mut acked = 0;
    for (setup, first) in [(&a, 0u64), (&b, 1_000_000)] {
        let out = std::process::Command::new(sentinel_tests::loadgen_bin())
            .args(["--endpoint", &format!("http://127.0.0.1:{}", setup.grpc)])
            .args([
                "--rate",
                "500",
                "--duration",
                "1",
                "--spans-per-request",
                "10",
            ])
            .args(["--start-seq", &first.to_string()])
            .output()
            .unwrap();
        assert!(out.status.success());
        let text = String::from_utf8_lossy(&out.stdout);
        let summary: Value = serde_json::from_str(text.lines().last().unwrap()).unwrap();
        acked += summary["acked_spans"].as_i64().unwrap();
    }
    assert!(acked > 0);
    let stored = wait_for_count(
        &pg,
        "SELECT count(*) FROM sentinel.spans",
        acked,
        Duration::from_secs(30),
    );
    assert_eq!(stored, acked, "a: {}\nb: {}", agent_a.log(), agent_b.log());
    assert_eq!(
        count(&pg, "SELECT count(*) FROM sentinel.schema_migrations"),
        1
    );
    assert!(!agent_a.log().contains("ERROR") && !agent_b.log().contains("ERROR"));
}
