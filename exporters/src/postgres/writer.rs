//! One transaction per group of queue batches: ledger rows first, then COPY BINARY of the
//! records the ledger had not seen, then COMMIT. A replayed record finds its ledger row
//! and is skipped, so a record is stored exactly once even when the agent died between
//! COMMIT and the queue's confirmation.

use std::collections::{HashMap, HashSet};
use std::sync::{Mutex, RwLock};

use sentinel_pipeline::{ExportError, Payload, QueueRecord};
use tokio_postgres::error::SqlState;
use tokio_postgres::types::ToSql;
use tokio_postgres::{Client, Statement, Transaction};

use super::config::PostgresConfig;
use super::copy::{CopyWriter, WriteError};
use super::metrics::{
    MetricRows, HISTOGRAM_COLUMNS, HISTOGRAM_TYPES, OTHER_COLUMNS, OTHER_TYPES, POINT_COLUMNS,
    POINT_TYPES,
};
use super::rows::{write_logs, write_spans, LOG_COLUMNS, LOG_TYPES, SPAN_COLUMNS, SPAN_TYPES};
use super::schema::{self, PartitionPlan};
use super::stats::PgStats;
use super::tls::Connector;
use super::types::{Jsonb, RowContext, Uuid};

/// Most series ids remembered as stored; the set is cleared when full (then each series
/// is upserted once more, which `ON CONFLICT DO NOTHING` makes harmless).
const KNOWN_SERIES_LIMIT: usize = 200_000;

/// Records to write in one go. `queue_id: None` skips the ledger (direct `export`).
pub struct Records {
    pub queue_id: Option<u128>,
    pub records: Vec<QueueRecord>,
}

/// What a write changed, for the self-metrics.
#[derive(Debug, Default)]
pub struct Written {
    pub rows: usize,
    pub duplicates: usize,
}

/// Everything the writers and the maintenance task share.
pub struct Store {
    pub schema: String,
    pub connector: Connector,
    pub create_schema: bool,
    pub plan: PartitionPlan,
    pub max_value_bytes: usize,
    pub stats: PgStats,
    /// Migrated (if asked) and partitions made since start.
    ready: tokio::sync::Mutex<bool>,
    /// Microsecond range every fact table has partitions for.
    range: RwLock<Option<(i64, i64)>>,
    known_series: Mutex<HashSet<i64>>,
    sql: Sql,
}

struct Sql {
    ledger: String,
    series: String,
    copy_spans: String,
    copy_logs: String,
    copy_points: String,
    copy_histograms: String,
    copy_other: String,
}

impl Sql {
    fn new(s: &str) -> Sql {
        let copy = |table: &str, columns: &str| {
            format!("COPY {s}.{table} ({columns}) FROM STDIN (FORMAT binary)")
        };
        Sql {
            ledger: format!(
                "INSERT INTO {s}.batch_ledger (queue_id, seq) SELECT $1::uuid, unnest($2::int8[]) \
                 ON CONFLICT DO NOTHING RETURNING seq"
            ),
            series: format!(
                "INSERT INTO {s}.metric_series (series_id, service_name, metric_name, description, unit, kind, \
                 temporality, is_monotonic, scope_name, attributes, resource_attributes) \
                 SELECT * FROM unnest($1::int8[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], \
                 $7::text[], $8::bool[], $9::text[], $10::jsonb[], $11::jsonb[]) \
                 ON CONFLICT (series_id) DO NOTHING"
            ),
            copy_spans: copy("spans", SPAN_COLUMNS),
            copy_logs: copy("logs", LOG_COLUMNS),
            copy_points: copy("metric_points", POINT_COLUMNS),
            copy_histograms: copy("metric_histograms", HISTOGRAM_COLUMNS),
            copy_other: copy("metric_other", OTHER_COLUMNS),
        }
    }
}

/// A writer's connection with its prepared statements.
pub struct Conn {
    pub client: Client,
    ledger: Statement,
    series: Statement,
}

/// How an error should be handled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    /// Connection, server or concurrency trouble: retry later.
    Retryable,
    /// A row fell outside every partition (one was dropped meanwhile): refresh and retry.
    NoPartition,
    /// Schema objects missing or changed: migrate again, retry.
    Schema,
    /// The data itself is refused; retrying cannot help.
    Permanent,
}

pub fn classify(error: &tokio_postgres::Error) -> Class {
    let Some(code) = error.code() else {
        return Class::Retryable;
    };
    let text = code.code();
    if *code == SqlState::CHECK_VIOLATION
        && error
            .as_db_error()
            .is_some_and(|db| db.message().contains("no partition"))
    {
        return Class::NoPartition;
    }
    match &text[..2] {
        "22" | "23" | "54" => Class::Permanent,
        "42" | "3F" => Class::Schema,
        _ => Class::Retryable,
    }
}

/// The exporter's error for a failed write.
pub fn export_error(error: &tokio_postgres::Error) -> ExportError {
    let message = match error.as_db_error() {
        Some(db) => format!("PostgreSQL {}: {}", db.code().code(), db.message()),
        None => format!("PostgreSQL: {error}"),
    };
    match classify(error) {
        Class::Permanent => ExportError::permanent(message),
        _ => ExportError::retryable(message),
    }
}

