//! The admin listener: `/metrics` (OpenMetrics or Prometheus text, as asked), `/healthz`,
//! `/readyz` and the silences API (`silences.rs`).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};

use hyper::{Method, Request, StatusCode};
use sentinel_exporters::notify::silences::SilenceStore;
use sentinel_exporters::sending::ExportHealth;
use sentinel_pipeline::http::respond::{bare, respond, HttpResponse};
use sentinel_pipeline::http::HttpServer;
use sentinel_pipeline::http::RequestBody;
use sentinel_pipeline::SelfMetrics;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::runtime::exposition;
use crate::runtime::process_metrics::ProcessMetrics;

/// Shared state the admin endpoints read.
// The reload and status-page fields are written here and read by those features.
#[allow(dead_code)]
pub struct AdminState {
    pub metrics: Arc<SelfMetrics>,
    pub process: ProcessMetrics,
    /// True once every receiver listens, false again when shutdown starts.
    pub ready: AtomicBool,
    /// Every exporter's delivery health, set once the topology runs.
    pub exporters: std::sync::RwLock<Vec<ExporterView>>,
    /// The silences of `sentinel alerts silence` (`/api/v2/silences`).
    pub silences: Arc<SilenceStore>,
    /// The running config as `print-config` renders it (secrets redacted); replaced by
    /// each successful reload. Shown on the status page.
    pub effective_config: std::sync::RwLock<String>,
    /// The outcome of the last reload attempt, if any (status page, `sentinel top`).
    pub last_reload: std::sync::Mutex<Option<ReloadOutcome>>,
    /// The status page, `/api/v1/status` and `/api/v1/tap` (`status/`).
    pub observe: super::status::Observe,
    /// Where `POST /-/reload` queues its request (set once the topology runs).
    pub reload: OnceLock<super::reload::ReloadHandle>,
}

/// One running exporter as `/readyz` and the status page see it; the list is replaced
/// whenever the topology starts or reloads.
#[derive(Clone)]
pub struct ExporterView {
    pub id: String,
    pub health: Arc<ExportHealth>,
    /// The sending queue's byte budget.
    pub capacity_bytes: u64,
}

/// What the last reload did, as the status page and `top` show it.
#[derive(Debug, Clone)]
#[allow(dead_code)]
pub struct ReloadOutcome {
    pub at: std::time::SystemTime,
    /// True when the new config runs; false when the last good config was kept.
    pub succeeded: bool,
    /// What changed (on success) or the validation errors with file:line:col (on failure).
    pub summary: String,
}

impl AdminState {
    /// Shows the running exporters to `/readyz` and the status page (at start and after
    /// every reload, which may add, remove or replace queues).
    pub fn publish_exporters(&self, topology: &super::topology::Topology) {
        *self.exporters.write().unwrap_or_else(|e| e.into_inner()) = topology.exporter_views();
    }
}

/// Binds the admin address; the caller's error names the address and the setting.
pub async fn bind(address: &str) -> std::io::Result<TcpListener> {
    sentinel_pipeline::http::bind(address)
}

pub async fn serve(
    listener: TcpListener,
    state: Arc<AdminState>,
    listening: sentinel_pipeline::listen::Listening,
    shutdown: CancellationToken,
) {
    let handler = move |request: Request<RequestBody>| {
        let state = state.clone();
        async move {
            if super::reload::http::owns(request.uri().path()) {
                return super::reload::http::handle(&state, request).await;
            }
            if super::silences::owns(request.uri().path()) {
                return super::silences::handle(&state.silences, request).await;
            }
            if super::status::owns(request.uri().path()) {
                return super::status::handle(&state, request).await;
            }
            route(&state, &request)
        }
    };
    HttpServer::new("admin")
        .listening(listening)
        .auth_required(super::admin_auth::required)
        .serve(listener, handler, shutdown)
        .await;
}

/// 503 until every receiver listens and again once shutdown starts. While an exporter is
/// in a failing streak the answer stays 200 (its queue still takes data, and refusing
/// traffic would move the loss to the applications) but says `degraded` and why.
fn readiness(state: &AdminState) -> HttpResponse {
    if !state.ready.load(Ordering::Acquire) {
        return bare(StatusCode::SERVICE_UNAVAILABLE, "not ready\n");
    }
    let degraded: Vec<String> = state
        .exporters
        .read()
        .unwrap_or_else(|e| e.into_inner())
        .iter()
        .filter_map(|view| view.health.degraded())
        .map(|d| {
            format!(
                "exporter {} is degraded: {} failed exports over {}s; last error: {}\n",
                d.exporter,
                d.failures,
                d.failing_for.as_secs(),
                d.last_error
            )
        })
        .collect();
    if degraded.is_empty() {
        bare(StatusCode::OK, "ready\n")
    } else {
        respond(
            StatusCode::OK,
            "text/plain; charset=utf-8",
            format!("degraded\n{}", degraded.concat()),
        )
    }
}

fn route(state: &AdminState, req: &Request<RequestBody>) -> HttpResponse {
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
        "/readyz" => readiness(state),
        _ => bare(
            StatusCode::NOT_FOUND,
            "not found: try /metrics, /healthz or /readyz\n",
        ),
    }
}
