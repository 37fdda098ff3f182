//! A scorer for the Numenta Anomaly Benchmark, written from NAB's published rules
//! (`nab/sweeper.py`, described in /work/shared/reference/anomaly-alerting.md §1):
//! windows, the scaled sigmoid, the best detection per window, false positives weighted by
//! their distance after the previous window, the probation period, one global threshold
//! swept over every distinct score, normalisation between the null and perfect detectors.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Weights of one NAB profile.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Profile {
    pub name: &'static str,
    pub tp: f64,
    pub fn_: f64,
    pub fp: f64,
}

pub const STANDARD: Profile = Profile {
    name: "standard",
    tp: 1.0,
    fn_: 1.0,
    fp: 0.11,
};
pub const LOW_FP: Profile = Profile {
    name: "reward_low_FP_rate",
    tp: 1.0,
    fn_: 1.0,
    fp: 0.22,
};
pub const LOW_FN: Profile = Profile {
    name: "reward_low_FN_rate",
    tp: 1.0,
    fn_: 2.0,
    fp: 0.11,
};
pub const PROFILES: [Profile; 3] = [STANDARD, LOW_FP, LOW_FN];

#[derive(Debug, thiserror::Error)]
pub enum NabError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: {message}")]
    Format { path: PathBuf, message: String },
}

/// `σ(x) = 2/(1+e^{5x}) − 1`, and −1 beyond 3.
pub fn scaled_sigmoid(x: f64) -> f64 {
    if x > 3.0 {
        -1.0
    } else {
        2.0 / (1.0 + (5.0 * x).exp()) - 1.0
    }
}

/// NAB's probation: `min(floor(0.15·n), 750)` rows are not scored.
pub fn probation(n: usize) -> usize {
    ((0.15 * n as f64).floor() as usize).min(750)
}

/// One scored row: its anomaly score, the weight it earns if detected, and its window.
#[derive(Debug, Clone, Copy)]
pub struct Point {
    pub score: f64,
    pub weight: f64,
    /// Index of its window in the corpus, or `None` outside every window.
    pub window: Option<usize>,
}

/// The rows of a corpus that count, with the corpus' window count.
#[derive(Debug, Default)]
pub struct Scored {
    pub points: Vec<Point>,
    pub windows: usize,
}

/// Timestamps compare on their first 19 characters (`YYYY-MM-DD HH:MM:SS`): the labels
/// carry `.000000`, the data does not.
fn ts_key(ts: &str) -> &str {
    ts.get(..19).unwrap_or(ts)
}

impl Scored {
    /// Adds one file: its timestamps, anomaly scores and label windows `[start, end]`.
    pub fn add_file(
        &mut self,
        timestamps: &[String],
        scores: &[f64],
        windows: &[(String, String)],
        profile: Profile,
    ) {
        let index_of = |ts: &str| timestamps.iter().position(|t| ts_key(t) == ts_key(ts));
        let bounds: Vec<(usize, usize)> = windows
            .iter()
            .filter_map(|(a, b)| Some((index_of(a)?, index_of(b)?)))
            .collect();
        let probation = probation(timestamps.len());
        let max_tp = scaled_sigmoid(-1.0);
        let mut next = 0;
        let mut current: Option<(usize, usize, usize)> = None; // (window id, right, width)
        let mut previous: Option<(usize, usize)> = None; // (right, width)
        for (i, &score) in scores.iter().enumerate() {
            if current.is_none() && next < bounds.len() && bounds[next].0 == i {
                let (left, right) = bounds[next];
                current = Some((self.windows + next, right, right - left + 1));
                next += 1;
            }
            let (weight, window) = match current {
                Some((id, right, width)) => {
                    let position = -((right - i + 1) as f64) / width as f64;
                    (profile.tp * scaled_sigmoid(position) / max_tp, Some(id))
                }
                None => {
                    let unweighted = match previous {
                        None => -1.0,
                        Some((right, width)) => {
                            scaled_sigmoid(i.abs_diff(right) as f64 / (width as f64 - 1.0))
                        }
                    };
                    (unweighted * profile.fp, None)
                }
            };
            if i >= probation {
                self.points.push(Point {
                    score,
                    weight,
                    window,
                });
            }
            if let Some((_, right, width)) = current {
                if i == right {
                    previous = Some((right, width));
                    current = None;
                }
            }
        }
        self.windows += bounds.len();
    }