impl Store {
    pub fn new(config: &PostgresConfig, connector: Connector, stats: PgStats) -> Store {
        Store {
            schema: config.schema.clone(),
            connector,
            create_schema: config.create_schema,
            plan: PartitionPlan {
                ahead: config.partitions_ahead,
                keep_days: config.retention_days(),
            },
            max_value_bytes: config.max_value_bytes,
            stats,
            ready: tokio::sync::Mutex::new(false),
            range: RwLock::new(None),
            known_series: Mutex::new(HashSet::new()),
            sql: Sql::new(&config.schema),
        }
    }

    /// Migrates (if configured) and makes partitions once per process; later calls return
    /// at once. Fails (retryably) while the database is unreachable.
    pub async fn ensure_ready(&self, client: &mut Client) -> Result<(), tokio_postgres::Error> {
        let mut ready = self.ready.lock().await;
        if *ready {
            return Ok(());
        }
        if self.create_schema {
            let report = schema::migrate(client, &self.schema).await?;
            if !report.applied.is_empty() {
                tracing::info!(schema = %self.schema, applied = ?report.applied, "PostgreSQL schema migrated.");
            }
        }
        self.maintain(client).await?;
        *ready = true;
        Ok(())
    }

    /// Forgets readiness so the next write migrates and checks partitions again.
    pub async fn reset_ready(&self) {
        *self.ready.lock().await = false;
    }

    /// Creates and drops partitions, then re-reads the range rows are clamped into.
    pub async fn maintain(&self, client: &Client) -> Result<(), tokio_postgres::Error> {
        schema::maintain(client, &self.schema, self.plan).await?;
        self.refresh_range(client).await
    }

    pub async fn refresh_range(&self, client: &Client) -> Result<(), tokio_postgres::Error> {
        let range = schema::partition_range(client, &self.schema).await?;
        *self.range.write().unwrap_or_else(|p| p.into_inner()) = range;
        Ok(())
    }

    fn range(&self) -> (i64, i64) {
        // Without partitions every row fails with "no partition", which is retried after
        // the next maintenance; the range then does not matter.
        self.range
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .unwrap_or((i64::MIN / 2, i64::MAX / 2))
    }

    /// Connects, makes the schema ready and prepares the statements.
    pub async fn open(&self) -> Result<Conn, tokio_postgres::Error> {
        let mut client = self.connector.connect().await?;
        self.ensure_ready(&mut client).await?;
        let ledger = client.prepare(&self.sql.ledger).await?;
        let series = client.prepare(&self.sql.series).await?;
        Ok(Conn {
            client,
            ledger,
            series,
        })
    }

    /// Writes a group of record sets in one transaction.
    pub async fn write(&self, conn: &mut Conn, groups: &[&Records]) -> Result<Written, WriteError> {
        let tx = conn.client.transaction().await?;
        let mut written = Written::default();
        let mut fresh: Vec<&Payload> = Vec::new();
        for records in groups {
            match records.queue_id {
                None => fresh.extend(records.records.iter().map(|r| &r.payload)),
                Some(queue_id) => {
                    let seqs: Vec<i64> = records.records.iter().map(|r| r.seq as i64).collect();
                    let new: HashSet<i64> = tx
                        .query(&conn.ledger, &[&Uuid(queue_id.to_be_bytes()), &seqs])
                        .await?
                        .iter()
                        .map(|row| row.get::<_, i64>(0))
                        .collect();
                    for record in &records.records {
                        if new.contains(&(record.seq as i64)) {
                            fresh.push(&record.payload);
                        } else {
                            written.duplicates += 1;
                        }
                    }
                }
            }
        }
        let mut ctx = RowContext::new(self.max_value_bytes, self.range());
        let mut new_series = Vec::new();
        if !fresh.is_empty() {
            written.rows += self.copy_spans(&tx, &fresh, &mut ctx).await?;
            written.rows += self.copy_logs(&tx, &fresh, &mut ctx).await?;
            let (rows, series) = self
                .copy_metrics(&tx, &conn.series, &fresh, &mut ctx)
                .await?;
            written.rows += rows;
            new_series = series;
        }
        tx.commit().await?;
        self.stats.clamped.inc_by(ctx.clamped);
        self.stats.truncated.inc_by(ctx.truncated_rows);
        self.stats.duplicates.inc_by(written.duplicates as u64);
        let mut known = self.known_series.lock().unwrap_or_else(|p| p.into_inner());
        if known.len() + new_series.len() > KNOWN_SERIES_LIMIT {
            known.clear();
        }
        known.extend(new_series);
        Ok(written)
    }

