//! One JSON POST of a rendered notification, on the shared HTTP client, and the
//! receivers' answer mapped to retry or dead letter.

use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::header::{HeaderMap, HeaderValue, CONTENT_TYPE};
use hyper::{Request, StatusCode, Uri};
use sentinel_pipeline::tls::{ClientTlsConfig, TlsError};
use sentinel_pipeline::ExportError;

use crate::otlphttp::{https_client, retry_after, with_causes, HttpClient};

pub struct JsonPoster {
    client: HttpClient,
    timeout: Duration,
}

impl JsonPoster {
    pub fn new(tls: &ClientTlsConfig, timeout: Duration) -> Result<JsonPoster, TlsError> {
        Ok(JsonPoster {
            client: https_client(tls, timeout)?,
            timeout,
        })
    }

    /// POSTs `body` as JSON. 2xx is delivered; 429 (with its `Retry-After`) and 5xx are
    /// retried; other answers are permanent (dead letter), as Alertmanager's notifiers do.
    pub async fn post(
        &self,
        url: &Uri,
        headers: &HeaderMap,
        body: &str,
    ) -> Result<(), ExportError> {
        let mut request = Request::post(url.clone())
            .body(Full::new(Bytes::from(body.to_string())))
            .map_err(|e| ExportError::permanent(format!("cannot build request: {e}")))?;
        request.headers_mut().extend(headers.clone());
        request
            .headers_mut()
            .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        // The URL may hold a token (Slack, webhooks): errors name only its host.
        let host = url.host().unwrap_or("").to_string();
        let exchange = async {
            let response = self.client.request(request).await.map_err(|e| {
                ExportError::retryable(format!("POST to {host} failed: {}", with_causes(&e)))
            })?;
            let status = response.status();
            let wait = retry_after(response.headers());
            let body = response
                .into_body()
                .collect()
                .await
                .map_err(|e| ExportError::retryable(format!("reading the answer of {host}: {e}")))?
                .to_bytes();
            classify(status, wait, &body)
        };
        tokio::time::timeout(self.timeout, exchange)
            .await
            .map_err(|_| {
                ExportError::retryable(format!("POST to {host} timed out after {:?}", self.timeout))
            })?
    }
}

pub fn classify(
    status: StatusCode,
    retry_after: Option<Duration>,
    body: &[u8],
) -> Result<(), ExportError> {
    if status.is_success() {
        return Ok(());
    }
    let detail = String::from_utf8_lossy(&body[..body.len().min(512)]).to_string();
    let message = format!("HTTP {status}: {detail}");
    if status == StatusCode::TOO_MANY_REQUESTS || status.is_server_error() {
        Err(ExportError::Retryable {
            message,
            retry_after,
        })
    } else {
        Err(ExportError::Permanent { message })
    }
}

/// Parses and checks an `http://` or `https://` URL.
pub fn http_url(text: &str) -> Result<Uri, String> {
    let uri: Uri = text.parse().map_err(|e| format!("not a URL: {e}"))?;
    match uri.scheme_str() {
        Some("http" | "https") if uri.host().is_some() => Ok(uri),
        _ => Err("expected an http:// or https:// URL".into()),
    }
}
