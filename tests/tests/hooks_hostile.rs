//! The `hooks` receiver under issue 21's probes, against the real agent: large events are
//! processed off the runtime's workers (OTLP intake is answered while they are), and the
//! eight secret shapes the first redaction missed never reach the exporter.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};
use std::time::Duration;

use sentinel_tests::{eventually, free_port, http_post_json, http_request, Agent};
use serde_json::json;

/// A PostToolUse event of about `bytes` of Bash output: many lines, each with a labelled
/// value the redactor must look at, so preparing it is real CPU work.
fn large_event(bytes: usize) -> Vec<u8> {
    let mut stdout = String::with_capacity(bytes + 100);
    let mut i = 0;
    while stdout.len() < bytes {
        stdout.push_str(&format!(
            "{i:>8} INFO served /api/items password=pw{i} in 12 ms\n"
        ));
        i += 1;
    }
    serde_json::to_vec(&json!({
        "hook_event_name": "PostToolUse",
        "session_id": "large",
        "tool_name": "Bash",
        "tool_input": {"command": "cat big.log"},
        "tool_response": {"stdout": stdout},
    }))
    .unwrap()
}

fn otlp_logs() -> String {
    json!({"resourceLogs": [{"scopeLogs": [{"logRecords": [
        {"timeUnixNano": "1", "body": {"stringValue": "normal client"}}
    ]}]}]})
    .to_string()
}

/// Issue 21 §2: two large hook events used to occupy both runtime workers (the cap
/// re-serialised the event thousands of times) and stalled OTLP intake. Here both events
/// are fully uploaded, then a normal OTLP request is sent: it must be answered before
/// either hook event is. Judged by the order of the answers, not by time.
#[test]
fn otlp_intake_is_answered_while_two_large_hook_events_are_processed() {
    let dir = tempfile::tempdir().unwrap();
    let (hooks, otlp, admin) = (free_port(), free_port(), free_port());
    let config = format!(
        "receivers:\n  hooks:\n    endpoint: 127.0.0.1:{hooks}\n    spool_path: \"\"\n    max_payload_size: 1048576\n  otlp:\n    protocols:\n      http:\n        endpoint: 127.0.0.1:{otlp}\nexporters:\n  blackhole:\nservice:\n  telemetry:\n    metrics:\n      address: 127.0.0.1:{admin}\n  pipelines:\n    logs:\n      receivers: [hooks, otlp]\n      exporters: [blackhole]\n"
    );
    let agent = Agent::start(dir.path(), "agent", &config, admin);
    assert_eq!(http_post_json(otlp, "/v1/logs", &otlp_logs()).0, 200);

    let answered = Arc::new(AtomicUsize::new(0));
    let (uploaded, uploads) = mpsc::channel();
    let body = Arc::new(large_event(2_000_000));
    assert!(body.len() < 4 * 1_048_576, "within the request limit");
    let senders: Vec<_> = (0..2)
        .map(|_| {
            let (answered, uploaded, body) = (answered.clone(), uploaded.clone(), body.clone());
            std::thread::spawn(move || {
                let mut stream = TcpStream::connect(("127.0.0.1", hooks)).unwrap();
                stream
                    .set_read_timeout(Some(Duration::from_secs(120)))
                    .unwrap();
                let head = format!(
                    "POST /v1/hooks HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                    body.len()
                );
                stream.write_all(head.as_bytes()).unwrap();
                stream.write_all(&body).unwrap();
                uploaded.send(()).unwrap();
                let mut response = String::new();
                stream.read_to_string(&mut response).unwrap();
                (answered.fetch_add(1, Ordering::SeqCst), response)
            })
        })
        .collect();
    for _ in 0..2 {
        uploads.recv().unwrap();
    }
    let (status, body) = http_post_json(otlp, "/v1/logs", &otlp_logs());
    let otlp_order = answered.fetch_add(1, Ordering::SeqCst);
    assert_eq!(status, 200, "{body}");
    for sender in senders {
        let (order, response) = sender.join().unwrap();
        assert!(response.starts_with("HTTP/1.1 200"), "{response:.200}");
        assert!(
            otlp_order < order,
            "the OTLP request waited for a hook event (OTLP answered #{otlp_order}, hook #{order})"
        );
    }
    assert_eq!(otlp_order, 0);
    drop(agent);
}

