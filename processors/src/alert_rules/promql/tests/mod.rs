//! Engine tests with values worked out by hand (the working is in each test).

mod functions;
mod ingest;
mod ops;
mod parsing;

use promql_parser::parser::{self as ast};

use super::{evaluate, parse, Labels, Sample, SeriesStore, StoreLimits, Value};

/// A series' labels from selector notation, e.g. `x{a="b"}`.
pub(super) fn labels(selector: &str) -> Labels {
    let Ok(ast::Expr::VectorSelector(vs)) = ast::parse(selector) else {
        panic!("not a selector: {selector}");
    };
    let mut out = Labels::new();
    if let Some(name) = vs.name {
        out = out.with(super::METRIC_NAME, name);
    }
    for m in vs.matchers.matchers {
        out = out.with(m.name, m.value);
    }
    out
}

/// A store with `series` loaded: values at `start_s + i * step_s` seconds; `None` skips
/// a step.
pub(super) fn store_with(series: &[(&str, i64, i64, &[Option<f64>])]) -> SeriesStore {
    let mut store = SeriesStore::new(StoreLimits::default(), std::time::Duration::from_secs(3600));
    for (selector, start_s, step_s, values) in series {
        for (i, v) in values.iter().enumerate() {
            if let Some(v) = v {
                let t = (start_s + i as i64 * step_s) * 1000;
                store.append(labels(selector), t, *v).expect("append");
            }
        }
    }
    store
}

/// Shorthand for a dense series.
pub(super) fn vals(v: &[f64]) -> Vec<Option<f64>> {
    v.iter().copied().map(Some).collect()
}

/// Evaluates `expr` at `at_s` seconds and returns a vector sorted by labels.
pub(super) fn eval_vector(store: &SeriesStore, expr: &str, at_s: f64) -> Vec<(String, f64)> {
    let parsed = parse(expr).unwrap_or_else(|e| panic!("{expr}: {e}"));
    match evaluate(&parsed, store, (at_s * 1000.0) as i64).unwrap_or_else(|e| panic!("{expr}: {e}"))
    {
        Value::Vector(v) => {
            let mut out: Vec<(String, f64)> = v
                .into_iter()
                .map(|Sample { labels, value }| (labels.to_string(), value))
                .collect();
            out.sort_by(|a, b| a.0.cmp(&b.0));
            out
        }
        Value::Scalar(s) => panic!("{expr}: scalar {s}, expected a vector"),
    }
}

/// Evaluates to one value (a one-element vector or a scalar).
pub(super) fn eval_one(store: &SeriesStore, expr: &str, at_s: f64) -> f64 {
    let parsed = parse(expr).unwrap_or_else(|e| panic!("{expr}: {e}"));
    match evaluate(&parsed, store, (at_s * 1000.0) as i64).unwrap_or_else(|e| panic!("{expr}: {e}"))
    {
        Value::Scalar(s) => s,
        Value::Vector(v) if v.len() == 1 => v[0].value,
        Value::Vector(v) => panic!("{expr}: {} elements, expected one: {v:?}", v.len()),
    }
}

/// Asserts two floats agree to 1e-9 relative (NaN equals NaN).
#[track_caller]
pub(super) fn assert_close(actual: f64, expected: f64) {
    let ok = (actual.is_nan() && expected.is_nan())
        || actual == expected
        || (actual - expected).abs() <= 1e-9 * expected.abs().max(1.0);
    assert!(ok, "got {actual}, expected {expected}");
}
