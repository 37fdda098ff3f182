//! Config blocks every notification exporter shares: `route`, `rate_limit`, `silences`.

use std::time::{Duration, SystemTime};

use sentinel_pipeline::config::ValidationError;
use serde::{Deserialize, Serialize};

use super::matchers::Matcher;
use super::silences::Silence;
use super::testing::rfc3339;

/// `route`: how alerts are grouped into notifications, with Alertmanager's route keys and
/// defaults.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RouteConfig {
    /// Labels whose values make a group; `[...]` groups by every label (each alert alone).
    /// Default `[]`: every alert in one group.
    pub group_by: Vec<String>,
    /// How long a new group waits for more alerts before its first notification (30s).
    #[serde(with = "humantime_serde")]
    pub group_wait: Duration,
    /// How long after a notification a group waits before notifying about changes (5m).
    #[serde(with = "humantime_serde")]
    pub group_interval: Duration,
    /// How long before an unchanged notification is sent again (4h); rounded up to a
    /// multiple of `group_interval`, as in Alertmanager.
    #[serde(with = "humantime_serde")]
    pub repeat_interval: Duration,
}

impl Default for RouteConfig {
    fn default() -> Self {
        RouteConfig {
            group_by: Vec::new(),
            group_wait: Duration::from_secs(30),
            group_interval: Duration::from_secs(300),
            repeat_interval: Duration::from_secs(4 * 3600),
        }
    }
}

impl RouteConfig {
    pub fn validate(&self) -> Result<(), ValidationError> {
        if self.group_by.iter().any(|l| l == "...") && self.group_by.len() > 1 {
            return Err(ValidationError::at(
                "route.group_by",
                "`...` groups by every label; list no other label with it",
            ));
        }
        if self.group_interval.is_zero() {
            return Err(ValidationError::at(
                "route.group_interval",
                "must be greater than 0",
            ));
        }
        if self.repeat_interval.is_zero() {
            return Err(ValidationError::at(
                "route.repeat_interval",
                "must be greater than 0",
            ));
        }
        Ok(())
    }
}

/// `rate_limit`: at most `notifications` per `window`; the excess is dropped (counted in
/// `sentinel_notifications_dropped_total{reason="rate_limited"}`) and tried again at the
/// group's next `group_interval`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RateLimit {
    /// Notifications allowed per window (default 30); 0 turns the limit off.
    pub notifications: u32,
    /// The sliding window (default 1m).
    #[serde(with = "humantime_serde")]
    pub window: Duration,
}

impl Default for RateLimit {
    fn default() -> Self {
        RateLimit {
            notifications: 30,
            window: Duration::from_secs(60),
        }
    }
}

/// One entry of `silences`: mutes the alerts all its matchers match, between `starts_at`
/// and `ends_at`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SilenceConfig {
    /// Alertmanager matchers: `name=value`, `name!=value`, `name=~regex`, `name!~regex`
    /// (regexes are anchored; values may be quoted).
    pub matchers: Vec<String>,
    /// RFC 3339 start; default: always.
    #[serde(default)]
    pub starts_at: Option<String>,
    /// RFC 3339 end; default: never.
    #[serde(default)]
    pub ends_at: Option<String>,
    /// Why the silence exists.
    #[serde(default)]
    pub comment: String,
    /// Who made it.
    #[serde(default)]
    pub created_by: String,
}

/// Checks each configured silence, naming the failing key.
pub fn validate_silences(list: &[SilenceConfig]) -> Result<(), ValidationError> {
    for (i, entry) in list.iter().enumerate() {
        entry
            .to_silence(i)
            .map_err(|e| ValidationError::at(format!("silences.{i}"), e.to_string()))?;
    }
    Ok(())
}

impl SilenceConfig {
    /// As a store silence with id `config-<index>`.
    pub fn to_silence(&self, index: usize) -> Result<Silence, super::silences::SilenceError> {
        let matchers = self
            .matchers
            .iter()
            .map(|m| Matcher::parse(m))
            .collect::<Result<Vec<_>, _>>()?;
        let mut silence = Silence {
            id: format!("config-{index}"),
            matchers,
            starts_at: self
                .starts_at
                .clone()
                .unwrap_or_else(|| rfc3339(SystemTime::UNIX_EPOCH)),
            ends_at: self
                .ends_at
                .clone()
                .unwrap_or_else(|| "9999-12-31T23:59:59.000Z".to_string()),
            created_by: self.created_by.clone(),
            comment: self.comment.clone(),
        };
        silence.validate()?;
        Ok(silence)
    }
}
