//! Aggregations and binary operators.

use super::{assert_close, eval_one, eval_vector, store_with, vals};
use crate::alert_rules::promql::{evaluate, parse, EvalError, SeriesStore};

fn fleet() -> SeriesStore {
    store_with(&[
        ("a{job=\"x\", i=\"1\"}", 0, 10, &vals(&[1.0])),
        ("a{job=\"x\", i=\"2\"}", 0, 10, &vals(&[3.0])),
        ("a{job=\"y\", i=\"1\"}", 0, 10, &vals(&[10.0])),
        ("lim{job=\"x\"}", 0, 10, &vals(&[2.0])),
        ("lim{job=\"y\"}", 0, 10, &vals(&[5.0])),
        ("b{job=\"x\", i=\"1\"}", 0, 10, &vals(&[4.0])),
        ("b{job=\"z\", i=\"9\"}", 0, 10, &vals(&[8.0])),
    ])
}

fn v(pairs: &[(&str, f64)]) -> Vec<(String, f64)> {
    pairs.iter().map(|(l, x)| (l.to_string(), *x)).collect()
}

fn eval_err(store: &SeriesStore, expr: &str) -> EvalError {
    evaluate(&parse(expr).unwrap(), store, 0).unwrap_err()
}

#[test]
fn aggregations_group_by_and_without() {
    let s = fleet();
    assert_eq!(
        eval_vector(&s, "sum by (job) (a)", 0.0),
        v(&[("{job=\"x\"}", 4.0), ("{job=\"y\"}", 10.0)])
    );
    assert_eq!(
        eval_vector(&s, "avg without (i) (a)", 0.0),
        v(&[("{job=\"x\"}", 2.0), ("{job=\"y\"}", 10.0)])
    );
    assert_eq!(eval_vector(&s, "sum(a)", 0.0), v(&[("{}", 14.0)]));
    assert_eq!(
        eval_vector(&s, "count(a) by (i)", 0.0),
        v(&[("{i=\"1\"}", 2.0), ("{i=\"2\"}", 1.0)])
    );
    assert_eq!(
        eval_vector(&s, "min by (job) (a)", 0.0),
        v(&[("{job=\"x\"}", 1.0), ("{job=\"y\"}", 10.0)])
    );
    assert_eq!(eval_vector(&s, "max(a)", 0.0), v(&[("{}", 10.0)]));
    // Values 1, 3, 10: rank 0.5 × 2 = 1 → 3; rank 0.75 × 2 = 1.5 → 6.5.
    assert_close(eval_one(&s, "quantile(0.5, a)", 0.0), 3.0);
    assert_close(eval_one(&s, "quantile(0.75, a)", 0.0), 6.5);
    assert!(eval_vector(&s, "sum(nothing)", 0.0).is_empty());
}

#[test]
fn topk_and_bottomk_keep_the_series_labels() {
    let s = fleet();
    assert_eq!(
        eval_vector(&s, "topk(1, a)", 0.0),
        v(&[("a{i=\"1\", job=\"y\"}", 10.0)])
    );
    assert_eq!(
        eval_vector(&s, "bottomk(1, a) by (job)", 0.0),
        v(&[
            ("a{i=\"1\", job=\"x\"}", 1.0),
            ("a{i=\"1\", job=\"y\"}", 10.0)
        ])
    );
    assert_eq!(eval_vector(&s, "topk(5, a)", 0.0).len(), 3);
    assert!(eval_vector(&s, "topk(0, a)", 0.0).is_empty());
}

#[test]
fn comparisons_filter_or_give_bool() {
    let s = fleet();
    assert_eq!(
        eval_vector(&s, "a > 2", 0.0),
        v(&[
            ("a{i=\"1\", job=\"y\"}", 10.0),
            ("a{i=\"2\", job=\"x\"}", 3.0)
        ])
    );
    // The scalar on the left: the vector's value is kept.
    assert_eq!(
        eval_vector(&s, "5 < a", 0.0),
        v(&[("a{i=\"1\", job=\"y\"}", 10.0)])
    );
    assert_eq!(
        eval_vector(&s, "a > bool 2", 0.0),
        v(&[
            ("{i=\"1\", job=\"x\"}", 0.0),
            ("{i=\"1\", job=\"y\"}", 1.0),
            ("{i=\"2\", job=\"x\"}", 1.0)
        ])
    );
    assert_close(eval_one(&s, "2 > bool 1", 0.0), 1.0);
    assert_close(eval_one(&s, "-(2 ^ 3) % 5", 0.0), -3.0);
}

#[test]
fn arithmetic_drops_the_name() {
    let s = fleet();
    assert_eq!(
        eval_vector(&s, "lim * 2", 0.0),
        v(&[("{job=\"x\"}", 4.0), ("{job=\"y\"}", 10.0)])
    );
    assert_eq!(
        eval_vector(&s, "1 - lim", 0.0),
        v(&[("{job=\"x\"}", -1.0), ("{job=\"y\"}", -4.0)])
    );
}

