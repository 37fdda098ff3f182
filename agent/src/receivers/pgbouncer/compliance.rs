use sentinel_pipeline::testing::{ReceiverCompliance, Scrapes};

use super::PgbouncerReceiverFactory;
use crate::receivers::compliance_client::free_port;

/// Against a port nobody listens on: the receiver still reports `pgbouncer.up` = 0 every
/// interval, which is the data the contract is checked with here. Scraping a live server
/// is tested end to end in tests/tests/pool_receivers.rs.
#[tokio::test]
async fn pgbouncer_meets_the_receiver_contract() {
    let config = format!(
        "endpoint: 127.0.0.1:{}\ncollection_interval: 1h\ninitial_delay: 0s\ntls:\n  insecure: true\n",
        free_port()
    );
    let report = ReceiverCompliance::new(&PgbouncerReceiverFactory, &config)
        .run(&mut Scrapes)
        .await;
    assert_eq!(
        report.delivered, 1,
        "one {}.up point: {report:?}",
        "pgbouncer"
    );
}
