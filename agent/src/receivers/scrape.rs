//! The polling loop every scraping receiver shares (hostmetrics, postgresql, pgbouncer,
//! redis): scrape at `collection_interval`, hand the metrics to the pipelines, count what
//! is refused, and log a failing target once per failure rather than once per scrape.

use std::time::Duration;

use async_trait::async_trait;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, KeyValue};
use opentelemetry_proto::tonic::metrics::v1::{
    metric, number_data_point, AggregationTemporality, Gauge, Metric, NumberDataPoint,
    ResourceMetrics, Sum,
};
use sentinel_pipeline::{
    BuildContext, BuildError, ComponentMetrics, Kind, Message, Outputs, Payload, Receiver, Running,
    Signal,
};
use tokio::time::MissedTickBehavior;
use tokio_util::sync::CancellationToken;

/// One scrape's failure: what went wrong, plus whatever metrics are still worth emitting
/// (typically an `<receiver>.up` gauge of 0).
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct ScrapeFailure {
    pub message: String,
    pub metrics: Vec<ResourceMetrics>,
}

/// A source of metrics polled at a fixed interval.
#[async_trait]
pub trait Scraper: Send + 'static {
    /// Collects one round. Partial problems (one unreadable process, say) are the scraper's
    /// to count and log once; `Err` means the target could not be read at all.
    async fn scrape(&mut self) -> Result<Vec<ResourceMetrics>, ScrapeFailure>;
}

/// When a scraping receiver polls: the Collector's `collection_interval` and
/// `initial_delay` keys, which every scraping receiver's config carries.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Schedule {
    pub interval: Duration,
    /// Wait before the first scrape (the Collector's `initial_delay`); zero scrapes at once.
    pub initial_delay: Duration,
}

/// A receiver that is one scraper on a schedule: what every pool receiver builds.
pub struct ScrapingReceiver {
    pub ctx: BuildContext,
    pub schedule: Schedule,
    pub scraper: Box<dyn Scraper>,
}

#[async_trait]
impl Receiver for ScrapingReceiver {
    async fn start(self: Box<Self>, outputs: Outputs) -> Result<Running, BuildError> {
        Ok(spawn(&self.ctx, self.schedule, self.scraper, &outputs))
    }
}

/// Starts the loop: the first scrape runs after `initial_delay`, later ones every
/// `interval`. A scrape that overruns the interval skips ticks instead of queueing them
/// up. The loop ends when the agent shuts down.
pub fn spawn(
    ctx: &BuildContext,
    schedule: Schedule,
    scraper: Box<dyn Scraper>,
    outputs: &Outputs,
) -> Running {
    let state = LoopState {
        id: ctx.id.clone(),
        metrics: ctx.component_metrics(Kind::Receiver, Signal::Metrics),
        outputs: outputs.clone(),
        failing: None,
        refusing: false,
    };
    let shutdown = ctx.shutdown.clone();
    Running {
        task: tokio::spawn(run(state, schedule, scraper, shutdown)),
    }
}

struct LoopState {
    id: String,
    metrics: ComponentMetrics,
    outputs: Outputs,
    /// The last failure logged, so a failing target is logged once, not every interval.
    failing: Option<String>,
    refusing: bool,
}

async fn run(
    mut state: LoopState,
    schedule: Schedule,
    mut scraper: Box<dyn Scraper>,
    shutdown: CancellationToken,
) {
    tokio::select! {
        _ = shutdown.cancelled() => return,
        _ = tokio::time::sleep(schedule.initial_delay) => {}
    }
    let mut ticker = tokio::time::interval(schedule.interval);
    ticker.set_missed_tick_behavior(MissedTickBehavior::Skip);
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = ticker.tick() => {}
        }
        let result = tokio::select! {
            _ = shutdown.cancelled() => return,
            result = scraper.scrape() => result,
        };
        let resource_metrics = match result {
            Ok(resource_metrics) => {
                if state.failing.take().is_some() {
                    tracing::info!(component_id = %state.id, "scrape target is back");
                }
                resource_metrics
            }
            Err(failure) => {
                if state.failing.as_deref() != Some(failure.message.as_str()) {
                    tracing::warn!(component_id = %state.id, error = %failure.message,
                        "scrape failed; retrying every collection_interval, logged once until it changes");
                    state.failing = Some(failure.message);
                }
                failure.metrics
            }
        };
        state.emit(resource_metrics);
    }
}

impl LoopState {
    fn emit(&mut self, resource_metrics: Vec<ResourceMetrics>) {
        let payload = Payload::Metrics(ExportMetricsServiceRequest { resource_metrics });
        let items = payload.item_count();
        if items == 0 {
            return;
        }
        self.metrics.received(items);
        let Some(output) = self.outputs.get(&Signal::Metrics) else {
            return;
        };
        match output.send(Message::unacked(payload)) {
            Ok(()) => {
                self.metrics.sent(items);
                self.refusing = false;
            }
            Err(refusal) => {
                // Nobody can retry a scrape: the points are lost, so say so once per episode.
                self.metrics.refused(items);
                if !self.refusing {
                    tracing::warn!(component_id = %self.id, reason = %refusal.message,
                        "pipeline refused scraped metrics; they are counted as refused");
                    self.refusing = true;
                }
            }
        }
    }
}

