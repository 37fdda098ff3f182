//! Function calls: range functions over a selector's samples, and instant functions.

use promql_parser::parser::{self as ast, Call};

use super::eval::{absent_labels, ensure_unique, Ctx, RangeSeries, Val};
use super::histogram::histogram_quantile;
use super::labels::Labels;
use super::{EvalError, Sample};

/// Evaluates one call of a supported function.
pub(crate) fn call(ctx: &Ctx<'_>, call: &Call) -> Result<Val, EvalError> {
    let args: Vec<&ast::Expr> = call.args.args.iter().map(|a| a.as_ref()).collect();
    let name = call.func.name;
    match name {
        "time" => Ok(Val::Scalar(ctx.at_ms as f64 / 1000.0)),
        "vector" => Ok(Val::Vector(vec![Sample {
            labels: Labels::new(),
            value: ctx.scalar(args[0])?,
        }])),
        "scalar" => {
            let v = ctx.vector(args[0])?;
            Ok(Val::Scalar(if v.len() == 1 {
                v[0].value
            } else {
                f64::NAN
            }))
        }
        "abs" => map_instant(ctx.vector(args[0])?, f64::abs),
        "round" => {
            let to_nearest = match args.get(1) {
                Some(a) => ctx.scalar(a)?,
                None => 1.0,
            };
            // As Prometheus: multiply by the inverse so that e.g. 0.1 rounds exactly.
            let inverse = 1.0 / to_nearest;
            map_instant(ctx.vector(args[0])?, |v| {
                (v * inverse + 0.5).floor() / inverse
            })
        }
        "clamp_min" => {
            let min = ctx.scalar(args[1])?;
            map_instant(ctx.vector(args[0])?, |v| go_max(v, min))
        }
        "clamp_max" => {
            let max = ctx.scalar(args[1])?;
            map_instant(ctx.vector(args[0])?, |v| go_min(v, max))
        }
        "absent" => {
            let present = !ctx.vector(args[0])?.is_empty();
            Ok(Val::Vector(absent_result(present, args[0])))
        }
        "absent_over_time" => {
            let present = !matrix(ctx, args[0])?.1.is_empty();
            Ok(Val::Vector(absent_result(present, args[0])))
        }
        "histogram_quantile" => {
            let phi = ctx.scalar(args[0])?;
            let out = histogram_quantile(phi, ctx.vector(args[1])?);
            ensure_unique(&out)?;
            Ok(Val::Vector(out))
        }
        _ => range_function(ctx, name, &args),
    }
}

/// Applies `f` to every element, dropping the metric name.
fn map_instant(v: Vec<Sample>, f: impl Fn(f64) -> f64) -> Result<Val, EvalError> {
    let out: Vec<Sample> = v
        .into_iter()
        .map(|s| Sample {
            labels: s.labels.without_name(),
            value: f(s.value),
        })
        .collect();
    ensure_unique(&out)?;
    Ok(Val::Vector(out))
}

fn absent_result(present: bool, arg: &ast::Expr) -> Vec<Sample> {
    if present {
        return Vec::new();
    }
    vec![Sample {
        labels: absent_labels(arg),
        value: 1.0,
    }]
}

/// The matrix selector argument and its selection.
fn matrix<'e, 's>(
    ctx: &Ctx<'s>,
    arg: &'e ast::Expr,
) -> Result<(&'e ast::MatrixSelector, Vec<RangeSeries<'s>>), EvalError> {
    match arg {
        ast::Expr::MatrixSelector(ms) => Ok((ms, ctx.range(ms))),
        ast::Expr::Paren(p) => matrix(ctx, &p.expr),
        _ => Err(EvalError::Unsupported(
            "a range argument other than a selector".into(),
        )),
    }
}

