//! OTLP/HTTP: `POST /v1/traces`, `/v1/metrics`, `/v1/logs` with a protobuf or JSON body,
//! optionally gzip or zstd compressed, over HTTP/1.1 or HTTP/2 (h2c).

use std::convert::Infallible;
use std::pin::pin;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, LengthLimitError, Limited};
use hyper::body::Incoming;
use hyper::header::{self, HeaderMap, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use sentinel_pipeline::{RefusalKind, Signal};
use tokio::net::TcpListener;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use super::decode::{decompress, BodyError, Compression, Format};
use super::ingest::{BadRequest, Failure, Ingest};
use super::response::{code, json_success, protobuf_success, RpcStatus};

const PROTOBUF: &str = "application/x-protobuf";
const JSON: &str = "application/json";
/// A client that does not finish sending its headers in this time is disconnected.
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(30);

type HttpResponse = Response<Full<Bytes>>;

struct HttpState {
    ingest: Arc<Ingest>,
    max_body: usize,
}

/// Serves until `shutdown` is cancelled; then stops accepting, lets every connection
/// finish its in-flight request, and returns once all connections are closed.
pub async fn serve(
    listener: TcpListener,
    ingest: Arc<Ingest>,
    max_body: usize,
    shutdown: CancellationToken,
) {
    let state = Arc::new(HttpState { ingest, max_body });
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
                        builder.clone(),
                        stream,
                        state.clone(),
                        shutdown.clone(),
                    ));
                }
                Err(err) => {
                    // Out of file descriptors and the like: back off instead of spinning.
                    tracing::warn!(error = %err, "OTLP/HTTP cannot accept a connection.");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
    drop(listener);
    while connections.join_next().await.is_some() {}
}

async fn serve_connection(
    builder: auto::Builder<TokioExecutor>,
    stream: tokio::net::TcpStream,
    state: Arc<HttpState>,
    shutdown: CancellationToken,
) {
    let service = hyper::service::service_fn(move |request| {
        let state = state.clone();
        async move { Ok::<_, Infallible>(handle(&state, request).await) }
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
        tracing::debug!(error = %err, "OTLP/HTTP connection ended with an error.");
    }
}

fn signal_of(path: &str) -> Option<Signal> {
    match path {
        "/v1/traces" => Some(Signal::Traces),
        "/v1/metrics" => Some(Signal::Metrics),
        "/v1/logs" => Some(Signal::Logs),
        _ => None,
    }
}

async fn handle(state: &HttpState, request: Request<Incoming>) -> HttpResponse {
    let ingest = &state.ingest;
    // A signal no pipeline takes from this receiver has no route, as in the Collector.
    let Some(signal) = signal_of(request.uri().path()).filter(|s| ingest.accepts(*s)) else {
        ingest.bad_request(BadRequest::NotFound, &request.uri().path());
        return plain(StatusCode::NOT_FOUND, "404 page not found");
    };
    if request.method() != Method::POST {
        ingest.bad_request(BadRequest::MethodNotAllowed, request.method());
        let mut response = plain(
            StatusCode::METHOD_NOT_ALLOWED,
            "405 method not allowed, supported: [POST]",
        );
        response
            .headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static("POST"));
        return response;
    }
    let Some(format) = format_of(request.headers()) else {
        let content_type = header_text(request.headers(), header::CONTENT_TYPE);
        ingest.bad_request(BadRequest::UnsupportedContentType, &content_type);
        return plain(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            &format!(
                "415 unsupported media type {content_type:?}, supported: [{JSON}, {PROTOBUF}]"
            ),
        );
    };
    let compression = match compression_of(request.headers()) {
        Ok(compression) => compression,
        Err(encoding) => {
            ingest.bad_request(BadRequest::UnsupportedContentEncoding, &encoding);
            return plain(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                &format!("415 unsupported content encoding {encoding:?}, supported: [gzip, zstd]"),
            );
        }
    };

    let limit = state.max_body;
    let too_large = || {
        ingest.bad_request(BadRequest::BodyTooLarge, &limit);
        failure(
            format,
            StatusCode::PAYLOAD_TOO_LARGE,
            RpcStatus::new(
                code::OUT_OF_RANGE,
                format!("request body is larger than {limit} bytes"),
            ),
        )
    };
    let declared = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|len| len > limit as u64) {
        return too_large();
    }
    // Chunked and HTTP/2 bodies have no declared length: the limit applies as they arrive.
    let body = match Limited::new(request.into_body(), limit).collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(err) if err.is::<LengthLimitError>() => return too_large(),
        Err(err) => {
            ingest.bad_request(BadRequest::BodyReadFailed, &err);
            let status = RpcStatus::new(
                code::INVALID_ARGUMENT,
                format!("cannot read the body: {err}"),
            );
            return failure(format, StatusCode::BAD_REQUEST, status);
        }
    };

    let outcome = match decompress(compression, &body, limit) {
        Ok(None) => ingest.ingest(signal, format, body).await,
        Ok(Some(inflated)) => {
            drop(body);
            ingest.ingest(signal, format, inflated).await
        }
        Err(BodyError::TooLarge { .. }) => return too_large(),
        Err(err @ BodyError::Corrupt { .. }) => {
            ingest.bad_request(BadRequest::CorruptCompression, &err);
            let status = RpcStatus::new(code::INVALID_ARGUMENT, err.to_string());
            return failure(format, StatusCode::BAD_REQUEST, status);
        }
    };
    match outcome {
        Ok(accepted) => {
            let rejected = accepted.rejected.as_ref();
            let body = match format {
                Format::Protobuf => protobuf_success(signal, rejected),
                Format::Json => json_success(signal, rejected),
            };
            respond(StatusCode::OK, content_type(format), body)
        }
        Err(Failure::Malformed(message)) => failure(
            format,
            StatusCode::BAD_REQUEST,
            RpcStatus::new(code::INVALID_ARGUMENT, message),
        ),
        Err(Failure::Refused(refusal)) => {
            let (status, grpc_code) = match refusal.kind {
                RefusalKind::Capacity => (StatusCode::TOO_MANY_REQUESTS, code::RESOURCE_EXHAUSTED),
                RefusalKind::Unavailable => (StatusCode::SERVICE_UNAVAILABLE, code::UNAVAILABLE),
            };
            let retry_after = refusal.retry_after.unwrap_or(Duration::from_secs(1));
            let mut response = failure(format, status, RpcStatus::new(grpc_code, refusal.message));
            response.headers_mut().insert(
                header::RETRY_AFTER,
                HeaderValue::from(retry_after_seconds(retry_after)),
            );
            response
        }
    }
}

