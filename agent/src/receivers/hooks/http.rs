//! The HTTP side: `POST <path>` with one hook event as JSON, as Claude Code's
//! `"type": "http"` hooks send it.

use std::convert::Infallible;
use std::pin::pin;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, LengthLimitError, Limited};
use hyper::body::Incoming;
use hyper::header::{self, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use sentinel_pipeline::RefusalKind;
use serde_json::{json, Value};
use tokio::net::TcpListener;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use super::ingest::{reply_body, HookIngest};
use crate::receivers::otlp::ingest::{BadRequest, BadRequests};

const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(30);

type HttpResponse = Response<Full<Bytes>>;

pub struct HttpState {
    pub ingest: Arc<HookIngest>,
    pub path: String,
    pub max_request: usize,
    pub bad_requests: BadRequests,
}

/// Serves until `shutdown` is cancelled, then lets in-flight requests finish.
pub async fn serve(listener: TcpListener, state: Arc<HttpState>, shutdown: CancellationToken) {
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
                        builder.clone(), stream, state.clone(), shutdown.clone(),
                    ));
                }
                Err(err) => {
                    tracing::warn!(error = %err, "Hooks receiver cannot accept a connection.");
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
        tracing::debug!(error = %err, "Hooks connection ended with an error.");
    }
}

async fn handle(state: &HttpState, request: Request<Incoming>) -> HttpResponse {
    let bad = |reason: BadRequest, status: StatusCode, message: String| {
        state.bad_requests.count(reason);
        tracing::debug!(reason = reason.as_str(), %message, "Bad hook request.");
        json_response(status, &json!({ "error": message }))
    };
    if request.uri().path() != state.path {
        let path = request.uri().path().to_string();
        return bad(
            BadRequest::NotFound,
            StatusCode::NOT_FOUND,
            format!("no route {path}"),
        );
    }
    if request.method() != Method::POST {
        let method = request.method().to_string();
        let mut response = bad(
            BadRequest::MethodNotAllowed,
            StatusCode::METHOD_NOT_ALLOWED,
            format!("method {method} not allowed, supported: [POST]"),
        );
        response
            .headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static("POST"));
        return response;
    }
    let limit = state.max_request;
    let too_large = || {
        bad(
            BadRequest::BodyTooLarge,
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("request body is larger than {limit} bytes"),
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
    let body = match Limited::new(request.into_body(), limit).collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(err) if err.is::<LengthLimitError>() => return too_large(),
        Err(err) => {
            let message = format!("cannot read the body: {err}");
            return bad(BadRequest::BodyReadFailed, StatusCode::BAD_REQUEST, message);
        }
    };
    let event: Value = match serde_json::from_slice(&body) {
        Ok(event @ Value::Object(_)) => event,
        Ok(_) => {
            let message = "the hook event must be a JSON object".to_string();
            return bad(BadRequest::MalformedJson, StatusCode::BAD_REQUEST, message);
        }
        Err(err) => {
            let message = format!("malformed JSON: {err}");
            return bad(BadRequest::MalformedJson, StatusCode::BAD_REQUEST, message);
        }
    };
    let ingest = &state.ingest;
    let decision = ingest.decide(&event);
    let record = ingest.record(event, decision.as_ref());
    match ingest.deliver(vec![record], body.len()).await {
        Ok(()) => json_response(StatusCode::OK, &reply_body(decision.as_ref())),
        // A deny or ask must still reach Claude Code: a non-2xx reply would let the tool
        // run. The event itself is refused (counted) and the decision answered.
        Err(refusal) if reply_body(decision.as_ref()) != json!({}) => {
            tracing::warn!(%refusal, "Pipeline refused a PreToolUse event; answering the policy decision anyway.");
            json_response(StatusCode::OK, &reply_body(decision.as_ref()))
        }
        Err(refusal) => {
            let status = match refusal.kind {
                RefusalKind::Capacity => StatusCode::TOO_MANY_REQUESTS,
                RefusalKind::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            };
            let retry = refusal.retry_after.unwrap_or(Duration::from_secs(1));
            let seconds = (retry.as_secs() + u64::from(retry.subsec_nanos() > 0)).max(1);
            let mut response = json_response(status, &json!({ "error": refusal.message }));
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
            response
        }
    }
}

fn json_response(status: StatusCode, body: &Value) -> HttpResponse {
    let mut response = Response::new(Full::new(Bytes::from(body.to_string())));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}
