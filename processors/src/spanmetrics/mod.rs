//! `spanmetrics` connector (traces → metrics): request, error and duration (RED) metrics
//! from spans, with the Collector's keys and output names:
//! - `<namespace>.calls` (monotonic sum) and `<namespace>.duration` (explicit or
//!   exponential histogram, unit `ms` or `s`), namespace `traces.span.metrics` by default;
//! - per resource (or per `resource_metrics_key_attributes`) and label set: `service.name`,
//!   `span.name`, `span.kind`, `status.code`, plus the configured `dimensions`;
//! - at most `dimensions_cache_size` series; spans of newer label sets are counted in one
//!   series per resource marked `otel.metric.overflow="true"`.
//!
//! Spans are aggregated in memory and acknowledged at once; the metrics are emitted every
//! `metrics_flush_interval` by a timer task, with the request that arrives when a flush is
//! due (that request is answered once the metrics are queued, and refused, without being
//! counted, when the metrics pipeline is full), and at shutdown. Cumulative points start at
//! the connector's start, so a restarted agent starts every series anew; delta points
//! cover the time since the previous successful flush (a refused timer flush keeps its data
//! for the next one).
//!
//! Memory per series: see `docs/spanmetrics.md` and the `spanmetrics` bench.

mod aggregate;
#[cfg(test)]
mod compliance;
pub mod config;
mod emit;
mod histogram;
#[cfg(test)]
mod tests;

use std::sync::atomic::{AtomicI64, AtomicU64};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use sentinel_pipeline::config::{check, Diagnostic, Node};
use sentinel_pipeline::otlp::collector::trace::v1::ExportTraceServiceRequest;
use sentinel_pipeline::telemetry::ComponentLabels;
use sentinel_pipeline::{
    Acks, BuildContext, BuildError, ComponentInfo, ComponentMetrics, Connector, ConnectorFactory,
    Factory, Kind, Message, Outputs, Payload, Refusal, SelfMetrics, Signal,
};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

pub use aggregate::{Settings, State, OVERFLOW_KEY};
pub use config::SpanMetricsConfig;
use config::Temporality;
use emit::Emit;

pub struct SpanMetricsFactory;

impl Factory for SpanMetricsFactory {
    fn info(&self) -> ComponentInfo {
        ComponentInfo {
            type_name: "spanmetrics",
            kind: Kind::Connector,
            signals: &[Signal::Traces, Signal::Metrics],
            description: "Derives call counts and duration histograms (RED metrics) from spans",
        }
    }

    fn check(&self, node: &Node) -> Result<serde_json::Value, Vec<Diagnostic>> {
        check::<SpanMetricsConfig>(node)
    }
}

impl ConnectorFactory for SpanMetricsFactory {
    fn input_signals(&self) -> &'static [Signal] {
        &[Signal::Traces]
    }

    fn output_signals(&self) -> &'static [Signal] {
        &[Signal::Metrics]
    }

    fn build(&self, node: &Node, ctx: BuildContext) -> Result<Arc<dyn Connector>, BuildError> {
        let config: SpanMetricsConfig = sentinel_pipeline::config::decode_valid(node)
            .map_err(|diagnostics| BuildError::config(&ctx.id, diagnostics))?;
        Ok(Arc::new(SpanMetrics::start(
            &config,
            &ctx.metrics,
            &ctx.id,
            ctx.shutdown,
        )))
    }
}

/// The connector. Dropping it (the runtime does once every upstream pipeline drained)
/// emits what is pending and stops the timer task.
pub struct SpanMetrics {
    shared: Arc<Shared>,
    stop_timer: CancellationToken,
}

struct Shared {
    settings: Settings,
    calls_name: String,
    duration_name: String,
    temporality: Temporality,
    /// Zero: emit with every request.
    interval: Duration,
    /// Start of every cumulative point: this connector's start.
    start_unix_nano: u64,
    metrics: ComponentMetrics,
    /// Spans counted in an overflow series (`sentinel_spanmetrics_overflow_spans_total`).
    overflow_spans: Counter<u64, AtomicU64>,
    /// Series held (`sentinel_spanmetrics_series`), what the memory figure multiplies.
    series: Gauge<i64, AtomicI64>,
    inner: Mutex<Inner>,
}

