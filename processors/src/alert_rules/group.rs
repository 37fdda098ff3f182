//! One rule group at run time: its rules in order, each alerting rule's state, and one
//! evaluation at a time, as a Prometheus group evaluates (recording rule results are
//! visible to the rules after them).

use std::collections::BTreeMap;
use std::time::Duration;

use sentinel_pipeline::otlp::logs::v1::LogRecord;

use super::alerting::{AlertSettings, AlertingState, Restore};
use super::engine::{Labels, Window};
use super::record;
use super::rules::{Group, Rule, RuleKind};

/// Settings every group shares.
pub struct EvalSettings<'a> {
    pub external_labels: &'a Labels,
    pub resend_delay: Duration,
}

/// What one evaluation of a group produced.
#[derive(Default)]
pub struct Evaluated {
    /// `sentinel.alert` records to emit.
    pub records: Vec<LogRecord>,
    /// Recording rule results: (labels with `__name__`, value).
    pub recorded: Vec<(Labels, f64)>,
    /// Rules whose evaluation failed, with why.
    pub failures: Vec<(String, String)>,
}

pub struct GroupRuntime {
    pub group: Group,
    pub interval: Duration,
    alerts: Vec<AlertingState>,
    /// `for` state to restore at the first evaluation, per rule name.
    restore: Option<BTreeMap<String, Restore>>,
}

impl GroupRuntime {
    pub fn new(group: Group, default_interval: Duration) -> GroupRuntime {
        let interval = group.interval.unwrap_or(default_interval);
        let alerts = group
            .rules
            .iter()
            .map(|_| AlertingState::default())
            .collect();
        GroupRuntime {
            group,
            interval,
            alerts,
            restore: None,
        }
    }

    /// Identifies the group in the `for` state file.
    pub fn key(&self) -> String {
        format!("{};{}", self.group.file, self.group.name)
    }

    pub fn set_restore(&mut self, restore: BTreeMap<String, Restore>) {
        self.restore = Some(restore);
    }

    /// The first evaluation time at or after `now_ms`, aligned to the interval with a
    /// per-group offset (a hash of the group's key), as Prometheus spreads its groups.
    pub fn next_eval(&self, now_ms: i64) -> i64 {
        let interval = (self.interval.as_millis() as i64).max(1);
        let offset = (xxhash_rust::xxh64::xxh64(self.key().as_bytes(), 0) % interval as u64) as i64;
        let base = (now_ms - offset).div_euclid(interval) * interval + offset;
        if base < now_ms {
            base + interval
        } else {
            base
        }
    }

    /// Evaluates every rule at `ts` (ms).
    pub fn eval(&mut self, window: &mut Window, ts: i64, settings: &EvalSettings<'_>) -> Evaluated {
        let mut out = Evaluated::default();
        let query_at = ts - self.group.query_offset.as_millis() as i64;
        // Restore at the first evaluation that sees data: an agent that just started may
        // evaluate before its clients reconnected.
        let restore = if window.series_count() > 0 {
            self.restore.take()
        } else {
            None
        };
        for (index, rule) in self.group.rules.iter().enumerate() {
            let result = match window.query(&rule.query, query_at) {
                Ok(result) => result,
                Err(err) => {
                    out.failures
                        .push((rule.name().to_string(), err.to_string()));
                    continue;
                }
            };
            match &rule.kind {
                RuleKind::Record { name } => {
                    match record_series(rule, name, result, self.group.limit) {
                        Ok(series) => {
                            for (labels, value) in &series {
                                window.append(labels, query_at, *value);
                            }
                            out.recorded.extend(series);
                        }
                        Err(err) => out.failures.push((name.clone(), err)),
                    }
                }
                RuleKind::Alert {
                    name,
                    hold,
                    keep_firing_for,
                    annotations,
                } => {
                    let alert_settings = AlertSettings {
                        name,
                        hold: *hold,
                        keep_firing_for: *keep_firing_for,
                        labels: &rule.labels,
                        annotations,
                        external_labels: settings.external_labels,
                        limit: self.group.limit,
                    };
                    let state = &mut self.alerts[index];
                    let restore = restore.as_ref().and_then(|r| r.get(name));
                    if let Err(err) = state.eval(&alert_settings, ts, result, restore) {
                        out.failures.push((name.clone(), err.to_string()));
                        continue;
                    }
                    let resend = settings.resend_delay.as_millis() as i64;
                    let interval = self.interval.as_millis() as i64;
                    for notice in state.notices(ts, resend, interval) {
                        out.records.push(record::log_record(
                            &notice,
                            ts,
                            &self.group.name,
                            settings.external_labels,
                        ));
                    }
                }
            }
        }
        out
    }

    /// Pending and firing alerts of every rule: (rule name, labels, active_at ms).
    pub fn for_state(&self) -> Vec<(String, Labels, i64)> {
        let mut out = Vec::new();
        for (rule, state) in self.group.rules.iter().zip(&self.alerts) {
            for (labels, active_at) in state.for_state() {
                out.push((rule.name().to_string(), labels.clone(), active_at));
            }
        }
        out
    }

    /// Alerts of every alerting rule (for `alerts test`): (rule name, state).
    pub fn alert_states(&self) -> impl Iterator<Item = (&Rule, &AlertingState)> {
        self.group.rules.iter().zip(&self.alerts)
    }
}

/// A recording rule's output series: `__name__` set to the rule's name, its labels
/// added (an empty value removes the label).
fn record_series(
    rule: &Rule,
    name: &str,
    result: Vec<(Labels, f64)>,
    limit: usize,
) -> Result<Vec<(Labels, f64)>, String> {
    let mut seen = std::collections::BTreeSet::new();
    let mut out = Vec::with_capacity(result.len());
    let empty = Labels::new();
    for (mut labels, value) in result {
        labels.insert("__name__".into(), name.to_string());
        for (label, template) in &rule.labels {
            let value = template.expand(&super::template::Data {
                labels: &empty,
                external_labels: &empty,
                value: 0.0,
            });
            if value.is_empty() {
                labels.remove(label);
            } else {
                labels.insert(label.clone(), value);
            }
        }
        if !seen.insert(labels.clone()) {
            return Err(
                "vector contains metrics with the same labelset after applying rule labels".into(),
            );
        }
        out.push((labels, value));
    }
    if limit > 0 && out.len() > limit {
        return Err(format!(
            "exceeded limit of {limit} with {} series",
            out.len()
        ));
    }
    Ok(out)
}
