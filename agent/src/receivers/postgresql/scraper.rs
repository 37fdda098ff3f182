//! One scrape of a PostgreSQL server: three queries, turned into OTLP metrics.

use std::collections::BTreeMap;
use std::time::Duration;

use async_trait::async_trait;
use opentelemetry_proto::tonic::common::v1::KeyValue;
use opentelemetry_proto::tonic::metrics::v1::{Metric, NumberDataPoint, ResourceMetrics};
use tokio_postgres::{Client, Row};
use tokio_postgres_rustls::MakeRustlsConnect;

use super::PostgresqlConfig;
use crate::receivers::database::postgres::{Login, Session};
use crate::receivers::database::{scrape_timeout, Target};
use crate::receivers::scrape::build::{self, attr, Number};
use crate::receivers::scrape::{ScrapeFailure, Scraper};

/// The receiver's own sessions carry this name, so operators can tell them apart.
pub const APPLICATION_NAME: &str = "sentinel-postgresql";

/// Client sessions grouped by database, state and application, without our own.
const ACTIVITY_SQL: &str = "\
SELECT coalesce(datname, '')::text, coalesce(state, 'unknown')::text,
       coalesce(application_name, '')::text, count(*)::bigint,
       (count(*) FILTER (WHERE wait_event_type = 'Lock'))::bigint,
       coalesce(max(extract(epoch FROM now() - xact_start)), 0)::float8,
       coalesce(max(extract(epoch FROM now() - query_start)) FILTER (WHERE state = 'active'), 0)::float8
FROM pg_stat_activity
WHERE backend_type = 'client backend' AND pid <> pg_backend_pid()
  AND (cardinality($1::text[]) = 0 OR datname = ANY($1::text[]))
GROUP BY 1, 2, 3";

/// Per-database counters and sizes. The size needs CONNECT on the database; without it
/// the size is left out rather than failing the whole scrape.
const DATABASE_SQL: &str = "\
SELECT d.datname::text, d.datconnlimit::bigint, s.xact_commit::bigint,
       s.xact_rollback::bigint, s.deadlocks::bigint,
       (CASE WHEN has_database_privilege(d.datname, 'CONNECT')
             THEN pg_database_size(d.datname) END)::bigint
FROM pg_database d JOIN pg_stat_database s ON s.datid = d.oid
WHERE NOT d.datistemplate AND d.datallowconn
  AND (cardinality($1::text[]) = 0 OR d.datname = ANY($1::text[]))";

const MAX_CONNECTIONS_SQL: &str = "SELECT current_setting('max_connections')::bigint";

pub struct PostgresqlScraper {
    session: Session,
    /// Databases to report; empty for all.
    databases: Vec<String>,
    /// Pools are named `{endpoint}/{database}`.
    pool_prefix: String,
    timeout: Duration,
    /// Start of the cumulative counters we report (the receiver's start).
    start_time: u64,
    target: Target,
}

/// One row of [`ACTIVITY_SQL`].
#[derive(Debug, Clone, PartialEq)]
pub struct ActivityRow {
    pub database: String,
    pub state: String,
    pub application: String,
    pub count: i64,
    pub waiting_on_lock: i64,
    pub longest_transaction_s: f64,
    pub longest_query_s: f64,
}

/// One row of [`DATABASE_SQL`].
#[derive(Debug, Clone, PartialEq)]
pub struct DatabaseRow {
    pub name: String,
    /// `-1` when the database has no limit of its own.
    pub connection_limit: i64,
    pub commits: i64,
    pub rollbacks: i64,
    pub deadlocks: i64,
    pub size_bytes: Option<i64>,
}

impl ActivityRow {
    fn read(row: &Row) -> ActivityRow {
        ActivityRow {
            database: row.get(0),
            state: row.get(1),
            application: row.get(2),
            count: row.get(3),
            waiting_on_lock: row.get(4),
            longest_transaction_s: row.get(5),
            longest_query_s: row.get(6),
        }
    }
}

impl DatabaseRow {
    fn read(row: &Row) -> DatabaseRow {
        DatabaseRow {
            name: row.get(0),
            connection_limit: row.get(1),
            commits: row.get(2),
            rollbacks: row.get(3),
            deadlocks: row.get(4),
            size_bytes: row.get(5),
        }
    }
}

