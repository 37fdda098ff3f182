//! Aggregations: sum, avg, min, max, count, quantile, topk, bottomk with by/without.

use std::collections::HashMap;

use promql_parser::parser::{AggregateExpr, LabelModifier};

use super::eval::{Ctx, Val};
use super::functions::{kahan_inc, quantile};
use super::labels::{Labels, METRIC_NAME};
use super::{EvalError, Sample};

/// Evaluates one aggregation.
pub(crate) fn aggregate(ctx: &Ctx<'_>, a: &AggregateExpr) -> Result<Val, EvalError> {
    let op = a.op.to_string();
    let param = match a.param.as_deref() {
        Some(p) => Some(ctx.scalar(p)?),
        None => None,
    };
    let input = ctx.vector(&a.expr)?;
    let groups = group(input, a.modifier.as_ref());
    let mut out = Vec::with_capacity(groups.len());
    for (labels, members) in groups {
        match op.as_str() {
            "topk" | "bottomk" => {
                let k = k_param(param.unwrap_or_default())?;
                out.extend(select_k(members, k, op == "topk"));
                continue;
            }
            _ => {}
        }
        let values = members.iter().map(|s| s.value);
        let value = match op.as_str() {
            "sum" => sum(values),
            "avg" => sum(values) / members.len() as f64,
            "count" => members.len() as f64,
            "min" => values.fold(f64::NAN, |m, v| if v < m || m.is_nan() { v } else { m }),
            "max" => values.fold(f64::NAN, |m, v| if v > m || m.is_nan() { v } else { m }),
            "quantile" => quantile(param.unwrap_or(f64::NAN), values.collect()),
            other => return Err(EvalError::Unsupported(format!("aggregation `{other}`"))),
        };
        out.push(Sample { labels, value });
    }
    Ok(Val::Vector(out))
}

fn sum(values: impl Iterator<Item = f64>) -> f64 {
    let (s, c) = values.fold((0.0, 0.0), |(s, c), v| kahan_inc(v, s, c));
    s + c
}

/// The input split by the grouping labels, in order of first appearance: `by` keeps the
/// listed labels, `without` drops them and the metric name, none makes one group. Keys
/// borrow the samples' strings; each group's labels are built once.
fn group(input: Vec<Sample>, modifier: Option<&LabelModifier>) -> Vec<(Labels, Vec<Sample>)> {
    let keep = |name: &str| match modifier {
        Some(LabelModifier::Include(names)) => names.labels.iter().any(|n| n == name),
        Some(LabelModifier::Exclude(names)) => {
            name != METRIC_NAME && !names.labels.iter().any(|n| n == name)
        }
        None => false,
    };
    let mut keys: Vec<Labels> = Vec::new();
    let mut assigned = Vec::with_capacity(input.len());
    {
        let mut index: HashMap<Vec<(&str, &str)>, usize> = HashMap::new();
        for s in &input {
            let key: Vec<(&str, &str)> = s.labels.iter().filter(|(k, _)| keep(k)).collect();
            let next = keys.len();
            let group = *index.entry(key).or_insert_with_key(|key| {
                keys.push(Labels::from_pairs(key.iter().copied()));
                next
            });
            assigned.push(group);
        }
    }
    let mut groups: Vec<(Labels, Vec<Sample>)> =
        keys.into_iter().map(|k| (k, Vec::new())).collect();
    for (s, g) in input.into_iter().zip(assigned) {
        groups[g].1.push(s);
    }
    groups
}

/// topk/bottomk's k: the parameter truncated to an integer; below 1 selects nothing.
fn k_param(param: f64) -> Result<usize, EvalError> {
    if param.is_nan() {
        return Err(EvalError::InvalidParameter(
            "Parameter value is NaN".to_string(),
        ));
    }
    if param >= i64::MAX as f64 || param <= i64::MIN as f64 {
        return Err(EvalError::InvalidParameter(format!(
            "Scalar value {param} overflows int64"
        )));
    }
    Ok(usize::try_from(param as i64).unwrap_or(0))
}

/// The k largest (topk) or smallest (bottomk) elements with their labels unchanged;
/// NaN is never preferred over a number.
fn select_k(mut members: Vec<Sample>, k: usize, largest: bool) -> Vec<Sample> {
    members.sort_by(|a, b| {
        let order = match (a.value.is_nan(), b.value.is_nan()) {
            (true, true) => std::cmp::Ordering::Equal,
            (true, false) => return std::cmp::Ordering::Greater,
            (false, true) => return std::cmp::Ordering::Less,
            (false, false) => a.value.total_cmp(&b.value),
        };
        if largest {
            order.reverse()
        } else {
            order
        }
    });
    members.truncate(k);
    members
}
