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
mod load;
mod matching;
mod memory;
mod network;
mod paging;
mod process;
mod processes;
mod root;
mod system;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_container;
#[cfg(test)]
mod tests_filters;

use std::io;
use std::path::Path;

use async_trait::async_trait;
use opentelemetry_proto::tonic::common::v1::{InstrumentationScope, KeyValue};
use opentelemetry_proto::tonic::metrics::v1::{Metric, ResourceMetrics, ScopeMetrics};
use opentelemetry_proto::tonic::resource::v1::Resource;
use sentinel_pipeline::config::{self as pipeline_config, Node};
use sentinel_pipeline::{
    BuildContext, BuildError, ComponentInfo, Factory, Kind, Outputs, Receiver, ReceiverFactory,
    Running, Signal,
};

use config::Enabled;
pub use config::{HostMetricsConfig, MetricSwitch, Scrapers};
use errors::ScrapeErrors;
use root::Root;

use super::scrape::{self, ScrapeFailure, Scraper};

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
        let collector = Collector::build(&config, &ctx.metrics, &ctx.id).map_err(|message| {
            BuildError::config(
                &ctx.id,
                vec![pipeline_config::Diagnostic::error(
                    pipeline_config::Span::unknown(),
                    message,
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
        container_env: std::env::var_os("KUBERNETES_SERVICE_HOST").is_some()
            || std::env::var_os("container").is_some(),
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

/// What every host-level scraper gets for one scrape.
pub struct Sample<'a> {
    pub root: &'a Root,
    pub now: u64,
    /// Start time of cumulative host counters (boot time).
    pub boot: u64,
    /// Processes per walked status (see `processes::WALKED_STATES`), counted by this
    /// round's process scraper when it saw every process.
    pub process_states: Option<[u64; processes::WALKED_STATES.len()]>,
}

/// One host-level scraper; its metrics share the host resource.
pub trait HostScraper: Send {
    fn name(&self) -> &'static str;
    fn scrape(&mut self, sample: &Sample, out: &mut Vec<Metric>) -> io::Result<()>;
}

/// All configured scrapers and their state; runs on a blocking thread.
pub struct Collector {
    root: Root,
    host: Vec<Box<dyn HostScraper>>,
    process: Option<process::ProcessScraper>,
    errors: ScrapeErrors,
    boot: Option<u64>,
}

impl Collector {
    /// The collector for `config`, reading under its `root_path` and counting partial
    /// failures in `metrics` under `component_id`.
    pub fn build(
        config: &HostMetricsConfig,
        metrics: &std::sync::Arc<sentinel_pipeline::SelfMetrics>,
        component_id: &str,
    ) -> Result<Collector, String> {
        let root = Root::new(&config.root_path);
        let mut errors = ScrapeErrors::new(metrics, component_id);
        let s = &config.scrapers;
        if let Some(p) = &s.process {
            errors.mute_logs("process", &p.muted_causes());
        }
        let on = |catalog, c: &Option<config::MetricsOnly>| {
            c.as_ref().map(|c| Enabled::resolve(catalog, &c.metrics))
        };
        let mut host: Vec<Box<dyn HostScraper>> = Vec::new();
        if let Some(e) = on(cpu::METRICS, &s.cpu) {
            host.push(Box::new(cpu::CpuScraper::new(e)));
        }
        if let Some(e) = on(memory::METRICS, &s.memory) {
            host.push(Box::new(memory::MemoryScraper::new(e)));
        }
        if let Some(config) = &s.disk {
            host.push(Box::new(disk::DiskScraper::new(
                Enabled::resolve(disk::METRICS, &config.metrics),
                disk::device_filter(config)?,
            )));
        }
        if let Some(fs) = &s.filesystem {
            host.push(Box::new(filesystem::FilesystemScraper::new(
                Enabled::resolve(filesystem::METRICS, &fs.metrics),
                filesystem::MountFilter::compile(fs)?,
            )));
        }
        if let Some(config) = &s.network {
            host.push(Box::new(network::NetworkScraper::new(
                Enabled::resolve(network::METRICS, &config.metrics),
                network::interface_filter(config)?,
            )));
        }
        if let Some(e) = on(load::METRICS, &s.load) {
            host.push(Box::new(load::LoadScraper::new(e)));
        }
        if let Some(e) = on(paging::METRICS, &s.paging) {
            host.push(Box::new(paging::PagingScraper::new(e)));
        }
        if let Some(e) = on(processes::METRICS, &s.processes) {
            host.push(Box::new(processes::ProcessesScraper::new(e)));
        }
        if let Some(e) = on(system::METRICS, &s.system) {
            host.push(Box::new(system::SystemScraper::new(e)));
        }
        if let Some(e) = on(container::METRICS, &s.container) {
            // The agent's own cgroup, seen through its own /proc and /sys, not root_path.
            let own = std::fs::read_to_string("/proc/self/cgroup").unwrap_or_default();
            host.push(Box::new(container::ContainerScraper::new(
                e,
                Path::new("/sys/fs/cgroup"),
                &own,
            )));
        }
        let process = match &s.process {
            Some(p) => Some(process::ProcessScraper::new(
                Enabled::resolve(process::METRICS, &p.metrics),
                p,
            )?),
            None => None,
        };
        Ok(Collector {
            root,
            host,
            process,
            errors,
            boot: None,
        })
    }

    /// One round of every scraper. A scraper that fails is counted and logged once per
    /// cause; the others still report. `Err` only when every scraper failed and nothing
    /// was collected.
    pub fn collect(&mut self) -> Result<Vec<ResourceMetrics>, String> {
        release_freed_memory();
        let now = scrape::build::now_unix_nano();
        // Boot time never changes; read it until it is known.
        let boot = match self
            .boot
            .map_or_else(|| self.root.boot_time_unix_nano(), Ok)
        {
            Ok(boot) => *self.boot.insert(boot),
            Err(err) => {
                return Err(format!(
                    "cannot read {}: {err}",
                    self.root.join("proc/stat").display()
                ))
            }
        };
        let mut failures = Vec::new();
        // The process scraper goes first: its walk over /proc/<pid>/stat also yields the
        // per-status counts of the processes scraper, which then need no walk of their own.
        let mut process_resources = Vec::new();
        if let Some(process) = &mut self.process {
            match process.scrape(&self.root, now, boot, &mut self.errors) {
                Ok(resources) => process_resources = resources,
                Err(err) => {
                    self.errors.record("process", "unreadable", &err);
                    failures.push(format!("process: {err}"));
                }
            }
        }
        let sample = Sample {
            root: &self.root,
            now,
            boot,
            process_states: self.process.as_ref().and_then(|p| p.state_counts()),
        };
        let mut metrics = Vec::new();
        for scraper in &mut self.host {
            if let Err(err) = scraper.scrape(&sample, &mut metrics) {
                let cause = if err.kind() == io::ErrorKind::PermissionDenied {
                    "permission_denied"
                } else {
                    "unreadable"
                };
                self.errors.record(scraper.name(), cause, &err);
                failures.push(format!("{}: {err}", scraper.name()));
            }
        }
        let mut out = Vec::with_capacity(1 + process_resources.len());
        if !metrics.is_empty() {
            out.push(resource(Vec::new(), metrics));
        }
        out.extend(process_resources);
        let scrapers = self.host.len() + usize::from(self.process.is_some());
        // A scraper may fail after part of its figures (network without nf_conntrack).
        if failures.len() == scrapers && out.is_empty() {
            return Err(failures.join("; "));
        }
        Ok(out)
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
impl Scraper for BlockingScraper {
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
        result.map_err(failure)
    }
}

/// Wraps metrics in a resource with the receiver's scope.
pub fn resource(attributes: Vec<KeyValue>, metrics: Vec<Metric>) -> ResourceMetrics {
    ResourceMetrics {
        resource: Some(Resource {
            attributes,
            ..Default::default()
        }),
        scope_metrics: vec![ScopeMetrics {
            scope: Some(InstrumentationScope {
                name: "sentinel/hostmetrics".into(),
                version: env!("CARGO_PKG_VERSION").into(),
                ..Default::default()
            }),
            metrics,
            ..Default::default()
        }],
        ..Default::default()
    }
}
