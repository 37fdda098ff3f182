//! Range and instant functions, selectors, lookback and staleness.

use super::{assert_close, eval_one, eval_vector, labels, store_with, vals};
use crate::alert_rules::promql::{
    evaluate, parse, stale_marker, RangeBoundary, SeriesStore, StoreLimits, Value,
};

#[test]
fn rate_and_increase_extrapolate_to_the_range_end() {
    // 10, 20, 30, 40 at 30..120 s, evaluated at 150 s over [30, 150]: change 30 over a
    // sampled 90 s; the start is on a sample, the end 30 s away is under 1.1 × 30 s, so
    // the interval extends to 120 s: increase = 30 × 120 / 90 = 40, rate = 40 / 120.
    let store = store_with(&[("x", 30, 30, &vals(&[10.0, 20.0, 30.0, 40.0]))]);
    assert_close(eval_one(&store, "increase(x[2m])", 150.0), 40.0);
    assert_close(eval_one(&store, "rate(x[2m])", 150.0), 40.0 / 120.0);
}

#[test]
fn increase_adds_back_counter_resets() {
    // 10, 20, 5, 15 over exactly [30, 120]: (15 − 10) + 20 (the reset) = 25, no
    // extrapolation since both ends sit on samples.
    let store = store_with(&[("x", 30, 30, &vals(&[10.0, 20.0, 5.0, 15.0]))]);
    assert_close(eval_one(&store, "increase(x[90s])", 120.0), 25.0);
}

#[test]
fn counter_extrapolation_stops_at_zero() {
    // 1, 31, 61 at 60..120 s over [0, 120]: 60 s to the start, but the counter reaches
    // zero 60 × 1/60 = 1 s before the first sample: interval 61 s, increase 61.
    let store = store_with(&[("x", 60, 30, &vals(&[1.0, 31.0, 61.0]))]);
    assert_close(eval_one(&store, "increase(x[2m])", 120.0), 61.0);
    // From 100 the zero point is 100 s back; the gap (60 s) exceeds 1.1 × 30 s, so only
    // half a spacing is added: 60 × 75 / 60 = 75.
    let store = store_with(&[("x", 60, 30, &vals(&[100.0, 130.0, 160.0]))]);
    assert_close(eval_one(&store, "increase(x[2m])", 120.0), 75.0);
}

#[test]
fn delta_is_not_a_counter() {
    // 100, 130, 120: change 20 (the drop is no reset), half a spacing at the start.
    let store = store_with(&[("g", 60, 30, &vals(&[100.0, 130.0, 120.0]))]);
    assert_close(eval_one(&store, "delta(g[2m])", 120.0), 20.0 * 75.0 / 60.0);
}

#[test]
fn rate_needs_two_samples() {
    let store = store_with(&[("x", 60, 30, &vals(&[5.0]))]);
    assert!(eval_vector(&store, "rate(x[1m])", 60.0).is_empty());
}

#[test]
fn irate_uses_the_last_two_samples() {
    let store = store_with(&[
        ("a", 30, 30, &vals(&[10.0, 20.0, 26.0])),
        ("b", 30, 30, &vals(&[10.0, 20.0, 5.0])),
    ]);
    assert_close(eval_one(&store, "irate(a[1m])", 90.0), 6.0 / 30.0);
    // A drop is a reset: the last value is the increase.
    assert_close(eval_one(&store, "irate(b[1m])", 90.0), 5.0 / 30.0);
}

#[test]
fn deriv_and_predict_linear_fit_least_squares() {
    // 1, 3, 5 at 0, 10, 20 s: slope 0.2/s; at 20 s the line is at 5, +10 s → 7.
    let store = store_with(&[("g", 0, 10, &vals(&[1.0, 3.0, 5.0]))]);
    assert_close(eval_one(&store, "deriv(g[30s])", 20.0), 0.2);
    assert_close(eval_one(&store, "predict_linear(g[30s], 10)", 20.0), 7.0);
    // 1, 4, 4 → mean x 10, mean y 3, cov = (−10·−2 + 0 + 10·1)/… slope = 30/200 = 0.15.
    let store = store_with(&[("h", 0, 10, &vals(&[1.0, 4.0, 4.0]))]);
    assert_close(eval_one(&store, "deriv(h[30s])", 20.0), 0.15);
}

