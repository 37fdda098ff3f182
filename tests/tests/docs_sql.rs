//! Every SQL query in the docs runs against a real PostgreSQL that the real agent filled from
//! OTLP, and each one's result is checked against what was sent: values, not only rows.
//! A query the docs gain without a check here fails the test, so none goes untested.

mod postgres_support;

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use postgres_support::{json_rows, wait_for_count, Pg, PgAgent};
use sentinel_tests::docs::{blocks, markdown_files, DocBlock};
use sentinel_tests::{free_port, http_post_json};
use serde_json::{json, Value};

/// The trace the docs' "all spans of one trace" query names.
const DOC_TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const ROOT_SPAN: &str = "00f067aa0ba902b7";

fn attr(key: &str, value: &str) -> Value {
    json!({"key": key, "value": {"stringValue": value}})
}

fn nanos_ago(seconds: u64) -> u64 {
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
    (now - Duration::from_secs(seconds)).as_nanos() as u64
}

/// Every span starts at the same instant, ten minutes ago, so they share one minute.
fn span_start() -> u64 {
    static START: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    *START.get_or_init(|| nanos_ago(600))
}

fn span(trace: &str, id: &str, parent: &str, name: &str, ms: u64, error: bool) -> Value {
    let start = span_start();
    json!({
        "traceId": trace, "spanId": id, "parentSpanId": parent, "name": name, "kind": 2,
        "startTimeUnixNano": start.to_string(),
        "endTimeUnixNano": (start + ms * 1_000_000).to_string(),
        "status": {"code": if error { 2 } else { 0 }},
    })
}

fn resource_spans(service: &str, spans: Vec<Value>) -> Value {
    json!({"resource": {"attributes": [attr("service.name", service)]},
           "scopeSpans": [{"scope": {"name": "docs"}, "spans": spans}]})
}

/// Three traces: the docs' trace (a 300 ms root with a failing 120 ms child) and a 5 ms
/// health check in `shop`, and a failing 50 ms root in `cart`.
fn traces() -> Value {
    json!({"resourceSpans": [
        resource_spans("shop", vec![
            span(DOC_TRACE, ROOT_SPAN, "", "GET /checkout", 300, false),
            span(DOC_TRACE, "00f067aa0ba902b8", ROOT_SPAN, "charge", 120, true),
            span("11111111111111111111111111111111", "1111111111111111", "", "GET /health", 5, false),
        ]),
        resource_spans("cart", vec![
            span("22222222222222222222222222222222", "2222222222222222", "", "add", 50, true),
        ]),
    ]})
}

fn point(value: i64, seconds_ago: u64, attributes: Vec<Value>) -> Value {
    json!({"timeUnixNano": nanos_ago(seconds_ago).to_string(),
           "startTimeUnixNano": nanos_ago(seconds_ago + 60).to_string(),
           "asInt": value.to_string(), "attributes": attributes})
}

fn resource_metrics(service: &str, metric: Value) -> Value {
    json!({"resource": {"attributes": [attr("service.name", service)]},
           "scopeMetrics": [{"scope": {"name": "docs"}, "metrics": [metric]}]})
}

/// `orders.placed` (a gauge of `shop`, three points, and one of another service), and
/// Claude Code's delta token counter over two models, two sessions and two token types.
fn metrics() -> Value {
    let orders = |service: &str, values: &[(i64, u64)]| {
        let points: Vec<Value> = values
            .iter()
            .map(|(v, ago)| point(*v, *ago, vec![attr("region", "eu")]))
            .collect();
        resource_metrics(
            service,
            json!({"name": "orders.placed", "gauge": {"dataPoints": points}}),
        )
    };
    let tokens = |model: &str, kind: &str, session: &str, value: i64, ago: u64| {
        point(
            value,
            ago,
            vec![
                attr("model", model),
                attr("type", kind),
                attr("session.id", session),
            ],
        )
    };
    let usage = json!({"name": "claude_code.token.usage", "unit": "tokens", "sum": {
    "aggregationTemporality": 1, "isMonotonic": true, "dataPoints": [
        tokens("opus", "input", "a", 100, 300), tokens("opus", "input", "a", 50, 200),
        tokens("opus", "output", "a", 30, 300), tokens("opus", "input", "b", 70, 250),
        tokens("haiku", "input", "a", 10, 300),
    ]}});
    json!({"resourceMetrics": [
        orders("shop", &[(5, 300), (7, 200), (4, 100)]),
        orders("warehouse", &[(99, 300)]),
        resource_metrics("claude-code", usage),
    ]})
}

