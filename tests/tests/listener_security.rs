//! TLS, bearer tokens and connection limits on every listener, against the real binary:
//! the real Python and Rust OpenTelemetry SDKs over TLS with a token (and mTLS), wrong or
//! missing tokens refused and nothing delivered, the hooks token, admin auth for
//! silences, certificate rotation, the connection cap with accept errors, and slow
//! clients cut off by the header and body-read timeouts.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, SystemTime};

use opentelemetry::trace::{
    SpanContext, SpanId, SpanKind, Status, TraceFlags, TraceId, TraceState,
};
use opentelemetry::InstrumentationScope;
use opentelemetry_otlp::tonic_types::metadata::MetadataMap;
use opentelemetry_otlp::tonic_types::transport::{Certificate, ClientTlsConfig};
use opentelemetry_otlp::{WithExportConfig, WithTonicConfig};
use opentelemetry_sdk::trace::{SpanData, SpanEvents, SpanExporter, SpanLinks};
use sentinel_tests::{
    certs, eventually, free_port, http_request, read_json_lines, sentinel_bin, workspace_root,
    Agent,
};
use serde_json::Value;

const TOKEN: &str = "s3cret-token-for-tests";

fn write_token(dir: &Path) -> std::path::PathBuf {
    let path = dir.join("token");
    std::fs::write(&path, format!("{TOKEN}\n")).unwrap();
    path
}

fn span_names(out: &Path) -> Vec<String> {
    read_json_lines(out)
        .iter()
        .flat_map(|l| l["resourceSpans"].as_array().cloned().unwrap_or_default())
        .flat_map(|r| r["scopeSpans"].as_array().cloned().unwrap_or_default())
        .flat_map(|s| s["spans"].as_array().cloned().unwrap_or_default())
        .filter_map(|s| s["name"].as_str().map(str::to_string))
        .collect()
}

/// An agent with TLS and a token on both OTLP protocols; HTTP also asks for a client
/// certificate (mTLS).
fn tls_agent(dir: &Path) -> (Agent, u16, u16) {
    certs::make(dir, "localhost");
    let token = write_token(dir);
    let (grpc, http, admin) = (free_port(), free_port(), free_port());
    let d = dir.display();
    let config = format!(
        "receivers:
  otlp:
    protocols:
      grpc:
        endpoint: 127.0.0.1:{grpc}
        tls: {{cert_file: {d}/server.crt, key_file: {d}/server.key}}
        auth: {{bearer_token_file: {token}}}
      http:
        endpoint: 127.0.0.1:{http}
        tls: {{cert_file: {d}/server.crt, key_file: {d}/server.key, client_ca_file: {d}/ca.crt}}
        auth: {{bearer_token_file: {token}}}
exporters:
  file: {{path: {d}/out.jsonl}}
service:
  telemetry: {{metrics: {{address: 127.0.0.1:{admin}}}}}
  pipelines:
    traces: {{receivers: [otlp], exporters: [file]}}
",
        token = token.display()
    );
    (Agent::start(dir, "agent", &config, admin), grpc, http)
}

#[test]
fn python_sdk_over_tls_with_a_bearer_token_and_mtls() {
    let dir = tempfile::tempdir().unwrap();
    let (agent, grpc, http) = tls_agent(dir.path());
    let output = Command::new("python3")
        .arg(workspace_root().join("tests/python/tls_auth.py"))
        .args([grpc.to_string(), http.to_string()])
        .arg(dir.path())
        .args([TOKEN, "wrong-token"])
        // requests lets these override the exporter's own CA file (its session `verify`).
        .env_remove("REQUESTS_CA_BUNDLE")
        .env_remove("CURL_CA_BUNDLE")
        .output()
        .expect("python3 is installed by the test command");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "python SDK failed (is tests/python/requirements.txt installed?):\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let attempts: Vec<Value> = stdout
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    assert_eq!(attempts.len(), 6, "{stdout}");
    for attempt in &attempts {
        let expected = attempt["token"] == TOKEN
            && (attempt["protocol"] == "grpc" || attempt["client_cert"] == true);
        assert_eq!(attempt["ok"], expected, "{attempt}\nlog:\n{}", agent.log());
    }
    let out = dir.path().join("out.jsonl");
    assert!(
        eventually(Duration::from_secs(10), || span_names(&out).len() == 2),
        "{:?}",
        span_names(&out)
    );
    let mut names = span_names(&out);
    names.sort();
    assert_eq!(
        names,
        [format!("grpc-{TOKEN}"), format!("http-{TOKEN}-True")]
    );
    let metrics = agent.metrics();
    let refused = metrics
        .lines()
        .find(|l| l.contains("bad_requests") && l.contains("unauthenticated"))
        .and_then(|l| l.rsplit(' ').next()?.parse::<f64>().ok());
    // One wrong token over gRPC, one over HTTP with a client certificate.
    assert_eq!(refused, Some(2.0), "{metrics}");
    assert!(agent.terminate(Duration::from_secs(15)).success());
}

