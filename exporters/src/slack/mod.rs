//! `slack` exporter: incoming webhooks with Block Kit, a `text` fallback and a colour by
//! severity; 429 answers are retried after their `Retry-After`.

#[cfg(test)]
mod compliance;
mod config;
#[cfg(test)]
mod tests;

pub use config::SlackConfig;

use async_trait::async_trait;
use hyper::header::HeaderMap;
use hyper::Uri;
use sentinel_pipeline::config::{check, decode_valid, Diagnostic, Node};
use sentinel_pipeline::{
    BuildContext, BuildError, BuiltExporter, ComponentInfo, ExportError, ExporterFactory, Factory,
    Kind, Signal,
};
use serde_json::{json, Value};

use crate::notify::alert::{Alert, Status};
use crate::notify::group::{GroupSettings, Notification};
use crate::notify::http::JsonPoster;
use crate::notify::outbox::{Deliver, Rendered};
use crate::notify::{self, Notifier, NotifyOptions};

pub struct SlackFactory;

impl Factory for SlackFactory {
    fn info(&self) -> ComponentInfo {
        ComponentInfo {
            type_name: "slack",
            kind: Kind::Exporter,
            signals: &[Signal::Logs],
            description: "Notifies Slack incoming webhooks about sentinel.alert records",
        }
    }

    fn check(&self, node: &Node) -> Result<serde_json::Value, Vec<Diagnostic>> {
        check::<SlackConfig>(node)
    }
}

impl ExporterFactory for SlackFactory {
    fn build(&self, node: &Node, ctx: BuildContext) -> Result<BuiltExporter, BuildError> {
        let config: SlackConfig = decode_valid(node).map_err(|d| BuildError::config(&ctx.id, d))?;
        let other = |message: String| BuildError::Other {
            component: ctx.id.clone(),
            message,
        };
        let notifier = Slack {
            url: crate::notify::http::http_url(config.api_url.expose()).map_err(other)?,
            poster: JsonPoster::new(&config.tls, config.timeout)
                .map_err(|e| other(e.to_string()))?,
            channel: config.channel.clone(),
            username: config.username.clone(),
            icon_emoji: config.icon_emoji.clone(),
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

pub struct Slack {
    url: Uri,
    poster: JsonPoster,
    channel: Option<String>,
    username: Option<String>,
    icon_emoji: Option<String>,
}

/// The attachment colour: resolved green, critical red, warning amber, else blue.
pub fn colour(notification: &Notification) -> &'static str {
    if notification.status() == Status::Resolved {
        return "#2EB67D";
    }
    let firing = notification
        .alerts
        .iter()
        .filter(|a| a.status == Status::Firing);
    let severities: Vec<&str> = firing.map(Alert::severity).collect();
    if severities.contains(&"critical") {
        "#E01E5A"
    } else if severities.contains(&"warning") {
        "#ECB22E"
    } else {
        "#36C5F0"
    }
}

/// `[FIRING:2] HighCpu instance=db-1` — the title and the `text` fallback's first line.
pub fn title(notification: &Notification) -> String {
    let status = match notification.status() {
        Status::Firing => format!("FIRING:{}", notification.firing_count()),
        Status::Resolved => "RESOLVED".to_string(),
    };
    let labels: Vec<&str> = notification
        .group_labels
        .values()
        .map(String::as_str)
        .collect();
    let name = notification.alerts.first().map(Alert::name).unwrap_or("");
    if labels.is_empty() {
        format!("[{status}] {name}")
    } else {
        format!("[{status}] {}", labels.join(" "))
    }
}

fn alert_section(alert: &Alert) -> Value {
    let annotation = |k: &str| alert.annotations.get(k).cloned().unwrap_or_default();
    let mut text = format!("*{}* ({})", alert.name(), alert.status.as_str());
    for key in ["summary", "description"] {
        let value = annotation(key);
        if !value.is_empty() {
            text.push_str(&format!("\n{value}"));
        }
    }
    let labels: Vec<String> = alert
        .labels
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    text.push_str(&format!("\n`{}`", labels.join(" ")));
    let remediation = annotation("remediation");
    if !remediation.is_empty() {
        text.push_str(&format!("\n*Remediation:*\n{remediation}"));
    }
    json!({"type": "section", "text": {"type": "mrkdwn", "text": truncate(&text, 3000)}})
}

fn truncate(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((at, _)) => format!("{}…", &text[..at]),
        None => text.to_string(),
    }
}

/// The whole message (Slack allows 50 blocks; the rest are summed up in one line).
pub fn message(notification: &Notification) -> Value {
    let title = title(notification);
    let mut blocks = vec![
        json!({"type": "header", "text": {"type": "plain_text", "text": truncate(&title, 150)}}),
    ];
    let shown = notification.alerts.len().min(40);
    blocks.extend(notification.alerts[..shown].iter().map(alert_section));
    if notification.alerts.len() > shown {
        let more = notification.alerts.len() - shown;
        blocks.push(json!({"type": "context", "elements": [{"type": "mrkdwn", "text": format!("… and {more} more alerts")}]}));
    }
    let summaries: Vec<String> = notification
        .alerts
        .iter()
        .map(|a| {
            a.annotations
                .get("summary")
                .cloned()
                .unwrap_or_else(|| a.name().to_string())
        })
        .collect();
    let fallback = format!("{title}\n{}", summaries.join("\n"));
    json!({
        "text": truncate(&fallback, 3000),
        "attachments": [{"color": colour(notification), "fallback": truncate(&title, 150), "blocks": blocks}],
    })
}

impl Notifier for Slack {
    fn render(&self, notification: &Notification) -> String {
        let mut message = message(notification);
        let overrides = [
            ("channel", &self.channel),
            ("username", &self.username),
            ("icon_emoji", &self.icon_emoji),
        ];
        for (key, value) in overrides {
            if let Some(value) = value {
                message[key] = json!(value);
            }
        }
        message.to_string()
    }
}

#[async_trait]
impl Deliver for Slack {
    async fn deliver(&self, rendered: &Rendered) -> Result<(), ExportError> {
        self.poster
            .post(&self.url, &HeaderMap::new(), &rendered.body)
            .await
    }
}
