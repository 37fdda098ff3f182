//! Component traits and factories. Every component type has one factory; the agent lists
//! them all in one place (`agent/src/components.rs`).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::ack::Refusal;
use crate::admission::MemoryBudget;
use crate::config::{Diagnostic, Node};
use crate::signal::{Message, Payload, Signal};
use crate::telemetry::{ComponentMetrics, SelfMetrics};

mod consumer;

pub use consumer::*;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    Receiver,
    Processor,
    Exporter,
    Connector,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Receiver => "receiver",
            Kind::Processor => "processor",
            Kind::Exporter => "exporter",
            Kind::Connector => "connector",
        }
    }

    /// The config section that holds components of this kind.
    pub fn section(self) -> &'static str {
        match self {
            Kind::Receiver => "receivers",
            Kind::Processor => "processors",
            Kind::Exporter => "exporters",
            Kind::Connector => "connectors",
        }
    }
}

/// Failure to build or start a component. Reported at startup; the agent exits 1.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error("{component}: invalid config: {diagnostic}")]
    Config {
        component: String,
        diagnostic: Diagnostic,
    },
    #[error("{component}: cannot listen on {endpoint}: {source}")]
    Bind {
        component: String,
        endpoint: String,
        source: std::io::Error,
    },
    #[error("{component}: {message}")]
    Other { component: String, message: String },
}

impl BuildError {
    /// The first of a config's diagnostics as a build error.
    pub fn config(component: &str, diagnostics: Vec<Diagnostic>) -> BuildError {
        let diagnostic = diagnostics
            .into_iter()
            .next()
            .unwrap_or_else(|| Diagnostic::error(crate::config::Span::unknown(), "invalid config"));
        BuildError::Config {
            component: component.to_string(),
            diagnostic,
        }
    }
}

/// What a factory tells `sentinel components` and the validator.
#[derive(Debug, Clone, Copy)]
pub struct ComponentInfo {
    pub type_name: &'static str,
    pub kind: Kind,
    pub signals: &'static [Signal],
    pub description: &'static str,
}

/// What every factory can do without building anything.
pub trait Factory: Send + Sync {
    fn info(&self) -> ComponentInfo;

    /// Decodes and validates a config node. Returns the effective config as JSON with
    /// secrets redacted, for `print-config`.
    fn check(&self, node: &Node) -> Result<serde_json::Value, Vec<Diagnostic>>;

    /// Warnings about a config that [`Factory::check`] accepted (`sentinel validate`).
    fn warnings(&self, _node: &Node) -> Vec<Diagnostic> {
        Vec::new()
    }

    /// The factory's Rust type path (`sentinel_processors::batch::BatchFactory`). The
    /// registry's compliance test finds the component's folder from it.
    fn type_path(&self) -> &'static str {
        std::any::type_name::<Self>()
    }
}

/// Shared by every build call.
#[derive(Clone)]
pub struct BuildContext {
    /// The component id as written in the config, `type` or `type/name`.
    pub id: String,
    pub metrics: Arc<SelfMetrics>,
    /// Cancelled when the agent starts shutting down.
    pub shutdown: CancellationToken,
    /// The agent's data directory (`service.data_dir`), for state a component keeps
    /// across restarts; each component uses a subdirectory named after its id.
    pub data_dir: PathBuf,
}

impl BuildContext {
    pub fn component_metrics(&self, kind: Kind, signal: Signal) -> ComponentMetrics {
        self.metrics.component(kind, &self.id, signal)
    }
}

// ---------------------------------------------------------------------------------------
// Receivers
// ---------------------------------------------------------------------------------------

/// A running component: a task that ends after shutdown is cancelled and work is drained.
pub struct Running {
    pub task: JoinHandle<()>,
}

#[async_trait]
pub trait Receiver: Send {
    /// Binds listeners and starts serving. A bind error fails agent startup.
    /// Serving stops when `ctx.shutdown` is cancelled.
    async fn start(self: Box<Self>, outputs: Outputs) -> Result<Running, BuildError>;

    /// Where clients send this receiver data, for the start banner (for example
    /// `OTLP/gRPC 127.0.0.1:4317`). Receivers that scrape or poll list nothing.
    fn listens_on(&self) -> Vec<String> {
        Vec::new()
    }
}

pub trait ReceiverFactory: Factory {
    fn build(&self, node: &Node, ctx: BuildContext) -> Result<Box<dyn Receiver>, BuildError>;
}

// ---------------------------------------------------------------------------------------
// Processors
// ---------------------------------------------------------------------------------------

/// One stage of a pipeline. Runs inside the pipeline's task, so it needs no locking.
/// The runtime counts received and sent items; a processor counts its own drops.
pub trait Processor: Send {
    /// Takes one message and pushes zero or more onto `out`.
    fn process(&mut self, msg: Message, out: &mut Vec<Message>);

    /// When this processor next wants [`Processor::on_deadline`] (batch timeouts).
    fn deadline(&self) -> Option<Instant> {
        None
    }

    fn on_deadline(&mut self, _now: Instant, _out: &mut Vec<Message>) {}

    /// Emits everything it holds; called once at shutdown.
    fn flush(&mut self, _out: &mut Vec<Message>) {}

    /// `Some` for a stage that hands every message on at once and unchanged
    /// (`memory_limiter`, whose work is done at the receiver). A pipeline of only such
    /// stages is fed directly by its sources, which may then keep requests encoded; the
    /// stage's self-metrics and tap still see what passes ([`Unchanged`]).
    fn unchanged(&self) -> Option<Unchanged> {
        None
    }
}

