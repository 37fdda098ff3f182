//! Runs a validated config: admin endpoints, the topology, and an ordered drain on
//! SIGINT/SIGTERM within `service.shutdown_timeout`.

mod admin;
pub mod admin_auth;
mod exposition;
mod process_metrics;
mod reload;
mod silences;
pub mod startup_pages;
mod status;
mod summary;
pub(crate) mod topology;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};

use sentinel_pipeline::SelfMetrics;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::components::Registry;
use crate::config::AgentConfig;
use admin::AdminState;
use process_metrics::ProcessMetrics;
use sentinel_exporters::notify::silences::SilenceStore;
use topology::Topology;

pub use reload::ReloadOptions;

pub use sentinel_pipeline::PIPELINE_INPUT_CAPACITY;

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The admin listener could not bind: names the setting that moves it.
    #[error(
        "cannot listen on the admin address {address}: {source}; set \
         `service.telemetry.metrics.address` (`SENTINEL_ADMIN_ADDRESS` in the shipped configs) \
         to a free address"
    )]
    Admin {
        address: String,
        source: std::io::Error,
    },
    #[error(transparent)]
    Build(#[from] sentinel_pipeline::BuildError),
    /// The admin address's `tls` or `auth` cannot be used.
    #[error("service.telemetry.metrics.{0}")]
    AdminSecurity(#[from] sentinel_pipeline::listen::ListenError),
}

/// Starts everything, waits for `stop`, then drains. Returns once shut down.
pub async fn run(
    config: AgentConfig,
    registry: Registry,
    options: ReloadOptions,
    stop: impl std::future::Future<Output = ()>,
) -> Result<(), RunError> {
    let metrics = SelfMetrics::new();
    let state = Arc::new(AdminState {
        process: ProcessMetrics::register(&metrics),
        metrics: metrics.clone(),
        ready: AtomicBool::new(false),
        exporters: std::sync::RwLock::new(Vec::new()),
        silences: SilenceStore::for_data_dir(&config.service.data_dir),
        effective_config: std::sync::RwLock::new(crate::config::render_effective(
            &config, &registry,
        )),
        last_reload: std::sync::Mutex::new(None),
        observe: status::Observe::new(&config),
        reload: OnceLock::new(),
    });
    // SIGHUP ends a process that does not handle it: listen before anything else.
    let (reloads, mut requests) = reload::channel();
    let triggers_stop = CancellationToken::new();
    reload::spawn_triggers(&reloads, &options, &triggers_stop);
    let admin_address = config.service.telemetry.metrics.address.to_string();
    let listener = admin::bind(&admin_address)
        .await
        .map_err(|source| RunError::Admin {
            address: admin_address.clone(),
            source,
        })?;
    let admin_listening = admin_auth::listening(&config.service.telemetry.metrics)?;
    let admin_shutdown = CancellationToken::new();
    let admin_task = tokio::spawn(admin::serve(
        listener,
        state.clone(),
        admin_listening,
        admin_shutdown.clone(),
    ));
    tracing::info!(address = %admin_address, "Admin endpoints listening (/metrics, /healthz, /readyz).");

    let mut topology = match Topology::start(
        &config,
        &registry,
        metrics.clone(),
        state.observe.taps.clone(),
    )
    .await
    {
        Ok(topology) => topology,
        Err(err) => {
            admin_shutdown.cancel();
            return Err(err.into());
        }
    };
    state.publish_exporters(&topology);
    state.ready.store(true, Ordering::Release);
    tracing::info!(
        receivers = topology.receivers.len(),
        pipelines = topology.pipelines.len(),
        exporters = topology.queues.len(),
        "{}",
        banner(&topology.listening, &admin_address)
    );
    startup_pages::release_after_start();
    let summary_stop = CancellationToken::new();
    let summary_task = tokio::spawn(summary::run(
        metrics,
        config.service.telemetry.logs.summary_interval,
        summary_stop.clone(),
    ));

    let _ = state.reload.set(reloads);
    let mut reloader = reload::Reloader::new(options, registry, state.clone(), config);
    tokio::pin!(stop);
    loop {
        tokio::select! {
            _ = &mut stop => break,
            Some(request) = requests.recv() => reloader.handle(&mut topology, request).await,
        }
    }
    triggers_stop.cancel();
    let config = reloader.current();
    summary_stop.cancel();
    let _ = summary_task.await;
    state.ready.store(false, Ordering::Release);
    let deadline = Instant::now() + config.service.shutdown_timeout;
    tracing::info!(
        timeout = ?config.service.shutdown_timeout,
        "Shutting down: draining pipelines."
    );
    topology.drain(deadline).await;
    admin_shutdown.cancel();
    let _ = admin_task.await;
    tracing::info!("Shutdown complete.");
    Ok(())
}

/// What a new user needs at start: where to send data, where to look, how to stop.
fn banner(listening: &[String], admin_address: &str) -> String {
    let send = if listening.is_empty() {
        "No receiver listens for clients (this config only scrapes or polls).".to_string()
    } else {
        format!("Send data to: {}.", listening.join("; "))
    };
    format!(
        "Sentinel is running. {send} Self-metrics: http://{admin_address}/metrics (health: /healthz, /readyz). Stop with Ctrl-C or SIGTERM; what is queued is drained first."
    )
}
