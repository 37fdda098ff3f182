//! The aggregation: spans → series (one per resource and label set) with a call count
//! and a duration histogram. Series are found by a byte key built in a reused buffer, so
//! a span of a known series allocates nothing.

use std::collections::HashMap;

use xxhash_rust::xxh64::Xxh64Builder;

use sentinel_pipeline::otlp::collector::trace::v1::ExportTraceServiceRequest;
use sentinel_pipeline::otlp::common::v1::{any_value, AnyValue, KeyValue};
use sentinel_pipeline::otlp::resource::v1::Resource;
use sentinel_pipeline::otlp::trace::v1::{span::SpanKind, status::StatusCode, Span};
use sentinel_pipeline::visit::{ExportRequest, ResourceGroup};

use super::config::{SpanMetricsConfig, DEFAULT_DIMENSIONS};
use super::histogram::{Buckets, Exponential};

/// The attribute of the overflow series, as in the Collector and the OTel SDKs.
pub const OVERFLOW_KEY: &str = "otel.metric.overflow";

/// What the aggregation needs from the config, resolved once.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Which of the four default dimensions are kept (`exclude_dimensions`).
    pub defaults: [bool; 4],
    pub dimensions: Vec<(String, Option<AnyValue>)>,
    pub key_attributes: Vec<String>,
    pub limit: usize,
    pub bounds: Vec<f64>,
    /// `Some(max_size)` for exponential buckets.
    pub exponential: Option<usize>,
    pub histogram_disabled: bool,
    pub unit: super::config::DurationUnit,
    /// 0 when exemplars are off.
    pub exemplars: usize,
}

impl Settings {
    pub fn new(config: &SpanMetricsConfig) -> Self {
        let defaults =
            DEFAULT_DIMENSIONS.map(|d| !config.exclude_dimensions.iter().any(|e| e == d));
        Settings {
            defaults,
            dimensions: config
                .dimensions
                .iter()
                .map(|d| (d.name.clone(), d.default.clone().map(string_value)))
                .collect(),
            key_attributes: config.resource_metrics_key_attributes.clone(),
            limit: config.series_limit(),
            bounds: config.explicit_bounds(),
            exponential: config
                .histogram
                .exponential
                .as_ref()
                .map(|e| e.max_size as usize),
            histogram_disabled: config.histogram.disable,
            unit: config.histogram.unit,
            exemplars: if config.exemplars.enabled {
                config.exemplars.max_per_data_point
            } else {
                0
            },
        }
    }

    fn new_buckets(&self) -> Buckets {
        match (self.histogram_disabled, self.exponential) {
            (true, _) => Buckets::None,
            (false, Some(max_size)) => Buckets::Exponential(Exponential::new(max_size)),
            (false, None) => Buckets::Explicit(vec![0; self.bounds.len() + 1].into()),
        }
    }
}

/// A span kept as an exemplar of a `duration` point.
#[derive(Debug, Clone)]
pub struct Exemplar {
    pub time_unix_nano: u64,
    pub value: f64,
    pub trace_id: [u8; 16],
    pub span_id: [u8; 8],
}

/// One label set of one resource.
#[derive(Debug, Clone)]
pub struct Series {
    pub attributes: Vec<KeyValue>,
    pub calls: u64,
    pub sum: f64,
    pub min: f64,
    pub max: f64,
    pub buckets: Buckets,
    pub exemplars: Vec<Exemplar>,
}

impl Series {
    fn new(attributes: Vec<KeyValue>, buckets: Buckets) -> Self {
        Series {
            attributes,
            calls: 0,
            sum: 0.0,
            min: f64::INFINITY,
            max: f64::NEG_INFINITY,
            buckets,
            exemplars: Vec::new(),
        }
    }
}

/// The spans of resources that agree on the key attributes.
#[derive(Debug, Clone)]
pub struct Group {
    pub resource: Resource,
    /// Indexes into [`State::series`], in creation order.
    pub series: Vec<usize>,
    pub overflow: Option<usize>,
}

#[derive(Debug, Default, Clone)]
pub struct State {
    pub groups: Vec<Group>,
    group_index: HashMap<Box<[u8]>, usize, Xxh64Builder>,
    pub series: Vec<Series>,
    // xxh64 rather than SipHash: keys are client data, but the series limit bounds what
    // colliding names could cost.
    series_index: HashMap<Box<[u8]>, usize, Xxh64Builder>,
    /// Series counted against the limit (overflow series are not).
    pub limited_series: usize,
    /// Spans counted in an overflow series since start.
    pub overflowed_spans: u64,
    /// Spans recorded since the last flush.
    pub pending_spans: u64,
    /// Where spans of resources first seen at the limit go: one group, without resource
    /// attributes, so that changing resources cannot grow the groups past the limit.
    overflow_group: Option<usize>,
    key: Vec<u8>,
}

/// Spans of one request: recorded, and skipped for want of a `service.name`.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Recorded {
    pub spans: usize,
    pub skipped: usize,
}

