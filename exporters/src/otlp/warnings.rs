//! `sentinel validate` warnings about where an exporter's data goes in plaintext or where
//! TLS is likely to meet a plaintext server. The issue asked to warn "when an `otlp`
//! exporter points at a loopback or plain `http://` endpoint without a `tls` block"; read
//! as the two traps behind it:
//!
//! - `otlp` with a bare `host:port` on this machine and no `tls` block: TLS is on by
//!   default (as in the Collector) while a local Collector or agent usually listens in
//!   plaintext, so every export would fail with "the server does not speak TLS".
//! - an `http://` endpoint to another machine with no `tls` block: telemetry (and any
//!   API key in the headers) crosses the network unencrypted.
//!
//! Writing a `tls` block is the explicit choice that silences either warning.

use std::net::IpAddr;

use sentinel_pipeline::config::{Diagnostic, Node};

/// Whether `host` is this machine (`localhost`, 127.0.0.0/8, `::1`).
pub(crate) fn is_loopback(host: &str) -> bool {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost")
        || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// The scheme (if written) and host of an endpoint.
fn split(endpoint: &str) -> (Option<&str>, &str) {
    let (scheme, rest) = match endpoint.split_once("://") {
        Some((scheme, rest)) => (Some(scheme), rest),
        None => (None, endpoint),
    };
    let authority = rest.split('/').next().unwrap_or(rest);
    let host = match authority.rsplit_once(':') {
        Some((host, port)) if port.parse::<u16>().is_ok() => host,
        _ => authority,
    };
    (scheme, host)
}

/// The warning for one endpoint value of an exporter without a `tls` block.
/// `default_tls`: whether a bare `host:port` uses TLS (`otlp`), or is not allowed.
pub(crate) fn endpoint_warning(key: &str, value: &Node, default_tls: bool) -> Option<Diagnostic> {
    let endpoint = value.as_str()?.trim();
    let (scheme, host) = split(endpoint);
    let message = match scheme {
        None if default_tls && is_loopback(host) => format!(
            "`{key}: {endpoint}` is this machine and there is no `tls` block, so TLS is used; a local \
             Collector or agent usually listens without TLS: if so, add `tls: {{insecure: true}}` \
             (a `tls` block with your choice silences this warning)"
        ),
        Some("http") if !is_loopback(host) => format!(
            "`{key}: {endpoint}` sends telemetry (and any headers) to `{host}` unencrypted; use \
             `https://` unless the network is trusted (a `tls` block with your choice silences \
             this warning)"
        ),
        _ => return None,
    };
    Some(Diagnostic::warning(value.span.clone(), message))
}

/// Warnings for the given endpoint keys of an exporter node, none when it has a `tls` block.
pub(crate) fn plaintext_warnings(node: &Node, keys: &[&str], default_tls: bool) -> Vec<Diagnostic> {
    if node.get("tls").is_some() {
        return Vec::new();
    }
    keys.iter()
        .filter_map(|key| endpoint_warning(key, node.get(key)?, default_tls))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use sentinel_pipeline::config::parse_yaml;

    fn warnings(yaml: &str, default_tls: bool) -> Vec<String> {
        let node = parse_yaml("e.yaml", yaml).unwrap().unwrap();
        plaintext_warnings(&node, &["endpoint", "traces_endpoint"], default_tls)
            .iter()
            .map(|d| d.to_string())
            .collect()
    }

    #[test]
    fn loopback_without_tls_block_and_remote_plain_http_are_warned_about() {
        let local = warnings("endpoint: 127.0.0.1:4317\n", true);
        assert_eq!(local.len(), 1);
        assert!(
            local[0]
                .starts_with("e.yaml:1:11: warning: `endpoint: 127.0.0.1:4317` is this machine"),
            "{local:?}"
        );
        assert!(
            local[0].contains("add `tls: {insecure: true}`"),
            "{local:?}"
        );
        let remote = warnings("traces_endpoint: http://gw.example:4318/v1/traces\n", false);
        assert_eq!(remote.len(), 1);
        assert!(
            remote[0].contains("to `gw.example` unencrypted"),
            "{remote:?}"
        );
        assert_eq!(warnings("endpoint: localhost:4317\n", true).len(), 1);
        assert_eq!(warnings("endpoint: '[::1]:4317'\n", true).len(), 1);
    }

    #[test]
    fn explicit_tls_choices_and_safe_endpoints_are_quiet() {
        for (yaml, default_tls) in [
            ("endpoint: 127.0.0.1:4317\ntls: {insecure: true}\n", true),
            (
                "endpoint: http://gw.example:4317\ntls: {insecure: true}\n",
                true,
            ),
            ("endpoint: http://127.0.0.1:4317\n", true),
            ("endpoint: gw.example:4317\n", true),
            ("endpoint: https://gw.example:4317\n", true),
            ("endpoint: 127.0.0.1:4318\n", false),
        ] {
            assert!(warnings(yaml, default_tls).is_empty(), "{yaml}");
        }
    }
}
