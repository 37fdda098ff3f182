use sentinel_pipeline::testing::{sample, ProcessorCompliance};
use sentinel_pipeline::Signal;

use super::DedupFactory;

#[tokio::test]
async fn dedup_meets_the_processor_contract_with_distinct_input() {
    for signal in Signal::ALL {
        // Thirty distinct items: all pass; logs wait for the flush at shutdown.
        ProcessorCompliance::new(&DedupFactory, "", signal)
            .expect_sent(30)
            .run()
            .await;
    }
}

#[tokio::test]
async fn dedup_drops_a_resent_request_of_spans_and_points() {
    for signal in [Signal::Traces, Signal::Metrics] {
        // Request 0 arrives twice, as after an upstream retry.
        let input = vec![
            sample(signal, 10, 0),
            sample(signal, 10, 1),
            sample(signal, 10, 0),
        ];
        let report = ProcessorCompliance::new(&DedupFactory, "", signal)
            .input(input)
            .expect_sent(20)
            .expect_dropped(10)
            .run()
            .await;
        assert_eq!(
            report.delivered.len(),
            2,
            "{signal}: the resent request is gone"
        );
    }
}

#[tokio::test]
async fn dedup_gathers_resent_log_records_into_one_record_each() {
    let input = vec![sample(Signal::Logs, 10, 0); 3];
    let report = ProcessorCompliance::new(&DedupFactory, "interval: 1h", Signal::Logs)
        .input(input)
        .expect_sent(10)
        .expect_dropped(20)
        .run()
        .await;
    assert_eq!(
        report.delivered.len(),
        1,
        "one request, emitted by the flush"
    );
}