struct Inner {
    state: State,
    /// The downstream pipelines, known from the first request on.
    outputs: Option<Outputs>,
    last_flush: Instant,
    /// Start of the next delta points: the last successful flush.
    delta_start_unix_nano: u64,
    /// Set by the final flush; nothing is emitted after it.
    closed: bool,
    overflow_reported: bool,
}

impl SpanMetrics {
    /// Builds the connector and, inside a tokio runtime with a flush interval, starts its
    /// timer task; `shutdown` makes the task emit what is pending and stop.
    pub fn start(
        config: &SpanMetricsConfig,
        self_metrics: &SelfMetrics,
        id: &str,
        shutdown: CancellationToken,
    ) -> SpanMetrics {
        let labels = ComponentLabels {
            component_kind: Kind::Connector.as_str().to_string(),
            component_id: id.to_string(),
            signal: Signal::Traces.as_str().to_string(),
        };
        let overflow: Family<ComponentLabels, Counter<u64, AtomicU64>> = self_metrics.family(
            "spanmetrics_overflow_spans",
            "Spans spanmetrics counted in an otel.metric.overflow series because its series limit was reached",
            Family::default,
        );
        let series: Family<ComponentLabels, Gauge<i64, AtomicI64>> = self_metrics.family(
            "spanmetrics_series",
            "Series spanmetrics holds (label sets, overflow series included)",
            Family::default,
        );
        let name = |n: &str| match config.namespace.as_str() {
            "" => n.to_string(),
            ns => format!("{ns}.{n}"),
        };
        let now = unix_nanos();
        let shared = Arc::new(Shared {
            settings: Settings::new(config),
            calls_name: name("calls"),
            duration_name: name("duration"),
            temporality: config.aggregation_temporality,
            interval: config.metrics_flush_interval,
            start_unix_nano: now,
            metrics: self_metrics.component(Kind::Connector, id, Signal::Traces),
            overflow_spans: overflow.get_or_create(&labels).clone(),
            series: series.get_or_create(&labels).clone(),
            inner: Mutex::new(Inner {
                state: State::default(),
                outputs: None,
                last_flush: Instant::now(),
                delta_start_unix_nano: now,
                closed: false,
                overflow_reported: false,
            }),
        });
        let stop_timer = CancellationToken::new();
        if !shared.interval.is_zero() {
            if let Ok(runtime) = tokio::runtime::Handle::try_current() {
                runtime.spawn(timer(shared.clone(), stop_timer.clone(), shutdown));
            }
        }
        SpanMetrics { shared, stop_timer }
    }

    /// The aggregation, for tests and benches.
    pub fn with_state<R>(&self, f: impl FnOnce(&State) -> R) -> R {
        f(&self.shared.lock().state)
    }
}

impl Drop for SpanMetrics {
    fn drop(&mut self) {
        self.stop_timer.cancel();
        self.shared.final_flush();
    }
}

impl Connector for SpanMetrics {
    fn consume(&self, msg: Message, outputs: &Outputs) -> Result<(), Refusal> {
        let items = msg.payload.item_count();
        self.shared.metrics.received(items);
        let Payload::Traces(request) = &msg.payload else {
            return Ok(());
        };
        let result = self.shared.consume(request, msg.acks.clone(), outputs);
        if result.is_err() {
            self.shared.metrics.refused(items);
        }
        result
    }
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn consume(
        &self,
        request: &ExportTraceServiceRequest,
        acks: Acks,
        outputs: &Outputs,
    ) -> Result<(), Refusal> {
        let mut inner = self.lock();
        if inner.outputs.is_none() {
            inner.outputs = Some(outputs.clone());
        }
        let due = self.interval.is_zero() || inner.last_flush.elapsed() >= self.interval;
        if !due || inner.closed {
            let recorded = self.record(&mut inner, request);
            self.report(&mut inner, recorded);
            return Ok(());
        }
        // This request rides with the flush: if the metrics are refused it is refused too,
        // so it must leave no trace in the aggregation (its retry would count twice).
        let before = inner.state.clone();
        let recorded = self.record(&mut inner, request);
        match self.flush(&mut inner, acks) {
            Ok(()) => {
                self.report(&mut inner, recorded);
                Ok(())
            }
            Err(refusal) => {
                inner.state = before;
                Err(refusal)
            }
        }
    }

