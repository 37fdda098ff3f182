//! Alertmanager-style aggregation groups: `group_by`, `group_wait`, `group_interval`,
//! `repeat_interval`, `send_resolved`, and the notification log that decides whether a
//! due group needs a notification (persisted, so a restart does not notify twice).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::PathBuf;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use tokio::time::Instant;

use super::alert::{Alert, Labels, Status};
use super::settings::RouteConfig;

/// Most groups held at once; alerts of further groups are dropped (counted).
pub const MAX_GROUPS: usize = 10_000;
/// Most alerts held in one group.
pub const MAX_ALERTS_PER_GROUP: usize = 10_000;

/// One notification a group is due to send.
#[derive(Debug, Clone, PartialEq)]
pub struct Notification {
    /// The exporter id (Alertmanager's receiver name).
    pub receiver: String,
    /// `{}:{label="value", ...}` as Alertmanager writes it for the root route.
    pub group_key: String,
    pub group_labels: Labels,
    /// Firing alerts first, then resolved ones; status as of the flush.
    pub alerts: Vec<Alert>,
    pub(crate) firing: BTreeSet<String>,
    pub(crate) resolved: BTreeSet<String>,
}

impl Notification {
    /// `firing` if any alert fires.
    pub fn status(&self) -> Status {
        if self.alerts.iter().any(|a| a.status == Status::Firing) {
            Status::Firing
        } else {
            Status::Resolved
        }
    }

    pub fn firing_count(&self) -> usize {
        self.alerts
            .iter()
            .filter(|a| a.status == Status::Firing)
            .count()
    }

    /// The group key hashed: 16 hex digits, stable across restarts (PagerDuty's
    /// `dedup_key`, the outbox's delivery key).
    pub fn key_hash(&self) -> String {
        format!(
            "{:016x}",
            xxhash_rust::xxh64::xxh64(self.group_key.as_bytes(), 0)
        )
    }

    pub fn common_labels(&self) -> Labels {
        common(self.alerts.iter().map(|a| &a.labels))
    }

    pub fn common_annotations(&self) -> Labels {
        common(self.alerts.iter().map(|a| &a.annotations))
    }
}

fn common<'a>(mut sets: impl Iterator<Item = &'a Labels>) -> Labels {
    let Some(first) = sets.next() else {
        return Labels::new();
    };
    let mut common = first.clone();
    for set in sets {
        common.retain(|k, v| set.get(k) == Some(v));
    }
    common
}

/// What the grouper needs from the exporter's config.
#[derive(Debug, Clone)]
pub struct GroupSettings {
    pub route: RouteConfig,
    pub send_resolved: bool,
}

struct Group {
    labels: Labels,
    alerts: BTreeMap<String, Alert>,
    next_flush: Instant,
}

/// What was last notified for a group (Alertmanager's notification log entry).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
struct LogEntry {
    firing: BTreeSet<String>,
    resolved: BTreeSet<String>,
    /// Seconds since the epoch.
    at: u64,
}

/// Why an alert was not taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rejected {
    TooManyGroups,
    GroupFull,
}

impl Rejected {
    pub fn reason(self) -> &'static str {
        match self {
            Rejected::TooManyGroups => "group_limit",
            Rejected::GroupFull => "group_alert_limit",
        }
    }
}

pub struct Grouper {
    receiver: String,
    settings: GroupSettings,
    groups: HashMap<String, Group>,
    log: HashMap<String, LogEntry>,
    log_path: Option<PathBuf>,
}

