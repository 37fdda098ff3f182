use std::convert::Infallible;
use std::io::Read;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::{Response, StatusCode};
use hyper_util::rt::{TokioExecutor, TokioIo};
use sentinel_pipeline::otlp::collector::logs::v1::ExportLogsServiceRequest;
use sentinel_pipeline::otlp::collector::metrics::v1::ExportMetricsServiceRequest;
use sentinel_pipeline::otlp::collector::trace::v1::ExportTraceServiceRequest;
use sentinel_pipeline::testing::ExporterCompliance;
use sentinel_pipeline::{Payload, Signal};

use super::OtlpHttpFactory;
use crate::sending::compliance::{counted_by, start_for_compliance};

/// The items of one OTLP/HTTP body (protobuf or JSON, gzipped or not) posted to `path`.
fn decode(path: &str, json: bool, gzipped: bool, body: &[u8]) -> Result<Payload, String> {
    let mut raw = Vec::new();
    if gzipped {
        flate2::read::GzDecoder::new(body)
            .read_to_end(&mut raw)
            .map_err(|e| format!("gunzip: {e}"))?;
    } else {
        raw.extend_from_slice(body);
    }
    match path {
        "/v1/traces" => parse::<ExportTraceServiceRequest>(json, &raw).map(Payload::Traces),
        "/v1/metrics" => parse::<ExportMetricsServiceRequest>(json, &raw).map(Payload::Metrics),
        "/v1/logs" => parse::<ExportLogsServiceRequest>(json, &raw).map(Payload::Logs),
        other => Err(format!("unknown path {other}")),
    }
}

fn parse<T>(json: bool, raw: &[u8]) -> Result<T, String>
where
    T: prost::Message + Default + serde::de::DeserializeOwned,
{
    if json {
        serde_json::from_slice(raw).map_err(|e| e.to_string())
    } else {
        T::decode(raw).map_err(|e| e.to_string())
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
                        let header = |name: &str| req.headers().get(name).cloned();
                        let json = header("content-type").is_some_and(|v| v == "application/json");
                        let gzipped = header("content-encoding").is_some_and(|v| v == "gzip");
                        let body = req.into_body().collect().await.unwrap().to_bytes();
                        let mut response = Response::new(Full::new(Bytes::new()));
                        match decode(&path, json, gzipped, &body) {
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
    for (encoding, compression) in [("proto", "gzip"), ("json", "none")] {
        for signal in Signal::ALL {
            let items = Arc::new(AtomicU64::new(0));
            let addr = start(items.clone()).await;
            let config = format!(
                "endpoint: http://{addr}\nencoding: {encoding}\ncompression: {compression}\n"
            );
            ExporterCompliance::new(&OtlpHttpFactory, &config, signal, start_for_compliance)
                .delivered_items(counted_by(items))
                .run()
                .await;
        }
    }
}
