//! The `hooks` receiver end to end: the real agent, HTTP hook events in, the file
//! exporter's OTLP/JSON out.

use std::path::{Path, PathBuf};
use std::time::Duration;

use sentinel_tests::{eventually, free_port, read_json_lines, workspace_root, Agent};
use serde_json::{json, Value};

/// Posts `body` to the hooks receiver; returns the status and the response body.
fn post(port: u16, path: &str, method: &str, body: &[u8]) -> (u16, String) {
    sentinel_tests::http_request(
        port,
        method,
        path,
        &[("Content-Type", "application/json")],
        body,
    )
}

struct Setup {
    _dir: tempfile::TempDir,
    agent: Agent,
    port: u16,
    output: PathBuf,
}

/// An agent with `hooks` → file. `extra` is appended to the receiver's config.
fn start(extra: &str) -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let admin = free_port();
    let output = dir.path().join("out.jsonl");
    let config = format!(
        "receivers:\n  hooks:\n    endpoint: 127.0.0.1:{port}\n{extra}exporters:\n  file:\n    path: {}\nservice:\n  telemetry:\n    metrics:\n      address: 127.0.0.1:{admin}\n  pipelines:\n    logs:\n      receivers: [hooks]\n      exporters: [file]\n",
        output.display()
    );
    let agent = Agent::start(dir.path(), "agent", &config, admin);
    Setup {
        _dir: dir,
        agent,
        port,
        output,
    }
}

/// Every log record in the exporter's output.
fn records(output: &Path) -> Vec<Value> {
    let mut records = Vec::new();
    for line in read_json_lines(output) {
        for resource in line["resourceLogs"].as_array().into_iter().flatten() {
            for scope in resource["scopeLogs"].as_array().into_iter().flatten() {
                for record in scope["logRecords"].as_array().into_iter().flatten() {
                    let mut record = record.clone();
                    record["resource"] = resource["resource"].clone();
                    records.push(record);
                }
            }
        }
    }
    records
}

fn attribute<'a>(record: &'a Value, key: &str) -> Option<&'a Value> {
    record["attributes"]
        .as_array()?
        .iter()
        .find(|kv| kv["key"] == key)
        .map(|kv| &kv["value"])
}

fn string_attribute<'a>(record: &'a Value, key: &str) -> Option<&'a str> {
    attribute(record, key)?["stringValue"].as_str()
}

fn fixtures() -> Vec<(String, Value)> {
    let dir = workspace_root().join("tests/fixtures/hooks");
    let mut fixtures: Vec<(String, Value)> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|entry| {
            let path = entry.unwrap().path();
            let name = path.file_stem().unwrap().to_string_lossy().to_string();
            let event = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
            (name, event)
        })
        .collect();
    fixtures.sort_by(|a, b| a.0.cmp(&b.0));
    fixtures
}

