use sentinel_pipeline::testing::{ReceiverCompliance, Scrapes};

use super::TcpCheckReceiverFactory;
use crate::receivers::compliance_client::free_port;

/// One target nobody listens on: each round still reports `tcpcheck.status` = 0 and
/// the error count, which is the data the contract is checked with.
#[tokio::test]
async fn tcpcheck_meets_the_receiver_contract() {
    let config = format!(
        "collection_interval: 1h\ninitial_delay: 0s\ntargets:\n  - endpoint: 127.0.0.1:{}\n",
        free_port()
    );
    let report = ReceiverCompliance::new(&TcpCheckReceiverFactory, &config)
        .run(&mut Scrapes)
        .await;
    assert_eq!(report.delivered, 2, "status and error points: {report:?}");
}
