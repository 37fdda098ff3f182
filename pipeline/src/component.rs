//! Component traits and factories. Every component type has one factory; the agent lists
//! them all in one place (`agent/src/components.rs`).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::ack::Refusal;
use crate::admission::{Admission, MemoryBudget};
use crate::config::{Diagnostic, Node};
use crate::signal::{EncodedMessage, Message, Payload, Signal};
use crate::telemetry::{ComponentMetrics, SelfMetrics};

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
// Data hand-off
// ---------------------------------------------------------------------------------------

/// Where a stage hands data on. Never blocks: when full it refuses, and the caller refuses
/// the client's request, which the client retries.
pub trait Consumer: Send + Sync {
    /// On `Err` the consumer kept nothing of the message.
    fn consume(&self, msg: Message) -> Result<(), Refusal>;

    /// Whether a message of about `bytes` (encoded) would be taken now. Receivers ask
    /// before reading or decoding a request, so a full path refuses it without paying
    /// for the decode. A hint only: `consume` may still refuse. Wrappers must forward it.
    fn has_room(&self, _bytes: usize) -> Result<(), Refusal> {
        Ok(())
    }

    /// Whether [`Consumer::consume_encoded`] keeps a request of `signal` in its received
    /// protobuf form up to the exporter queues: no processor or connector on the way, and
    /// exporters that only re-encode ([`Exporter::takes_encoded`]). Receivers ask before
    /// decoding. Wrappers must forward it.
    fn takes_encoded(&self, _signal: Signal) -> bool {
        false
    }

    /// Takes a request still in its received encoding. Receivers send one only after
    /// [`Consumer::takes_encoded`] said yes, but a reload may have changed the path since,
    /// so the default decodes it and calls [`Consumer::consume`]. Wrappers must forward it.
    fn consume_encoded(&self, msg: EncodedMessage) -> Result<(), Refusal> {
        self.consume(decode_for_consumer(msg)?)
    }
}

/// The decoded form of a message for a consumer that needs it. The receiver checked that
/// the bytes decode, so a failure is a bug: logged, and refused (retryable) rather than lost.
pub fn decode_for_consumer(msg: EncodedMessage) -> Result<Message, Refusal> {
    msg.decode().map_err(|(err, acks)| {
        tracing::error!(%err, "A request checked at the receiver does not decode.");
        let refusal = Refusal::unavailable(format!("the request does not decode: {err}"));
        acks.refuse(&refusal);
        refusal
    })
}

/// Sends a copy of each message to several consumers. A refusal by one does not stop the
/// others; the first refusal is returned so the client retries (at-least-once).
#[derive(Clone, Default)]
pub struct Fanout {
    consumers: Vec<Arc<dyn Consumer>>,
}

impl Fanout {
    pub fn new(consumers: Vec<Arc<dyn Consumer>>) -> Self {
        Fanout { consumers }
    }

    pub fn len(&self) -> usize {
        self.consumers.len()
    }

    pub fn is_empty(&self) -> bool {
        self.consumers.is_empty()
    }
}

impl Consumer for Fanout {
    /// Refuses only when no consumer has room. While one of them can take the data it is
    /// decoded and handed to those that can (the full ones refuse and the client retries),
    /// so a dead exporter with a full queue does not stall a healthy one beside it.
    fn has_room(&self, bytes: usize) -> Result<(), Refusal> {
        let mut first_refusal = None;
        for consumer in &self.consumers {
            match consumer.has_room(bytes) {
                Ok(()) => return Ok(()),
                Err(refusal) => {
                    first_refusal.get_or_insert(refusal);
                }
            }
        }
        first_refusal.map_or(Ok(()), Err)
    }

    fn consume(&self, msg: Message) -> Result<(), Refusal> {
        self.each(msg, |consumer, msg| consumer.consume(msg))
    }

    fn takes_encoded(&self, signal: Signal) -> bool {
        !self.consumers.is_empty() && self.consumers.iter().all(|c| c.takes_encoded(signal))
    }

    fn consume_encoded(&self, msg: EncodedMessage) -> Result<(), Refusal> {
        self.each(msg, |consumer, msg| consumer.consume_encoded(msg))
    }
}

