//! `webhook` exporter: Alertmanager's webhook body, version 4.

#[cfg(test)]
mod compliance;
mod config;
#[cfg(test)]
mod tests;

pub use config::WebhookConfig;

use async_trait::async_trait;
use hyper::header::HeaderMap;
use hyper::Uri;
use sentinel_pipeline::config::{check, decode_valid, Diagnostic, Node};
use sentinel_pipeline::{
    BuildContext, BuildError, BuiltExporter, ComponentInfo, ExportError, ExporterFactory, Factory,
    Kind, Signal,
};
use serde_json::{json, Value};

use crate::notify::group::{GroupSettings, Notification};
use crate::notify::http::JsonPoster;
use crate::notify::outbox::{Deliver, Rendered};
use crate::notify::{self, Notifier, NotifyOptions};

pub struct WebhookFactory;

impl Factory for WebhookFactory {
    fn info(&self) -> ComponentInfo {
        ComponentInfo {
            type_name: "webhook",
            kind: Kind::Exporter,
            signals: &[Signal::Logs],
            description: "Notifies about sentinel.alert records with Alertmanager's webhook body",
        }
    }

    fn check(&self, node: &Node) -> Result<serde_json::Value, Vec<Diagnostic>> {
        check::<WebhookConfig>(node)
    }
}

impl ExporterFactory for WebhookFactory {
    fn build(&self, node: &Node, ctx: BuildContext) -> Result<BuiltExporter, BuildError> {
        let config: WebhookConfig =
            decode_valid(node).map_err(|d| BuildError::config(&ctx.id, d))?;
        let other = |message: String| BuildError::Other {
            component: ctx.id.clone(),
            message,
        };
        let notifier = Webhook {
            url: crate::notify::http::http_url(config.url.expose()).map_err(other)?,
            poster: JsonPoster::new(&config.tls, config.timeout)
                .map_err(|e| other(e.to_string()))?,
            max_alerts: config.max_alerts,
            external_url: config.external_url.clone(),
        };
        notify::build(&ctx, notifier, options(config))
    }
}

fn options(config: WebhookConfig) -> NotifyOptions {
    NotifyOptions {
        grouping: Some(GroupSettings {
            route: config.route,
            send_resolved: config.send_resolved,
        }),
        rate_limit: config.rate_limit,
        silences: config.silences,
        queue: config.sending_queue,
        retry: config.retry_on_failure,
    }
}

pub struct Webhook {
    url: Uri,
    poster: JsonPoster,
    max_alerts: usize,
    external_url: String,
}

/// Alertmanager's webhook body (`notify/webhook/webhook.go`, version "4").
pub fn body(notification: &Notification, max_alerts: usize, external_url: &str) -> Value {
    let total = notification.alerts.len();
    let kept = if max_alerts == 0 {
        total
    } else {
        total.min(max_alerts)
    };
    let alerts: Vec<Value> = notification.alerts[..kept]
        .iter()
        .map(|a| {
            json!({
                "status": a.status.as_str(),
                "labels": a.labels,
                "annotations": a.annotations,
                "startsAt": a.starts_at,
                "endsAt": a.ends_at,
                "generatorURL": a.generator_url,
                "fingerprint": a.fingerprint,
            })
        })
        .collect();
    json!({
        "version": "4",
        "groupKey": notification.group_key,
        "truncatedAlerts": total - kept,
        "status": notification.status().as_str(),
        "receiver": notification.receiver,
        "groupLabels": notification.group_labels,
        "commonLabels": notification.common_labels(),
        "commonAnnotations": notification.common_annotations(),
        "externalURL": external_url,
        "alerts": alerts,
    })
}

impl Notifier for Webhook {
    fn render(&self, notification: &Notification) -> String {
        body(notification, self.max_alerts, &self.external_url).to_string()
    }
}

#[async_trait]
impl Deliver for Webhook {
    async fn deliver(&self, rendered: &Rendered) -> Result<(), ExportError> {
        self.poster
            .post(&self.url, &HeaderMap::new(), &rendered.body)
            .await
    }
}
