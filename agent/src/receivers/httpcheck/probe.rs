//! One HTTP probe driven by hand (name lookup, TCP connect, TLS handshake, then one
//! HTTP/1.1 exchange over hyper's connection API), so each phase is timed on its own
//! and the server certificate can be read.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use http_body_util::{BodyExt, Full};
use hyper::header::{HeaderMap, HeaderValue, HOST, USER_AGENT};
use hyper::{Method, Request, Uri};
use hyper_util::rt::TokioIo;
use rustls::pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncWrite};

use super::certificate::{self, Certificate};
use super::timed::{self, Timed};
use crate::receivers::tcpcheck::dial::{dial, DialError, DialPhases};

/// Response bodies are read up to this many bytes for the validations; the rest is
/// drained and only counted, so memory per probe stays bounded.
pub const BODY_CAP: usize = 1 << 20;

/// Everything needed to probe one URL, built once when the receiver starts.
#[derive(Debug, Clone)]
pub struct Exchange {
    /// The URL as configured: the `http.url` attribute.
    pub url: String,
    pub uri: Uri,
    pub host: String,
    pub port: u16,
    pub method: Method,
    pub headers: HeaderMap,
    pub body: Bytes,
    pub timeout: Duration,
    /// Settings and server name for `https://`; `None` for `http://`.
    pub tls: Option<(Arc<rustls::ClientConfig>, ServerName<'static>)>,
}

/// How long each phase took; a phase not reached (or not finished) is `None`.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Phases {
    pub dial: DialPhases,
    pub tls: Option<Duration>,
    /// Connection ready → request written.
    pub request: Option<Duration>,
    /// Connection ready → first response byte (time to first byte).
    pub first_byte: Option<Duration>,
    /// First response byte → end of the body.
    pub response: Option<Duration>,
}

/// The response as far as the checks need it.
#[derive(Debug, Clone)]
pub struct Response {
    pub status: u16,
    /// The first [`BODY_CAP`] bytes.
    pub body: Bytes,
    /// The whole body's size.
    pub size: u64,
}

