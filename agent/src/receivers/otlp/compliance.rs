use std::net::SocketAddr;

use async_trait::async_trait;
use prost::Message as _;
use sentinel_pipeline::testing::{sample, ClientOutcome, ReceiverCompliance, ReceiverDriver};
use sentinel_pipeline::{Payload, Signal};

use super::OtlpReceiverFactory;
use crate::receivers::compliance_client::{free_port, post};

/// An OTLP/HTTP client sending ten distinct spans per request.
struct Client {
    address: SocketAddr,
    seed: u64,
}

#[async_trait]
impl ReceiverDriver for Client {
    async fn push(&mut self) -> ClientOutcome {
        self.seed += 1;
        let Payload::Traces(request) = sample(Signal::Traces, 10, self.seed) else {
            unreachable!("a traces sample")
        };
        let body = request.encode_to_vec();
        post(
            self.address,
            "/v1/traces",
            "application/x-protobuf",
            body,
            10,
        )
        .await
    }
}

#[tokio::test]
async fn otlp_meets_the_receiver_contract() {
    let (grpc, http) = (free_port(), free_port());
    let config = format!(
        "protocols:\n  grpc:\n    endpoint: 127.0.0.1:{grpc}\n  http:\n    endpoint: 127.0.0.1:{http}\n"
    );
    let mut client = Client {
        address: SocketAddr::from(([127, 0, 0, 1], http)),
        seed: 0,
    };
    let report = ReceiverCompliance::new(&OtlpReceiverFactory, &config)
        .run(&mut client)
        .await;
    assert_eq!(report.counts[&Signal::Traces].sent, 10);
    assert_eq!(report.counts[&Signal::Logs].received, 0);
}
