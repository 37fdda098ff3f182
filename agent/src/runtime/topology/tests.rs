//! The topology with stand-in receiver, processor and exporter, and the real `forward`
//! connector between pipelines.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use sentinel_pipeline::admission::MemoryBudget;
use sentinel_pipeline::config::{Diagnostic, Node};
use sentinel_pipeline::otlp::collector::logs::v1::ExportLogsServiceRequest;
use sentinel_pipeline::otlp::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
use sentinel_pipeline::{
    ack_pair, Acks, BuildContext, BuildError, BuiltExporter, BuiltProcessor, ComponentInfo,
    ExportError, Exporter, ExporterFactory, Factory, Kind, Message, Output, Outputs, Payload,
    Processor, ProcessorFactory, Receiver, ReceiverFactory, RefusalKind, Running, SelfMetrics,
    Signal,
};
use tokio::time::Instant;

use super::*;
use crate::config::load;

/// What the stand-ins let the test see and drive.
#[derive(Clone, Default)]
struct Probes {
    /// The outputs the `test` receiver was started with.
    outputs: Arc<Mutex<Option<Outputs>>>,
    /// The budget of the last `hold` processor built.
    budget: Arc<Mutex<Option<Arc<MemoryBudget>>>>,
    exported: Arc<Mutex<Vec<Payload>>>,
}

fn info(type_name: &'static str, kind: Kind) -> ComponentInfo {
    ComponentInfo {
        type_name,
        kind,
        signals: &Signal::ALL,
        description: "test",
    }
}

/// `test` receiver: hands its outputs to the test and waits for shutdown.
struct TestReceiverFactory(Probes);

impl Factory for TestReceiverFactory {
    fn info(&self) -> ComponentInfo {
        info("test", Kind::Receiver)
    }
    fn check(&self, _: &Node) -> Result<serde_json::Value, Vec<Diagnostic>> {
        Ok(serde_json::Value::Null)
    }
}

impl ReceiverFactory for TestReceiverFactory {
    fn build(&self, _: &Node, ctx: BuildContext) -> Result<Box<dyn Receiver>, BuildError> {
        Ok(Box::new(TestReceiver(self.0.clone(), ctx.shutdown)))
    }
}

struct TestReceiver(Probes, CancellationToken);

#[async_trait]
impl Receiver for TestReceiver {
    async fn start(self: Box<Self>, outputs: Outputs) -> Result<Running, BuildError> {
        *self.0.outputs.lock().unwrap() = Some(outputs);
        let shutdown = self.1;
        Ok(Running {
            task: tokio::spawn(async move { shutdown.cancelled().await }),
        })
    }
}

/// `hold` processor: keeps everything until flushed, with a memory budget of `bytes`.
struct HoldFactory {
    probes: Probes,
    bytes: usize,
}

impl Factory for HoldFactory {
    fn info(&self) -> ComponentInfo {
        info("hold", Kind::Processor)
    }
    fn check(&self, _: &Node) -> Result<serde_json::Value, Vec<Diagnostic>> {
        Ok(serde_json::Value::Null)
    }
}

impl ProcessorFactory for HoldFactory {
    fn build(&self, _: &Node, _: Signal, ctx: BuildContext) -> Result<BuiltProcessor, BuildError> {
        let budget = MemoryBudget::new(ctx.id, self.bytes);
        *self.probes.budget.lock().unwrap() = Some(budget.clone());
        Ok(BuiltProcessor {
            stage: Box::new(Hold(Vec::new())),
            admission_budget: Some(budget),
        })
    }
}

struct Hold(Vec<Message>);

impl Processor for Hold {
    fn process(&mut self, msg: Message, _: &mut Vec<Message>) {
        self.0.push(msg);
    }
    fn flush(&mut self, out: &mut Vec<Message>) {
        out.append(&mut self.0);
    }
}

/// `record` exporter: keeps what it is sent.
struct RecordFactory(Probes);

