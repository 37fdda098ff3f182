//! The seam between rules and the PromQL engine (`promql/`): parse an expression, keep
//! the series window, evaluate an instant query. Rules see only these types.

use std::collections::BTreeMap;

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
    pub text: String,
}

impl Query {
    pub fn parse(text: &str) -> Result<Query, ExprError> {
        if text.trim().is_empty() {
            return Err(ExprError {
                line: 1,
                col: 1,
                message: "empty expression".into(),
            });
        }
        Ok(Query {
            text: text.to_string(),
        })
    }
}

/// Limits of the series window.
#[derive(Debug, Clone, Copy)]
pub struct WindowLimits {
    pub lookback_ms: i64,
    pub max_series: usize,
    pub max_samples: usize,
}

/// The window of recent samples the rules query.
pub struct Window {
    #[allow(dead_code)]
    limits: WindowLimits,
}

/// What one ingest or append hit.
#[derive(Debug, Default, Clone, Copy)]
pub struct Ingested {
    pub series_limited: u64,
    pub samples_limited: u64,
}

impl Window {
    pub fn new(limits: WindowLimits) -> Window {
        Window { limits }
    }

    pub fn ingest(&mut self, _req: &ExportMetricsServiceRequest) -> Ingested {
        Ingested::default()
    }

    pub fn append(&mut self, _labels: &Labels, _ts_ms: i64, _value: f64) -> Ingested {
        Ingested::default()
    }

    /// Marks a series stale at `ts_ms` (promtool's `stale`).
    pub fn append_stale(&mut self, labels: &Labels, ts_ms: i64) -> Ingested {
        self.append(labels, ts_ms, f64::from_bits(0x7ff0_0000_0000_0002))
    }

    /// Evaluates `query` at `at_ms`: instant vector samples, or one unlabelled scalar.
    pub fn query(&self, _query: &Query, _at_ms: i64) -> Result<Vec<(Labels, f64)>, EvalFailure> {
        Ok(Vec::new())
    }
}
