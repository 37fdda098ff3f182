//! The decision for one span or log record, from the settings, the item's randomness and
//! the threshold an upstream sampler left on it.

use sentinel_pipeline::otlp::common::v1::{any_value, AnyValue, KeyValue};
use sentinel_pipeline::otlp::logs::v1::LogRecord;
use sentinel_pipeline::otlp::trace::v1::Span;

use super::config::{AttributeSource, ProbabilisticSamplerConfig, SamplerMode};
use super::threshold::{hash_seed_threshold, Randomness, Threshold};
use super::tracestate;

/// The OpenTracing span attribute that forces a decision.
const SPAN_PRIORITY: &str = "sampling.priority";
/// Where log records carry OTEP 235 values, in place of `tracestate`.
pub const LOG_THRESHOLD: &str = "sampling.threshold";
const LOG_RANDOMNESS: &str = "sampling.randomness";

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Keep; write this `th` value on the item when there is one.
    Keep(Option<String>),
    SampledOut,
    /// No usable randomness and `fail_closed` is set.
    NoRandomness,
}

/// What one item brings to the decision.
struct Evidence {
    randomness: Option<Randomness>,
    incoming: Option<Threshold>,
}

pub struct Sampler {
    mode: SamplerMode,
    own: Threshold,
    precision: u8,
    hash_seed: u32,
    fail_closed: bool,
    attribute_source: AttributeSource,
    from_attribute: String,
    sampling_priority: String,
}

impl Sampler {
    pub fn new(config: &ProbabilisticSamplerConfig) -> Sampler {
        let mode = config.effective_mode();
        let precision = config.sampling_precision;
        Sampler {
            mode,
            own: threshold_for(mode, precision, config.sampling_percentage),
            precision,
            hash_seed: config.hash_seed,
            fail_closed: config.fail_closed,
            attribute_source: config.attribute_source,
            from_attribute: config.from_attribute.clone(),
            sampling_priority: config.sampling_priority.clone(),
        }
    }

    pub fn span(&self, span: &Span) -> Outcome {
        let own = match number(&span.attributes, SPAN_PRIORITY) {
            Some(priority) if priority > 0.0 => Threshold::ALWAYS,
            Some(_) => return Outcome::SampledOut,
            None => self.own,
        };
        if own == Threshold::NEVER {
            return Outcome::SampledOut;
        }
        let evidence = if self.mode == SamplerMode::HashSeed {
            Ok(self.hashed(&span.trace_id))
        } else {
            tracestate::read(&span.trace_state).map(|ot| Evidence {
                randomness: ot
                    .randomness
                    .or_else(|| Randomness::from_trace_id(&span.trace_id)),
                incoming: ot.threshold,
            })
        };
        self.decide(own, evidence.ok())
    }

    pub fn log_record(&self, record: &LogRecord) -> Outcome {
        let own = match number(&record.attributes, &self.sampling_priority) {
            Some(percentage) => threshold_for(self.mode, self.precision, percentage as f32),
            None => self.own,
        };
        if own == Threshold::NEVER {
            return Outcome::SampledOut;
        }
        self.decide(own, self.log_evidence(record))
    }

    fn log_evidence(&self, record: &LogRecord) -> Option<Evidence> {
        if self.attribute_source == AttributeSource::Record {
            let value = attribute(&record.attributes, &self.from_attribute)?;
            let bytes = value_bytes(value)?;
            let incoming = self.log_threshold(record).ok()?;
            return Some(Evidence {
                randomness: Some(Randomness::from_hash(self.hash_seed, &bytes)),
                incoming,
            });
        }
        if self.mode == SamplerMode::HashSeed {
            return Some(self.hashed(&record.trace_id));
        }
        let explicit = match string(&record.attributes, LOG_RANDOMNESS) {
            Some(rv) => Some(Randomness::decode(rv).ok()?),
            None => None,
        };
        Some(Evidence {
            randomness: explicit.or_else(|| Randomness::from_trace_id(&record.trace_id)),
            incoming: self.log_threshold(record).ok()?,
        })
    }

