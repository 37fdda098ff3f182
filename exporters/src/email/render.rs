//! The email's subject and bodies.

use crate::notify::alert::Alert;
use crate::notify::group::Notification;

/// Alertmanager's default subject: `[FIRING:2] HighCpu db-1`.
pub fn subject(notification: &Notification) -> String {
    crate::slack::title(notification)
}

fn annotation<'a>(alert: &'a Alert, key: &str) -> &'a str {
    alert.annotations.get(key).map(String::as_str).unwrap_or("")
}

pub fn text_body(notification: &Notification) -> String {
    let mut out = format!("{}\n", subject(notification));
    for alert in &notification.alerts {
        out.push_str(&format!(
            "\n{} ({}) since {}\n",
            alert.name(),
            alert.status.as_str(),
            alert.starts_at
        ));
        for key in ["summary", "description"] {
            if !annotation(alert, key).is_empty() {
                out.push_str(&format!("{}\n", annotation(alert, key)));
            }
        }
        let labels: Vec<String> = alert
            .labels
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        out.push_str(&format!("Labels: {}\n", labels.join(", ")));
        if !annotation(alert, "remediation").is_empty() {
            out.push_str(&format!(
                "Remediation:\n{}\n",
                annotation(alert, "remediation")
            ));
        }
    }
    out
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

pub fn html_body(notification: &Notification) -> String {
    let mut out = format!("<html><body><h2>{}</h2>\n", escape(&subject(notification)));
    for alert in &notification.alerts {
        out.push_str(&format!(
            "<h3>{} <small>({})</small></h3>\n<p>{}</p>\n<p>{}</p>\n<table>\n",
            escape(alert.name()),
            alert.status.as_str(),
            escape(annotation(alert, "summary")),
            escape(annotation(alert, "description")),
        ));
        for (k, v) in &alert.labels {
            out.push_str(&format!(
                "<tr><td>{}</td><td>{}</td></tr>\n",
                escape(k),
                escape(v)
            ));
        }
        out.push_str("</table>\n");
        let remediation = annotation(alert, "remediation");
        if !remediation.is_empty() {
            out.push_str(&format!(
                "<h4>Remediation</h4>\n<pre>{}</pre>\n",
                escape(remediation)
            ));
        }
    }
    out.push_str("</body></html>\n");
    out
}
