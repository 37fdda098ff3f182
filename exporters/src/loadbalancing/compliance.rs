use std::sync::atomic::AtomicU64;
use std::sync::Arc;

use sentinel_pipeline::testing::ExporterCompliance;
use sentinel_pipeline::Signal;

use super::LoadBalancingFactory;
use crate::otlp::compliance::CountingServer;
use crate::sending::compliance::{counted_by, start_for_compliance};

#[tokio::test]
async fn loadbalancing_meets_the_exporter_contract() {
    for signal in Signal::ALL {
        // Two real OTLP/gRPC backends counting into one total.
        let items = Arc::new(AtomicU64::new(0));
        let a = CountingServer {
            items: items.clone(),
        }
        .start()
        .await;
        let b = CountingServer {
            items: items.clone(),
        }
        .start()
        .await;
        let config = format!(
            "protocol:\n  otlp:\n    tls:\n      insecure: true\n\
             resolver:\n  static:\n    hostnames: [\"{a}\", \"{b}\"]\n"
        );
        ExporterCompliance::new(&LoadBalancingFactory, &config, signal, start_for_compliance)
            .delivered_items(counted_by(items))
            .run()
            .await;
    }
}
