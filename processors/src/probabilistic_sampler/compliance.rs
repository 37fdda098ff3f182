use sentinel_pipeline::testing::ProcessorCompliance;
use sentinel_pipeline::{Payload, Signal};

use super::ProbabilisticSamplerFactory;

/// Every kept span carries the threshold it was kept at.
fn trace_states(payloads: &[Payload]) -> Vec<String> {
    payloads
        .iter()
        .flat_map(|payload| match payload {
            Payload::Traces(req) => req.resource_spans.as_slice(),
            _ => &[],
        })
        .flat_map(|r| &r.scope_spans)
        .flat_map(|s| &s.spans)
        .map(|s| s.trace_state.clone())
        .collect()
}

#[tokio::test]
async fn probabilistic_sampler_keeps_everything_at_100_percent() {
    let report = ProcessorCompliance::new(
        &ProbabilisticSamplerFactory,
        "sampling_percentage: 100",
        Signal::Traces,
    )
    .expect_sent(30)
    .run()
    .await;
    assert_eq!(trace_states(&report.delivered), vec!["ot=th:0"; 30]);
}

#[tokio::test]
async fn probabilistic_sampler_counts_spans_sampled_out_as_dropped() {
    // The sample trace IDs' low 56 bits are 1 to 10: below a 50% threshold.
    ProcessorCompliance::new(
        &ProbabilisticSamplerFactory,
        "sampling_percentage: 50",
        Signal::Traces,
    )
    .expect_sent(0)
    .expect_dropped(30)
    .run()
    .await;
}

#[tokio::test]
async fn probabilistic_sampler_drops_log_records_without_randomness_when_failing_closed() {
    // The sample log records have no trace ID.
    ProcessorCompliance::new(
        &ProbabilisticSamplerFactory,
        "sampling_percentage: 50",
        Signal::Logs,
    )
    .expect_sent(0)
    .expect_dropped(30)
    .run()
    .await;
    ProcessorCompliance::new(
        &ProbabilisticSamplerFactory,
        "sampling_percentage: 50\nfail_closed: false",
        Signal::Logs,
    )
    .expect_sent(30)
    .run()
    .await;
}
