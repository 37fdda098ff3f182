//! OTLP/HTTP: `POST /v1/traces`, `/v1/metrics`, `/v1/logs` with a protobuf or JSON body,
//! optionally gzip or zstd compressed, over HTTP/1.1 or HTTP/2 (h2c).

use std::sync::Arc;

use bytes::Bytes;
use hyper::header::{self, HeaderMap};
use hyper::{Method, Request, StatusCode};
use sentinel_pipeline::http::respond::{self, HttpResponse};
use sentinel_pipeline::http::{
    decompress_charged, read_body_charged, BadRequest, BodyError, Compression, HttpServer,
    RequestBody,
};
use sentinel_pipeline::listen::Listening;
use sentinel_pipeline::{RefusalKind, Signal};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use super::decode::Format;
use super::ingest::{Accepted, Failure, Ingest};
use super::response::{code, json_success, protobuf_success, RpcStatus};

const PROTOBUF: &str = "application/x-protobuf";
const JSON: &str = "application/json";

/// Serves until `shutdown` is cancelled; then stops accepting, lets every connection
/// finish its in-flight request, and returns once all connections are closed.
pub async fn serve(
    listener: TcpListener,
    ingest: Arc<Ingest>,
    max_body: usize,
    listening: Listening,
    shutdown: CancellationToken,
) {
    let handler = move |request| {
        let ingest = ingest.clone();
        async move { handle(&ingest, max_body, request).await }
    };
    // In-flight requests wait for the pipelines' acks; the agent's shutdown deadline
    // bounds that wait, not the server.
    HttpServer::new("OTLP/HTTP")
        .drain_timeout(None)
        .listening(listening)
        .serve(listener, handler, shutdown)
        .await;
}

/// What the headers say about an export request the receiver serves.
struct Export {
    signal: Signal,
    format: Format,
    compression: Compression,
}

/// A request its headers already rule out; the text is the plain-text response body.
#[derive(Debug, thiserror::Error)]
enum Unservable {
    #[error("404 page not found")]
    NotFound(String),
    #[error("405 method not allowed, supported: [POST]")]
    MethodNotAllowed(Method),
    #[error("415 unsupported media type {0:?}, supported: [{JSON}, {PROTOBUF}]")]
    UnsupportedContentType(String),
    #[error("415 unsupported content encoding {0:?}, supported: [gzip, zstd]")]
    UnsupportedContentEncoding(String),
}

impl Unservable {
    /// Counts it and answers in plain text.
    fn respond(self, ingest: &Ingest) -> HttpResponse {
        let (reason, status, detail): (_, _, &dyn std::fmt::Display) = match &self {
            Unservable::NotFound(path) => (BadRequest::NotFound, StatusCode::NOT_FOUND, path),
            Unservable::MethodNotAllowed(method) => (
                BadRequest::MethodNotAllowed,
                StatusCode::METHOD_NOT_ALLOWED,
                method,
            ),
            Unservable::UnsupportedContentType(content_type) => (
                BadRequest::UnsupportedContentType,
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                content_type,
            ),
            Unservable::UnsupportedContentEncoding(encoding) => (
                BadRequest::UnsupportedContentEncoding,
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                encoding,
            ),
        };
        ingest.bad_request(reason, detail);
        let response = respond::plain(status, &self.to_string());
        match self {
            Unservable::MethodNotAllowed(_) => respond::allow(response, "POST"),
            _ => response,
        }
    }
}

