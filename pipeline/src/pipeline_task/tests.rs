use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::PassedStage;
use super::*;
use crate::otlp::collector::logs::v1::ExportLogsServiceRequest;
use crate::otlp::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
use crate::testing::component_counts;
use crate::{ack_pair, Acks, Kind, Payload, RefusalKind, SelfMetrics, Signal};

/// Stands for the exporter queues: keeps what it is given.
#[derive(Default)]
struct Exported(Mutex<Vec<Message>>);

impl Exported {
    fn count(&self) -> usize {
        self.0.lock().unwrap().len()
    }
}

impl Consumer for Exported {
    fn consume(&self, msg: Message) -> Result<(), Refusal> {
        self.0.lock().unwrap().push(msg);
        Ok(())
    }
}

struct FullQueue;

impl Consumer for FullQueue {
    fn consume(&self, _: Message) -> Result<(), Refusal> {
        Err(Refusal::capacity("queue full"))
    }
}

type Journal = Arc<Mutex<Vec<&'static str>>>;

/// Notes its name in the journal and emits `copies` copies of each message.
struct Copy {
    name: &'static str,
    copies: usize,
    journal: Journal,
}

impl Processor for Copy {
    fn process(&mut self, msg: Message, out: &mut Vec<Message>) {
        self.journal.lock().unwrap().push(self.name);
        out.extend(std::iter::repeat_n(msg, self.copies));
    }
}

/// Holds everything until `delay` after the first message it holds, or until flushed.
struct Delay {
    delay: Option<Duration>,
    held: Vec<Message>,
    due: Option<Instant>,
}

impl Delay {
    fn new(delay: Option<Duration>) -> Box<Delay> {
        Box::new(Delay {
            delay,
            held: Vec::new(),
            due: None,
        })
    }
}

impl Processor for Delay {
    fn process(&mut self, msg: Message, _: &mut Vec<Message>) {
        if self.due.is_none() {
            self.due = self.delay.map(|d| Instant::now() + d);
        }
        self.held.push(msg);
    }
    fn deadline(&self) -> Option<Instant> {
        self.due
    }
    fn on_deadline(&mut self, _: Instant, out: &mut Vec<Message>) {
        self.due = None;
        out.append(&mut self.held);
    }
    fn flush(&mut self, out: &mut Vec<Message>) {
        out.append(&mut self.held);
    }
}

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

/// A pipeline `logs` of the given stages, exporting to `exporter`.
fn pipeline(
    stages: Vec<(&str, Box<dyn Processor>)>,
    exporter: Arc<dyn Consumer>,
) -> (PipelineInput, PipelineTask, Arc<SelfMetrics>) {
    let metrics = SelfMetrics::new();
    let (sender, input) = mpsc::channel(PIPELINE_INPUT_CAPACITY);
    let stages = stages
        .into_iter()
        .map(|(id, processor)| Stage {
            processor,
            metrics: metrics.component(Kind::Processor, id, Signal::Logs),
        })
        .collect();
    let downstream = Arc::new(Downstream::default());
    let task = PipelineTask {
        name: "logs".into(),
        input,
        stages,
        exporters: Fanout::new(vec![exporter]),
        downstream: downstream.clone(),
        stop: CancellationToken::new(),
    };
    let input = PipelineInput {
        name: "logs".into(),
        sender,
        downstream,
    };
    (input, task, metrics)
}

fn counts(metrics: &SelfMetrics, id: &str) -> (u64, u64) {
    let counts = component_counts(metrics, Kind::Processor, id, Signal::Logs);
    (counts.received, counts.sent)
}

#[tokio::test]
async fn stages_run_in_order_and_each_counts_what_it_took_and_gave() {
    let journal = Journal::default();
    let copy = |name, copies| -> Box<dyn Processor> {
        Box::new(Copy {
            name,
            copies,
            journal: journal.clone(),
        })
    };
    let exported = Arc::new(Exported::default());
    let (input, task, metrics) = pipeline(
        vec![("first", copy("first", 1)), ("second", copy("second", 2))],
        exported.clone(),
    );
    let stop = task.stop.clone();
    let running = tokio::spawn(task.run());
    input.consume(Message::unacked(logs(3))).unwrap();
    stop.cancel();
    running.await.unwrap();

    assert_eq!(*journal.lock().unwrap(), ["first", "second"]);
    assert_eq!(exported.count(), 2);
    assert_eq!(counts(&metrics, "first"), (3, 3));
    assert_eq!(counts(&metrics, "second"), (3, 6));
}

#[tokio::test]
async fn a_stage_that_emits_nothing_ends_the_message_there() {
    let journal = Journal::default();
    let exported = Arc::new(Exported::default());
    let drop_all = Box::new(Copy {
        name: "drop",
        copies: 0,
        journal: journal.clone(),
    });
    let after = Box::new(Copy {
        name: "after",
        copies: 1,
        journal: journal.clone(),
    });
    let (input, task, metrics) =
        pipeline(vec![("drop", drop_all), ("after", after)], exported.clone());
    let stop = task.stop.clone();
    let running = tokio::spawn(task.run());
    input.consume(Message::unacked(logs(2))).unwrap();
    stop.cancel();
    running.await.unwrap();

    assert_eq!(*journal.lock().unwrap(), ["drop"]);
    assert_eq!(exported.count(), 0);
    assert_eq!(counts(&metrics, "drop"), (2, 0));
    assert_eq!(counts(&metrics, "after"), (0, 0));
}

