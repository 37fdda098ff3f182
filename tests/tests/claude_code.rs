//! Claude Code's own telemetry through the real binary: its delta-temporality metrics
//! become correct running totals in the `prometheus` exporter, and its
//! `claude_code.api_request` events are priced by `llm_cost` (connector and processor).
//! The data is sent the way Claude Code sends it: an OpenTelemetry SDK exporting OTLP/gRPC
//! with delta temporality, meter `com.anthropic.claude_code`, service `claude-code`.

use std::path::Path;
use std::time::Duration;

use opentelemetry::logs::{AnyValue, LogRecord, Logger, LoggerProvider};
use opentelemetry::metrics::MeterProvider;
use opentelemetry::KeyValue;
use opentelemetry_otlp::WithExportConfig;
use opentelemetry_sdk::metrics::Temporality;
use opentelemetry_sdk::Resource;
use sentinel_tests::{eventually, free_port, http_get, read_json_lines, Agent};
use serde_json::Value;

fn config(grpc: u16, admin: u16, prom: u16, dir: &Path) -> String {
    let out = |name: &str| dir.join(format!("{name}.jsonl")).display().to_string();
    format!(
        r#"
receivers:
  otlp:
    protocols:
      grpc:
        endpoint: 127.0.0.1:{grpc}
processors:
  llm_cost:
connectors:
  llm_cost:
exporters:
  prometheus:
    endpoint: 127.0.0.1:{prom}
  file/metrics:
    path: {metrics}
  file/logs:
    path: {logs}
service:
  telemetry:
    metrics:
      address: 127.0.0.1:{admin}
  pipelines:
    metrics:
      receivers: [otlp, llm_cost]
      exporters: [prometheus, file/metrics]
    logs:
      receivers: [otlp]
      processors: [llm_cost]
      exporters: [file/logs, llm_cost]
"#,
        metrics = out("metrics"),
        logs = out("logs"),
    )
}

fn resource() -> Resource {
    Resource::builder()
        .with_service_name("claude-code")
        .with_attribute(KeyValue::new("service.version", "2.1.200"))
        .build()
}

fn scrape(port: u16) -> String {
    http_get(port, "/metrics")
        .map(|(_, b)| b)
        .unwrap_or_default()
}

/// The value of the one line that starts with `name{` and contains every `label`.
fn series(text: &str, name: &str, labels: &[&str]) -> Option<f64> {
    let matching: Vec<&str> = text
        .lines()
        .filter(|l| l.starts_with(&format!("{name}{{")) && labels.iter().all(|m| l.contains(m)))
        .collect();
    assert!(matching.len() <= 1, "ambiguous selector: {matching:?}");
    matching.first()?.rsplit(' ').next()?.parse().ok()
}

/// Delta points of one metric in the file exporter's output, in arrival order.
fn file_points(path: &Path, metric: &str) -> Vec<(i64, f64)> {
    let mut out = Vec::new();
    for line in read_json_lines(path) {
        for rm in line["resourceMetrics"].as_array().into_iter().flatten() {
            for sm in rm["scopeMetrics"].as_array().into_iter().flatten() {
                for m in sm["metrics"].as_array().into_iter().flatten() {
                    if m["name"] != metric {
                        continue;
                    }
                    let temporality = m["sum"]["aggregationTemporality"].as_i64().unwrap_or(-1);
                    for p in m["sum"]["dataPoints"].as_array().into_iter().flatten() {
                        let v = p["asDouble"]
                            .as_f64()
                            .or_else(|| p["asInt"].as_str().and_then(|s| s.parse().ok()))
                            .or_else(|| p["asInt"].as_f64())
                            .unwrap_or(f64::NAN);
                        out.push((temporality, v));
                    }
                }
            }
        }
    }
    out
}

