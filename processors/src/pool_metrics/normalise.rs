//! The renaming rules, applied to one metric at a time.

use sentinel_pipeline::otlp::common::v1::KeyValue;
use sentinel_pipeline::otlp::metrics::v1::{
    exemplar, metric::Data, number_data_point, Exemplar, Metric,
};

/// Deprecated metric → current metric, and whether its unit moves from `ms` to `s`.
pub(super) const RENAMES: [(&str, &str, bool); 9] = [
    (
        "db.client.connections.usage",
        "db.client.connection.count",
        false,
    ),
    (
        "db.client.connections.idle.max",
        "db.client.connection.idle.max",
        false,
    ),
    (
        "db.client.connections.idle.min",
        "db.client.connection.idle.min",
        false,
    ),
    (
        "db.client.connections.max",
        "db.client.connection.max",
        false,
    ),
    (
        "db.client.connections.pending_requests",
        "db.client.connection.pending_requests",
        false,
    ),
    (
        "db.client.connections.timeouts",
        "db.client.connection.timeouts",
        false,
    ),
    (
        "db.client.connections.create_time",
        "db.client.connection.create_time",
        true,
    ),
    (
        "db.client.connections.wait_time",
        "db.client.connection.wait_time",
        true,
    ),
    (
        "db.client.connections.use_time",
        "db.client.connection.use_time",
        true,
    ),
];

/// Deprecated attribute → current attribute, on pool metrics only (`state` is far too
/// common a key to rename anywhere else).
const ATTRIBUTE_RENAMES: [(&str, &str); 2] = [
    ("pool.name", "db.client.connection.pool.name"),
    ("state", "db.client.connection.state"),
];

const CURRENT_PREFIX: &str = "db.client.connection.";
const MILLIS_PER_SECOND: f64 = 1000.0;

/// What [`normalise_metric`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Not a pool metric.
    Untouched,
    /// Renamed and/or had its attributes or unit normalised (or was already current).
    Normalised,
    /// A deprecated time metric in `ms` that cannot be rescaled (exponential histogram):
    /// left as it came.
    UnitNotConverted,
}

pub fn normalise_metric(metric: &mut Metric) -> Outcome {
    if let Some(&(_, new_name, timed)) = RENAMES.iter().find(|(old, _, _)| *old == metric.name) {
        if timed && metric.unit == "ms" {
            if matches!(metric.data, Some(Data::ExponentialHistogram(_))) {
                return Outcome::UnitNotConverted;
            }
            scale(metric, 1.0 / MILLIS_PER_SECOND);
            metric.unit = "s".to_string();
        }
        metric.name = new_name.to_string();
    }
    if !metric.name.starts_with(CURRENT_PREFIX) {
        return Outcome::Untouched;
    }
    for attributes in point_attributes(metric) {
        rename_attributes(attributes);
    }
    Outcome::Normalised
}

fn rename_attributes(attributes: &mut Vec<KeyValue>) {
    for (old, new) in ATTRIBUTE_RENAMES {
        let Some(index) = attributes.iter().position(|kv| kv.key == old) else {
            continue;
        };
        if attributes.iter().any(|kv| kv.key == new) {
            attributes.remove(index);
        } else {
            attributes[index].key = new.to_string();
        }
    }
}

fn point_attributes(metric: &mut Metric) -> Vec<&mut Vec<KeyValue>> {
    match &mut metric.data {
        Some(Data::Gauge(g)) => g
            .data_points
            .iter_mut()
            .map(|p| &mut p.attributes)
            .collect(),
        Some(Data::Sum(s)) => s
            .data_points
            .iter_mut()
            .map(|p| &mut p.attributes)
            .collect(),
        Some(Data::Histogram(h)) => h
            .data_points
            .iter_mut()
            .map(|p| &mut p.attributes)
            .collect(),
        Some(Data::ExponentialHistogram(h)) => h
            .data_points
            .iter_mut()
            .map(|p| &mut p.attributes)
            .collect(),
        Some(Data::Summary(s)) => s
            .data_points
            .iter_mut()
            .map(|p| &mut p.attributes)
            .collect(),
        None => Vec::new(),
    }
}

/// Multiplies every value of the metric by `factor`: point values (integers become
/// doubles), histogram sums, minimums, maximums and bounds, summary quantiles, exemplars.
fn scale(metric: &mut Metric, factor: f64) {
    match &mut metric.data {
        Some(Data::Gauge(g)) => g.data_points.iter_mut().for_each(|p| {
            p.value = p
                .value
                .map(|v| number_data_point::Value::AsDouble(number(v) * factor));
            scale_exemplars(&mut p.exemplars, factor);
        }),
        Some(Data::Sum(s)) => s.data_points.iter_mut().for_each(|p| {
            p.value = p
                .value
                .map(|v| number_data_point::Value::AsDouble(number(v) * factor));
            scale_exemplars(&mut p.exemplars, factor);
        }),
        Some(Data::Histogram(h)) => h.data_points.iter_mut().for_each(|p| {
            p.sum = p.sum.map(|v| v * factor);
            p.min = p.min.map(|v| v * factor);
            p.max = p.max.map(|v| v * factor);
            p.explicit_bounds.iter_mut().for_each(|b| *b *= factor);
            scale_exemplars(&mut p.exemplars, factor);
        }),
        Some(Data::Summary(s)) => s.data_points.iter_mut().for_each(|p| {
            p.sum *= factor;
            p.quantile_values.iter_mut().for_each(|q| q.value *= factor);
        }),
        Some(Data::ExponentialHistogram(_)) | None => {}
    }
}

fn number(value: number_data_point::Value) -> f64 {
    match value {
        number_data_point::Value::AsDouble(v) => v,
        number_data_point::Value::AsInt(v) => v as f64,
    }
}

fn scale_exemplars(exemplars: &mut [Exemplar], factor: f64) {
    for e in exemplars {
        e.value = e.value.map(|v| {
            exemplar::Value::AsDouble(match v {
                exemplar::Value::AsDouble(v) => v * factor,
                exemplar::Value::AsInt(v) => v as f64 * factor,
            })
        });
    }
}