#[tokio::test(start_paused = true)]
async fn a_deadline_fires_and_sends_through_the_later_stages() {
    let journal = Journal::default();
    let exported = Arc::new(Exported::default());
    let after = Box::new(Copy {
        name: "after",
        copies: 1,
        journal: journal.clone(),
    });
    let (input, task, metrics) = pipeline(
        vec![
            ("delay", Delay::new(Some(Duration::from_secs(1)))),
            ("after", after),
        ],
        exported.clone(),
    );
    let stop = task.stop.clone();
    let running = tokio::spawn(task.run());
    input.consume(Message::unacked(logs(4))).unwrap();

    tokio::time::sleep(Duration::from_millis(999)).await;
    assert_eq!(exported.count(), 0, "held until its deadline");
    tokio::time::sleep(Duration::from_millis(2)).await;
    assert_eq!(exported.count(), 1);
    assert_eq!(*journal.lock().unwrap(), ["after"]);
    assert_eq!(counts(&metrics, "delay"), (4, 4));
    assert_eq!(counts(&metrics, "after"), (4, 4));
    stop.cancel();
    running.await.unwrap();
}

#[tokio::test]
async fn stop_drains_queued_input_flushes_stages_and_refuses_more() {
    let exported = Arc::new(Exported::default());
    let (input, task, metrics) = pipeline(vec![("hold", Delay::new(None))], exported.clone());
    // Queued before the task even runs: still delivered after stop.
    input.consume(Message::unacked(logs(1))).unwrap();
    input.consume(Message::unacked(logs(1))).unwrap();
    task.stop.cancel();
    task.run().await;

    assert_eq!(exported.count(), 2, "flushed on the way out");
    assert_eq!(counts(&metrics, "hold"), (2, 2));
    let refusal = input.consume(Message::unacked(logs(1))).unwrap_err();
    assert_eq!(refusal.kind, RefusalKind::Unavailable);
}

#[tokio::test]
async fn a_full_input_refuses_with_capacity() {
    let (input, _task, _) = pipeline(Vec::new(), Arc::new(Exported::default()));
    for _ in 0..PIPELINE_INPUT_CAPACITY {
        input.consume(Message::unacked(logs(1))).unwrap();
    }
    let refusal = input.consume(Message::unacked(logs(1))).unwrap_err();
    assert_eq!(refusal.kind, RefusalKind::Capacity);
}

#[tokio::test]
async fn an_exporter_refusal_refuses_the_client() {
    let (input, task, _) = pipeline(Vec::new(), Arc::new(FullQueue));
    let (token, waiter) = ack_pair();
    input
        .consume(Message::new(logs(1), Acks::one(token)))
        .unwrap();
    task.stop.cancel();
    task.run().await;
    assert_eq!(waiter.wait().await.unwrap_err().kind, RefusalKind::Capacity);
}

/// A pipeline without processors, routed directly as the topology does.
fn direct_pipeline(exporter: Arc<dyn Consumer>) -> (PipelineInput, PipelineTask) {
    let (input, task, _) = pipeline(Vec::new(), exporter.clone());
    input.downstream.set(&[exporter], Some(Vec::new()));
    (input, task)
}

#[tokio::test]
async fn without_processors_the_source_hands_data_straight_to_the_exporters() {
    let exported = Arc::new(Exported::default());
    let (input, task) = direct_pipeline(exported.clone());
    // The task is not running: only the direct route can deliver.
    input.consume(Message::unacked(logs(1))).unwrap();
    input.consume(Message::unacked(logs(1))).unwrap();
    assert_eq!(exported.count(), 2);
    // Nothing went through the channel, so it never fills.
    for _ in 0..PIPELINE_INPUT_CAPACITY + 1 {
        input.consume(Message::unacked(logs(1))).unwrap();
    }
    assert!(input.has_room(1).is_ok());

    task.stop.cancel();
    task.run().await;
    let refusal = input.consume(Message::unacked(logs(1))).unwrap_err();
    assert_eq!(refusal.kind, RefusalKind::Unavailable);
    assert_eq!(
        input.has_room(1).unwrap_err().kind,
        RefusalKind::Unavailable
    );
    assert_eq!(exported.count(), PIPELINE_INPUT_CAPACITY + 3);
    // The stopped pipeline let go of its exporter (a connector behind it can flush).
    assert_eq!(Arc::strong_count(&exported), 1);
}

