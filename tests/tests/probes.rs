//! The `httpcheck` and `tcpcheck` receivers end to end: the real `sentinel` binary probes
//! loopback servers started here (a plain HTTP server answering 200 or 503, a port that
//! refuses, and `openssl s_server` with a certificate made by the test CA) every 300ms,
//! and the metrics are read back from its `prometheus` exporter.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use sentinel_tests::{certs, eventually, free_port, http_get, Agent};

const WAIT: Duration = Duration::from_secs(30);

/// A plain HTTP/1.1 server on its own thread answering every request with `status`.
fn http_server(status: u16, body: &'static str) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for mut stream in listener.incoming().flatten() {
            let mut request = Vec::new();
            let mut buf = [0u8; 1024];
            while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                match stream.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => request.extend_from_slice(&buf[..n]),
                }
            }
            let _ = write!(
                stream,
                "HTTP/1.1 {status} X\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    port
}

/// `openssl s_server -www` (a TLS server answering `GET /` with a status page), killed
/// when dropped.
struct TlsServer(Child);

impl TlsServer {
    fn start(dir: &std::path::Path, port: u16) -> TlsServer {
        let child = Command::new("openssl")
            .current_dir(dir)
            .args(["s_server", "-quiet", "-www", "-cert", "server.crt", "-key"])
            .args(["server.key", "-accept", &port.to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("run openssl s_server");
        let ready = eventually(Duration::from_secs(10), || {
            TcpStream::connect(("127.0.0.1", port)).is_ok()
        });
        assert!(ready, "openssl s_server did not listen on {port}");
        TlsServer(child)
    }
}

impl Drop for TlsServer {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The value of the first series of `name` whose labels include every `label="value"`.
fn value(text: &str, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    text.lines()
        .filter(|l| l.starts_with(&format!("{name}{{")))
        .find(|l| {
            labels
                .iter()
                .all(|(k, v)| l.contains(&format!("{k}=\"{v}\"")))
        })
        .and_then(|l| l.rsplit(' ').next()?.parse().ok())
}

/// The servers probed: ports, the URLs the agent is given, and the certificate's birth.
struct Targets {
    ok: u16,
    refused: u16,
    ok_url: String,
    down_url: String,
    refused_url: String,
    tls_url: String,
    /// When the test CA's server certificate (valid two days) was made, Unix seconds.
    made: u64,
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// The agent config: both receivers every 300ms into the prometheus exporter.
fn config(t: &Targets, ca: &std::path::Path, prom: u16, admin: u16) -> String {
    format!(
        "receivers:
  httpcheck:
    collection_interval: 300ms
    initial_delay: 0s
    targets:
      - endpoints: [{ok_url}, {down_url}, {refused_url}]
        timeout: 2s
        validations:
          - contains: good
      - endpoint: {tls_url}
        tls:
          ca_file: {ca}
  tcpcheck:
    collection_interval: 300ms
    initial_delay: 0s
    targets:
      - endpoint: 127.0.0.1:{ok}
      - endpoint: 127.0.0.1:{refused}
exporters:
  prometheus:
    endpoint: 127.0.0.1:{prom}
service:
  telemetry:
    metrics:
      address: 127.0.0.1:{admin}
  pipelines:
    metrics:
      receivers: [httpcheck, tcpcheck]
      exporters: [prometheus]
",
        ok_url = t.ok_url,
        down_url = t.down_url,
        refused_url = t.refused_url,
        tls_url = t.tls_url,
        ok = t.ok,
        refused = t.refused,
        ca = ca.display()
    )
}

#[test]
fn probes_report_status_classes_errors_phases_and_certificate_expiry() {
    let dir = tempfile::tempdir().unwrap();
    certs::make(dir.path(), "localhost");
    let made = unix_now();
    let (ok, down, refused, tls_port) = (
        http_server(200, "all good"),
        http_server(503, "down"),
        free_port(),
        free_port(),
    );
    let _tls = TlsServer::start(dir.path(), tls_port);
    let targets = Targets {
        ok,
        refused,
        ok_url: format!("http://127.0.0.1:{ok}/healthz"),
        down_url: format!("http://127.0.0.1:{down}/healthz"),
        refused_url: format!("http://127.0.0.1:{refused}/"),
        tls_url: format!("https://localhost:{tls_port}/"),
        made,
    };
    let (admin, prom) = (free_port(), free_port());
    let config = config(&targets, &dir.path().join("ca.crt"), prom, admin);
    let agent = Agent::start(dir.path(), "agent", &config, admin);
    let scrape = || {
        http_get(prom, "/metrics")
            .map(|(_, body)| body)
            .unwrap_or_default()
    };
    let all_there = eventually(WAIT, || {
        let text = scrape();
        value(&text, "httpcheck_tls_cert_remaining", &[]).is_some()
            && value(&text, "tcpcheck_error_total", &[]).is_some_and(|v| v >= 2.0)
    });
    let text = scrape();
    assert!(all_there, "metrics:\n{text}\nagent log:\n{}", agent.log());
    http_probes(&text, &targets);
    tls_probe(&text, &targets);
    tcp_probes(&text, &targets);
}

/// Status classes, the refused port's error and the body validation.
fn http_probes(text: &str, t: &Targets) {
    let status = |url: &str, class: &str| {
        value(
            text,
            "httpcheck_status",
            &[("http_url", url), ("http_status_class", class)],
        )
    };
    assert_eq!(status(&t.ok_url, "2xx"), Some(1.0), "{text}");
    assert_eq!(status(&t.ok_url, "5xx"), Some(0.0));
    assert_eq!(status(&t.down_url, "5xx"), Some(1.0));
    assert_eq!(status(&t.down_url, "2xx"), Some(0.0));
    assert_eq!(
        status(&t.refused_url, "2xx"),
        None,
        "no response, no status"
    );
    let error = value(text, "httpcheck_error", &[("http_url", &t.refused_url)]);
    assert_eq!(error, Some(1.0));
    assert!(
        text.contains("error_message=\"connect: 127.0.0.1:"),
        "{text}"
    );
    let validation = |name, url: &str| value(text, name, &[("http_url", url)]);
    assert_eq!(
        validation("httpcheck_validation_passed", &t.ok_url),
        Some(1.0)
    );
    assert_eq!(
        validation("httpcheck_validation_failed", &t.down_url),
        Some(1.0)
    );
}

/// The TLS server's status, certificate expiry (two days from when it was made) and
/// phases.
fn tls_probe(text: &str, t: &Targets) {
    let on_tls = [("http_url", t.tls_url.as_str())];
    let ok = [on_tls[0], ("http_status_class", "2xx")];
    assert_eq!(value(text, "httpcheck_status", &ok), Some(1.0), "{text}");
    let remaining = value(text, "httpcheck_tls_cert_remaining", &on_tls).expect("cert_remaining");
    let expected = (t.made + 2 * 86_400) as f64 - unix_now() as f64;
    assert!(
        (remaining - expected).abs() <= 5.0,
        "cert_remaining {remaining}, expected about {expected}"
    );
    assert!(text.contains("http_tls_cn=\"localhost\""), "{text}");
    for phase in [
        "httpcheck_dns_lookup_duration",
        "httpcheck_client_connection_duration",
        "httpcheck_tls_handshake_duration",
        "httpcheck_response_first_byte_duration",
    ] {
        assert!(value(text, phase, &on_tls).is_some(), "{phase}");
    }
}

/// The open port is up with a connect time; the closed one is down and counted.
fn tcp_probes(text: &str, t: &Targets) {
    let (open, closed) = (
        format!("127.0.0.1:{}", t.ok),
        format!("127.0.0.1:{}", t.refused),
    );
    let tcp = |name, endpoint: &str| value(text, name, &[("tcpcheck_endpoint", endpoint)]);
    assert_eq!(tcp("tcpcheck_status", &open), Some(1.0));
    assert_eq!(tcp("tcpcheck_status", &closed), Some(0.0));
    assert!(tcp("tcpcheck_duration", &open).is_some(), "{text}");
    let refused_errors = value(
        text,
        "tcpcheck_error_total",
        &[
            ("tcpcheck_endpoint", &closed),
            ("error_code", "connection_refused"),
        ],
    );
    assert!(refused_errors.is_some_and(|n| n >= 2.0), "{text}");
}
