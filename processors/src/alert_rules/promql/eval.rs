//! Evaluation of a checked expression at one instant: the walk, selectors with
//! lookback and staleness, unary minus. Functions, aggregations and binary operators
//! live in their own files.

use std::borrow::Cow;
use std::collections::HashSet;

use promql_parser::label::{MatchOp, Matcher};
use promql_parser::parser::{self as ast, Offset};

use super::labels::{Labels, METRIC_NAME};
use super::store::{is_stale_marker, RangeBoundary, SeriesStore};
use super::{aggregate, binary, functions, EvalError, Expr, Sample, Value};

/// Evaluates `expr` at `at_ms` (Unix milliseconds) over `store`.
pub fn evaluate(expr: &Expr, store: &SeriesStore, at_ms: i64) -> Result<Value, EvalError> {
    let ctx = Ctx {
        store,
        at_ms,
        lookback_ms: i64::try_from(store.limits().lookback.as_millis()).unwrap_or(i64::MAX),
        left_open: store.range_boundary() == RangeBoundary::LeftOpen,
    };
    match ctx.eval(&expr.ast)? {
        Val::Scalar(v) => Ok(Value::Scalar(v)),
        Val::Vector(v) => Ok(Value::Vector(v)),
        Val::Matrix => Err(EvalError::Unsupported("a range vector as result".into())),
    }
}

/// One series of a range selection: its samples in the range, oldest first, staleness
/// markers left out (borrowed from the store unless a marker had to be removed).
#[derive(Debug, Clone)]
pub(crate) struct RangeSeries<'a> {
    pub labels: &'a Labels,
    pub points: Cow<'a, [(i64, f64)]>,
}

/// Intermediate values. A range selection is read by the function taking it
/// (`Ctx::range`); as a value of its own it is only a marker that is refused.
#[derive(Debug)]
pub(crate) enum Val {
    Scalar(f64),
    Vector(Vec<Sample>),
    Matrix,
}

/// What every node's evaluation needs.
pub(crate) struct Ctx<'a> {
    pub store: &'a SeriesStore,
    pub at_ms: i64,
    pub lookback_ms: i64,
    /// Prometheus 3.x windows exclude their oldest instant; 2.x windows include it.
    pub left_open: bool,
}

impl<'a> Ctx<'a> {
    pub(crate) fn eval(&self, expr: &ast::Expr) -> Result<Val, EvalError> {
        match expr {
            ast::Expr::NumberLiteral(n) => Ok(Val::Scalar(n.val)),
            ast::Expr::Paren(p) => self.eval(&p.expr),
            ast::Expr::Unary(u) => match self.eval(&u.expr)? {
                Val::Scalar(v) => Ok(Val::Scalar(-v)),
                Val::Vector(v) => {
                    let out: Vec<Sample> = v
                        .into_iter()
                        .map(|s| Sample {
                            labels: s.labels.without_name(),
                            value: -s.value,
                        })
                        .collect();
                    ensure_unique(&out)?;
                    Ok(Val::Vector(out))
                }
                Val::Matrix => Err(EvalError::Unsupported("unary minus on a range".into())),
            },
            ast::Expr::VectorSelector(vs) => Ok(Val::Vector(self.instant(vs))),
            ast::Expr::MatrixSelector(_) => Ok(Val::Matrix),
            ast::Expr::Call(call) => functions::call(self, call),
            ast::Expr::Aggregate(a) => aggregate::aggregate(self, a),
            ast::Expr::Binary(b) => binary::binary(self, b),
            ast::Expr::Subquery(_) => Err(EvalError::Unsupported("subqueries".into())),
            ast::Expr::StringLiteral(_) => Err(EvalError::Unsupported("string literals".into())),
            ast::Expr::Extension(_) => Err(EvalError::Unsupported("extensions".into())),
        }
    }

    /// Evaluates an argument that the parser typed as scalar.
    pub(crate) fn scalar(&self, expr: &ast::Expr) -> Result<f64, EvalError> {
        match self.eval(expr)? {
            Val::Scalar(v) => Ok(v),
            _ => Err(EvalError::Unsupported(
                "a non-scalar where a scalar is expected".into(),
            )),
        }
    }

    /// Evaluates an argument that the parser typed as instant vector.
    pub(crate) fn vector(&self, expr: &ast::Expr) -> Result<Vec<Sample>, EvalError> {
        match self.eval(expr)? {
            Val::Vector(v) => Ok(v),
            _ => Err(EvalError::Unsupported(
                "a non-vector where a vector is expected".into(),
            )),
        }
    }

