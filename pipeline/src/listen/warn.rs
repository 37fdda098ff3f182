//! The one warning for a listener reachable from other hosts with neither TLS nor auth,
//! logged at start and printed by `sentinel validate`.

use std::net::IpAddr;

use crate::config::{Diagnostic, Node, ValidationError};

/// The warning for a listener at `endpoint` (`host:port`), or `None` when it listens on
/// loopback only or has `tls` or `auth`. `key` names the endpoint's setting.
pub fn exposure_warning(key: &str, endpoint: &str, tls: bool, auth: bool) -> Option<String> {
    if tls || auth || is_loopback(endpoint) {
        return None;
    }
    Some(format!(
        "{key}: {endpoint} is reachable from other hosts without `tls` or `auth`: \
         anyone who can reach it can send data; add `auth: {{bearer_token_file: ...}}` \
         and `tls` (docs/security.md), or listen on 127.0.0.1"
    ))
}

/// [`exposure_warning`] as a `sentinel validate` warning placed at the endpoint key
/// (`path` within the component's `node`).
pub fn exposure_diagnostic(
    node: &Node,
    path: &str,
    endpoint: &str,
    tls: bool,
    auth: bool,
) -> Option<Diagnostic> {
    let warning = exposure_warning(path, endpoint, tls, auth)?;
    let span = ValidationError::at(path, "").span_in(node);
    Some(Diagnostic::warning(span, warning))
}

fn is_loopback(endpoint: &str) -> bool {
    let host = match endpoint.rsplit_once(':') {
        Some((host, _port)) => host,
        None => endpoint,
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    if host.eq_ignore_ascii_case("localhost") {
        return true;
    }
    host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_open_non_loopback_listeners_are_warned_about() {
        for quiet in [
            "127.0.0.1:4317",
            "localhost:4318",
            "[::1]:9090",
            "127.0.0.2:1",
        ] {
            assert_eq!(exposure_warning("k", quiet, false, false), None, "{quiet}");
        }
        for open in [
            "0.0.0.0:4317",
            ":4318",
            "[::]:4317",
            "10.0.0.1:80",
            "node:4317",
        ] {
            let warning = exposure_warning("receivers.otlp", open, false, false).unwrap();
            assert!(
                warning.contains(open) && warning.contains("auth"),
                "{warning}"
            );
            assert_eq!(exposure_warning("k", open, true, false), None);
            assert_eq!(exposure_warning("k", open, false, true), None);
        }
    }
}