impl PostgresqlScraper {
    pub fn new(config: PostgresqlConfig, tls: Option<MakeRustlsConnect>) -> PostgresqlScraper {
        let login = Login {
            endpoint: config.endpoint.clone(),
            username: config.username,
            password: config.password.expose().to_string(),
            database: config.connect_database,
            application_name: APPLICATION_NAME,
        };
        PostgresqlScraper {
            session: Session::new(login, tls, ""),
            databases: config.databases,
            pool_prefix: config.endpoint.as_str().to_string(),
            timeout: scrape_timeout(config.collection_interval),
            start_time: build::now_unix_nano(),
            target: Target::new(
                "postgresql",
                &config.endpoint,
                "Whether the last scrape reached the server (1) or not (0)",
            ),
        }
    }
}

/// The three queries of one scrape.
async fn read_server(
    client: &Client,
    databases: &[String],
) -> Result<Server, tokio_postgres::Error> {
    let activity = client.query(ACTIVITY_SQL, &[&databases]).await?;
    let per_database = client.query(DATABASE_SQL, &[&databases]).await?;
    let max = client.query_one(MAX_CONNECTIONS_SQL, &[]).await?;
    Ok(Server {
        activity: activity.iter().map(ActivityRow::read).collect(),
        databases: per_database.iter().map(DatabaseRow::read).collect(),
        max_connections: max.get(0),
    })
}

#[async_trait]
impl Scraper for PostgresqlScraper {
    async fn scrape(&mut self) -> Result<Vec<ResourceMetrics>, ScrapeFailure> {
        let databases = &self.databases;
        let read = self
            .session
            .query(self.timeout, |client| async move {
                let server = read_server(&client, databases).await;
                (client, server)
            })
            .await;
        let now = build::now_unix_nano();
        let metrics = read.map(|server| server.metrics(&self.pool_prefix, self.start_time, now));
        self.target.report(now, metrics)
    }
}

/// What one scrape read.
#[derive(Debug, Clone, PartialEq)]
pub struct Server {
    pub activity: Vec<ActivityRow>,
    pub databases: Vec<DatabaseRow>,
    pub max_connections: i64,
}

/// Per-database figures summed over states and applications.
#[derive(Default)]
struct DatabaseActivity {
    idle: i64,
    used: i64,
    waiting_on_lock: i64,
    longest_transaction_s: f64,
    longest_query_s: f64,
}

/// The times of one scrape's points.
struct Stamp {
    /// Start of the cumulative counters.
    start: u64,
    now: u64,
}

impl Stamp {
    fn point(&self, value: Number, attributes: Vec<KeyValue>) -> NumberDataPoint {
        build::point(0, self.now, value, attributes)
    }

    fn counter(&self, value: i64, attributes: Vec<KeyValue>) -> NumberDataPoint {
        build::point(self.start, self.now, Number::Int(value), attributes)
    }
}

fn on_database(database: &str) -> Vec<KeyValue> {
    vec![attr("db.namespace", database)]
}

impl Server {
    /// The OTLP metrics: pools are named `{pool_prefix}/{database}`.
    pub fn metrics(&self, pool_prefix: &str, start: u64, now: u64) -> Vec<Metric> {
        let stamp = Stamp { start, now };
        let by_database = self.activity_by_database();
        let mut metrics = self.pool_metrics(&by_database, pool_prefix, &stamp);
        metrics.extend(self.connection_metrics(&stamp));
        metrics.extend(Self::backend_metrics(&by_database, &stamp));
        metrics.extend(self.database_metrics(&stamp));
        build::drop_empty(&mut metrics);
        metrics
    }

    /// Sessions summed per database; every reported database is there, even without
    /// sessions.
    fn activity_by_database(&self) -> BTreeMap<&str, DatabaseActivity> {
        let mut by_database: BTreeMap<&str, DatabaseActivity> = self
            .databases
            .iter()
            .map(|d| (d.name.as_str(), DatabaseActivity::default()))
            .collect();
        for row in &self.activity {
            let db = by_database.entry(row.database.as_str()).or_default();
            // Only an idle session frees its backend for nothing; every other state
            // (active, idle in transaction, fastpath...) holds it.
            if row.state == "idle" {
                db.idle += row.count;
            } else {
                db.used += row.count;
            }
            db.waiting_on_lock += row.waiting_on_lock;
            db.longest_transaction_s = db.longest_transaction_s.max(row.longest_transaction_s);
            db.longest_query_s = db.longest_query_s.max(row.longest_query_s);
        }
        by_database
    }

