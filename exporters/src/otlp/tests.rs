use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use sentinel_pipeline::config::Secret;
use sentinel_pipeline::otlp::collector::trace::v1::trace_service_server::{
    TraceService, TraceServiceServer,
};
use sentinel_pipeline::otlp::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use sentinel_pipeline::otlp::trace::v1::{ResourceSpans, ScopeSpans, Span};
use sentinel_pipeline::tls::ClientTlsConfig;
use tokio::net::TcpListener;
use tonic::{Request, Response, Status};

use super::*;

/// A real gRPC trace server that records what it gets, or answers with `fail_with`.
/// A request with its `grpc-encoding` and `x-api-key` metadata.
type Received = (ExportTraceServiceRequest, Option<String>, Option<String>);

#[derive(Clone, Default)]
struct Sink {
    seen: Arc<Mutex<Vec<Received>>>,
    fail_with: Option<tonic::Code>,
}

#[tonic::async_trait]
impl TraceService for Sink {
    async fn export(
        &self,
        request: Request<ExportTraceServiceRequest>,
    ) -> Result<Response<ExportTraceServiceResponse>, Status> {
        if let Some(code) = self.fail_with {
            return Err(Status::new(code, "told to fail"));
        }
        let meta = |k: &str| {
            request
                .metadata()
                .get(k)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
        };
        let (encoding, key) = (meta("grpc-encoding"), meta("x-api-key"));
        self.seen
            .lock()
            .unwrap()
            .push((request.into_inner(), encoding, key));
        Ok(Response::new(ExportTraceServiceResponse::default()))
    }
}

/// Accepted connections as a stream for tonic's `serve_with_incoming`.
fn incoming(
    listener: TcpListener,
) -> impl futures::Stream<Item = std::io::Result<tokio::net::TcpStream>> {
    futures::stream::unfold(listener, |listener| async move {
        let accepted = listener.accept().await.map(|(stream, _)| stream);
        Some((accepted, listener))
    })
}

async fn start(sink: Sink) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(TraceServiceServer::new(sink).accept_compressed(CompressionEncoding::Gzip))
            .serve_with_incoming(incoming(listener)),
    );
    addr
}

fn config(addr: SocketAddr) -> OtlpConfig {
    OtlpConfig {
        endpoint: addr.to_string(),
        compression: Compression::Gzip,
        headers: [("x-api-key".to_string(), Secret::new("s3cret"))].into(),
        timeout: std::time::Duration::from_secs(2),
        tls: ClientTlsConfig {
            insecure: true,
            ..Default::default()
        },
        sending_queue: Default::default(),
        retry_on_failure: Default::default(),
    }
}

fn one_span() -> ExportTraceServiceRequest {
    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            scope_spans: vec![ScopeSpans {
                spans: vec![Span {
                    name: "sent".into(),
                    trace_id: vec![7; 16],
                    span_id: vec![9; 8],
                    ..Default::default()
                }],
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}

#[tokio::test]
async fn delivers_gzip_with_headers() {
    let sink = Sink::default();
    let addr = start(sink.clone()).await;
    let exporter = OtlpExporter::new(&config(addr)).unwrap();
    exporter.export(Payload::Traces(one_span())).await.unwrap();
    let seen = sink.seen.lock().unwrap();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].0, one_span());
    assert_eq!(seen[0].1.as_deref(), Some("gzip"));
    assert_eq!(seen[0].2.as_deref(), Some("s3cret"));
}

#[tokio::test]
async fn status_codes_map_to_retryable_or_permanent() {
    let addr = start(Sink {
        fail_with: Some(tonic::Code::Unavailable),
        ..Default::default()
    })
    .await;
    let exporter = OtlpExporter::new(&config(addr)).unwrap();
    assert!(matches!(
        exporter.export(Payload::Traces(one_span())).await,
        Err(ExportError::Retryable { .. })
    ));

    let addr = start(Sink {
        fail_with: Some(tonic::Code::InvalidArgument),
        ..Default::default()
    })
    .await;
    let exporter = OtlpExporter::new(&config(addr)).unwrap();
    assert!(matches!(
        exporter.export(Payload::Traces(one_span())).await,
        Err(ExportError::Permanent { .. })
    ));
}

#[tokio::test]
async fn a_dead_sink_is_retryable_and_not_fatal_at_build() {
    let port = TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap()
        .local_addr()
        .unwrap();
    let exporter = OtlpExporter::new(&config(port)).unwrap();
    assert!(matches!(
        exporter.export(Payload::Traces(one_span())).await,
        Err(ExportError::Retryable { .. })
    ));
}

