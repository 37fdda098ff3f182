//! End-to-end behaviour of the real binary: chaining two agents, bad input over HTTP, a
//! port already in use, a dead downstream, clean SIGTERM drain, and the count connector
//! served to Prometheus. The CLI's config checks are in `config_cli.rs`.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::Duration;

use sentinel_tests::{eventually, free_port, written_spans, Agent};

fn receiver(grpc: u16, http: u16) -> String {
    format!(
        "receivers:\n  otlp:\n    protocols:\n      grpc:\n        endpoint: 127.0.0.1:{grpc}\n      http:\n        endpoint: 127.0.0.1:{http}\n        max_request_body_size: 1048576\n"
    )
}

/// Posts raw bytes to the agent's HTTP receiver; returns status, headers and body.
fn post(
    port: u16,
    path: &str,
    content_type: &str,
    encoding: Option<&str>,
    body: &[u8],
) -> (u16, String) {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut head = format!(
        "POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n",
        body.len()
    );
    if let Some(encoding) = encoding {
        head.push_str(&format!("Content-Encoding: {encoding}\r\n"));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).unwrap();
    // The server may answer (413) before reading everything; ignore a broken pipe then.
    let _ = stream.write_all(body);
    let mut response = Vec::new();
    let _ = stream.read_to_end(&mut response);
    let text = String::from_utf8_lossy(&response).to_string();
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    (status, text)
}

fn one_span_json(name: &str) -> String {
    format!(
        r#"{{"resourceSpans":[{{"resource":{{"attributes":[{{"key":"service.name","value":{{"stringValue":"json-client"}}}}]}},"scopeSpans":[{{"scope":{{"name":"t"}},"spans":[{{"traceId":"5b8efff798038103d269b633813fc60c","spanId":"eee19b7ec3c1b174","name":"{name}","kind":2,"startTimeUnixNano":"1544712660000000000","endTimeUnixNano":"1544712661000000000","attributes":[{{"key":"http.status","value":{{"intValue":"200"}}}}]}}]}}]}}]}}"#
    )
}

#[test]
fn two_agents_chained_over_otlp_grpc() {
    let dir = tempfile::tempdir().unwrap();
    let (b_grpc, b_http, b_admin) = (free_port(), free_port(), free_port());
    let out = dir.path().join("b.jsonl");
    let b = Agent::start(
        dir.path(),
        "b",
        &format!(
            "{}exporters:\n  file:\n    path: {}\nservice:\n  telemetry:\n    metrics:\n      address: 127.0.0.1:{b_admin}\n  pipelines:\n    traces:\n      receivers: [otlp]\n      exporters: [file]\n",
            receiver(b_grpc, b_http),
            out.display()
        ),
        b_admin,
    );
    let (a_grpc, a_http, a_admin) = (free_port(), free_port(), free_port());
    let a = Agent::start(
        dir.path(),
        "a",
        &format!(
            "{}processors:\n  batch:\n    timeout: 20ms\nexporters:\n  otlp:\n    endpoint: 127.0.0.1:{b_grpc}\n    tls:\n      insecure: true\nservice:\n  telemetry:\n    metrics:\n      address: 127.0.0.1:{a_admin}\n  pipelines:\n    traces:\n      receivers: [otlp]\n      processors: [batch]\n      exporters: [otlp]\n",
            receiver(a_grpc, a_http)
        ),
        a_admin,
    );
    let (status, body) = post(
        a_http,
        "/v1/traces",
        "application/json",
        None,
        one_span_json("chained").as_bytes(),
    );
    assert_eq!(status, 200, "{body}");
    assert!(
        eventually(Duration::from_secs(10), || written_spans(&out).len() == 1),
        "span did not cross both agents; A log:\n{}\nB log:\n{}",
        a.log(),
        b.log()
    );
    let span = &written_spans(&out)[0];
    assert_eq!(span["name"], "chained");
    assert_eq!(span["traceId"], "5b8efff798038103d269b633813fc60c");
    assert_eq!(span["spanId"], "eee19b7ec3c1b174");
    assert!(a.terminate(Duration::from_secs(15)).success());
    assert!(b.terminate(Duration::from_secs(15)).success());
}

