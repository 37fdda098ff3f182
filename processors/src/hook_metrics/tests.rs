use std::sync::Arc;

use sentinel_pipeline::otlp::collector::logs::v1::ExportLogsServiceRequest;
use sentinel_pipeline::otlp::common::v1::{any_value, AnyValue, KeyValue};
use sentinel_pipeline::otlp::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
use sentinel_pipeline::otlp::metrics::v1::metric::Data;
use sentinel_pipeline::otlp::metrics::v1::number_data_point::Value;
use sentinel_pipeline::testing::component_counts;
use sentinel_pipeline::SelfMetrics;
use tokio_util::sync::CancellationToken;

use super::*;
use crate::forward::tests_support::{outputs, Recorder};

pub(super) const MS: u64 = 1_000_000;

pub(super) fn record(
    event: &str,
    time_ms: u64,
    attributes: &[(&str, any_value::Value)],
) -> LogRecord {
    LogRecord {
        event_name: format!("claude_code.hook.{event}"),
        time_unix_nano: time_ms * MS,
        attributes: attributes
            .iter()
            .map(|(k, v)| KeyValue {
                key: k.to_string(),
                value: Some(AnyValue {
                    value: Some(v.clone()),
                }),
                ..Default::default()
            })
            .collect(),
        ..Default::default()
    }
}

pub(super) fn s(text: &str) -> any_value::Value {
    any_value::Value::StringValue(text.into())
}

fn logs(records: Vec<LogRecord>) -> Message {
    Message::unacked(Payload::Logs(ExportLogsServiceRequest {
        resource_logs: vec![ResourceLogs {
            scope_logs: vec![ScopeLogs {
                log_records: records,
                ..Default::default()
            }],
            ..Default::default()
        }],
    }))
}

/// `max_pending` set as `max_pending_tool_calls`, else the defaults.
fn build(max_pending: Option<i64>) -> (Arc<dyn Connector>, Arc<SelfMetrics>) {
    use sentinel_pipeline::config::{NodeValue, Span};
    let metrics = SelfMetrics::new();
    let ctx = BuildContext {
        id: "hook_metrics".into(),
        metrics: metrics.clone(),
        shutdown: CancellationToken::new(),
        data_dir: std::env::temp_dir(),
    };
    let mut node = Node::empty_map(Span::unknown());
    if let Some(max) = max_pending {
        let key = Node::new(
            NodeValue::String("max_pending_tool_calls".into()),
            Span::unknown(),
        );
        node.value = NodeValue::Map(vec![(key, Node::new(NodeValue::Int(max), Span::unknown()))]);
    }
    (HookMetricsFactory.build(&node, ctx).unwrap(), metrics)
}

/// Every (metric, attributes, value) of the sums, and (tool, count, sum) of the histogram.
type Sums = Vec<(String, String, i64)>;
type Hist = Vec<(String, u64, f64)>;

