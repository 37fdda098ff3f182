//! Silences: matchers with a time range, from exporter config and from
//! `sentinel alerts silence add` (admin API, `POST /api/v2/silences`). The API's silences
//! live in one store per data directory, persisted in `<data_dir>/silences.json` (0600)
//! and shared by every notification exporter of the process through [`SilenceStore::for_data_dir`].

use std::collections::HashMap;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock, RwLock};
use std::time::SystemTime;

use serde::{Deserialize, Serialize};

use super::alert::Labels;
use super::matchers::{Matcher, MatcherError};

/// Most silences the store keeps (expired ones are pruned first).
pub const MAX_SILENCES: usize = 10_000;

/// Why a silence was not stored.
#[derive(Debug, thiserror::Error)]
pub enum SilenceError {
    #[error("{0}")]
    Matcher(#[from] MatcherError),
    #[error("a silence needs at least one matcher")]
    NoMatchers,
    #[error("{field}: {value:?} is not an RFC 3339 time")]
    Time { field: &'static str, value: String },
    #[error("endsAt is not after startsAt")]
    Range,
    #[error("no silence with id {0:?}")]
    NotFound(String),
    #[error("the store is full ({MAX_SILENCES} silences)")]
    Full,
    #[error("cannot write {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// A silence in Alertmanager's API shape.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Silence {
    #[serde(default)]
    pub id: String,
    pub matchers: Vec<Matcher>,
    /// RFC 3339.
    pub starts_at: String,
    pub ends_at: String,
    #[serde(default)]
    pub created_by: String,
    #[serde(default)]
    pub comment: String,
}

/// `pending`, `active` or `expired` at a time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SilenceState {
    Pending,
    Active,
    Expired,
}

fn parse_time(field: &'static str, value: &str) -> Result<SystemTime, SilenceError> {
    humantime::parse_rfc3339_weak(value).map_err(|_| SilenceError::Time {
        field,
        value: value.to_string(),
    })
}

impl Silence {
    /// Compiles matchers and checks the time range.
    pub fn validate(&mut self) -> Result<(), SilenceError> {
        if self.matchers.is_empty() {
            return Err(SilenceError::NoMatchers);
        }
        for matcher in &mut self.matchers {
            matcher.compile()?;
        }
        let starts = parse_time("startsAt", &self.starts_at)?;
        let ends = parse_time("endsAt", &self.ends_at)?;
        if ends <= starts {
            return Err(SilenceError::Range);
        }
        Ok(())
    }

    pub fn state(&self, now: SystemTime) -> SilenceState {
        let starts = humantime::parse_rfc3339_weak(&self.starts_at).unwrap_or(now);
        let ends = humantime::parse_rfc3339_weak(&self.ends_at).unwrap_or(now);
        if now < starts {
            SilenceState::Pending
        } else if now < ends {
            SilenceState::Active
        } else {
            SilenceState::Expired
        }
    }

    /// Active at `now` and every matcher matches.
    pub fn mutes(&self, labels: &Labels, now: SystemTime) -> bool {
        self.state(now) == SilenceState::Active && self.matchers.iter().all(|m| m.matches(labels))
    }
}

/// The silences of one data directory, persisted on every change.
pub struct SilenceStore {
    path: PathBuf,
    silences: RwLock<Vec<Silence>>,
}

impl SilenceStore {
    /// The one store of `data_dir` in this process (the admin API and every exporter
    /// share it). Loads `silences.json` the first time; a damaged file is logged and
    /// starts empty.
    pub fn for_data_dir(data_dir: &Path) -> Arc<SilenceStore> {
        static STORES: OnceLock<Mutex<HashMap<PathBuf, Arc<SilenceStore>>>> = OnceLock::new();
        let stores = STORES.get_or_init(Default::default);
        let mut stores = stores.lock().unwrap_or_else(|p| p.into_inner());
        stores
            .entry(data_dir.to_path_buf())
            .or_insert_with(|| Arc::new(SilenceStore::open(data_dir.join("silences.json"))))
            .clone()
    }

    /// A store backed by `path` (tests; the agent uses [`SilenceStore::for_data_dir`]).
    pub fn open(path: PathBuf) -> SilenceStore {
        let silences = match std::fs::read(&path) {
            Ok(bytes) => match serde_json::from_slice::<Vec<Silence>>(&bytes) {
                Ok(mut list) => {
                    list.retain_mut(|s| s.validate().is_ok());
                    list
                }
                Err(e) => {
                    tracing::error!(path = %path.display(), error = %e, "Silences file is damaged; starting without its silences.");
                    Vec::new()
                }
            },
            Err(_) => Vec::new(),
        };
        SilenceStore {
            path,
            silences: RwLock::new(silences),
        }
    }

