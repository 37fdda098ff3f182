//! Probes against servers the tests start on loopback: plain HTTP and TLS with a
//! certificate made here (rcgen) that expires in two minutes.

use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use opentelemetry_proto::tonic::metrics::v1::Metric;
use sentinel_pipeline::config::ComponentConfig;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpListener;

use super::config::{HttpCheckConfig, HttpTarget, Validation};
use super::scraper::HttpCheckScraper;
use crate::receivers::compliance_client::free_port;
use crate::receivers::scrape::Scraper;
use crate::receivers::tcpcheck::tests::{points, Point};

/// What the test server does with each request.
#[derive(Clone, Copy)]
enum Behaviour {
    Respond(u16, &'static str),
    /// Reads the request and never answers.
    Stall,
}

/// A loopback server; `requests` holds what it was sent.
struct Server {
    port: u16,
    requests: Arc<Mutex<Vec<String>>>,
}

async fn serve(behaviour: Behaviour, tls: Option<tokio_rustls::TlsAcceptor>) -> Server {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let requests = Arc::new(Mutex::new(Vec::new()));
    let seen = requests.clone();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let (tls, seen) = (tls.clone(), seen.clone());
            tokio::spawn(async move {
                match tls {
                    Some(acceptor) => {
                        if let Ok(stream) = acceptor.accept(stream).await {
                            answer(stream, behaviour, seen).await;
                        }
                    }
                    None => answer(stream, behaviour, seen).await,
                }
            });
        }
    });
    Server { port, requests }
}

