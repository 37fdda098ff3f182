use sentinel_pipeline::otlp::common::v1::{any_value, KeyValue};
use sentinel_pipeline::testing::ProcessorCompliance;
use sentinel_pipeline::{Payload, Signal};

use super::FilterFactory;

/// Against the default input (three requests of ten items, `sample.index` 0 to 9, spans
/// named `operation-SEED-INDEX`, gauges `compliance.gauge.INDEX`).
const CONFIG: &str = r#"
traces:
  span:
    - 'attributes["sample.index"] == "3"'
    - 'IsMatch(name, "^operation-1-")'
logs:
  log_record:
    - 'IsMatch(attributes["sample.index"], "^[0-4]$")'
metrics:
  metric:
    - 'name == "compliance.gauge.0"'
  datapoint:
    - 'attributes["sample.index"] == "9"'
"#;

fn sample_index(attributes: &[KeyValue]) -> String {
    let value = attributes
        .iter()
        .find(|kv| kv.key == "sample.index")
        .and_then(|kv| kv.value.as_ref()?.value.as_ref());
    match value {
        Some(any_value::Value::StringValue(index)) => index.clone(),
        other => panic!("sample.index: {other:?}"),
    }
}

/// Per delivered request: the names of spans and metrics, the indexes of log records.
fn kept(payloads: &[Payload]) -> Vec<Vec<String>> {
    payloads
        .iter()
        .map(|payload| match payload {
            Payload::Traces(req) => req
                .resource_spans
                .iter()
                .flat_map(|r| &r.scope_spans)
                .flat_map(|s| &s.spans)
                .map(|s| s.name.clone())
                .collect(),
            Payload::Logs(req) => req
                .resource_logs
                .iter()
                .flat_map(|r| &r.scope_logs)
                .flat_map(|s| &s.log_records)
                .map(|r| sample_index(&r.attributes))
                .collect(),
            Payload::Metrics(req) => req
                .resource_metrics
                .iter()
                .flat_map(|r| &r.scope_metrics)
                .flat_map(|s| &s.metrics)
                .map(|m| m.name.clone())
                .collect(),
        })
        .collect()
}

fn names(prefix: &str, indexes: impl Iterator<Item = u64>) -> Vec<String> {
    indexes.map(|i| format!("{prefix}{i}")).collect()
}

#[tokio::test]
async fn filter_meets_the_processor_contract_for_spans() {
    // Index 3 of every request, and all ten spans of request 1 (not sent on at all).
    let report = ProcessorCompliance::new(&FilterFactory, CONFIG, Signal::Traces)
        .expect_sent(18)
        .expect_dropped(12)
        .run()
        .await;
    let without_3 = |seed| names(&format!("operation-{seed}-"), (0..10).filter(|i| *i != 3));
    assert_eq!(kept(&report.delivered), [without_3(0), without_3(2)]);
}

#[tokio::test]
async fn filter_meets_the_processor_contract_for_log_records() {
    let report = ProcessorCompliance::new(&FilterFactory, CONFIG, Signal::Logs)
        .expect_sent(15)
        .expect_dropped(15)
        .run()
        .await;
    let upper_half = names("", 5..10);
    assert_eq!(kept(&report.delivered), vec![upper_half; 3]);
}

#[tokio::test]
async fn filter_meets_the_processor_contract_for_metrics_and_data_points() {
    // Per request: gauge 0 by name, and gauge 9's only point (the emptied metric goes).
    let report = ProcessorCompliance::new(&FilterFactory, CONFIG, Signal::Metrics)
        .expect_sent(24)
        .expect_dropped(6)
        .run()
        .await;
    let middle = names("compliance.gauge.", 1..9);
    assert_eq!(kept(&report.delivered), vec![middle; 3]);
}