    async fn copy_spans(
        &self,
        tx: &Transaction<'_>,
        payloads: &[&Payload],
        ctx: &mut RowContext,
    ) -> Result<usize, WriteError> {
        let requests: Vec<_> = payloads
            .iter()
            .filter_map(|p| match p {
                Payload::Traces(req) => Some(req),
                _ => None,
            })
            .collect();
        if requests.is_empty() {
            return Ok(0);
        }
        let sink = tx.copy_in(&self.sql.copy_spans).await?;
        let mut writer = CopyWriter::new(sink, &SPAN_TYPES);
        let mut rows = 0;
        for request in requests {
            rows += write_spans(&mut writer, request, ctx).await?;
        }
        writer.finish().await?;
        Ok(rows)
    }

    async fn copy_logs(
        &self,
        tx: &Transaction<'_>,
        payloads: &[&Payload],
        ctx: &mut RowContext,
    ) -> Result<usize, WriteError> {
        let requests: Vec<_> = payloads
            .iter()
            .filter_map(|p| match p {
                Payload::Logs(req) => Some(req),
                _ => None,
            })
            .collect();
        if requests.is_empty() {
            return Ok(0);
        }
        let sink = tx.copy_in(&self.sql.copy_logs).await?;
        let mut writer = CopyWriter::new(sink, &LOG_TYPES);
        let mut rows = 0;
        for request in requests {
            rows += write_logs(&mut writer, request, ctx).await?;
        }
        writer.finish().await?;
        Ok(rows)
    }

    /// Upserts unseen series, then copies the points. Returns rows and the series ids to
    /// remember once the transaction commits.
    async fn copy_metrics(
        &self,
        tx: &Transaction<'_>,
        upsert: &Statement,
        payloads: &[&Payload],
        ctx: &mut RowContext,
    ) -> Result<(usize, Vec<i64>), WriteError> {
        let mut rows = MetricRows::default();
        for payload in payloads {
            if let Payload::Metrics(req) = payload {
                rows.add(req, ctx);
            }
        }
        if rows.series.is_empty() {
            return Ok((0, Vec::new()));
        }
        let unseen: HashMap<i64, super::metrics::Series> = {
            let known = self.known_series.lock().unwrap_or_else(|p| p.into_inner());
            rows.series
                .drain()
                .filter(|(id, _)| !known.contains(id))
                .collect()
        };
        if !unseen.is_empty() {
            let ids: Vec<i64> = unseen.keys().copied().collect();
            let series: Vec<_> = ids.iter().map(|id| &unseen[id]).collect();
            let services: Vec<&str> = series.iter().map(|s| s.service_name.as_str()).collect();
            let names: Vec<&str> = series.iter().map(|s| s.metric_name.as_str()).collect();
            let descriptions: Vec<Option<&str>> =
                series.iter().map(|s| s.description.as_deref()).collect();
            let units: Vec<&str> = series.iter().map(|s| s.unit.as_str()).collect();
            let kinds: Vec<&str> = series.iter().map(|s| s.kind).collect();
            let temporalities: Vec<Option<&str>> = series.iter().map(|s| s.temporality).collect();
            let monotonic: Vec<Option<bool>> = series.iter().map(|s| s.is_monotonic).collect();
            let scopes: Vec<Option<&str>> =
                series.iter().map(|s| s.scope_name.as_deref()).collect();
            let attributes: Vec<Jsonb> = series.iter().map(|s| Jsonb(&s.attributes)).collect();
            let resources: Vec<Jsonb> = series
                .iter()
                .map(|s| Jsonb(&s.resource_attributes))
                .collect();
            let params: [&(dyn ToSql + Sync); 11] = [
                &ids,
                &services,
                &names,
                &descriptions,
                &units,
                &kinds,
                &temporalities,
                &monotonic,
                &scopes,
                &attributes,
                &resources,
            ];
            tx.execute(upsert, &params).await?;
        }
        let mut count = 0;
        if !rows.points.is_empty() {
            let sink = tx.copy_in(&self.sql.copy_points).await?;
            let mut writer = CopyWriter::new(sink, &POINT_TYPES);
            for p in &rows.points {
                writer
                    .write(&[&p.ts, &p.series_id, &p.start_ts, &p.value, &p.flags])
                    .await?;
            }
            count += writer.finish().await? as usize;
        }
        if !rows.histograms.is_empty() {
            let sink = tx.copy_in(&self.sql.copy_histograms).await?;
            let mut writer = CopyWriter::new(sink, &HISTOGRAM_TYPES);
            for h in &rows.histograms {
                writer
                    .write(&[
                        &h.ts,
                        &h.series_id,
                        &h.start_ts,
                        &h.count,
                        &h.sum,
                        &h.min,
                        &h.max,
                        &h.bounds,
                        &h.counts,
                        &h.flags,
                    ])
                    .await?;
            }
            count += writer.finish().await? as usize;
        }
        if !rows.other.is_empty() {
            let sink = tx.copy_in(&self.sql.copy_other).await?;
            let mut writer = CopyWriter::new(sink, &OTHER_TYPES);
            for o in &rows.other {
                writer
                    .write(&[
                        &o.ts,
                        &o.series_id,
                        &o.start_ts,
                        &o.count,
                        &o.sum,
                        &Jsonb(&o.data),
                        &o.flags,
                    ])
                    .await?;
            }
            count += writer.finish().await? as usize;
        }
        Ok((count, unseen.into_keys().collect()))
    }
}
