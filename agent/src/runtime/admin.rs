//! The admin listener: `/metrics` (Prometheus text), `/healthz`, `/readyz` and the
//! silences API (`silences.rs`).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use hyper::body::Incoming;
use hyper::{Method, Request, StatusCode};
use sentinel_exporters::notify::silences::SilenceStore;
use sentinel_pipeline::http::respond::{bare, respond, HttpResponse};
use sentinel_pipeline::http::HttpServer;
use sentinel_pipeline::SelfMetrics;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::runtime::process_metrics::ProcessMetrics;

const OPENMETRICS: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Shared state the admin endpoints read.
pub struct AdminState {
    pub metrics: Arc<SelfMetrics>,
    pub process: ProcessMetrics,
    /// True once every receiver listens, false again when shutdown starts.
    pub ready: AtomicBool,
    /// The silences of `sentinel alerts silence` (`/api/v2/silences`).
    pub silences: Arc<SilenceStore>,
}

/// Binds the admin address; the caller's error names the address and the setting.
pub async fn bind(address: &str) -> std::io::Result<TcpListener> {
    sentinel_pipeline::http::bind(address)
}

pub async fn serve(listener: TcpListener, state: Arc<AdminState>, shutdown: CancellationToken) {
    let handler = move |request: Request<Incoming>| {
        let state = state.clone();
        async move {
            if super::silences::owns(request.uri().path()) {
                return super::silences::handle(&state.silences, request).await;
            }
            route(&state, &request)
        }
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
            respond(StatusCode::OK, OPENMETRICS, state.metrics.encode())
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
