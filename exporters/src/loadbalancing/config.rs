use std::time::Duration;

use sentinel_pipeline::config::{ComponentConfig, ValidationError};
use sentinel_pipeline::sending::{QueueSettings, RetrySettings};
use sentinel_pipeline::Signal;
use serde::{Deserialize, Serialize};

use crate::otlp::OtlpConfig;

/// `loadbalancing`: sends each trace (or service, resource, metric, stream) to one backend
/// of a changing set, chosen by consistent hashing with bounded load when the data leaves
/// the exporter's one `sending_queue`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoadBalancingConfig {
    /// What keeps items together on one backend: `traceID` (default for traces and logs),
    /// `service` (`service.name`; default for metrics), `resource` (all resource
    /// attributes), `metric` (resource and metric name) or `streamID` (resource, scope,
    /// metric name and data point attributes). `traceID` is for traces and logs only;
    /// `metric` and `streamID` for metrics only.
    #[serde(default)]
    pub routing_key: Option<RoutingKey>,
    /// `otlp`: the template of the OTLP/gRPC client used for every backend, with the
    /// `otlp` exporter's keys except `endpoint` (set by the resolver), `sending_queue` and
    /// `retry_on_failure` (this exporter has one queue in front of all backends).
    pub protocol: Protocol,
    /// Where the backends come from: `static` or `dns` (exactly one).
    pub resolver: ResolverConfig,
    /// Bounded load: a backend that already carries more than `load_factor` times the mean
    /// number of items in flight is passed over for the next one on the ring, so one slow
    /// backend does not hold up the rest. The keys moved lose their affinity while that
    /// lasts (counted in `sentinel_loadbalancer_diverted_keys`). Default 1.25; `0` turns
    /// bounded load off. A Sentinel addition.
    #[serde(default = "default_load_factor")]
    pub load_factor: f64,
    /// The one queue in front of all backends. The backend is chosen when a record leaves
    /// it, so records never wait in a per-backend queue for a backend that has left.
    #[serde(default)]
    pub sending_queue: QueueSettings,
    #[serde(default)]
    pub retry_on_failure: RetrySettings,
}