/// Functions of one range selector: one output per series with enough samples.
fn range_function(ctx: &Ctx<'_>, name: &str, args: &[&ast::Expr]) -> Result<Val, EvalError> {
    let (matrix_arg, scalar_arg) = match name {
        "quantile_over_time" => (args[1], Some(ctx.scalar(args[0])?)),
        "predict_linear" => (args[0], Some(ctx.scalar(args[1])?)),
        _ => (args[0], None),
    };
    let (ms, series) = matrix(ctx, matrix_arg)?;
    let (start, end) = ctx.range_bounds(ms);
    let range_secs = ms.range.as_secs_f64();
    let param = scalar_arg.unwrap_or_default();
    let mut out = Vec::with_capacity(series.len());
    for s in series {
        let p = &s.points;
        let value = match name {
            "rate" => extrapolated_rate(p, start, end, range_secs, true, true),
            "increase" => extrapolated_rate(p, start, end, range_secs, true, false),
            "delta" => extrapolated_rate(p, start, end, range_secs, false, false),
            "irate" => instant_rate(p),
            "deriv" => (p.len() >= 2).then(|| linear_regression(p, p[0].0).0),
            "predict_linear" => (p.len() >= 2).then(|| {
                let (slope, intercept) = linear_regression(p, ctx.at_ms);
                slope * param + intercept
            }),
            "avg_over_time" => Some(kahan_sum(p.iter().map(|x| x.1)) / p.len() as f64),
            "sum_over_time" => Some(kahan_sum(p.iter().map(|x| x.1))),
            "count_over_time" => Some(p.len() as f64),
            "min_over_time" => {
                Some(
                    p.iter()
                        .fold(f64::NAN, |m, x| if x.1 < m || m.is_nan() { x.1 } else { m }),
                )
            }
            "max_over_time" => {
                Some(
                    p.iter()
                        .fold(f64::NAN, |m, x| if x.1 > m || m.is_nan() { x.1 } else { m }),
                )
            }
            "last_over_time" => p.last().map(|x| x.1),
            "quantile_over_time" => Some(quantile(param, p.iter().map(|x| x.1).collect())),
            "stddev_over_time" => Some(stddev(p)),
            other => return Err(EvalError::Unsupported(format!("function `{other}`"))),
        };
        if let Some(value) = value {
            // last_over_time acts like an offset: it keeps the name, as in Prometheus.
            let labels = if name == "last_over_time" {
                s.labels.clone()
            } else {
                s.labels.without_name()
            };
            out.push(Sample { labels, value });
        }
    }
    ensure_unique(&out)?;
    Ok(Val::Vector(out))
}

/// rate/increase/delta: the change over the samples (counter resets added back for
/// counters), extrapolated towards the range's ends as Prometheus does: to an end when
/// the gap to it is under 1.1 average sample spacings, otherwise by half a spacing; a
/// counter is never extrapolated below zero.
pub(crate) fn extrapolated_rate(
    points: &[(i64, f64)],
    range_start: i64,
    range_end: i64,
    range_secs: f64,
    is_counter: bool,
    is_rate: bool,
) -> Option<f64> {
    if points.len() < 2 {
        return None;
    }
    let (first, last) = (points[0], points[points.len() - 1]);
    let mut result = last.1 - first.1;
    if is_counter {
        for w in points.windows(2) {
            if w[1].1 < w[0].1 {
                result += w[0].1;
            }
        }
    }
    let mut to_start = (first.0 - range_start) as f64 / 1000.0;
    let to_end = (range_end - last.0) as f64 / 1000.0;
    let sampled = (last.0 - first.0) as f64 / 1000.0;
    let average = sampled / (points.len() - 1) as f64;
    if is_counter && result > 0.0 && first.1 >= 0.0 {
        let to_zero = sampled * (first.1 / result);
        if to_zero < to_start {
            to_start = to_zero;
        }
    }
    let threshold = average * 1.1;
    let mut interval = sampled;
    interval += if to_start < threshold {
        to_start
    } else {
        average / 2.0
    };
    interval += if to_end < threshold {
        to_end
    } else {
        average / 2.0
    };
    let mut factor = interval / sampled;
    if is_rate {
        factor /= range_secs;
    }
    Some(result * factor)
}

/// irate: the per-second change between the last two samples (a drop is a reset).
fn instant_rate(points: &[(i64, f64)]) -> Option<f64> {
    if points.len() < 2 {
        return None;
    }
    let (prev, last) = (points[points.len() - 2], points[points.len() - 1]);
    let change = if last.1 < prev.1 {
        last.1
    } else {
        last.1 - prev.1
    };
    let interval = (last.0 - prev.0) as f64 / 1000.0;
    (interval != 0.0).then(|| change / interval)
}

