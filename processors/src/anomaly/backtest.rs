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

/// The second of the day of `YYYY-MM-DD HH:MM:SS` (or with `T`), if it parses.
fn second_of_day(timestamp: &str) -> Option<u32> {
    let time = timestamp.get(11..19)?;
    let mut parts = time.split(':').map(|p| p.parse::<u32>().ok());
    let (h, m, s) = (parts.next()??, parts.next()??, parts.next()??);
    (h < 24 && m < 60 && s < 61).then_some(h * 3600 + m * 60 + s)
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
        let verdict = detector.step_at(&mut state, second_of_day(timestamp), x);
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
