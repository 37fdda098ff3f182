//! `GET /api/v1/tap?component=ID[&output=PIPELINE][&limit=N][&rate=R][&wait=S]`: collects
//! what flows out of a component for up to `wait` seconds (default 5, at most 30) or until
//! `limit` items, and answers the samples as OTLP/JSON lines, redacted like the hooks
//! receiver's events. `limit` and `rate` are capped by `service.telemetry.metrics.tap`.

use std::time::Duration;

use hyper::StatusCode;
use sentinel_pipeline::http::respond::{plain, respond, HttpResponse};
use sentinel_pipeline::tap::{truncate, Subscription};
use sentinel_pipeline::Payload;
use tokio::time::{sleep_until, timeout_at, Instant};

use super::Observe;
use crate::receivers::hooks::redact::Redactor;

/// Payloads that may wait for the reader; while it is behind, tap points skip.
const BACKLOG: usize = 16;
const DEFAULT_WAIT: Duration = Duration::from_secs(5);
const MAX_WAIT: Duration = Duration::from_secs(30);

/// The query of one tap request.
#[derive(Debug, Default, PartialEq)]
struct TapQuery {
    component: String,
    output: Option<String>,
    limit: Option<u64>,
    rate: Option<u64>,
    wait: Option<f64>,
}

pub async fn handle(observe: &Observe, query: &str) -> HttpResponse {
    if !observe.tap.enabled {
        return plain(
            StatusCode::FORBIDDEN,
            "tap is disabled on this agent: set service.telemetry.metrics.tap.enabled: true\n",
        );
    }
    let query = match parse_query(query) {
        Ok(query) => query,
        Err(message) => return plain(StatusCode::BAD_REQUEST, &format!("{message}\n")),
    };
    let Some(outputs) = observe.taps.outputs_of(&query.component) else {
        let known = observe.taps.components().join(", ");
        let message = format!(
            "no running component {:?}; components: {known}\n",
            query.component
        );
        return plain(StatusCode::NOT_FOUND, &message);
    };
    if let Some(output) = &query.output {
        if !outputs.contains(output) {
            let message = format!(
                "component {:?} has no output {output:?}; outputs: {}\n",
                query.component,
                outputs.join(", ")
            );
            return plain(StatusCode::NOT_FOUND, &message);
        }
    }
    let Some(redactor) = &observe.redactor else {
        return plain(
            StatusCode::INTERNAL_SERVER_ERROR,
            "the tap redactor is unavailable\n",
        );
    };
    let limit = query
        .limit
        .unwrap_or(u64::MAX)
        .min(u64::from(observe.tap.max_items));
    let rate = query
        .rate
        .unwrap_or(u64::MAX)
        .min(u64::from(observe.tap.max_items_per_second))
        .max(1);
    let wait = query
        .wait
        .map_or(DEFAULT_WAIT, Duration::from_secs_f64)
        .min(MAX_WAIT);
    let tap = observe
        .taps
        .subscribe(&query.component, query.output.as_deref(), BACKLOG);
    let body = collect(tap, redactor, limit, rate, Instant::now() + wait).await;
    respond(StatusCode::OK, "application/x-ndjson", body)
}

/// Reads the tap until `deadline` or `limit` items, at most `rate` items in any
/// one-second window; payloads over the budget are cut to fit.
async fn collect(
    mut tap: Subscription,
    redactor: &Redactor,
    limit: u64,
    rate: u64,
    deadline: Instant,
) -> String {
    let mut body = String::new();
    let (mut sent, mut window_start, mut in_window) = (0u64, Instant::now(), 0u64);
    while sent < limit {
        let Ok(Some(mut payload)) = timeout_at(deadline, tap.receiver.recv()).await else {
            break;
        };
        let now = Instant::now();
        if now >= window_start + Duration::from_secs(1) {
            (window_start, in_window) = (now, 0);
        }
        let allowed = (rate - in_window).min(limit - sent);
        let kept = truncate(&mut payload, usize::try_from(allowed).unwrap_or(usize::MAX)) as u64;
        if kept > 0 {
            body.push_str(&redacted_line(&payload, redactor));
            sent += kept;
            in_window += kept;
        }
        if in_window >= rate {
            // Full for this second: let the points skip instead of copying for nothing.
            sleep_until((window_start + Duration::from_secs(1)).min(deadline)).await;
        }
    }
    body
}

