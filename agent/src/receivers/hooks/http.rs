//! The HTTP side: `POST <path>` with one hook event as JSON, as Claude Code's
//! `"type": "http"` hooks send it.

use std::sync::Arc;

use hyper::{Method, Request, StatusCode};
use sentinel_pipeline::http::respond::{self, HttpResponse};
use sentinel_pipeline::http::{
    read_body, BadRequest, BadRequests, BodyError, HttpServer, RequestBody,
};
use sentinel_pipeline::listen::Listening;
use serde_json::json;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use super::ingest::{reply_body, EventError, HookIngest, Prepared};

pub struct HttpState {
    pub ingest: Arc<HookIngest>,
    pub path: String,
    pub max_request: usize,
    pub bad_requests: BadRequests,
}

/// Serves until `shutdown` is cancelled, then lets in-flight requests finish.
pub async fn serve(
    listener: TcpListener,
    state: Arc<HttpState>,
    listening: Listening,
    shutdown: CancellationToken,
) {
    let handler = move |request| {
        let state = state.clone();
        async move { handle(&state, request).await }
    };
    // In-flight requests wait for the pipelines' acks; the agent's shutdown deadline
    // bounds that wait, not the server.
    HttpServer::new("hooks")
        .drain_timeout(None)
        .listening(listening)
        .serve(listener, handler, shutdown)
        .await;
}

async fn handle(state: &HttpState, request: Request<RequestBody>) -> HttpResponse {
    let bad = |reason: BadRequest, status: StatusCode, message: String| {
        state.bad_requests.record(reason, &message);
        respond::json(status, &json!({ "error": message }))
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
        let response = bad(
            BadRequest::MethodNotAllowed,
            StatusCode::METHOD_NOT_ALLOWED,
            format!("method {method} not allowed, supported: [POST]"),
        );
        return respond::allow(response, "POST");
    }
    let body = match read_body(request, state.max_request).await {
        Ok(body) => body,
        Err(err) => {
            let (reason, status) = match err {
                BodyError::TooLarge { .. } => {
                    (BadRequest::BodyTooLarge, StatusCode::PAYLOAD_TOO_LARGE)
                }
                _ => (BadRequest::BodyReadFailed, StatusCode::BAD_REQUEST),
            };
            return bad(reason, status, err.to_string());
        }
    };
    let bytes = body.len();
    match state.ingest.prepare(body).await {
        Ok(prepared) => deliver(&state.ingest, prepared, bytes).await,
        Err(err @ (EventError::Malformed(_) | EventError::NotAnObject)) => bad(
            BadRequest::MalformedJson,
            StatusCode::BAD_REQUEST,
            err.to_string(),
        ),
        Err(err @ EventError::Pool(_)) => {
            tracing::error!(error = %err, "Cannot prepare a hook event.");
            respond::json(
                StatusCode::INTERNAL_SERVER_ERROR,
                &json!({ "error": err.to_string() }),
            )
        }
    }
}

/// Records the event and answers once the pipelines took it (or refused it).
async fn deliver(ingest: &HookIngest, prepared: Prepared, bytes: usize) -> HttpResponse {
    let reply = reply_body(prepared.decision.as_ref());
    match ingest.deliver(vec![prepared.record], bytes).await {
        Ok(()) => respond::json(StatusCode::OK, &reply),
        // A deny or ask must still reach Claude Code: a non-2xx reply would let the tool
        // run. The event itself is refused (counted) and the decision answered.
        Err(refusal) if reply != json!({}) => {
            tracing::warn!(%refusal, "Pipeline refused a PreToolUse event; answering the policy decision anyway.");
            respond::json(StatusCode::OK, &reply)
        }
        Err(refusal) => {
            let error = json!({ "error": refusal.message }).to_string();
            respond::refused(&refusal, respond::JSON, error)
        }
    }
}
