//! The admin listener: `/metrics` (OpenMetrics or Prometheus text, as asked), `/healthz` and `/readyz`.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use hyper::body::Incoming;
use hyper::{Method, Request, StatusCode};
use sentinel_pipeline::http::respond::{bare, respond, HttpResponse};
use sentinel_pipeline::http::HttpServer;
use sentinel_pipeline::SelfMetrics;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::runtime::exposition;
use crate::runtime::process_metrics::ProcessMetrics;

/// Shared state the admin endpoints read.
pub struct AdminState {
    pub metrics: Arc<SelfMetrics>,
    pub process: ProcessMetrics,
    /// True once every receiver listens, false again when shutdown starts.
    pub ready: AtomicBool,
}

/// Binds the admin address; the caller's error names the address and the setting.
pub async fn bind(address: &str) -> std::io::Result<TcpListener> {
    sentinel_pipeline::http::bind(address)
}

pub async fn serve(listener: TcpListener, state: Arc<AdminState>, shutdown: CancellationToken) {
    let handler = move |request: Request<Incoming>| {
        let response = route(&state, &request);
        async move { response }
    };
    HttpServer::new("admin")
        .serve(listener, handler, shutdown)
        .await;
}

fn route(state: &AdminState, req: &Request<Incoming>) -> HttpResponse {
    if req.method() != Method::GET {
        return bare(StatusCode::METHOD_NOT_ALLOWED, "only GET is served here\n");
    }
    match req.uri().path() {
        "/metrics" => {
            state.process.refresh();
            let openmetrics = state.metrics.encode();
            let accept = req.headers().get(hyper::header::ACCEPT);
            if exposition::wants_openmetrics(accept.and_then(|a| a.to_str().ok())) {
                respond(StatusCode::OK, exposition::OPENMETRICS, openmetrics)
            } else {
                let text = exposition::openmetrics_to_text(&openmetrics);
                respond(StatusCode::OK, exposition::TEXT_004, text)
            }
        }
        "/healthz" => bare(StatusCode::OK, "ok\n"),
        "/readyz" => {
            if state.ready.load(Ordering::Acquire) {
                bare(StatusCode::OK, "ready\n")
            } else {
                bare(StatusCode::SERVICE_UNAVAILABLE, "not ready\n")
            }
        }
        _ => bare(
            StatusCode::NOT_FOUND,
            "not found: try /metrics, /healthz or /readyz\n",
        ),
    }
}
