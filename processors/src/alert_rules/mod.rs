//! `alert_rules` connector (metrics → logs, and metrics → metrics for recording rules):
//! evaluates Prometheus rule files over a bounded window of the metrics that flow through
//! the pipeline and emits every alert state change and re-send as a `sentinel.alert` log
//! record (docs/alerting.md has the record's contract).
//!
//! - `rules.rs` loads rule files (Prometheus's format; every problem at FILE:LINE:COL),
//!   `template.rs` + `format.rs` expand annotations as Prometheus does;
//! - `engine.rs` is the seam to the PromQL engine and series window (`promql/`);
//! - `alerting.rs` is Prometheus's alert state machine, `group.rs` one group's evaluation,
//!   `persist.rs` the `for` state kept across restarts, `record.rs` the emitted record;
//! - `connector.rs` the factory, the connector and its evaluation tasks.

pub mod alerting;
pub mod config;
mod connector;
pub mod duration;
pub mod engine;
pub mod format;
pub mod group;
pub mod persist;
pub mod promql;
pub mod record;
pub mod rules;
pub mod template;

pub use config::AlertRulesConfig;
pub use connector::{AlertRules, AlertRulesFactory};
pub use record::EVENT_NAME;

#[cfg(test)]
mod compliance;
#[cfg(test)]
mod tests;
