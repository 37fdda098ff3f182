use sentinel_pipeline::testing::ExporterCompliance;
use sentinel_pipeline::Signal;

use super::EmailFactory;
use crate::notify::testing::alert_samples;
use crate::sending::compliance::start_for_compliance;

#[tokio::test]
async fn email_meets_the_exporter_contract() {
    let config = "to: ops@example.com\nfrom: sentinel@example.com\nsmarthost: 127.0.0.1:9\nroute: {group_wait: 1h}\n";
    ExporterCompliance::new(&EmailFactory, config, Signal::Logs, start_for_compliance)
        .samples(alert_samples)
        .run()
        .await;
}
