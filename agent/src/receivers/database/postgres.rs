//! Logging in over the PostgreSQL protocol, which the postgresql receiver and PgBouncer's
//! admin console both speak: a [`Session`] kept open between scrapes, over plaintext or
//! TLS (required, never a silent downgrade, when the receiver has TLS settings).

use std::future::Future;
use std::time::Duration;

use sentinel_pipeline::config::Endpoint;
use tokio_postgres::config::SslMode;
use tokio_postgres::tls::MakeTlsConnect;
use tokio_postgres::{Client, NoTls, Socket};
use tokio_postgres_rustls::MakeRustlsConnect;

use super::host_and_port;

/// Where and how to log in.
#[derive(Debug, Clone)]
pub struct Login {
    pub endpoint: Endpoint,
    pub username: String,
    pub password: String,
    pub database: String,
    /// Shown in `pg_stat_activity`, so operators can tell the receiver's session apart.
    pub application_name: &'static str,
}

/// The server could not be reached or refused the login.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error("cannot connect to {endpoint}: {}", error_text(.cause))]
    Refused {
        endpoint: Endpoint,
        cause: tokio_postgres::Error,
    },
    #[error("connecting to {endpoint} timed out")]
    TimedOut { endpoint: Endpoint },
}

/// A scrape's queries that did not complete. `context` names what was queried in the
/// message (`"admin console "`, or nothing for the server itself).
#[derive(Debug, thiserror::Error)]
pub enum QueryError {
    #[error(transparent)]
    Connect(#[from] ConnectError),
    #[error("{context}query failed: {}", error_text(.cause))]
    Failed {
        context: &'static str,
        cause: tokio_postgres::Error,
    },
    #[error("{context}queries timed out")]
    TimedOut { context: &'static str },
}

/// A session kept open between scrapes and opened again after any failure.
pub struct Session {
    login: Login,
    /// `None`: plaintext.
    tls: Option<MakeRustlsConnect>,
    client: Option<Client>,
    context: &'static str,
}

impl Session {
    /// `context` prefixes query errors (see [`QueryError`]).
    pub fn new(login: Login, tls: Option<MakeRustlsConnect>, context: &'static str) -> Session {
        Session {
            login,
            tls,
            client: None,
            context,
        }
    }

    /// Runs one scrape's `queries` within `timeout`, logging in first when there is no
    /// open session. A failure closes the session: it may be mid-reply.
    pub async fn query<T, Q, F>(&mut self, timeout: Duration, queries: Q) -> Result<T, QueryError>
    where
        Q: FnOnce(Client) -> F,
        F: Future<Output = (Client, Result<T, tokio_postgres::Error>)>,
    {
        let client = match self.client.take() {
            Some(client) if !client.is_closed() => client,
            _ => connect(&self.login, self.tls.as_ref(), timeout).await?,
        };
        let context = self.context;
        match tokio::time::timeout(timeout, queries(client)).await {
            Ok((client, Ok(rows))) => {
                self.client = Some(client);
                Ok(rows)
            }
            Ok((_, Err(cause))) => Err(QueryError::Failed { context, cause }),
            Err(_) => Err(QueryError::TimedOut { context }),
        }
    }
}

/// Opens a connection (TLS required when `tls` is set) and drives it in a background task
/// that ends when the client is dropped or the server goes away.
pub async fn connect(
    login: &Login,
    tls: Option<&MakeRustlsConnect>,
    timeout: Duration,
) -> Result<Client, ConnectError> {
    let (host, port) = host_and_port(&login.endpoint);
    let mut config = tokio_postgres::Config::new();
    config
        .host(&host)
        .port(port)
        .user(&login.username)
        .dbname(&login.database)
        .application_name(login.application_name)
        .connect_timeout(timeout);
    if !login.password.is_empty() {
        config.password(&login.password);
    }
    let connected = match tls {
        None => {
            config.ssl_mode(SslMode::Disable);
            open(&config, NoTls, timeout).await
        }
        Some(tls) => {
            config.ssl_mode(SslMode::Require);
            open(&config, tls.clone(), timeout).await
        }
    };
    let endpoint = login.endpoint.clone();
    connected.map_err(|cause| match cause {
        Some(cause) => ConnectError::Refused { endpoint, cause },
        None => ConnectError::TimedOut { endpoint },
    })
}

/// Connects with `tls` and spawns the connection task; `Err(None)` is a timeout. Errors of
/// the connection task surface on the client's next query, which reconnects.
async fn open<T>(
    config: &tokio_postgres::Config,
    tls: T,
    timeout: Duration,
) -> Result<Client, Option<tokio_postgres::Error>>
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
fn error_text(error: &tokio_postgres::Error) -> String {
    use std::error::Error as _;
    match error.source() {
        Some(source) => format!("{error}: {source}"),
        None => error.to_string(),
    }
}
