//! The plain-text screen of `sentinel top`, from two snapshots (rates are their difference
//! over the monotonic `uptime_seconds` between them).

use std::collections::HashMap;
use std::fmt::Write;

use super::snapshot::{ComponentStatus, ExporterStatus, Snapshot};

/// Renders `current`, with rates against `previous`.
pub fn render(previous: &Snapshot, current: &Snapshot) -> String {
    let dt = (current.uptime_seconds - previous.uptime_seconds).max(1e-3);
    let mut out = String::new();
    let cpu = (current.process.cpu_seconds - previous.process.cpu_seconds) / dt * 100.0;
    let _ = writeln!(
        out,
        "sentinel {}  up {}  CPU {cpu:.1}%  RSS {}  (rates over {dt:.1}s)",
        current.version,
        duration(current.uptime_seconds),
        bytes(current.process.resident_bytes),
    );
    components(&mut out, previous, current, dt);
    reasons(&mut out, current);
    exporters(&mut out, previous, current, dt);
    services(&mut out, previous, current, dt);
    section(&mut out, "LLM COST (USD)", current.llm_cost.is_empty());
    for row in &current.llm_cost {
        let _ = writeln!(
            out,
            "  {:<24} {:<32} {:>12.6}",
            row.service, row.model, row.usd
        );
    }
    section(&mut out, "FIRING ALERTS", current.alerts.is_empty());
    for alert in &current.alerts {
        let _ = writeln!(
            out,
            "  {:<24} since {}  {}",
            alert.alertname, alert.starts_at, alert.summary
        );
    }
    section(&mut out, "LAST RELOAD", current.last_reload.is_none());
    if let Some(reload) = &current.last_reload {
        let result = if reload.succeeded {
            "applied"
        } else {
            "FAILED, last good config kept"
        };
        let _ = writeln!(out, "  {} {result}: {}", reload.at, reload.summary.trim());
    }
    out
}

fn section(out: &mut String, title: &str, empty: bool) {
    let _ = writeln!(out, "\n{title}{}", if empty { ": none" } else { "" });
}

type Key<'a> = (&'a str, &'a str, &'a str);

fn key(c: &ComponentStatus) -> Key<'_> {
    (&c.kind, &c.id, &c.signal)
}

fn components(out: &mut String, previous: &Snapshot, current: &Snapshot, dt: f64) {
    let before: HashMap<Key, &ComponentStatus> =
        previous.components.iter().map(|c| (key(c), c)).collect();
    let _ = writeln!(
        out,
        "\nCOMPONENTS\n{:<10} {:<24} {:<8} {:>10} {:>10} {:>12} {:>12} {:>9} {:>9} {:>9} {:>7}",
        "KIND",
        "ID",
        "SIGNAL",
        "IN/s",
        "OUT/s",
        "IN",
        "OUT",
        "REFUSED",
        "DROPPED",
        "FAILED",
        "QUEUE"
    );
    for c in &current.components {
        let (in_rate, out_rate) = match before.get(&key(c)) {
            Some(p) => ((c.received - p.received) / dt, (c.sent - p.sent) / dt),
            None => (0.0, 0.0),
        };
        let _ = writeln!(
            out,
            "{:<10} {:<24} {:<8} {in_rate:>10.1} {out_rate:>10.1} {:>12} {:>12} {:>9} {:>9} {:>9} {:>7}",
            c.kind, c.id, c.signal, c.received, c.sent, c.refused, c.dropped, c.failed, c.queue_size
        );
    }
}

/// Non-zero series by reason (or other labels) next to the six, per component.
fn reasons(out: &mut String, current: &Snapshot) {
    let rows: Vec<_> = current
        .details
        .iter()
        .filter(|d| d.value != 0.0 && d.labels.len() > 1)
        .collect();
    section(out, "REASONS AND OTHER COUNTS", rows.is_empty());
    for d in rows {
        let id = d.labels.get("component_id").map_or("", String::as_str);
        let labels: Vec<String> = d
            .labels
            .iter()
            .filter(|(k, _)| *k != "component_id")
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        let metric = d.metric.trim_start_matches("sentinel_");
        let _ = writeln!(
            out,
            "  {id:<24} {metric:<40} {:<32} {}",
            labels.join(","),
            d.value
        );
    }
}

