//! Prometheus name and value spelling shared by everything that turns OTLP into Prometheus
//! series: the `prometheus` exporter, remote write, and alert-rule evaluation must agree, or
//! one rule file would not work against all of them.

use crate::otlp::common::v1::{any_value, KeyValue};

/// A metric name with every character outside `[a-zA-Z0-9_:]` replaced by `_`, and a leading
/// `_` when it would otherwise start with a digit or be empty.
pub fn sanitize_metric_name(name: &str) -> String {
    let mut out: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == ':' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if out.starts_with(|c: char| c.is_ascii_digit()) || out.is_empty() {
        out.insert(0, '_');
    }
    out
}

/// A label name: like a metric name, but `:` is not allowed either.
pub fn sanitize_label_name(name: &str) -> String {
    sanitize_metric_name(name).replace(':', "_")
}

/// An attribute value as a label value: scalars in their plain text form.
pub fn label_value(kv: &KeyValue) -> String {
    match kv.value.as_ref().and_then(|v| v.value.as_ref()) {
        Some(any_value::Value::StringValue(s)) => s.clone(),
        Some(any_value::Value::IntValue(i)) => i.to_string(),
        Some(any_value::Value::DoubleValue(d)) => d.to_string(),
        Some(any_value::Value::BoolValue(b)) => b.to_string(),
        Some(other) => format!("{other:?}"),
        None => String::new(),
    }
}

/// A sample value or bucket bound as Prometheus writes it (`+Inf`, `-Inf`, `NaN`).
pub fn format_float(v: f64) -> String {
    if v.is_infinite() {
        if v > 0.0 {
            "+Inf".into()
        } else {
            "-Inf".into()
        }
    } else if v.is_nan() {
        "NaN".into()
    } else {
        v.to_string()
    }
}
