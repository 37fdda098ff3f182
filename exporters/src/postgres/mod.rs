//! `postgres` exporter: typed, daily-partitioned tables written with COPY BINARY, exactly
//! once per queue record thanks to a ledger in the same transaction (`docs/postgres.md`).
//!
//! `connections` writer tasks each own one connection. A writer takes the queue batches
//! that are waiting (up to `batch.max_rows` rows, waiting at most `batch.timeout` for more)
//! and writes them in one transaction. A maintenance task creates partitions ahead and
//! drops expired ones every `maintenance_interval`.

#[cfg(test)]
mod compliance;
mod config;
mod copy;
mod metrics;
mod rows;
mod sanitize;
pub mod schema;
mod stats;
mod tls;
mod types;
mod writer;

pub use config::{BatchConfig, PostgresConfig, SslMode};
pub use schema::MigrationReport;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use sentinel_pipeline::config::{check, decode_valid, Diagnostic, Node};
use sentinel_pipeline::{
    BuildContext, BuildError, BuiltExporter, ComponentInfo, ExportError, Exporter, ExporterFactory,
    Factory, Kind, Payload, QueueRecord, RecordBatch, Signal,
};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use copy::WriteError;
use stats::PgStats;
use tls::{Connector, ConnectorError};
use writer::{classify, export_error, Class, Conn, Records, Store};

pub struct PostgresFactory;

impl Factory for PostgresFactory {
    fn info(&self) -> ComponentInfo {
        ComponentInfo {
            type_name: "postgres",
            kind: Kind::Exporter,
            signals: &Signal::ALL,
            description:
                "Writes traces, metrics and logs to PostgreSQL (COPY BINARY, exactly once)",
        }
    }

    fn check(&self, node: &Node) -> Result<serde_json::Value, Vec<Diagnostic>> {
        check::<PostgresConfig>(node)
    }
}

impl ExporterFactory for PostgresFactory {
    fn build(&self, node: &Node, ctx: BuildContext) -> Result<BuiltExporter, BuildError> {
        let config: PostgresConfig =
            decode_valid(node).map_err(|d| BuildError::config(&ctx.id, d))?;
        let connector = Connector::new(&config).map_err(|e| BuildError::Other {
            component: ctx.id.clone(),
            message: e.to_string(),
        })?;
        let stats = PgStats::new(&ctx.id, &ctx.metrics);
        let exporter = PostgresExporter::start(&config, connector, stats, ctx.id.clone());
        Ok(BuiltExporter {
            exporter: Arc::new(exporter),
            queue: config.sending_queue.clone(),
            retry: config.retry_on_failure.clone(),
        })
    }
}

