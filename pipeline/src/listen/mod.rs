//! What every listening socket shares, written once: server TLS with certificate
//! rotation ([`tls`]), bearer-token authentication ([`auth`]), connection limits and
//! timeouts ([`limits`]), the accept loop with its connection cap and back-off on accept
//! errors ([`accept`]), the connection wrapper that closes idle connections
//! ([`connection`]) and the request body with a read deadline ([`body`]).
//!
//! The HTTP server (`http::HttpServer`: otlp HTTP, hooks, admin, prometheus) and the
//! otlp receiver's gRPC server both take their connections from [`accept::connections`].

pub mod accept;
pub mod auth;
pub mod body;
pub mod connection;
pub mod limits;
#[cfg(test)]
mod tests;
pub mod tls;
mod warn;

use std::sync::Arc;

pub use accept::connections;
pub use auth::{Authenticator, ServerAuthConfig, Unauthenticated};
pub use body::{BodyTimeout, TimedBody};
pub use connection::{Activity, Connection, ConnectionInfo};
pub use limits::ConnectionLimits;
pub use tls::{ServerTlsConfig, ALPN_GRPC, ALPN_HTTP};
pub use warn::{exposure_diagnostic, exposure_warning};

use crate::config::ValidationError;
use crate::tls::TlsError;

/// A listener's security and limits, built from its config keys at start.
#[derive(Clone, Default)]
pub struct Listening {
    /// rustls server settings when `tls` is set; plaintext otherwise.
    pub tls: Option<Arc<rustls::ServerConfig>>,
    /// The bearer-token check when `auth` is set.
    pub auth: Option<Authenticator>,
    pub limits: ConnectionLimits,
}

/// Why a listener's `tls` or `auth` block cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ListenError {
    #[error("tls: {0}")]
    Tls(#[from] TlsError),
    #[error("auth: {0}")]
    Auth(#[from] auth::AuthError),
}

impl Listening {
    /// Reads the certificate, key, client CA and token files named by the config.
    pub fn build(
        tls: Option<&ServerTlsConfig>,
        auth: Option<&ServerAuthConfig>,
        limits: &ConnectionLimits,
        alpn: &[&[u8]],
    ) -> Result<Listening, ListenError> {
        Ok(Listening {
            tls: tls.map(|t| t.server_config(alpn)).transpose()?,
            auth: auth.map(ServerAuthConfig::authenticator).transpose()?,
            limits: limits.clone(),
        })
    }
}

/// Checks the `tls`, `auth` and `connections` blocks of one server block; the error's
/// path is relative to that block.
pub fn check_listener(
    tls: &Option<ServerTlsConfig>,
    auth: &Option<ServerAuthConfig>,
    connections: &ConnectionLimits,
) -> Result<(), ValidationError> {
    if let Some(tls) = tls {
        tls.validate().map_err(|e| e.within("tls"))?;
    }
    if let Some(auth) = auth {
        auth.validate().map_err(|e| e.within("auth"))?;
    }
    connections.validate().map_err(|e| e.within("connections"))
}
