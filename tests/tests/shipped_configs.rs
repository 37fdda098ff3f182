//! The shipped configs keep their promises: they follow one convention (addresses and
//! paths from `SENTINEL_*` variables with loopback and absolute defaults, no `batch`
//! processor), and `config/claude-code.yaml` run as shipped turns hook events into the
//! hook metrics and priced API requests into cost metrics on its Prometheus endpoint.

use std::path::PathBuf;
use std::time::Duration;

use sentinel_tests::{eventually, free_port, http_get, http_post_json, workspace_root, Agent};
use serde_json::{json, Value};

/// Agent configs under config/ (data files for components are not agent configs).
fn shipped_configs() -> Vec<PathBuf> {
    let mut files = Vec::new();
    for dir in ["config", "config/examples"] {
        for entry in std::fs::read_dir(workspace_root().join(dir)).unwrap() {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().to_string();
            if name.ends_with(".yaml")
                && !["llm-prices.yaml", "hook-policy.yaml"].contains(&name.as_str())
            {
                files.push(path);
            }
        }
    }
    files.sort();
    files
}

/// `key: value` lines (comments and list dashes stripped), with their 1-based line.
fn settings(text: &str) -> impl Iterator<Item = (usize, usize, &str, &str)> {
    text.lines().enumerate().filter_map(|(index, line)| {
        let indent = line.len() - line.trim_start().len();
        let line = line.trim_start().trim_start_matches("- ");
        if line.starts_with('#') {
            return None;
        }
        let (key, value) = line.split_once(':')?;
        Some((index + 1, indent, key.trim(), value.trim()))
    })
}

fn convention_problems(file: &PathBuf) -> Vec<String> {
    let text = std::fs::read_to_string(file).unwrap();
    let mut problems = Vec::new();
    for (line, indent, key, value) in settings(&text) {
        let at = format!("{}:{line}", file.display());
        if indent == 2 && (key == "batch" || key.starts_with("batch/")) {
            problems.push(format!(
                "{at}: a `batch` processor holds every client's acknowledgement"
            ));
        }
        if matches!(key, "endpoint" | "address") && !value.starts_with("${env:") {
            problems.push(format!(
                "{at}: `{key}: {value}` cannot be changed without editing the file"
            ));
        }
        let path_like = matches!(key, "path" | "directory" | "data_dir" | "spool_path");
        if path_like && !(value.starts_with("${env:") || value.starts_with('/')) {
            problems.push(format!(
                "{at}: `{key}: {value}` depends on the working directory"
            ));
        }
    }
    if bare_otlp_receiver(&text) {
        problems.push(format!(
            "{}: the otlp receiver has no `protocols`, so its ports cannot be changed",
            file.display()
        ));
    }
    if !text.contains("SENTINEL_ADMIN_ADDRESS") {
        problems.push(format!(
            "{}: does not honour SENTINEL_ADMIN_ADDRESS",
            file.display()
        ));
    }
    problems
}

/// Whether `receivers:` holds an `otlp:` with nothing under it.
fn bare_otlp_receiver(text: &str) -> bool {
    let lines: Vec<&str> = text.lines().collect();
    let Some(start) = lines.iter().position(|l| *l == "receivers:") else {
        return false;
    };
    let section = lines[start + 1..]
        .iter()
        .take_while(|l| l.is_empty() || l.starts_with([' ', '#']));
    let mut section = section.peekable();
    while let Some(line) = section.next() {
        if line.trim_end() == "  otlp:" {
            return !section.peek().is_some_and(|next| next.starts_with("    "));
        }
    }
    false
}

#[test]
fn every_shipped_config_follows_the_convention() {
    let files = shipped_configs();
    assert!(files.len() >= 10, "{files:?}");
    let problems: Vec<String> = files.iter().flat_map(convention_problems).collect();
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn the_convention_check_finds_what_it_forbids() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("bad.yaml");
    let bad = "receivers:\n  otlp:\nprocessors:\n  batch:\nexporters:\n  file:\n    path: ./out.jsonl\n  prometheus:\n    endpoint: 127.0.0.1:9464\n";
    std::fs::write(&file, bad).unwrap();
    let problems = convention_problems(&file);
    let found = |what: &str| problems.iter().any(|p| p.contains(what));
    assert!(found(":4: a `batch`"), "{problems:?}");
    assert!(found(":7: `path: ./out.jsonl`"), "{problems:?}");
    assert!(found(":9: `endpoint: 127.0.0.1:9464`"), "{problems:?}");
    assert!(
        found("SENTINEL_ADMIN_ADDRESS") && found("has no `protocols`"),
        "{problems:?}"
    );
}

