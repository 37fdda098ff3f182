use sentinel_pipeline::testing::ExporterCompliance;
use sentinel_pipeline::Signal;

use super::BlackholeFactory;
use crate::sending::compliance::start_for_compliance;

#[tokio::test]
async fn blackhole_meets_the_exporter_contract() {
    for signal in Signal::ALL {
        ExporterCompliance::new(&BlackholeFactory, "", signal, start_for_compliance)
            .run()
            .await;
    }
}
