use std::time::Duration;

use sentinel_pipeline::{ack_pair, Acks, Message, Processor};
use tokio::time::Instant;

use super::*;
use crate::test_data::{gauges, span_names, spans};

fn batcher(size: usize, max: usize) -> Batcher {
    Batcher::new(BatchConfig {
        send_batch_size: size,
        send_batch_max_size: max,
        timeout: Duration::from_millis(200),
    })
}

#[test]
fn merges_until_the_size_is_reached() {
    let mut b = batcher(10, 0);
    let mut out = Vec::new();
    b.process(Message::unacked(spans("a", 4)), &mut out);
    b.process(Message::unacked(spans("b", 4)), &mut out);
    assert!(out.is_empty(), "8 < 10 items: still waiting");
    assert!(b.deadline().is_some());
    b.process(Message::unacked(spans("c", 4)), &mut out);
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].payload.item_count(), 12);
    assert_eq!(
        span_names(&out[0].payload)[..5],
        ["a0", "a1", "a2", "a3", "b0"]
    );
    assert!(b.deadline().is_none(), "nothing pending after sending");
}

#[test]
fn splits_above_the_max_keeping_every_span_exactly_once() {
    let mut b = batcher(10, 10);
    let mut out = Vec::new();
    b.process(Message::unacked(spans("a", 7)), &mut out);
    b.process(Message::unacked(spans("b", 18)), &mut out);
    let sizes: Vec<usize> = out.iter().map(|m| m.payload.item_count()).collect();
    assert_eq!(sizes, vec![10, 10, 5]);
    let names: Vec<String> = out.iter().flat_map(|m| span_names(&m.payload)).collect();
    let mut expected: Vec<String> = (0..7).map(|i| format!("a{i}")).collect();
    expected.extend((0..18).map(|i| format!("b{i}")));
    assert_eq!(names, expected);
}

#[test]
fn metrics_split_by_whole_metric() {
    let mut b = batcher(5, 5);
    let mut out = Vec::new();
    b.process(Message::unacked(gauges(4, 2)), &mut out);
    let sizes: Vec<usize> = out.iter().map(|m| m.payload.item_count()).collect();
    assert_eq!(sizes, vec![4, 4]);
}

#[test]
fn timeout_and_flush_emit_what_is_pending() {
    let mut b = batcher(100, 0);
    let mut out = Vec::new();
    let before = Instant::now();
    b.process(Message::unacked(spans("a", 3)), &mut out);
    let deadline = b.deadline().unwrap();
    assert!(deadline >= before + Duration::from_millis(200));
    b.on_deadline(deadline, &mut out);
    assert_eq!(out.len(), 1);
    b.process(Message::unacked(spans("b", 2)), &mut out);
    b.flush(&mut out);
    assert_eq!(out.len(), 2);
    assert_eq!(out[1].payload.item_count(), 2);
    b.flush(&mut out);
    assert_eq!(out.len(), 2, "flushing nothing emits nothing");
}

#[tokio::test]
async fn clients_are_answered_only_when_their_batch_is_accepted() {
    let mut b = batcher(100, 0);
    let mut out = Vec::new();
    let (t1, w1) = ack_pair();
    let (t2, w2) = ack_pair();
    b.process(Message::new(spans("a", 1), Acks::one(t1)), &mut out);
    b.process(Message::new(spans("b", 1), Acks::one(t2)), &mut out);
    let mut w1 = Box::pin(w1.wait());
    tokio::select! {
        _ = &mut w1 => panic!("acknowledged while still in the batch"),
        _ = tokio::time::sleep(Duration::from_millis(20)) => {}
    }
    b.flush(&mut out);
    assert_eq!(out.len(), 1);
    assert_eq!(
        out[0].acks.len(),
        2,
        "the batch carries both requests' acks"
    );
    drop(out);
    assert!(w1.await.is_ok());
    assert!(w2.wait().await.is_ok());
}
