//! `sentinel test --config`, against the real binary: every shipped config with a `tests:`
//! section passes, a wrong expectation exits 1 with a diff naming the field, a bad key in
//! `tests:` exits 2 at its file:line:col, `validate` accepts the section, and no port is
//! opened (the config's ports are held by this test while the tests run).

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use std::time::Duration;

use sentinel_tests::{sentinel_bin, wait_with_timeout, workspace_root};

fn sentinel(args: &[&str], file: &Path) -> Output {
    Command::new(sentinel_bin())
        .args(args)
        .arg(file)
        .current_dir(workspace_root())
        .output()
        .unwrap()
}

fn text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// Agent configs under config/ whose text has a top-level `tests:` section.
fn configs_with_tests() -> Vec<PathBuf> {
    let mut files = Vec::new();
    for dir in ["config", "config/examples"] {
        for entry in std::fs::read_dir(workspace_root().join(dir)).unwrap() {
            let path = entry.unwrap().path();
            let is_yaml = path.extension().is_some_and(|e| e == "yaml");
            if is_yaml
                && std::fs::read_to_string(&path)
                    .unwrap()
                    .lines()
                    .any(|l| l == "tests:")
            {
                files.push(path);
            }
        }
    }
    files.sort();
    files
}

#[test]
fn every_shipped_config_with_tests_passes_them() {
    let files = configs_with_tests();
    assert!(files.len() >= 5, "shipped configs with tests: {files:?}");
    let mut processors_tested = Vec::new();
    for file in &files {
        let output = sentinel(&["test", "--config"], file);
        let report = text(&output);
        assert_eq!(
            output.status.code(),
            Some(0),
            "{} fails its tests:\n{report}",
            file.display()
        );
        assert!(
            report.contains(" passed, 0 failed") && !report.contains("FAILED"),
            "{report}"
        );
        let validated = sentinel(&["validate", "--config"], file);
        assert!(validated.status.success(), "{}", text(&validated));
        let config = std::fs::read_to_string(file).unwrap();
        processors_tested.extend(
            [
                "attributes",
                "resource",
                "filter",
                "llm_cost",
                "pool_metrics",
                "probabilistic_sampler",
                "tail_sampling",
                "dedup",
            ]
            .into_iter()
            .filter(|p| {
                config.contains(&format!("\n  {p}")) || config.contains(&format!("\n  {p}/"))
            }),
        );
    }
    processors_tested.sort();
    processors_tested.dedup();
    assert_eq!(processors_tested.len(), 8, "{processors_tested:?}");
}

/// A small config whose ports are the given ones, with one test.
fn config(grpc: u16, http: u16, prometheus: u16, test: &str) -> String {
    format!(
        r#"receivers:
  otlp:
    protocols:
      grpc:
        endpoint: 127.0.0.1:{grpc}
      http:
        endpoint: 127.0.0.1:{http}
processors:
  attributes:
    actions:
      - {{key: http.request.method, value: GET, action: upsert}}
  batch:
    timeout: 1h
exporters:
  prometheus:
    endpoint: 127.0.0.1:{prometheus}
  debug:
service:
  pipelines:
    traces:
      receivers: [otlp]
      processors: [attributes, batch]
      exporters: [debug]
    metrics:
      receivers: [otlp]
      exporters: [prometheus]
tests:
  - name: the method is stamped
    inputs:
      - component: otlp
        request:
          resourceSpans:
            - scopeSpans:
                - spans:
                    - {{traceId: 5b8efff798038103d269b633813fc60c, spanId: eee19b7ec3c1b173, name: a}}
                    - {{traceId: 5b8efff798038103d269b633813fc60c, spanId: eee19b7ec3c1b174, name: b}}
    outputs:
{test}"#
    )
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let file = dir.join(name);
    std::fs::write(&file, text).unwrap();
    file
}

