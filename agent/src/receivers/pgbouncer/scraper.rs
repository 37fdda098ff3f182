//! One scrape of PgBouncer's admin console: `SHOW POOLS`, `SHOW DATABASES`, `SHOW STATS`.

use std::collections::HashMap;
use std::time::Duration;

use async_trait::async_trait;
use opentelemetry_proto::tonic::common::v1::KeyValue;
use opentelemetry_proto::tonic::metrics::v1::{Metric, NumberDataPoint, ResourceMetrics};
use tokio_postgres::{Client, SimpleQueryMessage};
use tokio_postgres_rustls::MakeRustlsConnect;

use super::PgbouncerConfig;
use crate::receivers::database::postgres::{Login, Session};
use crate::receivers::database::{scrape_timeout, Target};
use crate::receivers::scrape::build::{self, attr, Number};
use crate::receivers::scrape::{ScrapeFailure, Scraper};

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
    session: Session,
    /// Databases (pools) to report; empty for all.
    databases: Vec<String>,
    timeout: Duration,
    start_time: u64,
    target: Target,
}

/// What one scrape read.
#[derive(Debug, Default)]
pub struct Console {
    pub pools: Vec<Row>,
    pub databases: Vec<Row>,
    pub stats: Vec<Row>,
}

impl PgbouncerScraper {
    pub fn new(config: PgbouncerConfig, tls: Option<MakeRustlsConnect>) -> PgbouncerScraper {
        let login = Login {
            endpoint: config.endpoint.clone(),
            username: config.username,
            password: config.password.expose().to_string(),
            database: ADMIN_DATABASE.to_string(),
            application_name: "sentinel-pgbouncer",
        };
        PgbouncerScraper {
            session: Session::new(login, tls, "admin console "),
            databases: config.databases,
            timeout: scrape_timeout(config.collection_interval),
            start_time: build::now_unix_nano(),
            target: Target::new(
                "pgbouncer",
                &config.endpoint,
                "Whether the last scrape reached PgBouncer's admin console (1) or not (0)",
            ),
        }
    }
}

/// The admin console only speaks the simple query protocol.
async fn read_console(client: &Client) -> Result<Console, tokio_postgres::Error> {
    Ok(Console {
        pools: rows(client.simple_query("SHOW POOLS").await?),
        databases: rows(client.simple_query("SHOW DATABASES").await?),
        stats: rows(client.simple_query("SHOW STATS").await?),
    })
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
        let read = self
            .session
            .query(self.timeout, |client| async move {
                let console = read_console(&client).await;
                (client, console)
            })
            .await;
        let now = build::now_unix_nano();
        let metrics = read.map(|console| console.metrics(&self.databases, self.start_time, now));
        self.target.report(now, metrics)
    }
}

fn int(row: &Row, column: &str) -> Option<i64> {
    row.get(column)?.parse().ok()
}

fn database(row: &Row) -> &str {
    row.get("database").map(String::as_str).unwrap_or("")
}

impl Console {
    /// The OTLP metrics. A pool is one (database, user) pair, named `database/user`.
    pub fn metrics(&self, only: &[String], start: u64, now: u64) -> Vec<Metric> {
        let wanted = |row: &&Row| {
            let name = row.get("database").or_else(|| row.get("name"));
            only.is_empty() || name.is_some_and(|n| only.contains(n))
        };
        let pool_sizes: HashMap<&str, i64> = self
            .databases
            .iter()
            .filter_map(|r| Some((r.get("name")?.as_str(), int(r, "pool_size")?)))
            .collect();
        let mut pools = PoolPoints::new();
        for row in self.pools.iter().filter(wanted) {
            pools.add(row, pool_sizes.get(database(row)).copied(), now);
        }
        let mut metrics = pools.into_metrics();
        for stat in &STAT_COLUMNS {
            metrics.push(stat_metric(
                stat,
                self.stats.iter().filter(wanted),
                start,
                now,
            ));
        }
        build::drop_empty(&mut metrics);
        metrics
    }
}

/// The `SHOW POOLS` figures as points, gathered pool by pool.
struct PoolPoints {
    count: Vec<NumberDataPoint>,
    pending: Vec<NumberDataPoint>,
    max: Vec<NumberDataPoint>,
    maxwait: Vec<NumberDataPoint>,
    /// One list per [`POOL_COLUMNS`] entry.
    columns: Vec<Vec<NumberDataPoint>>,
}

impl PoolPoints {
    fn new() -> PoolPoints {
        PoolPoints {
            count: Vec::new(),
            pending: Vec::new(),
            max: Vec::new(),
            maxwait: Vec::new(),
            columns: vec![Vec::new(); POOL_COLUMNS.len()],
        }
    }

