//! One scrape of PgBouncer's admin console: `SHOW POOLS`, `SHOW DATABASES`, `SHOW STATS`.

use std::collections::HashMap;
use std::time::Duration;

use async_trait::async_trait;
use opentelemetry_proto::tonic::common::v1::KeyValue;
use opentelemetry_proto::tonic::metrics::v1::{Metric, NumberDataPoint, ResourceMetrics};
use tokio_postgres::SimpleQueryMessage;

use super::PgbouncerConfig;
use crate::receivers::postgresql::{connect, error_text, host_and_port, Login};
use crate::receivers::scrape::build::{self, attr, Number};
use crate::receivers::scrape::{ScrapeFailure, Scraper};

const SCOPE: &str = "sentinel/receiver/pgbouncer";
const ADMIN_DATABASE: &str = "pgbouncer";
const MICROS_PER_SECOND: f64 = 1_000_000.0;

/// One result row, by column name. PgBouncer adds columns between versions, so columns
/// are looked up by name and a missing one is simply not reported.
pub type Row = HashMap<String, String>;

/// `SHOW POOLS` columns reported as `pgbouncer.pool.*` gauges: (column, metric, unit).
const POOL_COLUMNS: [(&str, &str, &str); 7] = [
    ("cl_active", "pgbouncer.pool.client.active", "{connection}"),
    (
        "cl_waiting",
        "pgbouncer.pool.client.waiting",
        "{connection}",
    ),
    ("sv_active", "pgbouncer.pool.server.active", "{connection}"),
    ("sv_idle", "pgbouncer.pool.server.idle", "{connection}"),
    ("sv_used", "pgbouncer.pool.server.used", "{connection}"),
    ("sv_tested", "pgbouncer.pool.server.tested", "{connection}"),
    ("sv_login", "pgbouncer.pool.server.login", "{connection}"),
];

/// How a `SHOW STATS` column is reported.
struct StatColumn {
    column: &'static str,
    metric: &'static str,
    unit: &'static str,
    /// Totals are cumulative sums; averages (over the last stats period) are gauges.
    total: bool,
    /// The column is in microseconds and is reported in seconds.
    micros: bool,
}

const fn stat(
    column: &'static str,
    metric: &'static str,
    unit: &'static str,
    total: bool,
    micros: bool,
) -> StatColumn {
    StatColumn {
        column,
        metric,
        unit,
        total,
        micros,
    }
}

const STAT_COLUMNS: [StatColumn; 14] = [
    stat(
        "total_xact_count",
        "pgbouncer.stats.transactions",
        "{transaction}",
        true,
        false,
    ),
    stat(
        "total_query_count",
        "pgbouncer.stats.queries",
        "{query}",
        true,
        false,
    ),
    stat(
        "total_received",
        "pgbouncer.stats.received",
        "By",
        true,
        false,
    ),
    stat("total_sent", "pgbouncer.stats.sent", "By", true, false),
    stat(
        "total_xact_time",
        "pgbouncer.stats.transaction.time",
        "s",
        true,
        true,
    ),
    stat(
        "total_query_time",
        "pgbouncer.stats.query.time",
        "s",
        true,
        true,
    ),
    stat(
        "total_wait_time",
        "pgbouncer.stats.wait.time",
        "s",
        true,
        true,
    ),
    stat(
        "avg_xact_count",
        "pgbouncer.stats.avg.transactions",
        "{transaction}/s",
        false,
        false,
    ),
    stat(
        "avg_query_count",
        "pgbouncer.stats.avg.queries",
        "{query}/s",
        false,
        false,
    ),
    stat(
        "avg_recv",
        "pgbouncer.stats.avg.received",
        "By/s",
        false,
        false,
    ),
    stat("avg_sent", "pgbouncer.stats.avg.sent", "By/s", false, false),
    stat(
        "avg_xact_time",
        "pgbouncer.stats.avg.transaction.time",
        "s",
        false,
        true,
    ),
    stat(
        "avg_query_time",
        "pgbouncer.stats.avg.query.time",
        "s",
        false,
        true,
    ),
    stat(
        "avg_wait_time",
        "pgbouncer.stats.avg.wait.time",
        "s",
        false,
        true,
    ),
];

