//! `prometheusremotewrite` exporter: metrics to any Remote-Write 1.0 store as
//! snappy-compressed protobuf `WriteRequest`s.
//!
//! Series are named and folded by the shared `pipeline::prometheus` store (as the
//! `prometheus` exporter does): delta sums and histograms become cumulative, so stores that
//! only take cumulative data get them too. A request the store answered with 5xx or 429
//! is retried through the sending queue (honouring `Retry-After`); any other 4xx is
//! permanent and goes to the dead-letter file. A retried record is not folded in again
//! (that would add its deltas twice): its converted series are kept until it is settled.

#[cfg(test)]
mod compliance;
mod config;
mod convert;
mod prompb;
#[cfg(test)]
mod tests;

pub use config::RemoteWriteConfig;

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::header::{
    HeaderMap, HeaderName, HeaderValue, CONTENT_ENCODING, CONTENT_TYPE, USER_AGENT,
};
use hyper::{Request, Uri};
use hyper_rustls::{HttpsConnector, HttpsConnectorBuilder};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prost::Message;
use sentinel_pipeline::config::{check, decode_valid, Diagnostic, Node};
use sentinel_pipeline::prometheus::StoreSettings;
use sentinel_pipeline::tls::TlsError;
use sentinel_pipeline::{
    BuildContext, BuildError, BuiltExporter, ComponentInfo, ExportError, Exporter, ExporterFactory,
    Factory, Kind, Payload, RecordBatch, SelfMetrics, Signal,
};

use convert::{Converted, Converter};
use prompb::WriteRequest;

pub struct RemoteWriteFactory;

impl Factory for RemoteWriteFactory {
    fn info(&self) -> ComponentInfo {
        ComponentInfo {
            type_name: "prometheusremotewrite",
            kind: Kind::Exporter,
            signals: &[Signal::Metrics],
            description:
                "Sends metrics to a Prometheus Remote-Write 1.0 endpoint (snappy protobuf)",
        }
    }

    fn check(&self, node: &Node) -> Result<serde_json::Value, Vec<Diagnostic>> {
        check::<RemoteWriteConfig>(node)
    }
}

impl ExporterFactory for RemoteWriteFactory {
    fn build(&self, node: &Node, ctx: BuildContext) -> Result<BuiltExporter, BuildError> {
        let config: RemoteWriteConfig =
            decode_valid(node).map_err(|d| BuildError::config(&ctx.id, d))?;
        let exporter = RemoteWriteExporter::new(&config, &ctx.id, &ctx.metrics).map_err(|e| {
            BuildError::Other {
                component: ctx.id.clone(),
                message: e.to_string(),
            }
        })?;
        // Stores refuse a series' samples out of time order, and deltas must be folded in
        // the order they were received: one consumer sends the queue's records in order.
        let mut queue = config.sending_queue;
        queue.num_consumers = 1;
        Ok(BuiltExporter {
            exporter: Arc::new(exporter),
            queue,
            retry: config.retry_on_failure,
        })
    }
}

