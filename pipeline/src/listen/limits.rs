//! `connections`: how many connections a listener holds and how long it waits for them.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::config::ValidationError;

/// Default cap on open connections per listener. The shipped systemd unit's
/// `LimitNOFILE=16384` leaves room for every listener at this cap plus the agent's files.
pub const DEFAULT_MAX_CONNECTIONS: usize = 1024;

/// `connections` of a server block (the otlp receiver's `protocols.grpc` and
/// `protocols.http`, the hooks receiver, the prometheus exporter, the admin address).
///
/// ```yaml
/// connections:
///   max: 1024
///   idle_timeout: 60s
///   read_header_timeout: 10s
///   read_timeout: 60s
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ConnectionLimits {
    /// Most connections open at once. Past it the listener stops accepting (new clients
    /// wait in the kernel's backlog) until one closes, so a flood of idle sockets cannot
    /// exhaust the agent's file descriptors. Default 1024.
    pub max: usize,
    /// A connection with no request in progress and no bytes in either direction for
    /// this long is closed. Default 60s.
    #[serde(with = "humantime_serde")]
    pub idle_timeout: Duration,
    /// Time a client has to finish the TLS handshake and, on HTTP/1.1, to send a
    /// request's headers. Default 10s.
    #[serde(with = "humantime_serde")]
    pub read_header_timeout: Duration,
    /// Time a client has to send a request's whole body once its headers arrived (HTTP
    /// and gRPC alike); a slower body is abandoned and the request answered with an
    /// error. Default 60s.
    #[serde(with = "humantime_serde")]
    pub read_timeout: Duration,
}

impl Default for ConnectionLimits {
    fn default() -> Self {
        ConnectionLimits {
            max: DEFAULT_MAX_CONNECTIONS,
            idle_timeout: Duration::from_secs(60),
            read_header_timeout: Duration::from_secs(10),
            read_timeout: Duration::from_secs(60),
        }
    }
}

impl ConnectionLimits {
    /// Paths are relative to the block: callers report them `within("connections")`.
    pub fn validate(&self) -> Result<(), ValidationError> {
        if self.max == 0 {
            return Err(ValidationError::at("max", "must be at least 1"));
        }
        let timeouts = [
            ("idle_timeout", self.idle_timeout),
            ("read_header_timeout", self.read_header_timeout),
            ("read_timeout", self.read_timeout),
        ];
        for (key, value) in timeouts {
            if value.is_zero() {
                return Err(ValidationError::at(key, "must be more than 0s"));
            }
        }
        Ok(())
    }
}