/// Builders for the OTLP metric shapes scrapers emit.
pub mod build {
    use super::*;

    pub fn attr(key: &str, value: impl Into<AttrValue>) -> KeyValue {
        KeyValue {
            key: key.to_string(),
            value: Some(AnyValue {
                value: Some(value.into().0),
            }),
            ..Default::default()
        }
    }

    /// A value an attribute can hold.
    pub struct AttrValue(any_value::Value);

    impl From<&str> for AttrValue {
        fn from(v: &str) -> Self {
            AttrValue(any_value::Value::StringValue(v.to_string()))
        }
    }
    impl From<String> for AttrValue {
        fn from(v: String) -> Self {
            AttrValue(any_value::Value::StringValue(v))
        }
    }
    impl From<i64> for AttrValue {
        fn from(v: i64) -> Self {
            AttrValue(any_value::Value::IntValue(v))
        }
    }
    impl From<bool> for AttrValue {
        fn from(v: bool) -> Self {
            AttrValue(any_value::Value::BoolValue(v))
        }
    }

    /// A number value of a data point.
    #[derive(Debug, Clone, Copy, PartialEq)]
    pub enum Number {
        Int(i64),
        Double(f64),
    }

    /// One data point at `time_unix_nano` (with `start_time_unix_nano` for cumulative sums).
    pub fn point(
        start_time_unix_nano: u64,
        time_unix_nano: u64,
        value: Number,
        attributes: Vec<KeyValue>,
    ) -> NumberDataPoint {
        NumberDataPoint {
            attributes,
            start_time_unix_nano,
            time_unix_nano,
            value: Some(match value {
                Number::Int(v) => number_data_point::Value::AsInt(v),
                Number::Double(v) => number_data_point::Value::AsDouble(v),
            }),
            ..Default::default()
        }
    }

    pub fn gauge(
        name: &str,
        description: &str,
        unit: &str,
        points: Vec<NumberDataPoint>,
    ) -> Metric {
        Metric {
            name: name.to_string(),
            description: description.to_string(),
            unit: unit.to_string(),
            data: Some(metric::Data::Gauge(Gauge {
                data_points: points,
            })),
            ..Default::default()
        }
    }

    /// A cumulative sum (the temporality scrapers report, like the Collector's).
    pub fn sum(
        name: &str,
        description: &str,
        unit: &str,
        monotonic: bool,
        points: Vec<NumberDataPoint>,
    ) -> Metric {
        Metric {
            name: name.to_string(),
            description: description.to_string(),
            unit: unit.to_string(),
            data: Some(metric::Data::Sum(Sum {
                data_points: points,
                aggregation_temporality: AggregationTemporality::Cumulative as i32,
                is_monotonic: monotonic,
            })),
            ..Default::default()
        }
    }

    /// One resource with one scope holding `metrics`, as scrapers emit them.
    pub fn resource_metrics(
        resource_attributes: Vec<KeyValue>,
        scope_name: &str,
        metrics: Vec<Metric>,
    ) -> ResourceMetrics {
        use opentelemetry_proto::tonic::common::v1::InstrumentationScope;
        use opentelemetry_proto::tonic::metrics::v1::ScopeMetrics;
        use opentelemetry_proto::tonic::resource::v1::Resource;
        ResourceMetrics {
            resource: Some(Resource {
                attributes: resource_attributes,
                ..Default::default()
            }),
            scope_metrics: vec![ScopeMetrics {
                scope: Some(InstrumentationScope {
                    name: scope_name.to_string(),
                    version: env!("CARGO_PKG_VERSION").to_string(),
                    ..Default::default()
                }),
                metrics,
                ..Default::default()
            }],
            ..Default::default()
        }
    }

    /// Removes metrics without data points (a figure the target did not report this time).
    pub fn drop_empty(metrics: &mut Vec<Metric>) {
        metrics.retain(|metric| match &metric.data {
            Some(metric::Data::Gauge(g)) => !g.data_points.is_empty(),
            Some(metric::Data::Sum(s)) => !s.data_points.is_empty(),
            _ => true,
        });
    }

    /// Nanoseconds since the Unix epoch, now.
    pub fn now_unix_nano() -> u64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::build::*;
    use super::*;
    use opentelemetry_proto::tonic::metrics::v1::ScopeMetrics;
    use sentinel_pipeline::{Consumer, Fanout, Output, Refusal, SelfMetrics};
    use std::sync::{Arc, Mutex};

    struct Collect(Mutex<Vec<Payload>>, bool);
    impl Consumer for Collect {
        fn consume(&self, msg: Message) -> Result<(), Refusal> {
            if self.1 {
                return Err(Refusal::capacity("full"));
            }
            self.0.lock().unwrap().push(msg.payload);
            Ok(())
        }
    }