fn rust_span(name: &'static str) -> SpanData {
    let context = SpanContext::new(
        TraceId::from(0x1234_u128),
        SpanId::from(0x42_u64),
        TraceFlags::SAMPLED,
        false,
        TraceState::default(),
    );
    let now = SystemTime::now();
    SpanData {
        span_context: context,
        parent_span_id: SpanId::INVALID,
        parent_span_is_remote: false,
        span_kind: SpanKind::Server,
        name: name.into(),
        start_time: now,
        end_time: now,
        attributes: Vec::new(),
        dropped_attributes_count: 0,
        events: SpanEvents::default(),
        links: SpanLinks::default(),
        status: Status::Unset,
        instrumentation_scope: InstrumentationScope::builder("listener-security").build(),
    }
}

/// Exports one span with the Rust SDK over gRPC and TLS; `Ok` when the agent took it.
fn rust_export(dir: &Path, grpc: u16, token: Option<&str>, name: &'static str) -> bool {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let _guard = runtime.enter();
    let ca = std::fs::read(dir.join("ca.crt")).unwrap();
    let tls = ClientTlsConfig::new()
        .ca_certificate(Certificate::from_pem(ca))
        .domain_name("localhost");
    let mut metadata = MetadataMap::new();
    if let Some(token) = token {
        metadata.insert("authorization", format!("Bearer {token}").parse().unwrap());
    }
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_tonic()
        .with_endpoint(format!("https://localhost:{grpc}"))
        .with_tls_config(tls)
        .with_metadata(metadata)
        .with_timeout(Duration::from_secs(5))
        .build()
        .unwrap();
    runtime
        .block_on(exporter.export(vec![rust_span(name)]))
        .is_ok()
}

#[test]
fn rust_sdk_over_tls_needs_the_token() {
    let dir = tempfile::tempdir().unwrap();
    let (agent, grpc, _) = tls_agent(dir.path());
    assert!(!rust_export(dir.path(), grpc, None, "no-token"));
    assert!(!rust_export(dir.path(), grpc, Some("guess"), "bad-token"));
    assert!(rust_export(dir.path(), grpc, Some(TOKEN), "rust-ok"));
    let out = dir.path().join("out.jsonl");
    assert!(eventually(Duration::from_secs(10), || !span_names(&out).is_empty()));
    assert_eq!(span_names(&out), ["rust-ok"], "log:\n{}", agent.log());
    assert!(agent.terminate(Duration::from_secs(15)).success());
}

#[test]
fn hooks_receiver_and_admin_silences_need_their_tokens() {
    let dir = tempfile::tempdir().unwrap();
    let token = write_token(dir.path());
    let (hooks, admin) = (free_port(), free_port());
    let d = dir.path().display();
    let config = format!(
        "receivers:
  hooks:
    endpoint: 127.0.0.1:{hooks}
    spool_path: \"\"
    auth:
      bearer_token: ${{env:HOOK_TOKEN}}
exporters:
  file: {{path: {d}/out.jsonl}}
service:
  data_dir: {d}/data
  telemetry:
    metrics:
      address: 127.0.0.1:{admin}
      auth: {{bearer_token_file: {token}}}
  pipelines:
    logs: {{receivers: [hooks], exporters: [file]}}
",
        token = token.display()
    );
    let agent = Agent::start_with_env(
        dir.path(),
        "agent",
        &config,
        admin,
        &[("HOOK_TOKEN", TOKEN)],
    );
    let event = r#"{"session_id":"s1","hook_event_name":"Stop","cwd":"/tmp"}"#;
    let json = ("Content-Type", "application/json");
    let bearer = format!("Bearer {TOKEN}");
    let (status, _) = http_request(hooks, "POST", "/v1/hooks", &[json], event.as_bytes());
    assert_eq!(status, 401);
    let wrong = ("Authorization", "Bearer nope");
    let (status, _) = http_request(hooks, "POST", "/v1/hooks", &[json, wrong], event.as_bytes());
    assert_eq!(status, 401);
    let good = ("Authorization", bearer.as_str());
    let (status, body) = http_request(hooks, "POST", "/v1/hooks", &[json, good], event.as_bytes());
    assert_eq!(status, 200, "{body}");
    let out = dir.path().join("out.jsonl");
    let records = || {
        read_json_lines(&out)
            .iter()
            .flat_map(|l| l["resourceLogs"].as_array().cloned().unwrap_or_default())
            .flat_map(|r| r["scopeLogs"].as_array().cloned().unwrap_or_default())
            .flat_map(|s| s["logRecords"].as_array().cloned().unwrap_or_default())
            .count()
    };
    assert!(eventually(Duration::from_secs(10), || records() == 1));

    // Admin: probes stay open, silences need the token.
    assert!(agent.metrics().contains("sentinel_"));
    let silence = |envs: &[(&str, &Path)], args: &[&str]| {
        let mut command = Command::new(sentinel_bin());
        command.args(["alerts", "silence", "list", "--admin"]);
        command.arg(format!("127.0.0.1:{admin}")).args(args);
        command.env_remove("SENTINEL_ADMIN_TOKEN_FILE");
        for (key, value) in envs {
            command.env(key, value);
        }
        command.output().unwrap()
    };
    let refused = silence(&[], &[]);
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("401"));
    let by_flag = silence(&[], &["--token-file", &token.display().to_string()]);
    assert!(by_flag.status.success(), "{by_flag:?}");
    let by_env = silence(&[("SENTINEL_ADMIN_TOKEN_FILE", &token)], &[]);
    assert!(by_env.status.success(), "{by_env:?}");
    assert!(
        !agent.log().contains(TOKEN),
        "the token leaked into the log"
    );
    assert!(agent.terminate(Duration::from_secs(15)).success());
}

