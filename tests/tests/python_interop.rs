//! The official OpenTelemetry Python SDK (installed by the test command) sends over gRPC
//! and HTTP; everything must land in the file exporter.

use std::process::Command;
use std::time::Duration;

use sentinel_tests::{eventually, free_port, read_json_lines, workspace_root, Agent};
use serde_json::Value;

#[test]
fn python_sdk_over_grpc_and_http() {
    let dir = tempfile::tempdir().unwrap();
    let (grpc, http, admin) = (free_port(), free_port(), free_port());
    let out = dir.path().join("out.jsonl");
    let config = format!(
        "receivers:\n  otlp:\n    protocols:\n      grpc:\n        endpoint: 127.0.0.1:{grpc}\n      http:\n        endpoint: 127.0.0.1:{http}\nexporters:\n  file:\n    path: {}\nservice:\n  telemetry:\n    metrics:\n      address: 127.0.0.1:{admin}\n  pipelines:\n    traces:\n      receivers: [otlp]\n      exporters: [file]\n    metrics:\n      receivers: [otlp]\n      exporters: [file]\n    logs:\n      receivers: [otlp]\n      exporters: [file]\n",
        out.display()
    );
    let agent = Agent::start(dir.path(), "agent", &config, admin);
    let output = Command::new("python3")
        .arg(workspace_root().join("tests/python/interop.py"))
        .args([grpc.to_string(), http.to_string()])
        .output()
        .expect("python3 is installed by the test command");
    assert!(
        output.status.success(),
        "python SDK failed (is tests/python/requirements.txt installed?):\n{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    let all = || read_json_lines(&out);
    let names = |kind: &str, scope: &str, items: &str, field: &str| -> Vec<Value> {
        all()
            .iter()
            .flat_map(|l| l[kind].as_array().cloned().unwrap_or_default())
            .flat_map(|r| r[scope].as_array().cloned().unwrap_or_default())
            .flat_map(|s| s[items].as_array().cloned().unwrap_or_default())
            .map(|i| i[field].clone())
            .collect()
    };
    assert!(
        eventually(Duration::from_secs(10), || {
            names("resourceSpans", "scopeSpans", "spans", "name").len() == 2
                && !names("resourceMetrics", "scopeMetrics", "metrics", "name").is_empty()
                && !names("resourceLogs", "scopeLogs", "logRecords", "body").is_empty()
        }),
        "python data missing: {:?}\nlog:\n{}",
        all(),
        agent.log()
    );
    let mut spans = names("resourceSpans", "scopeSpans", "spans", "name");
    spans.sort_by_key(|v| v.to_string());
    assert_eq!(
        spans,
        vec![Value::from("python-grpc"), Value::from("python-http")]
    );
    assert!(names("resourceMetrics", "scopeMetrics", "metrics", "name")
        .contains(&Value::from("python.requests")));
    let bodies = names("resourceLogs", "scopeLogs", "logRecords", "body");
    assert_eq!(bodies[0]["stringValue"], "python says hello");
    assert!(agent.terminate(Duration::from_secs(15)).success());
}
