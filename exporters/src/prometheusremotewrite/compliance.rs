use sentinel_pipeline::testing::ExporterCompliance;
use sentinel_pipeline::Signal;

use super::tests::{name_of, RemoteWriteSink};
use super::RemoteWriteFactory;
use crate::sending::compliance::start_for_compliance;

#[tokio::test]
async fn prometheusremotewrite_meets_the_exporter_contract() {
    let sink = RemoteWriteSink::default();
    let addr = sink.start().await;
    let config = format!("endpoint: http://{addr}/api/v1/write\n");
    // The sample data are gauges: one remote-write sample per data point.
    let delivered: sentinel_pipeline::testing::DeliveredItems = Box::new(move || {
        let sink = sink.clone();
        Box::pin(async move {
            sink.series()
                .iter()
                .filter(|s| name_of(s) != "target_info")
                .map(|s| s.samples.len() as u64)
                .sum()
        })
    });
    ExporterCompliance::new(
        &RemoteWriteFactory,
        &config,
        Signal::Metrics,
        start_for_compliance,
    )
    .delivered_items(delivered)
    .run()
    .await;
}
