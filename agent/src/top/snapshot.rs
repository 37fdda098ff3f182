//! The JSON of `GET /api/v1/status`: one reading of the agent, written by the admin server
//! and read by `sentinel top` and the status page. Rates come from two readings and their
//! `uptime_seconds` (monotonic).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Snapshot {
    pub version: String,
    /// Seconds since the agent started, from a monotonic clock.
    pub uptime_seconds: f64,
    pub process: Process,
    pub components: Vec<ComponentStatus>,
    pub exporters: Vec<ExporterStatus>,
    /// Spans per `service.name` handed on by receivers since the start, most first.
    pub services: Vec<ServiceSpans>,
    /// From the `llm_cost` connector's `sentinel.llm.cost`, most expensive first.
    pub llm_cost: Vec<LlmCostRow>,
    /// From the `alert_rules` connector's `sentinel.alert` records.
    pub alerts: Vec<Alert>,
    /// Every other self-metric series of a component (labelled `component_id`), such as
    /// bad requests by reason, queue retries, scrape errors.
    pub details: Vec<Detail>,
    pub last_reload: Option<Reload>,
    pub tap_enabled: bool,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Process {
    pub cpu_seconds: f64,
    pub resident_bytes: f64,
}

/// The six self-metrics of one component and signal, plus its other series.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ComponentStatus {
    pub kind: String,
    pub id: String,
    pub signal: String,
    pub received: f64,
    pub sent: f64,
    pub refused: f64,
    pub dropped: f64,
    pub failed: f64,
    pub queue_size: f64,
}

/// One other series of a component; `labels` keeps `component_id` and the series' own labels.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Detail {
    pub metric: String,
    pub labels: BTreeMap<String, String>,
    pub value: f64,
}

/// One exporter's sending queue and delivery health.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ExporterStatus {
    pub id: String,
    pub queue_bytes: f64,
    /// The queue's byte budget (`sending_queue.max_size` or its default).
    pub queue_capacity_bytes: f64,
    pub oldest_record_age_seconds: f64,
    pub retries: f64,
    pub dead_lettered: f64,
    /// True while in a failing streak (retrying with backoff).
    pub retrying: bool,
    pub failures: u64,
    pub failing_for_seconds: f64,
    pub last_error: String,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ServiceSpans {
    pub service: String,
    pub spans: u64,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct LlmCostRow {
    pub service: String,
    pub model: String,
    pub usd: f64,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Alert {
    pub alertname: String,
    pub fingerprint: String,
    pub summary: String,
    pub starts_at: String,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Reload {
    /// RFC 3339.
    pub at: String,
    pub succeeded: bool,
    pub summary: String,
}
