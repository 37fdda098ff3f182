//! Shared by the postgres end-to-end tests: an agent config writing to an ephemeral
//! PostgreSQL through a disk queue, and queries through `psql`.

#![allow(dead_code)]

use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;

use sentinel_tests::services::EphemeralPostgres;
use sentinel_tests::{eventually, sentinel_bin};

/// The ephemeral server, with the names these tests use for stopping and restarting it.
pub struct Pg(EphemeralPostgres);

impl Pg {
    pub fn start() -> Pg {
        Pg(EphemeralPostgres::start())
    }

    /// Fast shutdown: clients are disconnected, the data is kept.
    pub fn stop(&mut self) {
        self.0.stop_server();
    }

    pub fn start_again(&mut self) {
        self.0.start_server();
    }
}

impl std::ops::Deref for Pg {
    type Target = EphemeralPostgres;
    fn deref(&self) -> &EphemeralPostgres {
        &self.0
    }
}

/// Ports and paths of one agent writing to PostgreSQL.
pub struct PgAgent {
    pub grpc: u16,
    pub admin: u16,
    pub queue_dir: std::path::PathBuf,
    pub dsn: String,
    /// Extra lines for the exporter section (indented four spaces).
    pub extra: String,
}

impl PgAgent {
    pub fn new(dir: &Path, pg: &EphemeralPostgres) -> PgAgent {
        PgAgent {
            grpc: sentinel_tests::free_port(),
            admin: sentinel_tests::free_port(),
            queue_dir: dir.join("queue"),
            dsn: pg.dsn("postgres"),
            extra: String::new(),
        }
    }

    pub fn config(&self) -> String {
        format!(
            r#"receivers:
  otlp:
    protocols:
      grpc:
        endpoint: 127.0.0.1:{grpc}
exporters:
  postgres:
    dsn: {dsn}
    sslmode: disable
{extra}    sending_queue:
      type: disk
      directory: {queue}
      fsync:
        interval: 10ms
    retry_on_failure:
      initial_interval: 100ms
      max_interval: 1s
service:
  shutdown_timeout: 5s
  telemetry:
    metrics:
      address: 127.0.0.1:{admin}
  pipelines:
    traces:
      receivers: [otlp]
      exporters: [postgres]
    metrics:
      receivers: [otlp]
      exporters: [postgres]
    logs:
      receivers: [otlp]
      exporters: [postgres]
"#,
            grpc = self.grpc,
            dsn = self.dsn,
            extra = self.extra,
            queue = self.queue_dir.display(),
            admin = self.admin,
        )
    }

    pub fn start(&self, dir: &Path, name: &str) -> sentinel_tests::Agent {
        sentinel_tests::Agent::start(dir, name, &self.config(), self.admin)
    }
}

/// One number from a query.
pub fn count(pg: &EphemeralPostgres, sql: &str) -> i64 {
    pg.psql("postgres", sql)
        .parse()
        .unwrap_or_else(|e| panic!("{sql:?} did not return a number: {e}"))
}

/// A query's rows as JSON objects (`json_agg` of the query).
pub fn json_rows(pg: &EphemeralPostgres, sql: &str) -> Vec<serde_json::Value> {
    let text = pg.psql(
        "postgres",
        &format!("SELECT coalesce(json_agg(q), '[]'::json) FROM ({sql}) q"),
    );
    match serde_json::from_str(&text).expect("json_agg output") {
        serde_json::Value::Array(rows) => rows,
        other => panic!("not an array: {other}"),
    }
}

/// Waits until `sql` returns at least `want`; returns the last value.
pub fn wait_for_count(pg: &EphemeralPostgres, sql: &str, want: i64, within: Duration) -> i64 {
    let mut last = 0;
    eventually(within, || {
        last = pg.psql("postgres", sql).parse().unwrap_or(0);
        last >= want
    });
    last
}

/// Runs `sentinel <args>` to the end.
pub fn sentinel(args: &[&str], envs: &[(&str, &str)]) -> Output {
    Command::new(sentinel_bin())
        .args(args)
        .envs(envs.iter().copied())
        .output()
        .expect("run sentinel")
}

/// Whether the table `sentinel.<name>` exists.
pub fn table_exists(pg: &EphemeralPostgres, name: &str) -> bool {
    pg.psql(
        "postgres",
        &format!("SELECT to_regclass('sentinel.{name}') IS NOT NULL"),
    ) == "t"
}