/// The eight shapes issue 21 found unredacted, planted in hook events posted to the real
/// agent and looked for in the file exporter's output.
#[test]
fn the_secrets_the_first_redaction_missed_never_reach_the_exporter() {
    let dir = tempfile::tempdir().unwrap();
    let (hooks, admin) = (free_port(), free_port());
    let output = dir.path().join("out.jsonl");
    let config = format!(
        "receivers:\n  hooks:\n    endpoint: 127.0.0.1:{hooks}\n    spool_path: \"\"\nexporters:\n  file:\n    path: {}\nservice:\n  telemetry:\n    metrics:\n      address: 127.0.0.1:{admin}\n  pipelines:\n    logs:\n      receivers: [hooks]\n      exporters: [file]\n",
        output.display()
    );
    let _agent = Agent::start(dir.path(), "agent", &config, admin);
    let planted = [
        "PlantedQuoted1",
        "PlantedPgPass2",
        "dXNlcjpQbGFudGVkQmFzaWMz",
        "PlantedEnvrc4",
        "PlantedDotEnv5",
        "PlantedKeyUnderscore6abcdef",
        "PlantedUrlEncoded7abcdefg",
        "PlantedJsonKey8abcdefghij",
    ];
    let events = [
        json!({"hook_event_name": "PreToolUse", "tool_name": "Bash",
               "tool_input": {"command": format!("DB_PASSWORD='{}' ./migrate", planted[0])}}),
        json!({"hook_event_name": "UserPromptSubmit",
               "prompt": format!("connect to postgres://app:{}@db.internal/app", planted[1])}),
        json!({"hook_event_name": "PreToolUse", "tool_name": "Bash",
               "tool_input": {"command": format!("curl -H 'Authorization: Basic {}' https://x", planted[2])}}),
        json!({"hook_event_name": "PostToolUse", "tool_name": "Read",
               "tool_input": {"file_path": "/repo/.envrc"},
               "tool_response": {"file": {"content": format!("export LOCAL_THING={}", planted[3])}}}),
        json!({"hook_event_name": "PostToolUse", "tool_name": "Bash",
               "tool_input": {"command": "cat .env"},
               "tool_response": {"stdout": format!("SOME_SETTING={}", planted[4])}}),
        json!({"hook_event_name": "UserPromptSubmit",
               "prompt": format!("KEY_sk-ant-api03-{}", planted[5])}),
        json!({"hook_event_name": "UserPromptSubmit",
               "prompt": format!("https://x.test/cb?q=a%3Dsk-ant-api03-{}", planted[6])}),
        json!({"hook_event_name": "PostToolUse", "tool_name": "Bash",
               "tool_input": {"command": "jq . tokens.json"},
               "tool_response": {"stdout": "{}", "parsed": {format!("sk-ant-api03-{}", planted[7]): "owner"}}}),
    ];
    for event in &events {
        let (status, body) = http_request(
            hooks,
            "POST",
            "/v1/hooks",
            &[("Content-Type", "application/json")],
            event.to_string().as_bytes(),
        );
        assert_eq!(status, 200, "{body}");
    }
    // Every event is one record; wait for all of them.
    assert!(eventually(Duration::from_secs(10), || {
        std::fs::read_to_string(&output)
            .is_ok_and(|text| text.matches("claude_code.hook.").count() >= events.len())
    }));
    let text = std::fs::read_to_string(&output).unwrap();
    for secret in planted {
        assert!(!text.contains(secret), "{secret} reached the exporter");
    }
    // The value under the redacted key is kept.
    assert!(text.contains("owner"));
}
