use sentinel_pipeline::testing::ExporterCompliance;
use sentinel_pipeline::Signal;

use super::WebhookFactory;
use crate::notify::testing::alert_samples;
use crate::sending::compliance::start_for_compliance;

#[tokio::test]
async fn webhook_meets_the_exporter_contract() {
    // Alerts are taken into groups; the long group_wait keeps notifications out of the run.
    let config = "url: http://127.0.0.1:9/hook\nroute: {group_wait: 1h}\n";
    ExporterCompliance::new(&WebhookFactory, config, Signal::Logs, start_for_compliance)
        .samples(alert_samples)
        .run()
        .await;
}
