//! The series the connector scores: detector state plus what a rate needs, bounded by
//! `max_series` with least-recently-updated eviction, and snapshotted to a JSON file.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::detector::{SeriesState, STATE_WORDS};

/// One series: the detector's state and the previous sample of a sum (for its rate).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Series {
    pub state: SeriesState,
    /// Previous (time in ns, value) of a sum.
    pub last: Option<(u64, f64)>,
    /// Update tick, for least-recently-updated eviction.
    tick: u64,
}

/// Series by key, at most `max` of them.
#[derive(Debug)]
pub struct Store {
    series: HashMap<String, Series>,
    /// tick → key: the least recently updated series comes first.
    order: BTreeMap<u64, String>,
    tick: u64,
    max: usize,
}

#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: series {key:?} has a malformed state")]
    Words { path: PathBuf, key: String },
    #[error("{path}: {source}")]
    Format {
        path: PathBuf,
        source: serde_json::Error,
    },
}

/// The snapshot file's content: per series its key and its words (the detector state's
/// words, then 1/0 for a previous sum sample, its time and its value's bits).
#[derive(Serialize, Deserialize)]
struct Snapshot {
    version: u32,
    series: Vec<(String, Vec<u64>)>,
}

impl Series {
    fn to_words(self) -> Vec<u64> {
        let mut words = self.state.to_words().to_vec();
        let (has, t, v) = self.last.map_or((0, 0, 0), |(t, v)| (1, t, v.to_bits()));
        words.extend([has, t, v]);
        words
    }

    fn from_words(words: &[u64]) -> Option<Series> {
        let (state, last) = words.split_at_checked(STATE_WORDS)?;
        let &[has, t, v] = last else { return None };
        Some(Series {
            state: SeriesState::from_words(state)?,
            last: (has == 1).then(|| (t, f64::from_bits(v))),
            tick: 0,
        })
    }
}

impl Store {
    pub fn new(max: usize) -> Self {
        Store {
            series: HashMap::new(),
            order: BTreeMap::new(),
            tick: 0,
            max,
        }
    }

    pub fn len(&self) -> usize {
        self.series.len()
    }

    pub fn is_empty(&self) -> bool {
        self.series.is_empty()
    }

    /// The series under `key`, created if new; marks it updated. The second value counts
    /// the series evicted to make room (0 or 1).
    pub fn touch(&mut self, key: &str) -> (&mut Series, usize) {
        self.tick += 1;
        let tick = self.tick;
        let mut evicted = 0;
        if let Some(series) = self.series.get_mut(key) {
            self.order.remove(&series.tick);
        } else {
            if self.series.len() >= self.max {
                if let Some((_, oldest)) = self.order.pop_first() {
                    self.series.remove(&oldest);
                    evicted = 1;
                }
            }
            self.series.insert(key.to_string(), Series::default());
        }
        self.order.insert(tick, key.to_string());
        let series = self.series.get_mut(key).expect("inserted above");
        series.tick = tick;
        (series, evicted)
    }

    /// Writes every series to `path` atomically (a temporary file renamed over it).
    pub fn save(&self, path: &Path) -> Result<(), SnapshotError> {
        let mut ordered: Vec<(&String, &Series)> = self.series.iter().collect();
        ordered.sort_by_key(|(_, s)| s.tick);
        let series = ordered
            .into_iter()
            .map(|(k, s)| (k.clone(), s.to_words()))
            .collect();
        let text = serde_json::to_vec(&Snapshot { version: 1, series }).map_err(|source| {
            SnapshotError::Format {
                path: path.into(),
                source,
            }
        })?;
        let io = |source| SnapshotError::Io {
            path: path.into(),
            source,
        };
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(io)?;
        }
        let tmp = path.with_extension("json.tmp");
        std::fs::write(&tmp, text).map_err(io)?;
        std::fs::rename(&tmp, path).map_err(io)
    }

    /// Reads a snapshot; a missing file is an empty store. Keeps the most recently
    /// updated `max` series.
    pub fn load(path: &Path, max: usize) -> Result<Store, SnapshotError> {
        let mut store = Store::new(max);
        let bytes = match std::fs::read(path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(store),
            Err(source) => {
                return Err(SnapshotError::Io {
                    path: path.into(),
                    source,
                })
            }
        };
        let snapshot: Snapshot =
            serde_json::from_slice(&bytes).map_err(|source| SnapshotError::Format {
                path: path.into(),
                source,
            })?;
        // Oldest first, so eviction past `max` drops the oldest.
        for (key, words) in snapshot.series {
            let saved = Series::from_words(&words).ok_or_else(|| SnapshotError::Words {
                path: path.into(),
                key: key.clone(),
            })?;
            let (series, _) = store.touch(&key);
            *series = Series {
                tick: series.tick,
                ..saved
            };
        }
        Ok(store)
    }
}