#[test]
fn every_documented_hook_event_arrives_with_its_name_and_attributes() {
    let setup = start("    spool_path: \"\"\n");
    let fixtures = fixtures();
    assert!(fixtures.len() >= 32, "{} fixtures", fixtures.len());
    for (name, event) in &fixtures {
        let (status, body) = post(
            setup.port,
            "/v1/hooks",
            "POST",
            event.to_string().as_bytes(),
        );
        assert_eq!(status, 200, "{name}: {body}");
        assert!(
            serde_json::from_str::<Value>(&body).is_ok(),
            "{name}: {body}"
        );
    }
    // An event Claude Code adds later, and one without a name, are accepted too.
    let (status, _) = post(
        setup.port,
        "/v1/hooks",
        "POST",
        br#"{"hook_event_name":"FutureEvent","session_id":"s"}"#,
    );
    assert_eq!(status, 200);
    let (status, _) = post(setup.port, "/v1/hooks", "POST", br#"{"session_id":"s"}"#);
    assert_eq!(status, 200);

    let expected = fixtures.len() + 2;
    assert!(
        eventually(Duration::from_secs(10), || records(&setup.output).len()
            >= expected),
        "{} of {expected} records; log:\n{}",
        records(&setup.output).len(),
        setup.agent.log()
    );
    let records = records(&setup.output);
    for (name, event) in &fixtures {
        let record = records
            .iter()
            .find(|r| r["eventName"] == format!("claude_code.hook.{name}"))
            .unwrap_or_else(|| panic!("no record for {name}"));
        assert_eq!(
            string_attribute(record, "session.id"),
            Some("sess-1111"),
            "{name}"
        );
        assert_eq!(
            string_attribute(record, "prompt.id"),
            Some("prompt-2222"),
            "{name}"
        );
        assert_eq!(
            string_attribute(record, "cwd"),
            Some("/home/dev/project"),
            "{name}"
        );
        let lifted = [
            ("tool_name", "gen_ai.tool.name"),
            ("tool_use_id", "tool_use_id"),
            ("agent_id", "agent.id"),
            ("agent_type", "agent.type"),
            ("permission_mode", "permission_mode"),
        ];
        for (field, key) in lifted {
            assert_eq!(
                string_attribute(record, key),
                event[field].as_str(),
                "{name}: {key}"
            );
        }
        if let Some(duration) = event["duration_ms"].as_i64() {
            let value = &attribute(record, "duration_ms").unwrap()["intValue"];
            assert_eq!(
                value
                    .as_str()
                    .map(|s| s.parse::<i64>().unwrap())
                    .or(value.as_i64()),
                Some(duration)
            );
        }
        // The body is structured: a kvlist holding hook_event_name.
        let body = &record["body"]["kvlistValue"]["values"];
        assert!(
            body.as_array()
                .unwrap()
                .iter()
                .any(|kv| kv["key"] == "hook_event_name"
                    && kv["value"]["stringValue"] == name.as_str()),
            "{name}: {body}"
        );
        let resource = record["resource"]["attributes"].to_string();
        assert!(resource.contains("claude-code"), "{resource}");
    }
    assert!(records
        .iter()
        .any(|r| r["eventName"] == "claude_code.hook.FutureEvent"));
    assert!(records
        .iter()
        .any(|r| r["eventName"] == "claude_code.hook.unknown"));
    let pre = records
        .iter()
        .find(|r| r["eventName"] == "claude_code.hook.PreToolUse")
        .unwrap();
    assert_eq!(
        string_attribute(pre, "sentinel.policy.decision"),
        Some("allow")
    );
}

#[test]
fn planted_secrets_never_reach_the_exporter() {
    let setup = start("    spool_path: \"\"\n");
    let secrets = [
        "sk-ant-api03-PLANTEDsecretVALUE0123456789",
        "AKIAPLANTED0SECRET01",
        "ghp_PLANTEDsecretVALUE0123456789abcdef",
        "xoxb-PLANTED-secretVALUE-01",
        "PLANTEDbearerTOKEN0123",
        "PLANTEDpassw0rd",
        "PLANTED_DATABASE_URL_VALUE",
    ];
    let events = [
        json!({"hook_event_name": "PreToolUse", "session_id": "s", "tool_name": "Bash",
            "tool_use_id": "t1",
            "tool_input": {"command": format!("ANTHROPIC_API_KEY={} claude -p hi", secrets[0])}}),
        json!({"hook_event_name": "PostToolUse", "session_id": "s", "tool_name": "Bash",
            "tool_use_id": "t2",
            "tool_input": {"command": "env"},
            "tool_response": {"stdout": format!("AWS_ACCESS_KEY_ID={}\nGITHUB_TOKEN={}", secrets[1], secrets[2])}}),
        json!({"hook_event_name": "UserPromptSubmit", "session_id": "s",
            "prompt": format!("use slack token {} and header Authorization: Bearer {}", secrets[3], secrets[4])}),
        json!({"hook_event_name": "PreToolUse", "session_id": "s", "tool_name": "Bash",
            "tool_use_id": "t3",
            "tool_input": {"command": format!("mysql --password {} db", secrets[5])}}),
        json!({"hook_event_name": "PostToolUse", "session_id": "s", "tool_name": "Write",
            "tool_use_id": "t4",
            "tool_input": {"file_path": "/home/dev/project/.env", "content": format!("DATABASE_URL={}", secrets[6])},
            "tool_response": {"filePath": "/home/dev/project/.env", "success": true}}),
    ];
    for event in &events {
        let (status, body) = post(
            setup.port,
            "/v1/hooks",
            "POST",
            event.to_string().as_bytes(),
        );
        assert_eq!(status, 200, "{body}");
    }
    assert!(eventually(Duration::from_secs(10), || records(
        &setup.output
    )
    .len()
        >= events.len()));
    let output = std::fs::read_to_string(&setup.output).unwrap();
    for secret in secrets {
        assert!(
            !output.contains(secret),
            "{secret} leaked into the exporter output"
        );
    }
    assert!(output.contains("[REDACTED]"));
    // What is not secret is kept.
    assert!(output.contains("claude -p hi") && output.contains("/home/dev/project/.env"));
}

#[test]
fn bad_requests_are_refused_with_clear_errors() {
    let setup = start("    spool_path: \"\"\n    max_payload_size: 2048\n");
    let (status, body) = post(setup.port, "/v1/hooks", "POST", b"{not json");
    assert_eq!(status, 400);
    assert!(serde_json::from_str::<Value>(&body).unwrap()["error"]
        .as_str()
        .unwrap()
        .contains("malformed JSON"));
    let (status, _) = post(setup.port, "/v1/hooks", "POST", b"[1,2]");
    assert_eq!(status, 400);
    let (status, _) = post(setup.port, "/v1/hooks", "GET", b"");
    assert_eq!(status, 405);
    let (status, _) = post(setup.port, "/elsewhere", "POST", b"{}");
    assert_eq!(status, 404);
    // Over the hard limit (1 MiB here): 413, nothing read into memory.
    let huge = format!(
        r#"{{"hook_event_name":"Stop","x":"{}"}}"#,
        "a".repeat(1_100_000)
    );
    let (status, _) = post(setup.port, "/v1/hooks", "POST", huge.as_bytes());
    assert_eq!(status, 413);
    // Over the payload cap but under the hard limit: accepted, truncated and marked.
    let big = json!({"hook_event_name": "PostToolUse", "tool_name": "Read", "tool_use_id": "t",
        "tool_response": {"content": "b".repeat(100_000)}});
    let (status, _) = post(setup.port, "/v1/hooks", "POST", big.to_string().as_bytes());
    assert_eq!(status, 200);
    assert!(eventually(Duration::from_secs(10), || !records(
        &setup.output
    )
    .is_empty()));
    let records = records(&setup.output);
    assert_eq!(records.len(), 1, "only the truncated event was exported");
    assert_eq!(
        attribute(&records[0], "sentinel.truncated").unwrap()["boolValue"],
        true
    );
    assert!(records[0]["body"].to_string().len() < 4096);
    assert_eq!(
        string_attribute(&records[0], "gen_ai.tool.name"),
        Some("Read")
    );
}

#[test]
fn spool_written_while_the_agent_was_down_is_ingested_and_removed() {
    let spool_dir = tempfile::tempdir().unwrap();
    let spool = spool_dir.path().join("hook-spool.jsonl");
    let mut lines = String::new();
    for i in 0..25 {
        lines.push_str(&json!({"hook_event_name": "UserPromptSubmit", "session_id": format!("spooled-{i}"), "prompt": "hello"}).to_string());
        lines.push('\n');
    }
    lines.push_str("this line is not JSON\n");
    std::fs::write(&spool, lines).unwrap();
    let setup = start(&format!(
        "    spool_path: {}\n    spool_interval: 100ms\n",
        spool.display()
    ));
    assert!(
        eventually(Duration::from_secs(10), || records(&setup.output).len()
            >= 25),
        "log:\n{}",
        setup.agent.log()
    );
    assert!(eventually(Duration::from_secs(5), || !spool.exists()
        && !spool_dir
            .path()
            .join("hook-spool.jsonl.ingesting")
            .exists()));
    let records = records(&setup.output);
    assert_eq!(records.len(), 25);
    for i in 0..25 {
        let id = format!("spooled-{i}");
        assert!(
            records
                .iter()
                .any(|r| string_attribute(r, "session.id") == Some(&id)),
            "{id}"
        );
    }
    // A spool written while the agent runs is picked up on the next round.
    std::fs::write(
        &spool,
        json!({"hook_event_name": "Stop", "session_id": "late"}).to_string() + "\n",
    )
    .unwrap();
    assert!(eventually(Duration::from_secs(5), || records_len(
        &setup.output
    ) == 26));
}

fn records_len(output: &Path) -> usize {
    records(output).len()
}

/// NEEDS THE REAL POLICY (merged from the `sentinel hook` branch): the placeholder
/// policy allows everything, so this fails until the merge.
#[test]
fn pre_tool_use_rm_rf_root_is_denied_in_claude_code_json() {
    let setup = start("    spool_path: \"\"\n");
    let event = json!({"hook_event_name": "PreToolUse", "session_id": "s", "tool_name": "Bash",
        "tool_use_id": "toolu_rm", "tool_input": {"command": "rm -rf /"}});
    let (status, body) = post(
        setup.port,
        "/v1/hooks",
        "POST",
        event.to_string().as_bytes(),
    );
    assert_eq!(status, 200, "{body}");
    let reply: Value = serde_json::from_str(&body).unwrap();
    let output = &reply["hookSpecificOutput"];
    assert_eq!(output["hookEventName"], "PreToolUse", "{body}");
    assert_eq!(output["permissionDecision"], "deny", "{body}");
    assert!(!output["permissionDecisionReason"]
        .as_str()
        .unwrap()
        .is_empty());
    assert!(eventually(Duration::from_secs(10), || !records(
        &setup.output
    )
    .is_empty()));
    let record = &records(&setup.output)[0];
    assert_eq!(
        string_attribute(record, "sentinel.policy.decision"),
        Some("deny")
    );
    assert!(string_attribute(record, "sentinel.policy.rule_id").is_some());
}

/// Sum of every data point of `name` whose attributes contain all of `labels`.
fn metric_total(lines: &[Value], name: &str, labels: &[(&str, &str)]) -> i64 {
    let mut total = 0;
    for line in lines {
        for resource in line["resourceMetrics"].as_array().into_iter().flatten() {
            for scope in resource["scopeMetrics"].as_array().into_iter().flatten() {
                for metric in scope["metrics"].as_array().into_iter().flatten() {
                    if metric["name"] != name {
                        continue;
                    }
                    let points = metric["sum"]["dataPoints"]
                        .as_array()
                        .or(metric["histogram"]["dataPoints"].as_array());
                    for point in points.into_iter().flatten() {
                        let has = |(k, v): &(&str, &str)| {
                            point["attributes"]
                                .as_array()
                                .into_iter()
                                .flatten()
                                .any(|kv| kv["key"] == *k && kv["value"]["stringValue"] == *v)
                        };
                        if labels.iter().all(has) {
                            let value = point.get("asInt").or(point.get("count")).unwrap();
                            total += value
                                .as_str()
                                .map(|s| s.parse::<i64>().unwrap())
                                .or(value.as_i64())
                                .unwrap();
                        }
                    }
                }
            }
        }
    }
    total
}

#[test]
fn hook_metrics_connector_derives_metrics_from_posted_events() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let admin = free_port();
    let logs = dir.path().join("logs.jsonl");
    let metrics = dir.path().join("metrics.jsonl");
    let config = format!(
        "receivers:\n  hooks:\n    endpoint: 127.0.0.1:{port}\n    spool_path: \"\"\nconnectors:\n  hook_metrics:\nexporters:\n  file/logs:\n    path: {}\n  file/metrics:\n    path: {}\nservice:\n  telemetry:\n    metrics:\n      address: 127.0.0.1:{admin}\n  pipelines:\n    logs:\n      receivers: [hooks]\n      exporters: [file/logs, hook_metrics]\n    metrics:\n      receivers: [hook_metrics]\n      exporters: [file/metrics]\n",
        logs.display(),
        metrics.display()
    );
    let agent = Agent::start(dir.path(), "agent", &config, admin);
    let events = [
        json!({"hook_event_name": "SessionStart", "session_id": "s"}),
        json!({"hook_event_name": "UserPromptSubmit", "session_id": "s", "prompt": "hi"}),
        json!({"hook_event_name": "PreToolUse", "session_id": "s", "tool_name": "Bash", "tool_use_id": "a", "tool_input": {"command": "ls"}}),
        json!({"hook_event_name": "PostToolUse", "session_id": "s", "tool_name": "Bash", "tool_use_id": "a", "tool_response": {}}),
        json!({"hook_event_name": "PostToolUseFailure", "session_id": "s", "tool_name": "Read", "tool_use_id": "b", "error": "no", "duration_ms": 12}),
        json!({"hook_event_name": "SubagentStop", "session_id": "s", "agent_id": "x", "agent_type": "reviewer"}),
    ];
    for event in &events {
        let (status, body) = post(port, "/v1/hooks", "POST", event.to_string().as_bytes());
        assert_eq!(status, 200, "{body}");
    }
    let total = |name: &str, labels: &[(&str, &str)]| {
        metric_total(&read_json_lines(&metrics), name, labels)
    };
    assert!(
        eventually(Duration::from_secs(10), || total(
            "sentinel.hook.subagent_runs",
            &[]
        ) == 1),
        "log:\n{}",
        agent.log()
    );
    assert_eq!(total("sentinel.hook.sessions", &[]), 1);
    assert_eq!(total("sentinel.hook.prompts", &[]), 1);
    assert_eq!(
        total(
            "sentinel.hook.tool_calls",
            &[("gen_ai.tool.name", "Bash"), ("outcome", "success")]
        ),
        1
    );
    assert_eq!(
        total(
            "sentinel.hook.tool_calls",
            &[("gen_ai.tool.name", "Read"), ("outcome", "failure")]
        ),
        1
    );
    // Bash timed by pairing, Read by duration_ms.
    assert_eq!(
        total(
            "sentinel.hook.tool_duration",
            &[("gen_ai.tool.name", "Bash")]
        ),
        1
    );
    assert_eq!(
        total(
            "sentinel.hook.tool_duration",
            &[("gen_ai.tool.name", "Read")]
        ),
        1
    );
    // The logs pipeline writes on its own schedule: wait for it as for the metrics.
    assert!(
        eventually(Duration::from_secs(10), || records(&logs).len()
            == events.len()),
        "{} of {} events logged",
        records(&logs).len(),
        events.len()
    );
    let received = agent.metric_value(
        "sentinel_component_received_items_total",
        &["component_id=\"hooks\"", "component_kind=\"receiver\""],
    );
    assert_eq!(received, Some(events.len() as f64));
}
