//! LLM cost end to end with the real binary: GenAI spans (current, OpenLLMetry and
//! OpenInference attributes) sent with the OpenTelemetry SDK over OTLP/gRPC go through the
//! `llm_cost` processor (span attribute) and connector (metrics pipeline) to `file`
//! exporters. The price table is the shipped one plus LiteLLM's bundled price map.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use opentelemetry::trace::{Span, Tracer, TracerProvider};
use opentelemetry::KeyValue;
use opentelemetry_otlp::WithExportConfig;
use opentelemetry_sdk::Resource;
use sentinel_tests::{eventually, free_port, read_json_lines, Agent};
use serde_json::Value;

fn config(grpc: u16, admin: u16, dir: &Path, litellm: &Path) -> String {
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
    litellm_prices: {litellm}
connectors:
  llm_cost:
    litellm_prices: {litellm}
exporters:
  file/traces:
    path: {traces}
  file/metrics:
    path: {metrics}
service:
  telemetry:
    metrics:
      address: 127.0.0.1:{admin}
  pipelines:
    traces:
      receivers: [otlp]
      processors: [llm_cost]
      exporters: [file/traces, llm_cost]
    metrics:
      receivers: [llm_cost]
      exporters: [file/metrics]
"#,
        litellm = litellm.display(),
        traces = out("traces"),
        metrics = out("metrics"),
    )
}

fn send_spans(grpc: u16) {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let _guard = runtime.enter();
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_tonic()
        .with_endpoint(format!("http://127.0.0.1:{grpc}"))
        .build()
        .unwrap();
    let provider = opentelemetry_sdk::trace::SdkTracerProvider::builder()
        .with_resource(Resource::builder().with_service_name("support-bot").build())
        .with_simple_exporter(exporter)
        .build();
    let tracer = provider.tracer("genai-app");
    let spans: Vec<(&str, Vec<KeyValue>)> = vec![
        (
            "chat claude-sonnet-4-5",
            vec![
                KeyValue::new("gen_ai.operation.name", "chat"),
                KeyValue::new("gen_ai.provider.name", "anthropic"),
                KeyValue::new("gen_ai.request.model", "claude-sonnet-4-5"),
                KeyValue::new("gen_ai.response.model", "claude-sonnet-4-5-20250929"),
                KeyValue::new("gen_ai.usage.input_tokens", 1_000i64),
                KeyValue::new("gen_ai.usage.output_tokens", 500i64),
                KeyValue::new("session.id", "s-1"),
            ],
        ),
        (
            "openai.chat",
            vec![
                KeyValue::new("gen_ai.system", "openai"),
                KeyValue::new("gen_ai.request.model", "gpt-4o"),
                KeyValue::new("gen_ai.usage.prompt_tokens", 1_200i64),
                KeyValue::new("gen_ai.usage.completion_tokens", 100i64),
                KeyValue::new("gen_ai.usage.cache_read_input_tokens", 200i64),
                KeyValue::new("llm.usage.total_tokens", 1_300i64),
            ],
        ),
        (
            "ChatOpenAI",
            vec![
                KeyValue::new("openinference.span.kind", "LLM"),
                KeyValue::new("llm.provider", "openai"),
                KeyValue::new("llm.model_name", "gpt-5-nano"),
                KeyValue::new("llm.token_count.prompt", 1_000i64),
                KeyValue::new("llm.token_count.completion", 1_000i64),
            ],
        ),
        (
            "chat mystery",
            vec![
                KeyValue::new("gen_ai.request.model", "mystery-llm-7b"),
                KeyValue::new("gen_ai.usage.input_tokens", 10i64),
                KeyValue::new("gen_ai.usage.output_tokens", 10i64),
            ],
        ),
        ("GET /health", vec![KeyValue::new("http.route", "/health")]),
    ];
    for (name, attributes) in spans {
        let mut span = tracer
            .span_builder(name)
            .with_attributes(attributes)
            .start(&tracer);
        span.end();
    }
    provider.force_flush().unwrap();
    provider.shutdown().unwrap();
}

fn attr<'a>(item: &'a Value, key: &str) -> Option<&'a Value> {
    item["attributes"]
        .as_array()?
        .iter()
        .find(|a| a["key"] == key)
        .map(|a| &a["value"])
}

