//! What the notification tests share: a recording HTTP receiver that answers scripted
//! statuses, alert records sent over OTLP/HTTP, and agent configs.

#![allow(dead_code)]

use std::collections::VecDeque;
use std::io::{BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use prost::Message;
use sentinel_exporters::notify::testing::{alerts_request, AlertSpec};

/// Statuses still to answer, each with an optional `Retry-After` in seconds.
type Script = Arc<Mutex<VecDeque<(u16, Option<u64>)>>>;

/// One request the receiver got, and the status it answered.
#[derive(Debug, Clone)]
pub struct Received {
    pub path: String,
    pub body: serde_json::Value,
    pub status: u16,
    pub at: std::time::Instant,
}

/// An HTTP server on 127.0.0.1 that records every request and answers the scripted
/// statuses in order (`(status, Retry-After seconds)`), then `default`.
pub struct HttpReceiver {
    pub port: u16,
    pub received: Arc<Mutex<Vec<Received>>>,
    script: Script,
}

impl HttpReceiver {
    /// Port 0 lets the system pick a free port (no window for another process to take
    /// it between choosing and binding); `port` then holds the one it picked.
    pub fn start(port: u16, script: &[(u16, Option<u64>)], default: u16) -> HttpReceiver {
        let listener = TcpListener::bind(("127.0.0.1", port)).expect("bind the test receiver");
        let port = listener.local_addr().expect("a bound address").port();
        let received = Arc::new(Mutex::new(Vec::new()));
        let script: Script = Arc::new(Mutex::new(script.iter().copied().collect()));
        let (r, s) = (received.clone(), script.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let (r, s) = (r.clone(), s.clone());
                std::thread::spawn(move || serve(stream, &r, &s, default));
            }
        });
        HttpReceiver {
            port,
            received,
            script,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    pub fn all(&self) -> Vec<Received> {
        self.received.lock().unwrap().clone()
    }

    pub fn path_count(&self, path: &str) -> usize {
        self.all().iter().filter(|r| r.path == path).count()
    }

    /// Requests answered 2xx.
    pub fn accepted(&self) -> Vec<Received> {
        self.all()
            .into_iter()
            .filter(|r| (200..300).contains(&r.status))
            .collect()
    }
}

fn serve(
    stream: TcpStream,
    received: &Mutex<Vec<Received>>,
    script: &Mutex<VecDeque<(u16, Option<u64>)>>,
    default: u16,
) {
    let mut reader = BufReader::new(stream.try_clone().expect("clone stream"));
    while let Some((line, body)) = sentinel_tests::read_http_request(&mut reader) {
        let path = line.split_whitespace().nth(1).unwrap_or("").to_string();
        let (status, retry_after) = script
            .lock()
            .unwrap()
            .pop_front()
            .unwrap_or((default, None));
        received.lock().unwrap().push(Received {
            path,
            body: serde_json::from_slice(&body).unwrap_or(serde_json::Value::Null),
            status,
            at: std::time::Instant::now(),
        });
        let extra = retry_after
            .map(|s| format!("Retry-After: {s}\r\n"))
            .unwrap_or_default();
        let answer = format!(
            "HTTP/1.1 {status} X\r\n{extra}Content-Length: 2\r\nContent-Type: text/plain\r\n\r\nok"
        );
        let mut writer = &stream;
        if writer.write_all(answer.as_bytes()).is_err() {
            return;
        }
    }
}

/// Posts alert records to the agent's OTLP/HTTP receiver, as the alert_rules connector
/// would emit them.
pub fn send_alerts(otlp_port: u16, alerts: &[AlertSpec]) {
    let body = alerts_request(alerts).encode_to_vec();
    let mut stream = TcpStream::connect(("127.0.0.1", otlp_port)).expect("connect to the agent");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let head = format!(
        "POST /v1/logs HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/x-protobuf\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).unwrap();
    stream.write_all(&body).unwrap();
    let mut answer = String::new();
    let _ = stream.read_to_string(&mut answer);
    assert!(
        answer.starts_with("HTTP/1.1 200"),
        "the agent refused the alerts: {answer}"
    );
}

/// An agent config: OTLP/HTTP in, `exporters` (YAML under `exporters:`, indented two
/// spaces) on one logs pipeline.
pub fn agent_config(
    data_dir: &Path,
    otlp: u16,
    admin: u16,
    exporters_yaml: &str,
    names: &[&str],
) -> String {
    format!(
        "receivers:\n  otlp:\n    protocols:\n      http:\n        endpoint: 127.0.0.1:{otlp}\nexporters:\n{exporters_yaml}service:\n  data_dir: {}\n  shutdown_timeout: 5s\n  telemetry:\n    metrics:\n      address: 127.0.0.1:{admin}\n  pipelines:\n    logs:\n      receivers: [otlp]\n      exporters: [{}]\n",
        data_dir.display(),
        names.join(", ")
    )
}

/// Fast grouping for tests: `group_wait` 1s, `group_interval` 2s, `repeat_interval` 1h.
pub const FAST_ROUTE: &str = "    route:\n      group_by: [alertname]\n      group_wait: 1s\n      group_interval: 2s\n      repeat_interval: 1h\n";

/// Short retries for tests, until delivered (as the default).
pub const FAST_RETRY: &str = "    retry_on_failure:\n      initial_interval: 200ms\n      max_interval: 1s\n      max_elapsed_time: 0s\n";
