//! From `claude_code.hook.*` log records to delta metrics.

use std::collections::BTreeMap;
use std::time::{SystemTime, UNIX_EPOCH};

use sentinel_pipeline::otlp::collector::logs::v1::ExportLogsServiceRequest;
use sentinel_pipeline::otlp::collector::metrics::v1::ExportMetricsServiceRequest;
use sentinel_pipeline::otlp::common::v1::{any_value, AnyValue, InstrumentationScope, KeyValue};
use sentinel_pipeline::otlp::logs::v1::LogRecord;
use sentinel_pipeline::otlp::metrics::v1::{
    metric, number_data_point, AggregationTemporality, Histogram, HistogramDataPoint, Metric,
    NumberDataPoint, ResourceMetrics, ScopeMetrics, Sum,
};
use sentinel_pipeline::visit::{ExportRequest, ResourceGroup};

use super::pairing::{Evicted, PendingCalls};

const EVENT_PREFIX: &str = "claude_code.hook.";
/// Bucket bounds of `sentinel.hook.tool_duration`, in milliseconds.
pub const DURATION_BOUNDS_MS: [f64; 14] = [
    5.0, 10.0, 25.0, 50.0, 100.0, 250.0, 500.0, 1_000.0, 2_500.0, 5_000.0, 10_000.0, 30_000.0,
    60_000.0, 300_000.0,
];

/// The counters: (metric name, sorted attributes) → count.
type Counts = BTreeMap<(&'static str, Vec<(&'static str, String)>), i64>;
/// The tool durations by tool name.
type Durations = BTreeMap<String, Vec<f64>>;

/// What one resource's hook records gave.
#[derive(Default)]
struct Derived {
    counts: Counts,
    durations: Durations,
}

/// What a whole request gave: the metrics (if any) and the calls evicted unpaired.
pub struct Derivation {
    pub metrics: Option<ExportMetricsServiceRequest>,
    pub evicted: Evicted,
}

/// Derives the metrics of every hook record in `request`.
pub fn derive(request: &ExportLogsServiceRequest, pending: &mut PendingCalls) -> Derivation {
    let mut evicted = Evicted::default();
    let mut resource_metrics = Vec::new();
    for resource_logs in request.groups() {
        let mut derived = Derived::default();
        for (_, record) in resource_logs.items() {
            let Some(event) = record.event_name.strip_prefix(EVENT_PREFIX) else {
                continue;
            };
            let more = derive_one(event, record, pending, &mut derived);
            evicted.expired += more.expired;
            evicted.overflowed += more.overflowed;
        }
        if derived.counts.is_empty() && derived.durations.is_empty() {
            continue;
        }
        resource_metrics.push(ResourceMetrics {
            resource: resource_logs.resource().cloned(),
            scope_metrics: vec![ScopeMetrics {
                scope: Some(InstrumentationScope {
                    name: "sentinel/connector/hook_metrics".into(),
                    ..Default::default()
                }),
                metrics: to_metrics(derived),
                ..Default::default()
            }],
            ..Default::default()
        });
    }
    let metrics =
        (!resource_metrics.is_empty()).then_some(ExportMetricsServiceRequest { resource_metrics });
    Derivation { metrics, evicted }
}

fn derive_one(
    event: &str,
    record: &LogRecord,
    pending: &mut PendingCalls,
    derived: &mut Derived,
) -> Evicted {
    let tool = || attribute(record, "gen_ai.tool.name").unwrap_or_else(|| "unknown".into());
    let time = if record.time_unix_nano > 0 {
        record.time_unix_nano
    } else {
        record.observed_time_unix_nano
    };
    let mut count = |name: &'static str, attributes: Vec<(&'static str, String)>| {
        *derived.counts.entry((name, attributes)).or_default() += 1;
    };
    let mut evicted = Evicted::default();
    match event {
        "PreToolUse" => {
            if attribute(record, "sentinel.policy.decision").as_deref() == Some("deny") {
                count(
                    "sentinel.hook.tool_calls",
                    vec![("gen_ai.tool.name", tool()), ("outcome", "blocked".into())],
                );
                let rule = attribute(record, "sentinel.policy.rule_id")
                    .unwrap_or_else(|| "unknown".into());
                count(
                    "sentinel.hook.blocked",
                    vec![("sentinel.policy.rule_id", rule)],
                );
            } else if let Some(id) = attribute(record, "tool_use_id") {
                evicted = pending.start(&id, time);
            }
        }
        "PostToolUse" | "PostToolUseFailure" => {
            let outcome = if event == "PostToolUse" {
                "success"
            } else {
                "failure"
            };
            count(
                "sentinel.hook.tool_calls",
                vec![("gen_ai.tool.name", tool()), ("outcome", outcome.into())],
            );
            let paired = attribute(record, "tool_use_id").and_then(|id| pending.finish(&id, time));
            // Prefer Claude Code's own measure; pairing is the fallback.
            if let Some(ms) = number_attribute(record, "duration_ms").or(paired) {
                derived.durations.entry(tool()).or_default().push(ms);
            }
        }
        "SessionStart" => count("sentinel.hook.sessions", Vec::new()),
        "UserPromptSubmit" => count("sentinel.hook.prompts", Vec::new()),
        // A run is counted when it ends, so a run is never counted twice.
        "SubagentStop" => {
            let agent_type = attribute(record, "agent.type").unwrap_or_else(|| "unknown".into());
            count(
                "sentinel.hook.subagent_runs",
                vec![("agent.type", agent_type)],
            );
        }
        _ => {}
    }
    evicted
}

