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
async fn dedup_drops_duplicate_spans_and_points() {
    for signal in [Signal::Traces, Signal::Metrics] {
        // Request 0 holds every item twice. (A request resent whole is dropped only once
        // the first copy was accepted downstream; the unit tests cover that, since the
        // contract's refusing run must count the same drops.)
        let mut doubled = sample(signal, 10, 0);
        doubled.append(sample(signal, 10, 0)).unwrap();
        let report = ProcessorCompliance::new(&DedupFactory, "", signal)
            .input(vec![doubled, sample(signal, 10, 1)])
            .expect_sent(20)
            .expect_dropped(10)
            .run()
            .await;
        assert_eq!(report.delivered.len(), 2, "{signal}");
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
