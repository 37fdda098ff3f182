use std::convert::Infallible;
use std::io::Read;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::{Response, StatusCode};
use hyper_util::rt::{TokioExecutor, TokioIo};
use prost::Message as _;
use sentinel_pipeline::otlp::collector::logs::v1::ExportLogsServiceRequest;
use sentinel_pipeline::otlp::collector::metrics::v1::ExportMetricsServiceRequest;
use sentinel_pipeline::otlp::collector::trace::v1::ExportTraceServiceRequest;
use sentinel_pipeline::testing::ExporterCompliance;
use sentinel_pipeline::{Payload, Signal};

use super::OtlpHttpFactory;
use crate::sending::compliance::{counted_by, start_for_compliance};

/// The items of one OTLP/HTTP protobuf body (gzipped or not) posted to `path`.
fn decode(path: &str, gzipped: bool, body: &[u8]) -> Result<Payload, String> {
    let mut raw = body.to_vec();
    if gzipped {
        raw.clear();
        flate2::read::GzDecoder::new(body)
            .read_to_end(&mut raw)
            .map_err(|e| format!("gunzip: {e}"))?;
    }
    let bad = |e: prost::DecodeError| e.to_string();
    match path {
        "/v1/traces" => ExportTraceServiceRequest::decode(raw.as_slice())
            .map(Payload::Traces)
            .map_err(bad),
        "/v1/metrics" => ExportMetricsServiceRequest::decode(raw.as_slice())
            .map(Payload::Metrics)
            .map_err(bad),
        "/v1/logs" => ExportLogsServiceRequest::decode(raw.as_slice())
            .map(Payload::Logs)
            .map_err(bad),
        other => Err(format!("unknown path {other}")),
    }
}

/// A real HTTP server that decodes what is posted and counts the items; a body it cannot
/// decode gets a 400, so the exporter would count it failed.
async fn start(items: Arc<AtomicU64>) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let (stream, _) = listener.accept().await.unwrap();
            let items = items.clone();
            let service =
                hyper::service::service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
                    let items = items.clone();
                    async move {
                        let path = req.uri().path().to_string();
                        let gzipped = req
                            .headers()
                            .get("content-encoding")
                            .is_some_and(|v| v == "gzip");
                        let body = req.into_body().collect().await.unwrap().to_bytes();
                        let mut response = Response::new(Full::new(Bytes::new()));
                        match decode(&path, gzipped, &body) {
                            Ok(payload) => {
                                items.fetch_add(payload.item_count() as u64, Ordering::SeqCst);
                            }
                            Err(_) => *response.status_mut() = StatusCode::BAD_REQUEST,
                        }
                        Ok::<_, Infallible>(response)
                    }
                });
            tokio::spawn(async move {
                let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    addr
}

#[tokio::test]
async fn otlphttp_meets_the_exporter_contract() {
    for signal in Signal::ALL {
        let items = Arc::new(AtomicU64::new(0));
        let addr = start(items.clone()).await;
        let config = format!("endpoint: http://{addr}\nencoding: proto\ncompression: gzip\n");
        ExporterCompliance::new(&OtlpHttpFactory, &config, signal, start_for_compliance)
            .delivered_items(counted_by(items))
            .run()
            .await;
    }
}
