//! `sentinel_receiver_scrape_errors_total{component_id, scraper, cause}`: partial scrape
//! failures (an unreadable `/proc/<pid>/io`, a scraper whose file is missing), counted
//! every time and logged once per cause.

use std::sync::Arc;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use sentinel_pipeline::SelfMetrics;

use super::root::LogOnce;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Labels {
    component_id: String,
    scraper: &'static str,
    cause: String,
}

type ErrorFamily = Family<Labels, Counter>;

fn family(metrics: &Arc<SelfMetrics>) -> ErrorFamily {
    metrics.family(
        "receiver_scrape_errors",
        "Partial scrape failures (for example permission denied on /proc/<pid>/io), by scraper and cause; each cause is logged once",
        ErrorFamily::default,
    )
}

/// The error counter and log-once memory of one hostmetrics receiver.
pub struct ScrapeErrors {
    component_id: String,
    family: ErrorFamily,
    logged: LogOnce,
    /// (scraper, cause prefix) pairs that are counted but not logged.
    muted: Vec<(&'static str, &'static str)>,
}

impl ScrapeErrors {
    pub fn new(metrics: &Arc<SelfMetrics>, component_id: &str) -> ScrapeErrors {
        ScrapeErrors {
            component_id: component_id.to_string(),
            family: family(metrics),
            logged: LogOnce::default(),
            muted: Vec::new(),
        }
    }

    /// Stops logging `scraper`'s causes that start with one of `prefixes` (`""` is every
    /// cause); they are still counted.
    pub fn mute_logs(&mut self, scraper: &'static str, prefixes: &[&'static str]) {
        self.muted
            .extend(prefixes.iter().map(|prefix| (scraper, *prefix)));
    }

    /// Counts one failure; logs it the first time this scraper sees this cause, unless the
    /// cause is muted. Returns whether it logged. `cause` must be low-cardinality
    /// (`io_permission_denied`, never a PID).
    pub fn record(
        &mut self,
        scraper: &'static str,
        cause: &str,
        detail: &dyn std::fmt::Display,
    ) -> bool {
        self.family
            .get_or_create(&Labels {
                component_id: self.component_id.clone(),
                scraper,
                cause: cause.to_string(),
            })
            .inc();
        let muted = self
            .muted
            .iter()
            .any(|(s, prefix)| *s == scraper && cause.starts_with(prefix));
        let log = !muted && self.logged.first(&format!("{scraper}/{cause}"));
        if log {
            tracing::warn!(component_id = %self.component_id, scraper, cause, detail = %detail,
                "hostmetrics: partial scrape failure; counted in sentinel_receiver_scrape_errors_total, logged once per cause");
        }
        log
    }
}
