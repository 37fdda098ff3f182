//! Bind, accept loop and per-connection serving, with graceful shutdown. Connections
//! come from [`crate::listen::connections`] (cap, TLS, idle timeout, accept back-off);
//! bodies arrive as [`RequestBody`] (read deadline); `auth` is checked before the
//! handler runs.

use std::convert::Infallible;
use std::future::Future;
use std::net::ToSocketAddrs;
use std::pin::pin;
use std::sync::Arc;
use std::time::Duration;

use hyper::body::Incoming;
use hyper::header::{HeaderValue, WWW_AUTHENTICATE};
use hyper::{Method, Request, StatusCode};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use tokio::net::TcpListener;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use super::respond::{plain, HttpResponse};
use crate::listen::{Connection, Listening, TimedBody};

/// How long a server waits at shutdown for its open connections, unless told otherwise.
pub const DEFAULT_DRAIN_TIMEOUT: Duration = Duration::from_secs(5);

/// The body handlers read: the connection's body under `connections.read_timeout`.
pub type RequestBody = TimedBody<Incoming>;

/// Which requests need the bearer token when `auth` is set.
pub type AuthRequired = fn(&Method, &str) -> bool;

fn every_request(_: &Method, _: &str) -> bool {
    true
}

/// Binds a listening socket. Synchronous so that components built outside an async
/// function can bind too (it must run inside a Tokio runtime).
pub fn bind(address: impl ToSocketAddrs) -> std::io::Result<TcpListener> {
    let listener = std::net::TcpListener::bind(address)?;
    listener.set_nonblocking(true)?;
    TcpListener::from_std(listener)
}

/// One HTTP/1.1 + HTTP/2 server (h2c, or h2 over TLS by ALPN). The handler gets every
/// authenticated request and answers it; the server does the rest.
#[derive(Clone)]
pub struct HttpServer {
    /// Names the server in log lines.
    name: &'static str,
    drain_timeout: Option<Duration>,
    listening: Listening,
    auth_required: AuthRequired,
}

impl HttpServer {
    pub fn new(name: &'static str) -> HttpServer {
        HttpServer {
            name,
            drain_timeout: Some(DEFAULT_DRAIN_TIMEOUT),
            listening: Listening::default(),
            auth_required: every_request,
        }
    }

    /// How long shutdown waits for open connections before closing them; `None` waits for
    /// every in-flight request (for callers that bound the wait themselves).
    pub fn drain_timeout(mut self, timeout: Option<Duration>) -> HttpServer {
        self.drain_timeout = timeout;
        self
    }

    /// TLS, auth and connection limits (plaintext, open and the default limits without).
    pub fn listening(mut self, listening: Listening) -> HttpServer {
        self.listening = listening;
        self
    }

    /// With `auth`, only requests this says need it are checked (every one by default).
    pub fn auth_required(mut self, required: AuthRequired) -> HttpServer {
        self.auth_required = required;
        self
    }

    /// Serves until `shutdown` is cancelled; then closes the listener, asks every
    /// connection to finish its in-flight request and close, and returns once all are
    /// closed or the drain timeout has passed.
    pub async fn serve<H, F>(self, listener: TcpListener, handler: H, shutdown: CancellationToken)
    where
        H: Fn(Request<RequestBody>) -> F + Send + Sync + 'static,
        F: Future<Output = HttpResponse> + Send + 'static,
    {
        let handler = Arc::new(handler);
        let limits = &self.listening.limits;
        let mut builder = auto::Builder::new(TokioExecutor::new());
        builder
            .http1()
            .timer(TokioTimer::new())
            .header_read_timeout(limits.read_header_timeout);
        let accept_stop = shutdown.child_token();
        let mut incoming =
            crate::listen::connections(self.name, listener, &self.listening, accept_stop.clone());
        let gate = Arc::new(Gate {
            listening: self.listening.clone(),
            auth_required: self.auth_required,
        });
        let mut connections = JoinSet::new();
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => break,
                accepted = incoming.recv() => match accepted {
                    Some(connection) => {
                        connections.spawn(serve_connection(
                            self.name,
                            builder.clone(),
                            connection,
                            gate.clone(),
                            handler.clone(),
                            shutdown.clone(),
                        ));
                    }
                    None => break,
                },
                // Reaps finished connections so the set does not grow.
                Some(_) = connections.join_next(), if !connections.is_empty() => {}
            }
        }
        accept_stop.cancel();
        drop(incoming);
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

/// What every request passes before the handler: the token check.
struct Gate {
    listening: Listening,
    auth_required: AuthRequired,
}

impl Gate {
    fn refuse(&self, request: &Request<Incoming>) -> Option<HttpResponse> {
        let auth = self.listening.auth.as_ref()?;
        if !(self.auth_required)(request.method(), request.uri().path()) {
            return None;
        }
        let why = auth.check(request.headers()).err()?;
        let mut response = plain(StatusCode::UNAUTHORIZED, &format!("{why}\n"));
        response
            .headers_mut()
            .insert(WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        Some(response)
    }
}

async fn serve_connection<H, F>(
    name: &'static str,
    builder: auto::Builder<TokioExecutor>,
    connection: Connection,
    gate: Arc<Gate>,
    handler: Arc<H>,
    shutdown: CancellationToken,
) where
    H: Fn(Request<RequestBody>) -> F + Send + Sync + 'static,
    F: Future<Output = HttpResponse> + Send + 'static,
{
    let activity = connection.info().activity;
    let read_timeout = gate.listening.limits.read_timeout;
    let service = hyper::service::service_fn(move |request: Request<Incoming>| {
        let busy = activity.begin();
        let handled = match gate.refuse(&request) {
            Some(refusal) => Err(refusal),
            None => Ok(handler(
                request.map(|body| TimedBody::new(body, read_timeout)),
            )),
        };
        async move {
            let answer = match handled {
                Err(refusal) => refusal,
                Ok(response) => response.await,
            };
            drop(busy);
            Ok::<_, Infallible>(answer)
        }
    });
    let mut served = pin!(builder.serve_connection(TokioIo::new(connection), service));
    let served = tokio::select! {
        served = served.as_mut() => served,
        _ = shutdown.cancelled() => {
            served.as_mut().graceful_shutdown();
            served.await
        }
    };
    if let Err(err) = served {
        tracing::debug!(server = name, error = %err, "Connection ended with an error.");
    }
}
