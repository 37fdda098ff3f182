//! The state of one alerting rule's alerts, step for step as Prometheus's
//! `rules/alerting.go` (`Eval`, `sendAlerts`, `needsSending`): inactive → pending →
//! firing once `for` has passed; a pending alert that one evaluation does not return is
//! dropped (its `for` clock restarts); `keep_firing_for`; a resolved alert is kept and
//! re-sent for 15 minutes; alerts are identified by their label set with `alertname`.

use std::collections::BTreeMap;
use std::time::Duration;

use super::engine::Labels;
use super::template::{Data, Template};

/// Resolved alerts are kept (and re-sent) this long, as Prometheus's `resolvedRetention`.
pub const RESOLVED_RETENTION_MS: i64 = 15 * 60 * 1000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    Inactive,
    Pending,
    Firing,
}

/// One alert instance of a rule.
#[derive(Debug, Clone, PartialEq)]
pub struct Alert {
    pub labels: Labels,
    pub annotations: Labels,
    pub value: f64,
    pub state: State,
    pub active_at: i64,
    pub fired_at: Option<i64>,
    pub resolved_at: Option<i64>,
    pub last_sent_at: Option<i64>,
    pub keep_firing_since: Option<i64>,
    pub valid_until: i64,
}

/// What an evaluation asks to be emitted: a state change or a re-send.
#[derive(Debug, Clone, PartialEq)]
pub struct Notice {
    pub alert: Alert,
    /// `pending`, `firing` or `resolved`.
    pub state: &'static str,
    pub starts_at: i64,
    pub ends_at: i64,
}

/// The rule's settings the state machine needs.
pub struct AlertSettings<'a> {
    pub name: &'a str,
    pub hold: Duration,
    pub keep_firing_for: Duration,
    pub labels: &'a [(String, Template)],
    pub annotations: &'a [(String, Template)],
    pub external_labels: &'a Labels,
    pub limit: usize,
}

/// An evaluation that cannot be used, as Prometheus reports it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AlertError {
    #[error("vector contains metrics with the same labelset after applying alert labels")]
    Duplicate,
    #[error("exceeded limit of {limit} with {found} alerts")]
    Limit { limit: usize, found: usize },
}

/// `for` state to restore after a restart: each alert's `active_at`, and when it was
/// last written (when the previous run was still up).
#[derive(Debug, Clone, Default)]
pub struct Restore {
    pub active_at: BTreeMap<Labels, i64>,
    pub down_at: i64,
    pub grace_ms: i64,
    pub outage_tolerance_ms: i64,
}

/// All alerts of one alerting rule.
#[derive(Debug, Default)]
pub struct AlertingState {
    pub active: BTreeMap<Labels, Alert>,
}

fn ms(d: Duration) -> i64 {
    d.as_millis() as i64
}

impl AlertingState {
    /// One evaluation at `ts` (ms) with the query's result. Returns the alerts to emit.
    pub fn eval(
        &mut self,
        rule: &AlertSettings<'_>,
        ts: i64,
        result: Vec<(Labels, f64)>,
        restore: Option<&Restore>,
    ) -> Result<(), AlertError> {
        let mut fresh: BTreeMap<Labels, Alert> = BTreeMap::new();
        for (metric, value) in result {
            let (labels, annotations) = expand(rule, &metric, value);
            if fresh.contains_key(&labels) {
                return Err(AlertError::Duplicate);
            }
            fresh.insert(
                labels.clone(),
                Alert {
                    labels,
                    annotations,
                    value,
                    state: State::Pending,
                    active_at: ts,
                    fired_at: None,
                    resolved_at: None,
                    last_sent_at: None,
                    keep_firing_since: None,
                    valid_until: 0,
                },
            );
        }
        let returned: std::collections::BTreeSet<Labels> = fresh.keys().cloned().collect();
        for (key, alert) in fresh {
            match self.active.get_mut(&key) {
                Some(old) if old.state != State::Inactive => {
                    old.value = alert.value;
                    old.annotations = alert.annotations;
                }
                _ => {
                    self.active.insert(key, alert);
                }
            }
        }
        if let Some(restore) = restore {
            self.restore(rule, ts, restore);
        }
        let keep_ms = ms(rule.keep_firing_for);
        let mut active_count = 0;
        self.active.retain(|key, a| {
            if returned.contains(key) {
                a.keep_firing_since = None;
            } else {
                let mut keep_firing = false;
                if a.state == State::Firing && keep_ms > 0 {
                    let since = *a.keep_firing_since.get_or_insert(ts);
                    keep_firing = ts - since < keep_ms;
                }
                let expired = a
                    .resolved_at
                    .is_some_and(|r| ts - r > RESOLVED_RETENTION_MS);
                if a.state == State::Pending || expired {
                    return false;
                }
                if a.state != State::Inactive && !keep_firing {
                    a.state = State::Inactive;
                    a.resolved_at = Some(ts);
                }
                if !keep_firing {
                    return true;
                }
            }
            active_count += 1;
            if a.state == State::Pending && ts - a.active_at >= ms(rule.hold) {
                a.state = State::Firing;
                a.fired_at = Some(ts);
            }
            true
        });
        if rule.limit > 0 && active_count > rule.limit {
            self.active.clear();
            return Err(AlertError::Limit {
                limit: rule.limit,
                found: active_count,
            });
        }
        Ok(())
    }

