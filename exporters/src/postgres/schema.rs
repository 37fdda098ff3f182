//! Versioned migrations and partition maintenance. Everything runs in one transaction
//! under a transaction-level advisory lock keyed by the schema name, so two agents (or two
//! `sentinel db migrate`) starting at once take turns and the second finds nothing to do.

use tokio_postgres::Client;

/// Tables partitioned by day on `ts`; all get the same daily partitions.
pub const FACT_TABLES: [&str; 5] = [
    "spans",
    "logs",
    "metric_points",
    "metric_histograms",
    "metric_other",
];

/// Migrations in order; `{s}` is the schema. Never edit a released one: add another.
const MIGRATIONS: &[(i32, &str)] = &[(1, V1)];

const V1: &str = r#"
CREATE TABLE {s}.spans (
    ts                  timestamptz NOT NULL,
    trace_id            uuid        NOT NULL,
    span_id             bytea       NOT NULL,
    parent_span_id      bytea,
    trace_state         text,
    service_name        text        NOT NULL,
    span_name           text        NOT NULL,
    span_kind           smallint    NOT NULL,
    duration_ns         bigint      NOT NULL,
    status_code         smallint    NOT NULL,
    status_message      text,
    http_route          text,
    http_status_code    integer,
    gen_ai_model        text,
    scope_name          text,
    scope_version       text,
    attributes          jsonb       NOT NULL,
    resource_attributes jsonb       NOT NULL,
    events              jsonb,
    links               jsonb
) PARTITION BY RANGE (ts);
CREATE INDEX ON {s}.spans USING brin (ts);
CREATE INDEX ON {s}.spans (service_name, span_name, ts);
CREATE INDEX ON {s}.spans (trace_id);

CREATE TABLE {s}.logs (
    ts                  timestamptz NOT NULL,
    observed_ts         timestamptz,
    service_name        text        NOT NULL,
    severity_number     smallint    NOT NULL,
    severity_text       text,
    event_name          text,
    body                text,
    trace_id            uuid,
    span_id             bytea,
    flags               integer     NOT NULL,
    scope_name          text,
    attributes          jsonb       NOT NULL,
    resource_attributes jsonb       NOT NULL
) PARTITION BY RANGE (ts);
CREATE INDEX ON {s}.logs USING brin (ts);
CREATE INDEX ON {s}.logs (service_name, ts);
CREATE INDEX ON {s}.logs (trace_id) WHERE trace_id IS NOT NULL;