#[test]
fn runs_without_opening_a_port_and_flushes_the_batch_processor() {
    // The config's ports are held here: a receiver or exporter that tried to listen
    // would fail to bind, and `sentinel test` would exit 2.
    let held: Vec<TcpListener> = (0..3)
        .map(|_| TcpListener::bind("127.0.0.1:0").unwrap())
        .collect();
    let port = |i: usize| held[i].local_addr().unwrap().port();
    let dir = tempfile::tempdir().unwrap();
    let expectation = "      - component: debug\n        count: 2\n        items:\n          attributes: {http.request.method: GET}\n";
    let file = write(
        dir.path(),
        "ok.yaml",
        &config(port(0), port(1), port(2), expectation),
    );
    let output = sentinel(&["test", "--config"], &file);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output));
    assert!(
        text(&output).contains("test \"the method is stamped\" ... ok"),
        "{}",
        text(&output)
    );
    // `run` on the same config does listen, and fails on a held port: they are real.
    let mut run = Command::new(sentinel_bin())
        .args(["run", "--config"])
        .arg(&file)
        .stderr(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let status = wait_with_timeout(&mut run, Duration::from_secs(20));
    if status.is_none() {
        let _ = run.kill();
    }
    let mut stderr = String::new();
    let _ = std::io::Read::read_to_string(&mut run.stderr.take().unwrap(), &mut stderr);
    assert!(
        status.is_some_and(|s| !s.success()) && stderr.contains("cannot listen on 127.0.0.1:"),
        "run must fail to bind a held port: {stderr}"
    );
}

#[test]
fn a_failing_expectation_exits_1_with_the_path_and_both_values() {
    let dir = tempfile::tempdir().unwrap();
    let expectation = "      - component: debug\n        count: 3\n        items:\n          attributes: {http.request.method: POST}\n      - component: attributes\n        pipeline: traces\n        expect: none\n";
    let file = write(dir.path(), "fail.yaml", &config(0, 0, 0, expectation));
    let output = sentinel(&["test", "--config"], &file);
    let report = text(&output);
    assert_eq!(output.status.code(), Some(1), "{report}");
    assert!(
        report.contains("test \"the method is stamped\" ... FAILED"),
        "{report}"
    );
    assert!(
        report.contains(
            "output[0].resourceSpans[0].scopeSpans[0].spans[1].attributes[\"http.request.method\"]"
        ),
        "the field's path: {report}"
    );
    assert!(report.contains("expected: \"POST\""), "{report}");
    assert!(report.contains("actual:   \"GET\""), "{report}");
    assert!(
        report.contains("item count")
            && report.contains("expected: 3")
            && report.contains("actual:   2"),
        "{report}"
    );
    assert!(
        report.contains("output of processor attributes (pipeline traces)")
            && report.contains("nothing emitted (expect: none)"),
        "{report}"
    );
    assert!(report.contains("1 tests: 0 passed, 1 failed"), "{report}");
}

#[test]
fn a_bad_key_in_tests_exits_2_at_its_line_and_column() {
    let dir = tempfile::tempdir().unwrap();
    let expectation = "      - component: debug\n        cuont: 2\n";
    let file = write(dir.path(), "typo.yaml", &config(0, 0, 0, expectation));
    let output = sentinel(&["test", "--config"], &file);
    let report = text(&output);
    assert_eq!(output.status.code(), Some(2), "{report}");
    let at = format!(
        "{}:39:9: unknown key \"cuont\"; did you mean \"count\"?",
        file.display()
    );
    assert!(report.contains(&at), "{report}");
    // `validate` reads the section the same way; `run` ignores it (checked above by the
    // bind failure, which comes after the config was accepted).
    let validated = sentinel(&["validate", "--config"], &file);
    assert_eq!(validated.status.code(), Some(1));
    assert!(text(&validated).contains(&at), "{}", text(&validated));

    let unknown = write(
        dir.path(),
        "unknown.yaml",
        &config(0, 0, 0, "      - component: nowhere\n        count: 1\n"),
    );
    let output = sentinel(&["test", "--config"], &unknown);
    assert_eq!(output.status.code(), Some(2));
    assert!(
        text(&output).contains(":38:20: no component \"nowhere\" in the config"),
        "{}",
        text(&output)
    );
}
