//! `otlp` exporter: OTLP/gRPC over one lazily connected channel, gzip by default.

pub(crate) mod buffers;
#[cfg(test)]
pub(crate) mod compliance;
mod config;
pub(crate) mod explain;
mod shared;
mod status;
#[cfg(test)]
mod tests;
mod tls;
pub(crate) mod warnings;

pub use config::{Compression, OtlpConfig, TargetError};

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use sentinel_pipeline::config::{check, decode_valid, Diagnostic, Node};
use sentinel_pipeline::otlp::collector::logs::v1::ExportLogsServiceResponse;
use sentinel_pipeline::otlp::collector::metrics::v1::ExportMetricsServiceResponse;
use sentinel_pipeline::otlp::collector::trace::v1::ExportTraceServiceResponse;
use sentinel_pipeline::tls::TlsError;
use sentinel_pipeline::{
    BuildContext, BuildError, BuiltExporter, ComponentInfo, ExportError, Exporter, ExporterFactory,
    Factory, Held, Kind, Payload, SharedBatch, SharedRecord, Signal,
};
use tonic::client::Grpc;
use tonic::codec::CompressionEncoding;
use tonic::codegen::http::uri::PathAndQuery;
use tonic::metadata::{MetadataKey, MetadataMap, MetadataValue};
use tonic::transport::{Channel, Endpoint};

use shared::{SharedCodec, SharedRequest};
use tls::TlsDialer;

const TRACES_PATH: &str = "/opentelemetry.proto.collector.trace.v1.TraceService/Export";
const METRICS_PATH: &str = "/opentelemetry.proto.collector.metrics.v1.MetricsService/Export";
const LOGS_PATH: &str = "/opentelemetry.proto.collector.logs.v1.LogsService/Export";

pub struct OtlpFactory;

impl Factory for OtlpFactory {
    fn info(&self) -> ComponentInfo {
        ComponentInfo {
            type_name: "otlp",
            kind: Kind::Exporter,
            signals: &Signal::ALL,
            description: "Sends OTLP over gRPC (gzip, headers, TLS)",
        }
    }

    fn check(&self, node: &Node) -> Result<serde_json::Value, Vec<Diagnostic>> {
        check::<OtlpConfig>(node)
    }

    fn warnings(&self, node: &Node) -> Vec<Diagnostic> {
        warnings::plaintext_warnings(node, &["endpoint"], true)
    }
}

