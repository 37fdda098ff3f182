//! One scrape of a Redis server.

use std::collections::HashMap;
use std::time::Duration;

use async_trait::async_trait;
use opentelemetry_proto::tonic::common::v1::KeyValue;
use opentelemetry_proto::tonic::metrics::v1::{Metric, ResourceMetrics};

use super::resp::{self, Connection, Reply, RespError};
use super::RedisConfig;
use crate::receivers::database::tls::DirectTls;
use crate::receivers::database::{scrape_timeout, Target};
use crate::receivers::scrape::build::{self, attr, Number};
use crate::receivers::scrape::{ScrapeFailure, Scraper};

/// How an `INFO` field is reported.
enum Kind {
    /// Current value that goes up and down (non-monotonic sum).
    UpDown,
    /// Counter since the server started (monotonic sum).
    Counter,
    Gauge,
}

/// `INFO` fields reported as `redis.*`: (field, metric, unit, kind, description).
const INFO_FIELDS: [(&str, &str, &str, Kind, &str); 8] = [
    (
        "connected_clients",
        "redis.clients.connected",
        "{client}",
        Kind::UpDown,
        "Client connections, replicas excluded",
    ),
    (
        "blocked_clients",
        "redis.clients.blocked",
        "{client}",
        Kind::UpDown,
        "Clients waiting in a blocking call (BLPOP, ...)",
    ),
    (
        "total_connections_received",
        "redis.connections.received",
        "{connection}",
        Kind::Counter,
        "Connections accepted",
    ),
    (
        "rejected_connections",
        "redis.connections.rejected",
        "{connection}",
        Kind::Counter,
        "Connections refused because of maxclients",
    ),
    (
        "keyspace_hits",
        "redis.keyspace.hits",
        "{hit}",
        Kind::Counter,
        "Successful key lookups",
    ),
    (
        "keyspace_misses",
        "redis.keyspace.misses",
        "{miss}",
        Kind::Counter,
        "Failed key lookups",
    ),
    (
        "used_memory",
        "redis.memory.used",
        "By",
        Kind::Gauge,
        "Memory allocated by Redis",
    ),
    (
        "maxmemory",
        "redis.maxmemory",
        "By",
        Kind::Gauge,
        "Configured maxmemory (0: no limit)",
    ),
];

pub struct RedisScraper {
    config: RedisConfig,
    tls: Option<DirectTls>,
    connection: Option<Connection>,
    start_time: u64,
    target: Target,
}

/// A scrape that could not read the server.
#[derive(Debug, thiserror::Error)]
pub enum RedisError {
    #[error("redis at {endpoint}: {cause}")]
    Resp { endpoint: String, cause: RespError },
    #[error("redis at {endpoint}: {command} refused: {reply}")]
    Refused {
        endpoint: String,
        command: &'static str,
        reply: String,
    },
    #[error("redis at {endpoint}: unexpected INFO reply {reply:?}")]
    Unexpected { endpoint: String, reply: Reply },
    #[error("no answer from {endpoint} within {timeout:?}")]
    TimedOut { endpoint: String, timeout: Duration },
}

/// What one scrape read: the `INFO` text and `maxclients`.
struct Read {
    info: String,
    maxclients: Option<i64>,
}

impl RedisScraper {
    pub fn new(config: RedisConfig, tls: Option<DirectTls>) -> RedisScraper {
        RedisScraper {
            target: Target::new(
                "redis",
                &config.endpoint,
                "Whether the last scrape reached the server (1) or not (0)",
            ),
            config,
            tls,
            connection: None,
            start_time: build::now_unix_nano(),
        }
    }

    fn endpoint(&self) -> String {
        self.config.endpoint.as_str().to_string()
    }

    /// One scrape's commands within the timeout.
    async fn read(&mut self) -> Result<Read, RedisError> {
        let timeout = scrape_timeout(self.config.collection_interval);
        let result = match tokio::time::timeout(timeout, self.read_once()).await {
            Ok(result) => result,
            Err(_) => Err(RedisError::TimedOut {
                endpoint: self.endpoint(),
                timeout,
            }),
        };
        if result.is_err() {
            // Start over with a fresh connection next time: this one may be mid-reply.
            self.connection = None;
        }
        result
    }

