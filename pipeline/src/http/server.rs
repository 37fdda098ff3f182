//! Bind, accept loop and per-connection serving, with graceful shutdown.

use std::convert::Infallible;
use std::future::Future;
use std::net::ToSocketAddrs;
use std::pin::pin;
use std::sync::Arc;
use std::time::Duration;

use hyper::body::Incoming;
use hyper::Request;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use super::respond::HttpResponse;

/// A client that does not finish sending its headers in this time is disconnected.
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(30);
/// Pause after a failed accept (out of file descriptors and the like) instead of spinning.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(50);
/// How long a server waits at shutdown for its open connections, unless told otherwise.
pub const DEFAULT_DRAIN_TIMEOUT: Duration = Duration::from_secs(5);

/// Binds a listening socket. Synchronous so that components built outside an async
/// function can bind too (it must run inside a Tokio runtime).
pub fn bind(address: impl ToSocketAddrs) -> std::io::Result<TcpListener> {
    let listener = std::net::TcpListener::bind(address)?;
    listener.set_nonblocking(true)?;
    TcpListener::from_std(listener)
}

/// One HTTP/1.1 + HTTP/2 (h2c) server. The handler gets every request and answers it;
/// the server does the rest.
#[derive(Debug, Clone)]
pub struct HttpServer {
    /// Names the server in log lines.
    name: &'static str,
    drain_timeout: Option<Duration>,
}

impl HttpServer {
    pub fn new(name: &'static str) -> HttpServer {
        HttpServer {
            name,
            drain_timeout: Some(DEFAULT_DRAIN_TIMEOUT),
        }
    }

    /// How long shutdown waits for open connections before closing them; `None` waits for
    /// every in-flight request (for callers that bound the wait themselves).
    pub fn drain_timeout(mut self, timeout: Option<Duration>) -> HttpServer {
        self.drain_timeout = timeout;
        self
    }

    /// Serves until `shutdown` is cancelled; then closes the listener, asks every
    /// connection to finish its in-flight request and close, and returns once all are
    /// closed or the drain timeout has passed.
    pub async fn serve<H, F>(self, listener: TcpListener, handler: H, shutdown: CancellationToken)
    where
        H: Fn(Request<Incoming>) -> F + Send + Sync + 'static,
        F: Future<Output = HttpResponse> + Send + 'static,
    {
        let handler = Arc::new(handler);
        let mut builder = auto::Builder::new(TokioExecutor::new());
        builder
            .http1()
            .timer(TokioTimer::new())
            .header_read_timeout(HEADER_READ_TIMEOUT);
        let mut connections = JoinSet::new();
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => break,
                accepted = listener.accept() => match accepted {
                    Ok((stream, _peer)) => {
                        let _ = stream.set_nodelay(true);
                        connections.spawn(serve_connection(
                            self.name,
                            builder.clone(),
                            stream,
                            handler.clone(),
                            shutdown.clone(),
                        ));
                    }
                    Err(err) => {
                        tracing::warn!(server = self.name, error = %err, "Cannot accept a connection.");
                        tokio::time::sleep(ACCEPT_BACKOFF).await;
                    }
                },
                // Reaps finished connections so the set does not grow.
                Some(_) = connections.join_next(), if !connections.is_empty() => {}
            }
        }
        drop(listener);
        self.drain(connections).await;
    }

    async fn drain(&self, mut connections: JoinSet<()>) {
        let all_closed = async { while connections.join_next().await.is_some() {} };
        let Some(limit) = self.drain_timeout else {
            return all_closed.await;
        };
        if tokio::time::timeout(limit, all_closed).await.is_err() {
            tracing::warn!(
                server = self.name,
                connections = connections.len(),
                "Connections still busy after the shutdown drain timeout: closing them."
            );
            connections.shutdown().await;
        }
    }
}

async fn serve_connection<H, F>(
    name: &'static str,
    builder: auto::Builder<TokioExecutor>,
    stream: TcpStream,
    handler: Arc<H>,
    shutdown: CancellationToken,
) where
    H: Fn(Request<Incoming>) -> F + Send + Sync + 'static,
    F: Future<Output = HttpResponse> + Send + 'static,
{
    let service = hyper::service::service_fn(move |request| {
        let response = handler(request);
        async move { Ok::<_, Infallible>(response.await) }
    });
    let mut connection = pin!(builder.serve_connection(TokioIo::new(stream), service));
    let served = tokio::select! {
        served = connection.as_mut() => served,
        _ = shutdown.cancelled() => {
            connection.as_mut().graceful_shutdown();
            connection.await
        }
    };
    if let Err(err) = served {
        tracing::debug!(server = name, error = %err, "Connection ended with an error.");
    }
}
