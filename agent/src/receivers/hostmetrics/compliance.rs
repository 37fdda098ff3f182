use sentinel_pipeline::testing::{ReceiverCompliance, Scrapes};

use super::HostMetricsReceiverFactory;

#[tokio::test]
async fn hostmetrics_meets_the_receiver_contract() {
    // One scrape at once, none after it while the runner looks.
    let config =
        "collection_interval: 1h\ninitial_delay: 0s\nscrapers:\n  memory: {}\n  load: {}\n";
    let report = ReceiverCompliance::new(&HostMetricsReceiverFactory, config)
        .run(&mut Scrapes)
        .await;
    // memory: system.memory.usage by state; load: three averages.
    assert!(report.delivered >= 4, "{report:?}");
}
