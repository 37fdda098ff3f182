//! The admin `/metrics` of a working agent passes `promtool check metrics` (Prometheus text
//! with HELP for every family) and still serves OpenMetrics to a scraper that asks for it.

use std::process::{Command, Stdio};
use std::time::Duration;

use sentinel_tests::{eventually, free_port, http_post_json, http_request, Agent};

#[test]
fn admin_metrics_pass_promtool_and_negotiate_openmetrics() {
    let dir = tempfile::tempdir().unwrap();
    let (http, admin) = (free_port(), free_port());
    let config = format!(
        "receivers:\n  otlp:\n    protocols:\n      http:\n        endpoint: 127.0.0.1:{http}\nprocessors:\n  memory_limiter:\n    limit_mib: 64\nexporters:\n  file:\n    path: {out}\n    sending_queue:\n      type: disk\n      directory: {queue}\nservice:\n  telemetry:\n    metrics:\n      address: 127.0.0.1:{admin}\n  pipelines:\n    traces:\n      receivers: [otlp]\n      processors: [memory_limiter]\n      exporters: [file]\n",
        out = dir.path().join("out.jsonl").display(),
        queue = dir.path().join("queue").display(),
    );
    let agent = Agent::start(dir.path(), "agent", &config, admin);
    let span = r#"{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"5b8efff798038103d269b633813fc60c","spanId":"eee19b7ec3c1b174","name":"x"}]}]}]}"#;
    assert_eq!(http_post_json(http, "/v1/traces", span).0, 200);
    assert_eq!(http_post_json(http, "/v1/traces", "{not json").0, 400);
    assert!(eventually(Duration::from_secs(10), || agent.metric_value(
        "sentinel_component_sent_items_total",
        &["component_id=\"file\""]
    ) == Some(1.0)));

    let (status, text) = http_request(admin, "GET", "/metrics", &[], b"");
    assert_eq!(status, 200);
    assert!(
        !text.contains("# EOF"),
        "plain text unless OpenMetrics is asked for"
    );
    let mut promtool = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool (Debian's prometheus package; tests/run-all.sh installs it)");
    use std::io::Write;
    promtool
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let checked = promtool.wait_with_output().unwrap();
    let problems = format!(
        "{}{}",
        String::from_utf8_lossy(&checked.stdout),
        String::from_utf8_lossy(&checked.stderr)
    );
    assert!(
        checked.status.success() && problems.trim().is_empty(),
        "promtool: {problems}\n{text}"
    );

    let accept = [(
        "Accept",
        "application/openmetrics-text;version=1.0.0,text/plain;q=0.5",
    )];
    let (status, openmetrics) = http_request(admin, "GET", "/metrics", &accept, b"");
    assert_eq!(status, 200);
    assert!(openmetrics.trim_end().ends_with("# EOF"), "{openmetrics}");
    assert!(agent.terminate(Duration::from_secs(15)).success());
}
