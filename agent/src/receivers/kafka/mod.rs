//! `kafka` receiver: OTLP records from Kafka topics, consumed in a consumer group with
//! commits that follow the pipelines' acknowledgements (see `offsets.rs` and
//! docs/kafka.md).

#[cfg(test)]
mod compliance;
mod config;
mod consume;
mod offsets;
mod replays;

pub use config::{InitialOffset, KafkaReceiverConfig};

use std::collections::HashMap;

use async_trait::async_trait;
use rdkafka::consumer::{Consumer, StreamConsumer};
use sentinel_pipeline::config::{check, decode_valid, Diagnostic, Node};
use sentinel_pipeline::{
    BuildContext, BuildError, ComponentInfo, Factory, Kind, Outputs, Receiver, ReceiverFactory,
    Running, Signal,
};

use consume::{Context, Loop, Route};

pub struct KafkaReceiverFactory;

impl Factory for KafkaReceiverFactory {
    fn info(&self) -> ComponentInfo {
        ComponentInfo {
            type_name: "kafka",
            kind: Kind::Receiver,
            signals: &Signal::ALL,
            description:
                "Reads OTLP records from Kafka topics; commits only what the pipelines acknowledged",
        }
    }

    fn check(&self, node: &Node) -> Result<serde_json::Value, Vec<Diagnostic>> {
        check::<KafkaReceiverConfig>(node)
    }
}

impl ReceiverFactory for KafkaReceiverFactory {
    fn build(&self, node: &Node, ctx: BuildContext) -> Result<Box<dyn Receiver>, BuildError> {
        let config: KafkaReceiverConfig =
            decode_valid(node).map_err(|d| BuildError::config(&ctx.id, d))?;
        Ok(Box::new(KafkaReceiver { config, ctx }))
    }
}

struct KafkaReceiver {
    config: KafkaReceiverConfig,
    ctx: BuildContext,
}

impl KafkaReceiver {
    fn other(&self, message: impl Into<String>) -> BuildError {
        BuildError::Other {
            component: self.ctx.id.clone(),
            message: message.into(),
        }
    }

    /// One route per wired signal, by topic; two signals on one topic cannot be told apart.
    fn routes(&self, outputs: Outputs) -> Result<HashMap<String, Route>, BuildError> {
        let topics = self.config.topics();
        let mut routes = HashMap::new();
        for (signal, output) in outputs {
            let topic = topics.topic(signal);
            let route = Route {
                signal,
                encoding: topics.encoding(signal),
                output,
                metrics: self.ctx.component_metrics(Kind::Receiver, signal),
            };
            if routes.insert(topic.clone(), route).is_some() {
                return Err(self.other(format!(
                    "topic {topic:?} is set for two signals; give each signal its own topic"
                )));
            }
        }
        Ok(routes)
    }

    fn consumer(&self, context: Context) -> Result<StreamConsumer<Context>, BuildError> {
        let config = &self.config;
        let mut client = config.connection().client_config();
        client
            .set("group.id", &config.group_id)
            .set("enable.auto.commit", "false")
            .set("enable.auto.offset.store", "false")
            .set(
                "auto.offset.reset",
                match config.initial_offset {
                    InitialOffset::Latest => "latest",
                    InitialOffset::Earliest => "earliest",
                },
            )
            .set(
                "session.timeout.ms",
                config.session_timeout.as_millis().to_string(),
            )
            .set(
                "heartbeat.interval.ms",
                config.heartbeat_interval.as_millis().to_string(),
            )
            // Also the group's rebalance timeout: how long a rebalance waits for members
            // that do not rejoin (librdkafka's default is 5 minutes).
            .set(
                "max.poll.interval.ms",
                max_poll_interval(config).to_string(),
            )
            // Bounds what librdkafka prefetches while the pipelines refuse (16 MiB).
            .set("queued.max.messages.kbytes", "16384");
        client
            .create_with_context(context)
            .map_err(|e| self.other(format!("cannot create the Kafka consumer: {e}")))
    }
}

/// At least 30 s, and never below the session timeout (librdkafka requires it).
fn max_poll_interval(config: &KafkaReceiverConfig) -> u128 {
    config.session_timeout.as_millis().max(30_000)
}

#[async_trait]
impl Receiver for KafkaReceiver {
    async fn start(self: Box<Self>, outputs: Outputs) -> Result<Running, BuildError> {
        let routes = self.routes(outputs)?;
        let context = Context::default();
        let consumer = self.consumer(context)?;
        let topics: Vec<&str> = routes.keys().map(String::as_str).collect();
        if !topics.is_empty() {
            consumer
                .subscribe(&topics)
                .map_err(|e| self.other(format!("cannot subscribe to {topics:?}: {e}")))?;
        }
        let state_dir = self
            .ctx
            .data_dir
            .join("kafka")
            .join(sentinel_exporters::sending::file_name_for(&self.ctx.id));
        let run = Loop::new(consumer, routes, &self.config, &self.ctx, state_dir);
        let task = tokio::spawn(run.run(self.ctx.shutdown.clone()));
        Ok(Running { task })
    }
}
