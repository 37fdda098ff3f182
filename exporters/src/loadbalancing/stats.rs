//! The exporter's own metrics, beside the six its sending queue reports: backends,
//! membership changes, resolutions, and the outcome per backend (the Collector's
//! `loadbalancer_*` metrics under Sentinel's prefix).

use std::sync::Arc;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use sentinel_pipeline::SelfMetrics;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Component {
    component_id: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Resolution {
    component_id: String,
    success: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Outcome {
    component_id: String,
    endpoint: String,
    success: &'static str,
}

/// Counters of one loadbalancing exporter.
#[derive(Clone)]
pub struct LbStats {
    id: String,
    pub backends: Gauge,
    pub backend_updates: Counter,
    resolutions: Family<Resolution, Counter>,
    requests: Family<Outcome, Counter>,
    items: Family<Outcome, Counter>,
    pub diverted_keys: Counter,
    pub skipped_items: Counter,
}

impl LbStats {
    pub fn new(id: &str, registry: &Arc<SelfMetrics>) -> LbStats {
        let component = Component {
            component_id: id.to_string(),
        };
        let gauge: Family<Component, Gauge> = registry.family(
            "loadbalancer_backends",
            "Backends the loadbalancing exporter currently routes to",
            Family::default,
        );
        let counter = |name, help| -> Family<Component, Counter> {
            registry.family(name, help, Family::default)
        };
        let stats = LbStats {
            id: id.to_string(),
            backends: gauge.get_or_create(&component).clone(),
            backend_updates: counter(
                "loadbalancer_backend_updates",
                "Resolutions that changed the set of backends (membership changes)",
            )
            .get_or_create(&component)
            .clone(),
            resolutions: registry.family(
                "loadbalancer_resolutions",
                "Resolutions of the backend list, by success",
                Family::default,
            ),
            requests: registry.family(
                "loadbalancer_backend_outcome",
                "Requests sent to each backend, by success",
                Family::default,
            ),
            items: registry.family(
                "loadbalancer_backend_items",
                "Items (spans, data points, log records) sent to each backend, by success",
                Family::default,
            ),
            diverted_keys: counter(
                "loadbalancer_diverted_keys",
                "Routing keys sent to another backend than their owner because the owner was over the load bound",
            )
            .get_or_create(&component)
            .clone(),
            skipped_items: counter(
                "loadbalancer_redelivery_skipped_items",
                "Items of a retried record not sent again because a backend had already accepted them",
            )
            .get_or_create(&component)
            .clone(),
        };
        stats
    }

    pub fn resolution(&self, success: bool) {
        self.resolutions
            .get_or_create(&Resolution {
                component_id: self.id.clone(),
                success: if success { "true" } else { "false" },
            })
            .inc();
    }

    pub fn outcome(&self, endpoint: &str, success: bool, items: usize) {
        let labels = Outcome {
            component_id: self.id.clone(),
            endpoint: endpoint.to_string(),
            success: if success { "true" } else { "false" },
        };
        self.requests.get_or_create(&labels).inc();
        self.items.get_or_create(&labels).inc_by(items as u64);
    }
}