impl Factory for RecordFactory {
    fn info(&self) -> ComponentInfo {
        info("record", Kind::Exporter)
    }
    fn check(&self, _: &Node) -> Result<serde_json::Value, Vec<Diagnostic>> {
        Ok(serde_json::Value::Null)
    }
}

impl ExporterFactory for RecordFactory {
    fn build(&self, _: &Node, _: BuildContext) -> Result<BuiltExporter, BuildError> {
        Ok(BuiltExporter {
            exporter: Arc::new(Record(self.0.exported.clone())),
            queue: Default::default(),
            retry: Default::default(),
        })
    }
}

struct Record(Arc<Mutex<Vec<Payload>>>);

#[async_trait]
impl Exporter for Record {
    async fn export(&self, payload: Payload) -> Result<(), ExportError> {
        self.0.lock().unwrap().push(payload);
        Ok(())
    }
}

fn registry(probes: &Probes, budget_bytes: usize) -> Registry {
    Registry {
        receivers: vec![Box::new(TestReceiverFactory(probes.clone()))],
        processors: vec![Box::new(HoldFactory {
            probes: probes.clone(),
            bytes: budget_bytes,
        })],
        exporters: vec![Box::new(RecordFactory(probes.clone()))],
        connectors: vec![Box::new(sentinel_processors::forward::ForwardFactory)],
    }
}

fn config(yaml: &str) -> AgentConfig {
    let dir = tempfile::tempdir().unwrap();
    let path: PathBuf = dir.path().join("c.yaml");
    std::fs::write(&path, yaml).unwrap();
    load(&[path], &|_| None).unwrap()
}

/// Three pipelines chained by connectors, written downstream first.
const CHAIN: &str = "receivers:\n  test:\nexporters:\n  record:\nconnectors:\n  forward/ab:\n  forward/bc:\nservice:\n  pipelines:\n    logs/c:\n      receivers: [forward/bc]\n      exporters: [record]\n    logs/b:\n      receivers: [forward/ab]\n      exporters: [forward/bc]\n    logs/a:\n      receivers: [test]\n      exporters: [forward/ab]\n";

fn logs(records: usize) -> Payload {
    Payload::Logs(ExportLogsServiceRequest {
        resource_logs: vec![ResourceLogs {
            scope_logs: vec![ScopeLogs {
                log_records: vec![LogRecord::default(); records],
                ..Default::default()
            }],
            ..Default::default()
        }],
    })
}

fn output(probes: &Probes) -> Output {
    let outputs = probes.outputs.lock().unwrap();
    outputs.as_ref().expect("the receiver started")[&Signal::Logs].clone()
}

