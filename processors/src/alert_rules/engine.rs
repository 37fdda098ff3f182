//! The seam between rules and the PromQL engine (`promql/`): parse an expression, keep
//! the series window, evaluate an instant query. Rules see only these types.

use std::collections::BTreeMap;
use std::time::Duration;

use super::promql;

use sentinel_pipeline::otlp::collector::metrics::v1::ExportMetricsServiceRequest;

/// A series' labels, `__name__` included, sorted by name.
pub type Labels = BTreeMap<String, String>;

/// An expression that cannot be used, at a 1-based line and column inside it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ExprError {
    pub line: usize,
    pub col: usize,
    pub message: String,
}

/// A query that failed when evaluated.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct EvalFailure(pub String);

/// A parsed expression.
#[derive(Debug, Clone)]
pub struct Query {
    pub expr: promql::Expr,
}

impl Query {
    pub fn parse(text: &str) -> Result<Query, ExprError> {
        promql::parse(text)
            .map(|expr| Query { expr })
            .map_err(|err| {
                let at = err
                    .position()
                    .unwrap_or(promql::Position { line: 1, column: 1 });
                ExprError {
                    line: at.line,
                    col: at.column,
                    message: err.to_string(),
                }
            })
    }

    /// How far back the expression reads (ranges plus offsets).
    pub fn range_needed(&self) -> Duration {
        self.expr.range_needed()
    }
}

/// Limits of the series window.
#[derive(Debug, Clone, Copy)]
pub struct WindowLimits {
    pub lookback: Duration,
    pub max_series: usize,
    pub max_samples: usize,
    /// The longest range any loaded rule reads.
    pub range_needed: Duration,
}

/// The window of recent samples the rules query.
pub struct Window {
    store: promql::SeriesStore,
}

/// What one ingest or append hit.
#[derive(Debug, Default, Clone, Copy)]
pub struct Ingested {
    pub series_limited: u64,
    pub samples_limited: u64,
}

fn to_promql(labels: &Labels) -> promql::Labels {
    promql::Labels::from_pairs(labels.iter().map(|(k, v)| (k.as_str(), v.as_str())))
}

fn from_promql(labels: &promql::Labels) -> Labels {
    labels
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

impl Window {
    pub fn new(limits: WindowLimits) -> Window {
        let store_limits = promql::StoreLimits {
            lookback: limits.lookback,
            max_series: limits.max_series,
            max_samples: limits.max_samples,
        };
        Window {
            store: promql::SeriesStore::new(store_limits, limits.range_needed),
        }
    }

    /// Counts refusals between `before` and now.
    fn since(&self, before: promql::StoreCounters) -> Ingested {
        let after = self.store.counters();
        Ingested {
            series_limited: after.series_limit_hits - before.series_limit_hits,
            samples_limited: after.sample_limit_hits - before.sample_limit_hits,
        }
    }

    /// Adds every point of `req`, named as the `prometheus` exporter names them.
    pub fn ingest(&mut self, req: &ExportMetricsServiceRequest) -> Ingested {
        let before = self.store.counters();
        self.store.ingest_metrics(req, super::connector::now_ms());
        self.since(before)
    }

    pub fn append(&mut self, labels: &Labels, ts_ms: i64, value: f64) -> Ingested {
        let before = self.store.counters();
        // A refusal is counted by the store; the caller reads the counts.
        let _ = self.store.append(to_promql(labels), ts_ms, value);
        self.since(before)
    }

    /// Marks a series stale at `ts_ms` (promtool's `stale`).
    pub fn append_stale(&mut self, labels: &Labels, ts_ms: i64) -> Ingested {
        self.append(labels, ts_ms, promql::stale_marker())
    }

    /// Drops what no rule can read any more at `now_ms`.
    pub fn evict(&mut self, now_ms: i64) {
        self.store.evict(now_ms);
    }

    pub fn series_count(&self) -> usize {
        self.store.series_count()
    }

    /// Heap bytes the window holds (the memory figure of docs/alerting.md).
    pub fn memory_bytes(&self) -> usize {
        self.store.memory_bytes()
    }

    /// Evaluates `query` at `at_ms`: instant vector samples, or one unlabelled scalar.
    pub fn query(&self, query: &Query, at_ms: i64) -> Result<Vec<(Labels, f64)>, EvalFailure> {
        let value = promql::evaluate(&query.expr, &self.store, at_ms)
            .map_err(|err| EvalFailure(err.to_string()))?;
        Ok(value
            .into_vector()
            .into_iter()
            .map(|s| (from_promql(&s.labels), s.value))
            .collect())
    }
}
