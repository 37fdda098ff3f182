use sentinel_pipeline::otlp::collector::logs::v1::ExportLogsServiceRequest;
use sentinel_pipeline::otlp::common::v1::{any_value, KeyValue};
use sentinel_pipeline::otlp::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
use sentinel_pipeline::otlp::metrics::v1::metric::Data;
use sentinel_pipeline::otlp::metrics::v1::number_data_point::Value;
use sentinel_pipeline::testing::ConnectorCompliance;
use sentinel_pipeline::{Payload, Signal};

use super::tests::{record, s};
use super::HookMetricsFactory;

fn request(records: Vec<LogRecord>) -> Payload {
    Payload::Logs(ExportLogsServiceRequest {
        resource_logs: vec![ResourceLogs {
            scope_logs: vec![ScopeLogs {
                log_records: records,
                ..Default::default()
            }],
            ..Default::default()
        }],
    })
}

/// One session over two requests: a tool call starts in the first and ends in the
/// second, so nothing waits for its end when the connector stops.
fn session() -> Vec<Payload> {
    let bash = || ("gen_ai.tool.name", s("Bash"));
    vec![
        request(vec![
            record("SessionStart", 0, &[]),
            record("UserPromptSubmit", 1, &[]),
            record("PreToolUse", 1_000, &[bash(), ("tool_use_id", s("a"))]),
            record(
                "PreToolUse",
                2_000,
                &[
                    bash(),
                    ("tool_use_id", s("b")),
                    ("sentinel.policy.decision", s("deny")),
                    ("sentinel.policy.rule_id", s("rm-rf-root")),
                ],
            ),
        ]),
        request(vec![
            record("PostToolUse", 1_250, &[bash(), ("tool_use_id", s("a"))]),
            record("SubagentStop", 5_000, &[("agent.type", s("reviewer"))]),
            record("Notification", 6_000, &[]),
        ]),
    ]
}

/// (metric, attribute values, value) of every sum point; (metric, count, sum) of every
/// histogram point.
fn points(payload: &Payload) -> Vec<(String, Vec<String>, f64)> {
    let Payload::Metrics(req) = payload else {
        panic!("hook_metrics emits metrics")
    };
    let values = |attributes: &[KeyValue]| {
        attributes
            .iter()
            .map(
                |kv| match kv.value.as_ref().and_then(|v| v.value.as_ref()) {
                    Some(any_value::Value::StringValue(v)) => format!("{}={v}", kv.key),
                    other => format!("{}={other:?}", kv.key),
                },
            )
            .collect::<Vec<_>>()
    };
    let mut out = Vec::new();
    for metric in req
        .resource_metrics
        .iter()
        .flat_map(|r| &r.scope_metrics)
        .flat_map(|s| &s.metrics)
    {
        match &metric.data {
            Some(Data::Sum(sum)) => sum.data_points.iter().for_each(|p| {
                let Some(Value::AsInt(v)) = p.value else {
                    panic!("an integer")
                };
                out.push((metric.name.clone(), values(&p.attributes), v as f64));
            }),
            Some(Data::Histogram(h)) => h.data_points.iter().for_each(|p| {
                let mut labels = values(&p.attributes);
                labels.push(format!("count={}", p.count));
                out.push((metric.name.clone(), labels, p.sum.unwrap_or_default()));
            }),
            other => panic!("unexpected {other:?}"),
        }
    }
    out
}

fn point(metric: &str, labels: &[&str], value: f64) -> (String, Vec<String>, f64) {
    let labels = labels.iter().map(|l| l.to_string()).collect();
    (metric.into(), labels, value)
}

#[tokio::test]
async fn hook_metrics_meets_the_connector_contract() {
    let report = ConnectorCompliance::new(&HookMetricsFactory, "", Signal::Logs)
        .input(session())
        // First request: sessions, prompts, blocked, tool_calls{blocked}; second:
        // tool_calls{success}, subagent_runs, the tool_duration histogram.
        .expect_sent(7)
        .run()
        .await;
    let delivered = &report.delivered[&Signal::Metrics];
    assert_eq!(delivered.len(), 2, "one metrics request per hook request");
    assert_eq!(
        points(&delivered[0]),
        [
            point(
                "sentinel.hook.blocked",
                &["sentinel.policy.rule_id=rm-rf-root"],
                1.0
            ),
            point("sentinel.hook.prompts", &[], 1.0),
            point("sentinel.hook.sessions", &[], 1.0),
            point(
                "sentinel.hook.tool_calls",
                &["gen_ai.tool.name=Bash", "outcome=blocked"],
                1.0
            ),
        ]
    );
    assert_eq!(
        points(&delivered[1]),
        [
            point("sentinel.hook.subagent_runs", &["agent.type=reviewer"], 1.0),
            point(
                "sentinel.hook.tool_calls",
                &["gen_ai.tool.name=Bash", "outcome=success"],
                1.0
            ),
            // PreToolUse at 1,000 ms paired with PostToolUse at 1,250 ms.
            point(
                "sentinel.hook.tool_duration",
                &["gen_ai.tool.name=Bash", "count=1"],
                250.0
            ),
        ]
    );
}
