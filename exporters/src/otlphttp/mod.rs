//! `otlphttp` exporter: OTLP/HTTP with protobuf or JSON bodies.

#[cfg(test)]
mod compliance;
mod config;
#[cfg(test)]
pub(crate) mod tests;

pub use config::{Compression, Encoding, OtlpHttpConfig, UrlError};

use std::io::Write;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::header::{
    HeaderMap, HeaderName, HeaderValue, CONTENT_ENCODING, CONTENT_TYPE, RETRY_AFTER,
};
use hyper::{Request, StatusCode, Uri};
use hyper_rustls::{HttpsConnector, HttpsConnectorBuilder};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use sentinel_pipeline::config::{check, decode_valid, Diagnostic, Node};
use sentinel_pipeline::tls::{ClientTlsConfig, TlsError};
use sentinel_pipeline::{
    BuildContext, BuildError, BuiltExporter, ComponentInfo, ExportError, Exporter, ExporterFactory,
    Factory, Kind, Payload, SharedBatch, Signal,
};

use crate::otlp::buffers::BufferPool;

pub struct OtlpHttpFactory;

impl Factory for OtlpHttpFactory {
    fn info(&self) -> ComponentInfo {
        ComponentInfo {
            type_name: "otlphttp",
            kind: Kind::Exporter,
            signals: &Signal::ALL,
            description: "Sends OTLP over HTTP (protobuf or JSON)",
        }
    }

    fn check(&self, node: &Node) -> Result<serde_json::Value, Vec<Diagnostic>> {
        check::<OtlpHttpConfig>(node)
    }

    fn warnings(&self, node: &Node) -> Vec<Diagnostic> {
        let keys = [
            "endpoint",
            "traces_endpoint",
            "metrics_endpoint",
            "logs_endpoint",
        ];
        crate::otlp::warnings::plaintext_warnings(node, &keys, false)
    }
}

impl ExporterFactory for OtlpHttpFactory {
    fn build(&self, node: &Node, ctx: BuildContext) -> Result<BuiltExporter, BuildError> {
        let config: OtlpHttpConfig =
            decode_valid(node).map_err(|d| BuildError::config(&ctx.id, d))?;
        let exporter = OtlpHttpExporter::new(&config).map_err(|e| BuildError::Other {
            component: ctx.id.clone(),
            message: e.to_string(),
        })?;
        Ok(BuiltExporter {
            exporter: Arc::new(exporter),
            queue: config.sending_queue,
            retry: config.retry_on_failure,
        })
    }
}

