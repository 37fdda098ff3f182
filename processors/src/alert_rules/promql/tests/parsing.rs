//! Parse errors, unsupported constructs with their position, range_needed.

use std::time::Duration;

use crate::alert_rules::promql::{parse, Position, PromqlError};

fn unsupported(expr: &str) -> (String, Option<Position>) {
    match parse(expr) {
        Err(PromqlError::Unsupported { message, position }) => (message, position),
        other => panic!("{expr}: expected unsupported, got {other:?}"),
    }
}

fn at(line: usize, column: usize) -> Option<Position> {
    Some(Position { line, column })
}

#[test]
fn supported_expressions_parse() {
    for expr in [
        "sum by (job) (rate(http_requests_total{code=~\"5..\"}[5m])) > 10",
        "histogram_quantile(0.99, sum by (le) (rate(h_bucket[5m])))",
        "a / on (job) group_left (team) b",
        "x > bool 1 and y unless z or w",
        "predict_linear(node_filesystem_free_bytes[1h] offset 5m, 4 * 3600) < 0",
        "absent(up{job=\"x\"}) or absent_over_time(up[10m])",
        "topk(3, clamp_min(abs(-x), 0)) + scalar(vector(time()))",
        "round(quantile_over_time(0.9, x[5m]), 0.1) - -stddev_over_time(x[5m])",
        "quantile(0.5, last_over_time(x[1m])) / count(x) by (a) * min(x) ^ max(x) % avg(x)",
        "irate(x[1m]) + increase(x[1m]) + delta(x[1m]) + deriv(x[1m]) + bottomk(1, x)",
        "sum_over_time(x[1m]) + avg_over_time(x[1m]) + min_over_time(x[1m]) + max_over_time(x[1m]) + count_over_time(x[1m])",
    ] {
        parse(expr).unwrap_or_else(|e| panic!("{expr}: {e}"));
    }
}

#[test]
fn unsupported_functions_are_named_with_their_position() {
    assert_eq!(
        unsupported("sum(holt_winters(x[5m], 0.5, 0.5))"),
        ("function `holt_winters` is not supported".into(), at(1, 5))
    );
    assert_eq!(
        unsupported(
            "rate(x[5m])\n  > on () group_left\n  label_replace(y, \"a\", \"$1\", \"b\", \"(.*)\")"
        ),
        ("function `label_replace` is not supported".into(), at(3, 3))
    );
    assert_eq!(
        unsupported("changes(x[5m])").0,
        "function `changes` is not supported"
    );
    assert_eq!(unsupported("sort(x)").0, "function `sort` is not supported");
}

#[test]
fn unsupported_syntax_is_named_with_its_position() {
    assert_eq!(
        unsupported("x @ 100"),
        ("`@` modifier is not supported".into(), at(1, 3))
    );
    assert_eq!(
        unsupported("max_over_time(rate(x[1m])[5m:30s])"),
        ("subqueries are not supported".into(), at(1, 29))
    );
    assert_eq!(
        unsupported("1 + stddev(x)"),
        ("aggregation `stddev` is not supported".into(), at(1, 5))
    );
    assert_eq!(
        unsupported("count_values(\"v\", x)").0,
        "aggregation `count_values` is not supported"
    );
    assert_eq!(
        unsupported("x atan2 y"),
        ("operator `atan2` is not supported".into(), at(1, 3))
    );
    assert_eq!(
        unsupported("\"text\"").0,
        "string literals are not supported"
    );
}

#[test]
fn syntax_errors_carry_the_parser_message_and_a_position_when_known() {
    let Err(PromqlError::Syntax { position, message }) = parse("sum(rate(x[5m])") else {
        panic!("expected a syntax error")
    };
    assert!(message.contains("unclosed left parenthesis"), "{message}");
    assert_eq!(position, at(1, 4));
    let Err(PromqlError::Syntax { position, .. }) = parse("x +\n y $ 3") else {
        panic!("expected a syntax error")
    };
    assert_eq!(position, at(2, 4));
    assert!(matches!(parse("rate(x)"), Err(PromqlError::Syntax { .. })));
    assert!(matches!(
        parse("sum(x) by"),
        Err(PromqlError::Syntax { .. })
    ));
}

#[test]
fn range_needed_is_the_longest_range_plus_offset() {
    let e = parse("rate(x[5m] offset 1m) + y offset 10m").unwrap();
    assert_eq!(e.range_needed(), Duration::from_secs(600));
    let e = parse("sum(rate(x[1h] offset 30m)) > bool absent_over_time(y[2h])").unwrap();
    assert_eq!(e.range_needed(), Duration::from_secs(7200));
    assert_eq!(parse("x").unwrap().range_needed(), Duration::ZERO);
    assert_eq!(parse("x").unwrap().to_string(), "x");
}
