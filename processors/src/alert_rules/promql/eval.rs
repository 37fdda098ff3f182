//! Evaluation of a checked expression at one instant.

use super::{EvalError, Expr, SeriesStore, Value};

/// Evaluates `expr` at `at_ms` (Unix milliseconds) over `store`.
pub fn evaluate(expr: &Expr, store: &SeriesStore, at_ms: i64) -> Result<Value, EvalError> {
    // UNIMPLEMENTED in this first API commit: the bodies follow.
    let _ = (expr, store, at_ms);
    unimplemented!("promql evaluation lands in the next commit")
}