/// Why the exporter cannot be built.
#[derive(Debug, thiserror::Error)]
pub enum OtlpHttpError {
    #[error("header {key:?}: {source}")]
    HeaderName {
        key: String,
        source: hyper::header::InvalidHeaderName,
    },
    #[error("header {key}: {source}")]
    HeaderValue {
        key: String,
        source: hyper::header::InvalidHeaderValue,
    },
    #[error("tls: {0}")]
    Tls(#[from] TlsError),
    #[error("{0}")]
    Url(#[from] UrlError),
}

pub struct OtlpHttpExporter {
    client: HttpClient,
    urls: [Uri; 3],
    headers: HeaderMap,
    encoding: Encoding,
    compression: Compression,
    timeout: Duration,
    /// Scratch buffers for the protobuf encoding that gzip then compresses.
    scratch: BufferPool,
}

impl OtlpHttpExporter {
    pub fn new(config: &OtlpHttpConfig) -> Result<Self, OtlpHttpError> {
        let mut headers = HeaderMap::new();
        for (key, value) in &config.headers {
            let name = HeaderName::from_bytes(key.as_bytes()).map_err(|source| {
                OtlpHttpError::HeaderName {
                    key: key.clone(),
                    source,
                }
            })?;
            let value = HeaderValue::from_str(value.expose()).map_err(|source| {
                OtlpHttpError::HeaderValue {
                    key: key.clone(),
                    source,
                }
            })?;
            headers.insert(name, value);
        }
        Ok(OtlpHttpExporter {
            client: https_client(&config.tls, config.timeout)?,
            urls: [
                config.url(Signal::Traces)?,
                config.url(Signal::Metrics)?,
                config.url(Signal::Logs)?,
            ],
            headers,
            encoding: config.encoding,
            compression: config.compression,
            timeout: config.timeout,
            scratch: BufferPool::default(),
        })
    }

    fn body(&self, payload: &Payload) -> Result<Vec<u8>, ExportError> {
        let raw = match self.encoding {
            Encoding::Proto => payload.encode_to_vec(),
            Encoding::Json => match payload {
                Payload::Traces(r) => serde_json::to_vec(r),
                Payload::Metrics(r) => serde_json::to_vec(r),
                Payload::Logs(r) => serde_json::to_vec(r),
            }
            .map_err(|e| ExportError::permanent(format!("cannot encode as JSON: {e}")))?,
        };
        self.compress(raw)
    }

    /// The body of a batch shared with the queue, encoded without merging or copying the
    /// records; `None` for JSON, which needs the merged request.
    fn shared_body(&self, batch: &SharedBatch) -> Option<Result<Vec<u8>, ExportError>> {
        if self.encoding != Encoding::Proto {
            return None;
        }
        let len = batch.encoded_len();
        Some(match self.compression {
            Compression::None => {
                let mut raw = Vec::with_capacity(len);
                batch.encode_merged(&mut raw);
                Ok(raw)
            }
            Compression::Gzip => {
                let mut raw = self.scratch.take(len);
                batch.encode_merged(&mut raw);
                let body = gzip(&raw);
                self.scratch.give(raw);
                body
            }
        })
    }

    fn compress(&self, raw: Vec<u8>) -> Result<Vec<u8>, ExportError> {
        match self.compression {
            Compression::None => Ok(raw),
            Compression::Gzip => gzip(&raw),
        }
    }

    async fn send(&self, signal: Signal, body: Vec<u8>) -> Result<(), ExportError> {
        let url = match signal {
            Signal::Traces => &self.urls[0],
            Signal::Metrics => &self.urls[1],
            Signal::Logs => &self.urls[2],
        };
        let mut request = Request::post(url.clone())
            .body(Full::new(Bytes::from(body)))
            .map_err(|e| ExportError::permanent(format!("cannot build request: {e}")))?;
        let content_type = match self.encoding {
            Encoding::Proto => "application/x-protobuf",
            Encoding::Json => "application/json",
        };
        let headers = request.headers_mut();
        headers.extend(self.headers.clone());
        headers.insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
        if self.compression == Compression::Gzip {
            headers.insert(CONTENT_ENCODING, HeaderValue::from_static("gzip"));
        }
        let exchange = async {
            let response = self.client.request(request).await.map_err(|e| {
                let target = crate::otlp::explain::Target {
                    endpoint: &url.to_string(),
                    timeout: self.timeout,
                };
                ExportError::retryable(
                    target
                        .explain(&e)
                        .unwrap_or_else(|| format!("POST {url} failed: {}", with_causes(&e))),
                )
            })?;
            let status = response.status();
            let wait = retry_after(response.headers());
            let body = response
                .into_body()
                .collect()
                .await
                .map_err(|e| {
                    ExportError::retryable(format!("reading the response from {url} failed: {e}"))
                })?
                .to_bytes();
            if status.is_success() {
                Ok(())
            } else {
                Err(classify(status, wait, &body))
            }
        };
        tokio::time::timeout(self.timeout, exchange)
            .await
            .map_err(|_| {
                ExportError::retryable(format!(
                    "cannot reach {url}: timed out after {:?}",
                    self.timeout
                ))
            })?
    }
}

fn gzip(raw: &[u8]) -> Result<Vec<u8>, ExportError> {
    let mut encoder = flate2::write::GzEncoder::new(
        Vec::with_capacity(raw.len() / 4),
        flate2::Compression::fast(),
    );
    encoder
        .write_all(raw)
        .and_then(|_| encoder.finish())
        .map_err(|e| ExportError::retryable(format!("gzip failed: {e}")))
}

/// The HTTP/1.1 client of the HTTP exporters (`otlphttp` and the notifiers): `https://`
/// URLs go through rustls with the `tls` settings, `http://` ones stay plain.
pub(crate) fn https_client(
    tls: &ClientTlsConfig,
    connect_timeout: Duration,
) -> Result<HttpClient, TlsError> {
    let mut connector = HttpConnector::new();
    connector.set_connect_timeout(Some(connect_timeout));
    connector.set_nodelay(true);
    // The URL's scheme decides whether TLS is used, not `insecure`.
    connector.enforce_http(false);
    let tls = tls.rustls_config()?;
    let connector = HttpsConnectorBuilder::new()
        .with_tls_config((*tls).clone())
        .https_or_http()
        .enable_http1()
        .wrap_connector(connector);
    Ok(Client::builder(TokioExecutor::new()).build(connector))
}

pub(crate) type HttpClient = Client<HttpsConnector<HttpConnector>, Full<Bytes>>;

/// The error and its causes: hyper's client says only "client error (Connect)", the why
/// (refused, certificate not trusted, ...) is in the sources.
pub(crate) fn with_causes(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// Per the OTLP/HTTP spec: 429, 502, 503 and 504 are retryable; other errors are not.
fn classify(status: StatusCode, retry_after: Option<Duration>, body: &[u8]) -> ExportError {
    let detail = String::from_utf8_lossy(&body[..body.len().min(512)]).to_string();
    let message = format!("HTTP {status}: {detail}");
    match status.as_u16() {
        429 | 502 | 503 | 504 => ExportError::Retryable {
            message,
            retry_after,
        },
        _ => ExportError::Permanent { message },
    }
}

pub(crate) fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let text = headers.get(RETRY_AFTER)?.to_str().ok()?;
    text.trim().parse::<u64>().ok().map(Duration::from_secs)
}

#[async_trait]
impl Exporter for OtlpHttpExporter {
    async fn export(&self, payload: Payload) -> Result<(), ExportError> {
        let body = self.body(&payload)?;
        self.send(payload.signal(), body).await
    }

    /// A protobuf body is written from records still encoded as they are; JSON needs them
    /// decoded.
    fn takes_encoded(&self) -> bool {
        self.encoding == Encoding::Proto
    }

    async fn export_shared(&self, batch: SharedBatch) -> Result<(), ExportError> {
        let Some(signal) = batch.signal() else {
            return Ok(());
        };
        match self.shared_body(&batch) {
            Some(body) => self.send(signal, body?).await,
            None => self.export_records(batch.to_record_batch()).await,
        }
    }
}
