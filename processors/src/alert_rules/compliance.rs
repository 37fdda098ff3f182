use sentinel_pipeline::testing::ConnectorCompliance;
use sentinel_pipeline::Signal;

use super::AlertRulesFactory;

#[tokio::test]
async fn alert_rules_meets_the_connector_contract() {
    // Evaluations run on the group's schedule (an hour here), not per request: the three
    // requests feed the window and nothing is emitted while they arrive. Emission and the
    // held-on-refusal path are tested in tests.rs.
    let config = "evaluation_interval: 1h\ngroups:\n  - name: g\n    rules:\n      - alert: Up\n        expr: vector(1)\n";
    ConnectorCompliance::new(&AlertRulesFactory, config, Signal::Metrics)
        .expect_sent(0)
        .run()
        .await;
}
