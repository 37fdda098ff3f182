//! A flat view of OTLP requests for the checks: every resource, scope and item with its
//! OTLP/JSON path (`resourceSpans[0].scopeSpans[1].spans[2]`), so a failure names the
//! exact field.

use sentinel_pipeline::otlp::common::v1::{any_value, AnyValue, KeyValue};
use sentinel_pipeline::otlp::metrics::v1::number_data_point;
use sentinel_pipeline::visit::{self, DataPoint};
use sentinel_pipeline::Payload;

/// A resource, a scope or an item.
pub struct Part<'a> {
    pub path: String,
    /// Scope name, span name, data point's metric name, log body text.
    pub name: Option<String>,
    pub attributes: &'a [KeyValue],
}

/// A data point with its metric.
pub struct Point<'a> {
    pub path: String,
    pub metric: &'a str,
    pub unit: &'a str,
    pub attributes: &'a [KeyValue],
    /// A gauge's or sum's value; a histogram's or summary's sum.
    pub value: Option<f64>,
}

/// Everything in one request, each with its path under `prefix`.
#[derive(Default)]
pub struct Flat<'a> {
    pub resources: Vec<Part<'a>>,
    pub scopes: Vec<Part<'a>>,
    pub items: Vec<Part<'a>>,
    pub points: Vec<Point<'a>>,
}

const EMPTY: &[KeyValue] = &[];

impl<'a> Flat<'a> {
    pub fn add(&mut self, prefix: &str, payload: &'a Payload) {
        match payload {
            Payload::Traces(req) => {
                for (i, rs) in req.resource_spans.iter().enumerate() {
                    let r = format!("{prefix}resourceSpans[{i}]");
                    self.resource(&r, rs.resource.as_ref().map(|r| &r.attributes[..]));
                    for (j, ss) in rs.scope_spans.iter().enumerate() {
                        let s = format!("{r}.scopeSpans[{j}]");
                        self.scope(&s, ss.scope.as_ref());
                        for (n, span) in ss.spans.iter().enumerate() {
                            self.items.push(Part {
                                path: format!("{s}.spans[{n}]"),
                                name: Some(span.name.clone()),
                                attributes: &span.attributes,
                            });
                        }
                    }
                }
            }
            Payload::Metrics(req) => {
                for (i, rm) in req.resource_metrics.iter().enumerate() {
                    let r = format!("{prefix}resourceMetrics[{i}]");
                    self.resource(&r, rm.resource.as_ref().map(|r| &r.attributes[..]));
                    for (j, sm) in rm.scope_metrics.iter().enumerate() {
                        let s = format!("{r}.scopeMetrics[{j}]");
                        self.scope(&s, sm.scope.as_ref());
                        for (m, metric) in sm.metrics.iter().enumerate() {
                            self.metric(&format!("{s}.metrics[{m}]"), metric);
                        }
                    }
                }
            }
            Payload::Logs(req) => {
                for (i, rl) in req.resource_logs.iter().enumerate() {
                    let r = format!("{prefix}resourceLogs[{i}]");
                    self.resource(&r, rl.resource.as_ref().map(|r| &r.attributes[..]));
                    for (j, sl) in rl.scope_logs.iter().enumerate() {
                        let s = format!("{r}.scopeLogs[{j}]");
                        self.scope(&s, sl.scope.as_ref());
                        for (n, record) in sl.log_records.iter().enumerate() {
                            self.items.push(Part {
                                path: format!("{s}.logRecords[{n}]"),
                                name: Some(record.body.as_ref().map(text).unwrap_or_default()),
                                attributes: &record.attributes,
                            });
                        }
                    }
                }
            }
        }
    }

    fn resource(&mut self, path: &str, attributes: Option<&'a [KeyValue]>) {
        self.resources.push(Part {
            path: format!("{path}.resource"),
            name: None,
            attributes: attributes.unwrap_or(EMPTY),
        });
    }