    /// Prometheus's `RestoreForState` with its `for_grace_period` rule: an alert that was
    /// pending before the restart keeps the time it had already spent pending, shifted by
    /// the downtime; one that would fire within the grace period fires at its end.
    fn restore(&mut self, rule: &AlertSettings<'_>, ts: i64, restore: &Restore) {
        let hold = ms(rule.hold);
        if hold == 0
            || hold < restore.grace_ms
            || ts - restore.down_at > restore.outage_tolerance_ms
        {
            return;
        }
        for (labels, alert) in &mut self.active {
            let Some(&was_active) = restore.active_at.get(labels) else {
                continue;
            };
            if alert.state != State::Pending {
                continue;
            }
            let spent = restore.down_at - was_active;
            let remaining = hold - spent;
            alert.active_at = if remaining <= 0 {
                was_active
            } else if remaining < restore.grace_ms {
                ts + restore.grace_ms - hold
            } else {
                was_active + (ts - restore.down_at)
            };
        }
    }

    /// The alerts to emit after an evaluation at `ts`: new pending alerts (history), and
    /// every firing or resolved alert that `needsSending` says to send.
    pub fn notices(&mut self, ts: i64, resend_delay_ms: i64, interval_ms: i64) -> Vec<Notice> {
        let mut out = Vec::new();
        for alert in self.active.values_mut() {
            let delta = resend_delay_ms.max(interval_ms);
            if alert.state == State::Pending {
                if alert.active_at == ts {
                    out.push(Notice {
                        alert: alert.clone(),
                        state: "pending",
                        starts_at: alert.active_at,
                        ends_at: ts + 4 * delta,
                    });
                }
                continue;
            }
            let resolved_since_sent = match (alert.resolved_at, alert.last_sent_at) {
                (Some(r), Some(s)) => r > s,
                (Some(_), None) => true,
                _ => false,
            };
            let due = alert.last_sent_at.is_none_or(|s| s + resend_delay_ms < ts);
            if !(resolved_since_sent || due) {
                continue;
            }
            alert.last_sent_at = Some(ts);
            alert.valid_until = ts + 4 * delta;
            let (state, ends_at) = match alert.resolved_at {
                Some(r) if alert.state == State::Inactive => ("resolved", r),
                _ => ("firing", alert.valid_until),
            };
            out.push(Notice {
                alert: alert.clone(),
                state,
                starts_at: alert.fired_at.unwrap_or(alert.active_at),
                ends_at,
            });
        }
        out
    }

    /// Pending and firing alerts with their `active_at`, for the `for` state file.
    pub fn for_state(&self) -> impl Iterator<Item = (&Labels, i64)> {
        self.active
            .iter()
            .filter(|(_, a)| a.state != State::Inactive)
            .map(|(l, a)| (l, a.active_at))
    }
}

/// The alert's labels (result labels without `__name__`, then the rule's templated
/// labels, then `alertname`) and its expanded annotations.
fn expand(rule: &AlertSettings<'_>, metric: &Labels, value: f64) -> (Labels, Labels) {
    let data = Data {
        labels: metric,
        external_labels: rule.external_labels,
        value,
    };
    let mut labels = metric.clone();
    labels.remove("__name__");
    // An empty value removes the label, as Prometheus's label builder does.
    for (name, template) in rule.labels {
        match template.expand(&data) {
            value if value.is_empty() => labels.remove(name),
            value => labels.insert(name.clone(), value),
        };
    }
    labels.insert("alertname".into(), rule.name.to_string());
    let annotations = rule
        .annotations
        .iter()
        .map(|(name, template)| (name.clone(), template.expand(&data)))
        .collect();
    (labels, annotations)
}
