use sentinel_pipeline::otlp::common::v1::any_value::Value;
use sentinel_pipeline::otlp::common::v1::KeyValue;
use sentinel_pipeline::testing::ProcessorCompliance;
use sentinel_pipeline::{Payload, Signal};

use super::ResourceFactory;

const CONFIG: &str = "
attributes:
  - key: host.name
    value: node-1
    action: upsert
  - key: service.name
    action: delete
";

fn resource_attributes(payload: &Payload) -> Vec<Vec<KeyValue>> {
    let resources = match payload {
        Payload::Traces(req) => req.resource_spans.iter().map(|r| &r.resource).collect(),
        Payload::Metrics(req) => req.resource_metrics.iter().map(|r| &r.resource).collect(),
        Payload::Logs(req) => req
            .resource_logs
            .iter()
            .map(|r| &r.resource)
            .collect::<Vec<_>>(),
    };
    resources
        .into_iter()
        .map(|r| r.as_ref().map(|r| r.attributes.clone()).unwrap_or_default())
        .collect()
}

#[tokio::test]
async fn resource_meets_the_processor_contract_and_changes_every_resource() {
    for signal in Signal::ALL {
        let report = ProcessorCompliance::new(&ResourceFactory, CONFIG, signal)
            .expect_sent(30)
            .run()
            .await;
        let resources: Vec<Vec<KeyValue>> = report
            .delivered
            .iter()
            .flat_map(resource_attributes)
            .collect();
        assert_eq!(resources.len(), 3, "{signal}: one resource per request");
        for attributes in resources {
            let keys: Vec<&str> = attributes.iter().map(|kv| kv.key.as_str()).collect();
            assert_eq!(keys, ["host.name"], "{signal}: service.name deleted");
            let value = attributes[0].value.as_ref().and_then(|v| v.value.clone());
            assert_eq!(value, Some(Value::StringValue("node-1".into())), "{signal}");
        }
    }
}