/// What a stage that changes nothing still does for the messages passing it on a direct
/// route: its tap point, if it has one, sees them.
#[derive(Clone, Default)]
pub struct Unchanged {
    pub tap: Option<crate::tap::TapPoint>,
}

/// A built processor, plus the memory budget data entering its pipeline is charged
/// against (memory_limiter).
pub struct BuiltProcessor {
    pub stage: Box<dyn Processor>,
    pub admission_budget: Option<Arc<MemoryBudget>>,
}

pub trait ProcessorFactory: Factory {
    /// Builds one instance for one pipeline of one signal.
    fn build(
        &self,
        node: &Node,
        signal: Signal,
        ctx: BuildContext,
    ) -> Result<BuiltProcessor, BuildError>;
}

// ---------------------------------------------------------------------------------------
// Exporters
// ---------------------------------------------------------------------------------------

#[derive(Debug, Clone, thiserror::Error)]
pub enum ExportError {
    /// Worth retrying: network errors, 429, 503, UNAVAILABLE, RESOURCE_EXHAUSTED.
    #[error("retryable: {message}")]
    Retryable {
        message: String,
        retry_after: Option<Duration>,
    },
    /// The sink will never accept this data (400, InvalidArgument).
    #[error("permanent: {message}")]
    Permanent { message: String },
}

impl ExportError {
    pub fn retryable(message: impl Into<String>) -> Self {
        ExportError::Retryable {
            message: message.into(),
            retry_after: None,
        }
    }

    pub fn permanent(message: impl Into<String>) -> Self {
        ExportError::Permanent {
            message: message.into(),
        }
    }
}

/// One record of a sending queue: one request as the queue accepted it.
#[derive(Debug, Clone)]
pub struct QueueRecord {
    /// The record's sequence number, unique within its queue and never reused by it.
    pub seq: u64,
    pub payload: Payload,
}

/// Consecutive records of one queue and one signal, exported together. Which records are
/// merged into one batch may differ after a restart; each record's `(queue_id, seq)` does
/// not, so a sink that wants exactly-once keeps a ledger per record.
#[derive(Debug, Clone)]
pub struct RecordBatch {
    /// Identifies the queue: persisted with a disk queue, random per process for a memory
    /// queue, so that a wiped queue directory whose numbering restarts is a new queue.
    pub queue_id: u128,
    pub records: Vec<QueueRecord>,
}

impl RecordBatch {
    /// One payload holding every record's data, in order.
    pub fn into_payload(self) -> Payload {
        let mut records = self.records.into_iter();
        let Some(first) = records.next() else {
            return Payload::Logs(Default::default());
        };
        let mut merged = first.payload;
        for record in records {
            // A batch holds one signal, so append cannot fail.
            let _ = merged.append(record.payload);
        }
        merged
    }
}

/// Delivers payloads to a sink. The runtime wraps it in a bounded sending queue with
/// retries, so `export` only needs to make one attempt.
#[async_trait]
pub trait Exporter: Send + Sync {
    async fn export(&self, payload: Payload) -> Result<(), ExportError>;

    /// What the sending queue calls: one attempt at a batch of queue records. Sinks that
    /// deduplicate replays by record identity override it; the default merges the records
    /// and calls [`Exporter::export`].
    async fn export_records(&self, batch: RecordBatch) -> Result<(), ExportError> {
        self.export(batch.into_payload()).await
    }

    /// What the sending queue calls first: the same attempt on records it shares with the
    /// exporter. Exporters that only read the data (encode and send it) override it and
    /// copy nothing; the default copies the records and calls [`Exporter::export_records`].
    /// A wrapper around another exporter forwards this too.
    async fn export_shared(&self, batch: crate::SharedBatch) -> Result<(), ExportError> {
        self.export_records(batch.to_record_batch()).await
    }

    /// True when [`Exporter::export_shared`] sends records still in their received
    /// encoding ([`crate::Held::Encoded`]) as they are, so its queue may hold them that way
    /// (exporters that send OTLP protobuf). When false the queue decodes them first. A
    /// wrapper around another exporter forwards this too.
    fn takes_encoded(&self) -> bool {
        false
    }

    /// Flushes buffers and closes connections; called after the queue is drained.
    async fn shutdown(&self) {}
}

/// The queue and retry options every exporter shares (`sending_queue`, `retry_on_failure`).
pub use crate::sending::{QueueSettings, RetrySettings};

/// A built exporter with the queue options from its config.
pub struct BuiltExporter {
    pub exporter: Arc<dyn Exporter>,
    pub queue: QueueSettings,
    pub retry: RetrySettings,
}

pub trait ExporterFactory: Factory {
    fn build(&self, node: &Node, ctx: BuildContext) -> Result<BuiltExporter, BuildError>;
}

// ---------------------------------------------------------------------------------------
// Connectors
// ---------------------------------------------------------------------------------------

/// An exporter of some pipelines that is a receiver of others. It runs inline in the
/// upstream pipeline's fan-out and must not block.
pub trait Connector: Send + Sync {
    /// Takes one message from an upstream pipeline and sends what it derives to `outputs`.
    fn consume(&self, msg: Message, outputs: &Outputs) -> Result<(), Refusal>;
}

pub trait ConnectorFactory: Factory {
    /// Signals the connector can take in from upstream pipelines.
    fn input_signals(&self) -> &'static [Signal];
    /// Signals it can emit into downstream pipelines.
    fn output_signals(&self) -> &'static [Signal];
    fn build(&self, node: &Node, ctx: BuildContext) -> Result<Arc<dyn Connector>, BuildError>;
}