async fn handle(ingest: &Ingest, limit: usize, request: Request<RequestBody>) -> HttpResponse {
    let Export {
        signal,
        format,
        compression,
    } = match check_headers(ingest, &request) {
        Ok(export) => export,
        Err(unservable) => return unservable.respond(ingest),
    };
    let too_large = || {
        ingest.bad_request(BadRequest::BodyTooLarge, &limit);
        let message = format!("request body is larger than {limit} bytes");
        let status = RpcStatus::new(code::OUT_OF_RANGE, message);
        failure(format, StatusCode::PAYLOAD_TOO_LARGE, status)
    };
    // Refused before reading when the path is full; else charged as it arrives.
    let declared = declared_length(request.headers()).min(limit);
    let mut admission = match ingest.admit_body(signal, declared) {
        Ok(admission) => admission,
        Err(failure) => return answer(signal, format, Err(failure)),
    };
    let body = read_body_charged(request, limit, &mut admission)
        .await
        .and_then(|body| decompress_charged(compression, body, limit, &mut admission));
    let body = match body {
        Ok(body) => body,
        Err(BodyError::TooLarge { .. }) => return too_large(),
        Err(BodyError::OverBudget(refusal)) => {
            return answer(signal, format, Err(Failure::Refused(refusal)))
        }
        Err(err) => {
            let reason = match err {
                BodyError::Corrupt { .. } => BadRequest::CorruptCompression,
                _ => BadRequest::BodyReadFailed,
            };
            ingest.bad_request(reason, &err);
            let status = RpcStatus::new(code::INVALID_ARGUMENT, err.to_string());
            return failure(format, StatusCode::BAD_REQUEST, status);
        }
    };
    let outcome = ingest.ingest(signal, format, body, Some(admission)).await;
    answer(signal, format, outcome)
}

/// The declared `Content-Length`, 0 when absent or unreadable.
fn declared_length(headers: &HeaderMap) -> usize {
    headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// Route, method, media type and encoding, in that order.
fn check_headers(ingest: &Ingest, request: &Request<RequestBody>) -> Result<Export, Unservable> {
    // A signal no pipeline takes from this receiver has no route, as in the Collector.
    let path = request.uri().path();
    let signal = signal_of(path)
        .filter(|s| ingest.accepts(*s))
        .ok_or_else(|| Unservable::NotFound(path.to_string()))?;
    if request.method() != Method::POST {
        return Err(Unservable::MethodNotAllowed(request.method().clone()));
    }
    let headers = request.headers();
    let format = format_of(headers).ok_or_else(|| {
        Unservable::UnsupportedContentType(header_text(headers, header::CONTENT_TYPE))
    })?;
    let compression = Compression::of(headers)
        .map_err(|unsupported| Unservable::UnsupportedContentEncoding(unsupported.0))?;
    Ok(Export {
        signal,
        format,
        compression,
    })
}

fn signal_of(path: &str) -> Option<Signal> {
    match path {
        "/v1/traces" => Some(Signal::Traces),
        "/v1/metrics" => Some(Signal::Metrics),
        "/v1/logs" => Some(Signal::Logs),
        _ => None,
    }
}

/// The response to an export request the pipelines took, or did not.
fn answer(signal: Signal, format: Format, outcome: Result<Accepted, Failure>) -> HttpResponse {
    match outcome {
        Ok(accepted) => {
            let rejected = accepted.rejected.as_ref();
            let body = match format {
                Format::Protobuf => protobuf_success(signal, rejected),
                Format::Json => json_success(signal, rejected),
            };
            respond::respond(StatusCode::OK, content_type(format), body)
        }
        Err(Failure::Malformed(message)) => failure(
            format,
            StatusCode::BAD_REQUEST,
            RpcStatus::new(code::INVALID_ARGUMENT, message),
        ),
        Err(Failure::OverLimit { message, too_large }) => {
            let status = if too_large {
                StatusCode::PAYLOAD_TOO_LARGE
            } else {
                StatusCode::BAD_REQUEST
            };
            failure(
                format,
                status,
                RpcStatus::new(code::INVALID_ARGUMENT, message),
            )
        }
        Err(Failure::Refused(refusal)) => {
            let grpc_code = match refusal.kind {
                RefusalKind::Capacity => code::RESOURCE_EXHAUSTED,
                RefusalKind::Unavailable => code::UNAVAILABLE,
            };
            let status = RpcStatus::new(grpc_code, refusal.message.clone());
            respond::refused(&refusal, content_type(format), encode(format, &status))
        }
    }
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
    respond::respond(status, content_type(format), encode(format, &body))
}

fn encode(format: Format, status: &RpcStatus) -> Bytes {
    match format {
        Format::Protobuf => prost::Message::encode_to_vec(status),
        Format::Json => status.to_json(),
    }
    .into()
}
