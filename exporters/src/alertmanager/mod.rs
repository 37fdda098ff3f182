//! `alertmanager` exporter: Alertmanager's v2 API, `POST /api/v2/alerts`.

#[cfg(test)]
mod compliance;
mod config;

pub use config::AlertmanagerConfig;

use async_trait::async_trait;
use hyper::header::{HeaderMap, HeaderName, HeaderValue};
use hyper::Uri;
use sentinel_pipeline::config::{check, decode_valid, Diagnostic, Node};
use sentinel_pipeline::{
    BuildContext, BuildError, BuiltExporter, ComponentInfo, ExportError, ExporterFactory, Factory,
    Kind, Signal,
};
use serde_json::{json, Value};

use crate::notify::group::Notification;
use crate::notify::http::JsonPoster;
use crate::notify::outbox::{Deliver, Rendered};
use crate::notify::{self, Notifier, NotifyOptions};

pub struct AlertmanagerFactory;

impl Factory for AlertmanagerFactory {
    fn info(&self) -> ComponentInfo {
        ComponentInfo {
            type_name: "alertmanager",
            kind: Kind::Exporter,
            signals: &[Signal::Logs],
            description: "Posts sentinel.alert records to Alertmanager's v2 API",
        }
    }

    fn check(&self, node: &Node) -> Result<serde_json::Value, Vec<Diagnostic>> {
        check::<AlertmanagerConfig>(node)
    }
}

impl ExporterFactory for AlertmanagerFactory {
    fn build(&self, node: &Node, ctx: BuildContext) -> Result<BuiltExporter, BuildError> {
        let config: AlertmanagerConfig =
            decode_valid(node).map_err(|d| BuildError::config(&ctx.id, d))?;
        let other = |message: String| BuildError::Other {
            component: ctx.id.clone(),
            message,
        };
        let mut headers = HeaderMap::new();
        for (key, value) in &config.headers {
            let name = HeaderName::from_bytes(key.as_bytes()).map_err(|e| other(e.to_string()))?;
            let value = HeaderValue::from_str(value.expose()).map_err(|e| other(e.to_string()))?;
            headers.insert(name, value);
        }
        let notifier = Alertmanager {
            url: config.alerts_url().map_err(other)?,
            poster: JsonPoster::new(&config.tls, config.timeout)
                .map_err(|e| other(e.to_string()))?,
            headers,
        };
        let options = NotifyOptions {
            grouping: None,
            rate_limit: config.rate_limit,
            silences: config.silences,
            queue: config.sending_queue,
            retry: config.retry_on_failure,
        };
        notify::build(&ctx, notifier, options)
    }
}

pub struct Alertmanager {
    url: Uri,
    poster: JsonPoster,
    headers: HeaderMap,
}

/// The `postableAlerts` body: labels, annotations, startsAt, endsAt, generatorURL.
pub fn postable_alerts(notification: &Notification) -> Value {
    let alerts: Vec<Value> = notification
        .alerts
        .iter()
        .map(|a| {
            let mut alert = json!({
                "labels": a.labels,
                "annotations": a.annotations,
                "startsAt": a.starts_at,
                "endsAt": a.ends_at,
            });
            if !a.generator_url.is_empty() {
                alert["generatorURL"] = json!(a.generator_url);
            }
            alert
        })
        .collect();
    Value::Array(alerts)
}

impl Notifier for Alertmanager {
    fn render(&self, notification: &Notification) -> String {
        postable_alerts(notification).to_string()
    }
}

#[async_trait]
impl Deliver for Alertmanager {
    async fn deliver(&self, rendered: &Rendered) -> Result<(), ExportError> {
        self.poster
            .post(&self.url, &self.headers, &rendered.body)
            .await
    }
}
