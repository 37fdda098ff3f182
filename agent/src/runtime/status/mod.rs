//! What `sentinel top`, `sentinel tap` and the status page read from the admin address:
//! `GET /` (the status page, `page.html`), `GET /api/v1/status` (one JSON snapshot,
//! `snapshot.rs`) and `GET /api/v1/tap` (NDJSON samples, `tap_http.rs`).

mod samples;
mod snapshot;
mod tap_http;

use std::sync::Arc;
use std::time::Instant;

use hyper::{Method, Request, StatusCode};
use sentinel_pipeline::http::respond::{plain, respond, HttpResponse};
use sentinel_pipeline::tap::TapRegistry;

use crate::config::{AgentConfig, TapConfig};
use crate::receivers::hooks::redact::Redactor;
use crate::runtime::admin::AdminState;

const PAGE: &str = include_str!("page.html");

/// The status features' own state, one field of [`AdminState`].
pub struct Observe {
    pub taps: Arc<TapRegistry>,
    tap: TapConfig,
    started: Instant,
    redactor: Option<Redactor>,
}

impl Observe {
    pub fn new(config: &AgentConfig) -> Observe {
        let redactor = Redactor::new(&[])
            .inspect_err(
                |err| tracing::error!(%err, "The tap redactor did not compile; taps answer 500."),
            )
            .ok();
        Observe {
            taps: TapRegistry::new(),
            tap: config.service.telemetry.metrics.tap.clone(),
            started: Instant::now(),
            redactor,
        }
    }
}

/// True for the paths this module serves.
pub fn owns(path: &str) -> bool {
    matches!(path, "/" | "/index.html" | "/api/v1/status" | "/api/v1/tap")
}

pub async fn handle(
    state: &AdminState,
    request: Request<sentinel_pipeline::http::RequestBody>,
) -> HttpResponse {
    if request.method() != Method::GET {
        return plain(StatusCode::METHOD_NOT_ALLOWED, "only GET is served here\n");
    }
    let observe = &state.observe;
    match request.uri().path() {
        "/api/v1/status" => {
            let snapshot = status(state);
            match serde_json::to_string(&snapshot) {
                Ok(body) => respond(StatusCode::OK, "application/json", body),
                Err(err) => plain(StatusCode::INTERNAL_SERVER_ERROR, &format!("{err}\n")),
            }
        }
        "/api/v1/tap" => tap_http::handle(observe, request.uri().query().unwrap_or("")).await,
        _ => page(state),
    }
}

fn status(state: &AdminState) -> crate::top::snapshot::Snapshot {
    let observe = &state.observe;
    snapshot::build(
        state,
        &observe.taps,
        observe.started.elapsed().as_secs_f64(),
        observe.tap.enabled,
    )
}

/// The page with the effective (redacted) config in place; everything else it polls.
fn page(state: &AdminState) -> HttpResponse {
    let config = state
        .effective_config
        .read()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .clone();
    let body = PAGE.replace("{{EFFECTIVE_CONFIG}}", &html_escape(&config));
    let mut response = respond(StatusCode::OK, "text/html; charset=utf-8", body);
    response.headers_mut().insert(
        hyper::header::CONTENT_SECURITY_POLICY,
        hyper::header::HeaderValue::from_static(
            "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'",
        ),
    );
    response
}

fn html_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            c => out.push(c),
        }
    }
    out
}