fn column<'a>(rows: &'a [Value], name: &str) -> Vec<&'a Value> {
    rows.iter().map(|r| &r[name]).collect()
}

fn number(value: &Value) -> f64 {
    value
        .as_f64()
        .unwrap_or_else(|| panic!("not a number: {value}"))
}

/// What each documented query must return for the data above, by the docs' caption.
fn check(block: &DocBlock, rows: &[Value]) {
    let place = block.place();
    match block.caption.as_str() {
        "p95 latency per service and span name, per minute, last hour:" => {
            let checkout: Vec<_> = rows
                .iter()
                .filter(|r| r["span_name"] == "GET /checkout")
                .collect();
            assert_eq!(
                checkout.len(),
                1,
                "{place}: one minute of GET /checkout: {rows:?}"
            );
            assert_eq!(number(&checkout[0]["p95_ms"]), 300.0, "{place}");
            assert_eq!(checkout[0]["spans"], 1, "{place}");
            assert_eq!(rows.len(), 4, "{place}: one row per span name: {rows:?}");
        }
        "Error spans:" => {
            let mut names: Vec<_> = column(rows, "span_name").into_iter().cloned().collect();
            names.sort_by_key(|v| v.to_string());
            assert_eq!(names, vec![json!("add"), json!("charge")], "{place}");
        }
        "A metric's time series (per attribute set):" => {
            let values: Vec<f64> = column(rows, "value").into_iter().map(number).collect();
            assert_eq!(
                values,
                vec![5.0, 7.0, 4.0],
                "{place}: shop's points in time order"
            );
        }
        "Totals of a delta counter:" => {
            let totals: BTreeMap<String, f64> = rows
                .iter()
                .map(|r| {
                    (
                        r["model"].as_str().unwrap().to_string(),
                        number(&r["tokens"]),
                    )
                })
                .collect();
            let want = BTreeMap::from([("haiku".to_string(), 10.0), ("opus".to_string(), 250.0)]);
            assert_eq!(totals, want, "{place}: every series of a model adds up");
        }
        "The slowest traces of the last hour (root span duration):" => {
            let names: Vec<_> = column(rows, "span_name");
            assert_eq!(
                names,
                vec!["GET /checkout", "add", "GET /health"],
                "{place}"
            );
            assert_eq!(number(&rows[0]["ms"]), 300.0, "{place}");
        }
        "All spans of one trace:" => {
            let names: Vec<_> = column(rows, "span_name");
            assert_eq!(names, vec!["GET /checkout", "charge"], "{place}");
            assert_eq!(
                rows[1]["parent"], ROOT_SPAN,
                "{place}: the child names its parent"
            );
            assert_eq!(rows[1]["duration_ns"], 120_000_000, "{place}");
        }
        other => panic!("{place}: the docs' query {other:?} has no check in docs_sql.rs: add one"),
    }
}

#[test]
fn every_documented_query_returns_what_was_sent() {
    let dir = tempfile::tempdir().unwrap();
    let pg = Pg::start();
    let agent_config = PgAgent::new(dir.path(), &pg);
    let http = free_port();
    let config = agent_config.config().replace(
        "      grpc:\n",
        &format!("      http:\n        endpoint: 127.0.0.1:{http}\n      grpc:\n"),
    );
    let agent = sentinel_tests::Agent::start(dir.path(), "docs-sql", &config, agent_config.admin);
    assert_eq!(
        http_post_json(http, "/v1/traces", &traces().to_string()).0,
        200
    );
    assert_eq!(
        http_post_json(http, "/v1/metrics", &metrics().to_string()).0,
        200
    );
    let stored = |sql: &str, want: i64| wait_for_count(&pg, sql, want, Duration::from_secs(30));
    assert_eq!(stored("SELECT count(*) FROM sentinel.otel_spans", 4), 4);
    assert_eq!(stored("SELECT count(*) FROM sentinel.otel_metrics", 9), 9);

    let queries: Vec<DocBlock> = markdown_files()
        .iter()
        .flat_map(|f| blocks(f, "sql"))
        .collect();
    assert!(queries.len() >= 6, "the docs' example queries: {queries:?}");
    for block in &queries {
        let sql = block.text.trim().trim_end_matches(';');
        check(block, &json_rows(&pg, sql));
    }
    assert!(agent.terminate(Duration::from_secs(15)).success());
}
