//! `pagerduty` exporter: Events API v2 (`trigger`/`resolve`, `dedup_key` from the group
//! key). 400 is permanent (dead letter), 429 and 5xx are retried.

#[cfg(test)]
mod compliance;
mod config;
#[cfg(test)]
mod tests;

pub use config::PagerDutyConfig;

use async_trait::async_trait;
use hyper::header::HeaderMap;
use hyper::Uri;
use sentinel_pipeline::config::{check, decode_valid, Diagnostic, Node};
use sentinel_pipeline::{
    BuildContext, BuildError, BuiltExporter, ComponentInfo, ExportError, ExporterFactory, Factory,
    Kind, Signal,
};
use serde_json::{json, Value};

use crate::notify::alert::Status;
use crate::notify::group::{GroupSettings, Notification};
use crate::notify::http::JsonPoster;
use crate::notify::outbox::{Deliver, Rendered};
use crate::notify::{self, Notifier, NotifyOptions};

/// PagerDuty's limits: the summary is cut to 1024 characters, custom details above
/// 512,000 bytes are left out (as Alertmanager does).
const MAX_SUMMARY: usize = 1024;
const MAX_DETAILS: usize = 512_000;

pub struct PagerDutyFactory;

impl Factory for PagerDutyFactory {
    fn info(&self) -> ComponentInfo {
        ComponentInfo {
            type_name: "pagerduty",
            kind: Kind::Exporter,
            signals: &[Signal::Logs],
            description: "Sends PagerDuty Events API v2 events for sentinel.alert records",
        }
    }

    fn check(&self, node: &Node) -> Result<serde_json::Value, Vec<Diagnostic>> {
        check::<PagerDutyConfig>(node)
    }
}

impl ExporterFactory for PagerDutyFactory {
    fn build(&self, node: &Node, ctx: BuildContext) -> Result<BuiltExporter, BuildError> {
        let config: PagerDutyConfig =
            decode_valid(node).map_err(|d| BuildError::config(&ctx.id, d))?;
        let other = |message: String| BuildError::Other {
            component: ctx.id.clone(),
            message,
        };
        let notifier = PagerDuty {
            url: crate::notify::http::http_url(&config.url).map_err(other)?,
            poster: JsonPoster::new(&config.tls, config.timeout)
                .map_err(|e| other(e.to_string()))?,
            routing_key: config.routing_key.expose().to_string(),
            source: config.source.clone().unwrap_or_else(hostname),
            severity: config.severity.clone(),
            client: config.client.clone(),
            client_url: config.client_url.clone(),
        };
        let options = NotifyOptions {
            grouping: Some(GroupSettings {
                route: config.route,
                send_resolved: config.send_resolved,
            }),
            rate_limit: config.rate_limit,
            silences: config.silences,
            queue: config.sending_queue,
            retry: config.retry_on_failure,
        };
        notify::build(&ctx, notifier, options)
    }
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_else(|_| "sentinel".into())
}

pub struct PagerDuty {
    url: Uri,
    poster: JsonPoster,
    routing_key: String,
    source: String,
    severity: Option<String>,
    client: String,
    client_url: String,
}

/// PagerDuty's severity for a label value.
pub fn severity(label: &str) -> &'static str {
    match label {
        "critical" => "critical",
        "warning" => "warning",
        "info" => "info",
        _ => "error",
    }
}

impl PagerDuty {
    /// The event without `routing_key` (added when sent).
    pub fn event(&self, notification: &Notification) -> Value {
        let key = notification.key_hash();
        if notification.status() == Status::Resolved {
            return json!({"event_action": "resolve", "dedup_key": key});
        }
        let title = crate::slack::title(notification);
        let summary: String = title.chars().take(MAX_SUMMARY).collect();
        let first = notification.alerts.first();
        let severity = match &self.severity {
            Some(s) => s.clone(),
            None => severity(first.map(|a| a.severity()).unwrap_or("")).to_string(),
        };
        let alerts: Vec<Value> = notification
            .alerts
            .iter()
            .map(|a| json!({"status": a.status.as_str(), "labels": a.labels, "annotations": a.annotations, "startsAt": a.starts_at}))
            .collect();
        let mut details = json!({
            "firing": notification.firing_count(),
            "resolved": notification.alerts.len() - notification.firing_count(),
            "group_key": notification.group_key,
            "alerts": alerts,
        });
        if details.to_string().len() > MAX_DETAILS {
            details =
                json!({"error": "custom details were larger than 512,000 bytes and are left out"});
        }
        let mut event = json!({
            "event_action": "trigger",
            "dedup_key": key,
            "payload": {
                "summary": summary,
                "source": self.source,
                "severity": severity,
                "custom_details": details,
            },
            "client": self.client,
        });
        if !self.client_url.is_empty() {
            event["client_url"] = json!(self.client_url);
        }
        event
    }
}

impl Notifier for PagerDuty {
    fn render(&self, notification: &Notification) -> String {
        self.event(notification).to_string()
    }
}

#[async_trait]
impl Deliver for PagerDuty {
    async fn deliver(&self, rendered: &Rendered) -> Result<(), ExportError> {
        let mut event: Value = serde_json::from_str(&rendered.body)
            .map_err(|e| ExportError::permanent(format!("queued event is not JSON: {e}")))?;
        event["routing_key"] = json!(self.routing_key);
        self.poster
            .post(&self.url, &HeaderMap::new(), &event.to_string())
            .await
    }
}
