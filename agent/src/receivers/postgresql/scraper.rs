//! One scrape of a PostgreSQL server: three queries, turned into OTLP metrics.

use std::collections::BTreeMap;
use std::time::Duration;

use async_trait::async_trait;
use opentelemetry_proto::tonic::common::v1::KeyValue;
use opentelemetry_proto::tonic::metrics::v1::{Metric, ResourceMetrics};

use super::{connect, host_and_port, Login, PostgresqlConfig};
use crate::receivers::scrape::build::{self, attr, Number};
use crate::receivers::scrape::{ScrapeFailure, Scraper};

/// The receiver's own sessions carry this name, so operators can tell them apart.
pub const APPLICATION_NAME: &str = "sentinel-postgresql";
const SCOPE: &str = "sentinel/receiver/postgresql";

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
    config: PostgresqlConfig,
    tls: Option<tokio_postgres_rustls::MakeRustlsConnect>,
    client: Option<tokio_postgres::Client>,
    /// Start of the cumulative counters we report (the receiver's start).
    start_time: u64,
    resource: Vec<KeyValue>,
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

impl PostgresqlScraper {
    pub fn new(
        config: PostgresqlConfig,
        tls: Option<tokio_postgres_rustls::MakeRustlsConnect>,
    ) -> PostgresqlScraper {
        let (host, port) = host_and_port(&config.endpoint);
        PostgresqlScraper {
            resource: vec![
                attr("db.system.name", "postgresql"),
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

    async fn query_all(&mut self) -> Result<Server, String> {
        if self.client.as_ref().is_none_or(|c| c.is_closed()) {
            let login = Login {
                endpoint: &self.config.endpoint,
                username: &self.config.username,
                password: self.config.password.expose(),
                database: &self.config.connect_database,
                application_name: APPLICATION_NAME,
                tls: self.tls.as_ref(),
            };
            self.client = Some(connect(&login, self.timeout()).await?);
        }
        let client = self.client.as_ref().expect("connected above");
        let databases = &self.config.databases;
        let queries = async {
            let activity = client.query(ACTIVITY_SQL, &[databases]).await?;
            let per_database = client.query(DATABASE_SQL, &[databases]).await?;
            let max = client.query_one(MAX_CONNECTIONS_SQL, &[]).await?;
            Ok::<_, tokio_postgres::Error>((activity, per_database, max))
        };
        let result = tokio::time::timeout(self.timeout(), queries).await;
        let (activity, per_database, max) = match result {
            Ok(Ok(rows)) => rows,
            Ok(Err(e)) => {
                self.client = None;
                return Err(format!("query failed: {}", super::error_text(&e)));
            }
            Err(_) => {
                self.client = None;
                return Err("queries timed out".to_string());
            }
        };
        Ok(Server {
            activity: activity
                .iter()
                .map(|r| ActivityRow {
                    database: r.get(0),
                    state: r.get(1),
                    application: r.get(2),
                    count: r.get(3),
                    waiting_on_lock: r.get(4),
                    longest_transaction_s: r.get(5),
                    longest_query_s: r.get(6),
                })
                .collect(),
            databases: per_database
                .iter()
                .map(|r| DatabaseRow {
                    name: r.get(0),
                    connection_limit: r.get(1),
                    commits: r.get(2),
                    rollbacks: r.get(3),
                    deadlocks: r.get(4),
                    size_bytes: r.get(5),
                })
                .collect(),
            max_connections: max.get(0),
        })
    }

    fn up(&self, now: u64, value: i64) -> Metric {
        build::gauge(
            "postgresql.up",
            "Whether the last scrape reached the server (1) or not (0)",
            "1",
            vec![build::point(0, now, Number::Int(value), vec![])],
        )
    }
}

#[async_trait]
impl Scraper for PostgresqlScraper {
    async fn scrape(&mut self) -> Result<Vec<ResourceMetrics>, ScrapeFailure> {
        let result = self.query_all().await;
        let now = build::now_unix_nano();
        match result {
            Ok(server) => {
                let mut metrics = vec![self.up(now, 1)];
                let pool_prefix = self.config.endpoint.as_str().to_string();
                metrics.extend(server.metrics(&pool_prefix, self.start_time, now));
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

impl Server {
    /// The OTLP metrics: pools are named `{pool_prefix}/{database}`.
    pub fn metrics(&self, pool_prefix: &str, start: u64, now: u64) -> Vec<Metric> {
        let mut by_database: BTreeMap<&str, DatabaseActivity> = self
            .databases
            .iter()
            .map(|d| (d.name.as_str(), DatabaseActivity::default()))
            .collect();
        let mut connections = Vec::new();
        for row in &self.activity {
            connections.push(build::point(
                0,
                now,
                Number::Int(row.count),
                vec![
                    attr("db.namespace", row.database.as_str()),
                    attr("postgresql.connection.state", row.state.as_str()),
                    attr("postgresql.application.name", row.application.as_str()),
                ],
            ));
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

        let pool = |db: &str| {
            attr(
                "db.client.connection.pool.name",
                format!("{pool_prefix}/{db}"),
            )
        };
        let on_db = |db: &str| vec![attr("db.namespace", db)];
        let point =
            |value: Number, attributes: Vec<KeyValue>| build::point(0, now, value, attributes);
        let counter = |value: i64, attributes: Vec<KeyValue>| {
            build::point(start, now, Number::Int(value), attributes)
        };

        let mut pool_count = Vec::new();
        let mut pool_max = Vec::new();
        let mut backends = Vec::new();
        let mut waiting = Vec::new();
        let mut transaction_age = Vec::new();
        let mut query_age = Vec::new();
        for (db, activity) in &by_database {
            for (state, value) in [("used", activity.used), ("idle", activity.idle)] {
                pool_count.push(point(
                    Number::Int(value),
                    vec![pool(db), attr("db.client.connection.state", state)],
                ));
            }
            backends.push(point(Number::Int(activity.used + activity.idle), on_db(db)));
            waiting.push(point(Number::Int(activity.waiting_on_lock), on_db(db)));
            transaction_age.push(point(
                Number::Double(activity.longest_transaction_s),
                on_db(db),
            ));
            query_age.push(point(Number::Double(activity.longest_query_s), on_db(db)));
        }
        let (mut commits, mut rollbacks, mut deadlocks, mut sizes) =
            (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        for db in &self.databases {
            let limit = if db.connection_limit >= 0 {
                db.connection_limit.min(self.max_connections)
            } else {
                self.max_connections
            };
            pool_max.push(point(Number::Int(limit), vec![pool(&db.name)]));
            commits.push(counter(db.commits, on_db(&db.name)));
            rollbacks.push(counter(db.rollbacks, on_db(&db.name)));
            deadlocks.push(counter(db.deadlocks, on_db(&db.name)));
            if let Some(size) = db.size_bytes {
                sizes.push(point(Number::Int(size), on_db(&db.name)));
            }
        }
        let max_connections = vec![point(Number::Int(self.max_connections), vec![])];

        let mut metrics = vec![
            build::sum(
                "db.client.connection.count",
                "Connections to the database, by state (idle, or used by a session)",
                "{connection}",
                false,
                pool_count,
            ),
            build::sum(
                "db.client.connection.max",
                "Most connections the database accepts: its own limit, or max_connections",
                "{connection}",
                false,
                pool_max,
            ),
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
            build::sum(
                "postgresql.backends",
                "Client backends connected to the database",
                "1",
                false,
                backends,
            ),
            build::gauge(
                "postgresql.backends.waiting",
                "Client backends waiting on a lock",
                "{connection}",
                waiting,
            ),
            build::gauge(
                "postgresql.transaction.longest_age",
                "Age of the oldest open transaction",
                "s",
                transaction_age,
            ),
            build::gauge(
                "postgresql.query.longest_age",
                "Age of the longest running query",
                "s",
                query_age,
            ),
            build::sum(
                "postgresql.commits",
                "Transactions committed",
                "1",
                true,
                commits,
            ),
            build::sum(
                "postgresql.rollbacks",
                "Transactions rolled back",
                "1",
                true,
                rollbacks,
            ),
            build::sum(
                "postgresql.deadlocks",
                "Deadlocks detected",
                "{deadlock}",
                true,
                deadlocks,
            ),
            build::sum(
                "postgresql.db_size",
                "Database disk usage",
                "By",
                false,
                sizes,
            ),
        ];
        build::drop_empty(&mut metrics);
        metrics
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