    /// Adds a silence (or replaces the one with the same id); returns its id.
    pub fn add(&self, mut silence: Silence) -> Result<String, SilenceError> {
        silence.validate()?;
        let now = SystemTime::now();
        let mut list = self.silences.write().unwrap_or_else(|p| p.into_inner());
        if silence.id.is_empty() {
            silence.id = format!("{:032x}", rand::random::<u128>());
        }
        list.retain(|s| s.id != silence.id);
        if list.len() >= MAX_SILENCES {
            list.retain(|s| s.state(now) != SilenceState::Expired);
        }
        if list.len() >= MAX_SILENCES {
            return Err(SilenceError::Full);
        }
        let id = silence.id.clone();
        list.push(silence);
        self.persist(&list)?;
        Ok(id)
    }

    /// Ends a silence now (kept, as expired, like Alertmanager).
    pub fn expire(&self, id: &str) -> Result<(), SilenceError> {
        let mut list = self.silences.write().unwrap_or_else(|p| p.into_inner());
        let now = SystemTime::now();
        let silence = list
            .iter_mut()
            .find(|s| s.id == id)
            .ok_or_else(|| SilenceError::NotFound(id.to_string()))?;
        if silence.state(now) == SilenceState::Pending {
            silence.starts_at = super::testing::rfc3339(now);
        }
        silence.ends_at = super::testing::rfc3339(now);
        self.persist(&list)
    }

    pub fn list(&self) -> Vec<Silence> {
        self.silences
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// The id of an active silence muting `labels`.
    pub fn muting(&self, labels: &Labels, now: SystemTime) -> Option<String> {
        let list = self.silences.read().unwrap_or_else(|p| p.into_inner());
        list.iter()
            .find(|s| s.mutes(labels, now))
            .map(|s| s.id.clone())
    }

    /// Written to a temporary file with mode 0600, then renamed over the old one.
    fn persist(&self, list: &[Silence]) -> Result<(), SilenceError> {
        let write = |source| SilenceError::Write {
            path: self.path.clone(),
            source,
        };
        if let Some(dir) = self.path.parent() {
            sentinel_pipeline::private_fs::create_private_dir_all(dir).map_err(write)?;
        }
        let tmp = self.path.with_extension("json.tmp");
        let bytes = serde_json::to_vec_pretty(list).unwrap_or_default();
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)
            .map_err(write)?;
        file.write_all(&bytes)
            .and_then(|_| file.sync_all())
            .map_err(write)?;
        std::fs::rename(&tmp, &self.path).map_err(write)
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;
    use std::time::Duration;

    use super::*;
    use crate::notify::testing::rfc3339;

    fn silence(matcher: &str, from: SystemTime, to: SystemTime) -> Silence {
        Silence {
            id: String::new(),
            matchers: vec![Matcher::parse(matcher).unwrap()],
            starts_at: rfc3339(from),
            ends_at: rfc3339(to),
            created_by: "test".into(),
            comment: "maintenance".into(),
        }
    }

    #[test]
    fn a_silence_mutes_while_active_and_survives_reopening() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("silences.json");
        let store = SilenceStore::open(path.clone());
        let now = SystemTime::now();
        let id = store
            .add(silence(
                "instance=~db.*",
                now - Duration::from_secs(1),
                now + Duration::from_secs(3600),
            ))
            .unwrap();
        let db: Labels = [("instance".to_string(), "db-1".to_string())].into();
        let web: Labels = [("instance".to_string(), "web-1".to_string())].into();
        assert_eq!(store.muting(&db, now), Some(id.clone()));
        assert_eq!(store.muting(&web, now), None);
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);

        let reopened = SilenceStore::open(path.clone());
        assert_eq!(reopened.muting(&db, now), Some(id.clone()));
        reopened.expire(&id).unwrap();
        assert_eq!(
            reopened.muting(&db, SystemTime::now() + Duration::from_millis(5)),
            None
        );
        assert_eq!(
            SilenceStore::open(path).list()[0].state(SystemTime::now() + Duration::from_millis(5)),
            SilenceState::Expired
        );
    }

    #[test]
    fn invalid_silences_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let store = SilenceStore::open(dir.path().join("s.json"));
        let now = SystemTime::now();
        assert!(matches!(
            store.add(silence("a=b", now, now)),
            Err(SilenceError::Range)
        ));
        let mut empty = silence("a=b", now, now + Duration::from_secs(1));
        empty.matchers.clear();
        assert!(matches!(store.add(empty), Err(SilenceError::NoMatchers)));
        assert!(matches!(
            store.expire("nope"),
            Err(SilenceError::NotFound(_))
        ));
    }
}
