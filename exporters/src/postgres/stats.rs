//! The exporter's own counters, beside the six every component reports through its queue.

use std::sync::Arc;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use sentinel_pipeline::SelfMetrics;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Labels {
    component_id: String,
}

#[derive(Clone)]
struct Families {
    clamped: Family<Labels, Counter>,
    truncated: Family<Labels, Counter>,
    duplicates: Family<Labels, Counter>,
}

/// Counters of one postgres exporter.
#[derive(Clone, Debug, Default)]
pub struct PgStats {
    /// Rows whose timestamp lay outside the partitions and was moved to the nearest one.
    pub clamped: Counter,
    /// Rows with a value cut to `max_value_bytes`.
    pub truncated: Counter,
    /// Replayed queue records the ledger had already stored, skipped.
    pub duplicates: Counter,
}

impl PgStats {
    pub fn new(id: &str, registry: &Arc<SelfMetrics>) -> PgStats {
        let families = families(registry);
        let labels = Labels {
            component_id: id.to_string(),
        };
        let clamped = families.clamped.get_or_create(&labels).clone();
        let truncated = families.truncated.get_or_create(&labels).clone();
        let duplicates = families.duplicates.get_or_create(&labels).clone();
        PgStats {
            clamped,
            truncated,
            duplicates,
        }
    }
}

fn families(registry: &Arc<SelfMetrics>) -> Families {
    Families {
        clamped: registry.family(
            "postgres_timestamps_clamped",
            "Rows whose timestamp was outside the existing daily partitions and was moved to the nearest one",
            Family::default,
        ),
        truncated: registry.family(
            "postgres_rows_truncated",
            "Rows stored with a value cut to max_value_bytes (flagged sentinel.truncated)",
            Family::default,
        ),
        duplicates: registry.family(
            "postgres_duplicate_records_skipped",
            "Replayed queue records already committed, skipped thanks to the batch ledger",
            Family::default,
        ),
    }
}