    /// Most connections a database accepts: its own limit, capped by the server's.
    fn connection_limit(&self, db: &DatabaseRow) -> i64 {
        if db.connection_limit >= 0 {
            db.connection_limit.min(self.max_connections)
        } else {
            self.max_connections
        }
    }

    /// `db.client.connection.*`: one pool per database.
    fn pool_metrics(
        &self,
        by_database: &BTreeMap<&str, DatabaseActivity>,
        pool_prefix: &str,
        stamp: &Stamp,
    ) -> Vec<Metric> {
        let pool = |db: &str| {
            attr(
                "db.client.connection.pool.name",
                format!("{pool_prefix}/{db}"),
            )
        };
        let mut count = Vec::new();
        for (db, activity) in by_database {
            for (state, value) in [("used", activity.used), ("idle", activity.idle)] {
                let attributes = vec![pool(db), attr("db.client.connection.state", state)];
                count.push(stamp.point(Number::Int(value), attributes));
            }
        }
        let max = self
            .databases
            .iter()
            .map(|db| stamp.point(Number::Int(self.connection_limit(db)), vec![pool(&db.name)]))
            .collect();
        vec![
            build::sum(
                "db.client.connection.count",
                "Connections to the database, by state (idle, or used by a session)",
                "{connection}",
                false,
                count,
            ),
            build::sum(
                "db.client.connection.max",
                "Most connections the database accepts: its own limit, or max_connections",
                "{connection}",
                false,
                max,
            ),
        ]
    }

    /// `postgresql.connection.*`: sessions by database, state and application, and the
    /// server's limit.
    fn connection_metrics(&self, stamp: &Stamp) -> Vec<Metric> {
        let connections = self
            .activity
            .iter()
            .map(|row| {
                let attributes = vec![
                    attr("db.namespace", row.database.as_str()),
                    attr("postgresql.connection.state", row.state.as_str()),
                    attr("postgresql.application.name", row.application.as_str()),
                ];
                stamp.point(Number::Int(row.count), attributes)
            })
            .collect();
        let max_connections = vec![stamp.point(Number::Int(self.max_connections), vec![])];
        vec![
            build::sum(
                "postgresql.connection.count",
                "Client sessions by database, state and application_name (pg_stat_activity)",
                "{connection}",
                false,
                connections,
            ),
            build::gauge(
                "postgresql.connection.max",
                "Configured max_connections",
                "{connection}",
                max_connections,
            ),
        ]
    }

    /// Per-database figures of the backends: how many, lock waits, oldest transaction
    /// and query.
    fn backend_metrics(
        by_database: &BTreeMap<&str, DatabaseActivity>,
        stamp: &Stamp,
    ) -> Vec<Metric> {
        let per_database = |value: &dyn Fn(&DatabaseActivity) -> Number| {
            by_database
                .iter()
                .map(|(db, activity)| stamp.point(value(activity), on_database(db)))
                .collect::<Vec<_>>()
        };
        vec![
            build::sum(
                "postgresql.backends",
                "Client backends connected to the database",
                "1",
                false,
                per_database(&|a| Number::Int(a.used + a.idle)),
            ),
            build::gauge(
                "postgresql.backends.waiting",
                "Client backends waiting on a lock",
                "{connection}",
                per_database(&|a| Number::Int(a.waiting_on_lock)),
            ),
            build::gauge(
                "postgresql.transaction.longest_age",
                "Age of the oldest open transaction",
                "s",
                per_database(&|a| Number::Double(a.longest_transaction_s)),
            ),
            build::gauge(
                "postgresql.query.longest_age",
                "Age of the longest running query",
                "s",
                per_database(&|a| Number::Double(a.longest_query_s)),
            ),
        ]
    }

