use std::convert::Infallible;
use std::io::Read;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use http_body_util::{BodyExt, Full};
use hyper::{Response, StatusCode};
use hyper_util::rt::{TokioExecutor, TokioIo};
use prost::Message as _;
use sentinel_pipeline::otlp::collector::trace::v1::ExportTraceServiceRequest;
use sentinel_pipeline::otlp::trace::v1::{ResourceSpans, ScopeSpans, Span};

use sentinel_pipeline::config::ComponentConfig;
use sentinel_pipeline::tls::ClientTlsConfig;
use tokio_rustls::TlsAcceptor;

use super::*;

type Seen = Arc<Mutex<Vec<(String, Option<String>, Option<String>, Vec<u8>)>>>;

/// A real HTTP server answering every request with `status` (and `Retry-After: 3`).
async fn start(status: StatusCode) -> (SocketAddr, Seen) {
    start_with(status, None).await
}

/// As [`start`], speaking HTTPS when `tls` is set.
async fn start_with(status: StatusCode, tls: Option<TlsAcceptor>) -> (SocketAddr, Seen) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let seen: Seen = Arc::default();
    let record = seen.clone();
    tokio::spawn(async move {
        loop {
            let (stream, _) = listener.accept().await.unwrap();
            let (record, tls) = (record.clone(), tls.clone());
            tokio::spawn(async move {
                match tls {
                    None => serve(stream, record, status).await,
                    // A client that rejects our certificate ends the handshake.
                    Some(tls) => {
                        if let Ok(stream) = tls.accept(stream).await {
                            serve(stream, record, status).await
                        }
                    }
                }
            });
        }
    });
    (addr, seen)
}

async fn serve<S>(io: S, record: Seen, status: StatusCode)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let service = hyper::service::service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
        let record = record.clone();
        async move {
            let header = |name: &str| {
                req.headers()
                    .get(name)
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_string)
            };
            let (path, ctype, encoding) = (
                req.uri().path().to_string(),
                header("content-type"),
                header("content-encoding"),
            );
            let body = req.into_body().collect().await.unwrap().to_bytes().to_vec();
            record.lock().unwrap().push((path, ctype, encoding, body));
            let mut response = Response::new(Full::new(Bytes::from_static(b"nope")));
            *response.status_mut() = status;
            response
                .headers_mut()
                .insert(RETRY_AFTER, HeaderValue::from_static("3"));
            Ok::<_, Infallible>(response)
        }
    });
    let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
        .serve_connection(TokioIo::new(io), service)
        .await;
}

/// A self-signed certificate for `otlp.example` made by `openssl` in `dir`, and a TLS
/// acceptor serving it.
pub(crate) fn self_signed(dir: &std::path::Path) -> TlsAcceptor {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let out = std::process::Command::new("openssl")
        .current_dir(dir)
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
        ])
        .args(["-nodes", "-days", "2", "-subj", "/CN=otlp.example"])
        .args(["-addext", "subjectAltName=DNS:otlp.example"])
        .args(["-addext", "basicConstraints=critical,CA:FALSE"])
        .args(["-keyout", "server.key", "-out", "server.crt"])
        .output()
        .expect("run openssl (apt-get install openssl)");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let chain = CertificateDer::pem_file_iter(dir.join("server.crt"))
        .unwrap()
        .collect::<Result<Vec<_>, _>>()
        .unwrap();
    let key = PrivateKeyDer::from_pem_file(dir.join("server.key")).unwrap();
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(chain, key)
    .unwrap();
    TlsAcceptor::from(Arc::new(config))
}

fn config(addr: SocketAddr, encoding: Encoding) -> OtlpHttpConfig {
    OtlpHttpConfig {
        endpoint: Some(format!("http://{addr}")),
        traces_endpoint: None,
        metrics_endpoint: None,
        logs_endpoint: None,
        encoding,
        compression: Compression::Gzip,
        headers: Default::default(),
        tls: Default::default(),
        timeout: Duration::from_secs(2),
        sending_queue: Default::default(),
        retry_on_failure: Default::default(),
    }
}

