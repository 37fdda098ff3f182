//! The `hostmetrics` receiver: the host's CPU, memory, disks, filesystems, network, load,
//! paging, process counts, uptime and per-process metrics, read from `/proc` and `/sys`
//! under `root_path`, with the names, units and defaults of the Collector's hostmetrics
//! and the attribute keys of the current system semantic conventions.
//!
//! In a container it reports the host only when it can see it: at start it checks for the
//! host's filesystem, PID and network namespaces and logs one diagnostic naming what to
//! mount or set ([`container::detect`]). Partial failures (one unreadable process file)
//! are counted in `sentinel_receiver_scrape_errors_total` and logged once per cause.

#[cfg(test)]
mod compliance;
mod config;
mod container;
mod cpu;
mod disk;
mod errors;
mod filesystem;
mod heartbeat;
mod load;
mod matching;
mod memory;
mod network;
mod paging;
mod process;
mod processes;
mod root;
mod scraper;
mod switches;
mod system;
mod table;

pub use heartbeat::{HostHeartbeat, HostVitals};
#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_container;
#[cfg(test)]
mod tests_filters;

use std::io;
use std::path::Path;

use async_trait::async_trait;
use opentelemetry_proto::tonic::metrics::v1::ResourceMetrics;
use sentinel_pipeline::config::{self as pipeline_config, Node};
use sentinel_pipeline::{
    BuildContext, BuildError, ComponentInfo, Factory, Kind, Outputs, Receiver, ReceiverFactory,
    Running, Signal,
};

pub use config::{HostMetricsConfig, Scrapers};
use errors::ScrapeErrors;
use root::Root;
use scraper::{resource, Out, Sample};
pub use switches::MetricSwitch;
pub use table::ScraperConfigError;

use super::scrape::{self, ScrapeFailure};

/// Builds `hostmetrics` receivers.
pub struct HostMetricsReceiverFactory;

impl Factory for HostMetricsReceiverFactory {
    fn info(&self) -> ComponentInfo {
        ComponentInfo {
            type_name: "hostmetrics",
            kind: Kind::Receiver,
            signals: &[Signal::Metrics],
            description: "Scrapes host, process and own-container metrics from /proc and /sys (under root_path)",
        }
    }

    fn check(&self, node: &Node) -> Result<serde_json::Value, Vec<pipeline_config::Diagnostic>> {
        pipeline_config::check::<HostMetricsConfig>(node)
    }
}

impl ReceiverFactory for HostMetricsReceiverFactory {
    fn build(&self, node: &Node, ctx: BuildContext) -> Result<Box<dyn Receiver>, BuildError> {
        let config: HostMetricsConfig = pipeline_config::decode_valid(node)
            .map_err(|diagnostics| BuildError::config(&ctx.id, diagnostics))?;
        Ok(Box::new(HostMetricsReceiver { config, ctx }))
    }
}

pub struct HostMetricsReceiver {
    config: HostMetricsConfig,
    ctx: BuildContext,
}

#[async_trait]
impl Receiver for HostMetricsReceiver {
    async fn start(self: Box<Self>, outputs: Outputs) -> Result<Running, BuildError> {
        let HostMetricsReceiver { config, ctx } = *self;
        let root = Root::new(&config.root_path);
        warn_if_blind(&ctx.id, &root, config.scrapers.process.is_some());
        let collector = Collector::build(&config, &ctx.metrics, &ctx.id).map_err(|err| {
            BuildError::config(
                &ctx.id,
                vec![pipeline_config::Diagnostic::error(
                    pipeline_config::Span::unknown(),
                    err.to_string(),
                )],
            )
        })?;
        let scraper = Box::new(BlockingScraper {
            collector: Some(collector),
        });
        Ok(scrape::spawn(
            &ctx,
            scrape::Schedule {
                interval: config.collection_interval,
                initial_delay: config.initial_delay,
            },
            scraper,
            &outputs,
        ))
    }
}

/// The one start-up diagnostic for a container that cannot see the host.
fn warn_if_blind(id: &str, root: &Root, process_scraper: bool) {
    let probe = container::Probe {
        own_root: Path::new("/"),
        host_root: root,
    };
    let access = container::detect(&probe);
    if let Some(message) = access.diagnostic() {
        tracing::warn!(component_id = %id, "{message}");
    }
    if process_scraper {
        let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
        let missing = container::missing_process_capabilities(&status);
        if !missing.is_empty() {
            tracing::info!(component_id = %id, missing = %missing.join(", "),
                "process scraper: other users' /proc/<pid>/io, fd and exe will be unreadable without these capabilities; failures are counted in sentinel_receiver_scrape_errors_total");
        }
    }
}

