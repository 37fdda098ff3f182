//! `otlp` exporter: OTLP/gRPC over one lazily connected channel, gzip by default.

#[cfg(test)]
pub(crate) mod compliance;
mod config;
pub(crate) mod explain;
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
use sentinel_pipeline::otlp::collector::logs::v1::logs_service_client::LogsServiceClient;
use sentinel_pipeline::otlp::collector::metrics::v1::metrics_service_client::MetricsServiceClient;
use sentinel_pipeline::otlp::collector::trace::v1::trace_service_client::TraceServiceClient;
use sentinel_pipeline::tls::TlsError;
use sentinel_pipeline::{
    BuildContext, BuildError, BuiltExporter, ComponentInfo, ExportError, Exporter, ExporterFactory,
    Factory, Kind, Payload, Signal,
};
use tonic::codec::CompressionEncoding;
use tonic::metadata::{MetadataKey, MetadataMap, MetadataValue};
use tonic::transport::{Channel, Endpoint};

use tls::TlsDialer;

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
    traces: TraceServiceClient<Channel>,
    metrics: MetricsServiceClient<Channel>,
    logs: LogsServiceClient<Channel>,
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
        let mut traces =
            TraceServiceClient::new(channel.clone()).max_decoding_message_size(64 << 20);
        let mut metrics =
            MetricsServiceClient::new(channel.clone()).max_decoding_message_size(64 << 20);
        let mut logs = LogsServiceClient::new(channel).max_decoding_message_size(64 << 20);
        if let Some(encoding) = encoding {
            traces = traces.send_compressed(encoding).accept_compressed(encoding);
            metrics = metrics
                .send_compressed(encoding)
                .accept_compressed(encoding);
            logs = logs.send_compressed(encoding).accept_compressed(encoding);
        }
        Ok(OtlpExporter {
            traces,
            metrics,
            logs,
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
        let classify = |status: tonic::Status| self.classify(status);
        let (rejected, message) = match payload {
            Payload::Traces(req) => {
                let response = self
                    .traces
                    .clone()
                    .export(self.request(req))
                    .await
                    .map_err(classify)?;
                response
                    .into_inner()
                    .partial_success
                    .map(|p| (p.rejected_spans, p.error_message))
            }
            Payload::Metrics(req) => {
                let response = self
                    .metrics
                    .clone()
                    .export(self.request(req))
                    .await
                    .map_err(classify)?;
                response
                    .into_inner()
                    .partial_success
                    .map(|p| (p.rejected_data_points, p.error_message))
            }
            Payload::Logs(req) => {
                let response = self
                    .logs
                    .clone()
                    .export(self.request(req))
                    .await
                    .map_err(classify)?;
                response
                    .into_inner()
                    .partial_success
                    .map(|p| (p.rejected_log_records, p.error_message))
            }
        }
        .unwrap_or_default();
        self.note_partial_success(rejected, message);
        Ok(())
    }
}