/// `Retry-After` is whole seconds: round up, and never 0 (which would mean "now").
fn retry_after_seconds(delay: Duration) -> u64 {
    let seconds = delay.as_secs() + u64::from(delay.subsec_nanos() > 0);
    seconds.max(1)
}

/// The body's `Content-Encoding`; the header's text when it is not one we accept.
fn compression_of(headers: &HeaderMap) -> Result<Compression, String> {
    let Some(value) = headers.get(header::CONTENT_ENCODING) else {
        return Ok(Compression::None);
    };
    value
        .to_str()
        .ok()
        .and_then(Compression::from_header)
        .ok_or_else(|| String::from_utf8_lossy(value.as_bytes()).into_owned())
}

/// The media type of the body, parameters (`; charset=utf-8`) ignored.
fn format_of(headers: &HeaderMap) -> Option<Format> {
    let value = headers.get(header::CONTENT_TYPE)?.to_str().ok()?;
    let media_type = value.split(';').next().unwrap_or_default().trim();
    if media_type.eq_ignore_ascii_case(PROTOBUF) {
        Some(Format::Protobuf)
    } else if media_type.eq_ignore_ascii_case(JSON) {
        Some(Format::Json)
    } else {
        None
    }
}

fn header_text(headers: &HeaderMap, name: header::HeaderName) -> String {
    headers
        .get(name)
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
        .unwrap_or_default()
}

fn content_type(format: Format) -> &'static str {
    match format {
        Format::Protobuf => PROTOBUF,
        Format::Json => JSON,
    }
}

/// A failure with a `google.rpc.Status` body in the request's encoding.
fn failure(format: Format, status: StatusCode, body: RpcStatus) -> HttpResponse {
    let bytes = match format {
        Format::Protobuf => prost::Message::encode_to_vec(&body),
        Format::Json => body.to_json(),
    };
    respond(status, content_type(format), bytes.into())
}

fn plain(status: StatusCode, text: &str) -> HttpResponse {
    respond(
        status,
        "text/plain; charset=utf-8",
        Bytes::copy_from_slice(text.as_bytes()),
    )
}

fn respond(status: StatusCode, content_type: &'static str, body: Bytes) -> HttpResponse {
    let mut response = Response::new(Full::new(body));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}
