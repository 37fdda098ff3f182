//! Responses that look the same in every server.

use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::header::{self, HeaderValue};
use hyper::{Response, StatusCode};

use crate::{Refusal, RefusalKind};

pub type HttpResponse = Response<Full<Bytes>>;

pub const PLAIN_TEXT: &str = "text/plain; charset=utf-8";
pub const JSON: &str = "application/json";

/// A response without a `Content-Type`.
pub fn bare(status: StatusCode, body: impl Into<Bytes>) -> HttpResponse {
    let mut response = Response::new(Full::new(body.into()));
    *response.status_mut() = status;
    response
}

pub fn respond(
    status: StatusCode,
    content_type: &'static str,
    body: impl Into<Bytes>,
) -> HttpResponse {
    let mut response = bare(status, body);
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}

/// `text/plain` in UTF-8.
pub fn plain(status: StatusCode, text: &str) -> HttpResponse {
    respond(status, PLAIN_TEXT, Bytes::copy_from_slice(text.as_bytes()))
}

pub fn json(status: StatusCode, body: &serde_json::Value) -> HttpResponse {
    respond(status, JSON, body.to_string())
}

/// A `405` answer: adds the `Allow` header listing the methods served.
pub fn allow(mut response: HttpResponse, methods: &'static str) -> HttpResponse {
    response
        .headers_mut()
        .insert(header::ALLOW, HeaderValue::from_static(methods));
    response
}

/// The status of a refusal: `429` when something is full, `503` when the agent is
/// stopping or a stage is gone.
pub fn refusal_status(kind: RefusalKind) -> StatusCode {
    match kind {
        RefusalKind::Capacity => StatusCode::TOO_MANY_REQUESTS,
        RefusalKind::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
    }
}

/// A refused request: `429` or `503` with `Retry-After` (one second when the refusal
/// has no hint), and `body` in `content_type`.
pub fn refused(
    refusal: &Refusal,
    content_type: &'static str,
    body: impl Into<Bytes>,
) -> HttpResponse {
    let mut response = respond(refusal_status(refusal.kind), content_type, body);
    let retry_after = refusal.retry_after.unwrap_or(Duration::from_secs(1));
    response.headers_mut().insert(
        header::RETRY_AFTER,
        HeaderValue::from(retry_after_seconds(retry_after)),
    );
    response
}

/// `Retry-After` is whole seconds: round up, and never 0 (which would mean "now").
pub fn retry_after_seconds(delay: Duration) -> u64 {
    let seconds = delay.as_secs() + u64::from(delay.subsec_nanos() > 0);
    seconds.max(1)
}
