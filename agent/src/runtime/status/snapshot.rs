//! Builds the status snapshot from the agent's own exposition, the exporters' health, the
//! tap registry's digests and the last reload.

use std::collections::BTreeMap;

use sentinel_pipeline::tap::TapRegistry;

use super::samples::{parse, Sample};
use crate::runtime::admin::AdminState;
use crate::top::snapshot::{
    Alert, ComponentStatus, Detail, ExporterStatus, LlmCostRow, Process, Reload, ServiceSpans,
    Snapshot,
};

/// Top services listed.
const TOP_SERVICES: usize = 10;

/// The six per-component families, as the exposition names their samples.
const SIX: [&str; 6] = [
    "sentinel_component_received_items_total",
    "sentinel_component_sent_items_total",
    "sentinel_component_refused_items_total",
    "sentinel_component_dropped_items_total",
    "sentinel_component_failed_items_total",
    "sentinel_component_queue_size",
];

pub fn build(state: &AdminState, taps: &TapRegistry, uptime: f64, tap_enabled: bool) -> Snapshot {
    state.process.refresh();
    let samples = parse(&state.metrics.encode());
    let value = |name: &str| {
        samples
            .iter()
            .find(|s| s.name == name)
            .map_or(0.0, |s| s.value)
    };
    Snapshot {
        version: env!("CARGO_PKG_VERSION").to_string(),
        uptime_seconds: uptime,
        process: Process {
            cpu_seconds: value("sentinel_process_cpu_seconds"),
            resident_bytes: value("sentinel_process_resident_memory_bytes"),
        },
        components: components(&samples),
        exporters: exporters(state, &samples),
        services: taps
            .services()
            .top(TOP_SERVICES)
            .into_iter()
            .map(|s| ServiceSpans {
                service: s.service,
                spans: s.spans,
            })
            .collect(),
        llm_cost: taps
            .digest()
            .costs()
            .into_iter()
            .map(|c| LlmCostRow {
                service: c.service,
                model: c.model,
                usd: c.usd,
            })
            .collect(),
        alerts: taps
            .digest()
            .firing()
            .into_iter()
            .map(|a| Alert {
                alertname: a.alertname,
                fingerprint: a.fingerprint,
                summary: a.summary,
                starts_at: a.starts_at,
            })
            .collect(),
        details: details(&samples),
        last_reload: last_reload(state),
        tap_enabled,
    }
}

fn components(samples: &[Sample]) -> Vec<ComponentStatus> {
    let mut by_key: BTreeMap<(String, String, String), ComponentStatus> = BTreeMap::new();
    for sample in samples {
        let Some(which) = SIX.iter().position(|name| *name == sample.name) else {
            continue;
        };
        let label = |k: &str| sample.label(k).unwrap_or("").to_string();
        let key = (
            label("component_kind"),
            label("component_id"),
            label("signal"),
        );
        let entry = by_key
            .entry(key.clone())
            .or_insert_with(|| ComponentStatus {
                kind: key.0,
                id: key.1,
                signal: key.2,
                ..Default::default()
            });
        let field = match which {
            0 => &mut entry.received,
            1 => &mut entry.sent,
            2 => &mut entry.refused,
            3 => &mut entry.dropped,
            4 => &mut entry.failed,
            _ => &mut entry.queue_size,
        };
        *field = sample.value;
    }
    // Receivers, processors, connectors, exporters: the order data flows.
    let rank = |kind: &str| {
        ["receiver", "processor", "connector", "exporter"]
            .iter()
            .position(|k| *k == kind)
            .unwrap_or(4)
    };
    let mut all: Vec<ComponentStatus> = by_key.into_values().collect();
    all.sort_by(|a, b| {
        rank(&a.kind)
            .cmp(&rank(&b.kind))
            .then(a.id.cmp(&b.id))
            .then(a.signal.cmp(&b.signal))
    });
    all
}

fn exporters(state: &AdminState, samples: &[Sample]) -> Vec<ExporterStatus> {
    let of = |name: &str, id: &str| {
        samples
            .iter()
            .filter(|s| s.name == name && s.label("component_id") == Some(id))
            .map(|s| s.value)
            .sum::<f64>()
    };
    let views = state.exporters.read().unwrap_or_else(|e| e.into_inner());
    views
        .iter()
        .map(|view| {
            let (id, health) = (&view.id, &view.health);
            let capacity = &view.capacity_bytes;
            let degraded = health.degraded();
            ExporterStatus {
                id: id.clone(),
                queue_bytes: of("sentinel_queue_bytes", id),
                queue_capacity_bytes: *capacity as f64,
                oldest_record_age_seconds: of("sentinel_queue_oldest_record_age_seconds", id),
                retries: of("sentinel_queue_retries_total", id),
                dead_lettered: of("sentinel_queue_dead_lettered_total", id),
                retrying: degraded.is_some(),
                failures: degraded.as_ref().map_or(0, |d| d.failures),
                failing_for_seconds: degraded
                    .as_ref()
                    .map_or(0.0, |d| d.failing_for.as_secs_f64()),
                last_error: degraded.map(|d| d.last_error).unwrap_or_default(),
            }
        })
        .collect()
}

/// Component series other than the six; histogram buckets and `_created` are left out.
fn details(samples: &[Sample]) -> Vec<Detail> {
    samples
        .iter()
        .filter(|s| s.label("component_id").is_some() && !SIX.contains(&s.name.as_str()))
        .filter(|s| !s.name.ends_with("_bucket") && !s.name.ends_with("_created"))
        .map(|s| Detail {
            metric: s.name.clone(),
            labels: s
                .labels
                .iter()
                .filter(|(k, _)| k != "component_kind" && k != "signal")
                .cloned()
                .collect(),
            value: s.value,
        })
        .collect()
}

fn last_reload(state: &AdminState) -> Option<Reload> {
    let outcome = state
        .last_reload
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .clone()?;
    Some(Reload {
        at: humantime::format_rfc3339_seconds(outcome.at).to_string(),
        succeeded: outcome.succeeded,
        summary: outcome.summary,
    })
}