#[derive(Debug, thiserror::Error)]
pub enum RemoteWriteError {
    #[error("endpoint: {0}")]
    Endpoint(#[from] hyper::http::uri::InvalidUri),
    #[error("header {key:?}: {message}")]
    Header { key: String, message: String },
    #[error("tls: {0}")]
    Tls(#[from] TlsError),
}

/// Records converted but not yet settled, at most this many (oldest forgotten first).
const MAX_PENDING_RECORDS: usize = 4096;

pub struct RemoteWriteExporter {
    client: Client<HttpsConnector<HttpConnector>, Full<Bytes>>,
    url: Uri,
    headers: HeaderMap,
    timeout: Duration,
    converter: Mutex<Converter>,
    pending: Mutex<Pending>,
    dropped: Family<DropLabels, Counter>,
    id: String,
}

#[derive(Default)]
struct Pending {
    converted: HashMap<(u128, u64), Converted>,
    order: VecDeque<(u128, u64)>,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct DropLabels {
    component_id: String,
    reason: &'static str,
}

impl RemoteWriteExporter {
    pub fn new(
        config: &RemoteWriteConfig,
        id: &str,
        metrics: &Arc<SelfMetrics>,
    ) -> Result<Self, RemoteWriteError> {
        let mut headers = HeaderMap::new();
        for (key, value) in &config.headers {
            let header = |message: String| RemoteWriteError::Header {
                key: key.clone(),
                message,
            };
            let name = HeaderName::from_bytes(key.as_bytes()).map_err(|e| header(e.to_string()))?;
            let value = HeaderValue::from_str(value.expose()).map_err(|e| header(e.to_string()))?;
            headers.insert(name, value);
        }
        headers.insert(CONTENT_ENCODING, HeaderValue::from_static("snappy"));
        headers.insert(
            CONTENT_TYPE,
            HeaderValue::from_static("application/x-protobuf"),
        );
        headers.insert(
            "x-prometheus-remote-write-version",
            HeaderValue::from_static("0.1.0"),
        );
        headers.insert(
            USER_AGENT,
            HeaderValue::from_static(concat!("sentinel/", env!("CARGO_PKG_VERSION"))),
        );
        let mut connector = HttpConnector::new();
        connector.set_connect_timeout(Some(config.timeout));
        connector.set_nodelay(true);
        connector.enforce_http(false);
        let connector = HttpsConnectorBuilder::new()
            .with_tls_config((*config.tls.rustls_config()?).clone())
            .https_or_http()
            .enable_http1()
            .wrap_connector(connector);
        let settings = StoreSettings {
            namespace: config.namespace.clone(),
            const_labels: config.external_labels.clone(),
            resource_labels: config.resource_to_telemetry_conversion.enabled,
            expiration: config.metric_expiration,
            max_series: config.max_series,
        };
        let converter = Converter::new(
            &settings,
            config.add_metric_suffixes,
            config.target_info.enabled,
            &config.external_labels,
        );
        Ok(RemoteWriteExporter {
            client: Client::builder(TokioExecutor::new()).build(connector),
            url: config.endpoint.parse()?,
            headers,
            timeout: config.timeout,
            converter: Mutex::new(converter),
            pending: Mutex::default(),
            dropped: metrics.family(
                "prometheusremotewrite_dropped_points",
                "Data points remote write cannot carry (exponential histograms) or that are over max_series",
                Family::default,
            ),
            id: id.to_string(),
        })
    }

    /// Converts a record, or returns its conversion from an earlier attempt.
    fn converted(&self, record: Option<(u128, u64)>, payload: Payload) -> Converted {
        if let Some(key) = record {
            let pending = self.pending.lock().unwrap_or_else(PoisonError::into_inner);
            if let Some(done) = pending.converted.get(&key) {
                return done.clone();
            }
        }
        let Payload::Metrics(request) = payload else {
            return Converted::default();
        };
        let converted = self
            .converter
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .convert(request, now_ms());
        self.count_dropped("over_max_series", converted.over_limit);
        self.count_dropped("exponential_histogram", converted.unsupported);
        if let Some(key) = record {
            let mut pending = self.pending.lock().unwrap_or_else(PoisonError::into_inner);
            pending.converted.insert(key, converted.clone());
            pending.order.push_back(key);
            while pending.order.len() > MAX_PENDING_RECORDS {
                if let Some(oldest) = pending.order.pop_front() {
                    pending.converted.remove(&oldest);
                }
            }
        }
        converted
    }

    fn count_dropped(&self, reason: &'static str, points: usize) {
        if points > 0 {
            self.dropped
                .get_or_create(&DropLabels {
                    component_id: self.id.clone(),
                    reason,
                })
                .inc_by(points as u64);
        }
    }

    fn settle(&self, records: &[(u128, u64)]) {
        if records.is_empty() {
            return;
        }
        let mut pending = self.pending.lock().unwrap_or_else(PoisonError::into_inner);
        for record in records {
            pending.converted.remove(record);
        }
        let Pending { converted, order } = &mut *pending;
        order.retain(|r| converted.contains_key(r));
    }

    async fn write(&self, records: Vec<(Option<(u128, u64)>, Payload)>) -> Result<(), ExportError> {
        let ids: Vec<(u128, u64)> = records.iter().filter_map(|(id, _)| *id).collect();
        let mut request = WriteRequest::default();
        for (record, payload) in records {
            let converted = self.converted(record, payload);
            request.timeseries.extend(converted.series);
            request.metadata.extend(converted.metadata);
        }
        if request.timeseries.is_empty() {
            self.settle(&ids);
            return Ok(());
        }
        let body = snap::raw::Encoder::new()
            .compress_vec(&request.encode_to_vec())
            .map_err(|e| ExportError::permanent(format!("snappy compression failed: {e}")))?;
        let result = self.post(body).await;
        // A permanent failure is dead-lettered, not retried: its records are settled too.
        if !matches!(result, Err(ExportError::Retryable { .. })) {
            self.settle(&ids);
        }
        result
    }

    async fn post(&self, body: Vec<u8>) -> Result<(), ExportError> {
        let url = &self.url;
        let mut request = Request::post(url.clone())
            .body(Full::new(Bytes::from(body)))
            .map_err(|e| ExportError::permanent(format!("cannot build request: {e}")))?;
        request.headers_mut().extend(self.headers.clone());
        let exchange = async {
            let response = self.client.request(request).await.map_err(|e| {
                ExportError::retryable(format!(
                    "POST {url} failed: {}",
                    crate::otlphttp::with_causes(&e)
                ))
            })?;
            let status = response.status();
            let wait = crate::otlphttp::retry_after(response.headers());
            let body = response
                .into_body()
                .collect()
                .await
                .map_err(|e| ExportError::retryable(format!("reading the answer of {url}: {e}")))?
                .to_bytes();
            if status.is_success() {
                return Ok(());
            }
            let detail = String::from_utf8_lossy(&body[..body.len().min(512)]).to_string();
            let message = format!("HTTP {status} from {url}: {}", detail.trim());
            if status.as_u16() == 429 || status.is_server_error() {
                Err(ExportError::Retryable {
                    message,
                    retry_after: wait,
                })
            } else {
                Err(ExportError::Permanent { message })
            }
        };
        tokio::time::timeout(self.timeout, exchange)
            .await
            .map_err(|_| {
                ExportError::retryable(format!("POST {url} timed out after {:?}", self.timeout))
            })?
    }
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

#[async_trait]
impl Exporter for RemoteWriteExporter {
    async fn export(&self, payload: Payload) -> Result<(), ExportError> {
        self.write(vec![(None, payload)]).await
    }

    async fn export_records(&self, batch: RecordBatch) -> Result<(), ExportError> {
        let queue = batch.queue_id;
        let records = batch
            .records
            .into_iter()
            .map(|r| (Some((queue, r.seq)), r.payload))
            .collect();
        self.write(records).await
    }
}