#[test]
fn bad_http_input_is_refused_clearly_and_good_data_still_flows() {
    let dir = tempfile::tempdir().unwrap();
    let (grpc, http, admin) = (free_port(), free_port(), free_port());
    let out = dir.path().join("out.jsonl");
    let agent = Agent::start(
        dir.path(),
        "agent",
        &format!(
            "{}exporters:\n  file:\n    path: {}\nservice:\n  telemetry:\n    metrics:\n      address: 127.0.0.1:{admin}\n  pipelines:\n    traces:\n      receivers: [otlp]\n      exporters: [file]\n",
            receiver(grpc, http),
            out.display()
        ),
        admin,
    );

    let (status, text) = post(
        http,
        "/v1/traces",
        "application/x-protobuf",
        None,
        &[0xff, 0xff, 0xff, 0x0f, 0x01],
    );
    assert_eq!(status, 400, "malformed protobuf: {text}");
    let (status, text) = post(
        http,
        "/v1/traces",
        "application/json",
        None,
        b"{\"resourceSpans\": [",
    );
    assert_eq!(status, 400, "invalid JSON: {text}");
    let (status, text) = post(
        http,
        "/v1/traces",
        "application/x-protobuf",
        None,
        &vec![0u8; 2 * 1024 * 1024],
    );
    assert_eq!(status, 413, "body over the 1 MiB limit: {text}");

    // 64 MiB of zeros gzip to about 64 KiB: small on the wire, a bomb once inflated.
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    let zeros = vec![0u8; 1024 * 1024];
    for _ in 0..64 {
        encoder.write_all(&zeros).unwrap();
    }
    let bomb = encoder.finish().unwrap();
    assert!(bomb.len() < 1024 * 1024);
    let (status, text) = post(
        http,
        "/v1/traces",
        "application/x-protobuf",
        Some("gzip"),
        &bomb,
    );
    assert_eq!(status, 413, "gzip bomb: {text}");

    // The agent is unharmed: good data still arrives, and nothing bad was written.
    let (status, text) = post(
        http,
        "/v1/traces",
        "application/json",
        None,
        one_span_json("after-bad-input").as_bytes(),
    );
    assert_eq!(status, 200, "{text}");
    assert!(eventually(Duration::from_secs(10), || written_spans(&out)
        .len()
        == 1));
    assert_eq!(written_spans(&out)[0]["name"], "after-bad-input");
    let rss = agent
        .metric_value("sentinel_process_resident_memory_bytes", &[])
        .expect("rss reported");
    assert!(
        rss < 200.0 * 1024.0 * 1024.0,
        "the bomb was not inflated: rss {rss}"
    );
    assert!(agent.terminate(Duration::from_secs(15)).success());
}

#[test]
fn port_already_in_use_exits_1_with_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let admin = free_port();
    let config = format!(
        "{}exporters:\n  blackhole:\nservice:\n  telemetry:\n    metrics:\n      address: 127.0.0.1:{admin}\n  pipelines:\n    traces:\n      receivers: [otlp]\n      exporters: [blackhole]\n",
        receiver(port, free_port())
    );
    let mut agent = Agent::spawn(dir.path(), "agent", &config, admin);
    let status = sentinel_tests::wait_with_timeout(&mut agent.child, Duration::from_secs(20))
        .expect("the agent must exit when it cannot bind");
    assert_eq!(status.code(), Some(1));
    let log = agent.log();
    assert!(
        log.contains(&format!("127.0.0.1:{port}")),
        "names the address: {log}"
    );
    assert!(log.to_lowercase().contains("in use"), "says why: {log}");
    assert!(
        log.contains("protocols.grpc.endpoint"),
        "names the setting: {log}"
    );
    assert_eq!(
        log.matches(&format!("127.0.0.1:{port}")).count(),
        1,
        "printed once: {log}"
    );
    assert!(
        !log.contains('\x1b'),
        "no colour codes in a log file: {log:?}"
    );
    drop(taken);

    // The admin address taken: the error names the setting and its variable, once.
    let admin_taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let admin = admin_taken.local_addr().unwrap().port();
    let config = format!(
        "{}exporters:\n  blackhole:\nservice:\n  telemetry:\n    metrics:\n      address: 127.0.0.1:{admin}\n  pipelines:\n    traces:\n      receivers: [otlp]\n      exporters: [blackhole]\n",
        receiver(free_port(), free_port())
    );
    let mut agent = Agent::spawn(dir.path(), "admin-taken", &config, admin);
    let status = sentinel_tests::wait_with_timeout(&mut agent.child, Duration::from_secs(20))
        .expect("the agent must exit when it cannot bind its admin address");
    assert_eq!(status.code(), Some(1));
    let log = agent.log();
    for needle in [
        "service.telemetry.metrics.address",
        "SENTINEL_ADMIN_ADDRESS",
    ] {
        assert!(log.contains(needle), "names {needle}: {log}");
    }
    assert_eq!(
        log.matches(&format!("127.0.0.1:{admin}")).count(),
        1,
        "printed once: {log}"
    );
    assert!(
        !log.contains('\x1b'),
        "no colour codes in a log file: {log:?}"
    );
    drop(admin_taken);
}