    /// The raw total when every point with `score >= threshold` is a detection.
    pub fn total_at(&self, threshold: f64, profile: Profile) -> f64 {
        let mut best = vec![-profile.fn_; self.windows];
        let mut fp = 0.0;
        for p in self.points.iter().filter(|p| p.score >= threshold) {
            match p.window {
                Some(w) => best[w] = best[w].max(p.weight),
                None => fp += p.weight,
            }
        }
        fp + best.iter().sum::<f64>()
    }

    /// NAB's sweep: the best raw total over every distinct score as the threshold.
    /// Returns (threshold, raw total).
    pub fn sweep(&self, profile: Profile) -> (f64, f64) {
        let mut sorted: Vec<&Point> = self.points.iter().collect();
        sorted.sort_by(|a, b| b.score.total_cmp(&a.score));
        let mut best = vec![-profile.fn_; self.windows];
        let mut total = -profile.fn_ * self.windows as f64;
        let mut current = 1.1;
        let mut top = (current, total);
        for p in sorted {
            if p.score != current {
                if total > top.1 {
                    top = (current, total);
                }
                current = p.score;
            }
            match p.window {
                Some(w) if p.weight > best[w] => {
                    total += p.weight - best[w];
                    best[w] = p.weight;
                }
                Some(_) => {}
                None => total += p.weight,
            }
        }
        if total > top.1 {
            top = (current, total);
        }
        top
    }

    /// `100·(S − S_null)/(S_perfect − S_null)`.
    pub fn normalize(&self, raw: f64, profile: Profile) -> f64 {
        let null = -profile.fn_ * self.windows as f64;
        let perfect = profile.tp * self.windows as f64;
        100.0 * (raw - null) / (perfect - null)
    }
}

/// NAB's label windows: file (`category/name.csv`) → `[start, end]` pairs.
pub fn read_windows(path: &Path) -> Result<BTreeMap<String, Vec<(String, String)>>, NabError> {
    let text = std::fs::read_to_string(path).map_err(|source| NabError::Io {
        path: path.into(),
        source,
    })?;
    let format = |message: String| NabError::Format {
        path: path.into(),
        message,
    };
    let json: serde_json::Value = serde_json::from_str(&text).map_err(|e| format(e.to_string()))?;
    let object = json
        .as_object()
        .ok_or_else(|| format("not an object".into()))?;
    let mut out = BTreeMap::new();
    for (file, windows) in object {
        let mut pairs = Vec::new();
        for w in windows.as_array().into_iter().flatten() {
            let pair = (
                w.get(0).and_then(|v| v.as_str()),
                w.get(1).and_then(|v| v.as_str()),
            );
            let (Some(a), Some(b)) = pair else {
                return Err(format(format!("{file}: a window is not [start, end]")));
            };
            pairs.push((a.to_string(), b.to_string()));
        }
        out.insert(file.clone(), pairs);
    }
    Ok(out)
}

/// A CSV with a header: the `timestamp` column and the named numeric column.
pub fn read_column(path: &Path, column: &str) -> Result<(Vec<String>, Vec<f64>), NabError> {
    let text = std::fs::read_to_string(path).map_err(|source| NabError::Io {
        path: path.into(),
        source,
    })?;
    let format = |message: String| NabError::Format {
        path: path.into(),
        message,
    };
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap_or("").split(',').collect();
    let find = |name: &str| header.iter().position(|h| h.trim() == name);
    let ts_col = find("timestamp").ok_or_else(|| format("no timestamp column".into()))?;
    let col = find(column).ok_or_else(|| format(format!("no {column} column")))?;
    let (mut timestamps, mut values) = (Vec::new(), Vec::new());
    for (n, line) in lines.enumerate().filter(|(_, l)| !l.is_empty()) {
        let fields: Vec<&str> = line.split(',').collect();
        let (Some(ts), Some(v)) = (fields.get(ts_col), fields.get(col)) else {
            return Err(format(format!("row {}: too few fields", n + 2)));
        };
        let v: f64 = v
            .trim()
            .parse()
            .map_err(|_| format(format!("row {}: {v:?} is not a number", n + 2)))?;
        timestamps.push(ts.to_string());
        values.push(v);
    }
    Ok((timestamps, values))
}
