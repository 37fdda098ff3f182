use sentinel_pipeline::testing::{sample, ProcessorCompliance};
use sentinel_pipeline::Signal;

use super::MemoryLimiterFactory;

#[tokio::test]
async fn memory_limiter_meets_the_processor_contract() {
    for signal in Signal::ALL {
        // The budget is charged by receivers; in the pipeline the stage passes data on
        // untouched, whatever the limit.
        let report = ProcessorCompliance::new(&MemoryLimiterFactory, "limit_mib: 1", signal)
            .expect_sent(30)
            .run()
            .await;
        let expected: Vec<_> = (0..3).map(|seed| sample(signal, 10, seed)).collect();
        assert_eq!(report.delivered, expected, "{signal}: passed on unchanged");
    }
}
