//! Checks one `outputs` entry against what its component emitted; each failure names the
//! OTLP/JSON path of the field, what was expected and what came out.

use std::fmt;

use indexmap::IndexMap;

use super::harness::Emitted;
use super::spec::{Conditions, Expect, MetricCheck, OutputSpec};
use super::view::{attribute, equals, show, Flat, Part};

/// One unmet condition.
#[derive(Debug)]
pub struct Failure {
    /// Where: an OTLP/JSON path, or a short description for whole-output conditions.
    pub path: String,
    pub expected: String,
    pub actual: String,
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}\n        expected: {}\n        actual:   {}",
            self.path, self.expected, self.actual
        )
    }
}

/// Failures reported per condition kind at most this often, so a wrong condition on a
/// thousand items stays readable.
const MAX_PER_CONDITION: usize = 5;

/// Checks `spec` against the emitted outputs (already filtered to its component).
pub fn check(spec: &OutputSpec, emitted: &[&Emitted]) -> Vec<Failure> {
    let mut flat = Flat::default();
    for (k, e) in emitted.iter().enumerate() {
        flat.add(&format!("output[{k}]."), &e.payload);
    }
    let total: usize = emitted.iter().map(|e| e.payload.item_count()).sum();
    let mut failures = Vec::new();
    match spec.expect {
        Expect::None if total > 0 || !flat.resources.is_empty() => failures.push(Failure {
            path: "item count".into(),
            expected: "nothing emitted (expect: none)".into(),
            actual: format!("{total} items in {} requests", emitted.len()),
        }),
        Expect::Some if total == 0 => failures.push(Failure {
            path: "item count".into(),
            expected: "at least one item".into(),
            actual: "nothing emitted".into(),
        }),
        _ => {}
    }
    if let Some(count) = spec.count.filter(|&c| c != total) {
        failures.push(Failure {
            path: "item count".into(),
            expected: count.to_string(),
            actual: total.to_string(),
        });
    }
    for (conditions, parts) in [
        (&spec.resource, &flat.resources),
        (&spec.scope, &flat.scopes),
        (&spec.items, &flat.items),
    ] {
        if let Some(conditions) = conditions {
            failures.extend(every(conditions, parts));
        }
    }
    for metric in &spec.metrics {
        failures.extend(check_metric(metric, &flat));
    }
    failures
}

/// Every part must meet every condition; at most [`MAX_PER_CONDITION`] failures each.
fn every(conditions: &Conditions, parts: &[Part<'_>]) -> Vec<Failure> {
    let mut failures = Vec::new();
    let mut push = |kind: usize, counts: &mut [usize; 4], failure: Failure| {
        counts[kind] += 1;
        if counts[kind] <= MAX_PER_CONDITION {
            failures.push(failure);
        }
    };
    let mut counts = [0; 4];
    for part in parts {
        if let Some(name) = &conditions.name {
            let actual = part.name.clone().unwrap_or_default();
            if &actual != name {
                let failure = Failure {
                    path: format!("{}.name", part.path),
                    expected: quoted(name),
                    actual: quoted(&actual),
                };
                push(0, &mut counts, failure);
            }
        }
        for (key, expected) in &conditions.attributes {
            let actual = attribute(part.attributes, key);
            if !actual.is_some_and(|a| equals(a, expected)) {
                let failure = Failure {
                    path: attribute_path(&part.path, key),
                    expected: expected.to_string(),
                    actual: actual.map_or("(absent)".into(), show),
                };
                push(1, &mut counts, failure);
            }
        }
        for key in &conditions.present {
            if attribute(part.attributes, key).is_none() {
                let failure = Failure {
                    path: attribute_path(&part.path, key),
                    expected: "(present)".into(),
                    actual: "(absent)".into(),
                };
                push(2, &mut counts, failure);
            }
        }
        for key in &conditions.absent {
            if let Some(actual) = attribute(part.attributes, key) {
                let failure = Failure {
                    path: attribute_path(&part.path, key),
                    expected: "(absent)".into(),
                    actual: show(actual),
                };
                push(3, &mut counts, failure);
            }
        }
    }
    let total: usize = counts.iter().sum();
    if total > failures.len() {
        failures.push(Failure {
            path: "(more)".into(),
            expected: String::new(),
            actual: format!(
                "{} more failures of the same conditions",
                total - failures.len()
            ),
        });
    }
    failures
}

fn check_metric(check: &MetricCheck, flat: &Flat<'_>) -> Vec<Failure> {
    let named: Vec<_> = flat
        .points
        .iter()
        .filter(|p| p.metric == check.name)
        .collect();
    let place = format!("metric {:?}", check.name);
    if named.is_empty() {
        let mut emitted: Vec<&str> = flat.points.iter().map(|p| p.metric).collect();
        emitted.dedup();
        return vec![Failure {
            path: place,
            expected: "emitted".into(),
            actual: format!("not emitted; metrics emitted: {emitted:?}"),
        }];
    }
    let mut failures = Vec::new();
    if let Some(unit) = check.unit.as_ref().filter(|u| *u != named[0].unit) {
        failures.push(Failure {
            path: format!("{}.unit", metric_path(&named[0].path)),
            expected: quoted(unit),
            actual: quoted(named[0].unit),
        });
    }
    if let Some(points) = check.points.filter(|&n| n != named.len()) {
        failures.push(Failure {
            path: format!("{place} data points"),
            expected: points.to_string(),
            actual: named.len().to_string(),
        });
    }
    let selected: Vec<_> = named
        .iter()
        .filter(|p| selects(&check.attributes, p.attributes))
        .collect();
    if !check.attributes.is_empty() && selected.is_empty() {
        failures.push(Failure {
            path: format!("{place} data point with attributes {:?}", check.attributes),
            expected: "present".into(),
            actual: format!("none of its {} points has them", named.len()),
        });
    }
    if let Some(expected) = check.value {
        if !selected.is_empty()
            && !selected
                .iter()
                .any(|p| p.value.is_some_and(|v| close(v, expected)))
        {
            let values: Vec<String> = selected
                .iter()
                .map(|p| {
                    format!(
                        "{} = {}",
                        p.path,
                        p.value.map_or("none".into(), |v| v.to_string())
                    )
                })
                .collect();
            failures.push(Failure {
                path: format!("{place} value"),
                expected: expected.to_string(),
                actual: values.join(", "),
            });
        }
    }
    failures
}

fn selects(
    wanted: &IndexMap<String, serde_json::Value>,
    attributes: &[sentinel_pipeline::otlp::common::v1::KeyValue],
) -> bool {
    wanted
        .iter()
        .all(|(key, value)| attribute(attributes, key).is_some_and(|a| equals(a, value)))
}

fn close(actual: f64, expected: f64) -> bool {
    actual == expected || (actual - expected).abs() <= 1e-9 * expected.abs().max(actual.abs())
}

/// `….metrics[2]` from a data point's path.
fn metric_path(point_path: &str) -> &str {
    point_path
        .rfind(".metrics[")
        .and_then(|start| {
            point_path[start..]
                .find(']')
                .map(|end| &point_path[..start + end + 1])
        })
        .unwrap_or(point_path)
}

fn attribute_path(path: &str, key: &str) -> String {
    format!("{path}.attributes[{}]", quoted(key))
}

fn quoted(text: &str) -> String {
    serde_json::Value::String(text.to_string()).to_string()
}
