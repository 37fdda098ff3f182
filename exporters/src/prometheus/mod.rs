//! `prometheus` exporter: serves the metrics pipeline on its own endpoint for scraping.

#[cfg(test)]
mod compliance;
mod config;
mod exposition;
#[cfg(test)]
mod tests;

pub use config::{PrometheusConfig, ResourceConversion};

use std::sync::{Arc, Mutex};
use std::time::Instant;

use async_trait::async_trait;
use hyper::{Request, StatusCode};
use sentinel_pipeline::config::{check, decode_valid, Diagnostic, Node};
use sentinel_pipeline::http::respond::{bare, respond};
use sentinel_pipeline::http::{HttpServer, RequestBody};
use sentinel_pipeline::listen::{exposure_diagnostic, exposure_warning, Listening, ALPN_HTTP};
use sentinel_pipeline::visit;
use sentinel_pipeline::{
    BuildContext, BuildError, BuiltExporter, ComponentInfo, ComponentMetrics, ExportError,
    Exporter, ExporterFactory, Factory, Kind, Payload, Signal,
};
use tokio_util::sync::CancellationToken;

use sentinel_pipeline::prometheus::{Store, StoreSettings};

/// The Prometheus text exposition format.
const EXPOSITION: &str = "text/plain; version=0.0.4; charset=utf-8";

pub struct PrometheusFactory;

impl Factory for PrometheusFactory {
    fn info(&self) -> ComponentInfo {
        ComponentInfo {
            type_name: "prometheus",
            kind: Kind::Exporter,
            signals: &[Signal::Metrics],
            description: "Serves metrics for Prometheus to scrape (delta to cumulative)",
        }
    }

    fn check(&self, node: &Node) -> Result<serde_json::Value, Vec<Diagnostic>> {
        check::<PrometheusConfig>(node)
    }

    fn warnings(&self, node: &Node) -> Vec<Diagnostic> {
        let Ok(config) = decode_valid::<PrometheusConfig>(node) else {
            return Vec::new();
        };
        let (tls, auth) = (config.tls.is_some(), config.auth.is_some());
        exposure_diagnostic(node, "endpoint", config.endpoint.as_str(), tls, auth)
            .into_iter()
            .collect()
    }
}

impl ExporterFactory for PrometheusFactory {
    fn build(&self, node: &Node, ctx: BuildContext) -> Result<BuiltExporter, BuildError> {
        let config: PrometheusConfig =
            decode_valid(node).map_err(|d| BuildError::config(&ctx.id, d))?;
        let listener = bind(&config, &ctx.id)?;
        let listening = Listening::build(
            config.tls.as_ref(),
            config.auth.as_ref(),
            &config.connections,
            ALPN_HTTP,
        )
        .map_err(|err| BuildError::Other {
            component: ctx.id.clone(),
            message: err.to_string(),
        })?;
        let key = format!("exporters.{}.endpoint", ctx.id);
        let (tls, auth) = (config.tls.is_some(), config.auth.is_some());
        if let Some(warning) = exposure_warning(&key, config.endpoint.as_str(), tls, auth) {
            tracing::warn!("{warning}");
        }
        let exporter = Arc::new(PrometheusExporter::new(
            &config,
            ctx.component_metrics(Kind::Exporter, Signal::Metrics),
        ));
        tokio::spawn(serve(
            listener,
            exporter.store.clone(),
            listening,
            ctx.shutdown.clone(),
        ));
        tracing::info!(exporter = %ctx.id, address = %config.endpoint, "Prometheus scrape endpoint listening (/metrics).");
        Ok(BuiltExporter {
            exporter,
            queue: config.sending_queue,
            retry: config.retry_on_failure,
        })
    }
}

fn bind(config: &PrometheusConfig, id: &str) -> Result<tokio::net::TcpListener, BuildError> {
    let bind_error = |source: std::io::Error| BuildError::Bind {
        component: id.to_string(),
        endpoint: config.endpoint.to_string(),
        source,
    };
    let addr = config.endpoint.socket_addr().map_err(bind_error)?;
    sentinel_pipeline::http::bind(addr).map_err(bind_error)
}

pub struct PrometheusExporter {
    store: Arc<Mutex<Store>>,
    metrics: ComponentMetrics,
}

impl PrometheusExporter {
    pub fn new(config: &PrometheusConfig, metrics: ComponentMetrics) -> Self {
        let store = Store::new(&StoreSettings {
            namespace: config.namespace.clone(),
            const_labels: config.const_labels.clone(),
            resource_labels: config.resource_to_telemetry_conversion.enabled,
            expiration: config.metric_expiration,
            max_series: config.max_series,
        });
        PrometheusExporter {
            store: Arc::new(Mutex::new(store)),
            metrics,
        }
    }

    pub fn render(&self) -> String {
        render(&self.store)
    }
}

fn render(store: &Mutex<Store>) -> String {
    match store.lock() {
        Ok(mut store) => {
            store.expire(Instant::now());
            exposition::render(&store)
        }
        Err(_) => String::new(),
    }
}

#[async_trait]
impl Exporter for PrometheusExporter {
    async fn export(&self, payload: Payload) -> Result<(), ExportError> {
        let Payload::Metrics(request) = payload else {
            return Err(ExportError::permanent(
                "the prometheus exporter only takes metrics",
            ));
        };
        let now = Instant::now();
        let (mut over_limit, mut unsupported) = (0, 0);
        {
            let mut store = self
                .store
                .lock()
                .map_err(|_| ExportError::retryable("prometheus store poisoned"))?;
            for (resource, _, metric) in visit::items(&request) {
                let result = store.ingest(resource, metric, now);
                over_limit += result.over_limit;
                unsupported += result.unsupported;
            }
        }
        if over_limit > 0 {
            self.metrics
                .dropped(over_limit, "prometheus max_series reached");
        }
        if unsupported > 0 {
            self.metrics.dropped(
                unsupported,
                "exponential histograms have no Prometheus text form",
            );
        }
        Ok(())
    }
}

async fn serve(
    listener: tokio::net::TcpListener,
    store: Arc<Mutex<Store>>,
    listening: Listening,
    shutdown: CancellationToken,
) {
    let handler = move |request: Request<RequestBody>| {
        let response = if request.uri().path() == "/metrics" {
            respond(StatusCode::OK, EXPOSITION, render(&store))
        } else {
            bare(StatusCode::NOT_FOUND, "not found: try /metrics\n")
        };
        async move { response }
    };
    HttpServer::new("prometheus")
        .listening(listening)
        .serve(listener, handler, shutdown)
        .await;
}
