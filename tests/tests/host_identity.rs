//! The shipped `forward-to-gateway.yaml`, run for real with `HOSTNAME` unset (as under
//! systemd or a non-interactive shell): what reaches the gateway carries this machine's
//! `host.name` (the kernel's name) and `host.id` (`/etc/machine-id`), detected by the
//! `resourcedetection` processor, not `unknown-host`.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use sentinel_tests::{eventually, free_port, read_json_lines, sentinel_bin, workspace_root, Agent};

fn post_json(port: u16, body: &str) -> u16 {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    write!(
        stream,
        "POST /v1/traces HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut response = String::new();
    let _ = stream.read_to_string(&mut response);
    response
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

/// The string resource attributes of the first resource the gateway wrote.
fn resource_attributes(lines: &[serde_json::Value]) -> Vec<(String, String)> {
    let attributes = &lines[0]["resourceSpans"][0]["resource"]["attributes"];
    attributes
        .as_array()
        .unwrap()
        .iter()
        .map(|kv| {
            let value = kv["value"]["stringValue"]
                .as_str()
                .unwrap_or("<not a string>");
            (kv["key"].as_str().unwrap().to_string(), value.to_string())
        })
        .collect()
}

/// The gateway: OTLP/gRPC in, spans into `out`. Returns it and its gRPC port.
fn start_gateway(dir: &Path, out: &Path) -> (Agent, u16) {
    let (gw_grpc, gw_admin) = (free_port(), free_port());
    let gateway = Agent::start(
        dir,
        "gateway",
        &format!(
            "receivers:\n  otlp:\n    protocols:\n      grpc:\n        endpoint: 127.0.0.1:{gw_grpc}\nexporters:\n  file:\n    path: {}\nservice:\n  telemetry:\n    metrics:\n      address: 127.0.0.1:{gw_admin}\n  pipelines:\n    traces:\n      receivers: [otlp]\n      exporters: [file]\n",
            out.display()
        ),
        gw_admin,
    );
    (gateway, gw_grpc)
}

/// The shipped file as is, plus free ports instead of the fixed 4317/4318/8888, with
/// `HOSTNAME` unset; OTLP/HTTP on `http`.
fn start_shipped_agent(dir: &Path, gw_grpc: u16, http: u16) -> Agent {
    let (grpc, admin) = (free_port(), free_port());
    let ports = dir.join("ports.yaml");
    std::fs::write(
        &ports,
        format!("receivers:\n  otlp:\n    protocols:\n      grpc:\n        endpoint: 127.0.0.1:{grpc}\n      http:\n        endpoint: 127.0.0.1:{http}\nservice:\n  telemetry:\n    metrics:\n      address: 127.0.0.1:{admin}\n"),
    )
    .unwrap();
    let log = std::fs::File::create(dir.join("agent.log")).unwrap();
    let child = Command::new(sentinel_bin())
        .args(["run", "--config"])
        .arg(workspace_root().join("config/examples/forward-to-gateway.yaml"))
        .arg("--config")
        .arg(&ports)
        .env_remove("HOSTNAME")
        .env_remove("OTEL_RESOURCE_ATTRIBUTES")
        .env("SENTINEL_GATEWAY", format!("127.0.0.1:{gw_grpc}"))
        .env("SENTINEL_DATA_DIR", dir.join("data"))
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .stdin(Stdio::null())
        .spawn()
        .expect("start sentinel");
    let mut agent = Agent {
        child,
        admin_port: admin,
        config_path: ports,
        log_path: dir.join("agent.log"),
    };
    agent.wait_ready(Duration::from_secs(20));
    agent
}

#[test]
fn forward_to_gateway_names_the_host_without_hostname_set() {
    let machine_id = std::fs::read_to_string("/etc/machine-id")
        .expect("this test compares host.id with /etc/machine-id, which this machine lacks");
    let hostname = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
    let dir = tempfile::tempdir().unwrap();

    let out = dir.path().join("gateway.jsonl");
    let (gateway, gw_grpc) = start_gateway(dir.path(), &out);
    let http = free_port();
    let agent = start_shipped_agent(dir.path(), gw_grpc, http);

    let span = r#"{"resourceSpans":[{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"checkout"}}]},"scopeSpans":[{"spans":[{"traceId":"0102030405060708090a0b0c0d0e0f10","spanId":"0102030405060708","name":"order","kind":2,"startTimeUnixNano":"1","endTimeUnixNano":"2"}]}]}]}"#;
    assert_eq!(post_json(http, span), 200, "agent log:\n{}", agent.log());
    assert!(
        eventually(Duration::from_secs(15), || !read_json_lines(&out)
            .is_empty()),
        "nothing reached the gateway; agent log:\n{}\ngateway log:\n{}",
        agent.log(),
        gateway.log()
    );
    let attributes = resource_attributes(&read_json_lines(&out));
    let get = |key: &str| {
        attributes
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    };
    assert_eq!(get("host.name"), Some(hostname.trim()), "{attributes:?}");
    assert_eq!(get("host.id"), Some(machine_id.trim()), "{attributes:?}");
    assert_eq!(get("os.type"), Some("linux"), "{attributes:?}");
    assert_eq!(get("service.name"), Some("checkout"), "{attributes:?}");
    assert!(
        agent
            .log()
            .contains(&format!("host.name={}", hostname.trim())),
        "the detection is logged once:\n{}",
        agent.log()
    );
    assert!(agent.terminate(Duration::from_secs(15)).success());
    assert!(gateway.terminate(Duration::from_secs(15)).success());
}