    /// `pg_stat_database` counters and sizes.
    fn database_metrics(&self, stamp: &Stamp) -> Vec<Metric> {
        let counters = |value: fn(&DatabaseRow) -> i64| {
            self.databases
                .iter()
                .map(|db| stamp.counter(value(db), on_database(&db.name)))
                .collect::<Vec<_>>()
        };
        // No CONNECT privilege, no size: left out rather than reported as zero.
        let sizes = self
            .databases
            .iter()
            .filter_map(|db| Some(stamp.point(Number::Int(db.size_bytes?), on_database(&db.name))))
            .collect();
        vec![
            build::sum(
                "postgresql.commits",
                "Transactions committed",
                "1",
                true,
                counters(|db| db.commits),
            ),
            build::sum(
                "postgresql.rollbacks",
                "Transactions rolled back",
                "1",
                true,
                counters(|db| db.rollbacks),
            ),
            build::sum(
                "postgresql.deadlocks",
                "Deadlocks detected",
                "{deadlock}",
                true,
                counters(|db| db.deadlocks),
            ),
            build::sum(
                "postgresql.db_size",
                "Database disk usage",
                "By",
                false,
                sizes,
            ),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry_proto::tonic::common::v1::any_value;
    use opentelemetry_proto::tonic::metrics::v1::{metric::Data, number_data_point::Value};

    fn activity(database: &str, state: &str, count: i64) -> ActivityRow {
        ActivityRow {
            database: database.into(),
            state: state.into(),
            application: "app".into(),
            count,
            waiting_on_lock: 1,
            longest_transaction_s: 2.5,
            longest_query_s: 1.0,
        }
    }

    fn database(name: &str, connection_limit: i64) -> DatabaseRow {
        DatabaseRow {
            name: name.into(),
            connection_limit,
            commits: 10,
            rollbacks: 1,
            deadlocks: 0,
            size_bytes: None,
        }
    }

    /// Points of `name` as (attribute values joined by `,`, value).
    fn points(metrics: &[Metric], name: &str) -> Vec<(String, f64)> {
        let metric = metrics.iter().find(|m| m.name == name).expect(name);
        let points = match &metric.data {
            Some(Data::Sum(s)) => &s.data_points,
            Some(Data::Gauge(g)) => &g.data_points,
            _ => panic!("sum or gauge"),
        };
        points
            .iter()
            .map(|p| {
                let attrs: Vec<String> = p
                    .attributes
                    .iter()
                    .map(
                        |kv| match kv.value.as_ref().and_then(|v| v.value.as_ref()) {
                            Some(any_value::Value::StringValue(s)) => s.clone(),
                            other => format!("{other:?}"),
                        },
                    )
                    .collect();
                let value = match p.value {
                    Some(Value::AsInt(v)) => v as f64,
                    Some(Value::AsDouble(v)) => v,
                    None => f64::NAN,
                };
                (attrs.join(","), value)
            })
            .collect()
    }

    #[test]
    fn only_idle_sessions_count_as_idle_and_limits_fall_back_to_max_connections() {
        let server = Server {
            activity: vec![
                activity("shop", "idle", 3),
                activity("shop", "active", 2),
                activity("shop", "idle in transaction", 4),
            ],
            databases: vec![database("shop", -1), database("quiet", 5)],
            max_connections: 100,
        };
        let metrics = server.metrics("h:5432", 1, 2);
        assert_eq!(
            points(&metrics, "db.client.connection.count"),
            vec![
                ("h:5432/quiet,used".to_string(), 0.0),
                ("h:5432/quiet,idle".to_string(), 0.0),
                ("h:5432/shop,used".to_string(), 6.0),
                ("h:5432/shop,idle".to_string(), 3.0),
            ]
        );
        assert_eq!(
            points(&metrics, "db.client.connection.max"),
            vec![
                ("h:5432/shop".to_string(), 100.0),
                ("h:5432/quiet".to_string(), 5.0)
            ]
        );
        assert_eq!(
            points(&metrics, "postgresql.backends.waiting"),
            vec![("quiet".to_string(), 0.0), ("shop".to_string(), 3.0)]
        );
        assert!(
            metrics.iter().all(|m| m.name != "postgresql.db_size"),
            "no size without CONNECT: left out, not zero"
        );
    }
}
