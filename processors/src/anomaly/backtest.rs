//! The backtest: one series from a NAB-format CSV (`timestamp,value`, header, oldest first)
//! through the same [`Detector`] the connector runs, to `timestamp,value,anomaly_score,label`.

use std::fmt::Write;

use super::detector::{Detector, SeriesState};

#[derive(Debug, thiserror::Error)]
pub enum BacktestError {
    #[error("the input is empty (a header `timestamp,value` is expected)")]
    Empty,
    #[error("line {line}: expected `timestamp,value`")]
    Fields { line: usize },
    #[error("line {line}: {value:?} is not a number")]
    Value { line: usize, value: String },
}

/// Scores every row of `input` and returns the output CSV. The same input always gives
/// the same bytes: nothing but the rows enter the detector.
pub fn backtest_csv(detector: &Detector, input: &str) -> Result<String, BacktestError> {
    let mut lines = input.lines().enumerate();
    lines.next().ok_or(BacktestError::Empty)?;
    let mut state = SeriesState::default();
    let mut out = String::with_capacity(input.len() * 2);
    out.push_str("timestamp,value,anomaly_score,label\n");
    for (index, line) in lines {
        let line = line.trim_end_matches('\r');
        if line.is_empty() {
            continue;
        }
        let (timestamp, value) = line
            .split_once(',')
            .ok_or(BacktestError::Fields { line: index + 1 })?;
        let value = value.trim();
        let x: f64 = value.parse().map_err(|_| BacktestError::Value {
            line: index + 1,
            value: value.to_string(),
        })?;
        let verdict = detector.step(&mut state, x);
        // `{}` on f64 is the shortest text that reads back exactly: stable across runs.
        let _ = writeln!(
            out,
            "{timestamp},{value},{},{}",
            verdict.score,
            u8::from(verdict.event)
        );
    }
    Ok(out)
}
