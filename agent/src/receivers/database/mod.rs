//! What the database receivers (postgresql, pgbouncer, redis) share, so that none of them
//! imports another: the config defaults and checks, where the server is, the TLS settings
//! built once at start ([`tls`]), logging in over the PostgreSQL protocol ([`postgres`]),
//! and how one scrape's outcome is reported ([`Target`]).

pub mod postgres;
pub mod tls;

use std::time::Duration;

use opentelemetry_proto::tonic::common::v1::KeyValue;
use opentelemetry_proto::tonic::metrics::v1::{Metric, ResourceMetrics};
use sentinel_pipeline::config::{Endpoint, Secret, ValidationError};
use sentinel_pipeline::tls::ClientTlsConfig;
use serde::{Deserialize, Deserializer};

use crate::receivers::scrape::build::{self, attr, Number};
use crate::receivers::scrape::ScrapeFailure;

/// Default collection interval of the database receivers, as in the Collector.
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(10);

/// The interval must be positive: a zero interval would poll in a busy loop.
pub fn validate_interval(interval: Duration) -> Result<(), ValidationError> {
    if interval < Duration::from_millis(100) {
        return Err(ValidationError::at(
            "collection_interval",
            format!(
                "must be at least 100ms, got {}",
                humantime::format_duration(interval)
            ),
        ));
    }
    Ok(())
}

/// A password written `${env:VAR:-}` expands to nothing when `VAR` is unset, which YAML
/// reads as null: that means "no password", not a type error.
pub fn password_or_empty<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Secret, D::Error> {
    Ok(Option::<Secret>::deserialize(deserializer)?.unwrap_or_default())
}

/// How long one scrape may wait on the server: the interval, but never more than 10s.
pub fn scrape_timeout(interval: Duration) -> Duration {
    interval.min(Duration::from_secs(10))
}

/// `host` and `port` of an endpoint (validated as `host:port` when the config was read).
pub fn host_and_port(endpoint: &Endpoint) -> (String, u16) {
    let (host, port) = endpoint
        .as_str()
        .rsplit_once(':')
        .unwrap_or((endpoint.as_str(), "0"));
    let host = host.trim_start_matches('[').trim_end_matches(']');
    (host.to_string(), port.parse().unwrap_or(0))
}

/// A password sent in plaintext to another host is worth one warning at start.
pub fn warn_if_plaintext(id: &str, endpoint: &Endpoint, tls: &ClientTlsConfig, password: &str) {
    let (host, _) = host_and_port(endpoint);
    let loopback = host == "localhost"
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    if tls.insecure && !password.is_empty() && !loopback {
        tracing::warn!(
            component = id,
            endpoint = %endpoint,
            "the password goes to a remote host without TLS; set `tls.insecure: false`"
        );
    }
}

/// The server a receiver polls, as its scrapes report it: the resource
/// (`db.system.name`, `server.address`, `server.port`), the scope, and the
/// `<system>.up` gauge that says whether the last scrape reached it.
pub struct Target {
    resource: Vec<KeyValue>,
    scope: String,
    up_name: String,
    up_description: &'static str,
}

impl Target {
    /// `system` is the `db.system.name` (`postgresql`, `pgbouncer`, `redis`).
    pub fn new(system: &str, endpoint: &Endpoint, up_description: &'static str) -> Target {
        let (host, port) = host_and_port(endpoint);
        Target {
            resource: vec![
                attr("db.system.name", system),
                attr("server.address", host),
                attr("server.port", i64::from(port)),
            ],
            scope: format!("sentinel/receiver/{system}"),
            up_name: format!("{system}.up"),
            up_description,
        }
    }

    /// One scrape's outcome for the scrape loop: `up` = 1 and the metrics read at `now`,
    /// or `up` = 0 and the reason the server could not be read.
    pub fn report<E: std::fmt::Display>(
        &self,
        now: u64,
        read: Result<Vec<Metric>, E>,
    ) -> Result<Vec<ResourceMetrics>, ScrapeFailure> {
        match read {
            Ok(metrics) => {
                let mut all = vec![self.up(now, 1)];
                all.extend(metrics);
                Ok(vec![self.resource_metrics(all)])
            }
            Err(error) => Err(ScrapeFailure {
                message: error.to_string(),
                metrics: vec![self.resource_metrics(vec![self.up(now, 0)])],
            }),
        }
    }

    fn resource_metrics(&self, metrics: Vec<Metric>) -> ResourceMetrics {
        build::resource_metrics(self.resource.clone(), &self.scope, metrics)
    }

    fn up(&self, now: u64, value: i64) -> Metric {
        build::gauge(
            &self.up_name,
            self.up_description,
            "1",
            vec![build::point(0, now, Number::Int(value), vec![])],
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry_proto::tonic::metrics::v1::metric::Data;

    #[test]
    fn hosts_lose_their_brackets_and_ports_are_read() {
        let endpoint = Endpoint::new("[::1]:6379").unwrap();
        assert_eq!(host_and_port(&endpoint), ("::1".to_string(), 6379));
        let endpoint = Endpoint::new("db.internal:5432").unwrap();
        assert_eq!(host_and_port(&endpoint), ("db.internal".to_string(), 5432));
    }

    #[test]
    fn a_failed_scrape_reports_up_zero_and_its_reason() {
        let target = Target::new("redis", &Endpoint::new("h:1").unwrap(), "reached");
        let failure = target.report(5, Err::<Vec<Metric>, _>("down")).unwrap_err();
        assert_eq!(failure.message, "down");
        let metrics = &failure.metrics[0].scope_metrics[0];
        assert_eq!(
            metrics.scope.as_ref().unwrap().name,
            "sentinel/receiver/redis"
        );
        assert_eq!(metrics.metrics[0].name, "redis.up");
        let Some(Data::Gauge(gauge)) = &metrics.metrics[0].data else {
            panic!("a gauge")
        };
        assert_eq!(gauge.data_points.len(), 1);

        let read = target.report(5, Ok::<_, String>(Vec::new())).unwrap();
        assert_eq!(read[0].scope_metrics[0].metrics.len(), 1, "just up = 1");
    }
}