#[tokio::test]
async fn a_direct_route_returns_the_exporters_refusal_to_the_source() {
    struct NoRoom;
    impl Consumer for NoRoom {
        fn has_room(&self, _: usize) -> Result<(), Refusal> {
            Err(Refusal::capacity("queue full"))
        }
        fn consume(&self, _: Message) -> Result<(), Refusal> {
            Err(Refusal::capacity("queue full"))
        }
    }
    let (input, _task) = direct_pipeline(Arc::new(NoRoom));
    assert_eq!(input.has_room(1).unwrap_err().kind, RefusalKind::Capacity);
    let refusal = input.consume(Message::unacked(logs(1))).unwrap_err();
    assert_eq!(refusal.kind, RefusalKind::Capacity);
}

/// Stands for an exporter queue that keeps requests encoded: notes which form it got.
#[derive(Default)]
struct KeepsEncoded {
    encoded: Mutex<Vec<crate::Encoded>>,
    decoded: Mutex<Vec<Payload>>,
}

impl Consumer for KeepsEncoded {
    fn consume(&self, msg: Message) -> Result<(), Refusal> {
        self.decoded.lock().unwrap().push(msg.payload);
        Ok(())
    }

    fn takes_encoded(&self, _: Signal) -> bool {
        true
    }

    fn consume_encoded(&self, msg: crate::EncodedMessage) -> Result<(), Refusal> {
        self.encoded.lock().unwrap().push(msg.request);
        Ok(())
    }
}

fn encoded_logs(records: usize) -> crate::EncodedMessage {
    use prost::Message as _;
    let Payload::Logs(request) = logs(records) else {
        unreachable!()
    };
    crate::EncodedMessage {
        request: crate::Encoded::new(Signal::Logs, request.encode_to_vec().into(), records),
        acks: Acks::none(),
    }
}

#[tokio::test]
async fn a_direct_route_keeps_requests_encoded_when_every_exporter_does() {
    let keeps = Arc::new(KeepsEncoded::default());
    let (input, _task) = direct_pipeline(keeps.clone());
    assert!(input.takes_encoded(Signal::Logs));
    input.consume_encoded(encoded_logs(2)).unwrap();
    let encoded = keeps.encoded.lock().unwrap();
    assert_eq!(encoded.len(), 1);
    assert_eq!(encoded[0].decode().unwrap(), logs(2));
    assert!(keeps.decoded.lock().unwrap().is_empty());

    // One exporter that needs decoded data beside it: the receiver must decode.
    let both: Arc<dyn Consumer> = Arc::new(Fanout::new(vec![
        keeps.clone(),
        Arc::new(Exported::default()),
    ]));
    let (mixed, _task) = direct_pipeline(both);
    assert!(!mixed.takes_encoded(Signal::Logs));
}

#[tokio::test]
async fn processors_get_an_encoded_request_decoded() {
    let keeps = Arc::new(KeepsEncoded::default());
    let journal = Journal::default();
    let copy = Box::new(Copy {
        name: "copy",
        copies: 1,
        journal: journal.clone(),
    });
    let (input, task, _) = pipeline(vec![("copy", copy)], keeps.clone());
    assert!(
        !input.takes_encoded(Signal::Logs),
        "a processor needs it decoded"
    );
    input.consume_encoded(encoded_logs(3)).unwrap();
    task.stop.cancel();
    task.run().await;
    assert_eq!(*journal.lock().unwrap(), ["copy"]);
    assert_eq!(*keeps.decoded.lock().unwrap(), [logs(3)]);
    assert!(keeps.encoded.lock().unwrap().is_empty());
}

/// Hands everything on unchanged, as `memory_limiter` does.
struct Unchanging;

impl Processor for Unchanging {
    fn process(&mut self, msg: Message, out: &mut Vec<Message>) {
        out.push(msg);
    }

    fn unchanged(&self) -> Option<crate::Unchanged> {
        Some(crate::Unchanged::default())
    }
}

#[tokio::test]
async fn stages_that_change_nothing_keep_the_route_direct_and_still_count() {
    let keeps = Arc::new(KeepsEncoded::default());
    let stages: Vec<(&str, Box<dyn Processor>)> = vec![("limiter", Box::new(Unchanging))];
    let (input, task, metrics) = pipeline(stages, keeps.clone());
    let passed = PassedStage::all(&task.stages);
    assert!(passed.is_some());
    let sink: Arc<dyn Consumer> = keeps.clone();
    input.downstream.set(std::slice::from_ref(&sink), passed);
    assert!(input.takes_encoded(Signal::Logs));
    input.consume_encoded(encoded_logs(2)).unwrap();
    input.consume(Message::unacked(logs(3))).unwrap();
    // The task never ran: both went straight to the exporter.
    assert_eq!(keeps.encoded.lock().unwrap().len(), 1);
    assert_eq!(keeps.decoded.lock().unwrap().len(), 1);
    assert_eq!(counts(&metrics, "limiter"), (5, 5));

    let journal = Journal::default();
    let changing: Vec<(&str, Box<dyn Processor>)> = vec![
        ("limiter", Box::new(Unchanging)),
        (
            "copy",
            Box::new(Copy {
                name: "copy",
                copies: 1,
                journal,
            }),
        ),
    ];
    let (_, task, _) = pipeline(changing, keeps);
    assert!(PassedStage::all(&task.stages).is_none());
}
