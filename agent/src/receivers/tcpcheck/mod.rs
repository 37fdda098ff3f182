//! The `tcpcheck` receiver: a synthetic probe that opens a TCP connection to each
//! target every `collection_interval` and reports `tcpcheck.status`,
//! `tcpcheck.duration` and `tcpcheck.error` (the Collector's names and attributes).
//! [`dial`] is the name lookup and connect that `httpcheck` builds on too.

mod config;
pub mod dial;
mod scraper;

use sentinel_pipeline::config::{self as pipeline_config, Diagnostic, Node};
use sentinel_pipeline::{
    BuildContext, BuildError, ComponentInfo, Factory, Kind, Receiver, ReceiverFactory, Signal,
};

pub use config::{TcpCheckConfig, TcpTarget};

use crate::receivers::scrape;

/// Builds `tcpcheck` receivers.
pub struct TcpCheckReceiverFactory;

impl Factory for TcpCheckReceiverFactory {
    fn info(&self) -> ComponentInfo {
        ComponentInfo {
            type_name: "tcpcheck",
            kind: Kind::Receiver,
            signals: &[Signal::Metrics],
            description:
                "Synthetic TCP probes: whether each endpoint accepts a connection, and how fast",
        }
    }

    fn check(&self, node: &Node) -> Result<serde_json::Value, Vec<Diagnostic>> {
        pipeline_config::check::<TcpCheckConfig>(node)
    }
}

impl ReceiverFactory for TcpCheckReceiverFactory {
    fn build(&self, node: &Node, ctx: BuildContext) -> Result<Box<dyn Receiver>, BuildError> {
        let config: TcpCheckConfig =
            pipeline_config::decode_valid(node).map_err(|d| BuildError::config(&ctx.id, d))?;
        let schedule = scrape::Schedule {
            interval: config.collection_interval,
            initial_delay: config.initial_delay,
        };
        Ok(Box::new(scrape::ScrapingReceiver {
            ctx,
            schedule,
            scraper: Box::new(scraper::TcpCheckScraper::new(config)),
        }))
    }
}

#[cfg(test)]
mod compliance;
#[cfg(test)]
pub(crate) mod tests;