fn text(item: &Value, key: &str) -> String {
    attr(item, key)
        .and_then(|v| v["stringValue"].as_str())
        .unwrap_or("")
        .to_string()
}

/// metric name → (model, token type) → summed value, over every line of the file.
fn metric_totals(path: &Path) -> BTreeMap<String, BTreeMap<(String, String), f64>> {
    let mut totals: BTreeMap<String, BTreeMap<(String, String), f64>> = BTreeMap::new();
    for line in read_json_lines(path) {
        for rm in line["resourceMetrics"].as_array().into_iter().flatten() {
            for sm in rm["scopeMetrics"].as_array().into_iter().flatten() {
                for m in sm["metrics"].as_array().into_iter().flatten() {
                    assert_eq!(m["sum"]["isMonotonic"], true);
                    assert_eq!(m["sum"]["aggregationTemporality"], 1, "delta");
                    for p in m["sum"]["dataPoints"].as_array().into_iter().flatten() {
                        let value = p["asDouble"]
                            .as_f64()
                            .or_else(|| p["asInt"].as_str().and_then(|s| s.parse().ok()))
                            .or_else(|| p["asInt"].as_f64())
                            .unwrap();
                        let key = (
                            text(p, "gen_ai.request.model"),
                            text(p, "gen_ai.token.type"),
                        );
                        *totals
                            .entry(m["name"].as_str().unwrap().to_string())
                            .or_default()
                            .entry(key)
                            .or_default() += value;
                    }
                }
            }
        }
    }
    totals
}

