//! `sentinel run` with the embedded default config shows life within seconds with no app
//! sending: a banner that says where to send data and how to stop, then a summary line
//! with every signal's count (zeros included) and a host heartbeat.

use std::process::{Command, Stdio};
use std::time::Duration;

use sentinel_tests::{
    eventually, free_port, http_get, http_post_json, sentinel_bin, signal, wait_with_timeout,
};

#[test]
fn the_default_run_prints_a_banner_and_a_summary_within_seconds() {
    let dir = tempfile::tempdir().unwrap();
    let log_path = dir.path().join("agent.log");
    let log = std::fs::File::create(&log_path).unwrap();
    let [grpc, http, admin] = [0; 3].map(|_| free_port());
    let mut child = Command::new(sentinel_bin())
        .arg("run")
        .env("SENTINEL_OTLP_GRPC_ENDPOINT", format!("127.0.0.1:{grpc}"))
        .env("SENTINEL_OTLP_HTTP_ENDPOINT", format!("127.0.0.1:{http}"))
        .env("SENTINEL_ADMIN_ADDRESS", format!("127.0.0.1:{admin}"))
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .stdin(Stdio::null())
        .spawn()
        .unwrap();
    let read_log = || std::fs::read_to_string(&log_path).unwrap_or_default();
    assert!(
        eventually(Duration::from_secs(20), || http_get(admin, "/readyz")
            .is_some_and(|(s, _)| s == 200)),
        "not ready: {}",
        read_log()
    );
    let span = r#"{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"5b8efff798038103d269b633813fc60c","spanId":"eee19b7ec3c1b174","name":"hello"}]}]}]}"#;
    assert_eq!(http_post_json(http, "/v1/traces", span).0, 200);

    let banner =
        format!("Send data to: OTLP/gRPC 127.0.0.1:{grpc}; OTLP/HTTP http://127.0.0.1:{http}/v1/");
    assert!(read_log().contains(&banner), "banner: {}", read_log());
    assert!(read_log().contains(&format!("http://127.0.0.1:{admin}/metrics")));
    assert!(read_log().contains("Stop with Ctrl-C or SIGTERM"));
    let summary =
        "received 1 spans, 0 data points, 0 log records; refused 0, dropped 0. Host: CPU ";
    assert!(
        eventually(Duration::from_secs(15), || read_log().contains(summary)),
        "no summary within seconds: {}",
        read_log()
    );
    let line = read_log()
        .lines()
        .find(|l| l.contains(summary))
        .unwrap()
        .to_string();
    assert!(
        line.contains("memory ") && line.contains("load ") && !line.contains("n/a"),
        "{line}"
    );

    signal(child.id(), "TERM");
    let status = wait_with_timeout(&mut child, Duration::from_secs(15)).expect("stops");
    assert!(status.success(), "{}", read_log());
}