fn flatten(payload: &Payload) -> (Sums, Hist) {
    let Payload::Metrics(req) = payload else {
        panic!("metrics")
    };
    let mut sums = Vec::new();
    let mut hist = Vec::new();
    for metric in req
        .resource_metrics
        .iter()
        .flat_map(|r| &r.scope_metrics)
        .flat_map(|s| &s.metrics)
    {
        let label = |attrs: &[KeyValue]| {
            attrs
                .iter()
                .map(
                    |kv| match kv.value.as_ref().and_then(|v| v.value.as_ref()) {
                        Some(any_value::Value::StringValue(v)) => format!("{}={v}", kv.key),
                        _ => kv.key.clone(),
                    },
                )
                .collect::<Vec<_>>()
                .join(",")
        };
        match &metric.data {
            Some(Data::Sum(sum)) => {
                assert_eq!(sum.aggregation_temporality, 1, "delta");
                for p in &sum.data_points {
                    let Some(Value::AsInt(v)) = p.value else {
                        panic!()
                    };
                    sums.push((metric.name.clone(), label(&p.attributes), v));
                }
            }
            Some(Data::Histogram(h)) => {
                for p in &h.data_points {
                    assert_eq!(p.bucket_counts.iter().sum::<u64>(), p.count);
                    hist.push((label(&p.attributes), p.count, p.sum.unwrap()));
                }
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    (sums, hist)
}

#[test]
fn derives_tool_calls_durations_blocks_sessions_prompts_and_subagents() {
    let (connector, metrics) = build(None);
    let recorder = Arc::new(Recorder::default());
    let out = outputs(Signal::Metrics, recorder.clone());
    let bash = ("gen_ai.tool.name", s("Bash"));
    let records = vec![
        record("SessionStart", 0, &[]),
        record("UserPromptSubmit", 1, &[]),
        record("UserPromptSubmit", 2, &[]),
        // Paired by tool_use_id: 250 ms.
        record(
            "PreToolUse",
            1_000,
            &[
                bash.clone(),
                ("tool_use_id", s("a")),
                ("sentinel.policy.decision", s("allow")),
            ],
        ),
        record(
            "PostToolUse",
            1_250,
            &[bash.clone(), ("tool_use_id", s("a"))],
        ),
        // duration_ms wins over pairing.
        record(
            "PreToolUse",
            2_000,
            &[bash.clone(), ("tool_use_id", s("b"))],
        ),
        record(
            "PostToolUseFailure",
            9_000,
            &[
                bash.clone(),
                ("tool_use_id", s("b")),
                ("duration_ms", any_value::Value::IntValue(40)),
            ],
        ),
        // Denied: blocked, by rule, and never waits for a PostToolUse.
        record(
            "PreToolUse",
            3_000,
            &[
                bash.clone(),
                ("tool_use_id", s("c")),
                ("sentinel.policy.decision", s("deny")),
                ("sentinel.policy.rule_id", s("rm-rf-root")),
            ],
        ),
        record("SubagentStart", 4_000, &[("agent.type", s("reviewer"))]),
        record("SubagentStop", 5_000, &[("agent.type", s("reviewer"))]),
        record("Notification", 6_000, &[]),
    ];
    let count = records.len();
    connector.consume(logs(records), &out).unwrap();
    let seen = recorder.seen.lock().unwrap();
    let (mut sums, hist) = flatten(&seen[0].payload);
    sums.sort();
    assert_eq!(
        sums,
        vec![
            (
                "sentinel.hook.blocked".into(),
                "sentinel.policy.rule_id=rm-rf-root".into(),
                1
            ),
            ("sentinel.hook.prompts".into(), "".into(), 2),
            ("sentinel.hook.sessions".into(), "".into(), 1),
            (
                "sentinel.hook.subagent_runs".into(),
                "agent.type=reviewer".into(),
                1
            ),
            (
                "sentinel.hook.tool_calls".into(),
                "gen_ai.tool.name=Bash,outcome=blocked".into(),
                1
            ),
            (
                "sentinel.hook.tool_calls".into(),
                "gen_ai.tool.name=Bash,outcome=failure".into(),
                1
            ),
            (
                "sentinel.hook.tool_calls".into(),
                "gen_ai.tool.name=Bash,outcome=success".into(),
                1
            ),
        ]
    );
    assert_eq!(hist, vec![("gen_ai.tool.name=Bash".into(), 2, 290.0)]);
    let counts = component_counts(&metrics, Kind::Connector, "hook_metrics", Signal::Logs);
    assert_eq!(counts.received, count as u64);
    assert_eq!(counts.sent, 8, "7 sum points and 1 histogram point");
    assert_eq!(counts.dropped, 0);
    assert_eq!(counts.queue_size, 0, "no call left waiting");
}

#[test]
fn unfinished_calls_beyond_the_bound_are_counted_as_dropped() {
    let (connector, metrics) = build(Some(3));
    let recorder = Arc::new(Recorder::default());
    let out = outputs(Signal::Metrics, recorder.clone());
    let records = (0..5)
        .map(|i| record("PreToolUse", i, &[("tool_use_id", s(&format!("t{i}")))]))
        .collect();
    connector.consume(logs(records), &out).unwrap();
    assert!(
        recorder.seen.lock().unwrap().is_empty(),
        "nothing to emit yet"
    );
    let counts = component_counts(&metrics, Kind::Connector, "hook_metrics", Signal::Logs);
    assert_eq!((counts.dropped, counts.queue_size), (2, 3));
    // The oldest were forgotten: t0 cannot be timed any more, t4 can.
    let records = vec![
        record("PostToolUse", 100, &[("tool_use_id", s("t0"))]),
        record("PostToolUse", 100, &[("tool_use_id", s("t4"))]),
    ];
    connector.consume(logs(records), &out).unwrap();
    let seen = recorder.seen.lock().unwrap();
    let (_, hist) = flatten(&seen[0].payload);
    assert_eq!(hist, vec![("gen_ai.tool.name=unknown".into(), 1, 96.0)]);
}

#[test]
fn other_logs_pass_without_metrics() {
    let (connector, metrics) = build(None);
    let recorder = Arc::new(Recorder::default());
    let out = outputs(Signal::Metrics, recorder.clone());
    let mut plain = record("x", 1, &[]);
    plain.event_name = "claude_code.api_request".into();
    connector.consume(logs(vec![plain]), &out).unwrap();
    assert!(recorder.seen.lock().unwrap().is_empty());
    let counts = component_counts(&metrics, Kind::Connector, "hook_metrics", Signal::Logs);
    assert_eq!((counts.received, counts.sent), (1, 0));
}