async fn answer<S: AsyncRead + AsyncWrite + Unpin>(
    mut stream: S,
    behaviour: Behaviour,
    seen: Arc<Mutex<Vec<String>>>,
) {
    let mut request = Vec::new();
    let mut buf = [0u8; 4096];
    while let Ok(n) = stream.read(&mut buf).await {
        if n == 0 {
            return;
        }
        request.extend_from_slice(&buf[..n]);
        if request.windows(4).any(|w| w == b"\r\n\r\n") {
            break;
        }
    }
    // A request with a body: give it a moment to arrive whole (tests send a few bytes).
    tokio::time::sleep(Duration::from_millis(20)).await;
    if let Ok(Ok(n)) = tokio::time::timeout(Duration::from_millis(20), stream.read(&mut buf)).await
    {
        request.extend_from_slice(&buf[..n]);
    }
    seen.lock()
        .unwrap()
        .push(String::from_utf8_lossy(&request).into_owned());
    match behaviour {
        Behaviour::Stall => tokio::time::sleep(Duration::from_secs(3600)).await,
        Behaviour::Respond(status, body) => {
            let response = format!(
                "HTTP/1.1 {status} Test\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = stream.write_all(response.as_bytes()).await;
            let _ = stream.shutdown().await;
        }
    }
}

fn target(url: String) -> HttpTarget {
    HttpTarget {
        endpoint: Some(url),
        timeout: Duration::from_secs(5),
        ..HttpTarget::default()
    }
}

/// One round over `targets`, as the metrics it reports.
async fn probe(targets: Vec<HttpTarget>) -> Vec<Metric> {
    let config = HttpCheckConfig {
        targets,
        ..HttpCheckConfig::default()
    };
    config.validate().expect("a valid config");
    let mut scraper = HttpCheckScraper::new(&config).expect("builds");
    let mut round = scraper.scrape().await.expect("a round");
    round.remove(0).scope_metrics.remove(0).metrics
}

fn only(metrics: &[Metric], name: &str) -> Point {
    let mut found = points(metrics, name);
    assert_eq!(found.len(), 1, "{name}: {found:?}");
    found.remove(0)
}

#[tokio::test]
async fn each_status_class_is_one_for_the_class_seen_and_zero_for_the_others() {
    for (status, class) in [(200, "2xx"), (404, "4xx"), (503, "5xx")] {
        let server = serve(Behaviour::Respond(status, "hello"), None).await;
        let url = format!("http://127.0.0.1:{}/health", server.port);
        let metrics = probe(vec![target(url.clone())]).await;
        let status_points = points(&metrics, "httpcheck.status");
        assert_eq!(status_points.len(), 5, "one point per class");
        for point in &status_points {
            assert_eq!(point.get("http.url"), url);
            assert_eq!(point.get("http.method"), "GET");
            assert_eq!(point.get("http.status_code"), status.to_string());
            let expected = i64::from(point.get("http.status_class") == class);
            assert_eq!(point.value, expected, "{status}: {point:?}");
        }
        assert!(points(&metrics, "httpcheck.error").is_empty(), "{status}");
        assert_eq!(only(&metrics, "httpcheck.response.size").value, 5);
    }
}

#[tokio::test]
async fn a_plain_probe_times_every_phase_but_tls_and_the_phases_fit_in_the_duration() {
    let server = serve(Behaviour::Respond(200, "ok"), None).await;
    let metrics = probe(vec![target(format!("http://localhost:{}/", server.port))]).await;
    let phase = |name| only(&metrics, name).value;
    let phases = [
        phase("httpcheck.dns.lookup.duration"),
        phase("httpcheck.client.connection.duration"),
        phase("httpcheck.client.request.duration"),
        phase("httpcheck.response.first_byte.duration"),
        phase("httpcheck.response.duration"),
    ];
    assert!(phases.iter().all(|ns| *ns >= 0), "{phases:?}");
    assert!(
        phases[3] >= phases[2],
        "the first byte comes after the request is written"
    );
    assert!(points(&metrics, "httpcheck.tls.handshake.duration").is_empty());
    assert!(points(&metrics, "httpcheck.tls.cert_remaining").is_empty());
    // duration is whole milliseconds; the phases are nanoseconds of the same probe.
    let total_ns = (only(&metrics, "httpcheck.duration").value + 1) * 1_000_000;
    let dns_connect_ttfb_response = phases[0] + phases[1] + phases[3] + phases[4];
    assert!(
        dns_connect_ttfb_response <= total_ns,
        "{phases:?} within {total_ns}ns"
    );
}

#[tokio::test]
async fn method_headers_and_body_are_sent() {
    let server = serve(Behaviour::Respond(201, ""), None).await;
    let mut post = target(format!("http://127.0.0.1:{}/hook?x=1", server.port));
    post.method = "POST".into();
    post.body = "{\"ping\":1}".into();
    post.headers.insert(
        "X-Probe".into(),
        sentinel_pipeline::config::Secret::new("abc"),
    );
    let metrics = probe(vec![post]).await;
    assert_eq!(
        points(&metrics, "httpcheck.status")[0].get("http.method"),
        "POST"
    );
    let requests = server.requests.lock().unwrap().clone();
    let sent = &requests[0];
    assert!(sent.starts_with("POST /hook?x=1 HTTP/1.1\r\n"), "{sent}");
    assert!(
        sent.to_ascii_lowercase().contains("x-probe: abc\r\n"),
        "{sent}"
    );
    assert!(sent
        .to_ascii_lowercase()
        .contains(&format!("host: 127.0.0.1:{}\r\n", server.port)));
    assert!(sent.ends_with("{\"ping\":1}"), "{sent}");
}

#[tokio::test]
async fn a_stalled_server_times_out_waiting_for_the_first_byte() {
    let server = serve(Behaviour::Stall, None).await;
    let mut stalled = target(format!("http://127.0.0.1:{}/", server.port));
    stalled.timeout = Duration::from_millis(300);
    let metrics = probe(vec![stalled]).await;
    let error = only(&metrics, "httpcheck.error");
    assert_eq!(error.value, 1);
    assert_eq!(
        error.get("error.message"),
        "timeout after 300ms waiting for the first byte"
    );
    let took = only(&metrics, "httpcheck.duration").value;
    assert!((300..2000).contains(&took), "{took}ms");
    assert!(
        points(&metrics, "httpcheck.status").is_empty(),
        "no response"
    );
    assert_eq!(
        points(&metrics, "httpcheck.client.connection.duration").len(),
        1
    );
    assert!(points(&metrics, "httpcheck.response.first_byte.duration").is_empty());
}

#[tokio::test]
async fn a_refused_port_is_a_connect_error_after_the_lookup() {
    let url = format!("http://127.0.0.1:{}/", free_port());
    let metrics = probe(vec![target(url.clone())]).await;
    let error = only(&metrics, "httpcheck.error");
    assert_eq!(error.get("http.url"), url);
    let message = error.get("error.message");
    assert!(message.starts_with("connect: 127.0.0.1:"), "{message}");
    assert!(message.contains("refused"), "{message}");
    assert!(points(&metrics, "httpcheck.status").is_empty());
    assert_eq!(points(&metrics, "httpcheck.dns.lookup.duration").len(), 1);
    assert!(points(&metrics, "httpcheck.client.connection.duration").is_empty());
    assert_eq!(points(&metrics, "httpcheck.duration").len(), 1);
}

#[tokio::test]
async fn an_unexpected_status_is_an_error_besides_its_status_class() {
    let server = serve(Behaviour::Respond(503, "down"), None).await;
    let mut strict = target(format!("http://127.0.0.1:{}/", server.port));
    strict.expected_status = vec![200, 204];
    let metrics = probe(vec![strict]).await;
    let error = only(&metrics, "httpcheck.error");
    assert_eq!(
        error.get("error.message"),
        "unexpected status 503, expected [200, 204]"
    );
    let five = points(&metrics, "httpcheck.status");
    assert!(five
        .iter()
        .any(|p| p.get("http.status_class") == "5xx" && p.value == 1));

    let server = serve(Behaviour::Respond(204, ""), None).await;
    let mut strict = target(format!("http://127.0.0.1:{}/", server.port));
    strict.expected_status = vec![200, 204];
    let metrics = probe(vec![strict]).await;
    assert!(points(&metrics, "httpcheck.error").is_empty());
}

#[tokio::test]
async fn body_validations_pass_and_fail_by_type() {
    let server = serve(Behaviour::Respond(200, "{\"status\":\"degraded\"}"), None).await;
    let mut checked = target(format!("http://127.0.0.1:{}/", server.port));
    let validation = |f: fn(&mut Validation)| {
        let mut v = Validation::default();
        f(&mut v);
        v
    };
    checked.validations = vec![
        validation(|v| v.contains = Some("\"status\":\"ok\"".into())),
        validation(|v| v.regex = Some("\"status\":\"[a-z]+\"".into())),
        validation(|v| v.not_contains = Some("error".into())),
        validation(|v| v.max_size = Some(10)),
    ];
    let metrics = probe(vec![checked]).await;
    let by_type = |name| {
        points(&metrics, name)
            .into_iter()
            .map(|p| (p.get("validation.type").to_string(), p.value))
            .collect::<Vec<_>>()
    };
    assert_eq!(
        by_type("httpcheck.validation.failed"),
        [("contains".to_string(), 1), ("max_size".to_string(), 1)]
    );
    assert_eq!(
        by_type("httpcheck.validation.passed"),
        [("regex".to_string(), 1), ("not_contains".to_string(), 1)]
    );
    assert!(points(&metrics, "httpcheck.error").is_empty());
}

/// A self-signed certificate for `localhost` whose `notAfter` is `lifetime` seconds from
/// now (negative: already expired), as PEM (certificate, key), and that `notAfter` in
/// Unix seconds.
fn certificate(lifetime: i64) -> (String, String, u64) {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let not_after = now.checked_add_signed(lifetime).unwrap();
    let mut params = rcgen::CertificateParams::new(vec!["localhost".to_string()]).unwrap();
    let epoch = rcgen::date_time_ymd(1970, 1, 1);
    params.not_before = epoch + Duration::from_secs(now - 7200);
    params.not_after = epoch + Duration::from_secs(not_after);
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "probe-test");
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = params.self_signed(&key).unwrap();
    (cert.pem(), key.serialize_pem(), not_after)
}