    fn log_threshold(&self, record: &LogRecord) -> Result<Option<Threshold>, ()> {
        if self.mode == SamplerMode::HashSeed {
            return Ok(None);
        }
        string(&record.attributes, LOG_THRESHOLD)
            .map(Threshold::decode)
            .transpose()
            .map_err(|_| ())
    }

    fn hashed(&self, trace_id: &[u8]) -> Evidence {
        Evidence {
            randomness: Randomness::from_trace_id(trace_id)
                .map(|_| Randomness::from_hash(self.hash_seed, trace_id)),
            incoming: None,
        }
    }

    /// `evidence` is `None` when the item's sampling values were malformed.
    fn decide(&self, own: Threshold, evidence: Option<Evidence>) -> Outcome {
        let Some(Evidence {
            randomness: Some(randomness),
            incoming,
        }) = evidence
        else {
            return if self.fail_closed {
                Outcome::NoRandomness
            } else {
                Outcome::Keep(None)
            };
        };
        let threshold = self.combine(own, incoming);
        if !threshold.keeps(randomness) {
            return Outcome::SampledOut;
        }
        let written = match self.mode {
            SamplerMode::HashSeed => None,
            _ if incoming == Some(threshold) => None,
            _ => threshold.encode(),
        };
        Outcome::Keep(written)
    }

    /// The threshold in force, given one that arrived with the item.
    fn combine(&self, own: Threshold, incoming: Option<Threshold>) -> Threshold {
        let Some(incoming) = incoming else {
            return own;
        };
        match self.mode {
            SamplerMode::HashSeed => own,
            SamplerMode::Equalizing => own.max(incoming),
            SamplerMode::Proportional if own == Threshold::ALWAYS => incoming,
            SamplerMode::Proportional => {
                let product = incoming.probability() * own.probability();
                Threshold::from_probability(product, self.precision).max(incoming)
            }
        }
    }
}

/// A sampler's own threshold for a percentage.
fn threshold_for(mode: SamplerMode, precision: u8, percentage: f32) -> Threshold {
    match mode {
        SamplerMode::HashSeed => hash_seed_threshold(percentage),
        _ => Threshold::from_probability(f64::from(percentage) / 100.0, precision),
    }
}

fn attribute<'a>(attributes: &'a [KeyValue], key: &str) -> Option<&'a any_value::Value> {
    if key.is_empty() {
        return None;
    }
    attributes
        .iter()
        .find(|kv| kv.key == key)
        .and_then(|kv| kv.value.as_ref()?.value.as_ref())
}

fn number(attributes: &[KeyValue], key: &str) -> Option<f64> {
    match attribute(attributes, key)? {
        any_value::Value::IntValue(v) => Some(*v as f64),
        any_value::Value::DoubleValue(v) if v.is_finite() => Some(*v),
        _ => None,
    }
}

fn string<'a>(attributes: &'a [KeyValue], key: &str) -> Option<&'a str> {
    match attribute(attributes, key)? {
        any_value::Value::StringValue(v) => Some(v),
        _ => None,
    }
}

/// The bytes hashed for `attribute_source: record`: strings and bytes as they are,
/// scalars in their decimal form; maps and lists have none.
fn value_bytes(value: &any_value::Value) -> Option<Vec<u8>> {
    Some(match value {
        any_value::Value::StringValue(v) => v.as_bytes().to_vec(),
        any_value::Value::BytesValue(v) => v.clone(),
        any_value::Value::IntValue(v) => v.to_string().into_bytes(),
        any_value::Value::DoubleValue(v) => v.to_string().into_bytes(),
        any_value::Value::BoolValue(v) => v.to_string().into_bytes(),
        _ => return None,
    })
}

/// Sets (or replaces) the log record's `sampling.threshold` attribute.
pub fn set_log_threshold(record: &mut LogRecord, th: String) {
    let value = Some(AnyValue {
        value: Some(any_value::Value::StringValue(th)),
    });
    match record
        .attributes
        .iter_mut()
        .find(|kv| kv.key == LOG_THRESHOLD)
    {
        Some(kv) => kv.value = value,
        None => record.attributes.push(KeyValue {
            key: LOG_THRESHOLD.to_string(),
            value,
            ..Default::default()
        }),
    }
}
