//! Security of the admin address: which requests need the bearer token when
//! `service.telemetry.metrics.auth` is set, its TLS and limits, and the warning for an
//! admin address reachable from other hosts without either.

use hyper::Method;
use sentinel_pipeline::config::Diagnostic;
use sentinel_pipeline::listen::{
    check_listener, exposure_warning, ListenError, Listening, ALPN_HTTP,
};

use crate::config::{AgentConfig, MetricsTelemetry};

/// With `auth` set, the token is required for anything that changes state or streams
/// data: every non-GET request, `/-/*` (reload), `/api/v1/tap*` and
/// `/api/v2/silences*`. `/metrics`, `/healthz`, `/readyz`, the status page and
/// `/api/v1/status` stay open for probes and scrapers.
pub fn required(method: &Method, path: &str) -> bool {
    method != Method::GET
        || path.starts_with("/-/")
        || path.starts_with("/api/v1/tap")
        || path.starts_with("/api/v2/silences")
}

/// TLS, auth and limits of the admin address, files read now; warns once when the
/// address is reachable from other hosts with neither TLS nor auth.
pub fn listening(metrics: &MetricsTelemetry) -> Result<Listening, ListenError> {
    let listening = Listening::build(
        metrics.tls.as_ref(),
        metrics.auth.as_ref(),
        &metrics.connections,
        ALPN_HTTP,
    )?;
    if let Some(warning) = warning(metrics) {
        tracing::warn!("{warning}");
    }
    Ok(listening)
}

fn warning(metrics: &MetricsTelemetry) -> Option<String> {
    exposure_warning(
        "service.telemetry.metrics.address",
        metrics.address.as_str(),
        metrics.tls.is_some(),
        metrics.auth.is_some(),
    )
}

/// `sentinel validate`'s errors and warning about the admin address's security keys,
/// placed at the `service` section.
pub fn diagnostics(config: &AgentConfig) -> Vec<Diagnostic> {
    let metrics = &config.service.telemetry.metrics;
    let span = &config.service.span;
    let mut out = Vec::new();
    if let Err(err) = check_listener(&metrics.tls, &metrics.auth, &metrics.connections) {
        let err = err.within("service.telemetry.metrics");
        out.push(Diagnostic::error(span.clone(), err.to_string()));
    }
    out.extend(warning(metrics).map(|w| Diagnostic::warning(span.clone(), w)));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_token_guards_changes_and_streams_not_probes() {
        for (method, path) in [
            (Method::POST, "/-/reload"),
            (Method::GET, "/-/reload"),
            (Method::GET, "/api/v1/tap?component=otlp"),
            (Method::GET, "/api/v2/silences"),
            (Method::POST, "/api/v2/silences"),
            (Method::DELETE, "/api/v2/silence/x"),
            (Method::POST, "/metrics"),
        ] {
            assert!(required(&method, path), "{method} {path}");
        }
        for path in ["/metrics", "/healthz", "/readyz", "/", "/api/v1/status"] {
            assert!(!required(&Method::GET, path), "GET {path}");
        }
    }
}
