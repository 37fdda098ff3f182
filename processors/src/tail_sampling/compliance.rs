use sentinel_pipeline::testing::ProcessorCompliance;
use sentinel_pipeline::Signal;

use super::TailSamplingFactory;

#[tokio::test]
async fn tail_sampling_decides_what_it_holds_at_shutdown() {
    // decision_wait is far off: everything is still held when the pipeline stops, and
    // the flush decides it (always_sample: all of it goes on).
    ProcessorCompliance::new(
        &TailSamplingFactory,
        "policies: [{name: all, type: always_sample}]",
        Signal::Traces,
    )
    .acknowledges_on_hold()
    .expect_sent(30)
    .run()
    .await;
}

#[tokio::test]
async fn tail_sampling_counts_traces_not_sampled_as_dropped() {
    // The sample spans carry no error status.
    ProcessorCompliance::new(
        &TailSamplingFactory,
        "policies: [{name: errors, type: status_code, status_code: {status_codes: [ERROR]}}]",
        Signal::Traces,
    )
    .acknowledges_on_hold()
    .expect_sent(0)
    .expect_dropped(30)
    .run()
    .await;
}

#[tokio::test]
async fn tail_sampling_can_drop_what_is_pending_at_shutdown() {
    ProcessorCompliance::new(
        &TailSamplingFactory,
        "drop_pending_traces_on_shutdown: true\npolicies: [{name: all, type: always_sample}]",
        Signal::Traces,
    )
    .acknowledges_on_hold()
    .expect_sent(0)
    .expect_dropped(30)
    .run()
    .await;
}
