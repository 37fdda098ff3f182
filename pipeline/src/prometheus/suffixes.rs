//! The Collector's metric name translation with unit suffixes (`add_metric_suffixes`,
//! `pkg/translator/prometheus`): the name is cut into alphanumeric tokens, the unit is
//! spelled out and added unless the name already holds it (`By` → `bytes`, `ms/s` →
//! `milliseconds_per_second`; annotations in braces are left out), and a gauge of unit `1`
//! gets `ratio`. `total` tokens are removed from monotonic sums, because the [`Store`]
//! appends `_total` to every counter; the namespace is the store's too.
//!
//! [`Store`]: super::Store

use crate::otlp::metrics::v1::metric::Data;
use crate::otlp::metrics::v1::Metric;

/// The name to give `metric` before [`super::Store::ingest`] so its series carry the
/// Collector's suffixed names.
pub fn suffixed_name(metric: &Metric) -> String {
    let mut tokens: Vec<String> = tokens(&metric.name);
    let (main, per) = match metric.unit.split_once('/') {
        Some((main, per)) => (main.trim(), Some(per.trim())),
        None => (metric.unit.trim(), None),
    };
    if let Some(unit) = spelled(main, main_unit) {
        if !tokens.contains(&unit) {
            tokens.push(unit);
        }
    }
    if let Some(unit) = per.and_then(|p| spelled(p, per_unit)) {
        if !tokens.contains(&unit) {
            tokens.push("per".into());
            tokens.push(unit);
        }
    }
    match &metric.data {
        Some(Data::Sum(sum)) if sum.is_monotonic => tokens.retain(|t| t != "total"),
        Some(Data::Gauge(_)) if metric.unit == "1" => {
            tokens.retain(|t| t != "ratio");
            tokens.push("ratio".into());
        }
        _ => {}
    }
    tokens.join("_")
}

/// Alphanumeric runs of `text`.
fn tokens(text: &str) -> Vec<String> {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|t| !t.is_empty())
        .map(str::to_string)
        .collect()
}

/// A unit spelled out as one name token (`""` and annotations give none).
fn spelled(unit: &str, table: fn(&str) -> Option<&'static str>) -> Option<String> {
    if unit.is_empty() || unit.contains(['{', '}']) {
        return None;
    }
    let name = table(unit).unwrap_or(unit);
    let cleaned = tokens(name).join("_");
    (!cleaned.is_empty()).then_some(cleaned)
}

fn main_unit(unit: &str) -> Option<&'static str> {
    Some(match unit {
        "d" => "days",
        "h" => "hours",
        "min" => "minutes",
        "s" => "seconds",
        "ms" => "milliseconds",
        "us" => "microseconds",
        "ns" => "nanoseconds",
        "By" => "bytes",
        "KiBy" => "kibibytes",
        "MiBy" => "mebibytes",
        "GiBy" => "gibibytes",
        "TiBy" => "tibibytes",
        "KBy" => "kilobytes",
        "MBy" => "megabytes",
        "GBy" => "gigabytes",
        "TBy" => "terabytes",
        "m" => "meters",
        "V" => "volts",
        "A" => "amperes",
        "J" => "joules",
        "W" => "watts",
        "g" => "grams",
        "Cel" => "celsius",
        "Hz" => "hertz",
        "1" => "",
        "%" => "percent",
        _ => return None,
    })
}

fn per_unit(unit: &str) -> Option<&'static str> {
    Some(match unit {
        "s" => "second",
        "m" => "minute",
        "h" => "hour",
        "d" => "day",
        "w" => "week",
        "mo" => "month",
        "y" => "year",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::otlp::metrics::v1::{Gauge, Histogram, Sum};

    fn metric(name: &str, unit: &str, data: Data) -> Metric {
        Metric {
            name: name.into(),
            unit: unit.into(),
            data: Some(data),
            ..Default::default()
        }
    }

    #[test]
    fn names_follow_the_collector_translation() {
        let counter = || {
            Data::Sum(Sum {
                is_monotonic: true,
                ..Default::default()
            })
        };
        let gauge = || Data::Gauge(Gauge::default());
        let histogram = || Data::Histogram(Histogram::default());
        let cases = [
            (
                metric("http.server.duration", "ms", histogram()),
                "http_server_duration_milliseconds",
            ),
            (
                metric("system.network.io", "By", counter()),
                "system_network_io_bytes",
            ),
            (metric("requests.total", "{request}", counter()), "requests"),
            (
                metric("throughput", "By/s", gauge()),
                "throughput_bytes_per_second",
            ),
            (
                metric("cpu.utilization", "1", gauge()),
                "cpu_utilization_ratio",
            ),
            (metric("queue.size", "1", counter()), "queue_size"),
            (metric("memory_bytes", "By", gauge()), "memory_bytes"),
            (
                metric("odd--name..x", "widgets", gauge()),
                "odd_name_x_widgets",
            ),
            (metric("latency", "s/{batch}", gauge()), "latency_seconds"),
        ];
        for (metric, expected) in cases {
            assert_eq!(suffixed_name(&metric), expected, "{}", metric.name);
        }
    }
}
