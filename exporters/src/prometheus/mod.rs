//! `prometheus` exporter: serves the metrics pipeline on its own endpoint for scraping.

mod config;
mod state;
#[cfg(test)]
mod tests;

pub use config::{PrometheusConfig, ResourceConversion};

use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use async_trait::async_trait;
use bytes::Bytes;
use http_body_util::Full;
use hyper::{Response, StatusCode};
use hyper_util::rt::{TokioExecutor, TokioIo};
use sentinel_pipeline::config::{check, decode_valid, Diagnostic, Node};
use sentinel_pipeline::visit;
use sentinel_pipeline::{
    BuildContext, BuildError, BuiltExporter, ComponentInfo, ComponentMetrics, ExportError,
    Exporter, ExporterFactory, Factory, Kind, Payload, Signal,
};
use tokio_util::sync::CancellationToken;

use state::Store;

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
}

impl ExporterFactory for PrometheusFactory {
    fn build(&self, node: &Node, ctx: BuildContext) -> Result<BuiltExporter, BuildError> {
        let config: PrometheusConfig =
            decode_valid(node).map_err(|d| BuildError::config(&ctx.id, d))?;
        let listener = bind(&config, &ctx.id)?;
        let exporter = Arc::new(PrometheusExporter::new(
            &config,
            ctx.component_metrics(Kind::Exporter, Signal::Metrics),
        ));
        tokio::spawn(serve(
            listener,
            exporter.store.clone(),
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
    let listener = std::net::TcpListener::bind(addr).map_err(bind_error)?;
    listener.set_nonblocking(true).map_err(bind_error)?;
    tokio::net::TcpListener::from_std(listener).map_err(bind_error)
}

pub struct PrometheusExporter {
    store: Arc<Mutex<Store>>,
    metrics: ComponentMetrics,
}

impl PrometheusExporter {
    pub fn new(config: &PrometheusConfig, metrics: ComponentMetrics) -> Self {
        let store = Store::new(
            config.namespace.clone(),
            &config.const_labels,
            config.resource_to_telemetry_conversion.enabled,
            config.metric_expiration,
            config.max_series,
        );
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
            store.render()
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
    shutdown: CancellationToken,
) {
    loop {
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(err) => {
                    tracing::warn!(error = %err, "Prometheus listener accept failed.");
                    continue;
                }
            },
            _ = shutdown.cancelled() => return,
        };
        let store = store.clone();
        tokio::spawn(async move {
            let service =
                hyper::service::service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
                    let store = store.clone();
                    async move {
                        let response = if req.uri().path() == "/metrics" {
                            let mut r = Response::new(Full::new(Bytes::from(render(&store))));
                            r.headers_mut().insert(
                                hyper::header::CONTENT_TYPE,
                                hyper::header::HeaderValue::from_static(
                                    "text/plain; version=0.0.4; charset=utf-8",
                                ),
                            );
                            r
                        } else {
                            let mut r = Response::new(Full::new(Bytes::from_static(
                                b"not found: try /metrics\n",
                            )));
                            *r.status_mut() = StatusCode::NOT_FOUND;
                            r
                        };
                        Ok::<_, Infallible>(response)
                    }
                });
            let builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
            let _ = builder
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}
