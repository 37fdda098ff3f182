//! The admin API for silences, shaped like Alertmanager's v2 API:
//! `GET /api/v2/silences`, `POST /api/v2/silences` (answers `{"silenceID": ...}`) and
//! `DELETE /api/v2/silence/{id}` (expires it). The store is the one every notification
//! exporter of this data directory reads ([`SilenceStore::for_data_dir`]).

use std::time::SystemTime;

use hyper::{Method, Request, StatusCode};
use sentinel_exporters::notify::silences::{Silence, SilenceError, SilenceStore};
use sentinel_pipeline::http::body::read_body;
use sentinel_pipeline::http::respond::{json, plain, HttpResponse};
use sentinel_pipeline::http::RequestBody;
use serde_json::json;

/// The largest silence body accepted.
const MAX_BODY: usize = 64 * 1024;

/// True for the paths this module serves.
pub fn owns(path: &str) -> bool {
    path == "/api/v2/silences" || path.starts_with("/api/v2/silence/")
}

pub async fn handle(store: &SilenceStore, request: Request<RequestBody>) -> HttpResponse {
    let path = request.uri().path().to_string();
    match (request.method().clone(), path.as_str()) {
        (Method::GET, "/api/v2/silences") => list(store),
        (Method::POST, "/api/v2/silences") => add(store, request).await,
        (Method::DELETE, p) if p.starts_with("/api/v2/silence/") => {
            expire(store, &p["/api/v2/silence/".len()..])
        }
        _ => plain(
            StatusCode::METHOD_NOT_ALLOWED,
            "use GET or POST /api/v2/silences, DELETE /api/v2/silence/{id}\n",
        ),
    }
}

fn list(store: &SilenceStore) -> HttpResponse {
    let now = SystemTime::now();
    let silences: Vec<serde_json::Value> = store
        .list()
        .into_iter()
        .map(|silence| {
            let state = silence.state(now);
            let mut value = serde_json::to_value(&silence).unwrap_or_default();
            value["status"] = json!({ "state": state });
            value
        })
        .collect();
    json(StatusCode::OK, &serde_json::Value::Array(silences))
}

async fn add(store: &SilenceStore, request: Request<RequestBody>) -> HttpResponse {
    let body = match read_body(request, MAX_BODY).await {
        Ok(body) => body,
        Err(e) => return plain(StatusCode::BAD_REQUEST, &format!("{e}\n")),
    };
    let silence: Silence = match serde_json::from_slice(&body) {
        Ok(silence) => silence,
        Err(e) => return plain(StatusCode::BAD_REQUEST, &format!("not a silence: {e}\n")),
    };
    match store.add(silence) {
        Ok(id) => json(StatusCode::OK, &json!({ "silenceID": id })),
        Err(e @ SilenceError::Write { .. }) => {
            plain(StatusCode::INTERNAL_SERVER_ERROR, &format!("{e}\n"))
        }
        Err(e) => plain(StatusCode::BAD_REQUEST, &format!("{e}\n")),
    }
}

fn expire(store: &SilenceStore, id: &str) -> HttpResponse {
    match store.expire(id) {
        Ok(()) => json(StatusCode::OK, &json!({})),
        Err(e @ SilenceError::NotFound(_)) => plain(StatusCode::NOT_FOUND, &format!("{e}\n")),
        Err(e) => plain(StatusCode::INTERNAL_SERVER_ERROR, &format!("{e}\n")),
    }
}
