//! The `anomaly` connector: metrics in; the score gauge and `sentinel.anomaly` events out.

use std::path::PathBuf;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex, MutexGuard};

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use sentinel_pipeline::config::{check, decode_valid, Diagnostic, Node};
use sentinel_pipeline::otlp::collector::logs::v1::ExportLogsServiceRequest;
use sentinel_pipeline::otlp::collector::metrics::v1::ExportMetricsServiceRequest;
use sentinel_pipeline::otlp::common::v1::{any_value, AnyValue, InstrumentationScope, KeyValue};
use sentinel_pipeline::otlp::logs::v1::{LogRecord, ResourceLogs, ScopeLogs, SeverityNumber};
use sentinel_pipeline::otlp::metrics::v1::{
    metric, number_data_point, AggregationTemporality, Gauge, Metric, NumberDataPoint,
    ResourceMetrics, ScopeMetrics,
};
use sentinel_pipeline::telemetry::ComponentLabels;
use sentinel_pipeline::visit::{ExportRequest, ResourceGroup};
use sentinel_pipeline::{
    BuildContext, BuildError, ComponentInfo, ComponentMetrics, Connector, ConnectorFactory,
    Factory, Kind, Message, Outputs, Payload, Refusal, Signal,
};

use super::config::AnomalyConfig;
use super::detector::{Detector, Verdict};
use super::select::{value_text, Selection};
use super::store::{Series, Store};

pub const SCORE_METRIC: &str = "sentinel.anomaly.score";
pub const EVENT_NAME: &str = "sentinel.anomaly";
const SCOPE: &str = "sentinel/connector/anomaly";
const OUTPUTS: [Signal; 2] = [Signal::Metrics, Signal::Logs];

pub struct AnomalyFactory;

impl Factory for AnomalyFactory {
    fn info(&self) -> ComponentInfo {
        ComponentInfo {
            type_name: "anomaly",
            kind: Kind::Connector,
            signals: &[Signal::Metrics],
            description: "Scores metric series with a streaming anomaly detector; emits scores and anomaly events",
        }
    }

    fn check(&self, node: &Node) -> Result<serde_json::Value, Vec<Diagnostic>> {
        check::<AnomalyConfig>(node)
    }
}

impl ConnectorFactory for AnomalyFactory {
    fn input_signals(&self) -> &'static [Signal] {
        &[Signal::Metrics]
    }

    fn output_signals(&self) -> &'static [Signal] {
        &OUTPUTS
    }

    fn build(&self, node: &Node, ctx: BuildContext) -> Result<Arc<dyn Connector>, BuildError> {
        let config: AnomalyConfig =
            decode_valid(node).map_err(|d| BuildError::config(&ctx.id, d))?;
        Anomaly::new(&config, &ctx).map(|a| Arc::new(a) as Arc<dyn Connector>)
    }
}

/// The snapshot file of connector `id` in `directory`.
pub fn snapshot_path(directory: &std::path::Path, id: &str) -> PathBuf {
    let name: String = id
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    directory.join(format!("{name}.json"))
}

pub struct Anomaly {
    selection: Selection,
    detector: Detector,
    store: Arc<Mutex<Store>>,
    snapshot: PathBuf,
    metrics: ComponentMetrics,
    evicted: Counter<u64, AtomicU64>,
}

impl Anomaly {
    fn new(config: &AnomalyConfig, ctx: &BuildContext) -> Result<Self, BuildError> {
        let fail = |message: String| BuildError::Other {
            component: ctx.id.clone(),
            message,
        };
        let selection = Selection::new(config.include.as_ref(), config.exclude.as_ref())
            .map_err(|e| fail(e.to_string()))?;
        let directory = config
            .directory
            .clone()
            .unwrap_or_else(|| ctx.data_dir.join("anomaly"));
        let snapshot = snapshot_path(&directory, &ctx.id);
        // A snapshot that cannot be read costs what was learnt, not the agent's start.
        let store = Store::load(&snapshot, config.max_series).unwrap_or_else(|err| {
            tracing::warn!(component = %ctx.id, error = %err,
                "Cannot read the anomaly state snapshot; starting to learn afresh.");
            Store::new(config.max_series)
        });
        let store = Arc::new(Mutex::new(store));
        spawn_snapshots(store.clone(), snapshot.clone(), config, ctx);
        let labels = ComponentLabels {
            component_kind: Kind::Connector.as_str().to_string(),
            component_id: ctx.id.clone(),
            signal: Signal::Metrics.as_str().to_string(),
        };
        let evicted: Family<ComponentLabels, Counter<u64, AtomicU64>> = ctx.metrics.family(
            "anomaly_series_evicted",
            "Series the anomaly connector forgot, least recently updated first, to stay within max_series",
            Family::default,
        );
        let evicted = evicted.get_or_create(&labels).clone();
        Ok(Anomaly {
            selection,
            detector: Detector::new(config.detector()),
            store,
            snapshot,
            metrics: ctx.component_metrics(Kind::Connector, Signal::Metrics),
            evicted,
        })
    }

