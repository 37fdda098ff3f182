use sentinel_pipeline::testing::ProcessorCompliance;
use sentinel_pipeline::Signal;

use super::BatchFactory;

#[tokio::test]
async fn batch_meets_the_processor_contract() {
    for signal in Signal::ALL {
        // Larger than the input and a long timeout: only the flush at shutdown emits.
        let report =
            ProcessorCompliance::new(&BatchFactory, "send_batch_size: 100\ntimeout: 1h", signal)
                .expect_sent(30)
                .run()
                .await;
        let sizes: Vec<usize> = report.delivered.iter().map(|p| p.item_count()).collect();
        assert_eq!(sizes, [30], "{signal}: one batch, emitted by the flush");
    }
}

#[tokio::test]
async fn batch_emits_on_size_before_the_flush() {
    let report = ProcessorCompliance::new(
        &BatchFactory,
        "send_batch_size: 10\nsend_batch_max_size: 10\ntimeout: 1h",
        Signal::Traces,
    )
    .run()
    .await;
    let sizes: Vec<usize> = report.delivered.iter().map(|p| p.item_count()).collect();
    assert_eq!(sizes, [10, 10, 10]);
}
