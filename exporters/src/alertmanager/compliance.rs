use sentinel_pipeline::testing::ExporterCompliance;
use sentinel_pipeline::Signal;

use super::AlertmanagerFactory;
use crate::notify::testing::alert_samples;
use crate::sending::compliance::start_for_compliance;

#[tokio::test]
async fn alertmanager_meets_the_exporter_contract() {
    let config =
        "api_url: http://127.0.0.1:9\nsilences: [{matchers: [alertname=ComplianceAlert]}]\n";
    ExporterCompliance::new(
        &AlertmanagerFactory,
        config,
        Signal::Logs,
        start_for_compliance,
    )
    .samples(alert_samples)
    .run()
    .await;
}