/// The configured scrapers (see `table.rs`) and their state; runs on a blocking thread.
pub struct Collector {
    root: Root,
    scrapers: Vec<table::Named>,
    errors: ScrapeErrors,
    boot: Option<u64>,
}

/// A round that collected nothing.
#[derive(Debug, thiserror::Error)]
pub enum CollectError {
    /// Without boot time no cumulative counter has a start time.
    #[error("cannot read {}: {source}", path.display())]
    BootTime {
        path: std::path::PathBuf,
        source: io::Error,
    },
    /// Every scraper failed: `scraper: error` each, joined by `; `.
    #[error("{}", .0.join("; "))]
    AllFailed(Vec<String>),
}

impl Collector {
    /// The collector for `config`, reading under its `root_path` and counting partial
    /// failures in `metrics` under `component_id`.
    pub fn build(
        config: &HostMetricsConfig,
        metrics: &std::sync::Arc<sentinel_pipeline::SelfMetrics>,
        component_id: &str,
    ) -> Result<Collector, ScraperConfigError> {
        let scrapers = table::build(&config.scrapers)?;
        let mut errors = ScrapeErrors::new(metrics, component_id);
        for (name, scraper) in &scrapers {
            errors.mute_logs(name, &scraper.muted_causes());
        }
        Ok(Collector {
            root: Root::new(&config.root_path),
            scrapers,
            errors,
            boot: None,
        })
    }

    /// One round of every scraper. A scraper that fails is counted and logged once per
    /// cause; the others still report. `Err` only when every scraper failed and nothing
    /// was collected.
    pub fn collect(&mut self) -> Result<Vec<ResourceMetrics>, CollectError> {
        release_freed_memory();
        let now = scrape::build::now_unix_nano();
        // Boot time never changes; read it until it is known.
        let boot = match self
            .boot
            .map_or_else(|| self.root.boot_time_unix_nano(), Ok)
        {
            Ok(boot) => *self.boot.insert(boot),
            Err(source) => {
                return Err(CollectError::BootTime {
                    path: self.root.join("proc/stat"),
                    source,
                })
            }
        };
        let sample = Sample {
            root: &self.root,
            now,
            boot,
        };
        let mut out = Out {
            metrics: Vec::new(),
            resources: Vec::new(),
            errors: &mut self.errors,
            process_states: None,
        };
        let mut failures = Vec::new();
        for (name, scraper) in &mut self.scrapers {
            if let Err(err) = scraper.scrape(&sample, &mut out) {
                let cause = if err.kind() == io::ErrorKind::PermissionDenied {
                    "permission_denied"
                } else {
                    "unreadable"
                };
                out.errors.record(name, cause, &err);
                failures.push(format!("{name}: {err}"));
            }
        }
        let mut resources = Vec::with_capacity(1 + out.resources.len());
        if !out.metrics.is_empty() {
            resources.push(resource(Vec::new(), out.metrics));
        }
        resources.extend(out.resources);
        // A scraper may fail after part of its figures (network without nf_conntrack).
        if failures.len() == self.scrapers.len() && resources.is_empty() {
            return Err(CollectError::AllFailed(failures));
        }
        Ok(resources)
    }
}

/// A process scrape builds a few MiB of short-lived protobuf every interval; glibc keeps
/// freed heap in its per-thread arenas, which would show as RSS for the whole 10 s idle
/// gap. Handing the previous round's garbage back to the OS keeps RSS at the steady state.
fn release_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only returns free heap pages to the OS; it takes no pointers.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// Runs the collector on tokio's blocking pool: a round reads hundreds of small files.
struct BlockingScraper {
    collector: Option<Collector>,
}

#[async_trait]
impl scrape::Scraper for BlockingScraper {
    async fn scrape(&mut self) -> Result<Vec<ResourceMetrics>, ScrapeFailure> {
        let failure = |message: String| ScrapeFailure {
            message,
            metrics: Vec::new(),
        };
        let mut collector = self
            .collector
            .take()
            .ok_or_else(|| failure("hostmetrics collector was lost after a panic".into()))?;
        let (collector, result) = tokio::task::spawn_blocking(move || {
            let result = collector.collect();
            (collector, result)
        })
        .await
        .map_err(|err| failure(format!("hostmetrics scrape panicked: {err}")))?;
        self.collector = Some(collector);
        result.map_err(|err| failure(err.to_string()))
    }
}
