use sentinel_pipeline::otlp::common::v1::any_value::Value;
use sentinel_pipeline::testing::ProcessorCompliance;
use sentinel_pipeline::Signal;

use sentinel_pipeline::visit::for_each_item_attributes_mut;

use super::AttributesFactory;

const CONFIG: &str = "
actions:
  - key: deployment.environment
    value: production
    action: insert
  - key: sample.index
    action: delete
";

#[tokio::test]
async fn attributes_meets_the_processor_contract_and_changes_every_item() {
    for signal in Signal::ALL {
        let report = ProcessorCompliance::new(&AttributesFactory, CONFIG, signal)
            .expect_sent(30)
            .run()
            .await;
        let mut items = 0;
        for mut payload in report.delivered {
            for_each_item_attributes_mut(&mut payload, |attributes| {
                items += 1;
                let keys: Vec<&str> = attributes.iter().map(|kv| kv.key.as_str()).collect();
                assert_eq!(keys, ["deployment.environment"], "{signal}");
                let value = attributes[0].value.as_ref().and_then(|v| v.value.clone());
                assert_eq!(
                    value,
                    Some(Value::StringValue("production".into())),
                    "{signal}"
                );
            });
        }
        assert_eq!(items, 30, "{signal}: every item was changed");
    }
}
