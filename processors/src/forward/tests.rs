use std::sync::Arc;

use sentinel_pipeline::testing::component_counts;
use sentinel_pipeline::SelfMetrics;
use tokio_util::sync::CancellationToken;

use super::tests_support::{outputs, Recorder};
use super::*;
use crate::test_data::{span_names, spans};

fn ctx(metrics: &Arc<SelfMetrics>) -> BuildContext {
    BuildContext {
        id: "forward/x".into(),
        metrics: metrics.clone(),
        shutdown: CancellationToken::new(),
        data_dir: std::env::temp_dir(),
    }
}

#[test]
fn forwards_unchanged_and_reports_metrics() {
    let metrics = SelfMetrics::new();
    let node = Node::empty_map(sentinel_pipeline::config::Span::unknown());
    let forward = ForwardFactory.build(&node, ctx(&metrics)).unwrap();
    let recorder = Arc::new(Recorder::default());
    forward
        .consume(
            Message::unacked(spans("s", 3)),
            &outputs(Signal::Traces, recorder.clone()),
        )
        .unwrap();
    let seen = recorder.seen.lock().unwrap();
    assert_eq!(span_names(&seen[0].payload), ["s0", "s1", "s2"]);
    let counts = component_counts(&metrics, Kind::Connector, "forward/x", Signal::Traces);
    assert_eq!((counts.received, counts.sent, counts.refused), (3, 3, 0));
}

#[test]
fn a_refusal_downstream_goes_back_upstream() {
    let metrics = SelfMetrics::new();
    let node = Node::empty_map(sentinel_pipeline::config::Span::unknown());
    let forward = ForwardFactory.build(&node, ctx(&metrics)).unwrap();
    let recorder = Arc::new(Recorder {
        refuse: true,
        ..Default::default()
    });
    let result = forward.consume(
        Message::unacked(spans("s", 2)),
        &outputs(Signal::Traces, recorder),
    );
    assert!(result.is_err());
    let counts = component_counts(&metrics, Kind::Connector, "forward/x", Signal::Traces);
    assert_eq!((counts.received, counts.sent, counts.refused), (2, 0, 2));
}
