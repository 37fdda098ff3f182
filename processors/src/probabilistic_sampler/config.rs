use sentinel_pipeline::config::{ComponentConfig, ValidationError};
use serde::{Deserialize, Serialize};

/// `probabilistic_sampler`: keeps a fixed share of traces and log records, the same share
/// on every host, with the OpenTelemetry Collector's `probabilistic_sampler` keys:
///
/// ```yaml
/// probabilistic_sampler:
///   sampling_percentage: 25
///   mode: proportional        # or equalizing, hash_seed
///   sampling_precision: 4
///   fail_closed: true
/// ```
///
/// In `proportional` and `equalizing` modes the decision follows OTEP 235 (W3C trace
/// context level 2): the randomness is the low 56 bits of the trace ID, or the `rv`
/// value in the `ot` entry of `tracestate`; an item is kept when its randomness is at
/// least the rejection threshold T = round((1 - p) * 2^56). A kept span carries
/// `ot=th:<T in hex, trailing zeros removed>` in its `tracestate` (other `ot` sub-keys and
/// other vendors' entries are kept); a kept log record carries it in its
/// `sampling.threshold` attribute. Because the decision depends only on the trace ID and
/// the settings, every agent with the same settings keeps the same traces.
///
/// Items sampled out are counted in `sentinel_component_dropped_items_total` with the
/// reason "sampled out"; items dropped by `fail_closed` with their own reason.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ProbabilisticSamplerConfig {
    /// Percentage of traces (or log records) kept, 0 to 100; at or above 100 keeps
    /// everything. Default 0: nothing is kept, as in the Collector.
    pub sampling_percentage: f32,
    /// `proportional`, `equalizing` or `hash_seed`. Default (as in the Collector):
    /// `hash_seed` when `hash_seed` is set or `attribute_source` is `record`, so that old
    /// configurations keep deciding the same way; otherwise `proportional`, because it is
    /// the mode whose decisions and recorded thresholds compose with the SDKs' and other
    /// samplers' (a trace sampled at 50% upstream and 25% here is kept at 12.5%, and the
    /// `th` it carries says so).
    pub mode: Option<SamplerMode>,
    /// Seed of the FNV hash `hash_seed` mode uses (and of the hash of `from_attribute`
    /// values). Default 0. Agents that must agree need the same seed.
    pub hash_seed: u32,
    /// Whether an item without usable randomness (no valid trace ID, a malformed `th`
    /// or `rv`, a missing `from_attribute`) is dropped. Default true.
    pub fail_closed: bool,
    /// Hex digits of the threshold kept and written, 1 to 14. Default 4.
    pub sampling_precision: u8,
    /// Logs only: where a record's randomness comes from, `traceID` (default) or
    /// `record` (the hashed value of the `from_attribute` attribute).
    pub attribute_source: AttributeSource,
    /// Logs only: the record attribute hashed for randomness with `attribute_source:
    /// record`. Default empty (required with `record`).
    pub from_attribute: String,
    /// Logs only: a record attribute whose numeric value, a percentage, replaces
    /// `sampling_percentage` for that record (0 drops it). Default empty (none). Spans
    /// always honour the OpenTracing `sampling.priority` attribute: 0 drops the span,
    /// above 0 keeps it.
    pub sampling_priority: String,
}

impl Default for ProbabilisticSamplerConfig {
    fn default() -> Self {
        ProbabilisticSamplerConfig {
            sampling_percentage: 0.0,
            mode: None,
            hash_seed: 0,
            fail_closed: true,
            sampling_precision: 4,
            attribute_source: AttributeSource::TraceId,
            from_attribute: String::new(),
            sampling_priority: String::new(),
        }
    }
}

/// How the threshold is chosen and combined with one that arrived with the item.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SamplerMode {
    /// Multiplies probabilities: p upstream and q here keep p * q overall.
    Proportional,
    /// Raises the threshold to this sampler's when it is lower; never raises a span's
    /// sampling probability (50% upstream and 25% here keep 25% overall).
    Equalizing,
    /// The Collector's original mode: an FNV hash of `hash_seed` and the trace ID into
    /// 2^14 buckets. Decisions agree only with samplers using the same seed, so no
    /// threshold is written and none is read.
    HashSeed,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum AttributeSource {
    #[serde(rename = "traceID")]
    TraceId,
    #[serde(rename = "record")]
    Record,
}

impl ProbabilisticSamplerConfig {
    /// The mode in force: the configured one, else the Collector's default.
    pub fn effective_mode(&self) -> SamplerMode {
        self.mode.unwrap_or(
            if self.hash_seed != 0 || self.attribute_source == AttributeSource::Record {
                SamplerMode::HashSeed
            } else {
                SamplerMode::Proportional
            },
        )
    }
}

impl ComponentConfig for ProbabilisticSamplerConfig {
    fn validate(&self) -> Result<(), ValidationError> {
        if self.sampling_percentage.is_nan() || self.sampling_percentage < 0.0 {
            return Err(ValidationError::at(
                "sampling_percentage",
                "must be a number from 0 to 100",
            ));
        }
        if !(1..=14).contains(&self.sampling_precision) {
            return Err(ValidationError::at(
                "sampling_precision",
                "must be from 1 to 14 hex digits",
            ));
        }
        if self.attribute_source == AttributeSource::Record && self.from_attribute.is_empty() {
            return Err(ValidationError::at(
                "from_attribute",
                "is required with attribute_source: record",
            ));
        }
        Ok(())
    }
}