fn request() -> ExportTraceServiceRequest {
    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            scope_spans: vec![ScopeSpans {
                spans: vec![Span {
                    name: "over-http".into(),
                    trace_id: vec![1; 16],
                    span_id: vec![2; 8],
                    ..Default::default()
                }],
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}

fn gunzip(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(bytes)
        .read_to_end(&mut out)
        .unwrap();
    out
}

#[tokio::test]
async fn protobuf_and_json_bodies_decode_back() {
    let (addr, seen) = start(StatusCode::OK).await;
    OtlpHttpExporter::new(&config(addr, Encoding::Proto))
        .unwrap()
        .export(Payload::Traces(request()))
        .await
        .unwrap();
    OtlpHttpExporter::new(&config(addr, Encoding::Json))
        .unwrap()
        .export(Payload::Traces(request()))
        .await
        .unwrap();
    let seen = seen.lock().unwrap();
    assert_eq!(seen[0].0, "/v1/traces");
    assert_eq!(seen[0].1.as_deref(), Some("application/x-protobuf"));
    assert_eq!(seen[0].2.as_deref(), Some("gzip"));
    assert_eq!(
        ExportTraceServiceRequest::decode(gunzip(&seen[0].3).as_slice()).unwrap(),
        request()
    );
    assert_eq!(seen[1].1.as_deref(), Some("application/json"));
    let json: ExportTraceServiceRequest = serde_json::from_slice(&gunzip(&seen[1].3)).unwrap();
    assert_eq!(json, request());
}

#[tokio::test]
async fn statuses_map_per_the_otlp_spec() {
    let (addr, _) = start(StatusCode::TOO_MANY_REQUESTS).await;
    let exporter = OtlpHttpExporter::new(&config(addr, Encoding::Proto)).unwrap();
    match exporter.export(Payload::Traces(request())).await {
        Err(ExportError::Retryable { retry_after, .. }) => {
            assert_eq!(retry_after, Some(Duration::from_secs(3)))
        }
        other => panic!("429 must be retryable with Retry-After: {other:?}"),
    }
    let (addr, _) = start(StatusCode::SERVICE_UNAVAILABLE).await;
    let exporter = OtlpHttpExporter::new(&config(addr, Encoding::Proto)).unwrap();
    assert!(matches!(
        exporter.export(Payload::Traces(request())).await,
        Err(ExportError::Retryable { .. })
    ));
    let (addr, _) = start(StatusCode::BAD_REQUEST).await;
    let exporter = OtlpHttpExporter::new(&config(addr, Encoding::Proto)).unwrap();
    assert!(matches!(
        exporter.export(Payload::Traces(request())).await,
        Err(ExportError::Permanent { .. })
    ));
}

#[tokio::test]
async fn a_dead_sink_is_retryable() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let exporter = OtlpHttpExporter::new(&config(port, Encoding::Proto)).unwrap();
    assert!(matches!(
        exporter.export(Payload::Traces(request())).await,
        Err(ExportError::Retryable { .. })
    ));
}

#[test]
fn urls_and_overrides() {
    let mut c = config("127.0.0.1:4318".parse().unwrap(), Encoding::Proto);
    c.logs_endpoint = Some("http://logs:9000/custom".into());
    assert_eq!(
        c.url(Signal::Metrics).unwrap().to_string(),
        "http://127.0.0.1:4318/v1/metrics"
    );
    assert_eq!(
        c.url(Signal::Logs).unwrap().to_string(),
        "http://logs:9000/custom"
    );
    c.endpoint = Some("ftp://files:21".into());
    assert!(c
        .url(Signal::Traces)
        .unwrap_err()
        .to_string()
        .contains("https://"));
}

#[tokio::test]
async fn https_checks_the_certificate_and_delivers() {
    let dir = tempfile::tempdir().unwrap();
    let (addr, seen) = start_with(StatusCode::OK, Some(self_signed(dir.path()))).await;
    let https = |tls: ClientTlsConfig| OtlpHttpConfig {
        endpoint: Some(format!("https://{addr}")),
        tls,
        ..config(addr, Encoding::Proto)
    };
    let ca_file = Some(dir.path().join("server.crt"));

    // The bundled public roots do not know our certificate.
    let exporter = OtlpHttpExporter::new(&https(ClientTlsConfig::default())).unwrap();
    let refused = exporter
        .export(Payload::Traces(request()))
        .await
        .unwrap_err();
    assert!(
        format!("{refused:?}").contains("certificate"),
        "{refused:?}"
    );
    // Trusted, but 127.0.0.1 is not the name on it.
    let wrong_name = ClientTlsConfig {
        ca_file: ca_file.clone(),
        ..ClientTlsConfig::default()
    };
    let exporter = OtlpHttpExporter::new(&https(wrong_name)).unwrap();
    let refused = exporter
        .export(Payload::Traces(request()))
        .await
        .unwrap_err();
    assert!(
        format!("{refused:?}").contains("not valid for name"),
        "{refused:?}"
    );
    assert!(
        seen.lock().unwrap().is_empty(),
        "nothing went over an unchecked connection"
    );

    let trusted = ClientTlsConfig {
        ca_file,
        server_name_override: Some("otlp.example".into()),
        ..ClientTlsConfig::default()
    };
    OtlpHttpExporter::new(&https(trusted))
        .unwrap()
        .export(Payload::Traces(request()))
        .await
        .unwrap();
    let skip = ClientTlsConfig {
        insecure_skip_verify: true,
        ..ClientTlsConfig::default()
    };
    OtlpHttpExporter::new(&https(skip))
        .unwrap()
        .export(Payload::Traces(request()))
        .await
        .unwrap();
    let seen = seen.lock().unwrap();
    assert_eq!(seen.len(), 2);
    assert_eq!(
        ExportTraceServiceRequest::decode(gunzip(&seen[0].3).as_slice()).unwrap(),
        request()
    );
}

#[test]
fn tls_settings_must_match_the_scheme() {
    let mut c = config("127.0.0.1:4318".parse().unwrap(), Encoding::Proto);
    c.tls.ca_file = Some("/etc/ca.pem".into());
    assert!(c
        .validate()
        .unwrap_err()
        .to_string()
        .contains("https:// URLs only"));
    c.tls = ClientTlsConfig {
        insecure: true,
        ..ClientTlsConfig::default()
    };
    assert!(
        c.validate().is_ok(),
        "Collector configs say insecure: true for http://"
    );
    c.endpoint = Some("https://collector:4318".into());
    assert!(c
        .validate()
        .unwrap_err()
        .to_string()
        .contains("tls.insecure"));
    c.tls = ClientTlsConfig {
        cert_file: Some("/etc/client.crt".into()),
        ..ClientTlsConfig::default()
    };
    assert!(c.validate().unwrap_err().to_string().contains("key_file"));
}

/// The message of a failed export.
async fn failure(config: &OtlpHttpConfig) -> String {
    let exporter = OtlpHttpExporter::new(config).unwrap();
    match exporter.export(Payload::Traces(request())).await {
        Err(ExportError::Retryable { message, .. } | ExportError::Permanent { message }) => message,
        Ok(()) => panic!("export to {:?} succeeded", config.endpoint),
    }
}

#[tokio::test]
async fn connection_failures_name_the_url_and_the_cause() {
    let addr = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    assert_eq!(
        failure(&config(addr, Encoding::Proto)).await,
        format!("cannot reach http://{addr}/v1/traces: connection refused (nothing listens there)")
    );
    let mut c = config(addr, Encoding::Proto);
    c.endpoint = Some("http://nonexistent.invalid:4318".into());
    assert_eq!(
        failure(&c).await,
        "cannot reach http://nonexistent.invalid:4318/v1/traces: no such host `nonexistent.invalid`"
    );
}

#[tokio::test]
async fn https_against_a_plaintext_server_says_to_set_insecure() {
    let (addr, seen) = start(StatusCode::OK).await;
    let mut c = config(addr, Encoding::Proto);
    c.endpoint = Some(format!("https://{addr}"));
    c.tls = ClientTlsConfig {
        insecure_skip_verify: true,
        ..Default::default()
    };
    let message = failure(&c).await;
    assert!(
        message.starts_with(&format!(
            "cannot reach https://{addr}/v1/traces: the server does not speak TLS; set `tls.insecure: true`"
        )),
        "{message}"
    );
    assert!(seen.lock().unwrap().is_empty());
}
