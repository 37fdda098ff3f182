use sentinel_pipeline::testing::{ReceiverCompliance, Scrapes};

use super::HttpCheckReceiverFactory;
use crate::receivers::compliance_client::free_port;

/// One URL nobody listens on: each round still reports `httpcheck.duration`, the
/// finished DNS phase and `httpcheck.error`, which is the data the contract is checked
/// with. Probes of live servers are in `tests.rs` and tests/tests/probes.rs.
#[tokio::test]
async fn httpcheck_meets_the_receiver_contract() {
    let config = format!(
        "collection_interval: 1h\ninitial_delay: 0s\ntargets:\n  - endpoint: http://127.0.0.1:{}/\n",
        free_port()
    );
    let report = ReceiverCompliance::new(&HttpCheckReceiverFactory, &config)
        .run(&mut Scrapes)
        .await;
    assert_eq!(
        report.delivered, 3,
        "duration, dns and error points: {report:?}"
    );
}
