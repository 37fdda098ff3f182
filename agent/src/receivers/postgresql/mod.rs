//! The `postgresql` receiver: polls one PostgreSQL server every `collection_interval` and
//! reports its connections as `db.client.connection.*` pool figures (one pool per
//! database, named `host:port/database` as the conventions ask for unnamed pools) plus the
//! server figures a DBA expects, named like the Collector's postgresql receiver.
//!
//! The receiver keeps one connection open between scrapes (application name
//! `sentinel-postgresql`) and leaves it out of the counts it reports. When the server is
//! unreachable it reports `postgresql.up` = 0, the scrape loop logs once, and the next
//! interval reconnects.

mod config;
mod scraper;

use std::time::Duration;

use async_trait::async_trait;
use sentinel_pipeline::config::{self as pipeline_config, Diagnostic, Endpoint, Node};
use sentinel_pipeline::tls::ClientTlsConfig;
use sentinel_pipeline::{
    BuildContext, BuildError, ComponentInfo, Factory, Kind, Outputs, Receiver, ReceiverFactory,
    Running, Signal,
};
use tokio_postgres::config::SslMode;
use tokio_postgres::tls::MakeTlsConnect;
use tokio_postgres::{NoTls, Socket};
use tokio_postgres_rustls::MakeRustlsConnect;

pub use config::{password_or_empty, validate_interval, PostgresqlConfig, DEFAULT_INTERVAL};

use crate::receivers::scrape;

/// Builds `postgresql` receivers.
pub struct PostgresqlReceiverFactory;

impl Factory for PostgresqlReceiverFactory {
    fn info(&self) -> ComponentInfo {
        ComponentInfo {
            type_name: "postgresql",
            kind: Kind::Receiver,
            signals: &[Signal::Metrics],
            description: "Polls a PostgreSQL server: connections by state, database and application, limits, lock waits, oldest transaction and query, commits, rollbacks, deadlocks, sizes",
        }
    }

    fn check(&self, node: &Node) -> Result<serde_json::Value, Vec<Diagnostic>> {
        pipeline_config::check::<PostgresqlConfig>(node)
    }
}

impl ReceiverFactory for PostgresqlReceiverFactory {
    fn build(&self, node: &Node, ctx: BuildContext) -> Result<Box<dyn Receiver>, BuildError> {
        let config: PostgresqlConfig =
            pipeline_config::decode_valid(node).map_err(|d| BuildError::config(&ctx.id, d))?;
        let tls = tls_connector(&config.tls, &ctx.id)?;
        warn_if_plaintext(
            &ctx.id,
            &config.endpoint,
            &config.tls,
            config.password.expose(),
        );
        Ok(Box::new(PostgresqlReceiver { config, tls, ctx }))
    }
}

struct PostgresqlReceiver {
    config: PostgresqlConfig,
    tls: Option<MakeRustlsConnect>,
    ctx: BuildContext,
}

#[async_trait]
impl Receiver for PostgresqlReceiver {
    async fn start(self: Box<Self>, outputs: Outputs) -> Result<Running, BuildError> {
        let schedule = scrape::Schedule {
            interval: self.config.collection_interval,
            initial_delay: self.config.initial_delay,
        };
        let scraper = scraper::PostgresqlScraper::new(self.config, self.tls);
        Ok(scrape::spawn(
            &self.ctx,
            schedule,
            Box::new(scraper),
            &outputs,
        ))
    }
}

/// Where and how to log in; shared with the pgbouncer receiver, whose admin console
/// speaks the same protocol.
pub(crate) struct Login<'a> {
    pub endpoint: &'a Endpoint,
    pub username: &'a str,
    pub password: &'a str,
    pub database: &'a str,
    pub application_name: &'a str,
    /// `None`: plaintext.
    pub tls: Option<&'a MakeRustlsConnect>,
}

/// The TLS connector for a `tls` block, built once; `None` for plaintext. An unreadable
/// or empty `ca_file`, `cert_file` or `key_file` fails the start.
pub(crate) fn tls_connector(
    tls: &ClientTlsConfig,
    id: &str,
) -> Result<Option<MakeRustlsConnect>, BuildError> {
    let config = tls.client_config().map_err(|e| BuildError::Other {
        component: id.to_string(),
        message: format!("tls: {e}"),
    })?;
    Ok(config.map(|c| MakeRustlsConnect::new((*c).clone())))
}

/// A password sent in plaintext to another host is worth one warning at start.
pub(crate) fn warn_if_plaintext(
    id: &str,
    endpoint: &Endpoint,
    tls: &ClientTlsConfig,
    password: &str,
) {
    let (host, _) = host_and_port(endpoint);
    let loopback = host == "localhost"
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    if tls.insecure && !password.is_empty() && !loopback {
        tracing::warn!(
            component = id,
            endpoint = %endpoint,
            "the password goes to a remote host without TLS; set `tls.insecure: false`"
        );
    }
}

/// `host` and `port` of an endpoint (validated as `host:port` when the config was read).
pub(crate) fn host_and_port(endpoint: &Endpoint) -> (String, u16) {
    let (host, port) = endpoint
        .as_str()
        .rsplit_once(':')
        .unwrap_or((endpoint.as_str(), "0"));
    let host = host.trim_start_matches('[').trim_end_matches(']');
    (host.to_string(), port.parse().unwrap_or(0))
}

/// Opens a connection (TLS required when `login.tls` is set) and drives it in a background task that ends when the
/// client is dropped or the server goes away.
pub(crate) async fn connect(
    login: &Login<'_>,
    timeout: Duration,
) -> Result<tokio_postgres::Client, String> {
    let (host, port) = host_and_port(login.endpoint);
    let mut config = tokio_postgres::Config::new();
    config
        .host(&host)
        .port(port)
        .user(login.username)
        .dbname(login.database)
        .application_name(login.application_name)
        .connect_timeout(timeout);
    if !login.password.is_empty() {
        config.password(login.password);
    }
    let connected = match login.tls {
        None => {
            config.ssl_mode(SslMode::Disable);
            open(&config, NoTls, timeout).await
        }
        Some(tls) => {
            config.ssl_mode(SslMode::Require);
            open(&config, tls.clone(), timeout).await
        }
    };
    connected.map_err(|e| match e {
        Some(e) => format!("cannot connect to {}: {}", login.endpoint, error_text(&e)),
        None => format!("connecting to {} timed out", login.endpoint),
    })
}

/// Connects with `tls` and spawns the connection task; `Err(None)` is a timeout. Errors of
/// the connection task surface on the client's next query, which reconnects.
async fn open<T>(
    config: &tokio_postgres::Config,
    tls: T,
    timeout: Duration,
) -> Result<tokio_postgres::Client, Option<tokio_postgres::Error>>
where
    T: MakeTlsConnect<Socket>,
    T::Stream: Send + 'static,
{
    let (client, connection) = tokio::time::timeout(timeout, config.connect(tls))
        .await
        .map_err(|_| None)?
        .map_err(Some)?;
    tokio::spawn(connection);
    Ok(client)
}

/// The error with its cause: tokio-postgres puts the server's message in the source.
pub(crate) fn error_text(error: &tokio_postgres::Error) -> String {
    use std::error::Error as _;
    match error.source() {
        Some(source) => format!("{error}: {source}"),
        None => error.to_string(),
    }
}

#[cfg(test)]
mod compliance;