pub struct PgbouncerScraper {
    config: PgbouncerConfig,
    tls: Option<tokio_postgres_rustls::MakeRustlsConnect>,
    client: Option<tokio_postgres::Client>,
    start_time: u64,
    resource: Vec<KeyValue>,
}

/// What one scrape read.
#[derive(Debug, Default)]
pub struct Console {
    pub pools: Vec<Row>,
    pub databases: Vec<Row>,
    pub stats: Vec<Row>,
}

impl PgbouncerScraper {
    pub fn new(
        config: PgbouncerConfig,
        tls: Option<tokio_postgres_rustls::MakeRustlsConnect>,
    ) -> PgbouncerScraper {
        let (host, port) = host_and_port(&config.endpoint);
        PgbouncerScraper {
            resource: vec![
                attr("db.system.name", "pgbouncer"),
                attr("server.address", host),
                attr("server.port", i64::from(port)),
            ],
            config,
            tls,
            client: None,
            start_time: build::now_unix_nano(),
        }
    }

    fn timeout(&self) -> Duration {
        self.config.collection_interval.min(Duration::from_secs(10))
    }

    async fn read_console(&mut self) -> Result<Console, String> {
        if self.client.as_ref().is_none_or(|c| c.is_closed()) {
            let login = Login {
                endpoint: &self.config.endpoint,
                username: &self.config.username,
                password: self.config.password.expose(),
                database: ADMIN_DATABASE,
                application_name: "sentinel-pgbouncer",
                tls: self.tls.as_ref(),
            };
            self.client = Some(connect(&login, self.timeout()).await?);
        }
        let client = self.client.as_ref().expect("connected above");
        let queries = async {
            Ok::<_, tokio_postgres::Error>(Console {
                pools: rows(client.simple_query("SHOW POOLS").await?),
                databases: rows(client.simple_query("SHOW DATABASES").await?),
                stats: rows(client.simple_query("SHOW STATS").await?),
            })
        };
        match tokio::time::timeout(self.timeout(), queries).await {
            Ok(Ok(console)) => Ok(console),
            Ok(Err(e)) => {
                self.client = None;
                Err(format!("admin console query failed: {}", error_text(&e)))
            }
            Err(_) => {
                self.client = None;
                Err("admin console queries timed out".to_string())
            }
        }
    }

    fn up(&self, now: u64, value: i64) -> Metric {
        build::gauge(
            "pgbouncer.up",
            "Whether the last scrape reached PgBouncer's admin console (1) or not (0)",
            "1",
            vec![build::point(0, now, Number::Int(value), vec![])],
        )
    }
}

fn rows(messages: Vec<SimpleQueryMessage>) -> Vec<Row> {
    messages
        .iter()
        .filter_map(|message| match message {
            SimpleQueryMessage::Row(row) => Some(
                row.columns()
                    .iter()
                    .enumerate()
                    .filter_map(|(i, column)| {
                        row.get(i)
                            .map(|v| (column.name().to_string(), v.to_string()))
                    })
                    .collect(),
            ),
            _ => None,
        })
        .collect()
}

#[async_trait]
impl Scraper for PgbouncerScraper {
    async fn scrape(&mut self) -> Result<Vec<ResourceMetrics>, ScrapeFailure> {
        let result = self.read_console().await;
        let now = build::now_unix_nano();
        match result {
            Ok(console) => {
                let mut metrics = vec![self.up(now, 1)];
                metrics.extend(console.metrics(&self.config.databases, self.start_time, now));
                Ok(vec![build::resource_metrics(
                    self.resource.clone(),
                    SCOPE,
                    metrics,
                )])
            }
            Err(message) => Err(ScrapeFailure {
                message,
                metrics: vec![build::resource_metrics(
                    self.resource.clone(),
                    SCOPE,
                    vec![self.up(now, 0)],
                )],
            }),
        }
    }
}

fn int(row: &Row, column: &str) -> Option<i64> {
    row.get(column)?.parse().ok()
}

