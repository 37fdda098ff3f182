use sentinel_pipeline::config::ComponentConfig;
use serde::{Deserialize, Serialize};

use super::condition::{Condition, DataPointContext, LogRecordContext, MetricContext, SpanContext};

/// `filter`: drops the spans, log records, metrics and data points that match any of its
/// conditions, with the OpenTelemetry Collector's `filter` processor keys and a subset of
/// its OTTL condition language:
///
/// ```yaml
/// filter:
///   error_mode: ignore
///   traces:
///     span:
///       - 'attributes["http.route"] == "/healthz"'
///       - 'IsMatch(name, "^GET /static/")'
///   logs:
///     log_record:
///       - 'resource.attributes["service.name"] == "noisy"'
///   metrics:
///     metric:
///       - 'name == "process.runtime.gc.count"'
///     datapoint:
///       - 'attributes["state"] != "used"'
/// ```
///
/// A condition is one of `PATH == VALUE`, `PATH != VALUE` or `IsMatch(PATH, "regex")`
/// (the regex matches anywhere in the value; booleans and numbers are matched in their
/// decimal form). `PATH` is `attributes["key"]`, `resource.attributes["key"]`, `name`
/// (spans and metrics) or `metric.name` (data points); `VALUE` is a double-quoted string,
/// a number, `true`, `false` or `nil` (absent). Values compare with their type: the
/// integer 200 is not the string "200". An absent attribute is `!=` every value but `nil`.
/// `and`, `or` and other functions are not supported: list alternatives as separate
/// conditions. A condition that does not parse is reported at its line when the config
/// is checked.
///
/// Resources and scopes left empty are removed; a request with nothing left is not sent
/// on. Dropped items are counted in `sentinel_component_dropped_items_total`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FilterConfig {
    /// What a condition that cannot be evaluated does (only `IsMatch` on a bytes, map or
    /// list value cannot): `propagate` (default) drops the whole request, counted as
    /// dropped, and logs why; `ignore` counts the condition as not matching and logs it;
    /// `silent` does the same without logging.
    #[serde(default)]
    pub error_mode: ErrorMode,
    /// Conditions for traces pipelines.
    #[serde(default)]
    pub traces: TracesFilter,
    /// Conditions for logs pipelines.
    #[serde(default)]
    pub logs: LogsFilter,
    /// Conditions for metrics pipelines.
    #[serde(default)]
    pub metrics: MetricsFilter,
}

/// How a condition that cannot be evaluated is handled (the Collector's `error_mode`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ErrorMode {
    /// Drop the whole request (counted as dropped) and log the error.
    #[default]
    Propagate,
    /// Treat the condition as not matching and log the error.
    Ignore,
    /// Treat the condition as not matching, without logging.
    Silent,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TracesFilter {
    /// A span matching any of these is dropped. Paths: `name`, `attributes["key"]`,
    /// `resource.attributes["key"]`.
    #[serde(default)]
    pub span: Vec<Condition<SpanContext>>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogsFilter {
    /// A log record matching any of these is dropped. Paths: `attributes["key"]`,
    /// `resource.attributes["key"]`.
    #[serde(default)]
    pub log_record: Vec<Condition<LogRecordContext>>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetricsFilter {
    /// A metric matching any of these is dropped with all its data points. Paths: `name`,
    /// `resource.attributes["key"]`.
    #[serde(default)]
    pub metric: Vec<Condition<MetricContext>>,
    /// A data point matching any of these is dropped; a metric left without data points
    /// is removed. Checked after `metric`. Paths: `metric.name`, `attributes["key"]`,
    /// `resource.attributes["key"]`.
    #[serde(default)]
    pub datapoint: Vec<Condition<DataPointContext>>,
}

/// Conditions are parsed while the config is decoded, so a bad one is reported at its
/// own line and column; nothing is left to check across fields.
impl ComponentConfig for FilterConfig {}
