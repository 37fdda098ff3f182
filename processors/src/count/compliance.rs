use sentinel_pipeline::otlp::metrics::v1::metric::Data;
use sentinel_pipeline::otlp::metrics::v1::number_data_point::Value;
use sentinel_pipeline::otlp::trace::v1::span::Event;
use sentinel_pipeline::testing::{sample, ConnectorCompliance};
use sentinel_pipeline::{Payload, Signal};

use super::CountFactory;

/// (metric name, count) of every point, in order.
fn counts(payloads: &[Payload]) -> Vec<(String, i64)> {
    let mut out = Vec::new();
    for payload in payloads {
        let Payload::Metrics(req) = payload else {
            panic!("count emits metrics")
        };
        for metric in req
            .resource_metrics
            .iter()
            .flat_map(|r| &r.scope_metrics)
            .flat_map(|s| &s.metrics)
        {
            let Some(Data::Sum(sum)) = &metric.data else {
                panic!("{}: a sum", metric.name)
            };
            for point in &sum.data_points {
                let Some(Value::AsInt(count)) = point.value else {
                    panic!("an integer count")
                };
                out.push((metric.name.clone(), count));
            }
        }
    }
    out
}

fn expected(per_request: &[(&str, i64)]) -> Vec<(String, i64)> {
    (0..3)
        .flat_map(|_| per_request.iter().map(|(n, c)| (n.to_string(), *c)))
        .collect()
}

/// Three requests of ten spans, the first span of each with two events.
fn spans_with_events() -> Vec<Payload> {
    (0..3)
        .map(|seed| {
            let mut payload = sample(Signal::Traces, 10, seed);
            let Payload::Traces(req) = &mut payload else {
                unreachable!()
            };
            let first = &mut req.resource_spans[0].scope_spans[0].spans[0];
            first.events = vec![Event::default(), Event::default()];
            payload
        })
        .collect()
}

#[tokio::test]
async fn count_meets_the_connector_contract_for_spans() {
    let report = ConnectorCompliance::new(&CountFactory, "", Signal::Traces)
        .input(spans_with_events())
        .expect_sent(6)
        .run()
        .await;
    assert_eq!(
        counts(&report.delivered[&Signal::Metrics]),
        expected(&[("trace.span.count", 10), ("trace.span.event.count", 2)])
    );
}

#[tokio::test]
async fn count_meets_the_connector_contract_for_logs() {
    let report = ConnectorCompliance::new(&CountFactory, "", Signal::Logs)
        .expect_sent(3)
        .run()
        .await;
    assert_eq!(
        counts(&report.delivered[&Signal::Metrics]),
        expected(&[("log.record.count", 10)])
    );
}

#[tokio::test]
async fn count_meets_the_connector_contract_for_metrics() {
    let report = ConnectorCompliance::new(&CountFactory, "", Signal::Metrics)
        .expect_sent(6)
        .run()
        .await;
    assert_eq!(
        counts(&report.delivered[&Signal::Metrics]),
        expected(&[("metric.count", 10), ("metric.data_point.count", 10)])
    );
}
