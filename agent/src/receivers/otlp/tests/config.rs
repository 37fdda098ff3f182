//! Config decoding, the factory, and binding.

use sentinel_pipeline::config::decode_valid;
use sentinel_pipeline::{BuildError, Factory, ReceiverFactory, SelfMetrics, Signal};
use serde_json::json;
use tokio_util::sync::CancellationToken;

use super::super::{OtlpReceiver, OtlpReceiverConfig, OtlpReceiverFactory};
use super::support::*;

fn decode(value: serde_json::Value) -> Result<OtlpReceiverConfig, String> {
    decode_valid::<OtlpReceiverConfig>(&node(value)).map_err(|d| d[0].message.clone())
}

#[test]
fn an_empty_receiver_serves_both_protocols_with_defaults() {
    let config = decode(json!(null)).unwrap();
    let grpc = config.protocols.grpc.unwrap();
    let http = config.protocols.http.unwrap();
    assert_eq!(grpc.endpoint.as_str(), "127.0.0.1:4317");
    assert_eq!(grpc.max_recv_msg_size_mib, 4);
    assert_eq!(http.endpoint.as_str(), "127.0.0.1:4318");
    assert_eq!(http.max_request_body_size, 20 * 1024 * 1024);
    assert_eq!(decode(json!({})).unwrap(), decode(json!(null)).unwrap());
}

#[test]
fn only_the_listed_protocols_run() {
    let grpc_only = decode(json!({"protocols": {"grpc": null}})).unwrap();
    assert!(grpc_only.protocols.grpc.is_some());
    assert!(grpc_only.protocols.http.is_none());

    let http_only =
        decode(json!({"protocols": {"http": {"max_request_body_size": 1024}}})).unwrap();
    assert!(http_only.protocols.grpc.is_none());
    let http = http_only.protocols.http.unwrap();
    assert_eq!(http.max_request_body_size, 1024);
    assert_eq!(http.endpoint.as_str(), "127.0.0.1:4318");
}

#[test]
fn invalid_configs_are_refused_with_a_reason() {
    let unknown = decode(json!({"protocols": {"grpc": {"endpont": "0.0.0.0:4317"}}})).unwrap_err();
    assert!(unknown.contains("endpont"), "{unknown}");
    let bad_endpoint = decode(json!({"protocols": {"http": {"endpoint": "4318"}}})).unwrap_err();
    assert!(bad_endpoint.contains("host:port"), "{bad_endpoint}");
    let none = decode(json!({"protocols": {}})).unwrap_err();
    assert!(none.contains("at least one"), "{none}");
    let zero = decode(json!({"protocols": {"grpc": {"max_recv_msg_size_mib": 0}}})).unwrap_err();
    assert!(zero.contains("max_recv_msg_size_mib"), "{zero}");
    let same = json!({"protocols": {"grpc": {"endpoint": "127.0.0.1:9000"},
                                   "http": {"endpoint": "127.0.0.1:9000"}}});
    assert!(decode(same).unwrap_err().contains("both listen"));
}

#[test]
fn the_factory_prints_the_effective_config() {
    let factory = OtlpReceiverFactory;
    assert_eq!(factory.info().type_name, "otlp");
    assert_eq!(factory.info().signals, &Signal::ALL[..]);
    let effective = factory
        .check(&node(json!({"protocols": {"grpc": null}})))
        .unwrap();
    assert_eq!(
        effective,
        json!({"protocols": {"grpc": {
            "endpoint": "127.0.0.1:4317",
            "max_recv_msg_size_mib": 4,
            "max_concurrent_streams": 100,
            "connections": {
                "max": 1024,
                "idle_timeout": "1m",
                "read_header_timeout": "10s",
                "read_timeout": "1m"
            }
        }},
        "limits": {"max_items_per_request": 100000, "max_attributes_per_item": 4096,
                   "max_value_depth": 32}})
    );
    let secured = factory
        .check(&node(json!({"protocols": {"http": {
            "auth": {"bearer_token": "do-not-print"},
            "tls": {"cert_file": "/c.pem", "key_file": "/k.pem", "min_version": "1.3"}
        }}})))
        .unwrap();
    assert_eq!(
        secured["protocols"]["http"]["auth"],
        json!({"bearer_token": "[redacted]"})
    );
    assert_eq!(secured["protocols"]["http"]["tls"]["min_version"], "1.3");
    let old_tls = decode(json!({"protocols": {"http": {
        "tls": {"cert_file": "/c.pem", "key_file": "/k.pem", "min_version": "1.0"}
    }}}))
    .unwrap_err();
    assert!(
        old_tls.contains("protocols.http.tls.min_version"),
        "{old_tls}"
    );
}

#[tokio::test]
async fn the_factory_builds_a_receiver_that_listens() {
    let metrics = SelfMetrics::new();
    let shutdown = CancellationToken::new();
    let config = json!({"protocols": {"http": {"endpoint": "127.0.0.1:0"}}});
    let receiver = OtlpReceiverFactory
        .build(&node(config), context(&metrics, &shutdown))
        .unwrap();
    let outputs = [(Signal::Logs, Default::default())].into_iter().collect();
    let running = receiver.start(outputs).await.unwrap();
    // Self-metrics exist for the signals in use from the start, all at zero.
    let counts = sentinel_pipeline::testing::component_counts(
        &metrics,
        sentinel_pipeline::Kind::Receiver,
        ID,
        Signal::Logs,
    );
    assert_eq!(counts, Default::default());
    shutdown.cancel();
    tokio::time::timeout(PATIENCE, running.task)
        .await
        .unwrap()
        .unwrap();
}

#[tokio::test]
async fn a_port_in_use_fails_start_with_a_bind_error() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let mut config = config_on_free_ports(1024, 4);
    config.protocols.grpc.as_mut().unwrap().endpoint = endpoint(&format!("127.0.0.1:{port}"));
    let metrics = SelfMetrics::new();
    let shutdown = CancellationToken::new();
    let receiver = OtlpReceiver::new(config, context(&metrics, &shutdown));
    let outputs = [(Signal::Traces, Default::default())].into_iter().collect();

    let Err(error) = receiver.listen(outputs).await else {
        panic!("started on a port that is in use");
    };
    assert!(matches!(error, BuildError::Bind { .. }), "{error:?}");
    let message = error.to_string();
    assert!(message.contains(&format!("127.0.0.1:{port}")), "{message}");
    assert!(message.contains("protocols.grpc.endpoint"), "{message}");
}

#[tokio::test]
async fn bad_request_counters_are_shared_by_receivers_of_one_agent() {
    // Two receivers on one registry must not register the family twice.
    let metrics = SelfMetrics::new();
    let shutdown = CancellationToken::new();
    let mut contexts = Vec::new();
    for id in ["otlp", "otlp/second"] {
        let mut ctx = context(&metrics, &shutdown);
        ctx.id = id.to_string();
        contexts.push(ctx);
    }
    let mut running = Vec::new();
    for ctx in contexts {
        let receiver = OtlpReceiver::new(config_on_free_ports(1024, 4), ctx);
        let outputs = [(Signal::Traces, Default::default())].into_iter().collect();
        running.push(receiver.listen(outputs).await.unwrap().1);
    }
    let text = metrics.encode();
    assert_eq!(
        text.matches("# TYPE sentinel_receiver_bad_requests counter")
            .count(),
        1,
        "{text}"
    );
    assert!(text.contains("component_id=\"otlp/second\""));
    shutdown.cancel();
    for r in running {
        tokio::time::timeout(PATIENCE, r.task)
            .await
            .unwrap()
            .unwrap();
    }
}