#[test]
fn a_dead_downstream_does_not_stall_the_other_exporter() {
    let dir = tempfile::tempdir().unwrap();
    let (grpc, http, admin) = (free_port(), free_port(), free_port());
    let dead = free_port();
    let out = dir.path().join("out.jsonl");
    let agent = Agent::start(
        dir.path(),
        "agent",
        &format!(
            "{}exporters:\n  otlp/dead:\n    endpoint: 127.0.0.1:{dead}\n    tls:\n      insecure: true\n    sending_queue:\n      queue_size: 5\n    retry_on_failure:\n      initial_interval: 50ms\n      max_interval: 100ms\n  file:\n    path: {}\nservice:\n  telemetry:\n    metrics:\n      address: 127.0.0.1:{admin}\n  pipelines:\n    traces:\n      receivers: [otlp]\n      exporters: [otlp/dead, file]\n",
            receiver(grpc, http),
            out.display()
        ),
        admin,
    );
    for i in 0..30 {
        // Once the dead exporter's queue is full clients are refused (and would retry),
        // but the file exporter keeps getting every request.
        let (status, _) = post(
            http,
            "/v1/traces",
            "application/json",
            None,
            one_span_json(&format!("s{i}")).as_bytes(),
        );
        assert!(status == 200 || status == 429, "status {status}");
    }
    assert!(
        eventually(Duration::from_secs(10), || written_spans(&out).len() == 30),
        "file got {} of 30; log:\n{}",
        written_spans(&out).len(),
        agent.log()
    );
    let refused = agent
        .metric_value(
            "sentinel_component_refused_items_total",
            &["component_id=\"otlp/dead\""],
        )
        .unwrap_or(0.0);
    assert!(refused > 0.0, "the full queue refused and counted it");
    assert!(agent.terminate(Duration::from_secs(20)).success());
}

#[test]
fn sigterm_drains_what_the_batch_processor_holds() {
    let dir = tempfile::tempdir().unwrap();
    let (grpc, http, admin) = (free_port(), free_port(), free_port());
    let out = dir.path().join("out.jsonl");
    let agent = Agent::start(
        dir.path(),
        "agent",
        &format!(
            "{}processors:\n  batch:\n    timeout: 60s\nexporters:\n  file:\n    path: {}\nservice:\n  shutdown_timeout: 5s\n  telemetry:\n    metrics:\n      address: 127.0.0.1:{admin}\n  pipelines:\n    traces:\n      receivers: [otlp]\n      processors: [batch]\n      exporters: [file]\n",
            receiver(grpc, http),
            out.display()
        ),
        admin,
    );
    // The client waits for its acknowledgement while its span sits in the batch.
    let client = std::thread::spawn(move || {
        post(
            http,
            "/v1/traces",
            "application/json",
            None,
            one_span_json("held-in-batch").as_bytes(),
        )
    });
    std::thread::sleep(Duration::from_millis(500));
    assert!(
        written_spans(&out).is_empty(),
        "still batched, not yet written"
    );
    let status = agent.terminate(Duration::from_secs(10));
    assert!(status.success(), "{status:?}");
    let (code, _) = client.join().unwrap();
    assert_eq!(code, 200, "acknowledged once the drain wrote it");
    let spans = written_spans(&out);
    assert_eq!(spans.len(), 1);
    assert_eq!(spans[0]["name"], "held-in-batch");
}

#[test]
fn the_count_connector_feeds_a_metrics_pipeline_served_to_prometheus() {
    let dir = tempfile::tempdir().unwrap();
    let (grpc, http, admin, prom) = (free_port(), free_port(), free_port(), free_port());
    let agent = Agent::start(
        dir.path(),
        "agent",
        &format!(
            "{}exporters:\n  prometheus:\n    endpoint: 127.0.0.1:{prom}\n  blackhole:\nconnectors:\n  count:\nservice:\n  telemetry:\n    metrics:\n      address: 127.0.0.1:{admin}\n  pipelines:\n    traces:\n      receivers: [otlp]\n      exporters: [blackhole, count]\n    metrics:\n      receivers: [count]\n      exporters: [prometheus]\n",
            receiver(grpc, http)
        ),
        admin,
    );
    for i in 0..3 {
        let (status, _) = post(
            http,
            "/v1/traces",
            "application/json",
            None,
            one_span_json(&format!("c{i}")).as_bytes(),
        );
        assert_eq!(status, 200);
    }
    let scrape = || {
        sentinel_tests::http_get(prom, "/metrics")
            .map(|(_, b)| b)
            .unwrap_or_default()
    };
    assert!(
        eventually(Duration::from_secs(10), || scrape()
            .contains("trace_span_count_total{job=\"json-client\"} 3")),
        "delta counts accumulate to 3:\n{}\n{}",
        scrape(),
        agent.log()
    );
    assert!(agent.terminate(Duration::from_secs(15)).success());
}