/// Why a probe got no response.
#[derive(Debug, thiserror::Error)]
pub enum ProbeError {
    #[error(transparent)]
    Dial(#[from] DialError),
    #[error("tls: {0}")]
    Tls(std::io::Error),
    #[error("http: {0}")]
    Http(#[from] hyper::Error),
    #[error("timeout after {} {phase}", humantime::format_duration(*after))]
    Timeout {
        after: Duration,
        phase: &'static str,
    },
}

/// What one probe found.
#[derive(Debug)]
pub struct Outcome {
    pub duration: Duration,
    pub phases: Phases,
    pub certificate: Option<Certificate>,
    pub result: Result<Response, ProbeError>,
}

/// What the probe knows so far; kept outside the probe's future so that a timeout can
/// still say which phase it cut short and report the phases that finished.
#[derive(Default)]
struct Progress {
    phases: Phases,
    /// Set when the connection is ready: the request's writes and reads from then on.
    marks: Option<timed::SharedMarks>,
    tls_started: bool,
    certificate: Option<Certificate>,
}

impl Progress {
    /// The phase the probe is in, for the timeout's `error.message`.
    fn phase(&self) -> &'static str {
        if let Some(marks) = &self.marks {
            let seen = timed::read(marks);
            return match (seen.last_write, seen.first_read) {
                (_, Some(_)) => "reading the response",
                (Some(_), None) => "waiting for the first byte",
                (None, None) => "writing the request",
            };
        }
        match (self.phases.dial.dns, self.phases.dial.connect) {
            (None, _) => "resolving the name",
            (Some(_), None) => "connecting",
            (Some(_), Some(_)) if self.tls_started => "in the TLS handshake",
            _ => "writing the request",
        }
    }
}

trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

/// Probes `exchange` once, never longer than its timeout.
pub async fn run(exchange: &Exchange) -> Outcome {
    let started = Instant::now();
    let mut progress = Progress::default();
    let result = tokio::time::timeout(exchange.timeout, attempt(exchange, &mut progress)).await;
    let result = match result {
        Ok(result) => result,
        Err(_elapsed) => Err(ProbeError::Timeout {
            after: exchange.timeout,
            phase: progress.phase(),
        }),
    };
    Outcome {
        duration: started.elapsed(),
        phases: progress.phases,
        certificate: progress.certificate,
        result,
    }
}

async fn attempt(exchange: &Exchange, progress: &mut Progress) -> Result<Response, ProbeError> {
    let tcp = dial(&exchange.host, exchange.port, &mut progress.phases.dial).await?;
    let io: Box<dyn Io> = match &exchange.tls {
        None => Box::new(tcp),
        Some((config, name)) => {
            progress.tls_started = true;
            let handshake = Instant::now();
            let connector = tokio_rustls::TlsConnector::from(config.clone());
            let tls = connector
                .connect(name.clone(), tcp)
                .await
                .map_err(ProbeError::Tls)?;
            progress.phases.tls = Some(handshake.elapsed());
            progress.certificate = tls
                .get_ref()
                .1
                .peer_certificates()
                .and_then(|chain| chain.first())
                .and_then(|leaf| certificate::read(leaf));
            Box::new(tls)
        }
    };
    exchange_over(exchange, io, progress).await
}

/// Sends the request and reads the response over an open connection.
async fn exchange_over(
    exchange: &Exchange,
    io: Box<dyn Io>,
    progress: &mut Progress,
) -> Result<Response, ProbeError> {
    let (io, marks) = Timed::new(io);
    progress.marks = Some(marks.clone());
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(io)).await?;
    // The connection is driven beside the request; dropping the guard stops it.
    let driver = AbortOnDrop(tokio::spawn(async move {
        let _ = connection.await;
    }));
    let ready = Instant::now();
    let response = sender.send_request(request(exchange)).await?;
    let seen = timed::read(&marks);
    let since_ready = |at: Option<Instant>| at.map(|at| at.saturating_duration_since(ready));
    progress.phases.request = since_ready(seen.last_write);
    progress.phases.first_byte = since_ready(seen.first_read);
    let status = response.status().as_u16();
    let (body, size) = read_body(response.into_body()).await?;
    progress.phases.response = seen.first_read.map(|first| first.elapsed());
    drop(driver);
    Ok(Response { status, body, size })
}

fn request(exchange: &Exchange) -> Request<Full<Bytes>> {
    let target = exchange
        .uri
        .path_and_query()
        .map_or("/", |p| p.as_str())
        .to_string();
    let mut request = Request::new(Full::new(exchange.body.clone()));
    *request.method_mut() = exchange.method.clone();
    *request.uri_mut() = target.parse().unwrap_or_else(|_| Uri::from_static("/"));
    let headers = request.headers_mut();
    if let Some(authority) = exchange.uri.authority() {
        if let Ok(host) = HeaderValue::from_str(authority.as_str()) {
            headers.insert(HOST, host);
        }
    }
    headers.insert(
        USER_AGENT,
        HeaderValue::from_static(concat!("sentinel-httpcheck/", env!("CARGO_PKG_VERSION"))),
    );
    for (name, value) in &exchange.headers {
        headers.insert(name.clone(), value.clone());
    }
    request
}

/// The body's first [`BODY_CAP`] bytes and its whole size.
async fn read_body(mut body: hyper::body::Incoming) -> Result<(Bytes, u64), ProbeError> {
    let mut kept = BytesMut::new();
    let mut size = 0u64;
    while let Some(frame) = body.frame().await {
        let Ok(data) = frame?.into_data() else {
            continue;
        };
        size += data.len() as u64;
        let room = BODY_CAP.saturating_sub(kept.len());
        kept.extend_from_slice(&data[..data.len().min(room)]);
    }
    Ok((kept.freeze(), size))
}

struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}
