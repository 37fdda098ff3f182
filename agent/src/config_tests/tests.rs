//! Unit tests of `sentinel test`'s planning, harness and checks with the built-in
//! registry; the CLI is tested end to end in tests/tests/config_tests_cli.rs.

use sentinel_pipeline::config::Diagnostic;

use super::*;
use crate::components::Registry;

const PIPELINES: &str = r#"receivers:
  otlp:
processors:
  batch:
    timeout: 1h
exporters:
  debug:
connectors:
  count:
service:
  pipelines:
    traces:
      receivers: [otlp]
      processors: [batch]
      exporters: [debug, count]
    metrics:
      receivers: [count]
      exporters: [debug]
"#;

const SPANS: &str = r#"
    inputs:
      - component: otlp
        request:
          resourceSpans:
            - scopeSpans:
                - spans:
                    - {traceId: 5b8efff798038103d269b633813fc60c, spanId: eee19b7ec3c1b173, name: a}
                    - {traceId: 5b8efff798038103d269b633813fc60c, spanId: eee19b7ec3c1b174, name: b}
"#;

fn load(tests: &str) -> AgentConfig {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("c.yaml");
    std::fs::write(
        &file,
        format!("{PIPELINES}tests:\n  - name: t{SPANS}{tests}"),
    )
    .unwrap();
    let registry = Registry::builtin();
    let env = |_: &str| None;
    let (config, diagnostics) = config::load_and_validate(&[file], &env, &registry);
    config.unwrap_or_else(|| panic!("{diagnostics:?}"))
}

fn run(tests: &str) -> Vec<TestReport> {
    let config = load(tests);
    let planned = plan(&config).unwrap_or_else(|d| panic!("{d:?}"));
    run_all(&config, &Registry::builtin(), &planned).unwrap()
}

fn problems(tests: &str) -> Vec<Diagnostic> {
    diagnostics(&load(tests))
}

#[test]
fn the_batch_is_flushed_and_the_connector_output_reaches_its_pipeline() {
    let reports = run(
        "    outputs:\n      - component: debug\n        pipeline: traces\n        count: 2\n      - component: count\n        metrics: [{name: trace.span.count, value: 2}]\n      - component: debug\n        pipeline: metrics\n        metrics: [{name: trace.span.count, value: 2}]\n",
    );
    let failures: Vec<String> = reports[0]
        .failures
        .iter()
        .flat_map(|(o, f)| f.iter().map(move |f| format!("{o}: {f}")))
        .collect();
    assert!(failures.is_empty(), "{failures:#?}");
}

#[test]
fn a_wrong_expectation_fails_with_the_field() {
    let reports = run("    outputs:\n      - component: debug\n        pipeline: traces\n        items: {name: a}\n");
    let (output, failures) = &reports[0].failures[0];
    assert_eq!(output, "exporter debug (pipeline traces)");
    assert_eq!(failures.len(), 1, "only span b differs: {failures:?}");
    assert_eq!(
        failures[0].path,
        "output[0].resourceSpans[0].scopeSpans[0].spans[1].name"
    );
    assert_eq!(
        (failures[0].expected.as_str(), failures[0].actual.as_str()),
        ("\"a\"", "\"b\"")
    );
}

#[test]
fn references_are_checked_where_they_are_written() {
    let found = problems("    outputs:\n      - component: batch\n        count: 1\n");
    assert_eq!(found.len(), 1, "{found:?}");
    assert!(
        found[0].message.contains("names its `pipeline`"),
        "{found:?}"
    );
    assert_eq!(found[0].span.line, 30);
    let found = problems("    outputs:\n      - component: otlp\n");
    assert!(
        found[0].message.contains("a receiver's output"),
        "{found:?}"
    );
    let found = problems(
        "    outputs:\n      - component: debug\n        expect: none\n        count: 0\n",
    );
    assert!(found[0].message.contains("`expect: none`"), "{found:?}");
}

#[test]
fn unknown_keys_are_reported_with_a_suggestion() {
    let found = problems("    outputs:\n      - component: debug\n        itmes: {name: a}\n");
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!((found[0].span.line, found[0].span.col), (31, 9));
    assert!(
        found[0].message.contains("did you mean \"items\""),
        "{found:?}"
    );
}
