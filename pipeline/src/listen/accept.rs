//! The accept loop every listener runs: at most `connections.max` open connections,
//! TLS handshakes off the loop under `read_header_timeout`, and accept errors (out of
//! file descriptors and the like) answered with a growing pause and logged once per
//! streak with a count, never once per error.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, OwnedSemaphorePermit, Semaphore};
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;

use super::connection::{Connection, Io};
use super::Listening;

/// First pause after a failed accept; doubled on each further failure up to the max.
const BACKOFF_FIRST: Duration = Duration::from_millis(5);
const BACKOFF_MAX: Duration = Duration::from_secs(1);
/// Connections handed over but not yet taken by the server.
const HANDOVER: usize = 64;

/// Accepts on `listener` until `shutdown` is cancelled (then the listener is closed) and
/// hands over each connection once its TLS handshake, if any, is done.
pub fn connections(
    name: &'static str,
    listener: TcpListener,
    listening: &Listening,
    shutdown: CancellationToken,
) -> mpsc::Receiver<Connection> {
    let (tx, rx) = mpsc::channel(HANDOVER);
    let slots = Arc::new(Semaphore::new(listening.limits.max));
    let accept = Acceptor {
        name,
        tls: listening.tls.clone().map(TlsAcceptor::from),
        idle_timeout: listening.limits.idle_timeout,
        handshake_timeout: listening.limits.read_header_timeout,
        tx,
    };
    tokio::spawn(accept.run(listener, slots, shutdown));
    rx
}

struct Acceptor {
    name: &'static str,
    tls: Option<TlsAcceptor>,
    idle_timeout: Duration,
    handshake_timeout: Duration,
    tx: mpsc::Sender<Connection>,
}

impl Acceptor {
    async fn run(self, listener: TcpListener, slots: Arc<Semaphore>, shutdown: CancellationToken) {
        let mut failures = FailureStreak::new(self.name);
        loop {
            // At the cap, stop accepting: new clients wait in the backlog, no file is used.
            let slot = tokio::select! {
                _ = shutdown.cancelled() => break,
                slot = slots.clone().acquire_owned() => match slot {
                    Ok(slot) => slot,
                    Err(_) => break,
                },
            };
            let accepted = tokio::select! {
                _ = shutdown.cancelled() => break,
                accepted = listener.accept() => accepted,
            };
            match accepted {
                Ok((stream, peer)) => {
                    failures.ended();
                    let _ = stream.set_nodelay(true);
                    tokio::spawn(self.hand_over(stream, peer, slot));
                }
                Err(err) => {
                    drop(slot);
                    let pause = failures.failed(&err);
                    tokio::select! {
                        _ = shutdown.cancelled() => break,
                        _ = tokio::time::sleep(pause) => {}
                    }
                }
            }
        }
        failures.ended();
    }

    fn hand_over(
        &self,
        stream: TcpStream,
        peer: SocketAddr,
        slot: OwnedSemaphorePermit,
    ) -> impl std::future::Future<Output = ()> + Send + 'static {
        let tls = self.tls.clone();
        let tx = self.tx.clone();
        let (name, idle, handshake) = (self.name, self.idle_timeout, self.handshake_timeout);
        async move {
            let io = match tls {
                None => Io::Plain(stream),
                Some(acceptor) => {
                    match tokio::time::timeout(handshake, acceptor.accept(stream)).await {
                        Ok(Ok(tls)) => Io::Tls(Box::new(tls)),
                        Ok(Err(err)) => {
                            tracing::debug!(server = name, %peer, error = %err, "TLS handshake failed.");
                            return;
                        }
                        Err(_) => {
                            tracing::debug!(server = name, %peer, "TLS handshake timed out.");
                            return;
                        }
                    }
                }
            };
            let _ = tx.send(Connection::new(io, peer, idle, slot)).await;
        }
    }
}

/// Consecutive accept failures: the pause to take and the two log lines of a streak.
struct FailureStreak {
    name: &'static str,
    count: u64,
    since: Option<Instant>,
    pause: Duration,
    last_error: String,
}

impl FailureStreak {
    fn new(name: &'static str) -> FailureStreak {
        FailureStreak {
            name,
            count: 0,
            since: None,
            pause: BACKOFF_FIRST,
            last_error: String::new(),
        }
    }

    fn failed(&mut self, err: &std::io::Error) -> Duration {
        self.count += 1;
        if self.since.is_none() {
            self.since = Some(Instant::now());
            self.pause = BACKOFF_FIRST;
            tracing::warn!(
                server = self.name,
                error = %err,
                "Cannot accept connections; retrying with a pause from 5ms doubling to 1s \
                 (the count of failed accepts is logged when accepting works again)."
            );
        } else {
            self.pause = (self.pause * 2).min(BACKOFF_MAX);
        }
        self.last_error = err.to_string();
        self.pause
    }

    fn ended(&mut self) {
        if let Some(since) = self.since.take() {
            tracing::warn!(
                server = self.name,
                failed_accepts = self.count,
                last_error = %self.last_error,
                "Accepting connections again after {} failed accepts over {:.1}s.",
                self.count,
                since.elapsed().as_secs_f64()
            );
            self.count = 0;
        }
    }
}
