//! One round's outcomes as OTLP metrics, with the Collector's httpcheck names, units and
//! attributes. Each metric carries a point per URL it applies to.

use std::time::Duration;

use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, ArrayValue, KeyValue};
use opentelemetry_proto::tonic::metrics::v1::{Metric, NumberDataPoint, ResourceMetrics};

use super::checks::Verdict;
use super::probe::Outcome;
use crate::receivers::scrape::build::{self, attr, Number};

pub const SCOPE: &str = "sentinel/receiver/httpcheck";

const CLASSES: [&str; 5] = ["1xx", "2xx", "3xx", "4xx", "5xx"];

/// The timing metrics, in probe order: name, description, which phase.
const PHASES: [(&str, &str); 6] = [
    (
        "httpcheck.dns.lookup.duration",
        "Time spent resolving the endpoint's host name.",
    ),
    (
        "httpcheck.client.connection.duration",
        "Time spent opening the TCP connection.",
    ),
    (
        "httpcheck.tls.handshake.duration",
        "Time spent in the TLS handshake.",
    ),
    (
        "httpcheck.client.request.duration",
        "Time from the connection being ready to the request being written.",
    ),
    (
        "httpcheck.response.first_byte.duration",
        "Time from the connection being ready to the first response byte (time to first byte).",
    ),
    (
        "httpcheck.response.duration",
        "Time from the first response byte to the end of the body.",
    ),
];

/// One URL's probe as the report needs it.
pub struct Probed<'a> {
    pub url: &'a str,
    pub method: &'a str,
    pub outcome: &'a Outcome,
    pub verdict: &'a Verdict,
}

/// Points of every metric, gathered over a round.
#[derive(Default)]
struct Points {
    status: Vec<NumberDataPoint>,
    duration: Vec<NumberDataPoint>,
    error: Vec<NumberDataPoint>,
    cert_remaining: Vec<NumberDataPoint>,
    phases: [Vec<NumberDataPoint>; 6],
    size: Vec<NumberDataPoint>,
    passed: Vec<NumberDataPoint>,
    failed: Vec<NumberDataPoint>,
}

/// The round's metrics. `start` is the receiver's start, for the cumulative sums.
pub fn report(start: u64, now: u64, probes: &[Probed<'_>]) -> ResourceMetrics {
    let mut points = Points::default();
    for probe in probes {
        add(&mut points, start, now, probe);
    }
    let mut metrics = assemble(points);
    build::drop_empty(&mut metrics);
    build::resource_metrics(Vec::new(), SCOPE, metrics)
}

fn add(points: &mut Points, start: u64, now: u64, probe: &Probed<'_>) {
    let url = || attr("http.url", probe.url);
    let gauge = |value: i64, attributes: Vec<KeyValue>| {
        build::point(0, now, Number::Int(value), attributes)
    };
    let sum = |value: i64, attributes: Vec<KeyValue>| {
        build::point(start, now, Number::Int(value), attributes)
    };
    let outcome = probe.outcome;
    points
        .duration
        .push(gauge(outcome.duration.as_millis() as i64, vec![url()]));
    let phases = outcome.phases;
    let timings = [
        phases.dial.dns,
        phases.dial.connect,
        phases.tls,
        phases.request,
        phases.first_byte,
        phases.response,
    ];
    for (series, took) in points.phases.iter_mut().zip(timings) {
        if let Some(took) = took {
            series.push(gauge(nanos(took), vec![url()]));
        }
    }
    if let Some(cert) = &outcome.certificate {
        let attributes = vec![
            url(),
            attr("http.tls.issuer", cert.issuer.as_str()),
            attr("http.tls.cn", cert.common_name.as_str()),
            strings("http.tls.san", &cert.san),
        ];
        let remaining = cert.remaining(now / 1_000_000_000);
        points.cert_remaining.push(gauge(remaining, attributes));
    }
    match &outcome.result {
        Ok(response) => {
            let code = i64::from(response.status);
            let class = format!("{}xx", response.status / 100);
            for each in CLASSES {
                let attributes = vec![
                    url(),
                    attr("http.status_code", code),
                    attr("http.method", probe.method),
                    attr("http.status_class", each),
                ];
                points
                    .status
                    .push(sum(i64::from(each == class), attributes));
            }
            points.size.push(gauge(response.size as i64, vec![url()]));
        }
        Err(error) => {
            let attributes = vec![url(), attr("error.message", error.to_string())];
            points.error.push(sum(1, attributes));
        }
    }
    if let Some(message) = &probe.verdict.unexpected_status {
        let attributes = vec![url(), attr("error.message", message.as_str())];
        points.error.push(sum(1, attributes));
    }
    for (kind, passed, failed) in &probe.verdict.validations {
        let attributes = || vec![url(), attr("validation.type", *kind)];
        if *passed > 0 {
            points.passed.push(sum(*passed, attributes()));
        }
        if *failed > 0 {
            points.failed.push(sum(*failed, attributes()));
        }
    }
}

fn assemble(points: Points) -> Vec<Metric> {
    let mut metrics = vec![
        build::sum(
            "httpcheck.status",
            "1 if the check resulted in status_code matching the status_class, otherwise 0.",
            "1",
            false,
            points.status,
        ),
        build::gauge(
            "httpcheck.duration",
            "Measures the duration of the HTTP check.",
            "ms",
            points.duration,
        ),
        build::sum(
            "httpcheck.error",
            "Records errors occurring during HTTP check.",
            "{error}",
            false,
            points.error,
        ),
        build::gauge(
            "httpcheck.tls.cert_remaining",
            "Time in seconds until certificate expiry, as specified by `NotAfter` field in the x.509 certificate. Negative values represent time in seconds since expiration.",
            "s",
            points.cert_remaining,
        ),
    ];
    for ((name, description), series) in PHASES.iter().zip(points.phases) {
        metrics.push(build::gauge(name, description, "ns", series));
    }
    metrics.push(build::gauge(
        "httpcheck.response.size",
        "Size of the response body in bytes.",
        "By",
        points.size,
    ));
    metrics.push(build::sum(
        "httpcheck.validation.passed",
        "Number of response validations that passed.",
        "{validation}",
        false,
        points.passed,
    ));
    metrics.push(build::sum(
        "httpcheck.validation.failed",
        "Number of response validations that failed.",
        "{validation}",
        false,
        points.failed,
    ));
    metrics
}

fn nanos(took: Duration) -> i64 {
    i64::try_from(took.as_nanos()).unwrap_or(i64::MAX)
}

/// A string-array attribute (the Collector's `http.tls.san` is a slice).
fn strings(key: &str, values: &[String]) -> KeyValue {
    let values = values
        .iter()
        .map(|v| AnyValue {
            value: Some(any_value::Value::StringValue(v.clone())),
        })
        .collect();
    KeyValue {
        key: key.to_string(),
        value: Some(AnyValue {
            value: Some(any_value::Value::ArrayValue(ArrayValue { values })),
        }),
        ..Default::default()
    }
}
