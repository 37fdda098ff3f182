use sentinel_pipeline::otlp::metrics::v1::metric::Data;
use sentinel_pipeline::testing::{sample, ConnectorCompliance};
use sentinel_pipeline::{Payload, Signal};

use super::SpanMetricsFactory;

/// (calls points, sum of calls, duration points) of one emitted request.
fn totals(payload: &Payload) -> (usize, i64, usize) {
    let Payload::Metrics(request) = payload else {
        panic!("spanmetrics emits metrics")
    };
    let mut totals = (0, 0, 0);
    for metric in request
        .resource_metrics
        .iter()
        .flat_map(|r| &r.scope_metrics)
        .flat_map(|s| &s.metrics)
    {
        match &metric.data {
            Some(Data::Sum(sum)) => {
                assert_eq!(metric.name, "traces.span.metrics.calls");
                totals.0 += sum.data_points.len();
                totals.1 += sum
                    .data_points
                    .iter()
                    .map(|p| match p.value {
                        Some(
                            sentinel_pipeline::otlp::metrics::v1::number_data_point::Value::AsInt(
                                v,
                            ),
                        ) => v,
                        _ => panic!("calls are integers"),
                    })
                    .sum::<i64>();
            }
            Some(Data::Histogram(h)) => {
                assert_eq!(metric.name, "traces.span.metrics.duration");
                totals.2 += h.data_points.len();
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    totals
}

/// Three requests of ten spans, every span its own name: ten new series per request.
fn inputs() -> Vec<Payload> {
    (0..3)
        .map(|seed| sample(Signal::Traces, 10, seed))
        .collect()
}

#[tokio::test]
async fn spanmetrics_cumulative_meets_the_connector_contract() {
    // Emitting with every request, so a full metrics pipeline refuses the request.
    let report = ConnectorCompliance::new(
        &SpanMetricsFactory,
        "metrics_flush_interval: 0s",
        Signal::Traces,
    )
    .input(inputs())
    // Cumulative: 10, 20, then 30 series, each a calls point and a duration point.
    .expect_sent((10 + 20 + 30) * 2)
    .run()
    .await;
    let delivered = &report.delivered[&Signal::Metrics];
    let seen: Vec<_> = delivered.iter().map(totals).collect();
    assert_eq!(seen, [(10, 10, 10), (20, 20, 20), (30, 30, 30)]);
}

#[tokio::test]
async fn spanmetrics_delta_meets_the_connector_contract() {
    let report = ConnectorCompliance::new(
        &SpanMetricsFactory,
        "metrics_flush_interval: 0s\naggregation_temporality: AGGREGATION_TEMPORALITY_DELTA",
        Signal::Traces,
    )
    .input(inputs())
    .expect_sent(3 * 10 * 2)
    .run()
    .await;
    let seen: Vec<_> = report.delivered[&Signal::Metrics]
        .iter()
        .map(totals)
        .collect();
    assert_eq!(seen, [(10, 10, 10); 3]);
}