#[test]
fn genai_spans_are_priced_into_metrics_and_span_attributes() {
    let litellm = sentinel_tests::litellm_prices();
    let dir = tempfile::tempdir().unwrap();
    let (grpc, admin) = (free_port(), free_port());
    let agent = Agent::start(
        dir.path(),
        "agent",
        &config(grpc, admin, dir.path(), &litellm),
        admin,
    );
    send_spans(grpc);

    let metrics_path = dir.path().join("metrics.jsonl");
    assert!(
        eventually(Duration::from_secs(10), || metric_totals(&metrics_path)
            .contains_key("sentinel.llm.unpriced")),
        "log:\n{}",
        agent.log()
    );
    let totals = metric_totals(&metrics_path);
    let key = |model: &str, kind: &str| (model.to_string(), kind.to_string());
    let cost = &totals["sentinel.llm.cost"];
    assert_eq!(
        cost[&key("claude-sonnet-4-5", "")],
        0.0105,
        "the issue's check"
    );
    // 1,000 × $2.50 + 100 × $10 + 200 cached × $1.25 per million (OpenLLMetry keys).
    assert_eq!(cost[&key("gpt-4o", "")], 0.00375);
    // LiteLLM only: 1,000 × 5e-08 + 1,000 × 4e-07 (OpenInference keys).
    assert_eq!(cost[&key("gpt-5-nano", "")], 0.00045);
    assert_eq!(cost.len(), 3, "no cost for the unknown model: {cost:?}");
    let tokens = &totals["sentinel.llm.tokens"];
    assert_eq!(tokens[&key("claude-sonnet-4-5", "input")], 1_000.0);
    assert_eq!(tokens[&key("claude-sonnet-4-5", "output")], 500.0);
    assert_eq!(
        tokens[&key("gpt-4o", "input")],
        1_000.0,
        "cache reads taken out"
    );
    assert_eq!(tokens[&key("gpt-4o", "cache_read")], 200.0);
    assert_eq!(tokens[&key("mystery-llm-7b", "input")], 10.0);
    assert_eq!(
        totals["sentinel.llm.unpriced"][&key("mystery-llm-7b", "")],
        1.0
    );

    // Labels: provider (given, deprecated gen_ai.system, or the table's), service, session.
    let lines = read_json_lines(&metrics_path);
    let cost_points: Vec<&Value> = lines
        .iter()
        .flat_map(|l| l["resourceMetrics"].as_array().unwrap())
        .flat_map(|r| r["scopeMetrics"].as_array().unwrap())
        .flat_map(|s| s["metrics"].as_array().unwrap())
        .filter(|m| m["name"] == "sentinel.llm.cost")
        .flat_map(|m| m["sum"]["dataPoints"].as_array().unwrap())
        .collect();
    let sonnet = cost_points
        .iter()
        .find(|p| text(p, "gen_ai.request.model") == "claude-sonnet-4-5")
        .unwrap();
    assert_eq!(text(sonnet, "gen_ai.provider.name"), "anthropic");
    assert_eq!(text(sonnet, "service.name"), "support-bot");
    assert_eq!(text(sonnet, "session.id"), "s-1");
    let gpt = cost_points
        .iter()
        .find(|p| text(p, "gen_ai.request.model") == "gpt-4o")
        .unwrap();
    assert_eq!(
        text(gpt, "gen_ai.provider.name"),
        "openai",
        "from gen_ai.system"
    );

    // The processor put the cost on the spans.
    let spans: Vec<Value> = read_json_lines(&dir.path().join("traces.jsonl"))
        .iter()
        .flat_map(|l| l["resourceSpans"].as_array().cloned().unwrap_or_default())
        .flat_map(|r| r["scopeSpans"].as_array().cloned().unwrap_or_default())
        .flat_map(|s| s["spans"].as_array().cloned().unwrap_or_default())
        .collect();
    assert_eq!(spans.len(), 5);
    let span_cost = |name: &str| {
        let span = spans.iter().find(|s| s["name"] == name).unwrap();
        attr(span, "sentinel.llm.cost_usd").and_then(|v| v["doubleValue"].as_f64())
    };
    assert_eq!(span_cost("chat claude-sonnet-4-5"), Some(0.0105));
    assert_eq!(span_cost("openai.chat"), Some(0.00375));
    assert_eq!(span_cost("ChatOpenAI"), Some(0.00045));
    assert_eq!(span_cost("chat mystery"), None, "never $0");
    assert_eq!(span_cost("GET /health"), None);

    // Self-metrics of both components.
    let value = |series: &str, kind: &str| {
        agent.metric_value(
            series,
            &[
                &format!("component_kind=\"{kind}\""),
                "component_id=\"llm_cost\"",
                "signal=\"traces\"",
            ],
        )
    };
    assert_eq!(
        value("sentinel_component_received_items_total", "connector"),
        Some(5.0)
    );
    assert_eq!(
        value("sentinel_component_received_items_total", "processor"),
        Some(5.0)
    );
    assert_eq!(
        value("sentinel_component_dropped_items_total", "connector"),
        Some(0.0)
    );
    // The processor prices first and marks the call; the connector after it does not
    // count it again.
    let unpriced = |kind: &str| {
        agent.metric_value(
            "sentinel_llm_unpriced_calls_total",
            &[
                &format!("component_kind=\"{kind}\""),
                "component_id=\"llm_cost\"",
            ],
        )
    };
    assert_eq!(unpriced("processor"), Some(1.0));
    assert_eq!(unpriced("connector"), Some(0.0));
    assert!(
        agent.log().contains("mystery-llm-7b"),
        "the unknown model is named in a warning:\n{}",
        agent.log()
    );
    assert!(agent.terminate(Duration::from_secs(15)).success());
}

#[test]
fn a_bad_price_file_is_a_clear_config_error() {
    let dir = tempfile::tempdir().unwrap();
    let prices = dir.path().join("prices.yaml");
    std::fs::write(
        &prices,
        "models:\n  - name: m\n    prices:\n      - input: 1\n        ouput: 2\n",
    )
    .unwrap();
    let config = dir.path().join("bad.yaml");
    std::fs::write(
        &config,
        format!(
            "receivers:\n  otlp:\nconnectors:\n  llm_cost:\n    prices: {}\nexporters:\n  debug:\nservice:\n  pipelines:\n    traces:\n      receivers: [otlp]\n      exporters: [llm_cost]\n    metrics:\n      receivers: [llm_cost]\n      exporters: [debug]\n",
            prices.display()
        ),
    )
    .unwrap();
    let output = std::process::Command::new(sentinel_tests::sentinel_bin())
        .args(["validate", "--config"])
        .arg(&config)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("prices.yaml:5:9") && stderr.contains("ouput"),
        "names the file, line and key: {stderr}"
    );
}