-- One row per series; series_id is computed by the agent (xxh64), so points never wait
-- for a lookup.
CREATE TABLE {s}.metric_series (
    series_id           bigint      PRIMARY KEY,
    service_name        text        NOT NULL,
    metric_name         text        NOT NULL,
    description         text,
    unit                text        NOT NULL,
    kind                text        NOT NULL,
    temporality         text,
    is_monotonic        boolean,
    scope_name          text,
    attributes          jsonb       NOT NULL,
    resource_attributes jsonb       NOT NULL,
    first_seen          timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX ON {s}.metric_series (service_name, metric_name);
CREATE INDEX ON {s}.metric_series (metric_name);

CREATE TABLE {s}.metric_points (
    ts        timestamptz NOT NULL,
    series_id bigint      NOT NULL,
    start_ts  timestamptz,
    value     float8      NOT NULL,
    flags     integer     NOT NULL
) PARTITION BY RANGE (ts);
CREATE INDEX ON {s}.metric_points USING brin (ts);
CREATE INDEX ON {s}.metric_points (series_id, ts);

CREATE TABLE {s}.metric_histograms (
    ts            timestamptz NOT NULL,
    series_id     bigint      NOT NULL,
    start_ts      timestamptz,
    count         bigint      NOT NULL,
    sum           float8,
    min           float8,
    max           float8,
    bucket_bounds float8[]    NOT NULL,
    bucket_counts int8[]      NOT NULL,
    flags         integer     NOT NULL
) PARTITION BY RANGE (ts);
CREATE INDEX ON {s}.metric_histograms USING brin (ts);
CREATE INDEX ON {s}.metric_histograms (series_id, ts);

-- Exponential histograms and summaries: buckets or quantiles as jsonb.
CREATE TABLE {s}.metric_other (
    ts        timestamptz NOT NULL,
    series_id bigint      NOT NULL,
    start_ts  timestamptz,
    count     bigint      NOT NULL,
    sum       float8,
    data      jsonb       NOT NULL,
    flags     integer     NOT NULL
) PARTITION BY RANGE (ts);
CREATE INDEX ON {s}.metric_other USING brin (ts);
CREATE INDEX ON {s}.metric_other (series_id, ts);

-- One row per delivered queue record: a replayed record finds its row and is skipped.
-- Kept while retention keeps data (at least 2 days), deleted by age by maintenance: a
-- unique key over daily partitions would have to include the day, and a replay may
-- come on another day than the first delivery.
CREATE TABLE {s}.batch_ledger (
    queue_id     uuid        NOT NULL,
    seq          bigint      NOT NULL,
    committed_at timestamptz NOT NULL DEFAULT clock_timestamp(),
    PRIMARY KEY (queue_id, seq)
);
CREATE INDEX ON {s}.batch_ledger (committed_at);

CREATE FUNCTION {s}.kind_name(kind smallint) RETURNS text IMMUTABLE LANGUAGE sql AS $$
    SELECT (ARRAY['internal','server','client','producer','consumer'])[kind]
$$;
CREATE FUNCTION {s}.status_name(code smallint) RETURNS text IMMUTABLE LANGUAGE sql AS $$
    SELECT CASE code WHEN 1 THEN 'ok' WHEN 2 THEN 'error' ELSE 'unset' END
$$;

CREATE VIEW {s}.otel_spans AS
SELECT ts, trace_id, span_id, parent_span_id, service_name, span_name,
       coalesce({s}.kind_name(span_kind), 'unspecified') AS span_kind,
       duration_ns, {s}.status_name(status_code) AS status_code,
       attributes, resource_attributes
FROM {s}.spans;

CREATE VIEW {s}.otel_logs AS
SELECT ts, service_name, severity_number, severity_text, event_name, body,
       trace_id, span_id, attributes
FROM {s}.logs;

CREATE VIEW {s}.otel_metrics AS
SELECT p.ts, s.service_name, s.metric_name, s.unit, s.kind, s.attributes,
       p.value, NULL::bigint AS count, NULL::float8 AS sum,
       NULL::float8[] AS bucket_bounds, NULL::int8[] AS bucket_counts
FROM {s}.metric_points p JOIN {s}.metric_series s USING (series_id)
UNION ALL
SELECT h.ts, s.service_name, s.metric_name, s.unit, s.kind, s.attributes,
       NULL, h.count, h.sum, h.bucket_bounds, h.bucket_counts
FROM {s}.metric_histograms h JOIN {s}.metric_series s USING (series_id)
UNION ALL
SELECT o.ts, s.service_name, s.metric_name, s.unit, s.kind, s.attributes,
       NULL, o.count, o.sum, NULL, NULL
FROM {s}.metric_other o JOIN {s}.metric_series s USING (series_id);

-- Sums with a running total per series: for delta sums (Claude Code sends delta
-- counters) `total` adds up every point still kept; for cumulative sums it is the value.
CREATE VIEW {s}.otel_metric_sums AS
SELECT p.ts, s.service_name, s.metric_name, s.unit, s.temporality, s.attributes, p.value,
       CASE WHEN s.temporality = 'delta'
            THEN sum(p.value) OVER (PARTITION BY p.series_id ORDER BY p.ts
                                    ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)
            ELSE p.value END AS total
FROM {s}.metric_points p JOIN {s}.metric_series s USING (series_id)
WHERE s.kind = 'sum';

-- Creates daily partitions from `behind` days ago to `ahead` days on (UTC), drops those
-- older than `keep_days` (0 keeps all) and prunes the ledger.
CREATE FUNCTION {s}.maintain_partitions(ahead int, behind int, keep_days int)
RETURNS void LANGUAGE plpgsql SET client_min_messages = warning AS $fn$
DECLARE
    today date := (now() AT TIME ZONE 'UTC')::date;
    t text;
    d date;
    part record;
BEGIN
    PERFORM pg_advisory_xact_lock({lock});
    FOREACH t IN ARRAY ARRAY['spans','logs','metric_points','metric_histograms','metric_other'] LOOP
        FOR d IN SELECT g::date FROM generate_series(today - behind, today + ahead, interval '1 day') g LOOP
            EXECUTE format(
                'CREATE TABLE IF NOT EXISTS %I.%I PARTITION OF %I.%I FOR VALUES FROM (%L) TO (%L)',
                '{s}', t || '_p' || to_char(d, 'YYYYMMDD'), '{s}', t,
                to_char(d, 'YYYY-MM-DD') || ' 00:00:00+00',
                to_char(d + 1, 'YYYY-MM-DD') || ' 00:00:00+00');
        END LOOP;
        IF keep_days > 0 THEN
            FOR part IN
                SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
                WHERE i.inhparent = format('%I.%I', '{s}', t)::regclass
                  AND c.relname ~ '_p[0-9]{8}$'
                  AND to_date(right(c.relname, 8), 'YYYYMMDD') < today - keep_days
            LOOP
                EXECUTE format('DROP TABLE %I.%I', '{s}', part.relname);
            END LOOP;
        END IF;
    END LOOP;
    DELETE FROM {s}.batch_ledger
    WHERE committed_at < now() - make_interval(days => CASE WHEN keep_days > 0 THEN greatest(keep_days, 2) ELSE 30 END);
END
$fn$;

-- The days every fact table has a partition for: rows are clamped into this range.
CREATE FUNCTION {s}.partition_range(OUT first_day date, OUT last_day date)
LANGUAGE sql STABLE AS $$
    SELECT max(lo), min(hi) FROM (
        SELECT i.inhparent, min(to_date(right(c.relname, 8), 'YYYYMMDD')) AS lo,
               max(to_date(right(c.relname, 8), 'YYYYMMDD')) AS hi
        FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
        WHERE i.inhparent IN ('{s}.spans'::regclass, '{s}.logs'::regclass,
                              '{s}.metric_points'::regclass, '{s}.metric_histograms'::regclass,
                              '{s}.metric_other'::regclass)
          AND c.relname ~ '_p[0-9]{8}$'
        GROUP BY i.inhparent
    ) per_table
$$;
"#;

/// The advisory lock key of a schema (the same for every agent using it).
pub fn lock_key(schema: &str) -> i64 {
    xxhash_rust::xxh64::xxh64(format!("sentinel-migrate:{schema}").as_bytes(), 0) as i64
}

fn render(sql: &str, schema: &str) -> String {
    sql.replace("{s}", schema)
        .replace("{lock}", &lock_key(schema).to_string())
}

/// What a migration run did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MigrationReport {
    /// Versions applied by this run (empty when the schema was up to date).
    pub applied: Vec<i32>,
    /// The schema's version afterwards.
    pub version: i32,
}

