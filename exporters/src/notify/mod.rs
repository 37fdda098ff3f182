//! What the notification exporters (`alertmanager`, `webhook`, `slack`, `pagerduty`,
//! `email`) share: `sentinel.alert` records decoded into alerts ([`alert`]),
//! Alertmanager-style grouping and its notification log ([`group`]), the rate limit,
//! silences ([`silences`], [`matchers`]) and the outbox that puts every rendered
//! notification through the real sending queue ([`outbox`]).
//!
//! Flow: the runtime's (memory) queue hands alert records to [`NotifyExporter::export`],
//! which files them into groups at once. A timer flushes due groups; each notification is
//! rendered by the exporter and pushed into the outbox, whose queue follows the
//! exporter's `sending_queue` and `retry_on_failure` (a disk queue keeps it across a
//! kill -9 and an outage; a permanent rejection is dead-lettered). Alert records lost with
//! the agent come back: the alert_rules connector re-sends every alert each minute.

pub mod alert;
pub mod group;
pub mod http;
pub mod matchers;
pub mod outbox;
pub mod settings;
pub mod silences;
pub mod testing;
#[cfg(test)]
mod tests;

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use sentinel_pipeline::{
    BuildContext, BuildError, BuiltExporter, ExportError, Exporter, Payload, QueueSettings,
    RetrySettings,
};
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use alert::{Alert, Labels};
use group::{GroupSettings, Grouper, Notification};
use outbox::{Deliver, Outbox, Rendered};
use settings::{RateLimit, SilenceConfig};
use silences::{Silence, SilenceStore};

/// An exporter's message format: turns a due notification into the request body.
pub trait Notifier: Deliver {
    fn render(&self, notification: &Notification) -> String;
}

/// The shared part of a notification exporter's config.
pub struct NotifyOptions {
    /// `None`: no grouping; each batch of alerts is one notification (`alertmanager`,
    /// which groups by itself).
    pub grouping: Option<GroupSettings>,
    pub rate_limit: RateLimit,
    pub silences: Vec<SilenceConfig>,
    pub queue: QueueSettings,
    pub retry: RetrySettings,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct DropLabels {
    component_id: String,
    reason: String,
}

/// Builds a notification exporter around `notifier`.
pub fn build<N: Notifier>(
    ctx: &BuildContext,
    notifier: N,
    options: NotifyOptions,
) -> Result<BuiltExporter, BuildError> {
    let notifier = Arc::new(notifier);
    let config_silences = options
        .silences
        .iter()
        .enumerate()
        .map(|(i, s)| s.to_silence(i))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| BuildError::Other {
            component: ctx.id.clone(),
            message: e.to_string(),
        })?;
    let outbox = Outbox::start(
        &ctx.id,
        ctx.metrics.clone(),
        &ctx.data_dir,
        notifier.clone(),
        options.queue,
        options.retry,
    )?;
    let log_path = ctx
        .data_dir
        .join("notify")
        .join(format!("{}.json", crate::sending::file_name_for(&ctx.id)));
    let tick = options
        .grouping
        .as_ref()
        .map(tick_for)
        .unwrap_or(Duration::from_secs(1));
    let dropped: Family<DropLabels, Counter> = ctx.metrics.family(
        "notifications_dropped",
        "Alerts and notifications a notification exporter did not send, by reason",
        Family::default,
    );
    let state = Arc::new(State {
        id: ctx.id.clone(),
        grouper: options
            .grouping
            .map(|g| Mutex::new(Grouper::new(&ctx.id, g, Some(log_path)))),
        limiter: Mutex::new(Limiter::new(options.rate_limit)),
        store: SilenceStore::for_data_dir(&ctx.data_dir),
        config_silences,
        outbox,
        notifier,
        dropped,
    });
    let stop = ctx.shutdown.child_token();
    let timer = state
        .grouper
        .is_some()
        .then(|| tokio::spawn(flush_loop(state.clone(), tick, stop.clone())));
    Ok(BuiltExporter {
        exporter: Arc::new(NotifyExporter {
            state,
            timer: Mutex::new(timer),
            stop,
        }),
        // Alert records only wait here to be grouped; `sending_queue` applies to the
        // rendered notifications in the outbox.
        queue: QueueSettings::default(),
        retry: RetrySettings::default(),
    })
}

/// Flush checks are frequent enough to keep short test intervals on time.
fn tick_for(settings: &GroupSettings) -> Duration {
    let shortest = settings.route.group_wait.min(settings.route.group_interval);
    (shortest / 4).clamp(Duration::from_millis(50), Duration::from_secs(1))
}

struct State<N: Notifier> {
    id: String,
    grouper: Option<Mutex<Grouper>>,
    limiter: Mutex<Limiter>,
    store: Arc<SilenceStore>,
    config_silences: Vec<Silence>,
    outbox: Outbox,
    notifier: Arc<N>,
    dropped: Family<DropLabels, Counter>,
}