impl Console {
    /// The OTLP metrics. A pool is one (database, user) pair, named `database/user`.
    pub fn metrics(&self, only: &[String], start: u64, now: u64) -> Vec<Metric> {
        let wanted = |row: &Row| {
            let name = row.get("database").or_else(|| row.get("name"));
            only.is_empty() || name.is_some_and(|n| only.contains(n))
        };
        let pool_sizes: HashMap<&str, i64> = self
            .databases
            .iter()
            .filter_map(|r| Some((r.get("name")?.as_str(), int(r, "pool_size")?)))
            .collect();

        let mut count = Vec::new();
        let mut pending = Vec::new();
        let mut max = Vec::new();
        let mut maxwait = Vec::new();
        let mut columns: Vec<Vec<NumberDataPoint>> = vec![Vec::new(); POOL_COLUMNS.len()];
        for row in self.pools.iter().filter(|r| wanted(r)) {
            let database = row.get("database").map(String::as_str).unwrap_or("");
            let user = row.get("user").map(String::as_str).unwrap_or("");
            let pool = || {
                vec![
                    attr(
                        "db.client.connection.pool.name",
                        format!("{database}/{user}"),
                    ),
                    attr("db.namespace", database),
                    attr("pgbouncer.user", user),
                ]
            };
            let point = |value: Number, mut attributes: Vec<KeyValue>| {
                attributes.splice(0..0, pool());
                build::point(0, now, value, attributes)
            };
            for (state, column) in [("used", "sv_active"), ("idle", "sv_idle")] {
                if let Some(value) = int(row, column) {
                    count.push(point(
                        Number::Int(value),
                        vec![attr("db.client.connection.state", state)],
                    ));
                }
            }
            if let Some(value) = int(row, "cl_waiting") {
                pending.push(point(Number::Int(value), vec![]));
            }
            if let Some(size) = pool_sizes.get(database) {
                max.push(point(Number::Int(*size), vec![]));
            }
            if let Some(seconds) = int(row, "maxwait") {
                let micros = int(row, "maxwait_us").unwrap_or(0);
                let waited = seconds as f64 + micros as f64 / MICROS_PER_SECOND;
                maxwait.push(point(Number::Double(waited), vec![]));
            }
            for (points, (column, _, _)) in columns.iter_mut().zip(POOL_COLUMNS) {
                if let Some(value) = int(row, column) {
                    points.push(point(Number::Int(value), vec![]));
                }
            }
        }

        let mut metrics = vec![
            build::sum(
                "db.client.connection.count",
                "Server connections of the pool: used ← sv_active, idle ← sv_idle",
                "{connection}",
                false,
                count,
            ),
            build::sum(
                "db.client.connection.pending_requests",
                "Clients waiting for a server connection (cl_waiting)",
                "{request}",
                false,
                pending,
            ),
            build::sum(
                "db.client.connection.max",
                "Server connections the pool may open (pool_size)",
                "{connection}",
                false,
                max,
            ),
            build::gauge(
                "pgbouncer.pool.maxwait",
                "How long the oldest waiting client has waited (maxwait + maxwait_us)",
                "s",
                maxwait,
            ),
        ];
        for (points, (_, name, unit)) in columns.into_iter().zip(POOL_COLUMNS) {
            metrics.push(build::sum(
                name,
                "SHOW POOLS column of the same name",
                unit,
                false,
                points,
            ));
        }
        for stat in &STAT_COLUMNS {
            let points: Vec<NumberDataPoint> = self
                .stats
                .iter()
                .filter(|r| wanted(r))
                .filter_map(|row| {
                    let raw = int(row, stat.column)?;
                    let value = if stat.micros {
                        Number::Double(raw as f64 / MICROS_PER_SECOND)
                    } else {
                        Number::Int(raw)
                    };
                    let database = row.get("database").map(String::as_str).unwrap_or("");
                    let start = if stat.total { start } else { 0 };
                    Some(build::point(
                        start,
                        now,
                        value,
                        vec![attr("db.namespace", database)],
                    ))
                })
                .collect();
            metrics.push(if stat.total {
                build::sum(stat.metric, "SHOW STATS total", stat.unit, true, points)
            } else {
                build::gauge(
                    stat.metric,
                    "SHOW STATS average over the last stats period",
                    stat.unit,
                    points,
                )
            });
        }
        build::drop_empty(&mut metrics);
        metrics
    }
}
