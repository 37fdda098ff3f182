//! Reaching a `host:port` the way a probe must: the name resolved and every address
//! tried in turn, each phase timed, and a failure classified with the Collector's
//! `error.code` values. `httpcheck` dials through this too, so both receivers report
//! DNS and connect time the same way.

use std::io;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use tokio::net::TcpStream;

/// How long each phase of a dial took; a phase that did not finish is `None`.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct DialPhases {
    /// Resolving the host name (near zero for an IP address).
    pub dns: Option<Duration>,
    /// The TCP handshake, over every address tried.
    pub connect: Option<Duration>,
}

/// Why a dial failed.
#[derive(Debug, thiserror::Error)]
pub enum DialError {
    #[error("dns: cannot resolve {host}: {source}")]
    Resolve { host: String, source: io::Error },
    #[error("dns: {host} resolves to no address")]
    NoAddress { host: String },
    #[error("connect: {address}: {source}")]
    Connect {
        address: SocketAddr,
        source: io::Error,
    },
}

impl DialError {
    /// The Collector's tcpcheck `error.code` for this failure.
    pub fn code(&self) -> &'static str {
        match self {
            DialError::Resolve { .. } | DialError::NoAddress { .. } => "invalid_endpoint",
            DialError::Connect { source, .. } => io_code(source),
        }
    }
}

/// The Collector's `error.code` for an I/O error while connecting.
pub fn io_code(error: &io::Error) -> &'static str {
    match error.kind() {
        io::ErrorKind::ConnectionRefused => "connection_refused",
        io::ErrorKind::TimedOut => "connection_timeout",
        io::ErrorKind::NetworkUnreachable | io::ErrorKind::HostUnreachable => "network_unreachable",
        _ => "unknown_error",
    }
}

/// Resolves `host` and connects to its addresses in order until one answers; `phases`
/// is filled as each phase ends, so a caller that gives up on a timeout still knows how
/// far the dial got.
pub async fn dial(host: &str, port: u16, phases: &mut DialPhases) -> Result<TcpStream, DialError> {
    let started = Instant::now();
    let addresses: Vec<SocketAddr> = tokio::net::lookup_host((host, port))
        .await
        .map_err(|source| DialError::Resolve {
            host: host.to_string(),
            source,
        })?
        .collect();
    phases.dns = Some(started.elapsed());
    let connecting = Instant::now();
    let mut last = None;
    for address in addresses {
        match TcpStream::connect(address).await {
            Ok(stream) => {
                phases.connect = Some(connecting.elapsed());
                let _ = stream.set_nodelay(true);
                return Ok(stream);
            }
            Err(source) => last = Some(DialError::Connect { address, source }),
        }
    }
    Err(last.unwrap_or_else(|| DialError::NoAddress {
        host: host.to_string(),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_listening_port_is_reached_and_both_phases_are_timed() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let mut phases = DialPhases::default();
        dial("127.0.0.1", port, &mut phases).await.unwrap();
        assert!(
            phases.dns.is_some() && phases.connect.is_some(),
            "{phases:?}"
        );
    }

    #[tokio::test]
    async fn a_closed_port_is_refused_after_the_lookup() {
        let port = crate::receivers::compliance_client::free_port();
        let mut phases = DialPhases::default();
        let error = dial("127.0.0.1", port, &mut phases).await.unwrap_err();
        assert_eq!(error.code(), "connection_refused", "{error}");
        assert!(phases.dns.is_some());
        assert!(phases.connect.is_none());
    }
}