fn fixture(name: &str) -> Value {
    let path = workspace_root().join(format!("tests/fixtures/hooks/{name}.json"));
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// The Prometheus sample of `name` whose labels contain every `label`.
fn sample(text: &str, name: &str, labels: &[&str]) -> Option<f64> {
    text.lines()
        .filter(|l| l.starts_with(name) && labels.iter().all(|label| l.contains(label)))
        .find_map(|l| l.rsplit(' ').next()?.parse().ok())
}

fn api_request_event() -> Value {
    let attr = |k: &str, v: Value| json!({"key": k, "value": v});
    json!({"resourceLogs": [{"resource": {"attributes": [attr("service.name", json!({"stringValue": "claude-code"}))]},
    "scopeLogs": [{"scope": {"name": "com.anthropic.claude_code"}, "logRecords": [{
        "eventName": "claude_code.api_request",
        "body": {"stringValue": "claude_code.api_request"},
        "attributes": [
            attr("event.name", json!({"stringValue": "api_request"})),
            attr("session.id", json!({"stringValue": "sess-1"})),
            attr("model", json!({"stringValue": "claude-sonnet-4-5-20250929"})),
            attr("input_tokens", json!({"intValue": "1000"})),
            attr("output_tokens", json!({"intValue": "500"})),
            attr("cache_read_tokens", json!({"intValue": "0"})),
            attr("cache_creation_tokens", json!({"intValue": "0"})),
        ]}]}]}]})
}

#[test]
fn claude_code_config_as_shipped_serves_hook_and_cost_metrics() {
    let dir = tempfile::tempdir().unwrap();
    let [hooks, grpc, http, prometheus, admin] = [0; 5].map(|_| free_port());
    let config = std::fs::read_to_string(workspace_root().join("config/claude-code.yaml")).unwrap();
    let address = |port: u16| format!("127.0.0.1:{port}");
    let envs = [
        ("SENTINEL_HOOKS_ENDPOINT", address(hooks)),
        ("SENTINEL_OTLP_GRPC_ENDPOINT", address(grpc)),
        ("SENTINEL_OTLP_HTTP_ENDPOINT", address(http)),
        ("SENTINEL_PROMETHEUS_ENDPOINT", address(prometheus)),
        ("SENTINEL_ADMIN_ADDRESS", address(admin)),
        ("XDG_STATE_HOME", dir.path().display().to_string()),
    ];
    let envs: Vec<(&str, &str)> = envs.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let agent = Agent::start_with_env(dir.path(), "claude-code", &config, admin, &envs);

    let mut denied = fixture("PreToolUse");
    denied["tool_input"]["command"] = json!("rm -rf /");
    denied["tool_use_id"] = json!("toolu_denied");
    for event in [
        fixture("SessionStart"),
        fixture("PreToolUse"),
        fixture("PostToolUse"),
        denied,
    ] {
        let (status, body) = http_post_json(hooks, "/v1/hooks", &event.to_string());
        assert_eq!(status, 200, "{body}");
    }
    assert_eq!(
        http_post_json(http, "/v1/logs", &api_request_event().to_string()).0,
        200
    );

    let scrape = || {
        http_get(prometheus, "/metrics")
            .map(|(_, body)| body)
            .unwrap_or_default()
    };
    let promised = [
        ("sentinel_hook_tool_calls_total", vec!["tool_name=\"Bash\""]),
        ("sentinel_hook_blocked_total", vec![]),
        ("sentinel_hook_sessions_total", vec![]),
        (
            "sentinel_llm_cost_total",
            vec!["claude-sonnet-4-5-20250929"],
        ),
    ];
    let all_there = eventually(Duration::from_secs(20), || {
        let text = scrape();
        promised
            .iter()
            .all(|(name, labels)| sample(&text, name, labels).is_some_and(|v| v > 0.0))
    });
    assert!(
        all_there,
        "missing promised series; /metrics:\n{}\nlog:\n{}",
        scrape(),
        agent.log()
    );
    assert!(agent.terminate(Duration::from_secs(15)).success());
}