impl State {
    pub fn record(&mut self, settings: &Settings, request: &ExportTraceServiceRequest) -> Recorded {
        let mut recorded = Recorded::default();
        for rs in request.groups() {
            let resource = rs.resource();
            let attrs: &[KeyValue] = resource.map(|r| r.attributes.as_slice()).unwrap_or(&[]);
            // As the Collector: spans of a resource without service.name are not counted.
            let Some(service) = attrs.iter().find(|kv| kv.key == "service.name") else {
                recorded.skipped += rs.item_count();
                continue;
            };
            let group = self.group(settings, attrs);
            for (_, span) in rs.items() {
                self.record_span(settings, group, service, attrs, span);
                recorded.spans += 1;
            }
        }
        self.pending_spans += recorded.spans as u64;
        recorded
    }

    fn group(&mut self, settings: &Settings, attrs: &[KeyValue]) -> usize {
        self.key.clear();
        for kv in attrs {
            if settings.key_attributes.is_empty() || settings.key_attributes.contains(&kv.key) {
                push_str(&mut self.key, &kv.key);
                push_value(&mut self.key, kv.value.as_ref());
            }
        }
        if let Some(&g) = self.group_index.get(self.key.as_slice()) {
            return g;
        }
        if self.limited_series >= settings.limit {
            if let Some(g) = self.overflow_group {
                return g;
            }
            let g = self.new_group(Vec::new());
            self.overflow_group = Some(g);
            return g;
        }
        let g = self.new_group(attrs.to_vec());
        self.group_index.insert(self.key.as_slice().into(), g);
        g
    }

    fn new_group(&mut self, attributes: Vec<KeyValue>) -> usize {
        self.groups.push(Group {
            resource: Resource {
                attributes,
                ..Default::default()
            },
            series: Vec::new(),
            overflow: None,
        });
        self.groups.len() - 1
    }

    fn record_span(
        &mut self,
        settings: &Settings,
        group: usize,
        service: &KeyValue,
        resource: &[KeyValue],
        span: &Span,
    ) {
        let duration = settings.unit.from_nanos(
            span.end_time_unix_nano
                .saturating_sub(span.start_time_unix_nano),
        );
        let series = self.series_for(settings, group, service, resource, span);
        let s = &mut self.series[series];
        s.calls += 1;
        s.sum += duration;
        s.min = s.min.min(duration);
        s.max = s.max.max(duration);
        s.buckets.record(&settings.bounds, duration);
        if s.exemplars.len() < settings.exemplars && span.trace_id.len() == 16 {
            s.exemplars.push(Exemplar {
                time_unix_nano: span.end_time_unix_nano,
                value: duration,
                trace_id: span.trace_id.as_slice().try_into().unwrap_or_default(),
                span_id: span.span_id.as_slice().try_into().unwrap_or_default(),
            });
        }
    }

    /// The series of `span`: found, created, or the group's overflow series at the limit.
    fn series_for(
        &mut self,
        settings: &Settings,
        group: usize,
        service: &KeyValue,
        resource: &[KeyValue],
        span: &Span,
    ) -> usize {
        self.key.clear();
        self.key.extend_from_slice(&(group as u64).to_le_bytes());
        let key = &mut self.key;
        for_each_label(settings, service, resource, span, |_, value| {
            push_value(key, Some(value));
        });
        if let Some(&s) = self.series_index.get(self.key.as_slice()) {
            return s;
        }
        if self.limited_series >= settings.limit {
            self.overflowed_spans += 1;
            return self.overflow_series(settings, group);
        }
        let mut attributes = Vec::with_capacity(4 + settings.dimensions.len());
        for_each_label(settings, service, resource, span, |name, value| {
            attributes.push(KeyValue {
                key: name.to_string(),
                value: Some(value.to_value()),
                ..Default::default()
            });
        });
        let s = self.series.len();
        self.series
            .push(Series::new(attributes, settings.new_buckets()));
        self.series_index.insert(self.key.as_slice().into(), s);
        self.groups[group].series.push(s);
        self.limited_series += 1;
        s
    }

    fn overflow_series(&mut self, settings: &Settings, group: usize) -> usize {
        if let Some(s) = self.groups[group].overflow {
            return s;
        }
        let attributes = vec![KeyValue {
            key: OVERFLOW_KEY.into(),
            value: Some(string_value("true".into())),
            ..Default::default()
        }];
        let s = self.series.len();
        self.series
            .push(Series::new(attributes, settings.new_buckets()));
        self.groups[group].overflow = Some(s);
        s
    }

    /// Cumulative: exemplars belong to one interval only.
    pub fn clear_exemplars(&mut self) {
        self.series.iter_mut().for_each(|s| s.exemplars.clear());
        self.pending_spans = 0;
    }

    /// Delta: everything starts over, including the limit.
    pub fn clear(&mut self) {
        let overflowed = self.overflowed_spans;
        *self = State {
            key: std::mem::take(&mut self.key),
            overflowed_spans: overflowed,
            ..Default::default()
        };
    }