fn attribute(record: &LogRecord, key: &str) -> Option<String> {
    let value = record
        .attributes
        .iter()
        .find(|kv| kv.key == key)?
        .value
        .as_ref()?;
    match value.value.as_ref()? {
        any_value::Value::StringValue(s) => Some(s.clone()),
        any_value::Value::IntValue(i) => Some(i.to_string()),
        _ => None,
    }
}

fn number_attribute(record: &LogRecord, key: &str) -> Option<f64> {
    let value = record
        .attributes
        .iter()
        .find(|kv| kv.key == key)?
        .value
        .as_ref()?;
    match value.value.as_ref()? {
        any_value::Value::IntValue(i) => Some(*i as f64),
        any_value::Value::DoubleValue(d) => Some(*d),
        any_value::Value::StringValue(s) => s.parse().ok(),
        _ => None,
    }
}

fn description(name: &str) -> &'static str {
    match name {
        "sentinel.hook.tool_calls" => {
            "Tool calls seen by Claude Code hooks, by tool and outcome (success, failure, blocked)."
        }
        "sentinel.hook.blocked" => "Tool calls denied by the sentinel policy, by rule.",
        "sentinel.hook.sessions" => "Claude Code sessions started.",
        "sentinel.hook.prompts" => "User prompts submitted.",
        "sentinel.hook.subagent_runs" => "Subagent runs finished, by agent type.",
        _ => "",
    }
}

fn to_metrics(derived: Derived) -> Vec<Metric> {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0);
    let delta = AggregationTemporality::Delta as i32;
    let mut by_name: BTreeMap<&'static str, Vec<NumberDataPoint>> = BTreeMap::new();
    for ((name, attributes), value) in derived.counts {
        by_name.entry(name).or_default().push(NumberDataPoint {
            attributes: attributes
                .into_iter()
                .map(|(k, v)| string_kv(k, v))
                .collect(),
            start_time_unix_nano: now,
            time_unix_nano: now,
            value: Some(number_data_point::Value::AsInt(value)),
            ..Default::default()
        });
    }
    let mut metrics: Vec<Metric> = by_name
        .into_iter()
        .map(|(name, data_points)| Metric {
            name: name.into(),
            description: description(name).into(),
            unit: "{calls}".into(),
            data: Some(metric::Data::Sum(Sum {
                data_points,
                aggregation_temporality: delta,
                is_monotonic: true,
            })),
            ..Default::default()
        })
        .collect();
    if !derived.durations.is_empty() {
        let data_points = derived
            .durations
            .into_iter()
            .map(|(tool, values)| histogram_point(tool, &values, now))
            .collect();
        metrics.push(Metric {
            name: "sentinel.hook.tool_duration".into(),
            description: "Tool call duration, from duration_ms or PreToolUse/PostToolUse pairing."
                .into(),
            unit: "ms".into(),
            data: Some(metric::Data::Histogram(Histogram {
                data_points,
                aggregation_temporality: delta,
            })),
            ..Default::default()
        });
    }
    metrics
}

fn histogram_point(tool: String, values: &[f64], now: u64) -> HistogramDataPoint {
    let mut bucket_counts = vec![0u64; DURATION_BOUNDS_MS.len() + 1];
    for value in values {
        let bucket = DURATION_BOUNDS_MS.partition_point(|bound| bound < value);
        bucket_counts[bucket] += 1;
    }
    HistogramDataPoint {
        attributes: vec![string_kv("gen_ai.tool.name", tool)],
        start_time_unix_nano: now,
        time_unix_nano: now,
        count: values.len() as u64,
        sum: Some(values.iter().sum()),
        min: values.iter().copied().reduce(f64::min),
        max: values.iter().copied().reduce(f64::max),
        bucket_counts,
        explicit_bounds: DURATION_BOUNDS_MS.to_vec(),
        ..Default::default()
    }
}

fn string_kv(key: &str, value: String) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(AnyValue {
            value: Some(any_value::Value::StringValue(value)),
        }),
        ..Default::default()
    }
}