    /// One pool's row; `pool_size` comes from `SHOW DATABASES`.
    fn add(&mut self, row: &Row, pool_size: Option<i64>, now: u64) {
        let database = database(row);
        let user = row.get("user").map(String::as_str).unwrap_or("");
        let point = |value: Number, mut attributes: Vec<KeyValue>| {
            let pool = [
                attr(
                    "db.client.connection.pool.name",
                    format!("{database}/{user}"),
                ),
                attr("db.namespace", database),
                attr("pgbouncer.user", user),
            ];
            attributes.splice(0..0, pool);
            build::point(0, now, value, attributes)
        };
        for (state, column) in [("used", "sv_active"), ("idle", "sv_idle")] {
            if let Some(value) = int(row, column) {
                let state = vec![attr("db.client.connection.state", state)];
                self.count.push(point(Number::Int(value), state));
            }
        }
        if let Some(value) = int(row, "cl_waiting") {
            self.pending.push(point(Number::Int(value), vec![]));
        }
        if let Some(size) = pool_size {
            self.max.push(point(Number::Int(size), vec![]));
        }
        if let Some(seconds) = int(row, "maxwait") {
            let micros = int(row, "maxwait_us").unwrap_or(0);
            let waited = seconds as f64 + micros as f64 / MICROS_PER_SECOND;
            self.maxwait.push(point(Number::Double(waited), vec![]));
        }
        for (points, (column, _, _)) in self.columns.iter_mut().zip(POOL_COLUMNS) {
            if let Some(value) = int(row, column) {
                points.push(point(Number::Int(value), vec![]));
            }
        }
    }

    fn into_metrics(self) -> Vec<Metric> {
        let mut metrics = vec![
            build::sum(
                "db.client.connection.count",
                "Server connections of the pool: used ← sv_active, idle ← sv_idle",
                "{connection}",
                false,
                self.count,
            ),
            build::sum(
                "db.client.connection.pending_requests",
                "Clients waiting for a server connection (cl_waiting)",
                "{request}",
                false,
                self.pending,
            ),
            build::sum(
                "db.client.connection.max",
                "Server connections the pool may open (pool_size)",
                "{connection}",
                false,
                self.max,
            ),
            build::gauge(
                "pgbouncer.pool.maxwait",
                "How long the oldest waiting client has waited (maxwait + maxwait_us)",
                "s",
                self.maxwait,
            ),
        ];
        for (points, (_, name, unit)) in self.columns.into_iter().zip(POOL_COLUMNS) {
            let description = "SHOW POOLS column of the same name";
            metrics.push(build::sum(name, description, unit, false, points));
        }
        metrics
    }
}

/// One `SHOW STATS` column over the wanted databases.
fn stat_metric<'a>(
    stat: &StatColumn,
    rows: impl Iterator<Item = &'a Row>,
    start: u64,
    now: u64,
) -> Metric {
    let start = if stat.total { start } else { 0 };
    let points: Vec<NumberDataPoint> = rows
        .filter_map(|row| {
            let raw = int(row, stat.column)?;
            let value = if stat.micros {
                Number::Double(raw as f64 / MICROS_PER_SECOND)
            } else {
                Number::Int(raw)
            };
            let attributes = vec![attr("db.namespace", database(row))];
            Some(build::point(start, now, value, attributes))
        })
        .collect();
    if stat.total {
        build::sum(stat.metric, "SHOW STATS total", stat.unit, true, points)
    } else {
        let description = "SHOW STATS average over the last stats period";
        build::gauge(stat.metric, description, stat.unit, points)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(fields: &[(&str, &str)]) -> Row {
        fields
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn pools_and_stats_of_the_wanted_databases_become_metrics() {
        let console = Console {
            pools: vec![
                row(&[
                    ("database", "app"),
                    ("user", "web"),
                    ("sv_active", "2"),
                    ("sv_idle", "3"),
                    ("cl_waiting", "1"),
                    ("maxwait", "1"),
                    ("maxwait_us", "500000"),
                ]),
                row(&[("database", "other"), ("user", "web"), ("sv_active", "9")]),
            ],
            databases: vec![row(&[("name", "app"), ("pool_size", "20")])],
            stats: vec![
                row(&[("database", "app"), ("total_query_time", "2500000")]),
                row(&[("database", "other"), ("total_query_time", "1")]),
            ],
        };
        let metrics = console.metrics(&["app".to_string()], 1, 2);
        let names: Vec<&str> = metrics.iter().map(|m| m.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "db.client.connection.count",
                "db.client.connection.pending_requests",
                "db.client.connection.max",
                "pgbouncer.pool.maxwait",
                "pgbouncer.pool.client.waiting",
                "pgbouncer.pool.server.active",
                "pgbouncer.pool.server.idle",
                "pgbouncer.stats.query.time",
            ]
        );
        let points = |name: &str| {
            let metric = metrics.iter().find(|m| m.name == name).unwrap();
            match &metric.data {
                Some(opentelemetry_proto::tonic::metrics::v1::metric::Data::Sum(s)) => {
                    s.data_points.clone()
                }
                Some(opentelemetry_proto::tonic::metrics::v1::metric::Data::Gauge(g)) => {
                    g.data_points.clone()
                }
                _ => panic!("sum or gauge"),
            }
        };
        use opentelemetry_proto::tonic::metrics::v1::number_data_point::Value;
        assert_eq!(
            points("db.client.connection.count").len(),
            2,
            "used and idle of app"
        );
        assert_eq!(
            points("pgbouncer.pool.maxwait")[0].value,
            Some(Value::AsDouble(1.5))
        );
        let query_time = &points("pgbouncer.stats.query.time")[0];
        assert_eq!(query_time.value, Some(Value::AsDouble(2.5)));
        assert_eq!(query_time.start_time_unix_nano, 1, "totals are cumulative");
    }
}
