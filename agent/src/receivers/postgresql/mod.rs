//! The `postgresql` receiver: polls one PostgreSQL server every `collection_interval` and
//! reports its connections as `db.client.connection.*` pool figures (one pool per
//! database, named `host:port/database` as the conventions ask for unnamed pools) plus the
//! server figures a DBA expects, named like the Collector's postgresql receiver.
//!
//! The receiver keeps one connection open between scrapes (application name
//! `sentinel-postgresql`) and leaves it out of the counts it reports. When the server is
//! unreachable it reports `postgresql.up` = 0, the scrape loop logs once, and the next
//! interval reconnects.

mod config;
mod scraper;

use sentinel_pipeline::config::{self as pipeline_config, Diagnostic, Node};
use sentinel_pipeline::{
    BuildContext, BuildError, ComponentInfo, Factory, Kind, Receiver, ReceiverFactory, Signal,
};

pub use config::PostgresqlConfig;

use crate::receivers::database::tls::postgres_tls;
use crate::receivers::database::warn_if_plaintext;
use crate::receivers::scrape;

/// Builds `postgresql` receivers.
pub struct PostgresqlReceiverFactory;

impl Factory for PostgresqlReceiverFactory {
    fn info(&self) -> ComponentInfo {
        ComponentInfo {
            type_name: "postgresql",
            kind: Kind::Receiver,
            signals: &[Signal::Metrics],
            description: "Polls a PostgreSQL server: connections by state, database and application, limits, lock waits, oldest transaction and query, commits, rollbacks, deadlocks, sizes",
        }
    }

    fn check(&self, node: &Node) -> Result<serde_json::Value, Vec<Diagnostic>> {
        pipeline_config::check::<PostgresqlConfig>(node)
    }
}

impl ReceiverFactory for PostgresqlReceiverFactory {
    fn build(&self, node: &Node, ctx: BuildContext) -> Result<Box<dyn Receiver>, BuildError> {
        let config: PostgresqlConfig =
            pipeline_config::decode_valid(node).map_err(|d| BuildError::config(&ctx.id, d))?;
        let tls = postgres_tls(&config.tls, &ctx.id)?;
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
        let scraper = Box::new(scraper::PostgresqlScraper::new(config, tls));
        Ok(Box::new(scrape::ScrapingReceiver {
            ctx,
            schedule,
            scraper,
        }))
    }
}

#[cfg(test)]
mod compliance;
