//! The receiver contract against a real broker (Tansu, see tests/src/kafka.rs): each push
//! produces one OTLP request to the traces topic.

use std::time::Duration;

use async_trait::async_trait;
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::ClientConfig;
use sentinel_pipeline::testing::{sample, ClientOutcome, ReceiverCompliance, ReceiverDriver};
use sentinel_pipeline::Signal;
use sentinel_tests::kafka::Broker;

use super::KafkaReceiverFactory;

struct Produce {
    producer: FutureProducer,
}

#[async_trait]
impl ReceiverDriver for Produce {
    async fn push(&mut self) -> ClientOutcome {
        let value = sample(Signal::Traces, 5, 1).encode_to_vec();
        self.producer
            .send(
                FutureRecord::<(), _>::to("otlp_spans").payload(&value),
                Duration::from_secs(5),
            )
            .await
            .expect("produce a record");
        ClientOutcome::Scraped
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn kafka_meets_the_receiver_contract() {
    let broker = Broker::start();
    broker.create_otlp_topics(1);
    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", broker.address())
        .create()
        .unwrap();
    let config = format!(
        "brokers: [{}]\ngroup_id: compliance\ninitial_offset: earliest\nsession_timeout: 3s\nheartbeat_interval: 500ms\ncommit_interval: 100ms\n",
        broker.address()
    );
    let report = ReceiverCompliance::new(&KafkaReceiverFactory, &config)
        .run(&mut Produce { producer })
        .await;
    assert_eq!(
        report.delivered, 5,
        "the five spans of the one record: {report:?}"
    );
}