    /// Fails on the second scrape, succeeds otherwise.
    struct Flaky(u32);
    #[async_trait]
    impl Scraper for Flaky {
        async fn scrape(&mut self) -> Result<Vec<ResourceMetrics>, ScrapeFailure> {
            self.0 += 1;
            let up = |v| ResourceMetrics {
                scope_metrics: vec![ScopeMetrics {
                    metrics: vec![gauge(
                        "t.up",
                        "",
                        "1",
                        vec![point(0, 1, Number::Int(v), vec![])],
                    )],
                    ..Default::default()
                }],
                ..Default::default()
            };
            if self.0 == 2 {
                Err(ScrapeFailure {
                    message: "down".into(),
                    metrics: vec![up(0)],
                })
            } else {
                Ok(vec![up(1)])
            }
        }
    }

    fn context(metrics: &Arc<SelfMetrics>) -> BuildContext {
        BuildContext {
            id: "test/scrape".into(),
            metrics: metrics.clone(),
            shutdown: CancellationToken::new(),
            data_dir: std::env::temp_dir(),
        }
    }

    fn outputs(consumer: Arc<Collect>) -> Outputs {
        let mut outputs = Outputs::new();
        outputs.insert(
            Signal::Metrics,
            Output {
                fanout: Fanout::new(vec![consumer]),
                budgets: vec![],
            },
        );
        outputs
    }

    fn every_10s(initial_delay: Duration) -> Schedule {
        Schedule {
            interval: Duration::from_secs(10),
            initial_delay,
        }
    }

    fn scrape_count(metrics: &SelfMetrics) -> u64 {
        sentinel_pipeline::testing::component_counts(
            metrics,
            Kind::Receiver,
            "test/scrape",
            Signal::Metrics,
        )
        .received
    }

    #[tokio::test(start_paused = true)]
    async fn the_first_scrape_waits_for_initial_delay() {
        let metrics = SelfMetrics::new();
        let ctx = context(&metrics);
        let sink = Arc::new(Collect(Mutex::new(vec![]), false));
        let running = spawn(
            &ctx,
            every_10s(Duration::from_secs(3)),
            Box::new(Flaky(2)),
            &outputs(sink),
        );
        tokio::time::sleep(Duration::from_millis(2900)).await;
        assert_eq!(scrape_count(&metrics), 0, "nothing before the delay");
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert_eq!(scrape_count(&metrics), 1, "the first scrape at 3 s");
        tokio::time::sleep(Duration::from_secs(10)).await;
        assert_eq!(scrape_count(&metrics), 2, "then every interval: 13 s");
        ctx.shutdown.cancel();
        running.task.await.unwrap();
    }

    #[tokio::test(start_paused = true)]
    async fn scrapes_every_interval_and_emits_failure_metrics() {
        let metrics = SelfMetrics::new();
        let ctx = context(&metrics);
        let sink = Arc::new(Collect(Mutex::new(vec![]), false));
        let running = spawn(
            &ctx,
            every_10s(Duration::ZERO),
            Box::new(Flaky(0)),
            &outputs(sink.clone()),
        );
        tokio::time::sleep(Duration::from_secs(25)).await;
        ctx.shutdown.cancel();
        running.task.await.unwrap();
        let values: Vec<i64> = sink
            .0
            .lock()
            .unwrap()
            .iter()
            .map(|p| match p {
                Payload::Metrics(r) => {
                    match &r.resource_metrics[0].scope_metrics[0].metrics[0].data {
                        Some(metric::Data::Gauge(g)) => match g.data_points[0].value {
                            Some(number_data_point::Value::AsInt(v)) => v,
                            _ => panic!("int point"),
                        },
                        _ => panic!("gauge"),
                    }
                }
                _ => panic!("metrics"),
            })
            .collect();
        assert_eq!(values, vec![1, 0, 1], "scrapes at t=0, 10 and 20 s");
        let counts = sentinel_pipeline::testing::component_counts(
            &metrics,
            Kind::Receiver,
            "test/scrape",
            Signal::Metrics,
        );
        assert_eq!(counts.received, 3);
        assert_eq!(counts.sent, 3);
    }

    #[tokio::test(start_paused = true)]
    async fn refused_scrapes_are_counted() {
        let metrics = SelfMetrics::new();
        let ctx = context(&metrics);
        let sink = Arc::new(Collect(Mutex::new(vec![]), true));
        let running = spawn(
            &ctx,
            every_10s(Duration::ZERO),
            Box::new(Flaky(2)),
            &outputs(sink),
        );
        tokio::time::sleep(Duration::from_secs(15)).await;
        ctx.shutdown.cancel();
        running.task.await.unwrap();
        let counts = sentinel_pipeline::testing::component_counts(
            &metrics,
            Kind::Receiver,
            "test/scrape",
            Signal::Metrics,
        );
        assert_eq!(counts.received, 2);
        assert_eq!(counts.refused, 2);
        assert_eq!(counts.sent, 0);
    }
}