async fn eventually(what: &str, condition: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while !condition() {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

fn shutdown_deadline() -> Instant {
    Instant::now() + Duration::from_secs(5)
}

#[test]
fn pipelines_are_ordered_upstream_first_through_connectors() {
    let order: Vec<String> = dependency_order(&config(CHAIN))
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(order, ["logs/a", "logs/b", "logs/c"]);
}

#[test]
fn unlinked_pipelines_keep_config_order() {
    let yaml = CHAIN
        .replace("receivers: [forward/bc]", "receivers: [test]")
        .replace("exporters: [forward/bc]", "exporters: [record]");
    let order: Vec<String> = dependency_order(&config(&yaml))
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(order, ["logs/c", "logs/a", "logs/b"], "only a feeds b");
}

#[tokio::test]
async fn data_flows_through_connectors_and_pipelines_start_upstream_first() {
    let probes = Probes::default();
    let topology = Topology::start(
        &config(CHAIN),
        &registry(&probes, 0),
        SelfMetrics::new(),
        TapRegistry::new(),
    )
    .await
    .unwrap();
    let names: Vec<&str> = topology.pipelines.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["logs/a", "logs/b", "logs/c"]);
    assert_eq!(topology.queues.len(), 1);

    let (token, waiter) = ack_pair();
    output(&probes)
        .send(Message::new(logs(2), Acks::one(token)))
        .unwrap();
    assert_eq!(waiter.wait().await, Ok(()), "acknowledged once queued");
    eventually("the exporter got the data", || {
        probes.exported.lock().unwrap().len() == 1
    })
    .await;
    assert_eq!(probes.exported.lock().unwrap()[0], logs(2));
    topology.drain(shutdown_deadline()).await;
}

#[tokio::test]
async fn connector_output_is_refused_while_the_downstream_budget_is_full() {
    let yaml = "receivers:\n  test:\nprocessors:\n  hold:\nexporters:\n  record:\nconnectors:\n  forward:\nservice:\n  pipelines:\n    logs/in:\n      receivers: [test]\n      exporters: [forward]\n    logs/out:\n      receivers: [forward]\n      processors: [hold]\n      exporters: [record]\n";
    let size = logs(1).encoded_len();
    let probes = Probes::default();
    let topology = Topology::start(
        &config(yaml),
        &registry(&probes, size),
        SelfMetrics::new(),
        TapRegistry::new(),
    )
    .await
    .unwrap();
    let budget = probes.budget.lock().unwrap().clone().unwrap();
    let output = output(&probes);
    assert!(output.budgets.is_empty(), "the receiver feeds no budget");

    let (first, first_waiter) = ack_pair();
    output
        .send(Message::new(logs(1), Acks::one(first)))
        .unwrap();
    eventually("the connector output paid the budget", || {
        budget.used() == size
    })
    .await;
    let (second, second_waiter) = ack_pair();
    // `logs/in` has no processors, so the connector is reached from the sender's own
    // task and its refusal comes back at once, as well as through the acks.
    let refusal = output
        .send(Message::new(logs(1), Acks::one(second)))
        .unwrap_err();
    assert_eq!(refusal.kind, RefusalKind::Capacity, "{refusal}");
    let refusal = second_waiter.wait().await.unwrap_err();
    assert_eq!(refusal.kind, RefusalKind::Capacity, "{refusal}");

    // Shutdown flushes what `hold` kept into the exporter queue, which releases it.
    topology.drain(shutdown_deadline()).await;
    assert_eq!(first_waiter.wait().await, Ok(()));
    assert_eq!(budget.used(), 0);
    assert_eq!(probes.exported.lock().unwrap().len(), 1);
}

/// Takes shared records only: a copy through the default `export` would fail the test.
struct SharedOnly(Mutex<Vec<Arc<sentinel_pipeline::Held>>>);

#[async_trait]
impl Exporter for SharedOnly {
    async fn export(&self, _: Payload) -> Result<(), ExportError> {
        panic!("the records were copied instead of shared");
    }

    async fn export_shared(
        &self,
        batch: sentinel_pipeline::SharedBatch,
    ) -> Result<(), ExportError> {
        let mut got = self.0.lock().unwrap();
        got.extend(batch.records.into_iter().map(|r| r.data));
        Ok(())
    }

    fn takes_encoded(&self) -> bool {
        true
    }
}

#[tokio::test]
async fn the_swappable_exporter_hands_shared_records_on_without_copying() {
    let inner = Arc::new(SharedOnly(Mutex::default()));
    let swap = super::swap::SwapExporter::new(inner.clone());
    let payload = Arc::new(sentinel_pipeline::Held::Decoded(logs(3)));
    let record = sentinel_pipeline::SharedRecord {
        seq: 0,
        data: payload.clone(),
    };
    let batch = sentinel_pipeline::SharedBatch {
        queue_id: 0,
        records: vec![record],
    };
    assert!(swap.takes_encoded(), "forwarded too");
    swap.export_shared(batch).await.unwrap();
    let got = inner.0.lock().unwrap();
    assert!(Arc::ptr_eq(&got[0], &payload), "the very same record");
}