    /// An instant selector: each matching series' latest sample in
    /// `[t - offset - lookback, t - offset]` (left-open for Prometheus 3.x), unless that
    /// sample is a staleness marker.
    fn instant(&self, vs: &ast::VectorSelector) -> Vec<Sample> {
        let reference = self.at_ms - offset_ms(&vs.offset);
        let oldest = reference.saturating_sub(self.lookback_ms);
        let name = selector_name(vs);
        let mut out = Vec::new();
        for (labels, samples) in self.store.select(name, &vs.matchers.matchers) {
            let end = samples.partition_point(|&(t, _)| t <= reference);
            let Some(&(t, value)) = end.checked_sub(1).and_then(|i| samples.get(i)) else {
                continue;
            };
            if self.after_start(t, oldest) && !is_stale_marker(value) {
                out.push(Sample {
                    labels: labels.clone(),
                    value,
                });
            }
        }
        out
    }

    /// A range selector: each matching series' samples in
    /// `[t - offset - range, t - offset]` (left-open for Prometheus 3.x), staleness
    /// markers left out; series without samples there are left out.
    pub(crate) fn range(&self, ms: &ast::MatrixSelector) -> Vec<RangeSeries<'a>> {
        let (start, end) = self.range_bounds(ms);
        let name = selector_name(&ms.vs);
        let mut out = Vec::new();
        for (labels, samples) in self.store.select(name, &ms.vs.matchers.matchers) {
            let from = samples.partition_point(|&(t, _)| !self.after_start(t, start));
            let to = samples.partition_point(|&(t, _)| t <= end);
            let slice = &samples[from..to];
            let points = if slice.iter().any(|(_, v)| is_stale_marker(*v)) {
                Cow::Owned(
                    slice
                        .iter()
                        .filter(|(_, v)| !is_stale_marker(*v))
                        .copied()
                        .collect(),
                )
            } else {
                Cow::Borrowed(slice)
            };
            if !points.is_empty() {
                out.push(RangeSeries { labels, points });
            }
        }
        out
    }

    /// Whether `t` is inside a window starting at `start`.
    fn after_start(&self, t: i64, start: i64) -> bool {
        if self.left_open {
            t > start
        } else {
            t >= start
        }
    }

    /// The range's start and inclusive end, in ms.
    pub(crate) fn range_bounds(&self, ms: &ast::MatrixSelector) -> (i64, i64) {
        let end = self.at_ms - offset_ms(&ms.vs.offset);
        let range = i64::try_from(ms.range.as_millis()).unwrap_or(i64::MAX);
        (end.saturating_sub(range), end)
    }
}

/// The metric name a selector pins, from `name{...}` or an equality matcher on
/// `__name__`, so the store looks at that name's series only.
fn selector_name(vs: &ast::VectorSelector) -> Option<&str> {
    vs.name.as_deref().or_else(|| {
        vs.matchers
            .matchers
            .iter()
            .find(|m| m.name == METRIC_NAME && matches!(m.op, MatchOp::Equal))
            .map(|m| m.value.as_str())
    })
}

fn offset_ms(offset: &Option<Offset>) -> i64 {
    let ms = |d: &std::time::Duration| i64::try_from(d.as_millis()).unwrap_or(i64::MAX);
    match offset {
        Some(Offset::Pos(d)) => ms(d),
        Some(Offset::Neg(d)) => -ms(d),
        None => 0,
    }
}

/// Prometheus refuses a result with two elements of the same label set (e.g. after a
/// function dropped the names that told them apart).
pub(crate) fn ensure_unique(samples: &[Sample]) -> Result<(), EvalError> {
    if samples.len() < 2 {
        return Ok(());
    }
    let mut seen = HashSet::with_capacity(samples.len());
    for s in samples {
        if !seen.insert(&s.labels) {
            return Err(EvalError::DuplicateLabelset);
        }
    }
    Ok(())
}

/// The labels `absent`/`absent_over_time` give their sample: each label set by an
/// equality matcher, except `__name__`; a label with any other matcher, or set twice,
/// is left out (Prometheus's historic rule).
pub(crate) fn absent_labels(expr: &ast::Expr) -> Labels {
    let matchers: &[Matcher] = match expr {
        ast::Expr::VectorSelector(vs) => &vs.matchers.matchers,
        ast::Expr::MatrixSelector(ms) => &ms.vs.matchers.matchers,
        _ => return Labels::new(),
    };
    let mut out = Labels::new();
    let mut has = HashSet::new();
    for m in matchers.iter().filter(|m| m.name != METRIC_NAME) {
        if matches!(m.op, MatchOp::Equal) && !has.contains(m.name.as_str()) {
            out.set(m.name.clone(), m.value.clone());
            has.insert(m.name.as_str());
        } else {
            out.remove(&m.name);
        }
    }
    out
}
