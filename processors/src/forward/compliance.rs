use sentinel_pipeline::testing::{sample, ConnectorCompliance};
use sentinel_pipeline::Signal;

use super::ForwardFactory;

#[tokio::test]
async fn forward_meets_the_connector_contract_for_every_signal() {
    for signal in Signal::ALL {
        let report = ConnectorCompliance::new(&ForwardFactory, "", signal)
            .expect_sent(30)
            .run()
            .await;
        let expected: Vec<_> = (0..3).map(|seed| sample(signal, 10, seed)).collect();
        for (downstream, payloads) in &report.delivered {
            if *downstream == signal {
                assert_eq!(payloads, &expected, "{signal}: passed on unchanged");
            } else {
                assert!(payloads.is_empty(), "{signal} reached {downstream}");
            }
        }
    }
}