    /// Heap bytes held by the series and their index (not counting allocator overhead).
    pub fn heap_bytes(&self) -> usize {
        let attrs: usize = self
            .series
            .iter()
            .map(|s| {
                s.attributes.capacity() * std::mem::size_of::<KeyValue>()
                    + s.buckets.heap_bytes()
                    + s.exemplars.capacity() * std::mem::size_of::<Exemplar>()
            })
            .sum();
        attrs + self.series.capacity() * std::mem::size_of::<Series>()
    }
}

/// A label value, borrowed from the span or its resource.
#[derive(Clone, Copy)]
enum Label<'a> {
    Any(&'a AnyValue),
    Str(&'a str),
}

impl Label<'_> {
    fn to_value(self) -> AnyValue {
        match self {
            Label::Any(a) => a.clone(),
            Label::Str(s) => string_value(s.to_string()),
        }
    }
}

/// Calls `f` with each label of `span` in output order: the kept defaults, then the
/// configured dimensions that have a value. Called twice for a new series (key, then
/// attributes) so that a known series costs no allocation.
fn for_each_label<'a>(
    settings: &'a Settings,
    service: &'a KeyValue,
    resource: &'a [KeyValue],
    span: &'a Span,
    mut f: impl FnMut(&'a str, Label<'a>),
) {
    let service = match &service.value {
        Some(v) => Label::Any(v),
        None => Label::Str(""),
    };
    let status = span.status.as_ref().map_or(0, |s| s.code);
    let defaults = [
        service,
        Label::Str(&span.name),
        Label::Str(kind_name(span.kind)),
        Label::Str(status_name(status)),
    ];
    for ((keep, name), value) in settings
        .defaults
        .iter()
        .zip(DEFAULT_DIMENSIONS)
        .zip(defaults)
    {
        if *keep {
            f(name, value);
        }
    }
    for (name, default) in &settings.dimensions {
        let found = span
            .attributes
            .iter()
            .chain(resource)
            .find(|kv| &kv.key == name)
            .and_then(|kv| kv.value.as_ref())
            .or(default.as_ref());
        if let Some(v) = found {
            f(name, Label::Any(v));
        }
    }
}

/// The Collector's `span.kind` values.
pub fn kind_name(kind: i32) -> &'static str {
    match SpanKind::try_from(kind) {
        Ok(SpanKind::Internal) => "SPAN_KIND_INTERNAL",
        Ok(SpanKind::Server) => "SPAN_KIND_SERVER",
        Ok(SpanKind::Client) => "SPAN_KIND_CLIENT",
        Ok(SpanKind::Producer) => "SPAN_KIND_PRODUCER",
        Ok(SpanKind::Consumer) => "SPAN_KIND_CONSUMER",
        _ => "SPAN_KIND_UNSPECIFIED",
    }
}

/// The Collector's `status.code` values.
pub fn status_name(code: i32) -> &'static str {
    match StatusCode::try_from(code) {
        Ok(StatusCode::Ok) => "STATUS_CODE_OK",
        Ok(StatusCode::Error) => "STATUS_CODE_ERROR",
        _ => "STATUS_CODE_UNSET",
    }
}

pub fn string_value(s: String) -> AnyValue {
    AnyValue {
        value: Some(any_value::Value::StringValue(s)),
    }
}

/// Length-prefixed, so no two different label lists share a key.
fn push_str(key: &mut Vec<u8>, s: &str) {
    key.extend_from_slice(&(s.len() as u32).to_le_bytes());
    key.extend_from_slice(s.as_bytes());
}

fn push_value<'a>(key: &mut Vec<u8>, value: Option<impl Into<KeyPart<'a>>>) {
    match value.map(Into::into) {
        None => key.push(0),
        Some(KeyPart::Str(s)) => {
            key.push(1);
            push_str(key, &s);
        }
        Some(KeyPart::Other(bytes)) => {
            key.push(2);
            key.extend_from_slice(&(bytes.len() as u32).to_le_bytes());
            key.extend_from_slice(&bytes);
        }
    }
}

/// How a value enters a key: strings as they are, anything else protobuf-encoded.
enum KeyPart<'a> {
    Str(std::borrow::Cow<'a, str>),
    Other(Vec<u8>),
}

impl<'a> From<&'a AnyValue> for KeyPart<'a> {
    fn from(v: &'a AnyValue) -> Self {
        match &v.value {
            Some(any_value::Value::StringValue(s)) => KeyPart::Str(s.as_str().into()),
            _ => KeyPart::Other(prost::Message::encode_to_vec(v)),
        }
    }
}

impl<'a> From<Label<'a>> for KeyPart<'a> {
    fn from(v: Label<'a>) -> Self {
        match v {
            Label::Any(a) => a.into(),
            Label::Str(s) => KeyPart::Str(s.into()),
        }
    }
}