/// Least squares over the samples with time in seconds relative to `intercept_ms`:
/// `(slope, value at intercept_ms)`. Constant values give slope 0 exactly.
pub(crate) fn linear_regression(points: &[(i64, f64)], intercept_ms: i64) -> (f64, f64) {
    let first = points[0].1;
    if points.iter().all(|p| p.1 == first) {
        if first.is_infinite() {
            return (f64::NAN, f64::NAN);
        }
        return (0.0, first);
    }
    let n = points.len() as f64;
    let xs = || points.iter().map(|p| (p.0 - intercept_ms) as f64 / 1000.0);
    let sum_x = kahan_sum(xs());
    let sum_y = kahan_sum(points.iter().map(|p| p.1));
    let sum_xy = kahan_sum(xs().zip(points.iter()).map(|(x, p)| x * p.1));
    let sum_x2 = kahan_sum(xs().map(|x| x * x));
    let cov_xy = sum_xy - sum_x * sum_y / n;
    let var_x = sum_x2 - sum_x * sum_x / n;
    let slope = cov_xy / var_x;
    (slope, sum_y / n - slope * sum_x / n)
}

/// Population standard deviation (Welford's method, with compensated sums).
fn stddev(points: &[(i64, f64)]) -> f64 {
    let (mut count, mut mean, mut mean_c, mut aux, mut aux_c) = (0.0, 0.0, 0.0, 0.0, 0.0);
    for &(_, v) in points {
        count += 1.0;
        let delta = v - (mean + mean_c);
        (mean, mean_c) = kahan_inc(delta / count, mean, mean_c);
        (aux, aux_c) = kahan_inc(delta * (v - (mean + mean_c)), aux, aux_c);
    }
    ((aux + aux_c) / count).sqrt()
}

/// The φ-quantile of `values` with linear interpolation between closest ranks; φ
/// outside [0, 1] gives ∓Inf and NaN gives NaN, as in Prometheus.
pub(crate) fn quantile(phi: f64, mut values: Vec<f64>) -> f64 {
    if values.is_empty() || phi.is_nan() {
        return f64::NAN;
    }
    if phi < 0.0 {
        return f64::NEG_INFINITY;
    }
    if phi > 1.0 {
        return f64::INFINITY;
    }
    // NaN sorts first, as in Prometheus's value heap.
    values.sort_by(|a, b| match (a.is_nan(), b.is_nan()) {
        (true, true) => std::cmp::Ordering::Equal,
        (true, false) => std::cmp::Ordering::Less,
        (false, true) => std::cmp::Ordering::Greater,
        (false, false) => a.total_cmp(b),
    });
    let n = values.len() as f64;
    let rank = phi * (n - 1.0);
    let lower = rank.floor().max(0.0);
    let upper = (lower + 1.0).min(n - 1.0);
    let weight = rank - rank.floor();
    values[lower as usize] * (1.0 - weight) + values[upper as usize] * weight
}

/// One step of Neumaier's compensated sum: `(sum, compensation)`.
pub(crate) fn kahan_inc(inc: f64, sum: f64, c: f64) -> (f64, f64) {
    let t = sum + inc;
    let c = if t.is_infinite() {
        0.0
    } else if sum.abs() >= inc.abs() {
        c + ((sum - t) + inc)
    } else {
        c + ((inc - t) + sum)
    };
    (t, c)
}

/// The compensated sum of `values`.
pub(crate) fn kahan_sum(values: impl Iterator<Item = f64>) -> f64 {
    let (sum, c) = values.fold((0.0, 0.0), |(s, c), v| kahan_inc(v, s, c));
    sum + c
}

/// Go's `math.Max`: NaN if either is NaN.
pub(crate) fn go_max(a: f64, b: f64) -> f64 {
    if a.is_nan() || b.is_nan() {
        f64::NAN
    } else {
        a.max(b)
    }
}

/// Go's `math.Min`: NaN if either is NaN.
pub(crate) fn go_min(a: f64, b: f64) -> f64 {
    if a.is_nan() || b.is_nan() {
        f64::NAN
    } else {
        a.min(b)
    }
}
