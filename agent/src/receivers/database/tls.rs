//! The `tls` block of a database receiver, turned once at start into what its client
//! needs: a connector for the PostgreSQL protocol (which negotiates TLS in-band), or the
//! rustls settings and server name for a server that speaks TLS from the first byte
//! (Redis). An unreadable or empty `ca_file`, `cert_file` or `key_file` fails the start.

use std::sync::Arc;

use rustls::pki_types::ServerName;
use sentinel_pipeline::config::Endpoint;
use sentinel_pipeline::tls::ClientTlsConfig;
use sentinel_pipeline::BuildError;
use tokio_postgres_rustls::MakeRustlsConnect;

use super::host_and_port;

/// TLS from the first byte: the settings and the name to ask the server for (the
/// endpoint's host; `server_name_override` changes which name the certificate must carry).
pub struct DirectTls {
    pub config: Arc<rustls::ClientConfig>,
    pub server_name: ServerName<'static>,
}

/// The connector for PostgreSQL and PgBouncer; `None` for plaintext.
pub fn postgres_tls(
    tls: &ClientTlsConfig,
    id: &str,
) -> Result<Option<MakeRustlsConnect>, BuildError> {
    let config = rustls_settings(tls, id)?;
    Ok(config.map(|c| MakeRustlsConnect::new((*c).clone())))
}

/// The settings for a server reached at `endpoint` over TLS from the first byte; `None`
/// for plaintext.
pub fn direct_tls(
    tls: &ClientTlsConfig,
    endpoint: &Endpoint,
    id: &str,
) -> Result<Option<DirectTls>, BuildError> {
    let Some(config) = rustls_settings(tls, id)? else {
        return Ok(None);
    };
    let (host, _) = host_and_port(endpoint);
    let server_name = ServerName::try_from(host.clone()).map_err(|_| {
        failed(
            id,
            format!("endpoint: {host:?} is not a valid TLS server name"),
        )
    })?;
    Ok(Some(DirectTls {
        config,
        server_name,
    }))
}

fn rustls_settings(
    tls: &ClientTlsConfig,
    id: &str,
) -> Result<Option<Arc<rustls::ClientConfig>>, BuildError> {
    tls.client_config()
        .map_err(|e| failed(id, format!("tls: {e}")))
}

fn failed(id: &str, message: String) -> BuildError {
    BuildError::Other {
        component: id.to_string(),
        message,
    }
}
