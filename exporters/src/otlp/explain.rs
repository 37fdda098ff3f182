//! Network failures in plain words for the `otlp` and `otlphttp` exporters: the endpoint
//! and the cause ("connection refused", "no such host `x`", "timed out", "the server does
//! not speak TLS"), found by walking the error's sources instead of showing tonic's or
//! hyper's outer text ("transport error", "client error (Connect)", `InvalidContentType`).

use std::error::Error;
use std::io;
use std::time::Duration;

/// Why a connection or exchange failed, as far as the error chain tells.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Cause {
    Refused,
    NoSuchHost,
    TimedOut,
    /// A TLS client got a reply that is not TLS (a plaintext server).
    NotTls,
    Reset,
    Certificate(String),
}

/// The endpoint a message is about.
pub(crate) struct Target<'a> {
    /// As written in the config (`collector:4317`, `https://…/v1/traces`).
    pub endpoint: &'a str,
    pub timeout: Duration,
}

impl Target<'_> {
    /// The host part of the endpoint, for "no such host".
    fn host(&self) -> &str {
        let rest = self
            .endpoint
            .split_once("://")
            .map_or(self.endpoint, |(_, r)| r);
        let authority = rest.split('/').next().unwrap_or(rest);
        let host = authority
            .rsplit_once(':')
            .filter(|(_, port)| port.parse::<u16>().is_ok())
            .map_or(authority, |(h, _)| h);
        host.trim_start_matches('[').trim_end_matches(']')
    }

    /// "cannot reach `endpoint`: cause", or `None` when the chain names no known cause.
    pub fn explain(&self, error: &(dyn Error + 'static)) -> Option<String> {
        let cause = cause(error)?;
        let why = match cause {
            Cause::Refused => "connection refused (nothing listens there)".to_string(),
            Cause::NoSuchHost => format!("no such host `{}`", self.host()),
            Cause::TimedOut => format!("timed out after {:?}", self.timeout),
            Cause::NotTls => {
                "the server does not speak TLS; set `tls.insecure: true` (or use an `http://` endpoint)"
                    .to_string()
            }
            Cause::Reset => "the server closed the connection".to_string(),
            Cause::Certificate(detail) => format!(
                "the server's certificate is not accepted ({detail}); set `tls.ca_file` to the CA that signed it"
            ),
        };
        Some(format!("cannot reach {}: {why}", self.endpoint))
    }
}

/// The first known cause in `error` and its sources.
pub(crate) fn cause(error: &(dyn Error + 'static)) -> Option<Cause> {
    let mut next = Some(error);
    while let Some(error) = next {
        if let Some(cause) = own_cause(error) {
            return Some(cause);
        }
        next = error.source();
    }
    None
}

fn own_cause(error: &(dyn Error + 'static)) -> Option<Cause> {
    if let Some(tls) = error.downcast_ref::<rustls::Error>() {
        return tls_cause(tls);
    }
    if let Some(io) = error.downcast_ref::<io::Error>() {
        // io::Error's `source` skips the error it wraps, so look inside it here.
        if let Some(tls) = io.get_ref().and_then(|e| e.downcast_ref::<rustls::Error>()) {
            return tls_cause(tls);
        }
        match io.kind() {
            io::ErrorKind::ConnectionRefused => return Some(Cause::Refused),
            io::ErrorKind::TimedOut => return Some(Cause::TimedOut),
            io::ErrorKind::ConnectionReset | io::ErrorKind::ConnectionAborted => {
                return Some(Cause::Reset)
            }
            _ => {}
        }
    }
    let text = error.to_string();
    let lookup_failed = [
        "dns error",
        "failed to lookup address",
        "Name or service not known",
    ];
    if lookup_failed.iter().any(|t| text.contains(t)) {
        return Some(Cause::NoSuchHost);
    }
    // rustls' words for a non-TLS reply, for a rustls error behind another library's box.
    if text.contains("received corrupt message") {
        return Some(Cause::NotTls);
    }
    let timed_out = ["Timeout expired", "deadline has elapsed", "connect timeout"];
    if timed_out.iter().any(|t| text.contains(t)) {
        return Some(Cause::TimedOut);
    }
    None
}

fn tls_cause(error: &rustls::Error) -> Option<Cause> {
    match error {
        // What a plaintext server's first bytes look like to a TLS client.
        rustls::Error::InvalidMessage(_) => Some(Cause::NotTls),
        rustls::Error::InvalidCertificate(detail) => {
            Some(Cause::Certificate(format!("{detail:?}")))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_host_is_read_from_every_endpoint_form() {
        for (endpoint, host) in [
            ("nonexistent.invalid:4317", "nonexistent.invalid"),
            ("https://gw.example:443/v1/traces", "gw.example"),
            ("http://[::1]:4318", "::1"),
            ("http://collector/v1/logs", "collector"),
        ] {
            let target = Target {
                endpoint,
                timeout: Duration::from_secs(1),
            };
            assert_eq!(target.host(), host, "{endpoint}");
        }
    }

    #[test]
    fn causes_are_found_inside_io_errors() {
        let refused = io::Error::from(io::ErrorKind::ConnectionRefused);
        assert_eq!(cause(&refused), Some(Cause::Refused));
        let not_tls = io::Error::new(
            io::ErrorKind::InvalidData,
            rustls::Error::InvalidMessage(rustls::InvalidMessage::InvalidContentType),
        );
        assert_eq!(cause(&not_tls), Some(Cause::NotTls));
        let other = io::Error::other("something else");
        assert_eq!(cause(&other), None);
    }
}