#[test]
fn one_to_one_matching() {
    let s = fleet();
    // Only {job="x", i="1"} is on both sides.
    assert_eq!(
        eval_vector(&s, "a + b", 0.0),
        v(&[("{i=\"1\", job=\"x\"}", 5.0)])
    );
    assert_eq!(
        eval_vector(&s, "a < b", 0.0),
        v(&[("a{i=\"1\", job=\"x\"}", 1.0)])
    );
    // on (job): one-to-one keeps only the `on` labels.
    assert_eq!(
        eval_vector(&s, "sum by (job) (a) / on (job) lim", 0.0),
        v(&[("{job=\"x\"}", 2.0), ("{job=\"y\"}", 2.0)])
    );
    assert_eq!(
        eval_vector(&s, "a{i=\"1\"} / ignoring (i) lim", 0.0),
        v(&[("{job=\"x\"}", 0.5), ("{job=\"y\"}", 2.0)])
    );
}

#[test]
fn many_to_one_needs_group_left() {
    let s = fleet();
    assert_eq!(
        eval_err(&s, "a / on (job) lim").to_string(),
        "multiple matches for labels: many-to-one matching must be explicit (group_left/group_right)"
    );
    assert_eq!(
        eval_vector(&s, "a / on (job) group_left lim", 0.0),
        v(&[
            ("{i=\"1\", job=\"x\"}", 0.5),
            ("{i=\"1\", job=\"y\"}", 2.0),
            ("{i=\"2\", job=\"x\"}", 1.5)
        ])
    );
    // group_right: the "many" side is on the right; values stay left op right.
    assert_eq!(
        eval_vector(&s, "lim - on (job) group_right a", 0.0),
        v(&[
            ("{i=\"1\", job=\"x\"}", 1.0),
            ("{i=\"1\", job=\"y\"}", -5.0),
            ("{i=\"2\", job=\"x\"}", -1.0)
        ])
    );
    // Labels named in group_left are copied from the "one" side.
    let s2 = store_with(&[
        ("req{job=\"x\", pod=\"p1\"}", 0, 10, &vals(&[6.0])),
        ("info{job=\"x\", team=\"t\"}", 0, 10, &vals(&[1.0])),
    ]);
    assert_eq!(
        eval_vector(&s2, "req * on (job) group_left (team) info", 0.0),
        v(&[("{job=\"x\", pod=\"p1\", team=\"t\"}", 6.0)])
    );
}

#[test]
fn duplicates_on_the_one_side_are_an_error() {
    let s = fleet();
    let err = eval_err(&s, "lim / on (job) a");
    assert!(
        matches!(err, EvalError::DuplicateMatch { side: "right", .. }),
        "{err}"
    );
    let err = eval_err(&s, "a - on (job) group_right lim");
    assert!(
        matches!(err, EvalError::DuplicateMatch { side: "left", .. }),
        "{err}"
    );
}

#[test]
fn set_operators() {
    let s = fleet();
    assert_eq!(
        eval_vector(&s, "a and b", 0.0),
        v(&[("a{i=\"1\", job=\"x\"}", 1.0)])
    );
    assert_eq!(
        eval_vector(&s, "a unless b", 0.0),
        v(&[
            ("a{i=\"1\", job=\"y\"}", 10.0),
            ("a{i=\"2\", job=\"x\"}", 3.0)
        ])
    );
    assert_eq!(
        eval_vector(&s, "b or a", 0.0),
        v(&[
            ("a{i=\"1\", job=\"y\"}", 10.0),
            ("a{i=\"2\", job=\"x\"}", 3.0),
            ("b{i=\"1\", job=\"x\"}", 4.0),
            ("b{i=\"9\", job=\"z\"}", 8.0)
        ])
    );
    assert_eq!(eval_vector(&s, "a and on (job) lim", 0.0).len(), 3);
    assert_eq!(
        eval_vector(&s, "lim unless on (job) b", 0.0),
        v(&[("lim{job=\"y\"}", 5.0)])
    );
}

#[test]
fn rules_shaped_expressions() {
    let s = fleet();
    // sum by (job) (a) > on (job) lim: x: 4 > 2 kept with value 4; y: 10 > 5 kept.
    assert_eq!(
        eval_vector(&s, "sum by (job) (a) > on (job) lim", 0.0),
        v(&[("{job=\"x\"}", 4.0), ("{job=\"y\"}", 10.0)])
    );
    assert!(eval_vector(&s, "(sum by (job) (a) / on (job) lim) > 2", 0.0).is_empty());
    assert_eq!(
        eval_vector(&s, "(sum by (job) (a) / on (job) lim) >= 2", 0.0).len(),
        2
    );
}
