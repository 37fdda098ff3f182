use sentinel_pipeline::otlp::common::v1::any_value::Value;
use sentinel_pipeline::testing::ProcessorCompliance;
use sentinel_pipeline::{Payload, Signal};

use super::detect::os_hostname;
use super::ResourceDetectionFactory;

const CONFIG: &str = "
detectors: [system]
system:
  hostname_sources: [os]
";

fn host_names(payload: &Payload) -> Vec<Option<Value>> {
    let resources: Vec<_> = match payload {
        Payload::Traces(req) => req.resource_spans.iter().map(|r| &r.resource).collect(),
        Payload::Metrics(req) => req.resource_metrics.iter().map(|r| &r.resource).collect(),
        Payload::Logs(req) => req.resource_logs.iter().map(|r| &r.resource).collect(),
    };
    resources
        .into_iter()
        .map(|r| {
            let attrs = r.as_ref().map(|r| r.attributes.clone()).unwrap_or_default();
            let kv = attrs.into_iter().find(|kv| kv.key == "host.name")?;
            kv.value.and_then(|v| v.value)
        })
        .collect()
}

#[tokio::test]
async fn resourcedetection_meets_the_processor_contract_and_names_the_host() {
    let expected = Some(Value::StringValue(os_hostname().expect("gethostname")));
    for signal in Signal::ALL {
        let report = ProcessorCompliance::new(&ResourceDetectionFactory, CONFIG, signal)
            .expect_sent(30)
            .run()
            .await;
        let names: Vec<_> = report.delivered.iter().flat_map(host_names).collect();
        assert_eq!(names.len(), 3, "{signal}: one resource per request");
        assert!(names.iter().all(|n| *n == expected), "{signal}: {names:?}");
    }
}
