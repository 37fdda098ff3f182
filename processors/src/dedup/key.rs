//! 64-bit identities of spans, data points and log records. Attributes are hashed
//! independently of their order (the sum of per-pair hashes), since OTLP treats them as a
//! set; everything else is hashed field by field with a type tag so that different shapes
//! never feed the hasher the same bytes.

use std::hash::Hasher;

use sentinel_pipeline::otlp::common::v1::{any_value, AnyValue, InstrumentationScope, KeyValue};
use sentinel_pipeline::otlp::metrics::v1::{
    exponential_histogram_data_point::Buckets, metric::Data, number_data_point,
    ExponentialHistogramDataPoint, HistogramDataPoint, NumberDataPoint, SummaryDataPoint,
};
use sentinel_pipeline::otlp::resource::v1::Resource;
use sentinel_pipeline::otlp::trace::v1::Span;
use xxhash_rust::xxh64::Xxh64;

/// Seeds differ per kind of identity, so a span and a point never share a key by shape.
const SPAN_SEED: u64 = 0x5350_414e;
const POINT_SEED: u64 = 0x504f_494e;
const LOG_SEED: u64 = 0x4c4f_4753;
const PAIR_SEED: u64 = 0x5041_4952;

pub struct KeyHasher(Xxh64);

impl KeyHasher {
    pub fn new(seed: u64) -> Self {
        KeyHasher(Xxh64::new(seed))
    }

    pub fn u64(&mut self, value: u64) {
        self.0.write(&value.to_le_bytes());
    }

    /// Length-prefixed, so `("ab", "c")` and `("a", "bc")` differ.
    pub fn bytes(&mut self, bytes: &[u8]) {
        self.u64(bytes.len() as u64);
        self.0.write(bytes);
    }

    pub fn finish(&self) -> u64 {
        self.0.finish()
    }

    pub fn any_value(&mut self, value: Option<&AnyValue>) {
        let Some(value) = value.and_then(|v| v.value.as_ref()) else {
            self.u64(0);
            return;
        };
        match value {
            any_value::Value::StringValue(s) => {
                self.u64(1);
                self.bytes(s.as_bytes());
            }
            any_value::Value::BoolValue(b) => {
                self.u64(2);
                self.u64(u64::from(*b));
            }
            any_value::Value::IntValue(i) => {
                self.u64(3);
                self.u64(*i as u64);
            }
            any_value::Value::DoubleValue(d) => {
                self.u64(4);
                self.u64(d.to_bits());
            }
            any_value::Value::ArrayValue(array) => {
                self.u64(5);
                self.u64(array.values.len() as u64);
                for item in &array.values {
                    self.any_value(Some(item));
                }
            }
            any_value::Value::KvlistValue(list) => {
                self.u64(6);
                self.u64(attributes(&list.values, |_| false));
            }
            any_value::Value::BytesValue(b) => {
                self.u64(7);
                self.bytes(b);
            }
            any_value::Value::StringValueStrindex(i) => {
                self.u64(8);
                self.u64(*i as u64);
            }
        }
    }
}

/// Order-independent hash of a set of attributes, leaving out the keys `skip` names.
pub fn attributes(pairs: &[KeyValue], skip: impl Fn(&str) -> bool) -> u64 {
    let mut sum = 0u64;
    let mut count = 0u64;
    for pair in pairs.iter().filter(|kv| !skip(&kv.key)) {
        let mut h = KeyHasher::new(PAIR_SEED);
        h.bytes(pair.key.as_bytes());
        h.any_value(pair.value.as_ref());
        sum = sum.wrapping_add(h.finish());
        count += 1;
    }
    // Mixing in the count keeps {a, b, c} apart from sums that happen to coincide.
    sum ^ count.wrapping_mul(0x9e37_79b9_7f4a_7c15)
}

fn resource_attributes(resource: Option<&Resource>) -> u64 {
    attributes(resource.map_or(&[], |r| &r.attributes), |_| false)
}

fn scope(h: &mut KeyHasher, scope: Option<&InstrumentationScope>) {
    let (name, version) = scope.map_or(("", ""), |s| (&s.name, &s.version));
    h.bytes(name.as_bytes());
    h.bytes(version.as_bytes());
}

/// A span's identity: trace ID, span ID and start time.
pub fn span(span: &Span) -> u64 {
    let mut h = KeyHasher::new(SPAN_SEED);
    h.bytes(&span.trace_id);
    h.bytes(&span.span_id);
    h.u64(span.start_time_unix_nano);
    h.finish()
}

