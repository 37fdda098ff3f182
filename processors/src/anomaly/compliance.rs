use sentinel_pipeline::otlp::metrics::v1::metric::Data;
use sentinel_pipeline::testing::ConnectorCompliance;
use sentinel_pipeline::{Payload, Signal};

use super::{AnomalyFactory, SCORE_METRIC};

#[tokio::test]
async fn anomaly_meets_the_connector_contract() {
    // Three requests of ten gauges: one score point per gauge point
    // (still in probation, so no events).
    let report = ConnectorCompliance::new(&AnomalyFactory, "", Signal::Metrics)
        .expect_sent(30)
        .run()
        .await;
    let mut points = 0;
    for payload in &report.delivered[&Signal::Metrics] {
        let Payload::Metrics(req) = payload else {
            panic!("scores are metrics")
        };
        for metric in req
            .resource_metrics
            .iter()
            .flat_map(|r| &r.scope_metrics)
            .flat_map(|s| &s.metrics)
        {
            assert_eq!(metric.name, SCORE_METRIC);
            let Some(Data::Gauge(gauge)) = &metric.data else {
                panic!("the score is a gauge")
            };
            points += gauge.data_points.len();
        }
    }
    assert_eq!(points, 30);
    assert!(report.delivered[&Signal::Logs].is_empty());
}