    fn lock(&self) -> MutexGuard<'_, Store> {
        self.store.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Writes the snapshot every `snapshot_interval` until shutdown starts; the connector's
/// `Drop` writes the last one after the pipelines drained.
fn spawn_snapshots(
    store: Arc<Mutex<Store>>,
    path: PathBuf,
    config: &AnomalyConfig,
    ctx: &BuildContext,
) {
    let Ok(handle) = tokio::runtime::Handle::try_current() else {
        return;
    };
    let every = config.snapshot_interval;
    let shutdown = ctx.shutdown.clone();
    handle.spawn(async move {
        let mut ticks = tokio::time::interval(every);
        ticks.tick().await;
        loop {
            tokio::select! {
                _ = ticks.tick() => {}
                _ = shutdown.cancelled() => return,
            }
            let store = store.clone();
            let path = path.clone();
            let saved = tokio::task::spawn_blocking(move || {
                let store = store.lock().unwrap_or_else(|p| p.into_inner());
                store.save(&path)
            })
            .await;
            if let Ok(Err(err)) = saved {
                tracing::warn!(error = %err, "Cannot write the anomaly state snapshot.");
            }
        }
    });
}

impl Drop for Anomaly {
    fn drop(&mut self) {
        if let Err(err) = self.lock().save(&self.snapshot) {
            tracing::warn!(error = %err, "Cannot write the anomaly state snapshot.");
        }
    }
}

/// Series identity: the metric name, then resource and point attributes as `key=value`.
fn series_key(name: &str, resource: &[KeyValue], point: &[KeyValue]) -> String {
    let mut key = String::from(name);
    for (sep, list) in [('{', resource), ('|', point)] {
        key.push(sep);
        let mut pairs: Vec<String> = list
            .iter()
            .map(|kv| format!("{}={}", kv.key, value_text(kv)))
            .collect();
        pairs.sort();
        key.push_str(&pairs.join(","));
    }
    key.push('}');
    key
}

fn as_f64(point: &NumberDataPoint) -> Option<f64> {
    match point.value? {
        number_data_point::Value::AsDouble(d) => Some(d),
        number_data_point::Value::AsInt(i) => Some(i as f64),
    }
}

/// The value a sum point is scored on: its rate per second. `None` for the first point of
/// a cumulative series, a reset, or time that does not advance.
fn sum_rate(
    series: &mut Series,
    point: &NumberDataPoint,
    value: f64,
    cumulative: bool,
) -> Option<f64> {
    let t = point.time_unix_nano;
    let last = series.last.replace((t, value));
    let seconds = |from: u64| (t > from).then(|| (t - from) as f64 / 1e9);
    if cumulative {
        let (t0, v0) = last?;
        if value < v0 {
            return None; // a reset
        }
        Some((value - v0) / seconds(t0)?)
    } else if point.start_time_unix_nano > 0 {
        Some(value / seconds(point.start_time_unix_nano)?)
    } else {
        Some(value / seconds(last?.0)?)
    }
}

fn string(key: &str, value: impl Into<String>) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(AnyValue {
            value: Some(any_value::Value::StringValue(value.into())),
        }),
        ..Default::default()
    }
}

fn double(key: &str, value: f64) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(AnyValue {
            value: Some(any_value::Value::DoubleValue(value)),
        }),
        ..Default::default()
    }
}

/// What one resource's points produced.
#[derive(Default)]
struct Derived {
    scores: Vec<NumberDataPoint>,
    events: Vec<LogRecord>,
}

impl Anomaly {
    /// Scores every selected point of `req`, per resource.
    fn score(
        &self,
        req: &ExportMetricsServiceRequest,
    ) -> (ExportMetricsServiceRequest, ExportLogsServiceRequest) {
        let mut store = self.lock();
        let mut metrics_out = ExportMetricsServiceRequest::default();
        let mut logs_out = ExportLogsServiceRequest::default();
        for group in req.groups() {
            let resource_attrs = group.resource().map_or(&[][..], |r| &r.attributes[..]);
            let mut derived = Derived::default();
            for (_, metric) in group.items() {
                self.score_metric(&mut store, metric, resource_attrs, &mut derived);
            }
            if !derived.scores.is_empty() {
                metrics_out.resource_metrics.push(ResourceMetrics {
                    resource: group.resource().cloned(),
                    scope_metrics: vec![ScopeMetrics {
                        scope: Some(scope()),
                        metrics: vec![score_metric(derived.scores)],
                        ..Default::default()
                    }],
                    ..Default::default()
                });
            }
            if !derived.events.is_empty() {
                logs_out.resource_logs.push(ResourceLogs {
                    resource: group.resource().cloned(),
                    scope_logs: vec![ScopeLogs {
                        scope: Some(scope()),
                        log_records: derived.events,
                        ..Default::default()
                    }],
                    ..Default::default()
                });
            }
        }
        (metrics_out, logs_out)
    }