fn default_load_factor() -> f64 {
    1.25
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum RoutingKey {
    #[serde(rename = "traceID")]
    TraceId,
    #[serde(rename = "service")]
    Service,
    #[serde(rename = "resource")]
    Resource,
    #[serde(rename = "metric")]
    Metric,
    #[serde(rename = "streamID")]
    StreamId,
}

impl RoutingKey {
    /// The Collector's defaults: trace ids for traces and logs, the service for metrics.
    pub fn for_signal(key: Option<RoutingKey>, signal: Signal) -> RoutingKey {
        key.unwrap_or(match signal {
            Signal::Metrics => RoutingKey::Service,
            _ => RoutingKey::TraceId,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            RoutingKey::TraceId => "traceID",
            RoutingKey::Service => "service",
            RoutingKey::Resource => "resource",
            RoutingKey::Metric => "metric",
            RoutingKey::StreamId => "streamID",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Protocol {
    /// The `otlp` exporter's settings for each backend (no `endpoint`).
    pub otlp: OtlpConfig,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResolverConfig {
    /// A fixed list of backends.
    #[serde(default, rename = "static")]
    pub static_: Option<StaticResolver>,
    /// Backends found by resolving a name, again every `interval`.
    #[serde(default)]
    pub dns: Option<DnsResolver>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StaticResolver {
    /// `host:port` of each backend; a host without a port gets 4317.
    pub hostnames: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DnsResolver {
    /// The name whose A and AAAA records are the backends (a headless Service, say).
    pub hostname: String,
    /// The OTLP/gRPC port of every backend. Default 4317.
    #[serde(default = "default_port")]
    pub port: u16,
    /// How often the name is resolved again. Default 5s.
    #[serde(default = "default_interval", with = "humantime_serde")]
    pub interval: Duration,
    /// Deadline of one resolution. Default 1s.
    #[serde(default = "default_resolve_timeout", with = "humantime_serde")]
    pub timeout: Duration,
    /// `ip:port` of a DNS server to ask directly over UDP, instead of the system resolver
    /// (`/etc/hosts`, `/etc/resolv.conf`). A Sentinel addition.
    #[serde(default)]
    pub nameserver: Option<String>,
}

fn default_port() -> u16 {
    4317
}

fn default_interval() -> Duration {
    Duration::from_secs(5)
}

fn default_resolve_timeout() -> Duration {
    Duration::from_secs(1)
}

impl ComponentConfig for LoadBalancingConfig {
    fn validate(&self) -> Result<(), ValidationError> {
        self.validate_protocol()?;
        match (&self.resolver.static_, &self.resolver.dns) {
            (Some(_), Some(_)) | (None, None) => {
                return Err(ValidationError::at(
                    "resolver",
                    "set exactly one of resolver.static and resolver.dns",
                ))
            }
            (Some(fixed), None) => {
                if fixed.hostnames.is_empty() {
                    return Err(ValidationError::at(
                        "resolver.static.hostnames",
                        "list at least one backend",
                    ));
                }
            }
            (None, Some(dns)) => validate_dns(dns)?,
        }
        if !(self.load_factor == 0.0 || self.load_factor >= 1.0) || !self.load_factor.is_finite() {
            return Err(ValidationError::at(
                "load_factor",
                "must be 0 (off) or at least 1",
            ));
        }
        Ok(())
    }
}

impl LoadBalancingConfig {
    fn validate_protocol(&self) -> Result<(), ValidationError> {
        let otlp = &self.protocol.otlp;
        if !otlp.endpoint.is_empty() {
            return Err(ValidationError::at(
                "protocol.otlp.endpoint",
                "the resolver sets each backend's endpoint; remove this key",
            ));
        }
        if otlp.sending_queue != QueueSettings::default() {
            return Err(ValidationError::at(
                "protocol.otlp.sending_queue",
                "the loadbalancing exporter has one sending_queue in front of all backends; \
                 set it at the top level",
            ));
        }
        if otlp.retry_on_failure != RetrySettings::default() {
            return Err(ValidationError::at(
                "protocol.otlp.retry_on_failure",
                "set retry_on_failure at the top level of the loadbalancing exporter",
            ));
        }
        let mut probe = otlp.clone();
        probe.endpoint = "backend:4317".into();
        probe.validate().map_err(|e| e.within("protocol.otlp"))
    }

    /// Checks the routing key against the signals of the pipelines using the exporter.
    pub fn check_signal(&self, signal: Signal) -> Result<(), ValidationError> {
        let key = RoutingKey::for_signal(self.routing_key, signal);
        let fits = match key {
            RoutingKey::TraceId => signal != Signal::Metrics,
            RoutingKey::Metric | RoutingKey::StreamId => signal == Signal::Metrics,
            RoutingKey::Service | RoutingKey::Resource => true,
        };
        if fits {
            Ok(())
        } else {
            Err(ValidationError::at(
                "routing_key",
                format!("{} cannot route {}", key.as_str(), signal.as_str()),
            ))
        }
    }
}

fn validate_dns(dns: &DnsResolver) -> Result<(), ValidationError> {
    if dns.hostname.trim().is_empty() {
        return Err(ValidationError::at(
            "resolver.dns.hostname",
            "name the host to resolve",
        ));
    }
    if dns.interval.is_zero() || dns.timeout.is_zero() {
        return Err(ValidationError::at(
            "resolver.dns",
            "interval and timeout must be greater than 0",
        ));
    }
    if let Some(server) = &dns.nameserver {
        if server.parse::<std::net::SocketAddr>().is_err() {
            return Err(ValidationError::at(
                "resolver.dns.nameserver",
                "expected ip:port",
            ));
        }
    }
    Ok(())
}
