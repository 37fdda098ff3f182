use std::time::Duration;

use std::collections::BTreeMap;

use opentelemetry_proto::tonic::common::v1::any_value;
use opentelemetry_proto::tonic::metrics::v1::{metric::Data, number_data_point, Metric};
use sentinel_pipeline::config::ComponentConfig;

use super::config::{TcpCheckConfig, TcpTarget};
use super::scraper::{probe, TcpCheckScraper};
use crate::receivers::compliance_client::free_port;
use crate::receivers::scrape::Scraper;

fn target(endpoint: &str) -> TcpTarget {
    TcpTarget {
        endpoint: sentinel_pipeline::config::Endpoint::new(endpoint).unwrap(),
        timeout: Duration::from_secs(5),
    }
}

/// One data point, read back: its attributes (strings as they are, numbers in decimal,
/// arrays joined by commas) and its integer value.
#[derive(Debug, Clone)]
pub struct Point {
    pub attributes: BTreeMap<String, String>,
    pub value: i64,
}

impl Point {
    pub fn get(&self, key: &str) -> &str {
        self.attributes.get(key).map_or("", String::as_str)
    }
}

fn render(value: &any_value::Value) -> String {
    match value {
        any_value::Value::StringValue(s) => s.clone(),
        any_value::Value::IntValue(i) => i.to_string(),
        any_value::Value::BoolValue(b) => b.to_string(),
        any_value::Value::ArrayValue(array) => array
            .values
            .iter()
            .filter_map(|v| v.value.as_ref().map(render))
            .collect::<Vec<_>>()
            .join(","),
        other => format!("{other:?}"),
    }
}

/// Every point of the metric `name` (none when the metric is absent).
pub fn points(metrics: &[Metric], name: &str) -> Vec<Point> {
    let Some(metric) = metrics.iter().find(|m| m.name == name) else {
        return Vec::new();
    };
    let data_points = match &metric.data {
        Some(Data::Gauge(g)) => &g.data_points,
        Some(Data::Sum(s)) => &s.data_points,
        _ => panic!("{name}: a gauge or sum"),
    };
    data_points
        .iter()
        .map(|p| Point {
            attributes: p
                .attributes
                .iter()
                .filter_map(|kv| Some((kv.key.clone(), render(kv.value.as_ref()?.value.as_ref()?))))
                .collect(),
            value: match p.value {
                Some(number_data_point::Value::AsInt(v)) => v,
                _ => panic!("{name}: an int point"),
            },
        })
        .collect()
}

#[tokio::test]
async fn an_open_port_is_up_and_a_closed_one_is_refused_and_counted() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let open = format!("127.0.0.1:{}", listener.local_addr().unwrap().port());
    let closed = format!("127.0.0.1:{}", free_port());
    let config = TcpCheckConfig {
        targets: vec![target(&open), target(&closed)],
        ..TcpCheckConfig::default()
    };
    let mut scraper = TcpCheckScraper::new(config);
    let mut last = Vec::new();
    for _ in 0..2 {
        last = scraper.scrape().await.unwrap();
    }
    let metrics = &last[0].scope_metrics[0].metrics;
    let status = points(metrics, "tcpcheck.status");
    assert_eq!(status.len(), 2);
    assert_eq!(status[0].get("tcpcheck.endpoint"), open);
    assert_eq!(status[0].value, 1);
    assert_eq!(status[1].get("tcpcheck.endpoint"), closed);
    assert_eq!(status[1].value, 0);
    let duration = points(metrics, "tcpcheck.duration");
    assert_eq!(duration.len(), 1, "only the open port has a connect time");
    assert_eq!(duration[0].get("tcpcheck.endpoint"), open);
    let errors = points(metrics, "tcpcheck.error");
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert_eq!(errors[0].get("tcpcheck.endpoint"), closed);
    assert_eq!(errors[0].get("error.code"), "connection_refused");
    assert_eq!(errors[0].value, 2, "cumulative: two refused rounds");
}

#[tokio::test]
async fn a_listener_that_takes_no_more_connections_times_out() {
    // Linux drops SYNs while a listener's accept queue is full, so once the queue of a
    // never-accepting listener is filled a further connect hangs until the probe's
    // timeout.
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let listener = socket.listen(0).unwrap();
    let address = listener.local_addr().unwrap();
    let mut held = Vec::new();
    for _ in 0..4 {
        let filling = tokio::net::TcpStream::connect(address);
        if let Ok(Ok(stream)) = tokio::time::timeout(Duration::from_millis(200), filling).await {
            held.push(stream);
        }
    }
    let mut stalled = target(&address.to_string());
    stalled.timeout = Duration::from_millis(300);
    let outcome = probe(&stalled).await;
    assert_eq!(
        outcome.result,
        Err("connection_timeout"),
        "{} held",
        held.len()
    );
}

#[test]
fn a_config_needs_targets_and_a_positive_timeout() {
    let error = TcpCheckConfig::default().validate().unwrap_err();
    assert!(error.to_string().contains("targets"), "{error}");
    let mut zero = target("127.0.0.1:1");
    zero.timeout = Duration::ZERO;
    let config = TcpCheckConfig {
        targets: vec![zero],
        ..TcpCheckConfig::default()
    };
    let error = config.validate().unwrap_err().to_string();
    assert!(error.contains("targets.0.timeout"), "{error}");
}