    fn score_metric(
        &self,
        store: &mut Store,
        metric: &Metric,
        resource: &[KeyValue],
        out: &mut Derived,
    ) {
        let (points, cumulative) = match &metric.data {
            Some(metric::Data::Gauge(g)) => (&g.data_points, None),
            Some(metric::Data::Sum(s)) => (
                &s.data_points,
                Some(s.aggregation_temporality == AggregationTemporality::Cumulative as i32),
            ),
            _ => return,
        };
        for point in points {
            if !self
                .selection
                .selects(&metric.name, &[&point.attributes, resource])
            {
                continue;
            }
            let Some(value) = as_f64(point) else { continue };
            let key = series_key(&metric.name, resource, &point.attributes);
            let (series, evicted) = store.touch(&key);
            if evicted > 0 {
                self.evicted.inc_by(evicted as u64);
            }
            let x = match cumulative {
                None => value,
                Some(cumulative) => match sum_rate(series, point, value, cumulative) {
                    Some(rate) => rate,
                    None => continue,
                },
            };
            let second_of_day = (point.time_unix_nano / 1_000_000_000 % 86_400) as u32;
            let verdict = self
                .detector
                .step_at(&mut series.state, Some(second_of_day), x);
            let mut attributes = point.attributes.clone();
            attributes.push(string("metric.name", &metric.name));
            if verdict.event {
                out.events
                    .push(event(&metric.name, &key, point, x, &verdict, &attributes));
            }
            out.scores.push(NumberDataPoint {
                attributes,
                start_time_unix_nano: point.start_time_unix_nano,
                time_unix_nano: point.time_unix_nano,
                value: Some(number_data_point::Value::AsDouble(verdict.score)),
                ..Default::default()
            });
        }
    }
}

fn scope() -> InstrumentationScope {
    InstrumentationScope {
        name: SCOPE.into(),
        ..Default::default()
    }
}

fn score_metric(points: Vec<NumberDataPoint>) -> Metric {
    Metric {
        name: SCORE_METRIC.into(),
        description: "Anomaly score of the series named by metric.name, from 0 (usual) to 1".into(),
        unit: "1".into(),
        data: Some(metric::Data::Gauge(Gauge {
            data_points: points,
        })),
        ..Default::default()
    }
}

/// The `sentinel.anomaly` log record of one point.
fn event(
    name: &str,
    key: &str,
    point: &NumberDataPoint,
    x: f64,
    v: &Verdict,
    series: &[KeyValue],
) -> LogRecord {
    let reason = v.reason();
    let mut attributes = series.to_vec();
    attributes.extend([
        string("anomaly.series", key),
        double("anomaly.value", x),
        double("anomaly.score", v.score),
        double("anomaly.expected.lower", v.expected.0),
        double("anomaly.expected.upper", v.expected.1),
        string("anomaly.reason", reason.clone()),
    ]);
    LogRecord {
        time_unix_nano: point.time_unix_nano,
        observed_time_unix_nano: point.time_unix_nano,
        severity_number: SeverityNumber::Warn as i32,
        severity_text: "WARN".into(),
        event_name: EVENT_NAME.into(),
        body: Some(AnyValue {
            value: Some(any_value::Value::StringValue(format!(
                "{name}: {reason} (expected {:.4} to {:.4}, score {:.3})",
                v.expected.0, v.expected.1, v.score
            ))),
        }),
        attributes,
        ..Default::default()
    }
}

impl Connector for Anomaly {
    fn consume(&self, msg: Message, outputs: &Outputs) -> Result<(), Refusal> {
        let items = msg.payload.item_count();
        self.metrics.received(items);
        let Payload::Metrics(req) = &msg.payload else {
            return Ok(());
        };
        let (scores, events) = self.score(req);
        let mut derived = Vec::new();
        if !scores.resource_metrics.is_empty() {
            derived.push((Signal::Metrics, Payload::Metrics(scores)));
        }
        if !events.resource_logs.is_empty() {
            derived.push((Signal::Logs, Payload::Logs(events)));
        }
        for (signal, payload) in derived {
            let Some(output) = outputs.get(&signal) else {
                continue;
            };
            // The derived data carries the upstream acks: the client is answered once queued.
            let message = Message::new(payload, msg.acks.clone());
            let emitted = message.payload.item_count();
            if let Err(refusal) = output.send(message) {
                self.metrics.refused(items);
                return Err(refusal);
            }
            self.metrics.sent(emitted);
        }
        Ok(())
    }
}