fn exporters(out: &mut String, previous: &Snapshot, current: &Snapshot, dt: f64) {
    section(out, "EXPORTERS", current.exporters.is_empty());
    if current.exporters.is_empty() {
        return;
    }
    let _ = writeln!(
        out,
        "{:<24} {:>22} {:>7} {:>12} {:>9} {:<10} LAST ERROR",
        "ID", "QUEUE", "FILL", "TIME TO FULL", "RETRIES", "STATE"
    );
    for e in &current.exporters {
        let growth = previous
            .exporters
            .iter()
            .find(|p| p.id == e.id)
            .map_or(0.0, |p| (e.queue_bytes - p.queue_bytes) / dt);
        let _ = writeln!(
            out,
            "{:<24} {:>22} {:>6.1}% {:>12} {:>9} {:<10} {}",
            e.id,
            format!("{}/{}", bytes(e.queue_bytes), bytes(e.queue_capacity_bytes)),
            fill(e) * 100.0,
            time_to_full(e, growth),
            e.retries,
            if e.retrying { "retrying" } else { "ok" },
            e.last_error,
        );
    }
}

fn fill(e: &ExporterStatus) -> f64 {
    if e.queue_capacity_bytes > 0.0 {
        e.queue_bytes / e.queue_capacity_bytes
    } else {
        0.0
    }
}

/// At the current growth rate; `-` when the queue is not growing.
fn time_to_full(e: &ExporterStatus, growth_per_second: f64) -> String {
    if growth_per_second <= 0.0 || e.queue_capacity_bytes <= 0.0 {
        return "-".into();
    }
    duration(((e.queue_capacity_bytes - e.queue_bytes) / growth_per_second).max(0.0))
}

fn services(out: &mut String, previous: &Snapshot, current: &Snapshot, dt: f64) {
    section(out, "TOP SERVICES (spans)", current.services.is_empty());
    for s in &current.services {
        let before = previous
            .services
            .iter()
            .find(|p| p.service == s.service)
            .map_or(s.spans, |p| p.spans);
        let rate = (s.spans.saturating_sub(before)) as f64 / dt;
        let _ = writeln!(out, "  {:<40} {:>12} {rate:>10.1}/s", s.service, s.spans);
    }
}

fn bytes(n: f64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = n;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{value:.0} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

fn duration(seconds: f64) -> String {
    let s = seconds as u64;
    match s {
        0..=59 => format!("{s}s"),
        60..=3599 => format!("{}m{:02}s", s / 60, s % 60),
        _ => format!("{}h{:02}m", s / 3600, (s % 3600) / 60),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::top::snapshot::Process;

    fn component(received: f64, sent: f64) -> ComponentStatus {
        ComponentStatus {
            kind: "receiver".into(),
            id: "otlp".into(),
            signal: "traces".into(),
            received,
            sent,
            ..Default::default()
        }
    }

    #[test]
    fn rates_come_from_two_snapshots() {
        let previous = Snapshot {
            uptime_seconds: 10.0,
            components: vec![component(100.0, 100.0)],
            process: Process {
                cpu_seconds: 1.0,
                resident_bytes: 0.0,
            },
            ..Default::default()
        };
        let current = Snapshot {
            uptime_seconds: 12.0,
            components: vec![component(300.0, 250.0)],
            process: Process {
                cpu_seconds: 1.5,
                resident_bytes: 3.0 * 1024.0 * 1024.0,
            },
            ..Default::default()
        };
        let text = render(&previous, &current);
        assert!(text.contains("CPU 25.0%"), "{text}");
        assert!(text.contains("RSS 3.0 MiB"), "{text}");
        let row = text.lines().find(|l| l.starts_with("receiver")).unwrap();
        let fields: Vec<&str> = row.split_whitespace().collect();
        assert_eq!(&fields[3..7], ["100.0", "75.0", "300", "250"], "{row}");
    }

    #[test]
    fn time_to_full_follows_growth() {
        let e = ExporterStatus {
            queue_bytes: 600.0,
            queue_capacity_bytes: 1000.0,
            ..Default::default()
        };
        assert_eq!(time_to_full(&e, 100.0), "4s");
        assert_eq!(time_to_full(&e, 0.0), "-");
        assert_eq!(time_to_full(&e, -5.0), "-");
    }
}