fn epoch_secs(time: SystemTime) -> u64 {
    time.duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

impl Grouper {
    /// `log_path`: where the notification log is kept across restarts (none in tests).
    pub fn new(receiver: &str, settings: GroupSettings, log_path: Option<PathBuf>) -> Grouper {
        let log = log_path
            .as_ref()
            .and_then(|p| std::fs::read(p).ok())
            .and_then(|bytes| serde_json::from_slice(&bytes).ok())
            .unwrap_or_default();
        Grouper {
            receiver: receiver.to_string(),
            settings,
            groups: HashMap::new(),
            log,
            log_path,
        }
    }

    fn group_labels(&self, labels: &Labels) -> Labels {
        let by = &self.settings.route.group_by;
        if by.iter().any(|l| l == "...") {
            return labels.clone();
        }
        by.iter()
            .filter_map(|name| Some((name.clone(), labels.get(name)?.clone())))
            .collect()
    }

    /// Adds or updates an alert (a re-send of the same fingerprint replaces it).
    pub fn insert(&mut self, alert: Alert, now: Instant) -> Result<(), Rejected> {
        let labels = self.group_labels(&alert.labels);
        let key = group_key(&labels);
        if !self.groups.contains_key(&key) {
            if self.groups.len() >= MAX_GROUPS {
                return Err(Rejected::TooManyGroups);
            }
            let next_flush = now + self.settings.route.group_wait;
            let group = Group {
                labels,
                alerts: BTreeMap::new(),
                next_flush,
            };
            self.groups.insert(key.clone(), group);
        }
        let group = self.groups.get_mut(&key).expect("inserted above");
        if group.alerts.len() >= MAX_ALERTS_PER_GROUP
            && !group.alerts.contains_key(&alert.fingerprint)
        {
            return Err(Rejected::GroupFull);
        }
        group.alerts.insert(alert.fingerprint.clone(), alert);
        Ok(())
    }

    /// The earliest time a group is due.
    pub fn next_due(&self) -> Option<Instant> {
        self.groups.values().map(|g| g.next_flush).min()
    }

    pub fn group_count(&self) -> usize {
        self.groups.len()
    }

    /// Flushes every due group. Returns the notifications to send; for each one the
    /// caller calls [`Grouper::confirm`] once it is queued (a dropped one is tried again
    /// at the next `group_interval`). `muted` says whether a silence mutes an alert.
    pub fn due(
        &mut self,
        now: Instant,
        wall: SystemTime,
        muted: &dyn Fn(&Labels) -> bool,
    ) -> Vec<Notification> {
        let mut out = Vec::new();
        let mut empty = Vec::new();
        let interval = self.settings.route.group_interval;
        for (key, group) in &mut self.groups {
            if group.next_flush > now {
                continue;
            }
            group.next_flush = now + interval;
            let mut alerts: Vec<Alert> = group
                .alerts
                .values()
                .filter(|a| !muted(&a.labels))
                .cloned()
                .map(|mut a| {
                    a.status = a.status_at(wall);
                    a
                })
                .collect();
            alerts.sort_by_key(|a| a.status != Status::Firing);
            let firing: BTreeSet<String> = alerts
                .iter()
                .filter(|a| a.status == Status::Firing)
                .map(|a| a.fingerprint.clone())
                .collect();
            let resolved: BTreeSet<String> = alerts
                .iter()
                .filter(|a| a.status == Status::Resolved)
                .map(|a| a.fingerprint.clone())
                .collect();
            let entry = self.log.get(key);
            if needs_update(entry, &firing, &resolved, &self.settings, wall) {
                if !self.settings.send_resolved {
                    alerts.retain(|a| a.status == Status::Firing);
                }
                out.push(Notification {
                    receiver: self.receiver.clone(),
                    group_key: key.clone(),
                    group_labels: group.labels.clone(),
                    alerts,
                    firing,
                    resolved,
                });
            } else {
                // Nothing to say: resolved alerts are done with.
                group.alerts.retain(|fp, _| !resolved.contains(fp));
                if group.alerts.is_empty() {
                    empty.push(key.clone());
                }
            }
        }
        for key in empty {
            self.groups.remove(&key);
        }
        out
    }

    /// Records a queued notification in the log and forgets its resolved alerts.
    pub fn confirm(&mut self, notification: &Notification, wall: SystemTime) {
        self.log.insert(
            notification.group_key.clone(),
            LogEntry {
                firing: notification.firing.clone(),
                resolved: notification.resolved.clone(),
                at: epoch_secs(wall),
            },
        );
        if let Some(group) = self.groups.get_mut(&notification.group_key) {
            group.alerts.retain(|fp, a| {
                !(notification.resolved.contains(fp) && a.status_at(wall) == Status::Resolved)
            });
            if group.alerts.is_empty() {
                self.groups.remove(&notification.group_key);
            }
        }
        self.prune_log(wall);
        self.save_log();
    }

    /// Entries older than `repeat_interval` (plus one interval) decide nothing any more.
    fn prune_log(&mut self, wall: SystemTime) {
        let keep = self.settings.route.repeat_interval + self.settings.route.group_interval;
        let oldest = epoch_secs(wall).saturating_sub(keep.as_secs());
        let groups = &self.groups;
        self.log
            .retain(|key, entry| entry.at >= oldest || groups.contains_key(key));
    }

    fn save_log(&self) {
        let Some(path) = &self.log_path else {
            return;
        };
        let bytes = serde_json::to_vec(&self.log).unwrap_or_default();
        let tmp = path.with_extension("json.tmp");
        let result = path
            .parent()
            .map_or(
                Ok(()),
                sentinel_pipeline::private_fs::create_private_dir_all,
            )
            .and_then(|_| {
                use std::io::Write;
                sentinel_pipeline::private_fs::create_private_file(&tmp)?.write_all(&bytes)
            })
            .and_then(|_| std::fs::rename(&tmp, path));
        if let Err(e) = result {
            tracing::warn!(path = %path.display(), error = %e, "Cannot save the notification log; a restart may notify again.");
        }
    }
}

/// Alertmanager's dedup decision (`notify.go`, `DedupStage.needsUpdate`).
fn needs_update(
    entry: Option<&LogEntry>,
    firing: &BTreeSet<String>,
    resolved: &BTreeSet<String>,
    settings: &GroupSettings,
    wall: SystemTime,
) -> bool {
    let Some(entry) = entry else {
        return !firing.is_empty();
    };
    if !firing.is_subset(&entry.firing) {
        return true;
    }
    if firing.is_empty() {
        return !entry.firing.is_empty();
    }
    if settings.send_resolved && !resolved.is_subset(&entry.resolved) {
        return true;
    }
    let repeat = settings.route.repeat_interval.as_secs();
    entry.at + repeat <= epoch_secs(wall) + tolerance(settings.route.group_interval)
}

/// Flush ticks drift by a little; a repeat due within this much of now counts as due.
fn tolerance(interval: Duration) -> u64 {
    (interval.as_secs() / 10).max(1)
}

/// `{}:{name="value", ...}`, the root route's group key.
pub fn group_key(labels: &Labels) -> String {
    let pairs: Vec<String> = labels.iter().map(|(k, v)| format!("{k}={v:?}")).collect();
    format!("{{}}:{{{}}}", pairs.join(", "))
}
