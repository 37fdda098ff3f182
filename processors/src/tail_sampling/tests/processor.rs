//! The processor in its pipeline stage: acknowledgements and self-metrics.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use sentinel_pipeline::{
    ack_pair, Acks, BuildContext, Message, Payload, ProcessorFactory, SelfMetrics, Signal,
};
use tokio_util::sync::CancellationToken;

use super::super::TailSamplingFactory;
use sentinel_pipeline::otlp::trace::v1::Span;

use super::{request, span, with_error};

const KEEP_ALL: &str = "decision_wait: 1s\npolicies: [{name: all, type: always_sample}]";

/// The processor built as the runtime builds it, over a scratch data directory that is
/// removed with it.
struct Harness {
    stage: Box<dyn sentinel_pipeline::Processor>,
    metrics: Arc<SelfMetrics>,
    dir: PathBuf,
}

impl Harness {
    fn new(name: &str, yaml: &str) -> Harness {
        Harness::in_dir(sentinel_pipeline::testing::scratch_dir(name), yaml)
    }

    fn in_dir(dir: PathBuf, yaml: &str) -> Harness {
        let metrics = SelfMetrics::new();
        let ctx = BuildContext {
            id: "tail_sampling".into(),
            metrics: metrics.clone(),
            shutdown: CancellationToken::new(),
            data_dir: dir.clone(),
        };
        let stage = TailSamplingFactory
            .build(
                &sentinel_pipeline::testing::snippet(yaml),
                Signal::Traces,
                ctx,
            )
            .expect("builds")
            .stage;
        Harness {
            stage,
            metrics,
            dir,
        }
    }

    /// Holds `spans` (no client waiting) and lets their decision fall due: what the
    /// processor hands on.
    fn decide(&mut self, spans: Vec<Span>) -> Vec<Message> {
        let mut out = Vec::new();
        let msg = Message::unacked(Payload::Traces(request(spans)));
        self.stage.process(msg, &mut out);
        assert!(out.is_empty(), "held until decided");
        let later = tokio::time::Instant::now() + Duration::from_secs(2);
        self.stage.on_deadline(later, &mut out);
        out
    }
}

