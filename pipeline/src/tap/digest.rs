//! What the status snapshot reads from data the agent itself derives: LLM cost per service
//! and model (the `llm_cost` connector's `sentinel.llm.cost` delta sums) and firing alerts
//! (the `alert_rules` connector's `sentinel.alert` records). Both are bounded.

use std::collections::BTreeMap;
use std::sync::Mutex;

use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::common::v1::{any_value::Value, KeyValue};
use opentelemetry_proto::tonic::metrics::v1::{metric, number_data_point};

use super::lock;

/// Distinct (service, model) pairs and firing alerts kept.
pub const MAX_ENTRIES: usize = 256;

/// Which digest a connector's output feeds, by the connector's type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DigestKind {
    LlmCost,
    Alerts,
}

impl DigestKind {
    pub fn for_type(type_name: &str) -> Option<DigestKind> {
        match type_name {
            "llm_cost" => Some(DigestKind::LlmCost),
            "alert_rules" => Some(DigestKind::Alerts),
            _ => None,
        }
    }
}

/// Running LLM cost and the alerts firing now.
#[derive(Default)]
pub struct Digest {
    costs: Mutex<BTreeMap<(String, String), f64>>,
    alerts: Mutex<BTreeMap<String, FiringAlert>>,
}

/// One alert in state `firing`, as its latest `sentinel.alert` record said.
#[derive(Debug, Clone, PartialEq)]
pub struct FiringAlert {
    pub alertname: String,
    pub fingerprint: String,
    pub summary: String,
    pub starts_at: String,
}

/// Cost so far of one service and model, in USD.
#[derive(Debug, Clone, PartialEq)]
pub struct LlmCost {
    pub service: String,
    pub model: String,
    pub usd: f64,
}

fn text<'a>(attrs: &'a [KeyValue], key: &str) -> Option<&'a str> {
    attrs.iter().find(|kv| kv.key == key).and_then(|kv| {
        match kv.value.as_ref()?.value.as_ref()? {
            Value::StringValue(s) => Some(s.as_str()),
            _ => None,
        }
    })
}

impl Digest {
    /// Adds the `sentinel.llm.cost` points of `request`.
    pub fn add_costs(&self, request: &ExportMetricsServiceRequest) {
        let metrics = request
            .resource_metrics
            .iter()
            .flat_map(|r| &r.scope_metrics)
            .flat_map(|s| &s.metrics)
            .filter(|m| m.name == "sentinel.llm.cost");
        let mut costs = lock(&self.costs);
        for m in metrics {
            let Some(metric::Data::Sum(sum)) = &m.data else {
                continue;
            };
            for point in &sum.data_points {
                let usd = match point.value {
                    Some(number_data_point::Value::AsDouble(v)) => v,
                    Some(number_data_point::Value::AsInt(v)) => v as f64,
                    None => continue,
                };
                let service = text(&point.attributes, "service.name").unwrap_or("-");
                let model = text(&point.attributes, "gen_ai.request.model").unwrap_or("-");
                let key = (service.to_string(), model.to_string());
                if costs.len() >= MAX_ENTRIES && !costs.contains_key(&key) {
                    continue;
                }
                *costs.entry(key).or_default() += usd;
            }
        }
    }

    /// Follows the state changes in the `sentinel.alert` records of `request`.
    pub fn follow_alerts(&self, request: &ExportLogsServiceRequest) {
        let records = request
            .resource_logs
            .iter()
            .flat_map(|r| &r.scope_logs)
            .flat_map(|s| &s.log_records)
            .filter(|r| r.event_name == "sentinel.alert");
        let mut alerts = lock(&self.alerts);
        for record in records {
            let attrs = &record.attributes;
            let Some(fingerprint) = text(attrs, "fingerprint") else {
                continue;
            };
            if text(attrs, "state") != Some("firing") {
                alerts.remove(fingerprint);
                continue;
            }
            if alerts.len() >= MAX_ENTRIES && !alerts.contains_key(fingerprint) {
                continue;
            }
            let summary = match record.body.as_ref().and_then(|b| b.value.as_ref()) {
                Some(Value::StringValue(s)) => s.clone(),
                _ => String::new(),
            };
            alerts.insert(
                fingerprint.to_string(),
                FiringAlert {
                    alertname: text(attrs, "alertname").unwrap_or("").to_string(),
                    fingerprint: fingerprint.to_string(),
                    summary,
                    starts_at: text(attrs, "startsAt").unwrap_or("").to_string(),
                },
            );
        }
    }

    /// Cost per service and model, most expensive first.
    pub fn costs(&self) -> Vec<LlmCost> {
        let mut all: Vec<LlmCost> = lock(&self.costs)
            .iter()
            .map(|((service, model), usd)| LlmCost {
                service: service.clone(),
                model: model.clone(),
                usd: *usd,
            })
            .collect();
        all.sort_by(|a, b| b.usd.total_cmp(&a.usd));
        all
    }

    pub fn firing(&self) -> Vec<FiringAlert> {
        lock(&self.alerts).values().cloned().collect()
    }
}