    async fn read_once(&mut self) -> Result<Read, RedisError> {
        let endpoint = self.endpoint();
        if self.connection.is_none() {
            self.connection = Some(log_in(&self.config, self.tls.as_ref()).await?);
        }
        let connection = self.connection.as_mut().expect("connected above");
        let failed = |cause| RedisError::Resp {
            endpoint: endpoint.clone(),
            cause,
        };
        let info = match connection.command(&["INFO"]).await.map_err(failed)? {
            Reply::Bulk(Some(text)) => String::from_utf8_lossy(&text).into_owned(),
            Reply::Error(reply) => {
                let command = "INFO";
                return Err(RedisError::Refused {
                    endpoint,
                    command,
                    reply,
                });
            }
            reply => return Err(RedisError::Unexpected { endpoint, reply }),
        };
        // CONFIG may be renamed or disabled; INFO (Redis 7+) also carries maxclients.
        let maxclients = match connection
            .command(&["CONFIG", "GET", "maxclients"])
            .await
            .map_err(failed)?
        {
            Reply::Array(items) => match items.get(1) {
                Some(Reply::Bulk(Some(v))) => String::from_utf8_lossy(v).parse().ok(),
                _ => None,
            },
            _ => None,
        };
        Ok(Read { info, maxclients })
    }
}

/// Connects and authenticates: `AUTH [username] password` when there is a password.
async fn log_in(config: &RedisConfig, tls: Option<&DirectTls>) -> Result<Connection, RedisError> {
    let endpoint = config.endpoint.as_str().to_string();
    let failed = |cause| RedisError::Resp {
        endpoint: endpoint.clone(),
        cause,
    };
    let mut connection = Connection::connect(&endpoint, tls).await.map_err(failed)?;
    let password = config.password.expose();
    if !password.is_empty() {
        let mut auth = vec!["AUTH"];
        if !config.username.is_empty() {
            auth.push(&config.username);
        }
        auth.push(password);
        if let Reply::Error(reply) = connection.command(&auth).await.map_err(failed)? {
            let command = "AUTH";
            return Err(RedisError::Refused {
                endpoint,
                command,
                reply,
            });
        }
    }
    Ok(connection)
}

#[async_trait]
impl Scraper for RedisScraper {
    async fn scrape(&mut self) -> Result<Vec<ResourceMetrics>, ScrapeFailure> {
        let read = self.read().await;
        let now = build::now_unix_nano();
        let metrics = read.map(|read| {
            let fields = resp::parse_info(&read.info);
            let pool_name = self.config.endpoint.as_str();
            info_metrics(&fields, read.maxclients, pool_name, self.start_time, now)
        });
        self.target.report(now, metrics)
    }
}

/// The metrics of one `INFO` reply. Fields the server does not report are left out.
pub fn info_metrics(
    fields: &HashMap<&str, &str>,
    maxclients: Option<i64>,
    pool_name: &str,
    start: u64,
    now: u64,
) -> Vec<Metric> {
    let int = |field: &str| fields.get(field).and_then(|v| v.parse::<i64>().ok());
    let maxclients = maxclients.or_else(|| int("maxclients"));
    let one = |value: Option<i64>, start: u64, attributes: Vec<KeyValue>| {
        value
            .map(|v| vec![build::point(start, now, Number::Int(v), attributes)])
            .unwrap_or_default()
    };
    let pool = || attr("db.client.connection.pool.name", pool_name);
    let mut metrics = vec![
        build::sum(
            "db.client.connection.count",
            "Connected clients; each holds a connection slot (used)",
            "{connection}",
            false,
            one(
                int("connected_clients"),
                0,
                vec![pool(), attr("db.client.connection.state", "used")],
            ),
        ),
        build::sum(
            "db.client.connection.max",
            "maxclients",
            "{connection}",
            false,
            one(maxclients, 0, vec![pool()]),
        ),
        build::gauge(
            "redis.clients.max",
            "Configured maxclients",
            "{client}",
            one(maxclients, 0, vec![]),
        ),
    ];
    for (field, name, unit, kind, description) in &INFO_FIELDS {
        metrics.push(match kind {
            Kind::UpDown => build::sum(name, description, unit, false, one(int(field), 0, vec![])),
            Kind::Counter => build::sum(
                name,
                description,
                unit,
                true,
                one(int(field), start, vec![]),
            ),
            Kind::Gauge => build::gauge(name, description, unit, one(int(field), 0, vec![])),
        });
    }
    build::drop_empty(&mut metrics);
    metrics
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn info_fields_become_metrics_and_missing_ones_are_left_out() {
        let fields = resp::parse_info("connected_clients:4\r\nkeyspace_hits:7\r\n");
        let metrics = info_metrics(&fields, Some(10000), "h:1", 1, 2);
        let names: Vec<&str> = metrics.iter().map(|m| m.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "db.client.connection.count",
                "db.client.connection.max",
                "redis.clients.max",
                "redis.clients.connected",
                "redis.keyspace.hits",
            ]
        );
    }
}