fn acceptor(cert_pem: &str, key_pem: &str) -> tokio_rustls::TlsAcceptor {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let chain = vec![CertificateDer::from_pem_slice(cert_pem.as_bytes()).unwrap()];
    let key = PrivateKeyDer::from_pem_slice(key_pem.as_bytes()).unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .unwrap();
    tokio_rustls::TlsAcceptor::from(Arc::new(config))
}

#[tokio::test]
async fn a_certificate_that_expires_soon_reports_its_remaining_seconds() {
    let (cert, key, not_after) = certificate(120);
    let dir = tempfile::tempdir().unwrap();
    let ca_file = dir.path().join("ca.pem");
    std::fs::write(&ca_file, &cert).unwrap();
    let server = serve(
        Behaviour::Respond(200, "secure"),
        Some(acceptor(&cert, &key)),
    )
    .await;
    let mut secure = target(format!("https://localhost:{}/", server.port));
    secure.tls.ca_file = Some(ca_file);
    let metrics = probe(vec![secure]).await;
    assert!(
        points(&metrics, "httpcheck.error").is_empty(),
        "{metrics:?}"
    );
    let remaining = only(&metrics, "httpcheck.tls.cert_remaining");
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let expected = (not_after - now) as i64;
    assert!(
        (remaining.value - expected).abs() <= 3 && remaining.value <= 120,
        "cert_remaining {} against {expected}",
        remaining.value
    );
    assert_eq!(remaining.get("http.tls.cn"), "probe-test");
    assert_eq!(remaining.get("http.tls.issuer"), "CN=probe-test");
    assert_eq!(remaining.get("http.tls.san"), "localhost");
    assert_eq!(
        points(&metrics, "httpcheck.tls.handshake.duration").len(),
        1
    );
    let ok = points(&metrics, "httpcheck.status");
    assert!(ok
        .iter()
        .any(|p| p.get("http.status_class") == "2xx" && p.value == 1));
}