impl Fanout {
    /// Hands `msg` to every consumer (a copy to all but the last); the first refusal wins.
    fn each<M: Clone>(
        &self,
        msg: M,
        hand: impl Fn(&dyn Consumer, M) -> Result<(), Refusal>,
    ) -> Result<(), Refusal> {
        let Some((last, rest)) = self.consumers.split_last() else {
            return Ok(());
        };
        let mut first_refusal = None;
        for consumer in rest {
            if let Err(refusal) = hand(consumer.as_ref(), msg.clone()) {
                first_refusal.get_or_insert(refusal);
            }
        }
        if let Err(refusal) = hand(last.as_ref(), msg) {
            first_refusal.get_or_insert(refusal);
        }
        match first_refusal {
            Some(refusal) => Err(refusal),
            None => Ok(()),
        }
    }
}

/// A receiver's or connector's output for one signal: the pipelines that take the signal
/// from it, plus the memory budgets (`memory_limiter`) of those pipelines.
#[derive(Clone, Default)]
pub struct Output {
    pub fanout: Fanout,
    pub budgets: Vec<Arc<MemoryBudget>>,
}

impl Output {
    /// Charges `bytes` against every budget before the receiver decodes anything. Hold
    /// the admission in the message's acks ([`crate::Acks::hold`]): [`Output::send`]
    /// then charges nothing more, and it is released once the exporter queues took the data.
    pub fn admit(&self, bytes: usize) -> Result<Admission, Refusal> {
        Admission::charge(&self.budgets, bytes)
    }

    /// Whether the pipelines and the exporter queues behind them would take about
    /// `bytes` now ([`Consumer::has_room`]); cheap, asked before reading a body.
    pub fn has_room(&self, bytes: usize) -> Result<(), Refusal> {
        for budget in &self.budgets {
            if budget.used().saturating_add(bytes) > budget.limit() {
                return Err(budget.refusal(bytes));
            }
        }
        self.fanout.has_room(bytes)
    }

    /// Hands a message to every pipeline. Data that has not paid the pipelines' memory
    /// budgets yet (scraped, derived by a connector) is charged its encoded size here; a
    /// full budget refuses it (retryable). On refusal the message's acks are refused too.
    pub fn send(&self, mut msg: Message) -> Result<(), Refusal> {
        let payload = &msg.payload;
        if let Err(refusal) = self.charge_unpaid(&mut msg.acks, || payload.encoded_len()) {
            msg.acks.refuse(&refusal);
            return Err(refusal);
        }
        let acks = msg.acks.clone();
        self.fanout
            .consume(msg)
            .inspect_err(|refusal| acks.refuse(refusal))
    }

    /// Whether every pipeline would keep a request of `signal` encoded up to its exporter
    /// queues ([`Consumer::takes_encoded`]).
    pub fn takes_encoded(&self, signal: Signal) -> bool {
        self.fanout.takes_encoded(signal)
    }

    /// [`Output::send`] for a request still encoded.
    pub fn send_encoded(&self, mut msg: EncodedMessage) -> Result<(), Refusal> {
        let len = msg.request.len();
        if let Err(refusal) = self.charge_unpaid(&mut msg.acks, || len) {
            msg.acks.refuse(&refusal);
            return Err(refusal);
        }
        let acks = msg.acks.clone();
        self.fanout
            .consume_encoded(msg)
            .inspect_err(|refusal| acks.refuse(refusal))
    }

    /// Charges the data's size (`bytes`, computed only if needed) to the budgets it has
    /// not paid yet.
    fn charge_unpaid(
        &self,
        acks: &mut crate::Acks,
        bytes: impl FnOnce() -> usize,
    ) -> Result<(), Refusal> {
        let unpaid: Vec<Arc<MemoryBudget>> = self
            .budgets
            .iter()
            .filter(|budget| !acks.has_paid(budget))
            .cloned()
            .collect();
        if unpaid.is_empty() {
            return Ok(());
        }
        let admission = Admission::charge(&unpaid, bytes())?;
        acks.hold(admission);
        Ok(())
    }
}