    /// Adds `request` to the aggregation; returns (spans skipped, spans overflowed).
    fn record(&self, inner: &mut Inner, request: &ExportTraceServiceRequest) -> (usize, u64) {
        let overflowed = inner.state.overflowed_spans;
        let recorded = inner.state.record(&self.settings, request);
        (recorded.skipped, inner.state.overflowed_spans - overflowed)
    }

    /// Self-metrics of a request the aggregation kept.
    fn report(&self, inner: &mut Inner, (skipped, overflowed): (usize, u64)) {
        if skipped > 0 {
            self.metrics
                .dropped(skipped, "span resource has no service.name");
        }
        self.overflow_spans.inc_by(overflowed);
        self.series.set(inner.state.series.len() as i64);
        if overflowed > 0 && !inner.overflow_reported {
            inner.overflow_reported = true;
            tracing::warn!(
                connector = self.metrics.id(),
                limit = self.settings.limit,
                "spanmetrics reached its series limit; new label sets are counted in the otel.metric.overflow series."
            );
        }
    }

    /// Emits every series with `acks`; on success starts the next interval.
    fn flush(&self, inner: &mut Inner, acks: Acks) -> Result<(), Refusal> {
        let now = unix_nanos();
        let start = match self.temporality {
            Temporality::Cumulative => self.start_unix_nano,
            Temporality::Delta => inner.delta_start_unix_nano,
        };
        let emit = Emit {
            calls_name: &self.calls_name,
            duration_name: &self.duration_name,
            temporality: self.temporality,
            start_unix_nano: start,
            now_unix_nano: now.max(start),
        };
        let sent = match (emit.request(&self.settings, &inner.state), &inner.outputs) {
            (Some(request), Some(outputs)) => {
                let payload = Payload::Metrics(request);
                let points = payload.item_count();
                let output = outputs.get(&Signal::Metrics);
                if let Some(output) = output {
                    output.send(Message::new(payload, acks))?;
                    self.metrics.sent(points);
                }
                true
            }
            _ => false,
        };
        inner.last_flush = Instant::now();
        if sent || inner.state.series.is_empty() {
            inner.delta_start_unix_nano = now.max(start);
            match self.temporality {
                Temporality::Delta => inner.state.clear(),
                Temporality::Cumulative => inner.state.clear_exemplars(),
            }
            self.series.set(inner.state.series.len() as i64);
        }
        Ok(())
    }

    /// A timer tick: emits unless a request just did.
    fn tick(&self) -> Instant {
        let mut inner = self.lock();
        if inner.closed {
            return inner.last_flush + self.interval;
        }
        if inner.last_flush.elapsed() >= self.interval {
            if let Err(refusal) = self.flush(&mut inner, Acks::none()) {
                // The data stays for the next flush: a delta interval just gets longer.
                inner.last_flush = Instant::now();
                tracing::debug!(connector = self.metrics.id(), %refusal, "spanmetrics flush refused; kept for the next one");
            }
        }
        inner.last_flush + self.interval
    }

    /// Emits what arrived since the last flush, once.
    fn final_flush(&self) {
        let mut inner = self.lock();
        if inner.closed {
            return;
        }
        inner.closed = true;
        if inner.state.pending_spans > 0 {
            if let Err(refusal) = self.flush(&mut inner, Acks::none()) {
                tracing::warn!(connector = self.metrics.id(), %refusal, "spanmetrics could not emit its last metrics at shutdown");
            }
        }
    }
}

async fn timer(shared: Arc<Shared>, stop: CancellationToken, shutdown: CancellationToken) {
    let mut next = Instant::now() + shared.interval;
    loop {
        tokio::select! {
            biased;
            _ = tokio::time::sleep_until(next) => next = shared.tick(),
            _ = shutdown.cancelled() => {
                shared.final_flush();
                return;
            }
            _ = stop.cancelled() => return,
        }
    }
}

fn unix_nanos() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
}