/// The subject of the certificate the server at `port` presents, by `openssl s_client`.
fn served_subject(port: u16) -> String {
    let output = Command::new("openssl")
        .args(["s_client", "-connect", &format!("127.0.0.1:{port}")])
        .stdin(Stdio::null())
        .output()
        .expect("run openssl (apt-get install openssl)");
    let text = String::from_utf8_lossy(&output.stdout).to_string();
    text.lines()
        .find(|l| l.starts_with("subject="))
        .unwrap_or("")
        .to_string()
}

#[test]
fn a_renewed_certificate_is_served_without_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let (first, second) = (dir.path().join("first"), dir.path().join("second"));
    std::fs::create_dir_all(&first).unwrap();
    std::fs::create_dir_all(&second).unwrap();
    certs::make(&first, "first.localhost");
    certs::make(&second, "second.localhost");
    let live = dir.path().join("live");
    std::fs::create_dir_all(&live).unwrap();
    let install = |from: &Path| {
        for file in ["server.crt", "server.key"] {
            std::fs::copy(from.join(file), live.join(file)).unwrap();
        }
    };
    install(&first);
    let (http, admin) = (free_port(), free_port());
    let l = live.display();
    let config = format!(
        "receivers:
  otlp:
    protocols:
      http:
        endpoint: 127.0.0.1:{http}
        tls: {{cert_file: {l}/server.crt, key_file: {l}/server.key, reload_interval: 1s}}
exporters:
  debug: {{}}
service:
  telemetry: {{metrics: {{address: 127.0.0.1:{admin}}}}}
  pipelines:
    traces: {{receivers: [otlp], exporters: [debug]}}
"
    );
    let agent = Agent::start(dir.path(), "agent", &config, admin);
    assert!(served_subject(http).contains("first.localhost"));
    install(&second);
    assert!(
        eventually(Duration::from_secs(15), || served_subject(http)
            .contains("second.localhost")),
        "still {}; log:\n{}",
        served_subject(http),
        agent.log()
    );
    assert!(agent.log().contains("Serving the renewed TLS certificate"));
    assert!(agent.terminate(Duration::from_secs(15)).success());
}

/// Starts the agent with at most `nofile` open files (`ulimit -n`).
fn start_with_file_limit(dir: &Path, config: &str, admin: u16, nofile: u32) -> Agent {
    let config_path = dir.join("agent.yaml");
    std::fs::write(&config_path, config).unwrap();
    let log_path = dir.join("agent.log");
    let log = std::fs::File::create(&log_path).unwrap();
    let child = Command::new("sh")
        .args([
            "-c",
            &format!("ulimit -n {nofile} && exec \"$0\" run --config \"$1\""),
        ])
        .arg(sentinel_bin())
        .arg(&config_path)
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .stdin(Stdio::null())
        .spawn()
        .unwrap();
    let mut agent = Agent {
        child,
        admin_port: admin,
        config_path,
        log_path,
    };
    agent.wait_ready(Duration::from_secs(20));
    agent
}

const OTLP_JSON: &str = r#"{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"5b8efff798038103d269b633813fc60c","spanId":"eee19b7ec3c1b174","name":"after-flood","kind":1,"startTimeUnixNano":"1","endTimeUnixNano":"2"}]}]}]}"#;

