//! `anomaly` connector: scores metric series point by point with a streaming detector
//! (`detector.rs`) and emits the scores as the gauge `sentinel.anomaly.score` and, when a
//! score crosses the threshold, a `sentinel.anomaly` log record. `sentinel anomaly
//! backtest` runs the same detector over CSV files (`backtest.rs`).

pub mod backtest;
pub mod config;
pub mod detector;
pub mod select;

pub use backtest::{backtest_csv, BacktestError};
pub use config::AnomalyConfig;
pub use detector::{Detector, DetectorConfig, Model, SeriesState, Verdict};
pub mod connector;
pub mod store;

pub use connector::{AnomalyFactory, EVENT_NAME, SCORE_METRIC};

#[cfg(test)]
mod compliance;
#[cfg(test)]
mod tests;
