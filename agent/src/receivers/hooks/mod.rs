//! The `hooks` receiver: Claude Code hook events over HTTP (`POST /v1/hooks`, usable
//! directly as a `"type": "http"` hook) and from the `sentinel hook` spool file.
//!
//! Each event:
//! 1. a `PreToolUse` event is evaluated by the policy, on the unredacted event;
//! 2. secrets are redacted ([`redact`]) and the payload is capped ([`truncate`]);
//! 3. it becomes one log record `claude_code.hook.<hook_event_name>` ([`record`]);
//! 4. the reply (the policy decision as Claude Code's JSON, or `{}`) is sent once the
//!    pipelines accepted the record; a refusal is `429`/`503` with `Retry-After`.

mod config;
mod http;
mod ingest;
pub(crate) mod record;
pub mod redact;
mod spool;
pub mod truncate;

use std::net::SocketAddr;
use std::sync::Arc;

use async_trait::async_trait;
use sentinel_pipeline::config::{self as pipeline_config, Node};
use sentinel_pipeline::http::BadRequests;
use sentinel_pipeline::listen::{exposure_diagnostic, exposure_warning, Listening, ALPN_HTTP};
use sentinel_pipeline::{
    BuildContext, BuildError, ComponentInfo, Factory, Kind, Outputs, Receiver, ReceiverFactory,
    Running, Signal,
};

pub use config::HooksReceiverConfig;
pub use ingest::{parse_event, prepare_event, EventError, Prepared};
pub use redact::{Redactor, REDACTED};
pub use spool::{ingest_once, ingesting_path, RoundReport};

use crate::policy::Policy;
use ingest::HookIngest;

/// Builds `hooks` receivers.
pub struct HooksReceiverFactory;

impl Factory for HooksReceiverFactory {
    fn info(&self) -> ComponentInfo {
        ComponentInfo {
            type_name: "hooks",
            kind: Kind::Receiver,
            signals: &[Signal::Logs],
            description: "Receives Claude Code hook events over HTTP and from the `sentinel hook` spool, as log records",
        }
    }

    fn check(&self, node: &Node) -> Result<serde_json::Value, Vec<pipeline_config::Diagnostic>> {
        pipeline_config::check::<HooksReceiverConfig>(node)
    }

    fn warnings(&self, node: &Node) -> Vec<pipeline_config::Diagnostic> {
        let Ok(config) = pipeline_config::decode_valid::<HooksReceiverConfig>(node) else {
            return Vec::new();
        };
        let (tls, auth) = (config.tls.is_some(), config.auth.is_some());
        exposure_diagnostic(node, "endpoint", config.endpoint.as_str(), tls, auth)
            .into_iter()
            .collect()
    }
}

impl ReceiverFactory for HooksReceiverFactory {
    fn build(&self, node: &Node, ctx: BuildContext) -> Result<Box<dyn Receiver>, BuildError> {
        let config: HooksReceiverConfig =
            pipeline_config::decode_valid(node).map_err(|mut diagnostics| BuildError::Config {
                component: ctx.id.clone(),
                diagnostic: diagnostics.remove(0),
            })?;
        let policy = match &config.policy {
            Some(path) => Policy::load(path).map_err(|err| BuildError::Other {
                component: ctx.id.clone(),
                message: format!("policy: cannot load {}: {err}", path.display()),
            })?,
            None => Policy::builtin(),
        };
        Ok(Box::new(HooksReceiver {
            config,
            policy,
            ctx,
        }))
    }
}

/// One configured hooks receiver, not yet listening.
pub struct HooksReceiver {
    config: HooksReceiverConfig,
    policy: Policy,
    ctx: BuildContext,
}