/// The part of a data point's identity shared by all points of one metric: resource
/// attributes, scope, metric name and data type.
pub fn series_prefix(
    resource: Option<&Resource>,
    scope_info: Option<&InstrumentationScope>,
    metric_name: &str,
    data: &Data,
) -> KeyHasher {
    let mut h = KeyHasher::new(POINT_SEED);
    h.u64(resource_attributes(resource));
    scope(&mut h, scope_info);
    h.bytes(metric_name.as_bytes());
    h.u64(match data {
        Data::Gauge(_) => 1,
        Data::Sum(_) => 2,
        Data::Histogram(_) => 3,
        Data::ExponentialHistogram(_) => 4,
        Data::Summary(_) => 5,
    });
    h
}

/// What every point type shares after the series prefix: attributes and timestamps.
fn point_head(prefix: &KeyHasher, attrs: &[KeyValue], start: u64, time: u64) -> KeyHasher {
    let mut h = KeyHasher(prefix.0.clone());
    h.u64(attributes(attrs, |_| false));
    h.u64(start);
    h.u64(time);
    h
}

pub fn number_point(prefix: &KeyHasher, p: &NumberDataPoint) -> u64 {
    let mut h = point_head(
        prefix,
        &p.attributes,
        p.start_time_unix_nano,
        p.time_unix_nano,
    );
    match p.value {
        Some(number_data_point::Value::AsDouble(d)) => {
            h.u64(1);
            h.u64(d.to_bits());
        }
        Some(number_data_point::Value::AsInt(i)) => {
            h.u64(2);
            h.u64(i as u64);
        }
        None => h.u64(0),
    }
    h.finish()
}

fn optional_f64(h: &mut KeyHasher, value: Option<f64>) {
    h.u64(value.map_or(u64::MAX, f64::to_bits));
}

pub fn histogram_point(prefix: &KeyHasher, p: &HistogramDataPoint) -> u64 {
    let mut h = point_head(
        prefix,
        &p.attributes,
        p.start_time_unix_nano,
        p.time_unix_nano,
    );
    h.u64(p.count);
    optional_f64(&mut h, p.sum);
    optional_f64(&mut h, p.min);
    optional_f64(&mut h, p.max);
    h.u64(p.bucket_counts.len() as u64);
    p.bucket_counts.iter().for_each(|c| h.u64(*c));
    h.u64(p.explicit_bounds.len() as u64);
    p.explicit_bounds.iter().for_each(|b| h.u64(b.to_bits()));
    h.finish()
}

fn buckets(h: &mut KeyHasher, buckets: Option<&Buckets>) {
    let (offset, counts) = buckets.map_or((0, &[][..]), |b| (b.offset, &b.bucket_counts[..]));
    h.u64(offset as u64);
    h.u64(counts.len() as u64);
    counts.iter().for_each(|c| h.u64(*c));
}

pub fn exponential_histogram_point(prefix: &KeyHasher, p: &ExponentialHistogramDataPoint) -> u64 {
    let mut h = point_head(
        prefix,
        &p.attributes,
        p.start_time_unix_nano,
        p.time_unix_nano,
    );
    h.u64(p.count);
    optional_f64(&mut h, p.sum);
    optional_f64(&mut h, p.min);
    optional_f64(&mut h, p.max);
    h.u64(p.scale as u64);
    h.u64(p.zero_count);
    h.u64(p.zero_threshold.to_bits());
    buckets(&mut h, p.positive.as_ref());
    buckets(&mut h, p.negative.as_ref());
    h.finish()
}

pub fn summary_point(prefix: &KeyHasher, p: &SummaryDataPoint) -> u64 {
    let mut h = point_head(
        prefix,
        &p.attributes,
        p.start_time_unix_nano,
        p.time_unix_nano,
    );
    h.u64(p.count);
    h.u64(p.sum.to_bits());
    h.u64(p.quantile_values.len() as u64);
    for q in &p.quantile_values {
        h.u64(q.quantile.to_bits());
        h.u64(q.value.to_bits());
    }
    h.finish()
}

/// The part of a log record's identity shared by all records of one scope: resource
/// attributes and scope.
pub fn log_prefix(resource: Option<&Resource>, scope_info: Option<&InstrumentationScope>) -> u64 {
    let mut h = KeyHasher::new(LOG_SEED);
    h.u64(resource_attributes(resource));
    scope(&mut h, scope_info);
    h.finish()
}

/// Hashes a value that `exclude_fields` left in the identity.
pub fn new_log_hasher(prefix: u64) -> KeyHasher {
    let mut h = KeyHasher::new(LOG_SEED);
    h.u64(prefix);
    h
}
