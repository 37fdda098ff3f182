//! PromQL for the `alert_rules` connector: parsing with `promql-parser` (never our own
//! parser), a bounded window of samples (`SeriesStore`) and our own evaluator with
//! Prometheus's semantics for the supported subset (see `parse::SUPPORTED_FUNCTIONS`).
//!
//! Use: `parse` the rule's expression once at config load (unsupported constructs are
//! refused there, with their position), feed the store with `append` or
//! `ingest_metrics`, and `evaluate` at each evaluation time.

mod aggregate;
mod binary;
mod eval;
mod functions;
mod histogram;
mod ingest;
mod labels;
mod locate;
mod parse;
mod store;

pub use eval::evaluate;
pub use ingest::IngestReport;
pub use labels::{Labels, METRIC_NAME};
pub use parse::{parse, Expr, Position, PromqlError};
pub use store::{
    is_stale_marker, stale_marker, AppendError, RangeBoundary, SeriesStore, StoreCounters,
    StoreLimits, STALE_NAN_BITS,
};

/// One element of an instant vector.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    /// Its labels, `__name__` included when it still has one.
    pub labels: Labels,
    /// Its value.
    pub value: f64,
}

/// The result of an evaluation. Range vectors exist only inside functions.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// An instant vector.
    Vector(Vec<Sample>),
    /// A scalar.
    Scalar(f64),
}

impl Value {
    /// The result as rules see it: a scalar becomes one sample without labels, as
    /// Prometheus's rule manager does.
    pub fn into_vector(self) -> Vec<Sample> {
        match self {
            Value::Vector(v) => v,
            Value::Scalar(value) => vec![Sample {
                labels: Labels::new(),
                value,
            }],
        }
    }
}

/// Why an evaluation failed (the messages are Prometheus's).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum EvalError {
    /// Two elements of one result would have had the same label set.
    #[error("vector cannot contain metrics with the same labelset")]
    DuplicateLabelset,
    /// One-to-one matching found several left-hand elements for one match group.
    #[error("multiple matches for labels: many-to-one matching must be explicit (group_left/group_right)")]
    ManyToOneImplicit,
    /// Many-to-one matching produced the same result labels twice.
    #[error("multiple matches for labels: grouping labels must ensure unique matches")]
    GroupingNotUnique,
    /// The "one" side of a match has several elements for one match group.
    #[error("found duplicate series for the match group {group} on the {side} hand-side of the operation: [{first}, {second}];many-to-many matching not allowed: matching labels must be unique on one side")]
    DuplicateMatch {
        /// The match group's labels.
        group: String,
        /// "left" or "right".
        side: &'static str,
        /// One of the two series.
        first: String,
        /// The other.
        second: String,
    },
    /// A parameter out of range (e.g. `topk` with a huge k).
    #[error("{0}")]
    InvalidParameter(String),
    /// A construct the checked tree should not contain.
    #[error("{0} is not supported")]
    Unsupported(String),
}

#[cfg(test)]
mod tests;
