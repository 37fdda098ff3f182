//! `POST /-/reload` on the admin address: answers once the reload is done, `200` with what
//! changed or `400` with the errors (FILE:LINE:COL: message).

use hyper::{Method, Request, StatusCode};
use sentinel_pipeline::http::respond::{allow, plain, HttpResponse};

use super::Trigger;
use crate::runtime::admin::AdminState;

pub const PATH: &str = "/-/reload";

pub fn owns(path: &str) -> bool {
    path == PATH
}

pub async fn handle(
    state: &AdminState,
    request: Request<sentinel_pipeline::http::RequestBody>,
) -> HttpResponse {
    if request.method() != Method::POST {
        let answer = plain(
            StatusCode::METHOD_NOT_ALLOWED,
            "reload with POST /-/reload\n",
        );
        return allow(answer, "POST");
    }
    let Some(handle) = state.reload.get() else {
        return plain(
            StatusCode::SERVICE_UNAVAILABLE,
            "the agent is still starting\n",
        );
    };
    match handle.reload(Trigger::Admin).await {
        Some(report) if report.succeeded => {
            plain(StatusCode::OK, &format!("reloaded\n{}", report.text))
        }
        Some(report) => plain(
            StatusCode::BAD_REQUEST,
            &format!(
                "reload failed; the last good config keeps running\n{}",
                report.text
            ),
        ),
        None => plain(
            StatusCode::SERVICE_UNAVAILABLE,
            "the agent is shutting down\n",
        ),
    }
}