#[test]
fn idle_sockets_past_the_file_limit_do_not_take_the_agent_down() {
    let dir = tempfile::tempdir().unwrap();
    let (http, admin) = (free_port(), free_port());
    let d = dir.path().display();
    let config = format!(
        "receivers:
  otlp:
    protocols:
      http:
        endpoint: 127.0.0.1:{http}
        connections: {{idle_timeout: 2s}}
exporters:
  file: {{path: {d}/out.jsonl}}
service:
  telemetry: {{metrics: {{address: 127.0.0.1:{admin}}}}}
  pipelines:
    traces: {{receivers: [otlp], exporters: [file]}}
"
    );
    let agent = start_with_file_limit(dir.path(), &config, admin, 96);
    // More idle sockets than the agent has files left: accepts fail with EMFILE.
    let flood: Vec<TcpStream> = (0..110)
        .filter_map(|_| TcpStream::connect(("127.0.0.1", http)).ok())
        .collect();
    assert!(
        eventually(Duration::from_secs(10), || agent
            .log()
            .contains("Cannot accept connections")),
        "no accept error logged; log:\n{}",
        agent.log()
    );
    // Idle connections are closed after 2s, the backlog drains, and a normal client is
    // served while the flood's sockets are still open on our side.
    let json = ("Content-Type", "application/json");
    let served = eventually(Duration::from_secs(30), || {
        http_request(http, "POST", "/v1/traces", &[json], OTLP_JSON.as_bytes()).0 == 200
    });
    assert!(served, "log:\n{}", agent.log());
    drop(flood);
    let log = agent.log();
    // One line when a streak of failures starts and one with the count when it ends (the
    // backlog may come in a second wave), never one per failed accept.
    let streaks = log.matches("Cannot accept connections").count();
    assert!((1..=3).contains(&streaks), "{log}");
    let recovered: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("Accepting connections again after"))
        .collect();
    assert_eq!(recovered.len(), streaks, "{log}");
    assert!(
        recovered.iter().all(|l| l.contains("failed_accepts=")),
        "{log}"
    );
    assert!(
        log.lines().count() < 60,
        "the agent logged per error:\n{log}"
    );
    assert!(agent.terminate(Duration::from_secs(15)).success());
}

/// Sends `head` and then nothing; how the server ends the exchange within 15s: the
/// status it answered (0 when it just closed).
fn stall(port: u16, head: &str) -> Option<u16> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(15)))
        .unwrap();
    stream.write_all(head.as_bytes()).unwrap();
    let mut answer = Vec::new();
    match stream.read_to_end(&mut answer) {
        Ok(_) => Some(
            String::from_utf8_lossy(&answer)
                .split_whitespace()
                .nth(1)
                .and_then(|s| s.parse().ok())
                .unwrap_or(0),
        ),
        Err(err) if err.kind() == std::io::ErrorKind::ConnectionReset => Some(0),
        Err(_) => None,
    }
}

#[test]
fn slow_headers_and_bodies_are_cut_off() {
    let dir = tempfile::tempdir().unwrap();
    let (http, admin) = (free_port(), free_port());
    let limits = "connections: {read_header_timeout: 1s, read_timeout: 1s}";
    let config = format!(
        "receivers:
  otlp:
    protocols:
      http:
        endpoint: 127.0.0.1:{http}
        {limits}
exporters:
  debug: {{}}
service:
  telemetry:
    metrics:
      address: 127.0.0.1:{admin}
      {limits}
  pipelines:
    traces: {{receivers: [otlp], exporters: [debug]}}
"
    );
    let agent = Agent::start(dir.path(), "agent", &config, admin);
    let partial_head = "GET /metrics HTTP/1.1\r\nHost: x\r\n";
    assert!(
        stall(admin, partial_head).is_some(),
        "admin kept a connection with unfinished headers"
    );
    assert!(stall(http, "POST /v1/traces HTTP/1.1\r\nHost: x\r\n").is_some());
    let trickle = "POST /v1/traces HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\
                   Content-Length: 1000\r\n\r\n{\"resourceSpans\":";
    let status = stall(http, trickle);
    assert!(
        matches!(status, Some(400) | Some(408) | Some(0)),
        "a stalled body was not cut off: {status:?}"
    );
    // Both servers still answer.
    assert!(agent.metrics().contains("sentinel_"));
    let json = ("Content-Type", "application/json");
    let (status, _) = http_request(http, "POST", "/v1/traces", &[json], OTLP_JSON.as_bytes());
    assert_eq!(status, 200);
    assert!(agent.terminate(Duration::from_secs(15)).success());
}
