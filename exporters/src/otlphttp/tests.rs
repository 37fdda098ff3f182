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

use super::*;

type Seen = Arc<Mutex<Vec<(String, Option<String>, Option<String>, Vec<u8>)>>>;

/// A real HTTP server answering every request with `status` (and `Retry-After: 3`).
async fn start(status: StatusCode) -> (SocketAddr, Seen) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let seen: Seen = Arc::default();
    let record = seen.clone();
    tokio::spawn(async move {
        loop {
            let (stream, _) = listener.accept().await.unwrap();
            let record = record.clone();
            tokio::spawn(async move {
                let service = hyper::service::service_fn(
                    move |req: hyper::Request<hyper::body::Incoming>| {
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
                            let mut response =
                                Response::new(Full::new(Bytes::from_static(b"nope")));
                            *response.status_mut() = status;
                            response
                                .headers_mut()
                                .insert(RETRY_AFTER, HeaderValue::from_static("3"));
                            Ok::<_, Infallible>(response)
                        }
                    },
                );
                let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    (addr, seen)
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
    c.endpoint = Some("https://secure:4318".into());
    assert!(c.url(Signal::Traces).unwrap_err().contains("https"));
}