impl Drop for Harness {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

#[tokio::test]
async fn a_client_is_answered_once_its_spans_are_held_not_after_decision_wait() {
    let mut h = Harness::new(
        "tail-acks",
        "decision_wait: 1h\npolicies: [{name: e, type: status_code, status_code: {status_codes: [ERROR]}}]",
    );
    let (token, waiter) = ack_pair();
    let mut out = Vec::new();
    h.stage.process(
        Message::new(
            Payload::Traces(request(vec![with_error(span(1, 0, 0, 1))])),
            Acks::one(token),
        ),
        &mut out,
    );
    assert!(out.is_empty(), "held, not passed on");
    let answered = tokio::time::timeout(Duration::from_millis(100), waiter.wait()).await;
    assert!(matches!(answered, Ok(Ok(()))), "{answered:?}");
    let exposition = h.metrics.encode();
    assert!(exposition.contains("component_queue_size{component_kind=\"processor\",component_id=\"tail_sampling\",signal=\"traces\"} 1"), "{exposition}");
    // Spans of a trace already sampled carry the client's acknowledgement downstream.
    h.stage.flush(&mut out);
    assert_eq!(out.len(), 1);
    let (token, waiter) = ack_pair();
    let mut passed = Vec::new();
    h.stage.process(
        Message::new(
            Payload::Traces(request(vec![span(1, 1, 1, 2)])),
            Acks::one(token),
        ),
        &mut passed,
    );
    assert_eq!(passed.len(), 1);
    assert_eq!(
        passed[0].acks.len(),
        1,
        "the late span travels with its client's ack"
    );
    drop(passed);
    assert!(matches!(waiter.wait().await, Ok(())));
}

#[tokio::test]
async fn spans_pending_at_a_kill_are_counted_on_the_next_start() {
    let dir = sentinel_pipeline::testing::scratch_dir("tail-ledger");
    let ledger = dir.join("tail_sampling/tail_sampling.0.pending");
    std::fs::create_dir_all(ledger.parent().unwrap()).unwrap();
    // What a killed run left behind.
    std::fs::write(&ledger, "spans=42 traces=5\n").unwrap();
    let mut h = Harness::in_dir(dir, "policies: [{name: a, type: always_sample}]");
    let exposition = h.metrics.encode();
    assert!(
        exposition.contains(
            "tail_sampling_lost_on_restart_spans_total{component_id=\"tail_sampling\"} 42"
        ),
        "{exposition}"
    );
    assert_eq!(
        std::fs::read_to_string(&ledger).unwrap(),
        "spans=0 traces=0\n"
    );
    // While spans are held the ledger says so; a clean flush brings it back to zero.
    let mut out = Vec::new();
    h.stage.process(
        Message::unacked(Payload::Traces(request(vec![
            span(1, 0, 0, 1),
            span(2, 0, 0, 1),
        ]))),
        &mut out,
    );
    assert_eq!(
        std::fs::read_to_string(&ledger).unwrap(),
        "spans=2 traces=2\n"
    );
    h.stage.flush(&mut out);
    assert_eq!(
        std::fs::read_to_string(&ledger).unwrap(),
        "spans=0 traces=0\n"
    );
}

#[tokio::test]
async fn a_kept_trace_the_downstream_refuses_is_sent_again() {
    let mut h = Harness::new("tail-resend", KEEP_ALL);
    let mut out = h.decide(vec![span(1, 0, 0, 1), span(1, 1, 0, 2)]);
    assert_eq!(out.len(), 1, "the trace is decided and handed on");
    // The exporter queue refuses it.
    let refused = out.pop().unwrap();
    refused
        .acks
        .refuse(&sentinel_pipeline::Refusal::capacity("queue full"));
    drop(refused);
    // The answer is read on the next deadline, and the trace waits a second to go again.
    let deadline = h.stage.deadline().expect("a check of the answer is due");
    h.stage.on_deadline(deadline, &mut out);
    assert!(out.is_empty(), "not before its second is up");
    let exposition = h.metrics.encode();
    assert!(
        exposition.contains("component_queue_size{component_kind=\"processor\",component_id=\"tail_sampling\",signal=\"traces\"} 2"),
        "{exposition}"
    );
    assert!(
        exposition.contains("tail_sampling_refused_spans_total{component_id=\"tail_sampling\"} 2"),
        "{exposition}"
    );
    let resend_at = h.stage.deadline().expect("a re-send is due");
    h.stage.on_deadline(resend_at, &mut out);
    assert_eq!(out.len(), 1, "sent again");
    assert_eq!(out[0].payload.item_count(), 2, "the whole trace");
    // This time it is taken: nothing is held any more.
    out.clear();
    h.stage
        .on_deadline(resend_at + Duration::from_secs(2), &mut out);
    assert!(out.is_empty());
    assert_eq!(
        h.stage.deadline(),
        None,
        "nothing left to decide, send or check"
    );
}

#[tokio::test]
async fn an_unanswered_hand_off_is_checked_again_a_second_later_not_at_once() {
    let mut h = Harness::new("tail-held", KEEP_ALL);
    let mut out = h.decide(vec![span(1, 0, 0, 1)]);
    // A later stage (a batch) holds the message: no answer yet.
    let held = out.pop().unwrap();
    let check = h.stage.deadline().expect("the answer is checked later");
    h.stage.on_deadline(check, &mut out);
    let next = h.stage.deadline().expect("still unanswered");
    assert!(
        next > check,
        "the next check is later, so the pipeline does not spin"
    );
    drop(held);
    h.stage.on_deadline(next, &mut out);
    assert_eq!(h.stage.deadline(), None);
}
