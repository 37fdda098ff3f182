//! One tcpcheck round: every target dialed at once, each bounded by its own timeout,
//! reported with the Collector's tcpcheck metric names.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use opentelemetry_proto::tonic::metrics::v1::{Metric, ResourceMetrics};
use tokio::task::JoinSet;

use super::config::{TcpCheckConfig, TcpTarget};
use super::dial::{dial, DialPhases};
use crate::receivers::database::host_and_port;
use crate::receivers::scrape::build::{self, attr, Number};
use crate::receivers::scrape::{ScrapeFailure, Scraper};

pub const SCOPE: &str = "sentinel/receiver/tcpcheck";

/// What one probe of one endpoint found.
#[derive(Debug, Clone, PartialEq)]
pub struct TcpOutcome {
    pub endpoint: String,
    /// Time to connect (name lookup included), or the failure's `error.code`.
    pub result: Result<Duration, &'static str>,
}

/// Probes one target: `Ok(connect time)` or the Collector's error code.
pub async fn probe(target: &TcpTarget) -> TcpOutcome {
    let (host, port) = host_and_port(&target.endpoint);
    let started = Instant::now();
    let mut phases = DialPhases::default();
    let dialed = tokio::time::timeout(target.timeout, dial(&host, port, &mut phases)).await;
    let result = match dialed {
        Ok(Ok(_stream)) => Ok(started.elapsed()),
        Ok(Err(error)) => Err(error.code()),
        Err(_elapsed) => Err("connection_timeout"),
    };
    TcpOutcome {
        endpoint: target.endpoint.to_string(),
        result,
    }
}

/// Dials every target each round. `tcpcheck.error` is the Collector's cumulative
/// monotonic count, so the errors seen since the start are kept per endpoint and code
/// (bounded: targets × the five codes).
pub struct TcpCheckScraper {
    targets: Vec<TcpTarget>,
    started: u64,
    errors: BTreeMap<(String, &'static str), i64>,
}

impl TcpCheckScraper {
    pub fn new(config: TcpCheckConfig) -> Self {
        TcpCheckScraper {
            targets: config.targets,
            started: build::now_unix_nano(),
            errors: BTreeMap::new(),
        }
    }

    /// The metrics of one round's outcomes, in target order.
    pub fn report(&mut self, now: u64, outcomes: &[TcpOutcome]) -> ResourceMetrics {
        let (mut status, mut duration) = (Vec::new(), Vec::new());
        for outcome in outcomes {
            let endpoint = || vec![attr("tcpcheck.endpoint", outcome.endpoint.as_str())];
            let up = i64::from(outcome.result.is_ok());
            status.push(build::point(0, now, Number::Int(up), endpoint()));
            match outcome.result {
                Ok(took) => {
                    let ms = took.as_millis() as i64;
                    duration.push(build::point(0, now, Number::Int(ms), endpoint()));
                }
                Err(code) => {
                    *self
                        .errors
                        .entry((outcome.endpoint.clone(), code))
                        .or_default() += 1;
                }
            }
        }
        let errors = self
            .errors
            .iter()
            .map(|((endpoint, code), count)| {
                let attributes = vec![
                    attr("tcpcheck.endpoint", endpoint.as_str()),
                    attr("error.code", *code),
                ];
                build::point(self.started, now, Number::Int(*count), attributes)
            })
            .collect();
        let mut metrics: Vec<Metric> = vec![
            build::gauge(
                "tcpcheck.status",
                "1 if the TCP client successfully connected, otherwise 0.",
                "1",
                status,
            ),
            build::gauge(
                "tcpcheck.duration",
                "Measures the duration of TCP connection.",
                "ms",
                duration,
            ),
            build::sum(
                "tcpcheck.error",
                "Records errors occurring during TCP check.",
                "{errors}",
                true,
                errors,
            ),
        ];
        build::drop_empty(&mut metrics);
        build::resource_metrics(Vec::new(), SCOPE, metrics)
    }
}

#[async_trait]
impl Scraper for TcpCheckScraper {
    async fn scrape(&mut self) -> Result<Vec<ResourceMetrics>, ScrapeFailure> {
        let mut probes = JoinSet::new();
        for (i, target) in self.targets.iter().enumerate() {
            let target = target.clone();
            probes.spawn(async move { (i, probe(&target).await) });
        }
        let mut outcomes: Vec<(usize, TcpOutcome)> = Vec::with_capacity(self.targets.len());
        while let Some(done) = probes.join_next().await {
            if let Ok(outcome) = done {
                outcomes.push(outcome);
            }
        }
        outcomes.sort_by_key(|(i, _)| *i);
        let outcomes: Vec<TcpOutcome> = outcomes.into_iter().map(|(_, o)| o).collect();
        Ok(vec![self.report(build::now_unix_nano(), &outcomes)])
    }
}
