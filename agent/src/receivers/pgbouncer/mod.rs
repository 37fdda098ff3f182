//! The `pgbouncer` receiver: PgBouncer's pools as `db.client.connection.*` figures
//! (used ← `sv_active`, idle ← `sv_idle`, pending ← `cl_waiting`, max ← `pool_size`),
//! plus `maxwait` and the `SHOW STATS` totals and averages as `pgbouncer.*`.
//!
//! It logs in to the admin console (database `pgbouncer`), which only speaks the simple
//! query protocol, and keeps that session open between scrapes; the session shows up as a
//! client of the `pgbouncer` pool.

mod config;
mod scraper;

use sentinel_pipeline::config::{self as pipeline_config, Diagnostic, Node};
use sentinel_pipeline::{
    BuildContext, BuildError, ComponentInfo, Factory, Kind, Receiver, ReceiverFactory, Signal,
};

pub use config::PgbouncerConfig;

use crate::receivers::database::tls::postgres_tls;
use crate::receivers::database::warn_if_plaintext;
use crate::receivers::scrape;

/// Builds `pgbouncer` receivers.
pub struct PgbouncerReceiverFactory;

impl Factory for PgbouncerReceiverFactory {
    fn info(&self) -> ComponentInfo {
        ComponentInfo {
            type_name: "pgbouncer",
            kind: Kind::Receiver,
            signals: &[Signal::Metrics],
            description: "Polls PgBouncer's admin console: pool usage, waiting clients, maxwait, SHOW STATS totals and averages",
        }
    }

    fn check(&self, node: &Node) -> Result<serde_json::Value, Vec<Diagnostic>> {
        pipeline_config::check::<PgbouncerConfig>(node)
    }
}

impl ReceiverFactory for PgbouncerReceiverFactory {
    fn build(&self, node: &Node, ctx: BuildContext) -> Result<Box<dyn Receiver>, BuildError> {
        let config: PgbouncerConfig =
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
        let scraper = Box::new(scraper::PgbouncerScraper::new(config, tls));
        Ok(Box::new(scrape::ScrapingReceiver {
            ctx,
            schedule,
            scraper,
        }))
    }
}

#[cfg(test)]
mod compliance;
