//! Config of the `anomaly` connector.

use std::path::PathBuf;
use std::time::Duration;

use sentinel_pipeline::config::{ComponentConfig, ValidationError};
use serde::{Deserialize, Serialize};

use super::detector::{
    DetectorConfig, Model, DEFAULT_COOLDOWN, DEFAULT_PROBATION, DEFAULT_THRESHOLD,
};
use super::select::Selector;

/// `anomaly` connector: scores every selected metric series point by point.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AnomalyConfig {
    /// Score only the series that match: `{ match_type: strict | regexp, metric_names:
    /// [...], attributes: [{ key, value }] }`. Default: every gauge and sum.
    pub include: Option<Selector>,
    /// Never score the series that match (same shape as `include`). Default: none.
    pub exclude: Option<Selector>,
    /// Score (0 to 1) at which the score crossing upwards emits a `sentinel.anomaly` log
    /// record. Default 0.7 (fixed before measuring; docs/anomaly.md).
    pub threshold: f64,
    /// Points of a series after an event during which it emits no other. Default 200.
    pub cooldown: u32,
    /// Points of a new series that score 0 while its baselines learn. Default 100.
    pub probation: u32,
    /// The detector's learning rates (docs/anomaly.md); the defaults are the shipped tuning.
    pub model: Model,
    /// Most series kept; past it the least recently updated is forgotten (counted in
    /// `sentinel_anomaly_series_evicted_total`). Default 10000.
    pub max_series: usize,
    /// Directory for the state snapshot (`anomaly-<name>.json`), written every
    /// `snapshot_interval` and on shutdown and read on start. Default:
    /// `<service.data_dir>/anomaly`. An unreadable snapshot is logged and learning starts
    /// afresh.
    pub directory: Option<PathBuf>,
    /// How often the state is snapshotted. Default 60s.
    #[serde(with = "humantime_serde")]
    pub snapshot_interval: Duration,
}

impl Default for AnomalyConfig {
    fn default() -> Self {
        AnomalyConfig {
            include: None,
            exclude: None,
            threshold: DEFAULT_THRESHOLD,
            cooldown: DEFAULT_COOLDOWN,
            probation: DEFAULT_PROBATION,
            model: Model::default(),
            max_series: 10_000,
            directory: None,
            snapshot_interval: Duration::from_secs(60),
        }
    }
}

impl AnomalyConfig {
    /// The detector this config describes (shared with `sentinel anomaly backtest`).
    pub fn detector(&self) -> DetectorConfig {
        DetectorConfig {
            model: self.model,
            probation: self.probation,
            threshold: self.threshold,
            cooldown: self.cooldown,
        }
    }
}

fn rate(key: &str, value: f64) -> Result<(), ValidationError> {
    if value > 0.0 && value <= 1.0 {
        Ok(())
    } else {
        Err(ValidationError::at(key, "must be in (0, 1]"))
    }
}

impl ComponentConfig for AnomalyConfig {
    fn validate(&self) -> Result<(), ValidationError> {
        if !(self.threshold > 0.0 && self.threshold <= 1.0) {
            return Err(ValidationError::at("threshold", "must be in (0, 1]"));
        }
        if self.max_series == 0 {
            return Err(ValidationError::at("max_series", "must be greater than 0"));
        }
        if self.snapshot_interval.is_zero() {
            return Err(ValidationError::at(
                "snapshot_interval",
                "must be greater than 0",
            ));
        }
        let m = &self.model;
        rate("model.level_alpha", m.level_alpha)?;
        rate("model.change_alpha", m.change_alpha)?;
        rate("model.short_alpha", m.short_alpha)?;
        rate("model.long_alpha", m.long_alpha)?;
        if !(m.range_decay >= 0.0 && m.range_decay < 1.0) {
            return Err(ValidationError::at(
                "model.range_decay",
                "must be in [0, 1)",
            ));
        }
        if !(m.half_at > 0.0 && m.half_at.is_finite()) {
            return Err(ValidationError::at(
                "model.half_at",
                "must be greater than 0",
            ));
        }
        for (key, selector) in [("include", &self.include), ("exclude", &self.exclude)] {
            if let Some(selector) = selector {
                selector
                    .compile()
                    .map_err(|e| ValidationError::at(key, e.to_string()))?;
            }
        }
        Ok(())
    }
}
