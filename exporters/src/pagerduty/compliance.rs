use sentinel_pipeline::testing::ExporterCompliance;
use sentinel_pipeline::Signal;

use super::PagerDutyFactory;
use crate::notify::testing::alert_samples;
use crate::sending::compliance::start_for_compliance;

#[tokio::test]
async fn pagerduty_meets_the_exporter_contract() {
    let config = "routing_key: 0123456789abcdef0123456789abcdef\nurl: http://127.0.0.1:9/v2/enqueue\nroute: {group_wait: 1h}\n";
    ExporterCompliance::new(
        &PagerDutyFactory,
        config,
        Signal::Logs,
        start_for_compliance,
    )
    .samples(alert_samples)
    .run()
    .await;
}
