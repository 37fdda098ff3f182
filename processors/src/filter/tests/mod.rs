//! The filter processor on real payloads, its config errors, and (in `parse.rs`) the
//! condition language.

mod parse;

use sentinel_pipeline::otlp::collector::logs::v1::ExportLogsServiceRequest;
use sentinel_pipeline::otlp::collector::metrics::v1::ExportMetricsServiceRequest;
use sentinel_pipeline::otlp::collector::trace::v1::ExportTraceServiceRequest;
use sentinel_pipeline::otlp::common::v1::{any_value, AnyValue, KeyValue, KeyValueList};
use sentinel_pipeline::otlp::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
use sentinel_pipeline::otlp::metrics::v1::{
    metric, Gauge, Metric, NumberDataPoint, ResourceMetrics, ScopeMetrics,
};
use sentinel_pipeline::otlp::resource::v1::Resource;
use sentinel_pipeline::otlp::trace::v1::{ResourceSpans, ScopeSpans, Span};
use sentinel_pipeline::testing::{component_counts, snippet, ComponentCounts};
use sentinel_pipeline::{
    BuildContext, Factory, Kind, Message, Payload, ProcessorFactory, SelfMetrics,
};
use tokio_util::sync::CancellationToken;

use super::FilterFactory;
use crate::test_data::kv;

fn int(key: &str, value: i64) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(AnyValue {
            value: Some(any_value::Value::IntValue(value)),
        }),
        ..Default::default()
    }
}

fn resource(service: &str) -> Option<Resource> {
    Some(Resource {
        attributes: vec![kv("service.name", service)],
        ..Default::default()
    })
}

fn span(name: &str, attributes: Vec<KeyValue>) -> Span {
    Span {
        name: name.into(),
        attributes,
        ..Default::default()
    }
}

/// One resource per (service, spans) pair, each with one scope.
fn traces(resources: Vec<(&str, Vec<Span>)>) -> Payload {
    Payload::Traces(ExportTraceServiceRequest {
        resource_spans: resources
            .into_iter()
            .map(|(service, spans)| ResourceSpans {
                resource: resource(service),
                scope_spans: vec![ScopeSpans {
                    spans,
                    ..Default::default()
                }],
                ..Default::default()
            })
            .collect(),
    })
}

fn logs(records: Vec<Vec<KeyValue>>) -> Payload {
    Payload::Logs(ExportLogsServiceRequest {
        resource_logs: vec![ResourceLogs {
            resource: resource("app"),
            scope_logs: vec![ScopeLogs {
                log_records: records
                    .into_iter()
                    .map(|attributes| LogRecord {
                        attributes,
                        ..Default::default()
                    })
                    .collect(),
                ..Default::default()
            }],
            ..Default::default()
        }],
    })
}

/// A gauge with one point per attribute list.
fn gauge(name: &str, points: Vec<Vec<KeyValue>>) -> Metric {
    Metric {
        name: name.into(),
        data: Some(metric::Data::Gauge(Gauge {
            data_points: points
                .into_iter()
                .map(|attributes| NumberDataPoint {
                    attributes,
                    ..Default::default()
                })
                .collect(),
        })),
        ..Default::default()
    }
}

fn metrics(metrics: Vec<Metric>) -> Payload {
    Payload::Metrics(ExportMetricsServiceRequest {
        resource_metrics: vec![ResourceMetrics {
            resource: resource("db"),
            scope_metrics: vec![ScopeMetrics {
                metrics,
                ..Default::default()
            }],
            ..Default::default()
        }],
    })
}

/// Runs one payload through a filter built from `config`, as the pipeline task would
/// (it counts received and sent; the filter counts its drops).
fn run(config: &str, payload: Payload) -> (Option<Payload>, ComponentCounts) {
    let signal = payload.signal();
    let self_metrics = SelfMetrics::new();
    let ctx = BuildContext {
        id: "filter".into(),
        metrics: self_metrics.clone(),
        shutdown: CancellationToken::new(),
        data_dir: std::env::temp_dir(),
    };
    let mut stage = FilterFactory
        .build(&snippet(config), signal, ctx)
        .unwrap_or_else(|err| panic!("{err}"))
        .stage;
    let stage_metrics = self_metrics.component(Kind::Processor, "filter", signal);
    stage_metrics.received(payload.item_count());
    let mut out = Vec::new();
    stage.process(Message::unacked(payload), &mut out);
    assert!(out.len() <= 1, "one message in, at most one out");
    let out = out.pop().map(|msg| msg.payload);
    stage_metrics.sent(out.as_ref().map_or(0, Payload::item_count));
    let counts = component_counts(&self_metrics, Kind::Processor, "filter", signal);
    (out, counts)
}

