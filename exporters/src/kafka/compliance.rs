//! The exporter contract against a real broker (Tansu, see tests/src/kafka.rs): what the
//! queue acknowledged is read back from the topic and counted.

use std::time::Duration;

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::{ClientConfig, Message, Offset, TopicPartitionList};
use sentinel_pipeline::testing::ExporterCompliance;
use sentinel_pipeline::{Payload, Signal};
use sentinel_tests::kafka::Broker;

use super::client::default_topic;
use super::KafkaExporterFactory;
use crate::sending::compliance::start_for_compliance;

/// Items in every record of `topic`, read from the beginning.
fn count_items(broker: &str, topic: &str, signal: Signal) -> u64 {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", broker)
        .set("group.id", "count")
        .set("enable.auto.commit", "false")
        .create()
        .unwrap();
    let mut partitions = TopicPartitionList::new();
    partitions
        .add_partition_offset(topic, 0, Offset::Beginning)
        .unwrap();
    consumer.assign(&partitions).unwrap();
    let mut items = 0;
    let mut idle = 0;
    // Stops after 3 s without a record once something was read (or 20 s with nothing).
    while idle < if items == 0 { 200 } else { 30 } {
        match consumer.poll(Duration::from_millis(100)) {
            Some(Ok(message)) => {
                idle = 0;
                let payload =
                    Payload::decode(signal, message.payload().unwrap_or_default()).unwrap();
                items += payload.item_count() as u64;
            }
            _ => idle += 1,
        }
    }
    items
}

#[tokio::test(flavor = "multi_thread")]
async fn kafka_meets_the_exporter_contract() {
    for signal in Signal::ALL {
        let broker = Broker::start();
        broker.create_otlp_topics(1);
        let address = broker.address();
        let config = format!("brokers: [{address}]\ntimeout: 5s\n");
        let topic = default_topic(signal);
        ExporterCompliance::new(&KafkaExporterFactory, &config, signal, start_for_compliance)
            .delivered_items(Box::new(move || {
                let address = address.clone();
                Box::pin(async move {
                    tokio::task::spawn_blocking(move || count_items(&address, topic, signal))
                        .await
                        .unwrap()
                })
            }))
            .run()
            .await;
    }
}