/// Brings the schema up to date. Safe to run from several processes at once.
pub async fn migrate(
    client: &mut Client,
    schema: &str,
) -> Result<MigrationReport, tokio_postgres::Error> {
    let tx = client.transaction().await?;
    // "already exists, skipping" notices on every start are noise.
    tx.batch_execute("SET LOCAL client_min_messages = warning")
        .await?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&lock_key(schema)])
        .await?;
    tx.batch_execute(&render(
        "CREATE SCHEMA IF NOT EXISTS {s};
         CREATE TABLE IF NOT EXISTS {s}.schema_migrations (
             version    integer     PRIMARY KEY,
             applied_at timestamptz NOT NULL DEFAULT now()
         );",
        schema,
    ))
    .await?;
    let done: Vec<i32> = tx
        .query(
            &render("SELECT version FROM {s}.schema_migrations", schema),
            &[],
        )
        .await?
        .iter()
        .map(|row| row.get(0))
        .collect();
    let mut applied = Vec::new();
    for (version, sql) in MIGRATIONS {
        if done.contains(version) {
            continue;
        }
        tx.batch_execute(&render(sql, schema)).await?;
        tx.execute(
            &render(
                "INSERT INTO {s}.schema_migrations (version) VALUES ($1)",
                schema,
            ),
            &[version],
        )
        .await?;
        applied.push(*version);
    }
    tx.commit().await?;
    let version = done
        .iter()
        .chain(applied.iter())
        .copied()
        .max()
        .unwrap_or(0);
    Ok(MigrationReport { applied, version })
}

/// Partition settings for [`maintain`].
#[derive(Debug, Clone, Copy)]
pub struct PartitionPlan {
    pub ahead: u32,
    /// Retention in days; `None` keeps everything.
    pub keep_days: Option<u32>,
}

impl PartitionPlan {
    /// Days before today that get partitions: the retention window (a week without one),
    /// so that data replayed after an outage still finds its day.
    fn behind(&self) -> u32 {
        self.keep_days.unwrap_or(7).min(366)
    }
}

/// Creates partitions ahead, drops old ones, prunes the ledger.
pub async fn maintain(
    client: &Client,
    schema: &str,
    plan: PartitionPlan,
) -> Result<(), tokio_postgres::Error> {
    let ahead = plan.ahead as i32;
    let behind = plan.behind() as i32;
    let keep = plan.keep_days.unwrap_or(0) as i32;
    client
        .execute(
            &render("SELECT {s}.maintain_partitions($1, $2, $3)", schema),
            &[&ahead, &behind, &keep],
        )
        .await?;
    Ok(())
}

/// Microseconds since the Unix epoch from the first day's start to the last day's end:
/// the timestamps every fact table can take. `None` when a table has no partition.
pub async fn partition_range(
    client: &Client,
    schema: &str,
) -> Result<Option<(i64, i64)>, tokio_postgres::Error> {
    let row = client
        .query_one(
            &render(
                "SELECT (extract(epoch FROM first_day::timestamp) * 1000000)::int8,
                        (extract(epoch FROM (last_day + 1)::timestamp) * 1000000)::int8 - 1
                 FROM {s}.partition_range()",
                schema,
            ),
            &[],
        )
        .await?;
    let first: Option<i64> = row.get(0);
    let last: Option<i64> = row.get(1);
    Ok(first.zip(last).filter(|(first, last)| first < last))
}