#[test]
fn claude_code_delta_metrics_become_running_totals_in_prometheus() {
    let dir = tempfile::tempdir().unwrap();
    let (grpc, admin, prom) = (free_port(), free_port(), free_port());
    let agent = Agent::start(
        dir.path(),
        "agent",
        &config(grpc, admin, prom, dir.path()),
        admin,
    );
    // tonic (the gRPC exporter) needs a runtime.
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let guard = runtime.enter();

    let exporter = opentelemetry_otlp::MetricExporter::builder()
        .with_tonic()
        .with_endpoint(format!("http://127.0.0.1:{grpc}"))
        .with_temporality(Temporality::Delta)
        .build()
        .unwrap();
    let provider = opentelemetry_sdk::metrics::SdkMeterProvider::builder()
        .with_resource(resource())
        .with_periodic_exporter(exporter)
        .build();
    let meter = provider.meter("com.anthropic.claude_code");
    let cost = meter
        .f64_counter("claude_code.cost.usage")
        .with_unit("USD")
        .build();
    let tokens = meter
        .u64_counter("claude_code.token.usage")
        .with_unit("tokens")
        .build();
    let common = |extra: &[KeyValue]| {
        let mut attrs = vec![
            KeyValue::new("session.id", "sess-42"),
            KeyValue::new("user.account_uuid", "acct-1"),
            KeyValue::new("terminal.type", "vscode"),
            KeyValue::new("model", "claude-sonnet-4-5-20250929"),
            KeyValue::new("query_source", "main"),
        ];
        attrs.extend_from_slice(extra);
        attrs
    };
    // Three export intervals, each a delta: the scrape must show their sums.
    for (usd, input, cache_read) in [(0.25, 1_000, 20_000), (0.5, 500, 0), (0.125, 250, 5_000)] {
        cost.add(usd, &common(&[]));
        tokens.add(input, &common(&[KeyValue::new("type", "input")]));
        tokens.add(100, &common(&[KeyValue::new("type", "output")]));
        if cache_read > 0 {
            tokens.add(cache_read, &common(&[KeyValue::new("type", "cacheRead")]));
        }
        provider.force_flush().unwrap();
    }
    provider.shutdown().unwrap();
    drop(guard);
    // Closing the runtime closes the gRPC connection, as Claude Code exiting would; an
    // open connection would hold the agent's graceful shutdown.
    drop(runtime);

    let metrics_file = dir.path().join("metrics.jsonl");
    assert!(
        eventually(Duration::from_secs(10), || file_points(
            &metrics_file,
            "claude_code.cost.usage"
        )
        .len()
            == 3),
        "log:\n{}",
        agent.log()
    );
    // Exporter queues drain with several consumers, so the file may hold the three
    // exports in any order (as with the Collector's sending queue).
    let mut exported = file_points(&metrics_file, "claude_code.cost.usage");
    exported.sort_by(|a, b| a.1.total_cmp(&b.1));
    assert_eq!(
        exported,
        vec![(1, 0.125), (1, 0.25), (1, 0.5)],
        "the SDK really sent deltas (aggregationTemporality 1)"
    );

    let session = "session_id=\"sess-42\"";
    let job = "job=\"claude-code\"";
    let totals = |text: &str| {
        (
            series(text, "claude_code_cost_usage_total", &[session, job]),
            series(
                text,
                "claude_code_token_usage_total",
                &[session, "type=\"input\""],
            ),
            series(
                text,
                "claude_code_token_usage_total",
                &[session, "type=\"output\""],
            ),
            series(
                text,
                "claude_code_token_usage_total",
                &[session, "type=\"cacheRead\""],
            ),
        )
    };
    assert!(
        eventually(Duration::from_secs(10), || totals(&scrape(prom)).0
            == Some(0.875)),
        "{}",
        scrape(prom)
    );
    assert_eq!(
        totals(&scrape(prom)),
        (Some(0.875), Some(1_750.0), Some(300.0), Some(25_000.0)),
        "running totals:\n{}",
        scrape(prom)
    );
    let text = scrape(prom);
    assert!(
        text.contains("# TYPE claude_code_cost_usage_total counter"),
        "{text}"
    );
    assert!(
        text.lines()
            .any(|l| l.starts_with("claude_code_cost_usage_total{")
                && l.contains("model=\"claude-sonnet-4-5-20250929\"")
                && l.contains("query_source=\"main\"")
                && l.contains("user_account_uuid=\"acct-1\"")),
        "Claude Code's attributes become labels:\n{text}"
    );
    assert!(agent.terminate(Duration::from_secs(15)).success());
}

