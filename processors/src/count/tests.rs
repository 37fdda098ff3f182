use std::sync::Arc;

use sentinel_pipeline::otlp::metrics::v1::metric::Data;
use sentinel_pipeline::otlp::metrics::v1::number_data_point::Value;
use sentinel_pipeline::testing::component_counts;
use sentinel_pipeline::SelfMetrics;
use tokio_util::sync::CancellationToken;

use super::*;
use crate::forward::tests_support::{outputs, Recorder};
use crate::test_data::{gauges, logs, spans};

fn counts_of(payload: &Payload) -> Vec<(String, i64, i32, bool)> {
    let Payload::Metrics(req) = payload else {
        panic!("count emits metrics")
    };
    req.resource_metrics
        .iter()
        .flat_map(|r| &r.scope_metrics)
        .flat_map(|s| &s.metrics)
        .map(|m| {
            let Some(Data::Sum(sum)) = &m.data else {
                panic!("a sum")
            };
            let Some(Value::AsInt(v)) = sum.data_points[0].value else {
                panic!("an int")
            };
            (
                m.name.clone(),
                v,
                sum.aggregation_temporality,
                sum.is_monotonic,
            )
        })
        .collect()
}

#[test]
fn counts_each_signal_into_delta_sums() {
    let metrics = SelfMetrics::new();
    let ctx = BuildContext {
        id: "count".into(),
        metrics: metrics.clone(),
        shutdown: CancellationToken::new(),
        data_dir: std::env::temp_dir(),
    };
    let node = Node::empty_map(sentinel_pipeline::config::Span::unknown());
    let connector = CountFactory.build(&node, ctx).unwrap();
    let recorder = Arc::new(Recorder::default());
    let out = outputs(Signal::Metrics, recorder.clone());
    connector
        .consume(Message::unacked(spans("s", 5)), &out)
        .unwrap();
    connector.consume(Message::unacked(logs(3)), &out).unwrap();
    connector
        .consume(Message::unacked(gauges(2, 4)), &out)
        .unwrap();
    let seen = recorder.seen.lock().unwrap();
    let delta = AggregationTemporality::Delta as i32;
    assert_eq!(
        counts_of(&seen[0].payload),
        vec![
            ("trace.span.count".into(), 5, delta, true),
            ("trace.span.event.count".into(), 0, delta, true)
        ]
    );
    assert_eq!(
        counts_of(&seen[1].payload),
        vec![("log.record.count".into(), 3, delta, true)]
    );
    assert_eq!(
        counts_of(&seen[2].payload),
        vec![
            ("metric.count".into(), 2, delta, true),
            ("metric.data_point.count".into(), 8, delta, true)
        ]
    );
    let Payload::Metrics(req) = &seen[0].payload else {
        panic!()
    };
    let service = &req.resource_metrics[0]
        .resource
        .as_ref()
        .unwrap()
        .attributes[0];
    assert_eq!(service.key, "service.name", "the resource is kept");
    let traces = component_counts(&metrics, Kind::Connector, "count", Signal::Traces);
    assert_eq!((traces.received, traces.sent), (5, 2));
    let logs = component_counts(&metrics, Kind::Connector, "count", Signal::Logs);
    assert_eq!((logs.received, logs.sent), (3, 1));
}
