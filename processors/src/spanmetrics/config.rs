//! `connectors.spanmetrics` settings: the Collector's `spanmetrics` connector keys.

use std::collections::HashSet;
use std::time::Duration;

use humantime_serde::Serde;
use sentinel_pipeline::config::{ComponentConfig, ValidationError};
use serde::{Deserialize, Serialize};

/// The four dimensions every series has, in this order.
pub const DEFAULT_DIMENSIONS: [&str; 4] = ["service.name", "span.name", "span.kind", "status.code"];

/// The Collector's default explicit buckets, in milliseconds.
const DEFAULT_BUCKETS_MS: [u64; 16] = [
    2, 4, 6, 8, 10, 50, 100, 200, 400, 800, 1000, 1400, 2000, 5000, 10_000, 15_000,
];

/// Largest accepted `dimensions_cache_size` / `aggregation_cardinality_limit`.
const MAX_SERIES_LIMIT: usize = 10_000_000;

/// `connectors.spanmetrics`: request, error and duration (RED) metrics from spans.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SpanMetricsConfig {
    /// Prefix of the metric names: `<namespace>.calls`, `<namespace>.duration`. Empty: no
    /// prefix. Default `traces.span.metrics`.
    pub namespace: String,
    /// Dimensions added after the four defaults (`service.name`, `span.name`, `span.kind`,
    /// `status.code`). Each is looked up in the span's attributes, then its resource's;
    /// missing in both, `default` is used, or the dimension is left off. Default none.
    pub dimensions: Vec<Dimension>,
    /// Default dimensions left off every series (any of the four). Default none.
    pub exclude_dimensions: Vec<String>,
    /// Most series (label sets, across all resources) held at once. Spans of a new label
    /// set past this limit are counted in one overflow series per resource whose only
    /// attribute is `otel.metric.overflow="true"`; resources first seen past the limit share
    /// one overflow resource without attributes. With delta temporality the limit applies
    /// per flush interval. Default 1000.
    pub dimensions_cache_size: usize,
    /// The Collector's newer name for the same limit; when set (> 0) it takes precedence
    /// over `dimensions_cache_size`. Default 0 (unset).
    pub aggregation_cardinality_limit: usize,
    /// `AGGREGATION_TEMPORALITY_CUMULATIVE` (default) or `AGGREGATION_TEMPORALITY_DELTA`.
    /// Cumulative points start at the connector's start, so after an agent restart every
    /// series restarts with a new start time; delta points cover one flush interval each.
    pub aggregation_temporality: Temporality,
    /// The `duration` histogram.
    pub histogram: HistogramConfig,
    /// How often the metrics are emitted. Default `60s`, the Collector's. They are also
    /// emitted once at shutdown, and with the request that arrives when a flush is due.
    /// `0`: emitted with every request (no timer).
    #[serde(with = "humantime_serde")]
    pub metrics_flush_interval: Duration,
    /// Resource attributes that identify a resource: spans whose resources agree on these
    /// share series (the first resource seen gives the output's resource attributes). Use
    /// it when an attribute such as a process id changes on every restart. Default: all
    /// resource attributes.
    pub resource_metrics_key_attributes: Vec<String>,
    /// Span ids attached to `duration` points as exemplars.
    pub exemplars: ExemplarsConfig,
}

impl Default for SpanMetricsConfig {
    fn default() -> Self {
        SpanMetricsConfig {
            namespace: "traces.span.metrics".into(),
            dimensions: Vec::new(),
            exclude_dimensions: Vec::new(),
            dimensions_cache_size: 1000,
            aggregation_cardinality_limit: 0,
            aggregation_temporality: Temporality::Cumulative,
            histogram: HistogramConfig::default(),
            metrics_flush_interval: Duration::from_secs(60),
            resource_metrics_key_attributes: Vec::new(),
            exemplars: ExemplarsConfig::default(),
        }
    }
}

/// One entry of `dimensions`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Dimension {
    /// Attribute key, looked up in the span's attributes, then the resource's.
    pub name: String,
    /// Value used when neither has the attribute. Without it the dimension is omitted.
    #[serde(default)]
    pub default: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Temporality {
    #[serde(rename = "AGGREGATION_TEMPORALITY_CUMULATIVE")]
    Cumulative,
    #[serde(rename = "AGGREGATION_TEMPORALITY_DELTA")]
    Delta,
}

/// `histogram`: `explicit` (default) or `exponential`, not both.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HistogramConfig {
    /// No `duration` metric at all. Default false.
    pub disable: bool,
    /// Unit of the recorded durations: `ms` (default) or `s`.
    pub unit: DurationUnit,
    /// Explicit bucket bounds.
    pub explicit: Option<ExplicitConfig>,
    /// Base-2 exponential buckets.
    pub exponential: Option<ExponentialConfig>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum DurationUnit {
    #[default]
    #[serde(rename = "ms")]
    Milliseconds,
    #[serde(rename = "s")]
    Seconds,
}

impl DurationUnit {
    pub fn as_str(self) -> &'static str {
        match self {
            DurationUnit::Milliseconds => "ms",
            DurationUnit::Seconds => "s",
        }
    }

    /// A span's duration (nanoseconds) in this unit.
    pub fn from_nanos(self, nanos: u64) -> f64 {
        match self {
            DurationUnit::Milliseconds => nanos as f64 / 1e6,
            DurationUnit::Seconds => nanos as f64 / 1e9,
        }
    }
}