    fn scope(
        &mut self,
        path: &str,
        scope: Option<&'a sentinel_pipeline::otlp::common::v1::InstrumentationScope>,
    ) {
        self.scopes.push(Part {
            path: format!("{path}.scope"),
            name: Some(scope.map(|s| s.name.clone()).unwrap_or_default()),
            attributes: scope.map_or(EMPTY, |s| &s.attributes[..]),
        });
    }

    fn metric(&mut self, path: &str, metric: &'a sentinel_pipeline::otlp::metrics::v1::Metric) {
        let kind = match &metric.data {
            Some(data) => data_key(data),
            None => "data",
        };
        for (p, point) in visit::points(metric).enumerate() {
            let path = format!("{path}.{kind}.dataPoints[{p}]");
            self.items.push(Part {
                path: path.clone(),
                name: Some(metric.name.clone()),
                attributes: point.attributes(),
            });
            self.points.push(Point {
                path,
                metric: &metric.name,
                unit: &metric.unit,
                attributes: point.attributes(),
                value: value(point),
            });
        }
    }
}

fn data_key(data: &sentinel_pipeline::otlp::metrics::v1::metric::Data) -> &'static str {
    use sentinel_pipeline::otlp::metrics::v1::metric::Data;
    match data {
        Data::Gauge(_) => "gauge",
        Data::Sum(_) => "sum",
        Data::Histogram(_) => "histogram",
        Data::ExponentialHistogram(_) => "exponentialHistogram",
        Data::Summary(_) => "summary",
    }
}

fn value(point: DataPoint<'_>) -> Option<f64> {
    match point {
        DataPoint::Number(p) => match p.value {
            Some(number_data_point::Value::AsDouble(v)) => Some(v),
            Some(number_data_point::Value::AsInt(v)) => Some(v as f64),
            None => None,
        },
        DataPoint::Histogram(p) => p.sum,
        DataPoint::ExponentialHistogram(p) => p.sum,
        DataPoint::Summary(p) => Some(p.sum),
    }
}

/// The attribute `key`, if present.
pub fn attribute<'a>(attributes: &'a [KeyValue], key: &str) -> Option<&'a AnyValue> {
    attributes
        .iter()
        .find(|kv| kv.key == key)
        .map(|kv| kv.value.as_ref().unwrap_or(&NO_VALUE))
}

const NO_VALUE: AnyValue = AnyValue { value: None };

/// Whether an attribute value equals what the test wrote (a scalar).
pub fn equals(actual: &AnyValue, expected: &serde_json::Value) -> bool {
    use serde_json::Value;
    match (&actual.value, expected) {
        (Some(any_value::Value::StringValue(a)), Value::String(e)) => a == e,
        (Some(any_value::Value::BoolValue(a)), Value::Bool(e)) => a == e,
        (Some(any_value::Value::IntValue(a)), Value::Number(e)) => {
            e.as_i64() == Some(*a) || e.as_f64() == Some(*a as f64)
        }
        (Some(any_value::Value::DoubleValue(a)), Value::Number(e)) => e.as_f64() == Some(*a),
        _ => false,
    }
}

/// An attribute value as the report shows it: JSON-like scalars, `{...}` for the rest.
pub fn show(value: &AnyValue) -> String {
    match &value.value {
        Some(any_value::Value::StringValue(s)) => serde_json::Value::String(s.clone()).to_string(),
        Some(any_value::Value::BoolValue(b)) => b.to_string(),
        Some(any_value::Value::IntValue(i)) => i.to_string(),
        Some(any_value::Value::DoubleValue(d)) => d.to_string(),
        Some(any_value::Value::BytesValue(b)) => format!("<{} bytes>", b.len()),
        Some(any_value::Value::ArrayValue(a)) => format!("[{} values]", a.values.len()),
        Some(any_value::Value::KvlistValue(kv)) => format!("{{{} entries}}", kv.values.len()),
        Some(any_value::Value::StringValueStrindex(i)) => format!("<string #{i}>"),
        None => "null".into(),
    }
}

/// A string value as it is; any other value as [`show`] writes it.
pub fn text(value: &AnyValue) -> String {
    match &value.value {
        Some(any_value::Value::StringValue(s)) => s.clone(),
        _ => show(value),
    }
}
