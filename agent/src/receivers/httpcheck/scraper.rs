//! One httpcheck round: every URL probed at once, each bounded by its target's timeout,
//! then judged and reported together.

use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;
use hyper::header::{HeaderMap, HeaderName, HeaderValue, InvalidHeaderName, InvalidHeaderValue};
use hyper::http::method::InvalidMethod;
use hyper::Method;
use opentelemetry_proto::tonic::metrics::v1::ResourceMetrics;
use rustls::pki_types::ServerName;
use tokio::task::JoinSet;

use sentinel_pipeline::tls::TlsError;

use super::checks::{Check, CheckError, Expectations};
use super::config::{parse_url, HttpCheckConfig, HttpTarget, UrlError};
use super::probe::{self, Exchange, Outcome};
use super::report::{report, Probed};
use crate::receivers::scrape::build;
use crate::receivers::scrape::{ScrapeFailure, Scraper};

/// Why a validated config still cannot be built (an unreadable `tls.ca_file`, say).
#[derive(Debug, thiserror::Error)]
#[error("targets.{target}: {source}")]
pub struct SetupError {
    target: usize,
    source: TargetError,
}

#[derive(Debug, thiserror::Error)]
pub enum TargetError {
    #[error("endpoint: {0}")]
    Url(#[from] UrlError),
    #[error("tls: {0}")]
    Tls(#[from] TlsError),
    #[error("endpoint: {0:?} is not a valid TLS server name")]
    ServerName(String),
    #[error("method: {0}")]
    Method(#[from] InvalidMethod),
    #[error("headers: {0}")]
    HeaderName(#[from] InvalidHeaderName),
    #[error("headers: {0}")]
    HeaderValue(#[from] InvalidHeaderValue),
    #[error("validations: {0}")]
    Check(#[from] CheckError),
}

/// One URL to probe and how to judge its response.
struct Probe {
    exchange: Arc<Exchange>,
    method: String,
    expectations: Expectations,
}

pub struct HttpCheckScraper {
    probes: Vec<Probe>,
    started: u64,
}

impl HttpCheckScraper {
    pub fn new(config: &HttpCheckConfig) -> Result<Self, SetupError> {
        let mut probes = Vec::new();
        for (i, target) in config.targets.iter().enumerate() {
            let failed = |source: TargetError| SetupError { target: i, source };
            let expectations = Expectations {
                status: target.expected_status.clone(),
                checks: target
                    .validations
                    .iter()
                    .map(Check::compile)
                    .collect::<Result<_, _>>()
                    .map_err(|e| failed(e.into()))?,
            };
            for url in target.urls() {
                let exchange = exchange(target, url).map_err(failed)?;
                probes.push(Probe {
                    exchange: Arc::new(exchange),
                    method: target.method.clone(),
                    expectations: expectations.clone(),
                });
            }
        }
        Ok(HttpCheckScraper {
            probes,
            started: build::now_unix_nano(),
        })
    }
}

/// The request for `url` with `target`'s settings; TLS settings are read here, once.
fn exchange(target: &HttpTarget, url: &str) -> Result<Exchange, TargetError> {
    let uri = parse_url(url)?;
    let https = uri.scheme_str() == Some("https");
    let host = uri
        .host()
        .unwrap_or_default()
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_string();
    let port = uri.port_u16().unwrap_or(if https { 443 } else { 80 });
    let tls = if https {
        let config = target.tls.rustls_config()?;
        let name = ServerName::try_from(host.clone())
            .map_err(|_| TargetError::ServerName(host.clone()))?;
        Some((config, name))
    } else {
        None
    };
    let mut headers = HeaderMap::new();
    for (name, value) in &target.headers {
        headers.append(
            HeaderName::from_bytes(name.as_bytes())?,
            HeaderValue::from_str(value.expose())?,
        );
    }
    Ok(Exchange {
        url: url.to_string(),
        host,
        port,
        method: Method::from_bytes(target.method.as_bytes())?,
        headers,
        body: Bytes::from(target.body.clone()),
        timeout: target.timeout,
        tls,
        uri,
    })
}

#[async_trait]
impl Scraper for HttpCheckScraper {
    async fn scrape(&mut self) -> Result<Vec<ResourceMetrics>, ScrapeFailure> {
        let mut running = JoinSet::new();
        for (i, probe) in self.probes.iter().enumerate() {
            let exchange = probe.exchange.clone();
            running.spawn(async move { (i, probe::run(&exchange).await) });
        }
        let mut outcomes: Vec<(usize, Outcome)> = Vec::with_capacity(self.probes.len());
        while let Some(done) = running.join_next().await {
            if let Ok(outcome) = done {
                outcomes.push(outcome);
            }
        }
        outcomes.sort_by_key(|(i, _)| *i);
        let verdicts: Vec<_> = outcomes
            .iter()
            .map(|(i, outcome)| {
                let response = outcome.result.as_ref().ok();
                self.probes[*i].expectations.judge(response)
            })
            .collect();
        let probed: Vec<Probed<'_>> = outcomes
            .iter()
            .zip(&verdicts)
            .map(|((i, outcome), verdict)| Probed {
                url: &self.probes[*i].exchange.url,
                method: &self.probes[*i].method,
                outcome,
                verdict,
            })
            .collect();
        let now = build::now_unix_nano();
        Ok(vec![report(self.started, now, &probed)])
    }
}
