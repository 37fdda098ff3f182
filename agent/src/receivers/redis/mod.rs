//! The `redis` receiver: `INFO` and `CONFIG GET maxclients` every `collection_interval`,
//! reported as `redis.*` (named like the Collector's redis receiver) and as one
//! `db.client.connection.*` pool per server (named `host:port`): every connected client
//! holds a connection slot (`used`), and `maxclients` is the pool's maximum.
//!
//! Redis is spoken directly over TCP or TLS ([`resp`]); the receiver keeps its connection open
//! between scrapes, so `redis.clients.connected` includes it, as in the Collector.

mod config;
mod resp;
mod scraper;

use sentinel_pipeline::config::{self as pipeline_config, Diagnostic, Node};
use sentinel_pipeline::{
    BuildContext, BuildError, ComponentInfo, Factory, Kind, Receiver, ReceiverFactory, Signal,
};

pub use config::RedisConfig;

use crate::receivers::database::tls::direct_tls;
use crate::receivers::database::warn_if_plaintext;
use crate::receivers::scrape;

/// Builds `redis` receivers.
pub struct RedisReceiverFactory;

impl Factory for RedisReceiverFactory {
    fn info(&self) -> ComponentInfo {
        ComponentInfo {
            type_name: "redis",
            kind: Kind::Receiver,
            signals: &[Signal::Metrics],
            description: "Polls a Redis server's INFO: clients, maxclients, rejected connections, keyspace hits and misses, memory",
        }
    }

    fn check(&self, node: &Node) -> Result<serde_json::Value, Vec<Diagnostic>> {
        pipeline_config::check::<RedisConfig>(node)
    }
}

impl ReceiverFactory for RedisReceiverFactory {
    fn build(&self, node: &Node, ctx: BuildContext) -> Result<Box<dyn Receiver>, BuildError> {
        let config: RedisConfig =
            pipeline_config::decode_valid(node).map_err(|d| BuildError::config(&ctx.id, d))?;
        let tls = direct_tls(&config.tls, &config.endpoint, &ctx.id)?;
        warn_if_plaintext(
            &ctx.id,
            &config.endpoint,
            &config.tls,
            config.password.expose(),
        );
        let schedule = scrape::Schedule {
            interval: config.collection_interval,
            initial_delay: config.initial_delay,
        };
        let scraper = Box::new(scraper::RedisScraper::new(config, tls));
        Ok(Box::new(scrape::ScrapingReceiver {
            ctx,
            schedule,
            scraper,
        }))
    }
}

#[cfg(test)]
mod compliance;
