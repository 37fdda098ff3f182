//! OTLP metrics as Prometheus series, shared so that the `prometheus` exporter, remote write
//! and alert-rule evaluation name and fold data identically: one rule file then works
//! against Sentinel and against a Prometheus that scrapes it.

mod names;
mod samples;
mod store;
mod suffixes;

pub use names::{format_float, label_value, sanitize_label_name, sanitize_metric_name};
pub use samples::Sample;
pub use store::{
    Family, FamilyType, Ingested, Labels, Series, SeriesValue, Store, StoreSettings, Updated,
};
pub use suffixes::suffixed_name;

#[cfg(test)]
mod tests;