/// A TLS gRPC server with the self-signed `otlp.example` certificate written to `dir`.
async fn start_tls(sink: Sink, dir: &std::path::Path) -> SocketAddr {
    use tonic::transport::{Identity, ServerTlsConfig};
    crate::otlphttp::tests::self_signed(dir);
    let read = |name: &str| std::fs::read(dir.join(name)).unwrap();
    let identity = Identity::from_pem(read("server.crt"), read("server.key"));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(
        tonic::transport::Server::builder()
            .tls_config(ServerTlsConfig::new().identity(identity))
            .unwrap()
            .add_service(TraceServiceServer::new(sink).accept_compressed(CompressionEncoding::Gzip))
            .serve_with_incoming(incoming(listener)),
    );
    addr
}

#[tokio::test]
async fn tls_checks_the_certificate_with_the_shared_settings() {
    let dir = tempfile::tempdir().unwrap();
    let sink = Sink::default();
    let addr = start_tls(sink.clone(), dir.path()).await;
    let over_tls = |tls: ClientTlsConfig| OtlpConfig {
        tls,
        ..config(addr)
    };
    let send = |config: OtlpConfig| async move {
        let exporter = OtlpExporter::new(&config).unwrap();
        exporter.export(Payload::Traces(one_span())).await
    };

    // TLS is the default, and the bundled public roots do not know this certificate.
    let refused = send(over_tls(ClientTlsConfig::default()))
        .await
        .unwrap_err();
    assert!(
        format!("{refused:?}").contains("certificate"),
        "{refused:?}"
    );
    assert!(sink.seen.lock().unwrap().is_empty());

    let trusted = ClientTlsConfig {
        ca_file: Some(dir.path().join("server.crt")),
        server_name_override: Some("otlp.example".into()),
        ..ClientTlsConfig::default()
    };
    send(over_tls(trusted)).await.unwrap();
    let unchecked = ClientTlsConfig {
        insecure_skip_verify: true,
        ..ClientTlsConfig::default()
    };
    send(over_tls(unchecked)).await.unwrap();
    // An https:// endpoint uses TLS whatever `insecure` says.
    let https = OtlpConfig {
        endpoint: format!("https://{addr}"),
        tls: ClientTlsConfig {
            insecure: true,
            insecure_skip_verify: true,
            ..ClientTlsConfig::default()
        },
        ..config(addr)
    };
    send(https).await.unwrap();
    assert_eq!(sink.seen.lock().unwrap().len(), 3);
}

#[test]
fn endpoints_and_tls_defaults() {
    let mut c = config("127.0.0.1:4317".parse().unwrap());
    c.tls.insecure = false;
    assert_eq!(
        c.target().unwrap(),
        ("https://127.0.0.1:4317".to_string(), true)
    );
    c.endpoint = "http://collector:4317".into();
    assert_eq!(
        c.target().unwrap(),
        ("http://collector:4317".to_string(), false)
    );
    c.endpoint = "collector".into();
    assert!(c.target().is_err());
}

/// The message of a failed export.
async fn failure(config: &OtlpConfig) -> String {
    let exporter = OtlpExporter::new(config).unwrap();
    match exporter.export(Payload::Traces(one_span())).await {
        Err(ExportError::Retryable { message, .. } | ExportError::Permanent { message }) => message,
        Ok(()) => panic!("export to {} succeeded", config.endpoint),
    }
}

#[tokio::test]
async fn a_closed_port_is_named_with_connection_refused() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let message = failure(&config(addr)).await;
    assert_eq!(
        message,
        format!("cannot reach {addr}: connection refused (nothing listens there)")
    );
}

#[tokio::test]
async fn an_unresolvable_name_is_no_such_host() {
    let mut config = config("127.0.0.1:1".parse().unwrap());
    config.endpoint = "nonexistent.invalid:4317".into();
    let message = failure(&config).await;
    assert_eq!(
        message,
        "cannot reach nonexistent.invalid:4317: no such host `nonexistent.invalid`"
    );
    // The TLS dialer resolves names itself; the same words come out.
    config.tls.insecure = false;
    config.tls.insecure_skip_verify = true;
    let message = failure(&config).await;
    assert!(
        message.contains("no such host `nonexistent.invalid`"),
        "{message}"
    );
}

#[tokio::test]
async fn tls_against_a_plaintext_server_says_to_set_insecure() {
    let addr = start(Sink::default()).await;
    let mut config = config(addr);
    config.tls.insecure = false;
    config.tls.insecure_skip_verify = true;
    let message = failure(&config).await;
    assert!(
        message.starts_with(&format!(
            "cannot reach {addr}: the server does not speak TLS; set `tls.insecure: true`"
        )),
        "{message}"
    );
    assert!(!message.contains("InvalidContentType"), "{message}");
}

#[tokio::test]
async fn a_server_that_never_answers_times_out() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    // Accepts and holds connections without a word.
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((stream, _)) = listener.accept().await {
            held.push(stream);
        }
    });
    let mut config = config(addr);
    config.timeout = std::time::Duration::from_millis(300);
    let message = failure(&config).await;
    assert_eq!(
        message,
        format!("cannot reach {addr}: timed out after 300ms")
    );
}