fn span_names(payload: &Payload) -> Vec<Vec<String>> {
    let Payload::Traces(req) = payload else {
        panic!("traces")
    };
    req.resource_spans
        .iter()
        .map(|r| {
            r.scope_spans
                .iter()
                .flat_map(|s| &s.spans)
                .map(|s| s.name.clone())
                .collect()
        })
        .collect()
}

#[test]
fn spans_matching_any_condition_are_dropped_and_counted() {
    let config = r#"
traces:
  span:
    - 'attributes["http.route"] == "/healthz"'
    - 'IsMatch(name, "^GET /static/")'
    - 'resource.attributes["service.name"] == "noise"'
"#;
    let payload = traces(vec![
        (
            "shop",
            vec![
                span("GET /cart", vec![kv("http.route", "/cart")]),
                span("GET /healthz", vec![kv("http.route", "/healthz")]),
                span("GET /static/app.js", vec![]),
                span("POST /static", vec![]),
            ],
        ),
        ("noise", vec![span("tick", vec![])]),
    ]);
    let (out, counts) = run(config, payload);
    let out = out.expect("spans are left");
    assert_eq!(
        span_names(&out),
        [["GET /cart", "POST /static"]],
        "the emptied resource is removed"
    );
    assert_eq!((counts.received, counts.sent, counts.dropped), (5, 2, 3));
}

#[test]
fn values_compare_with_their_type_and_an_absent_attribute_is_nil() {
    let config = r#"
traces:
  span:
    - 'attributes["http.status_code"] == 200'
    - 'attributes["retry"] == true'
    - 'attributes["tenant"] == nil'
"#;
    let tenant = || kv("tenant", "a");
    let payload = traces(vec![(
        "shop",
        vec![
            span("int 200", vec![int("http.status_code", 200), tenant()]),
            span("string 200", vec![kv("http.status_code", "200"), tenant()]),
            span("string true", vec![kv("retry", "true"), tenant()]),
            span("no tenant", vec![]),
        ],
    )]);
    let (out, counts) = run(config, payload);
    assert_eq!(span_names(&out.unwrap()), [["string 200", "string true"]]);
    assert_eq!(counts.dropped, 2);
}

#[test]
fn not_equal_drops_records_without_the_attribute_too() {
    let config = r#"
logs:
  log_record:
    - 'attributes["level"] != "error"'
"#;
    let payload = logs(vec![
        vec![kv("level", "error")],
        vec![kv("level", "info")],
        vec![],
    ]);
    let (out, counts) = run(config, payload);
    let Some(Payload::Logs(req)) = out else {
        panic!("the error record is left")
    };
    let records = &req.resource_logs[0].scope_logs[0].log_records;
    assert_eq!(records.len(), 1);
    assert_eq!(records[0].attributes, [kv("level", "error")]);
    assert_eq!((counts.received, counts.sent, counts.dropped), (3, 1, 2));
}

#[test]
fn metrics_are_dropped_whole_and_data_points_one_by_one() {
    let config = r#"
metrics:
  metric:
    - 'name == "process.runtime.gc.count"'
  datapoint:
    - 'attributes["state"] == "idle"'
"#;
    let state = |s| vec![kv("state", s)];
    let payload = metrics(vec![
        gauge("process.runtime.gc.count", vec![vec![], vec![]]),
        gauge(
            "db.client.connection.count",
            vec![state("used"), state("idle")],
        ),
        gauge("db.client.connection.idle", vec![state("idle")]),
        gauge("declared.without.points", vec![]),
    ]);
    let (out, counts) = run(config, payload);
    let Some(Payload::Metrics(req)) = out else {
        panic!("metrics are left")
    };
    let left: Vec<(&str, usize)> = req.resource_metrics[0].scope_metrics[0]
        .metrics
        .iter()
        .map(|m| {
            let points = sentinel_pipeline::signal::data_point_count(m.data.as_ref());
            (m.name.as_str(), points)
        })
        .collect();
    assert_eq!(
        left,
        [
            ("db.client.connection.count", 1),
            ("declared.without.points", 0)
        ],
        "a metric the filter emptied goes; one that came empty stays"
    );
    assert_eq!((counts.received, counts.sent, counts.dropped), (5, 1, 4));
}