#[test]
fn claude_code_api_request_events_are_priced_checked_and_annotated() {
    let dir = tempfile::tempdir().unwrap();
    let (grpc, admin, prom) = (free_port(), free_port(), free_port());
    let agent = Agent::start(
        dir.path(),
        "agent",
        &config(grpc, admin, prom, dir.path()),
        admin,
    );
    // tonic (the gRPC exporter) needs a runtime.
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let guard = runtime.enter();

    let exporter = opentelemetry_otlp::LogExporter::builder()
        .with_tonic()
        .with_endpoint(format!("http://127.0.0.1:{grpc}"))
        .build()
        .unwrap();
    let provider = opentelemetry_sdk::logs::SdkLoggerProvider::builder()
        .with_resource(resource())
        .with_simple_exporter(exporter)
        .build();
    let logger = provider.logger("com.anthropic.claude_code");
    // (model, input, output, cache read, cache creation, Claude Code's cost_usd)
    let requests = [
        ("claude-sonnet-4-5-20250929", 1_000, 500, 0, 0, 0.0105),
        // 2,000 × $1 + 1,000 × $5 + 50,000 × $0.10 per million = $0.012; reported $0.03.
        ("claude-haiku-4-5-20251001", 2_000, 1_000, 50_000, 0, 0.03),
        ("claude-opus-9", 10, 10, 0, 0, 0.001),
    ];
    for (model, input, output, cache_read, cache_creation, cost_usd) in requests {
        let mut record = logger.create_log_record();
        record.set_event_name("claude_code.api_request");
        record.set_body(AnyValue::from("claude_code.api_request"));
        record.add_attribute("event.name", "api_request");
        record.add_attribute("event.timestamp", "2026-11-23T01:00:00.000Z");
        record.add_attribute("session.id", "sess-7");
        record.add_attribute("model", model);
        record.add_attribute("input_tokens", input as i64);
        record.add_attribute("output_tokens", output as i64);
        record.add_attribute("cache_read_tokens", cache_read as i64);
        record.add_attribute("cache_creation_tokens", cache_creation as i64);
        record.add_attribute("cost_usd", cost_usd);
        record.add_attribute("duration_ms", 1800i64);
        logger.emit(record);
    }
    let mut other = logger.create_log_record();
    other.set_event_name("claude_code.user_prompt");
    other.add_attribute("prompt_length", 12i64);
    logger.emit(other);
    provider.force_flush().unwrap();
    provider.shutdown().unwrap();
    drop(guard);
    // Closing the runtime closes the gRPC connection, as Claude Code exiting would; an
    // open connection would hold the agent's graceful shutdown.
    drop(runtime);

    let sonnet = "gen_ai_request_model=\"claude-sonnet-4-5-20250929\"";
    let haiku = "gen_ai_request_model=\"claude-haiku-4-5-20251001\"";
    assert!(
        eventually(Duration::from_secs(10), || series(
            &scrape(prom),
            "sentinel_llm_cost_total",
            &[sonnet]
        )
        .is_some()
            && series(&scrape(prom), "sentinel_llm_unpriced_total", &[])
                .is_some()),
        "{}\nlog:\n{}",
        scrape(prom),
        agent.log()
    );
    let text = scrape(prom);
    fn with(extra: &str) -> [&str; 4] {
        [
            extra,
            "job=\"claude-code\"",
            "session_id=\"sess-7\"",
            "gen_ai_provider_name=\"anthropic\"",
        ]
    }
    assert_eq!(
        series(&text, "sentinel_llm_cost_total", &with(sonnet)),
        Some(0.0105),
        "{text}"
    );
    assert_eq!(
        series(&text, "sentinel_llm_cost_total", &with(haiku)),
        Some(0.012),
        "{text}"
    );
    assert_eq!(
        series(
            &text,
            "sentinel_llm_tokens_total",
            &[haiku, "gen_ai_token_type=\"cache_read\""]
        ),
        Some(50_000.0)
    );
    assert_eq!(
        series(
            &text,
            "sentinel_llm_unpriced_total",
            &["gen_ai_request_model=\"claude-opus-9\""]
        ),
        Some(1.0),
        "{text}"
    );
    assert!(
        !text
            .lines()
            .any(|l| l.starts_with("sentinel_llm_cost_total") && l.contains("claude-opus-9")),
        "an unknown model has no cost line at all:\n{text}"
    );

    // Self-metrics: the haiku figure differs from Claude Code's; sonnet agrees.
    let self_metrics = agent.metrics();
    // The processor prices each event first; the connector after it takes the processor's
    // word, so a mismatch is counted once, by the processor.
    let mismatch = |model: &str, kind: &str| {
        series(
            &self_metrics,
            "sentinel_llm_cost_mismatch_total",
            &[
                &format!("model=\"{model}\""),
                &format!("component_kind=\"{kind}\""),
                "component_id=\"llm_cost\"",
            ],
        )
    };
    assert_eq!(
        mismatch("claude-haiku-4-5", "processor"),
        Some(1.0),
        "{self_metrics}"
    );
    assert_eq!(
        mismatch("claude-haiku-4-5", "connector"),
        None,
        "{self_metrics}"
    );
    assert_eq!(mismatch("claude-sonnet-4-5", "processor"), None);
    assert_eq!(
        agent.metric_value(
            "sentinel_component_received_items_total",
            &[
                "component_kind=\"connector\"",
                "component_id=\"llm_cost\"",
                "signal=\"logs\""
            ]
        ),
        Some(4.0)
    );

    // The processor wrote the cost onto the events themselves.
    let records: Vec<Value> = read_json_lines(&dir.path().join("logs.jsonl"))
        .iter()
        .flat_map(|l| l["resourceLogs"].as_array().cloned().unwrap_or_default())
        .flat_map(|r| r["scopeLogs"].as_array().cloned().unwrap_or_default())
        .flat_map(|s| s["logRecords"].as_array().cloned().unwrap_or_default())
        .collect();
    let cost_of = |model: &str| {
        records
            .iter()
            .find(|r| {
                r["attributes"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|a| a["value"]["stringValue"] == model)
            })
            .and_then(|r| {
                r["attributes"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .find(|a| a["key"] == "sentinel.llm.cost_usd")
                    .and_then(|a| a["value"]["doubleValue"].as_f64())
            })
    };
    assert_eq!(records.len(), 4);
    assert_eq!(cost_of("claude-sonnet-4-5-20250929"), Some(0.0105));
    assert_eq!(cost_of("claude-haiku-4-5-20251001"), Some(0.012));
    assert_eq!(cost_of("claude-opus-9"), None, "never $0");
    assert!(agent.terminate(Duration::from_secs(15)).success());
}