/// Why `sentinel db migrate` failed for one exporter config.
#[derive(Debug, thiserror::Error)]
pub enum MigrateError {
    #[error("{}", join(.0))]
    Config(Vec<Diagnostic>),
    #[error("{0}")]
    Connector(#[from] ConnectorError),
    #[error("cannot connect: {}", describe(.0))]
    Connect(tokio_postgres::Error),
    #[error("migration failed: {}", describe(.0))]
    Migrate(tokio_postgres::Error),
    #[error("creating partitions failed: {}", describe(.0))]
    Partitions(tokio_postgres::Error),
}

fn join(diagnostics: &[Diagnostic]) -> String {
    diagnostics
        .iter()
        .map(|d| d.to_string())
        .collect::<Vec<_>>()
        .join("; ")
}

/// Runs the migrations of one `postgres` exporter config (`sentinel db migrate`), then
/// creates the partitions.
pub async fn migrate(node: &Node) -> Result<MigrationReport, MigrateError> {
    let config: PostgresConfig = decode_valid(node).map_err(MigrateError::Config)?;
    let connector = Connector::new(&config)?;
    let mut client = connector.connect().await.map_err(MigrateError::Connect)?;
    let report = schema::migrate(&mut client, &config.schema)
        .await
        .map_err(MigrateError::Migrate)?;
    let plan = schema::PartitionPlan {
        ahead: config.partitions_ahead,
        keep_days: config.retention_days(),
    };
    schema::maintain(&client, &config.schema, plan)
        .await
        .map_err(MigrateError::Partitions)?;
    Ok(report)
}

/// The error with its causes (a TLS failure says why only in its source).
fn describe(error: &tokio_postgres::Error) -> String {
    if let Some(db) = error.as_db_error() {
        return format!("{} ({})", db.message(), db.code().code());
    }
    let mut text = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

struct Job {
    records: Records,
    rows: usize,
    reply: oneshot::Sender<Result<(), ExportError>>,
}

pub struct PostgresExporter {
    jobs: Mutex<Option<mpsc::Sender<Job>>>,
    writers: Mutex<Vec<JoinHandle<()>>>,
    maintenance: JoinHandle<()>,
    stop_maintenance: CancellationToken,
}

impl PostgresExporter {
    /// Starts the writer and maintenance tasks; they connect lazily, so a database that
    /// is down at startup only delays delivery (the queue holds the data).
    fn start(config: &PostgresConfig, connector: Connector, stats: PgStats, id: String) -> Self {
        let store = Arc::new(Store::new(config, connector, stats));
        let (send, receive) = mpsc::channel(config.connections * 4);
        let receive = Arc::new(tokio::sync::Mutex::new(receive));
        let writers = (0..config.connections)
            .map(|_| {
                let writer = Writer {
                    store: store.clone(),
                    jobs: receive.clone(),
                    batch: config.batch.clone(),
                    id: id.clone(),
                };
                tokio::spawn(writer.run())
            })
            .collect();
        let stop_maintenance = CancellationToken::new();
        let maintenance = tokio::spawn(maintain_forever(
            store,
            config.maintenance_interval,
            stop_maintenance.clone(),
            id,
        ));
        PostgresExporter {
            jobs: Mutex::new(Some(send)),
            writers: Mutex::new(writers),
            maintenance,
            stop_maintenance,
        }
    }

    async fn submit(&self, records: Records) -> Result<(), ExportError> {
        let rows = records.records.iter().map(|r| r.payload.item_count()).sum();
        let sender = self
            .jobs
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
            .ok_or_else(|| ExportError::retryable("postgres exporter is shutting down"))?;
        let (reply, answer) = oneshot::channel();
        sender
            .send(Job {
                records,
                rows,
                reply,
            })
            .await
            .map_err(|_| ExportError::retryable("postgres writers stopped"))?;
        answer
            .await
            .unwrap_or_else(|_| Err(ExportError::retryable("postgres writer stopped mid-write")))
    }
}

#[async_trait]
impl Exporter for PostgresExporter {
    /// Without queue identities there is no ledger: at-least-once.
    async fn export(&self, payload: Payload) -> Result<(), ExportError> {
        self.submit(Records {
            queue_id: None,
            records: vec![QueueRecord { seq: 0, payload }],
        })
        .await
    }

    async fn export_records(&self, batch: RecordBatch) -> Result<(), ExportError> {
        self.submit(Records {
            queue_id: Some(batch.queue_id),
            records: batch.records,
        })
        .await
    }

    async fn shutdown(&self) {
        self.jobs.lock().unwrap_or_else(|p| p.into_inner()).take();
        self.stop_maintenance.cancel();
        let writers = std::mem::take(&mut *self.writers.lock().unwrap_or_else(|p| p.into_inner()));
        for writer in writers {
            let _ = writer.await;
        }
    }
}

impl Drop for PostgresExporter {
    fn drop(&mut self) {
        self.maintenance.abort();
    }
}

struct Writer {
    store: Arc<Store>,
    jobs: Arc<tokio::sync::Mutex<mpsc::Receiver<Job>>>,
    batch: BatchConfig,
    id: String,
}

impl Writer {
    async fn run(self) {
        let mut conn: Option<Conn> = None;
        while let Some(group) = self.next_group().await {
            self.write_group(&mut conn, group).await;
        }
    }

    /// The next job plus those that join it within `batch.timeout`, up to `max_rows`.
    async fn next_group(&self) -> Option<Vec<Job>> {
        let mut jobs = self.jobs.lock().await;
        let first = jobs.recv().await?;
        let mut rows = first.rows;
        let mut group = vec![first];
        let deadline = Instant::now() + self.batch.timeout;
        while rows < self.batch.max_rows {
            let next = match jobs.try_recv() {
                Ok(job) => job,
                Err(mpsc::error::TryRecvError::Disconnected) => break,
                Err(mpsc::error::TryRecvError::Empty) => {
                    match tokio::time::timeout_at(deadline, jobs.recv()).await {
                        Ok(Some(job)) => job,
                        _ => break,
                    }
                }
            };
            rows += next.rows;
            group.push(next);
        }
        Some(group)
    }

    async fn write_group(&self, conn: &mut Option<Conn>, group: Vec<Job>) {
        let records: Vec<&Records> = group.iter().map(|j| &j.records).collect();
        let results = match self.attempt(conn, &records).await {
            Err(ExportError::Permanent { .. }) if group.len() > 1 => {
                // One bad record set must not fail its neighbours: write each alone.
                let mut each = Vec::with_capacity(group.len());
                for job in &group {
                    each.push(self.attempt(conn, &[&job.records]).await);
                }
                each
            }
            result => vec![result; group.len()],
        };
        for (job, result) in group.into_iter().zip(results) {
            let _ = job.reply.send(result);
        }
    }

    async fn attempt(
        &self,
        conn: &mut Option<Conn>,
        records: &[&Records],
    ) -> Result<(), ExportError> {
        if conn.as_ref().is_some_and(|c| c.client.is_closed()) {
            *conn = None;
        }
        if conn.is_none() {
            match self.store.open().await {
                Ok(opened) => *conn = Some(opened),
                Err(e) => {
                    if classify(&e) == Class::Schema {
                        self.store.reset_ready().await;
                    }
                    // Connecting or migrating never fails the data for good.
                    return Err(ExportError::retryable(format!(
                        "cannot open a PostgreSQL connection: {}",
                        describe(&e)
                    )));
                }
            }
        }
        let open = conn.as_mut().expect("opened above");
        match self.store.write(open, records).await {
            Ok(_) => Ok(()),
            Err(WriteError::Encode { column, message }) => Err(ExportError::permanent(format!(
                "cannot encode column {column} for COPY: {message}"
            ))),
            Err(WriteError::Pg(e)) => {
                let class = classify(&e);
                if open.client.is_closed() || class == Class::Schema {
                    *conn = None;
                }
                match class {
                    Class::NoPartition => {
                        if let Some(open) = conn.as_ref() {
                            let _ = self.store.maintain(&open.client).await;
                        }
                    }
                    Class::Schema => {
                        tracing::warn!(exporter = %self.id, error = %describe(&e), "PostgreSQL schema problem; checking the schema again before retrying.");
                        self.store.reset_ready().await;
                    }
                    _ => {}
                }
                Err(export_error(&e))
            }
        }
    }
}

/// Creates partitions ahead and drops old ones on schedule; retries sooner while failing.
async fn maintain_forever(
    store: Arc<Store>,
    interval: Duration,
    stop: CancellationToken,
    id: String,
) {
    let mut client: Option<tokio_postgres::Client> = None;
    let mut failing = false;
    loop {
        if client.as_ref().is_some_and(|c| c.is_closed()) {
            client = None;
        }
        let result = async {
            if client.is_none() {
                client = Some(store.connector.connect().await?);
            }
            let c = client.as_mut().expect("connected above");
            store.ensure_ready(c).await?;
            store.maintain(c).await
        }
        .await;
        match result {
            Ok(()) if failing => {
                tracing::info!(exporter = %id, "PostgreSQL partition maintenance works again.");
                failing = false;
            }
            Ok(()) => {}
            Err(e) => {
                if !failing {
                    tracing::warn!(exporter = %id, error = %describe(&e), "PostgreSQL partition maintenance failed; retrying.");
                }
                failing = true;
            }
        }
        let wait = if failing {
            interval.min(Duration::from_secs(10))
        } else {
            interval
        };
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = stop.cancelled() => return,
        }
    }
}
