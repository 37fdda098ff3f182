//! Hot reload: SIGHUP, `--watch-config` (polling) and `POST /-/reload` all queue a request
//! here; one reload runs at a time. The files are loaded and validated as `sentinel run`
//! does; a valid config is applied as a diff (`runtime/topology`). Anything that fails
//! keeps the last good config running, logs the errors with FILE:LINE:COL and counts
//! `sentinel_config_reloads_total{result="failure"}`; readiness is not touched.

pub mod http;
mod triggers;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use sentinel_pipeline::config::Severity;
use tokio::sync::{mpsc, oneshot};

use super::admin::{AdminState, ReloadOutcome};
use super::topology::{ApplyError, Changes, Topology};
use crate::components::Registry;
use crate::config::{self, AgentConfig};
pub use triggers::spawn_triggers;

/// How `sentinel run` reloads: the files to read again and the optional polling watch.
#[derive(Debug, Clone, Default)]
pub struct ReloadOptions {
    /// The `--config` files, merged in order (empty: the embedded default, never reread).
    pub configs: Vec<PathBuf>,
    /// `--watch-config`: poll the files at this interval and reload when they change.
    pub watch: Option<Duration>,
}

/// What asked for a reload (shown in the log).
#[derive(Debug, Clone, Copy)]
pub enum Trigger {
    Sighup,
    Watch,
    Admin,
}

impl Trigger {
    fn as_str(self) -> &'static str {
        match self {
            Trigger::Sighup => "SIGHUP",
            Trigger::Watch => "--watch-config",
            Trigger::Admin => "POST /-/reload",
        }
    }
}

/// The answer to one reload request.
#[derive(Debug, Clone)]
pub struct Report {
    pub succeeded: bool,
    /// What changed, or the errors (FILE:LINE:COL: message, one a line).
    pub text: String,
}

pub struct Request {
    trigger: Trigger,
    reply: Option<oneshot::Sender<Report>>,
}

/// Queues reload requests; cloned into each trigger.
#[derive(Clone)]
pub struct ReloadHandle {
    requests: mpsc::Sender<Request>,
}

/// Requests beyond this many waiting are merged into the ones already queued.
const QUEUED_REQUESTS: usize = 8;

pub fn channel() -> (ReloadHandle, mpsc::Receiver<Request>) {
    let (requests, receiver) = mpsc::channel(QUEUED_REQUESTS);
    (ReloadHandle { requests }, receiver)
}

impl ReloadHandle {
    /// Asks for a reload without waiting for it (signals, the watcher). A full queue
    /// already holds a reload that will read the same files.
    pub fn request(&self, trigger: Trigger) {
        let _ = self.requests.try_send(Request {
            trigger,
            reply: None,
        });
    }

    /// Reloads and waits for the outcome; `None` once the agent is shutting down.
    pub async fn reload(&self, trigger: Trigger) -> Option<Report> {
        let (reply, answer) = oneshot::channel();
        let request = Request {
            trigger,
            reply: Some(reply),
        };
        self.requests.send(request).await.ok()?;
        answer.await.ok()
    }
}

#[derive(Debug, thiserror::Error)]
enum ReloadError {
    /// Loading or validation found errors; one per line.
    #[error("{}", .0.join("\n"))]
    Invalid(Vec<String>),
    #[error(transparent)]
    Apply(#[from] ApplyError),
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ResultLabel {
    result: &'static str,
}

/// Applies reload requests to the running topology, one at a time.
pub struct Reloader {
    options: ReloadOptions,
    registry: Registry,
    state: Arc<AdminState>,
    current: AgentConfig,
    reloads: Family<ResultLabel, Counter>,
}

impl Reloader {
    pub fn new(
        options: ReloadOptions,
        registry: Registry,
        state: Arc<AdminState>,
        current: AgentConfig,
    ) -> Reloader {
        let reloads: Family<ResultLabel, Counter> = state.metrics.family(
            "config_reloads",
            "Config reloads by result: success (the new config runs) or failure (the last good config kept running)",
            Family::default,
        );
        // Both series exist from the start, at zero.
        for result in ["success", "failure"] {
            let _ = reloads.get_or_create(&ResultLabel { result });
        }
        Reloader {
            options,
            registry,
            state,
            current,
            reloads,
        }
    }

    /// The config running now.
    pub fn current(&self) -> &AgentConfig {
        &self.current
    }

    pub async fn handle(&mut self, topology: &mut Topology, request: Request) {
        let started = Instant::now();
        let outcome = self.reload(topology).await;
        let took = started.elapsed();
        let trigger = request.trigger.as_str();
        let report = match outcome {
            Ok(changes) => {
                tracing::info!(trigger, took = ?took, "Config reloaded:\n{changes}");
                // Building the new components ran start-up code again.
                super::startup_pages::release_after_start();
                Report {
                    succeeded: true,
                    text: changes.to_string(),
                }
            }
            Err(err) => {
                tracing::error!(
                    trigger,
                    "Config reload failed; the last good config keeps running:\n{err}"
                );
                Report {
                    succeeded: false,
                    text: format!("{err}\n"),
                }
            }
        };
        let result = if report.succeeded {
            "success"
        } else {
            "failure"
        };
        self.reloads.get_or_create(&ResultLabel { result }).inc();
        let outcome = ReloadOutcome {
            at: SystemTime::now(),
            succeeded: report.succeeded,
            summary: report.text.clone(),
        };
        *self
            .state
            .last_reload
            .lock()
            .unwrap_or_else(|e| e.into_inner()) = Some(outcome);
        if let Some(reply) = request.reply {
            let _ = reply.send(report);
        }
    }

    async fn reload(&mut self, topology: &mut Topology) -> Result<Changes, ReloadError> {
        let env = |name: &str| std::env::var(name).ok();
        let (config, diagnostics) =
            config::load_and_validate(&self.options.configs, &env, &self.registry);
        let Some(config) = config else {
            let errors = diagnostics
                .iter()
                .filter(|d| d.severity == Severity::Error)
                .map(|d| d.to_string())
                .collect();
            return Err(ReloadError::Invalid(errors));
        };
        for warning in &diagnostics {
            tracing::warn!("{warning}");
        }
        let mut changes = topology.apply(&config, &self.registry).await?;
        self.state.publish_exporters(topology);
        changes.lines.extend(restart_only(&self.current, &config));
        *self
            .state
            .effective_config
            .write()
            .unwrap_or_else(|e| e.into_inner()) = config::render_effective(&config, &self.registry);
        self.current = config;
        Ok(changes)
    }
}

/// Settings a reload does not apply (the admin listener and logging are set up once).
fn restart_only(old: &AgentConfig, new: &AgentConfig) -> Vec<String> {
    let mut notes = Vec::new();
    let (old_t, new_t) = (&old.service.telemetry, &new.service.telemetry);
    if old_t.metrics.address.to_string() != new_t.metrics.address.to_string() {
        notes.push(
            "service.telemetry.metrics.address: changed; takes effect at the next restart"
                .to_string(),
        );
    }
    if old_t.logs.level != new_t.logs.level || old_t.logs.encoding != new_t.logs.encoding {
        notes.push("service.telemetry.logs: changed; takes effect at the next restart".to_string());
    }
    notes
}