#[test]
fn over_time_functions() {
    let store = store_with(&[("g", 10, 10, &vals(&[1.0, 2.0, 3.0, 4.0]))]);
    let at = 40.0;
    assert_close(eval_one(&store, "avg_over_time(g[1m])", at), 2.5);
    assert_close(eval_one(&store, "min_over_time(g[1m])", at), 1.0);
    assert_close(eval_one(&store, "max_over_time(g[1m])", at), 4.0);
    assert_close(eval_one(&store, "sum_over_time(g[1m])", at), 10.0);
    assert_close(eval_one(&store, "count_over_time(g[1m])", at), 4.0);
    assert_close(eval_one(&store, "last_over_time(g[1m])", at), 4.0);
    // rank 0.9 × 3 = 2.7 → 3 + 0.7 × (4 − 3).
    assert_close(eval_one(&store, "quantile_over_time(0.9, g[1m])", at), 3.7);
    assert_close(eval_one(&store, "quantile_over_time(0.5, g[1m])", at), 2.5);
    assert_close(
        eval_one(&store, "quantile_over_time(2, g[1m])", at),
        f64::INFINITY,
    );
    // Population variance: (2.25 + 0.25 + 0.25 + 2.25) / 4 = 1.25.
    assert_close(
        eval_one(&store, "stddev_over_time(g[1m])", at),
        1.25f64.sqrt(),
    );
    // Only [25, 40] → 3, 4.
    assert_close(eval_one(&store, "sum_over_time(g[15s])", at), 7.0);
}

#[test]
fn functions_drop_the_name_but_last_over_time_keeps_it() {
    let store = store_with(&[("g{a=\"1\"}", 10, 10, &vals(&[1.0, 2.0]))]);
    assert_eq!(
        eval_vector(&store, "max_over_time(g[1m])", 20.0),
        vec![("{a=\"1\"}".into(), 2.0)]
    );
    assert_eq!(
        eval_vector(&store, "last_over_time(g[1m])", 20.0),
        vec![("g{a=\"1\"}".into(), 2.0)]
    );
    assert_eq!(
        eval_vector(&store, "abs(-g)", 20.0),
        vec![("{a=\"1\"}".into(), 2.0)]
    );
}

#[test]
fn dropping_names_that_told_series_apart_is_an_error() {
    let store = store_with(&[("a", 0, 10, &vals(&[1.0])), ("b", 0, 10, &vals(&[2.0]))]);
    let expr = parse("abs({__name__=~\"a|b\"})").unwrap();
    let err = evaluate(&expr, &store, 0).unwrap_err();
    assert_eq!(
        err.to_string(),
        "vector cannot contain metrics with the same labelset"
    );
}

#[test]
fn instant_functions() {
    let store = store_with(&[("g", 0, 10, &vals(&[-2.5]))]);
    assert_close(eval_one(&store, "abs(g)", 0.0), 2.5);
    // floor(x + 0.5): −2.5 rounds up to −2, as in Prometheus.
    assert_close(eval_one(&store, "round(g)", 0.0), -2.0);
    assert_close(eval_one(&store, "round(g, 2)", 0.0), -2.0);
    assert_close(eval_one(&store, "round(g * 1.234, 0.1)", 0.0), -3.1);
    assert_close(eval_one(&store, "clamp_min(g, -1)", 0.0), -1.0);
    assert_close(eval_one(&store, "clamp_max(g, -3)", 0.0), -3.0);
    assert_close(eval_one(&store, "time()", 12.5), 12.5);
    assert_close(eval_one(&store, "scalar(g)", 0.0), -2.5);
    assert!(eval_one(&store, "scalar(nothing)", 0.0).is_nan());
    assert_eq!(
        eval_vector(&store, "vector(3)", 0.0),
        vec![("{}".into(), 3.0)]
    );
}

#[test]
fn absent_takes_labels_from_equality_matchers() {
    let store = store_with(&[("up{job=\"a\"}", 0, 10, &vals(&[1.0]))]);
    assert!(eval_vector(&store, "absent(up)", 0.0).is_empty());
    assert_eq!(
        eval_vector(
            &store,
            "absent(up{job=\"b\", env=~\"p.*\", zone=\"z\"})",
            0.0
        ),
        vec![("{job=\"b\", zone=\"z\"}".into(), 1.0)]
    );
    // A label set twice is left out.
    assert_eq!(
        eval_vector(&store, "absent(nope{job=\"a\", job=\"b\"})", 0.0),
        vec![("{}".into(), 1.0)]
    );
    assert!(eval_vector(&store, "absent_over_time(up[1m])", 30.0).is_empty());
    assert_eq!(
        eval_vector(&store, "absent_over_time(up{job=\"a\"}[1m])", 120.0),
        vec![("{job=\"a\"}".into(), 1.0)]
    );
    assert_eq!(
        eval_vector(&store, "absent(sum(nope))", 0.0),
        vec![("{}".into(), 1.0)]
    );
}