impl HooksReceiver {
    /// Binds, then serves and drains the spool in the background until shutdown. Returns
    /// once listening (readiness) with the bound address.
    pub async fn listen(self, mut outputs: Outputs) -> Result<(SocketAddr, Running), BuildError> {
        let HooksReceiver {
            config,
            policy,
            ctx,
        } = self;
        let bind_error = |source| BuildError::Bind {
            component: ctx.id.clone(),
            endpoint: format!("{} (endpoint)", config.endpoint),
            source,
        };
        let address = config.endpoint.socket_addr().map_err(bind_error)?;
        let listener = sentinel_pipeline::http::bind(address).map_err(bind_error)?;
        let local = listener.local_addr().map_err(bind_error)?;
        tracing::info!(component = %ctx.id, address = %local, path = %config.path, "listening");

        let redactor = if config.redact {
            // Patterns were validated with the config.
            Some(
                Redactor::new(&config.redact_patterns).map_err(|err| BuildError::Other {
                    component: ctx.id.clone(),
                    message: format!("redact_patterns: {err}"),
                })?,
            )
        } else {
            None
        };
        let ingest = Arc::new(HookIngest::new(
            &ctx.id,
            outputs.remove(&Signal::Logs),
            ctx.component_metrics(Kind::Receiver, Signal::Logs),
            redactor,
            policy,
            config.max_payload_bytes(),
        ));
        let state = Arc::new(http::HttpState {
            ingest: ingest.clone(),
            path: config.path.clone(),
            max_request: config.max_request_bytes(),
            bad_requests: BadRequests::new(&ctx.metrics, &ctx.id),
        });
        let listening = listening(&config, &ctx.id, &state.bad_requests)?;
        let server = http::serve(listener, state, listening, ctx.shutdown.clone());
        let spool = config
            .spool_file()
            .map(|path| drain_spool(path, config.spool_interval, ingest, ctx.shutdown.clone()));
        let id = ctx.id.clone();
        let task = tokio::spawn(async move {
            let spool = async {
                if let Some(spool) = spool {
                    spool.await;
                }
            };
            tokio::join!(server, spool);
            tracing::debug!(component = %id, "Hooks receiver stopped.");
        });
        Ok((local, Running { task }))
    }
}

/// Ingests the spool at start and every `interval` until shutdown.
async fn drain_spool(
    path: std::path::PathBuf,
    interval: std::time::Duration,
    ingest: Arc<HookIngest>,
    shutdown: tokio_util::sync::CancellationToken,
) {
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last_error: Option<String> = None;
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = ticker.tick() => {}
        }
        let round = tokio::select! {
            _ = shutdown.cancelled() => return,
            round = ingest_once(&path, &ingest) => round,
        };
        match round {
            Ok(report) if report.ingested > 0 || report.malformed > 0 => {
                tracing::info!(path = %path.display(), ingested = report.ingested, malformed = report.malformed, kept = report.kept, "Ingested the hook spool.");
                last_error = None;
            }
            Ok(_) => last_error = None,
            Err(err) => {
                // Logged once per distinct error, not every interval.
                let text = err.to_string();
                if last_error.as_deref() != Some(&text) {
                    tracing::warn!(path = %path.display(), error = %text, "Cannot ingest the hook spool.");
                    last_error = Some(text);
                }
            }
        }
    }
}

#[async_trait]
impl Receiver for HooksReceiver {
    async fn start(self: Box<Self>, outputs: Outputs) -> Result<Running, BuildError> {
        let (_, running) = self.listen(outputs).await?;
        Ok(running)
    }

    fn listens_on(&self) -> Vec<String> {
        vec![format!(
            "hook events http://{}{}",
            self.config.endpoint, self.config.path
        )]
    }
}

#[cfg(test)]
mod compliance;

/// TLS, auth and limits of the hooks listener; warns when it is reachable from other
/// hosts with neither TLS nor auth.
fn listening(
    config: &HooksReceiverConfig,
    id: &str,
    bad_requests: &BadRequests,
) -> Result<Listening, BuildError> {
    let (tls, auth) = (config.tls.as_ref(), config.auth.as_ref());
    let mut listening =
        Listening::build(tls, auth, &config.connections, ALPN_HTTP).map_err(|err| {
            BuildError::Other {
                component: id.to_string(),
                message: err.to_string(),
            }
        })?;
    listening.auth = listening.auth.map(|a| a.counting(bad_requests.clone()));
    let key = format!("receivers.{id}.endpoint");
    let endpoint = config.endpoint.as_str();
    if let Some(warning) = exposure_warning(&key, endpoint, tls.is_some(), auth.is_some()) {
        tracing::warn!("{warning}");
    }
    Ok(listening)
}
