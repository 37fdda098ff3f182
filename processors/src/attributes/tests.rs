use sentinel_pipeline::otlp::common::v1::{any_value, KeyValue};
use sentinel_pipeline::otlp::metrics::v1::metric::Data;
use sentinel_pipeline::{Message, Payload, Processor};

use super::*;
use crate::actions::{ActionKind, AttributeValue};
use crate::test_data::{gauges, logs, spans};

fn processor() -> AttributesProcessor {
    AttributesProcessor {
        actions: vec![
            ActionConfig {
                key: "env".into(),
                value: Some(AttributeValue::String("prod".into())),
                from_attribute: None,
                action: ActionKind::Upsert,
            },
            ActionConfig {
                key: "existing".into(),
                value: None,
                from_attribute: None,
                action: ActionKind::Delete,
            },
        ],
    }
}

fn keys_and_env(attrs: &[KeyValue]) -> (Vec<String>, Option<any_value::Value>) {
    let keys = attrs.iter().map(|kv| kv.key.clone()).collect();
    let env = attrs
        .iter()
        .find(|kv| kv.key == "env")
        .and_then(|kv| kv.value.clone()?.value);
    (keys, env)
}

fn run(payload: Payload) -> Payload {
    let mut out = Vec::new();
    processor().process(Message::unacked(payload), &mut out);
    out.pop().unwrap().payload
}

#[test]
fn applies_to_every_span_log_and_data_point() {
    let expected = (
        vec!["env".to_string()],
        Some(any_value::Value::StringValue("prod".into())),
    );
    let Payload::Traces(t) = run(spans("s", 3)) else {
        panic!()
    };
    for span in &t.resource_spans[0].scope_spans[0].spans {
        assert_eq!(keys_and_env(&span.attributes), expected);
    }
    let Payload::Logs(l) = run(logs(2)) else {
        panic!()
    };
    for log in &l.resource_logs[0].scope_logs[0].log_records {
        assert_eq!(keys_and_env(&log.attributes), expected);
    }
    let Payload::Metrics(m) = run(gauges(2, 2)) else {
        panic!()
    };
    for metric in &m.resource_metrics[0].scope_metrics[0].metrics {
        let Some(Data::Gauge(g)) = &metric.data else {
            panic!()
        };
        for point in &g.data_points {
            assert_eq!(keys_and_env(&point.attributes), expected);
        }
    }
    // Resource attributes are the `resource` processor's business.
    assert_eq!(
        t.resource_spans[0]
            .resource
            .as_ref()
            .unwrap()
            .attributes
            .len(),
        1
    );
}
