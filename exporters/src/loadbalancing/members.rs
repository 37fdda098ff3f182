//! The current backends: their ring, their OTLP clients and what is in flight to each;
//! and the resolvers that change them (a fixed list, or a name resolved every interval).

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::AtomicUsize;
use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;

use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use super::config::DnsResolver;
use super::dns;
use super::ring::Ring;
use super::stats::LbStats;
use crate::otlp::{OtlpConfig, OtlpError, OtlpExporter};

/// One backend: its endpoint, its client, and the items in flight to it.
pub struct Backend {
    pub endpoint: String,
    pub client: OtlpExporter,
    pub in_flight: AtomicUsize,
}

/// The backends at one moment, never changed once built.
#[derive(Default)]
pub struct Membership {
    pub backends: Vec<Arc<Backend>>,
    pub ring: Ring,
}

/// The current membership and how to build a backend's client.
pub struct Members {
    current: RwLock<Arc<Membership>>,
    /// Bumped on every resolution (changed or not), so exports can wait for the first.
    resolved: watch::Sender<u64>,
    template: OtlpConfig,
    stats: LbStats,
}

impl Members {
    pub fn new(template: OtlpConfig, stats: LbStats) -> Members {
        Members {
            current: RwLock::default(),
            resolved: watch::Sender::new(0),
            template,
            stats,
        }
    }

    pub fn snapshot(&self) -> Arc<Membership> {
        self.current
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// The membership once the resolver has answered at least once (waiting up to
    /// `wait`), so the first records after start-up do not fail for want of backends.
    pub async fn ready(&self, wait: Duration) -> Arc<Membership> {
        let mut resolved = self.resolved.subscribe();
        let _ = tokio::time::timeout(wait, resolved.wait_for(|n| *n > 0)).await;
        self.snapshot()
    }

    /// Installs a new list of endpoints. Clients of endpoints that stay are kept (with
    /// their connections); the others are dropped. Returns whether the set changed.
    pub fn update(&self, mut endpoints: Vec<String>) -> Result<bool, OtlpError> {
        endpoints.sort();
        endpoints.dedup();
        let old = self.snapshot();
        let unchanged = old.backends.len() == endpoints.len()
            && old
                .backends
                .iter()
                .zip(&endpoints)
                .all(|(b, e)| &b.endpoint == e);
        if unchanged {
            self.resolved.send_modify(|n| *n += 1);
            return Ok(false);
        }
        let mut kept: HashMap<&str, &Arc<Backend>> = old
            .backends
            .iter()
            .map(|b| (b.endpoint.as_str(), b))
            .collect();
        let mut backends = Vec::with_capacity(endpoints.len());
        for endpoint in &endpoints {
            let backend = match kept.remove(endpoint.as_str()) {
                Some(backend) => backend.clone(),
                None => {
                    let mut config = self.template.clone();
                    config.endpoint = endpoint.clone();
                    Arc::new(Backend {
                        endpoint: endpoint.clone(),
                        client: OtlpExporter::new(&config)?,
                        in_flight: AtomicUsize::new(0),
                    })
                }
            };
            backends.push(backend);
        }
        let membership = Arc::new(Membership {
            ring: Ring::new(&endpoints),
            backends,
        });
        *self.current.write().unwrap_or_else(PoisonError::into_inner) = membership;
        self.stats.backends.set(endpoints.len() as i64);
        self.stats.backend_updates.inc();
        tracing::info!(backends = ?endpoints, "The loadbalancing exporter's backends changed.");
        self.resolved.send_modify(|n| *n += 1);
        Ok(true)
    }
}

/// `host:port` for an address (IPv6 in brackets).
pub fn endpoint_of(ip: IpAddr, port: u16) -> String {
    SocketAddr::new(ip, port).to_string()
}

/// A static hostname with 4317 added when it has no port.
pub fn with_default_port(hostname: &str) -> String {
    let has_port = hostname
        .rsplit_once(':')
        .is_some_and(|(host, port)| !host.is_empty() && port.parse::<u16>().is_ok());
    if has_port && (!hostname.contains('[') || hostname.contains("]:")) {
        hostname.to_string()
    } else {
        format!("{hostname}:4317")
    }
}

/// Why one resolution failed; the previous backends stay.
#[derive(Debug, thiserror::Error)]
pub enum ResolveError {
    #[error("{0}")]
    Dns(#[from] dns::DnsError),
    #[error("resolving {name}: {source}")]
    System {
        name: String,
        source: std::io::Error,
    },
    #[error("resolving {0}: timed out")]
    Timeout(String),
}

async fn resolve(config: &DnsResolver) -> Result<Vec<String>, ResolveError> {
    let addresses: Vec<IpAddr> = match &config.nameserver {
        Some(server) => {
            let server: SocketAddr = server
                .parse()
                .map_err(|_| dns::DnsError::BadName(format!("nameserver {server}")))?;
            dns::lookup(server, &config.hostname, config.timeout).await?
        }
        None => {
            let name = config.hostname.clone();
            let lookup = tokio::net::lookup_host((name.clone(), config.port));
            tokio::time::timeout(config.timeout, lookup)
                .await
                .map_err(|_| ResolveError::Timeout(name.clone()))?
                .map_err(|source| ResolveError::System { name, source })?
                .map(|a| a.ip())
                .collect()
        }
    };
    Ok(addresses
        .into_iter()
        .map(|ip| endpoint_of(ip, config.port))
        .collect())
}

/// Resolves `config.hostname` now and every `interval` until `shutdown`. A failed
/// resolution keeps the backends of the last good one; an empty answer (the name is gone)
/// leaves no backends, and records wait in the queue.
pub async fn run_dns(
    config: DnsResolver,
    members: Arc<Members>,
    stats: LbStats,
    shutdown: CancellationToken,
) {
    let mut last_error: Option<String> = None;
    loop {
        match resolve(&config).await {
            Ok(endpoints) => {
                stats.resolution(true);
                last_error = None;
                if let Err(error) = members.update(endpoints) {
                    tracing::error!(%error, "Cannot build a client for a resolved backend.");
                }
            }
            Err(error) => {
                stats.resolution(false);
                let text = error.to_string();
                if last_error.as_deref() != Some(&text) {
                    tracing::warn!(error = %text, hostname = %config.hostname, "Resolving the loadbalancing backends failed; keeping the previous ones (logged once per cause).");
                }
                last_error = Some(text);
            }
        }
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(config.interval) => {}
        }
    }
}
