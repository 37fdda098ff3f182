//! Connecting with libpq's `sslmode` semantics on rustls (ring):
//! - `disable`: plain TCP;
//! - `prefer` / `require`: TLS (if offered / always), certificate not checked, as libpq
//!   does without a root certificate: encryption, not authentication;
//! - `verify-ca`: the chain must lead to a trusted CA; the host name is not checked;
//! - `verify-full`: chain and host name checked.

use sentinel_pipeline::tls::{client_config, TlsError, Verification};
use tokio_postgres::config::SslMode as PgSslMode;
use tokio_postgres::tls::MakeTlsConnect;
use tokio_postgres::{Client, Config, NoTls, Socket};
use tokio_postgres_rustls::MakeRustlsConnect;

use super::config::{PostgresConfig, SslMode};

/// Settings a connector cannot be built from.
#[derive(Debug, thiserror::Error)]
pub enum ConnectorError {
    #[error("invalid dsn: {0}")]
    Dsn(tokio_postgres::Error),
    #[error(transparent)]
    Tls(#[from] TlsError),
}

/// How to open connections; built once from the config.
#[derive(Clone)]
pub struct Connector {
    config: Config,
    tls: Option<MakeRustlsConnect>,
}

impl Connector {
    pub fn new(settings: &PostgresConfig) -> Result<Connector, ConnectorError> {
        let mut config: Config = settings.dsn.expose().parse().map_err(ConnectorError::Dsn)?;
        if config.get_application_name().is_none() {
            config.application_name("sentinel");
        }
        config.connect_timeout(std::time::Duration::from_secs(10));
        config.keepalives_idle(std::time::Duration::from_secs(30));
        let tls = match settings.sslmode {
            SslMode::Disable => {
                config.ssl_mode(PgSslMode::Disable);
                None
            }
            mode => {
                config.ssl_mode(if mode == SslMode::Prefer {
                    PgSslMode::Prefer
                } else {
                    PgSslMode::Require
                });
                // libpq's modes, which the Collector's `tls` keys cannot all express
                // (`verify-ca` checks the chain but not the name).
                let verification = match mode {
                    SslMode::VerifyFull => Verification::Full,
                    SslMode::VerifyCa => Verification::ChainOnly,
                    _ => Verification::None,
                };
                let rustls = client_config(verification, settings.ca_file.as_deref(), None)?;
                Some(MakeRustlsConnect::new((*rustls).clone()))
            }
        };
        Ok(Connector { config, tls })
    }

    /// Opens a connection and drives it on a task of its own.
    pub async fn connect(&self) -> Result<Client, tokio_postgres::Error> {
        match &self.tls {
            None => open(&self.config, NoTls).await,
            Some(tls) => open(&self.config, tls.clone()).await,
        }
    }
}

async fn open<T>(config: &Config, tls: T) -> Result<Client, tokio_postgres::Error>
where
    T: MakeTlsConnect<Socket>,
    T::Stream: Send + 'static,
{
    let (client, connection) = config.connect(tls).await?;
    tokio::spawn(async move {
        if let Err(e) = connection.await {
            tracing::debug!(error = %e, "PostgreSQL connection closed");
        }
    });
    Ok(client)
}