#[tokio::test]
async fn an_untrusted_certificate_fails_the_handshake() {
    let (cert, key, _) = certificate(3600);
    let server = serve(Behaviour::Respond(200, ""), Some(acceptor(&cert, &key))).await;
    // The bundled public roots do not trust a self-signed certificate.
    let metrics = probe(vec![target(format!("https://localhost:{}/", server.port))]).await;
    let error = only(&metrics, "httpcheck.error");
    assert!(error.get("error.message").starts_with("tls: "), "{error:?}");
    assert!(points(&metrics, "httpcheck.tls.cert_remaining").is_empty());

    let mut skip = target(format!("https://localhost:{}/", server.port));
    skip.tls.insecure_skip_verify = true;
    let metrics = probe(vec![skip]).await;
    assert!(points(&metrics, "httpcheck.error").is_empty());
    assert_eq!(points(&metrics, "httpcheck.tls.cert_remaining").len(), 1);
}

#[tokio::test]
async fn an_expired_certificate_fails_verification_and_reads_negative_when_unchecked() {
    let (cert, key, not_after) = certificate(-600);
    let dir = tempfile::tempdir().unwrap();
    let ca_file = dir.path().join("ca.pem");
    std::fs::write(&ca_file, &cert).unwrap();
    let server = serve(Behaviour::Respond(200, ""), Some(acceptor(&cert, &key))).await;
    let mut checked = target(format!("https://localhost:{}/", server.port));
    checked.tls.ca_file = Some(ca_file);
    let metrics = probe(vec![checked.clone()]).await;
    let error = only(&metrics, "httpcheck.error");
    assert!(error.get("error.message").contains("xpired"), "{error:?}");

    checked.tls.insecure_skip_verify = true;
    checked.tls.ca_file = None;
    let metrics = probe(vec![checked]).await;
    let remaining = only(&metrics, "httpcheck.tls.cert_remaining").value;
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let expected = not_after as i64 - now as i64;
    assert!(
        remaining < 0 && (remaining - expected).abs() <= 3,
        "{remaining}"
    );
}

#[test]
fn an_unreadable_ca_file_fails_the_start_naming_the_target() {
    let mut secure = target("https://localhost/".into());
    secure.tls.ca_file = Some("/nonexistent/ca.pem".into());
    let config = HttpCheckConfig {
        targets: vec![target("http://localhost/".into()), secure],
        ..HttpCheckConfig::default()
    };
    let error = HttpCheckScraper::new(&config)
        .err()
        .expect("refused")
        .to_string();
    assert!(
        error.starts_with("targets.1: tls: ") && error.contains("/nonexistent/ca.pem"),
        "{error}"
    );
}

#[tokio::test]
async fn endpoints_of_one_target_are_probed_each() {
    let (a, b) = (
        serve(Behaviour::Respond(200, ""), None).await,
        serve(Behaviour::Respond(500, ""), None).await,
    );
    let both = HttpTarget {
        endpoints: vec![
            format!("http://127.0.0.1:{}/a", a.port),
            format!("http://127.0.0.1:{}/b", b.port),
        ],
        ..HttpTarget::default()
    };
    let metrics = probe(vec![both]).await;
    let urls: Vec<String> = points(&metrics, "httpcheck.duration")
        .iter()
        .map(|p| p.get("http.url").to_string())
        .collect();
    assert_eq!(
        urls,
        [
            format!("http://127.0.0.1:{}/a", a.port),
            format!("http://127.0.0.1:{}/b", b.port)
        ]
    );
}

#[test]
fn bad_configs_are_refused_at_the_key() {
    let refused = |target: HttpTarget| {
        HttpCheckConfig {
            targets: vec![target],
            ..HttpCheckConfig::default()
        }
        .validate()
        .unwrap_err()
        .to_string()
    };
    assert!(HttpCheckConfig::default()
        .validate()
        .unwrap_err()
        .to_string()
        .contains("targets"));
    assert!(refused(HttpTarget::default()).contains("endpoint"));
    let error = refused(target("ftp://host/x".into()));
    assert!(
        error.contains("targets.0.endpoint") && error.contains("http://"),
        "{error}"
    );
    let mut two = target("http://h/".into());
    two.validations = vec![Validation {
        contains: Some("a".into()),
        regex: Some("b".into()),
        ..Validation::default()
    }];
    assert!(refused(two).contains("exactly one"));
    let mut bad_regex = target("http://h/".into());
    bad_regex.validations = vec![Validation {
        regex: Some("(".into()),
        ..Validation::default()
    }];
    assert!(refused(bad_regex).contains("targets.0.validations.0.regex"));
    let mut status = target("http://h/".into());
    status.expected_status = vec![200, 700];
    assert!(refused(status).contains("700"));
    let mut plaintext_tls = target("https://h/".into());
    plaintext_tls.tls.insecure = true;
    assert!(refused(plaintext_tls).contains("targets.0.tls.insecure"));
    let mut unused_tls = target("http://h/".into());
    unused_tls.tls.insecure_skip_verify = true;
    assert!(refused(unused_tls).contains("https:// URLs only"));
    let mut method = target("http://h/".into());
    method.method = "GE T".into();
    assert!(refused(method).contains("method"));
}