#[test]
fn histogram_quantile_interpolates_inside_the_bucket() {
    let store = store_with(&[
        ("h_bucket{le=\"0.1\"}", 0, 10, &vals(&[10.0])),
        ("h_bucket{le=\"0.5\"}", 0, 10, &vals(&[30.0])),
        ("h_bucket{le=\"1\"}", 0, 10, &vals(&[40.0])),
        ("h_bucket{le=\"+Inf\"}", 0, 10, &vals(&[50.0])),
        ("n_bucket{le=\"1\"}", 0, 10, &vals(&[5.0])),
    ]);
    // Rank 25 falls in (0.1, 0.5] holding 20: 0.1 + 0.4 × 15/20.
    assert_close(
        eval_one(&store, "histogram_quantile(0.5, h_bucket)", 0.0),
        0.4,
    );
    // Rank 2.5 in the first bucket, which starts at 0.
    assert_close(
        eval_one(&store, "histogram_quantile(0.05, h_bucket)", 0.0),
        0.025,
    );
    // Rank 45 is in +Inf: the highest finite bound.
    assert_close(
        eval_one(&store, "histogram_quantile(0.9, h_bucket)", 0.0),
        1.0,
    );
    // No +Inf bucket: NaN.
    assert!(eval_one(&store, "histogram_quantile(0.5, n_bucket)", 0.0).is_nan());
    assert_eq!(
        eval_vector(&store, "histogram_quantile(0.5, h_bucket)", 0.0)[0].0,
        "{}"
    );
}

#[test]
fn instant_selectors_look_back_five_minutes() {
    let store = store_with(&[("g", 0, 10, &vals(&[7.0]))]);
    assert_close(eval_one(&store, "g", 300.0), 7.0);
    assert!(eval_vector(&store, "g", 300.001).is_empty());
    assert_close(eval_one(&store, "g offset 1m", 360.0), 7.0);
    assert!(eval_vector(&store, "g", -1.0).is_empty());
}

#[test]
fn prometheus_3_windows_leave_out_their_oldest_instant() {
    let mut store = store_with(&[("x", 30, 30, &vals(&[10.0, 20.0, 30.0, 40.0]))]);
    store.set_range_boundary(RangeBoundary::LeftOpen);
    // (30, 150]: 20, 30, 40; change 20 over 60 s; 30 s to each end is under 1.1 × 30:
    // interval 120 s, increase 40 as well.
    assert_close(eval_one(&store, "count_over_time(x[2m])", 150.0), 3.0);
    assert_close(eval_one(&store, "increase(x[2m])", 150.0), 40.0);
    assert!(eval_vector(&store, "x", 420.0).is_empty());
}

#[test]
fn staleness_markers_end_a_series() {
    let mut store = SeriesStore::new(StoreLimits::default(), std::time::Duration::ZERO);
    store.append(labels("g"), 0, 1.0).unwrap();
    store.append(labels("g"), 30_000, stale_marker()).unwrap();
    let expr = parse("g").unwrap();
    let at = |ms| evaluate(&expr, &store, ms).unwrap();
    assert_eq!(
        at(20_000),
        Value::Vector(vec![crate::alert_rules::promql::Sample {
            labels: labels("g"),
            value: 1.0
        }])
    );
    assert_eq!(at(60_000), Value::Vector(vec![]));
    // Markers are not samples of a range.
    assert_close(eval_one(&store, "count_over_time(g[1m])", 60.0), 1.0);
}

#[test]
fn matchers_select_series() {
    let store = store_with(&[
        ("x{a=\"1\", b=\"p\"}", 0, 10, &vals(&[1.0])),
        ("x{a=\"2\"}", 0, 10, &vals(&[2.0])),
        ("y{a=\"1\"}", 0, 10, &vals(&[3.0])),
    ]);
    let sum = |e: &str| eval_vector(&store, e, 0.0).iter().map(|x| x.1).sum::<f64>();
    assert_eq!(sum("x{a=\"1\"}"), 1.0);
    assert_eq!(sum("x{a!=\"1\"}"), 2.0);
    assert_eq!(sum("x{a=~\"1|2\"}"), 3.0);
    assert_eq!(sum("x{a!~\"1\"}"), 2.0);
    assert_eq!(sum("x{b=\"\"}"), 2.0);
    assert_eq!(sum("{a=\"1\"}"), 4.0);
    assert_eq!(sum("{__name__=~\"x|y\", a=~\".\"}"), 6.0);
    // Regexes are anchored.
    assert_eq!(sum("x{b=~\"\"}"), 2.0);
}