impl ExporterFactory for OtlpFactory {
    fn build(&self, node: &Node, ctx: BuildContext) -> Result<BuiltExporter, BuildError> {
        let config: OtlpConfig = decode_valid(node).map_err(|d| BuildError::config(&ctx.id, d))?;
        let exporter = OtlpExporter::new(&config).map_err(|e| BuildError::Other {
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

pub struct OtlpExporter {
    /// One client for the three services: the request is the queue's shared records
    /// ([`SharedRequest`]), so the generated typed clients do not fit.
    grpc: Grpc<Channel>,
    headers: MetadataMap,
    timeout: std::time::Duration,
    /// The endpoint as configured, named in connection errors.
    endpoint: String,
    /// Partial-success messages already logged, so each is logged once.
    logged_rejections: Mutex<HashSet<String>>,
}

impl OtlpExporter {
    /// Builds the clients. Connecting is lazy: a sink that is down at startup is retried
    /// by the sending queue, not fatal.
    pub fn new(config: &OtlpConfig) -> Result<Self, OtlpError> {
        let channel = channel(config)?;
        let mut headers = MetadataMap::new();
        for (key, value) in &config.headers {
            let key = MetadataKey::from_bytes(key.as_bytes()).map_err(|source| {
                OtlpError::HeaderName {
                    key: key.clone(),
                    source,
                }
            })?;
            let value = MetadataValue::try_from(value.expose()).map_err(|source| {
                OtlpError::HeaderValue {
                    key: key.to_string(),
                    source,
                }
            })?;
            headers.insert(key, value);
        }
        let encoding = match config.compression {
            Compression::Gzip => Some(CompressionEncoding::Gzip),
            Compression::Zstd => Some(CompressionEncoding::Zstd),
            Compression::None => None,
        };
        let mut grpc = Grpc::new(channel).max_decoding_message_size(64 << 20);
        if let Some(encoding) = encoding {
            grpc = grpc.send_compressed(encoding).accept_compressed(encoding);
        }
        Ok(OtlpExporter {
            grpc,
            headers,
            timeout: config.timeout,
            endpoint: config.endpoint.trim().to_string(),
            logged_rejections: Mutex::default(),
        })
    }

    fn request<T>(&self, message: T) -> tonic::Request<T> {
        let mut request = tonic::Request::new(message);
        *request.metadata_mut() = self.headers.clone();
        request.set_timeout(self.timeout);
        request
    }

    /// The status as an export outcome; a transport failure says which endpoint and why.
    /// One unary call of `path` with the shared request.
    async fn unary<R>(&self, request: SharedRequest, path: &'static str) -> Result<R, ExportError>
    where
        R: prost::Message + Default + Send + 'static,
    {
        let mut grpc = self.grpc.clone();
        grpc.ready().await.map_err(|e| {
            self.classify(tonic::Status::unknown(format!(
                "Service was not ready: {e}"
            )))
        })?;
        let codec = SharedCodec::<R>::default();
        grpc.unary(
            self.request(request),
            PathAndQuery::from_static(path),
            codec,
        )
        .await
        .map(tonic::Response::into_inner)
        .map_err(|status| self.classify(status))
    }

    fn classify(&self, status: tonic::Status) -> ExportError {
        let mut outcome = status::classify(&status);
        let target = explain::Target {
            endpoint: &self.endpoint,
            timeout: self.timeout,
        };
        if let Some(plain) = target.explain(&status) {
            match &mut outcome {
                ExportError::Retryable { message, .. } | ExportError::Permanent { message } => {
                    *message = plain
                }
            }
        }
        outcome
    }

    fn note_partial_success(&self, rejected: i64, message: String) {
        if rejected <= 0 && message.is_empty() {
            return;
        }
        let first = self
            .logged_rejections
            .lock()
            .map(|mut s| s.insert(message.clone()))
            .unwrap_or(false);
        if first {
            tracing::warn!(rejected, %message, "The sink accepted the request but rejected some items (partial success); logged once per message.");
        }
    }
}

/// Why the exporter cannot be built.
#[derive(Debug, thiserror::Error)]
pub enum OtlpError {
    #[error("{0}")]
    Channel(#[from] ChannelError),
    #[error("header {key:?}: {source}")]
    HeaderName {
        key: String,
        source: tonic::metadata::errors::InvalidMetadataKey,
    },
    #[error("header {key}: {source}")]
    HeaderValue {
        key: String,
        source: tonic::metadata::errors::InvalidMetadataValue,
    },
}

/// Why the gRPC channel cannot be set up.
#[derive(Debug, thiserror::Error)]
pub enum ChannelError {
    /// The endpoint, as [`OtlpConfig::target`] explains it.
    #[error("{0}")]
    Target(TargetError),
    #[error("invalid endpoint {uri}: {cause}")]
    InvalidUri { uri: String, cause: String },
    #[error("tls: {0}")]
    Tls(#[from] TlsError),
}

/// The lazily connected channel, over TLS unless the config says plaintext.
fn channel(config: &OtlpConfig) -> Result<Channel, ChannelError> {
    let (uri, tls) = config.target().map_err(ChannelError::Target)?;
    let invalid = |uri: &str, cause: &dyn std::fmt::Display| ChannelError::InvalidUri {
        uri: uri.to_string(),
        cause: cause.to_string(),
    };
    let endpoint = |uri: &str| {
        Endpoint::from_shared(uri.to_string())
            .map_err(|e| invalid(uri, &e))
            .map(|e| e.connect_timeout(config.timeout).tcp_nodelay(true))
    };
    if !tls {
        return Ok(endpoint(&uri)?.connect_lazy());
    }
    let dialer = TlsDialer::new(&config.tls)?;
    let origin = uri.parse().map_err(|e| invalid(&uri, &e))?;
    let plain = uri.replacen("https://", "http://", 1);
    Ok(endpoint(&plain)?
        .origin(origin)
        .connect_with_connector_lazy(dialer))
}

#[async_trait]
impl Exporter for OtlpExporter {
    async fn export(&self, payload: Payload) -> Result<(), ExportError> {
        let record = SharedRecord {
            seq: 0,
            data: Arc::new(Held::Decoded(payload)),
        };
        self.export_shared(SharedBatch {
            queue_id: 0,
            records: vec![record],
        })
        .await
    }

    /// Records still in their received encoding are written as they are.
    fn takes_encoded(&self) -> bool {
        true
    }

    async fn export_shared(&self, batch: SharedBatch) -> Result<(), ExportError> {
        let Some(signal) = batch.signal() else {
            return Ok(());
        };
        let request = SharedRequest(batch);
        let (rejected, message) = match signal {
            Signal::Traces => self
                .unary::<ExportTraceServiceResponse>(request, TRACES_PATH)
                .await?
                .partial_success
                .map(|p| (p.rejected_spans, p.error_message)),
            Signal::Metrics => self
                .unary::<ExportMetricsServiceResponse>(request, METRICS_PATH)
                .await?
                .partial_success
                .map(|p| (p.rejected_data_points, p.error_message)),
            Signal::Logs => self
                .unary::<ExportLogsServiceResponse>(request, LOGS_PATH)
                .await?
                .partial_success
                .map(|p| (p.rejected_log_records, p.error_message)),
        }
        .unwrap_or_default();
        self.note_partial_success(rejected, message);
        Ok(())
    }
}