/// `histogram.explicit`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ExplicitConfig {
    /// Upper bounds (durations, ascending). Default `[2ms, 4ms, 6ms, 8ms, 10ms, 50ms,
    /// 100ms, 200ms, 400ms, 800ms, 1s, 1400ms, 2s, 5s, 10s, 15s]`.
    pub buckets: Option<Vec<Serde<Duration>>>,
}

/// `histogram.exponential`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ExponentialConfig {
    /// Most buckets for positive durations; the scale drops as needed to fit. Default 160.
    pub max_size: u32,
}

impl Default for ExponentialConfig {
    fn default() -> Self {
        ExponentialConfig { max_size: 160 }
    }
}

/// `exemplars`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ExemplarsConfig {
    /// Attach the trace and span ids of recorded spans to `duration` points. Default false.
    pub enabled: bool,
    /// Most exemplars per point and flush: the first spans of the interval. Default 5.
    pub max_per_data_point: usize,
}

impl Default for ExemplarsConfig {
    fn default() -> Self {
        ExemplarsConfig {
            enabled: false,
            max_per_data_point: 5,
        }
    }
}

impl SpanMetricsConfig {
    /// The series limit in effect.
    pub fn series_limit(&self) -> usize {
        if self.aggregation_cardinality_limit > 0 {
            self.aggregation_cardinality_limit
        } else {
            self.dimensions_cache_size
        }
    }

    /// Explicit bucket bounds in the histogram's unit.
    pub fn explicit_bounds(&self) -> Vec<f64> {
        let unit = self.histogram.unit;
        match self
            .histogram
            .explicit
            .as_ref()
            .and_then(|e| e.buckets.as_ref())
        {
            Some(buckets) => buckets
                .iter()
                .map(|b| unit.from_nanos(b.as_nanos() as u64))
                .collect(),
            None => DEFAULT_BUCKETS_MS
                .iter()
                .map(|ms| unit.from_nanos(ms * 1_000_000))
                .collect(),
        }
    }

    fn validate_dimensions(&self) -> Result<(), ValidationError> {
        let mut seen: HashSet<&str> = DEFAULT_DIMENSIONS.into_iter().collect();
        for (i, d) in self.dimensions.iter().enumerate() {
            if d.name.is_empty() {
                return Err(ValidationError::at(
                    format!("dimensions.{i}.name"),
                    "must not be empty",
                ));
            }
            if !seen.insert(&d.name) {
                return Err(ValidationError::at(
                    format!("dimensions.{i}.name"),
                    format!("duplicate dimension name {}", d.name),
                ));
            }
        }
        for (i, name) in self.exclude_dimensions.iter().enumerate() {
            if !DEFAULT_DIMENSIONS.contains(&name.as_str()) {
                return Err(ValidationError::at(
                    format!("exclude_dimensions.{i}"),
                    format!("{name} is not a default dimension (one of {DEFAULT_DIMENSIONS:?})"),
                ));
            }
        }
        Ok(())
    }

    fn validate_histogram(&self) -> Result<(), ValidationError> {
        let h = &self.histogram;
        if h.explicit.is_some() && h.exponential.is_some() {
            return Err(ValidationError::at(
                "histogram",
                "use either `explicit` or `exponential` buckets histogram",
            ));
        }
        if let Some(e) = &h.exponential {
            if !(2..=16_384).contains(&e.max_size) {
                return Err(ValidationError::at(
                    "histogram.exponential.max_size",
                    format!("must be from 2 to 16384, got {}", e.max_size),
                ));
            }
        }
        let bounds = self.explicit_bounds();
        if bounds.len() > 1_000 {
            return Err(ValidationError::at(
                "histogram.explicit.buckets",
                "at most 1000 buckets",
            ));
        }
        if bounds.windows(2).any(|w| w[0] >= w[1]) {
            return Err(ValidationError::at(
                "histogram.explicit.buckets",
                "bounds must be strictly ascending",
            ));
        }
        Ok(())
    }
}

impl ComponentConfig for SpanMetricsConfig {
    fn validate(&self) -> Result<(), ValidationError> {
        self.validate_dimensions()?;
        self.validate_histogram()?;
        let limit = self.series_limit();
        if limit == 0 || limit > MAX_SERIES_LIMIT {
            let key = if self.aggregation_cardinality_limit > 0 {
                "aggregation_cardinality_limit"
            } else {
                "dimensions_cache_size"
            };
            return Err(ValidationError::at(
                key,
                format!("must be from 1 to {MAX_SERIES_LIMIT}, got {limit}"),
            ));
        }
        if !self.metrics_flush_interval.is_zero()
            && self.metrics_flush_interval < Duration::from_millis(1)
        {
            return Err(ValidationError::at(
                "metrics_flush_interval",
                "must be 0 (every request) or at least 1ms",
            ));
        }
        if self.exemplars.max_per_data_point > 1_000 {
            return Err(ValidationError::at(
                "exemplars.max_per_data_point",
                "at most 1000",
            ));
        }
        Ok(())
    }
}