#[test]
fn a_request_with_nothing_left_is_not_sent_on() {
    let config = "traces:\n  span:\n    - 'name != \"keep\"'\n";
    let payload = traces(vec![
        ("a", vec![span("x", vec![])]),
        ("b", vec![span("y", vec![])]),
    ]);
    let (out, counts) = run(config, payload);
    assert_eq!(out, None);
    assert_eq!((counts.received, counts.sent, counts.dropped), (2, 0, 2));
}

#[test]
fn signals_without_conditions_pass_untouched() {
    let config = "logs:\n  log_record:\n    - 'attributes[\"x\"] == \"y\"'\n";
    let payload = traces(vec![("a", vec![span("x", vec![kv("x", "y")])])]);
    let (out, counts) = run(config, payload.clone());
    assert_eq!(out, Some(payload));
    assert_eq!(counts.dropped, 0);
}

fn map_attribute(key: &str) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(AnyValue {
            value: Some(any_value::Value::KvlistValue(KeyValueList::default())),
        }),
        ..Default::default()
    }
}

/// Three spans: one whose `payload` is a map (IsMatch cannot read it), one matching the
/// second condition, one kept.
fn error_mode_run(mode: &str) -> (Option<Payload>, ComponentCounts) {
    let config = format!(
        "error_mode: {mode}\ntraces:\n  span:\n    - 'IsMatch(attributes[\"payload\"], \"secret\")'\n    - 'name == \"drop me\"'\n"
    );
    let payload = traces(vec![(
        "a",
        vec![
            span("map", vec![map_attribute("payload")]),
            span("drop me", vec![]),
            span("keep", vec![kv("payload", "public")]),
        ],
    )]);
    run(&config, payload)
}

#[test]
fn propagate_drops_the_whole_request_when_a_condition_fails() {
    let (out, counts) = error_mode_run("propagate");
    assert_eq!(out, None);
    assert_eq!((counts.received, counts.sent, counts.dropped), (3, 0, 3));
    let (_, default) = {
        let payload = traces(vec![(
            "a",
            vec![span("map", vec![map_attribute("payload")])],
        )]);
        let config = "traces:\n  span:\n    - 'IsMatch(attributes[\"payload\"], \"x\")'\n";
        run(config, payload)
    };
    assert_eq!(default.dropped, 1, "propagate is the default");
}

#[test]
fn ignore_and_silent_count_a_failing_condition_as_not_matching() {
    for mode in ["ignore", "silent"] {
        let (out, counts) = error_mode_run(mode);
        assert_eq!(span_names(&out.unwrap()), [["map", "keep"]], "{mode}");
        assert_eq!((counts.sent, counts.dropped), (2, 1), "{mode}");
    }
}

#[test]
fn a_bad_condition_is_reported_at_its_own_line_and_column() {
    let config = "traces:\n  span:\n    - 'name == \"ok\"'\n    - 'attributes[\"a\"] = \"b\"'\n";
    let diagnostics = FilterFactory.check(&snippet(config)).unwrap_err();
    assert_eq!(diagnostics.len(), 1);
    let diagnostic = &diagnostics[0];
    assert_eq!((diagnostic.span.line, diagnostic.span.col), (4, 7));
    assert!(
        diagnostic
            .message
            .contains("`=` is not an operator; write `==` or `!=` (at character 17)"),
        "{}",
        diagnostic.message
    );
}

#[test]
fn keys_follow_the_collector_and_unknown_ones_are_refused() {
    let effective = FilterFactory
        .check(&snippet(
            "error_mode: ignore\nmetrics:\n  datapoint: ['attributes[\"a\"] == 1']\n",
        ))
        .unwrap();
    assert_eq!(
        effective,
        serde_json::json!({
            "error_mode": "ignore",
            "traces": {"span": []},
            "logs": {"log_record": []},
            "metrics": {"metric": [], "datapoint": ["attributes[\"a\"] == 1"]},
        }),
        "conditions print as written"
    );
    let unknown = FilterFactory
        .check(&snippet("traces:\n  spanevent: []\n"))
        .unwrap_err();
    assert!(
        unknown[0].message.contains("unknown key \"spanevent\""),
        "{unknown:?}"
    );
    let mode = FilterFactory
        .check(&snippet("error_mode: loud\n"))
        .unwrap_err();
    assert!(mode[0].message.contains("loud"), "{mode:?}");
}
