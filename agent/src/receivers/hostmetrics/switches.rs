//! Metric catalogs and their on/off switches: `metrics: { name: { enabled: bool } }`
//! under each scraper, resolved once at build time against the scraper's catalog.

use std::collections::BTreeMap;

use sentinel_pipeline::config::unknown_key_message;
use serde::{Deserialize, Serialize};

/// `metrics:` — metric name → `{ enabled: bool }`.
pub type MetricSwitches = BTreeMap<String, MetricSwitch>;

/// One metric's switch.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetricSwitch {
    /// Whether the metric is emitted.
    pub enabled: bool,
}

/// A scraper whose only option is the metric switches.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MetricsOnly {
    /// Switch single metrics on or off: `metrics: { system.cpu.utilization: { enabled: true } }`.
    /// Metrics not listed keep their default (the Collector's).
    pub metrics: MetricSwitches,
}

/// The metrics a scraper may emit, with whether each is on by default.
pub type MetricCatalog = &'static [(&'static str, bool)];

/// The metrics switched on, resolved once at build time.
#[derive(Debug, Clone, Default)]
pub struct Enabled(Vec<&'static str>);

impl Enabled {
    pub fn resolve(catalog: MetricCatalog, switches: &MetricSwitches) -> Enabled {
        Enabled(
            catalog
                .iter()
                .filter(|(name, default)| switches.get(*name).map_or(*default, |s| s.enabled))
                .map(|(name, _)| *name)
                .collect(),
        )
    }

    pub fn on(&self, name: &str) -> bool {
        self.0.contains(&name)
    }
}

/// A switch naming a metric the scraper does not have.
#[derive(Debug, thiserror::Error)]
#[error("scrapers.{scraper}.metrics: {message}")]
pub struct UnknownMetric {
    pub scraper: &'static str,
    /// The unknown name, with the closest known one when there is one.
    pub message: String,
}

/// Refuses a switch whose name is not in `catalog`.
pub fn check_names(
    scraper: &'static str,
    catalog: MetricCatalog,
    switches: &MetricSwitches,
) -> Result<(), UnknownMetric> {
    let valid: Vec<&str> = catalog.iter().map(|(name, _)| *name).collect();
    match switches.keys().find(|key| !valid.contains(&key.as_str())) {
        Some(key) => Err(UnknownMetric {
            scraper,
            message: unknown_key_message(key, &valid),
        }),
        None => Ok(()),
    }
}