/// One OTLP/JSON line (the `file` exporter's encoding) with every string redacted.
fn redacted_line(payload: &Payload, redactor: &Redactor) -> String {
    let value = match payload {
        Payload::Traces(req) => serde_json::to_value(req),
        Payload::Metrics(req) => serde_json::to_value(req),
        Payload::Logs(req) => serde_json::to_value(req),
    };
    let mut value = value.unwrap_or_default();
    redact_secret_attributes(&mut value);
    redactor.redact_event(&mut value);
    let mut line = value.to_string();
    line.push('\n');
    line
}

fn parse_query(query: &str) -> Result<TapQuery, String> {
    let mut parsed = TapQuery::default();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        let value = percent_decode(value);
        let number = |v: &str| {
            v.parse::<u64>()
                .map_err(|_| format!("{key} must be a whole number, not {v:?}"))
        };
        match key {
            "component" => parsed.component = value,
            "output" => parsed.output = Some(value).filter(|v| !v.is_empty()),
            "limit" => parsed.limit = Some(number(&value)?),
            "rate" => parsed.rate = Some(number(&value)?),
            "wait" => {
                let seconds: f64 = value
                    .parse()
                    .map_err(|_| format!("wait must be seconds, not {value:?}"))?;
                parsed.wait = Some(seconds.clamp(0.0, MAX_WAIT.as_secs_f64()));
            }
            other => return Err(format!("unknown parameter {other:?}")),
        }
    }
    if parsed.component.is_empty() {
        return Err("name the component: /api/v1/tap?component=ID".into());
    }
    Ok(parsed)
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = || std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok();
        match bytes[i] {
            b'%' => match hex().and_then(|h| u8::from_str_radix(h, 16).ok()) {
                Some(byte) => {
                    out.push(byte);
                    i += 3;
                    continue;
                }
                None => out.push(b'%'),
            },
            b'+' => out.push(b' '),
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_query_and_decodes_ids() {
        let q = parse_query("component=otlp%2F2&output=traces/a&limit=5&rate=2&wait=1.5").unwrap();
        assert_eq!(q.component, "otlp/2");
        assert_eq!(q.output.as_deref(), Some("traces/a"));
        assert_eq!((q.limit, q.rate, q.wait), (Some(5), Some(2), Some(1.5)));
        assert!(parse_query("limit=5").is_err());
        assert!(parse_query("component=x&limit=many").is_err());
        assert!(parse_query("component=x&bogus=1").is_err());
    }
}

/// OTLP attributes (`{"key": K, "value": V}`) whose key names a secret (`password`,
/// `api_key`, `authorization`, ...) lose their value whatever it looks like: the patterns
/// of the hooks redactor only catch values shaped like known secrets.
fn redact_secret_attributes(value: &mut serde_json::Value) {
    match value {
        serde_json::Value::Object(map) => {
            let secret = map
                .get("key")
                .and_then(|k| k.as_str())
                .is_some_and(sentinel_pipeline::config::redact::is_secret_key);
            if secret && map.contains_key("value") {
                map.insert(
                    "value".to_string(),
                    serde_json::json!({"stringValue": "[redacted]"}),
                );
            }
            map.values_mut().for_each(redact_secret_attributes);
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(redact_secret_attributes),
        _ => {}
    }
}

#[cfg(test)]
mod secret_attribute_tests {
    use super::redact_secret_attributes;
    use serde_json::json;

    #[test]
    fn attributes_named_like_secrets_lose_their_value_and_others_keep_it() {
        let mut value = json!({"attributes": [
            {"key": "db.password", "value": {"stringValue": "hunter2"}},
            {"key": "http.method", "value": {"stringValue": "GET"}},
            {"key": "api_key", "value": {"intValue": "12345"}}
        ]});
        redact_secret_attributes(&mut value);
        let text = value.to_string();
        assert!(
            !text.contains("hunter2") && !text.contains("12345"),
            "{text}"
        );
        assert!(text.contains("GET"), "{text}");
    }
}