/// Outputs per signal.
pub type Outputs = BTreeMap<Signal, Output>;

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

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;
    use crate::ack::{ack_pair, Acks, RefusalKind};
    use crate::otlp::collector::metrics::v1::ExportMetricsServiceRequest;
    use crate::otlp::metrics::v1::{Metric, ResourceMetrics, ScopeMetrics};

    /// A pipeline input that keeps what it takes, as a batch processor would.
    #[derive(Default)]
    struct Holding(Mutex<Vec<Message>>);

    impl Consumer for Holding {
        fn consume(&self, msg: Message) -> Result<(), Refusal> {
            self.0.lock().unwrap().push(msg);
            Ok(())
        }
    }

    fn scraped() -> Message {
        let metric = Metric {
            name: "system.cpu.time".into(),
            ..Default::default()
        };
        Message::unacked(Payload::Metrics(ExportMetricsServiceRequest {
            resource_metrics: vec![ResourceMetrics {
                scope_metrics: vec![ScopeMetrics {
                    metrics: vec![metric],
                    ..Default::default()
                }],
                ..Default::default()
            }],
        }))
    }

    fn output(budget: &Arc<MemoryBudget>) -> (Output, Arc<Holding>) {
        let pipeline = Arc::new(Holding::default());
        let output = Output {
            fanout: Fanout::new(vec![pipeline.clone()]),
            budgets: vec![budget.clone()],
        };
        (output, pipeline)
    }

    #[test]
    fn unpaid_data_is_charged_until_the_pipeline_lets_it_go() {
        let size = scraped().payload.encoded_len();
        let budget = MemoryBudget::new("memory_limiter", 10 * size);
        let (output, pipeline) = output(&budget);
        output.send(scraped()).unwrap();
        output.send(scraped()).unwrap();
        assert_eq!(budget.used(), 2 * size);
        pipeline.0.lock().unwrap().clear();
        assert_eq!(budget.used(), 0, "released once the data left the pipeline");
    }

    #[test]
    fn a_full_budget_refuses_scraped_data_until_released() {
        let size = scraped().payload.encoded_len();
        let budget = MemoryBudget::new("memory_limiter", size);
        let (output, pipeline) = output(&budget);
        output.send(scraped()).unwrap();
        let refusal = output.send(scraped()).unwrap_err();
        assert_eq!(refusal.kind, RefusalKind::Capacity, "retryable");
        assert_eq!(
            pipeline.0.lock().unwrap().len(),
            1,
            "the refused data never entered"
        );
        pipeline.0.lock().unwrap().clear();
        output.send(scraped()).unwrap();
    }

    #[tokio::test]
    async fn a_refusal_by_the_budget_refuses_the_client() {
        let budget = MemoryBudget::new("memory_limiter", 1);
        let (output, _pipeline) = output(&budget);
        let (token, waiter) = ack_pair();
        let msg = Message::new(scraped().payload, Acks::one(token));
        assert!(output.send(msg).is_err());
        assert_eq!(waiter.wait().await.unwrap_err().kind, RefusalKind::Capacity);
    }

    #[test]
    fn data_admitted_before_decoding_is_not_charged_twice() {
        let budget = MemoryBudget::new("memory_limiter", 1000);
        let (output, pipeline) = output(&budget);
        let admission = output.admit(700).unwrap();
        let mut msg = scraped();
        msg.acks.hold(admission);
        output.send(msg).unwrap();
        assert_eq!(budget.used(), 700);
        pipeline.0.lock().unwrap().clear();
        assert_eq!(budget.used(), 0);
    }

    #[test]
    fn connector_output_pays_the_downstream_budget_too() {
        let size = scraped().payload.encoded_len();
        let upstream = MemoryBudget::new("memory_limiter/upstream", 1000);
        let downstream = MemoryBudget::new("memory_limiter/downstream", size);
        let (output, pipeline) = output(&downstream);
        // What a connector derives keeps the upstream acks, and their upstream charge.
        let mut derived = scraped();
        derived
            .acks
            .hold(Admission::charge(std::slice::from_ref(&upstream), 300).unwrap());
        output.send(derived.clone()).unwrap();
        assert_eq!((upstream.used(), downstream.used()), (300, size));
        assert_eq!(
            output.send(derived).unwrap_err().kind,
            RefusalKind::Capacity,
            "the downstream budget is full"
        );
        pipeline.0.lock().unwrap().clear();
        assert_eq!((upstream.used(), downstream.used()), (0, 0));
    }

    /// A consumer whose queue is full.
    struct Full;

    impl Consumer for Full {
        fn has_room(&self, _bytes: usize) -> Result<(), Refusal> {
            Err(Refusal::capacity("queue full"))
        }

        fn consume(&self, _msg: Message) -> Result<(), Refusal> {
            Err(Refusal::capacity("queue full"))
        }
    }

    #[test]
    fn a_fanout_refuses_before_decoding_only_when_no_consumer_has_room() {
        let healthy: Arc<dyn Consumer> = Arc::new(Holding::default());
        let full: Arc<dyn Consumer> = Arc::new(Full);
        assert!(Fanout::new(vec![full.clone(), healthy])
            .has_room(10)
            .is_ok());
        let refusal = Fanout::new(vec![full.clone(), full])
            .has_room(10)
            .unwrap_err();
        assert_eq!(refusal.kind, RefusalKind::Capacity);
        assert!(Fanout::new(Vec::new()).has_room(10).is_ok());
    }
}