impl<N: Notifier> State<N> {
    fn drop_count(&self, reason: &str, n: usize) {
        if n == 0 {
            return;
        }
        self.dropped
            .get_or_create(&DropLabels {
                component_id: self.id.clone(),
                reason: reason.to_string(),
            })
            .inc_by(n as u64);
    }

    fn muted(&self, labels: &Labels, now: SystemTime) -> bool {
        self.config_silences.iter().any(|s| s.mutes(labels, now))
            || self.store.muting(labels, now).is_some()
    }

    /// Renders and queues; false if the rate limit or a full outbox dropped it.
    fn send(&self, notification: &Notification) -> bool {
        if !self
            .limiter
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .allow(Instant::now())
        {
            self.drop_count("rate_limited", 1);
            return false;
        }
        let rendered = Rendered {
            key: notification.key_hash(),
            body: self.notifier.render(notification),
        };
        if self.outbox.push(&rendered).is_err() {
            self.drop_count("queue_full", 1);
            return false;
        }
        true
    }

    fn flush(&self) {
        let Some(grouper) = &self.grouper else {
            return;
        };
        let wall = SystemTime::now();
        let due = {
            let mut grouper = grouper.lock().unwrap_or_else(|p| p.into_inner());
            grouper.due(Instant::now(), wall, &|labels| self.muted(labels, wall))
        };
        for notification in due {
            // With send_resolved off, an all-resolved group is logged without a message.
            if notification.alerts.is_empty() || self.send(&notification) {
                grouper
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .confirm(&notification, wall);
            }
        }
    }

    /// Without grouping: the batch's unmuted alerts as one notification.
    fn send_batch(&self, alerts: Vec<Alert>) {
        let wall = SystemTime::now();
        let total = alerts.len();
        let alerts: Vec<Alert> = alerts
            .into_iter()
            .filter(|a| !self.muted(&a.labels, wall))
            .collect();
        self.drop_count("silenced", total - alerts.len());
        if alerts.is_empty() {
            return;
        }
        let fingerprints: Vec<&str> = alerts.iter().map(|a| a.fingerprint.as_str()).collect();
        let notification = Notification {
            receiver: self.id.clone(),
            group_key: format!("{{}}:{{{}}}", fingerprints.join(",")),
            group_labels: Labels::new(),
            alerts,
            firing: Default::default(),
            resolved: Default::default(),
        };
        self.send(&notification);
    }
}

async fn flush_loop<N: Notifier>(state: Arc<State<N>>, tick: Duration, stop: CancellationToken) {
    let mut interval = tokio::time::interval(tick);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = interval.tick() => state.flush(),
        }
    }
}

struct NotifyExporter<N: Notifier> {
    state: Arc<State<N>>,
    timer: Mutex<Option<JoinHandle<()>>>,
    stop: CancellationToken,
}

#[async_trait]
impl<N: Notifier> Exporter for NotifyExporter<N> {
    async fn export(&self, payload: Payload) -> Result<(), ExportError> {
        let (alerts, skipped) = alert::decode(&payload);
        self.state.drop_count("pending", skipped.pending);
        self.state.drop_count("not_an_alert", skipped.not_alerts);
        let Some(grouper) = &self.state.grouper else {
            self.state.send_batch(alerts);
            return Ok(());
        };
        let now = Instant::now();
        let mut grouper = grouper.lock().unwrap_or_else(|p| p.into_inner());
        for alert in alerts {
            if let Err(rejected) = grouper.insert(alert, now) {
                self.state.drop_count(rejected.reason(), 1);
            }
        }
        Ok(())
    }

    /// Stops the flush timer and delivers the queued notifications it can; a disk outbox
    /// keeps the rest for the next start. Groups not yet due are not flushed early.
    async fn shutdown(&self) {
        self.stop.cancel();
        let timer = self.timer.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(timer) = timer {
            let _ = timer.await;
        }
        self.state.outbox.drain(Duration::from_secs(5)).await;
    }
}

/// At most `notifications` per sliding `window`.
struct Limiter {
    limit: RateLimit,
    sent: VecDeque<Instant>,
}

impl Limiter {
    fn new(limit: RateLimit) -> Limiter {
        Limiter {
            limit,
            sent: VecDeque::new(),
        }
    }

    fn allow(&mut self, now: Instant) -> bool {
        if self.limit.notifications == 0 {
            return true;
        }
        while self
            .sent
            .front()
            .is_some_and(|t| now.duration_since(*t) >= self.limit.window)
        {
            self.sent.pop_front();
        }
        if self.sent.len() >= self.limit.notifications as usize {
            return false;
        }
        self.sent.push_back(now);
        true
    }
}
