//! The `httpcheck` receiver: synthetic HTTP probes with the Collector's keys and metric
//! names. Each round sends one request to every URL at once; each probe is driven by
//! hand ([`probe`]: name lookup and connect through `tcpcheck`'s dialer, TLS with
//! tokio-rustls, one HTTP/1.1 exchange over hyper's connection API) so that every phase
//! is timed and the server certificate read.
//!
//! Metrics (one point per URL; `http.url` on all of them):
//!
//! | metric | type, unit | when |
//! |---|---|---|
//! | `httpcheck.status` | sum (not monotonic), `1` | a response arrived: one point per class `1xx`..`5xx`, 1 for the class seen, with `http.status_code`, `http.method`, `http.status_class` |
//! | `httpcheck.duration` | gauge, `ms` | always: the whole probe |
//! | `httpcheck.error` | sum (not monotonic), `{error}` | no response (`error.message` names the phase: `dns:`, `connect:`, `tls:`, `http:`, `timeout after … while …`), or a status outside `expected_status` |
//! | `httpcheck.tls.cert_remaining` | gauge, `s` | `https://` after the handshake: seconds to the leaf certificate's `notAfter`, with `http.tls.issuer`, `http.tls.cn`, `http.tls.san` |
//! | `httpcheck.dns.lookup.duration` | gauge, `ns` | the name lookup finished |
//! | `httpcheck.client.connection.duration` | gauge, `ns` | the TCP connect finished |
//! | `httpcheck.tls.handshake.duration` | gauge, `ns` | the TLS handshake finished |
//! | `httpcheck.client.request.duration` | gauge, `ns` | connection ready → request written |
//! | `httpcheck.response.first_byte.duration` | gauge, `ns` | connection ready → first response byte (Sentinel's time to first byte) |
//! | `httpcheck.response.duration` | gauge, `ns` | first response byte → end of body |
//! | `httpcheck.response.size` | gauge, `By` | a response arrived |
//! | `httpcheck.validation.passed` / `.failed` | sum (not monotonic), `{validation}` | per `validation.type`, when `validations` are set |
//!
//! The five phase names and their `ns` unit are the Collector's (its optional timing
//! metrics); `httpcheck.response.first_byte.duration` is Sentinel's. A probe that fails
//! still reports the phases it finished, so a slow or failing probe says where the time
//! went.

mod certificate;
mod checks;
mod config;
mod probe;
mod report;
mod scraper;
mod timed;

use sentinel_pipeline::config::{self as pipeline_config, Diagnostic, Node};
use sentinel_pipeline::{
    BuildContext, BuildError, ComponentInfo, Factory, Kind, Receiver, ReceiverFactory, Signal,
};

pub use config::{HttpCheckConfig, HttpTarget, Validation};

use crate::receivers::scrape;

/// Builds `httpcheck` receivers.
pub struct HttpCheckReceiverFactory;

impl Factory for HttpCheckReceiverFactory {
    fn info(&self) -> ComponentInfo {
        ComponentInfo {
            type_name: "httpcheck",
            kind: Kind::Receiver,
            signals: &[Signal::Metrics],
            description: "Synthetic HTTP probes: status class, phase timings (DNS, connect, TLS, first byte), certificate expiry, body checks",
        }
    }

    fn check(&self, node: &Node) -> Result<serde_json::Value, Vec<Diagnostic>> {
        pipeline_config::check::<HttpCheckConfig>(node)
    }
}

impl ReceiverFactory for HttpCheckReceiverFactory {
    fn build(&self, node: &Node, ctx: BuildContext) -> Result<Box<dyn Receiver>, BuildError> {
        let config: HttpCheckConfig =
            pipeline_config::decode_valid(node).map_err(|d| BuildError::config(&ctx.id, d))?;
        let scraper = scraper::HttpCheckScraper::new(&config).map_err(|e| BuildError::Other {
            component: ctx.id.clone(),
            message: e.to_string(),
        })?;
        let schedule = scrape::Schedule {
            interval: config.collection_interval,
            initial_delay: config.initial_delay,
        };
        Ok(Box::new(scrape::ScrapingReceiver {
            ctx,
            schedule,
            scraper: Box::new(scraper),
        }))
    }
}

#[cfg(test)]
mod compliance;
#[cfg(test)]
mod tests;
