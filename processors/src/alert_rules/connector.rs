//! The connector: metrics in feed the series window; one task per rule group evaluates
//! it on the group's aligned schedule and emits alerts (logs) and recorded series
//! (metrics).

use std::collections::{BTreeMap, VecDeque};
use std::path::PathBuf;
use std::sync::atomic::{AtomicI64, AtomicU64};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use sentinel_pipeline::config::{decode_valid, Diagnostic, Node};
use sentinel_pipeline::otlp::collector::metrics::v1::ExportMetricsServiceRequest;
use sentinel_pipeline::otlp::common::v1::{any_value, AnyValue, InstrumentationScope, KeyValue};
use sentinel_pipeline::otlp::metrics::v1::{
    metric, number_data_point, Gauge as OtlpGauge, Metric, NumberDataPoint, ResourceMetrics,
    ScopeMetrics,
};
use sentinel_pipeline::{
    Acks, BuildContext, BuildError, ComponentInfo, ComponentMetrics, Connector, ConnectorFactory,
    Factory, Kind, Message, Outputs, Payload, Refusal, Signal,
};
use tokio_util::sync::CancellationToken;

use super::config::AlertRulesConfig;
use super::engine::{Ingested, Labels, Window, WindowLimits};
use super::group::{EvalSettings, Evaluated, GroupRuntime};
use super::persist::{state_path, ForEntry, ForState};
use super::record;

const OUTPUTS: [Signal; 2] = [Signal::Metrics, Signal::Logs];
/// Emissions a full downstream refused, kept for the next request (oldest dropped first).
const MAX_HELD: usize = 256;

pub struct AlertRulesFactory;

impl Factory for AlertRulesFactory {
    fn info(&self) -> ComponentInfo {
        ComponentInfo {
            type_name: "alert_rules",
            kind: Kind::Connector,
            signals: &[Signal::Metrics, Signal::Logs],
            description: "Evaluates Prometheus alerting and recording rules; emits sentinel.alert log records and recorded series",
        }
    }

    fn check(&self, node: &Node) -> Result<serde_json::Value, Vec<Diagnostic>> {
        let config: AlertRulesConfig = decode_valid(node)?;
        config.load_groups(node)?;
        serde_json::to_value(&config)
            .map_err(|err| vec![Diagnostic::error(node.span.clone(), err.to_string())])
    }
}

impl ConnectorFactory for AlertRulesFactory {
    fn input_signals(&self) -> &'static [Signal] {
        &[Signal::Metrics]
    }

    fn output_signals(&self) -> &'static [Signal] {
        &OUTPUTS
    }

    fn build(&self, node: &Node, ctx: BuildContext) -> Result<Arc<dyn Connector>, BuildError> {
        let config: AlertRulesConfig =
            decode_valid(node).map_err(|d| BuildError::config(&ctx.id, d))?;
        let groups = config
            .load_groups(node)
            .map_err(|d| BuildError::config(&ctx.id, d))?;
        let groups = groups
            .into_iter()
            .map(|g| GroupRuntime::new(g, config.evaluation_interval))
            .collect();
        Ok(Arc::new(AlertRules::start(&config, groups, &ctx)))
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct GroupLabels {
    component_id: String,
    rule_group: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct LimitLabels {
    component_id: String,
    limit: String,
}

/// Rule-evaluation self-metrics.
struct RuleMetrics {
    evaluations: Family<GroupLabels, Counter<u64, AtomicU64>>,
    failures: Family<GroupLabels, Counter<u64, AtomicU64>>,
    duration_ms: Family<GroupLabels, Gauge<i64, AtomicI64>>,
    limit_hits: Family<LimitLabels, Counter<u64, AtomicU64>>,
}

impl RuleMetrics {
    fn new(ctx: &BuildContext) -> RuleMetrics {
        RuleMetrics {
            evaluations: ctx.metrics.family(
                "alert_rules_evaluations",
                "Rule group evaluations",
                Family::default,
            ),
            failures: ctx.metrics.family(
                "alert_rules_evaluation_failures",
                "Rules whose evaluation failed (query error, duplicate label sets, limit)",
                Family::default,
            ),
            duration_ms: ctx.metrics.family(
                "alert_rules_last_evaluation_milliseconds",
                "Duration of the last evaluation of a rule group",
                Family::default,
            ),
            limit_hits: ctx.metrics.family(
                "alert_rules_limit_hits",
                "Samples the series window dropped at max_series or max_samples",
                Family::default,
            ),
        }
    }
}

pub struct AlertRules {
    shared: Arc<Shared>,
    stop: CancellationToken,
}

struct Shared {
    id: String,
    window: Mutex<Window>,
    groups: Vec<Mutex<GroupRuntime>>,
    external_labels: Labels,
    resend_delay: std::time::Duration,
    state_file: PathBuf,
    for_state: Mutex<BTreeMap<String, Vec<ForEntry>>>,
    outputs: Mutex<Option<Outputs>>,
    held: Mutex<VecDeque<(Signal, Payload)>>,
    metrics: ComponentMetrics,
    rule_metrics: RuleMetrics,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

impl AlertRules {
    /// Builds the connector; inside a tokio runtime, starts one evaluation task per group.
    pub fn start(
        config: &AlertRulesConfig,
        mut groups: Vec<GroupRuntime>,
        ctx: &BuildContext,
    ) -> AlertRules {
        let state_file = state_path(&ctx.data_dir, &ctx.id);
        // A `for` state that cannot be read costs the restored clocks, not the start.
        let saved = ForState::load(&state_file).unwrap_or_else(|err| {
            tracing::warn!(component = %ctx.id, error = %err, "Cannot read the alert for-state file; pending alerts start their `for` anew.");
            ForState::default()
        });
        let grace = config.for_grace_period.as_millis() as i64;
        let tolerance = config.for_outage_tolerance.as_millis() as i64;
        for group in &mut groups {
            group.set_restore(saved.restore_for(&group.key(), grace, tolerance));
        }
        let range_needed = groups
            .iter()
            .flat_map(|g| &g.group.rules)
            .map(|r| r.query.range_needed())
            .max()
            .unwrap_or_default();
        let shared = Arc::new(Shared {
            id: ctx.id.clone(),
            window: Mutex::new(Window::new(WindowLimits {
                lookback: config.lookback,
                range_needed,
                max_series: config.max_series,
                max_samples: config.max_samples,
            })),
            groups: groups.into_iter().map(Mutex::new).collect(),
            external_labels: config.external_labels.clone(),
            resend_delay: config.resend_delay,
            state_file,
            for_state: Mutex::new(BTreeMap::new()),
            outputs: Mutex::new(None),
            held: Mutex::new(VecDeque::new()),
            metrics: ctx.component_metrics(Kind::Connector, Signal::Metrics),
            rule_metrics: RuleMetrics::new(ctx),
        });
        let stop = CancellationToken::new();
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            for index in 0..shared.groups.len() {
                runtime.spawn(evaluate_forever(
                    shared.clone(),
                    index,
                    stop.clone(),
                    ctx.shutdown.clone(),
                ));
            }
        }
        AlertRules { shared, stop }
    }
}

impl Drop for AlertRules {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

impl Connector for AlertRules {
    fn consume(&self, msg: Message, outputs: &Outputs) -> Result<(), Refusal> {
        let items = msg.payload.item_count();
        self.shared.metrics.received(items);
        lock(&self.shared.outputs).get_or_insert_with(|| outputs.clone());
        // What a full downstream refused earlier rides with this request: refused again,
        // the request is refused too (retryable) and leaves no trace in the window.
        if let Err(refusal) = self.shared.send_held(outputs, &msg.acks) {
            self.shared.metrics.refused(items);
            return Err(refusal);
        }
        let Payload::Metrics(req) = &msg.payload else {
            return Ok(());
        };
        let hit = lock(&self.shared.window).ingest(req);
        self.shared.count_limits(hit);
        Ok(())
    }
}

impl Shared {
    fn count_limits(&self, hit: Ingested) {
        for (limit, n) in [
            ("series", hit.series_limited),
            ("samples", hit.samples_limited),
        ] {
            if n > 0 {
                self.rule_metrics
                    .limit_hits
                    .get_or_create(&LimitLabels {
                        component_id: self.id.clone(),
                        limit: limit.into(),
                    })
                    .inc_by(n);
            }
        }
    }

    fn send_held(&self, outputs: &Outputs, acks: &Acks) -> Result<(), Refusal> {
        let mut held = lock(&self.held);
        while let Some((signal, payload)) = held.pop_front() {
            let Some(output) = outputs.get(&signal) else {
                continue;
            };
            let items = payload.item_count();
            if let Err(refusal) = output.send(Message::new(payload.clone(), acks.clone())) {
                held.push_front((signal, payload));
                return Err(refusal);
            }
            self.metrics.sent(items);
        }
        Ok(())
    }

    /// Emits one evaluation's output; what a full downstream refuses is held for the next
    /// request (bounded: the oldest is dropped and counted).
    fn emit(&self, evaluated: Evaluated, ts: i64) {
        let mut payloads = Vec::new();
        if !evaluated.records.is_empty() {
            payloads.push((
                Signal::Logs,
                Payload::Logs(record::request(evaluated.records)),
            ));
        }
        if !evaluated.recorded.is_empty() {
            payloads.push((
                Signal::Metrics,
                Payload::Metrics(recorded_request(&evaluated.recorded, ts)),
            ));
        }
        let outputs = lock(&self.outputs).clone();
        for (signal, payload) in payloads {
            let Some(outputs) = &outputs else {
                self.hold(signal, payload);
                continue;
            };
            let Some(output) = outputs.get(&signal) else {
                continue;
            };
            let items = payload.item_count();
            match output.send(Message::new(payload.clone(), Acks::none())) {
                Ok(()) => self.metrics.sent(items),
                Err(_) => self.hold(signal, payload),
            }
        }
    }

    fn hold(&self, signal: Signal, payload: Payload) {
        let mut held = lock(&self.held);
        if held.len() >= MAX_HELD {
            if let Some((_, oldest)) = held.pop_front() {
                self.metrics.dropped(
                    oldest.item_count(),
                    "downstream full; held alerts over the limit",
                );
            }
        }
        held.push_back((signal, payload));
    }

    /// Evaluates group `index` at `ts`, emits, and saves the `for` state.
    fn evaluate(&self, index: usize, ts: i64) {
        let started = Instant::now();
        let mut group = lock(&self.groups[index]);
        let settings = EvalSettings {
            external_labels: &self.external_labels,
            resend_delay: self.resend_delay,
        };
        let evaluated = {
            let mut window = lock(&self.window);
            window.evict(ts);
            group.eval(&mut window, ts, &settings)
        };
        let labels = GroupLabels {
            component_id: self.id.clone(),
            rule_group: group.group.name.clone(),
        };
        self.rule_metrics.evaluations.get_or_create(&labels).inc();
        for (rule, err) in &evaluated.failures {
            self.rule_metrics.failures.get_or_create(&labels).inc();
            tracing::debug!(component = %self.id, group = %group.group.name, rule, error = %err, "Rule evaluation failed.");
        }
        let entries: Vec<ForEntry> = group
            .for_state()
            .into_iter()
            .map(|(rule, labels, active_at_ms)| ForEntry {
                group: group.key(),
                rule,
                labels,
                active_at_ms,
            })
            .collect();
        let key = group.key();
        drop(group);
        self.emit(evaluated, ts);
        self.save_for_state(key, entries, ts);
        self.rule_metrics
            .duration_ms
            .get_or_create(&labels)
            .set(started.elapsed().as_millis() as i64);
    }

    fn save_for_state(&self, key: String, entries: Vec<ForEntry>, ts: i64) {
        let mut all = lock(&self.for_state);
        all.insert(key, entries);
        let state = ForState {
            saved_at_ms: ts,
            alerts: all.values().flatten().cloned().collect(),
        };
        if let Err(err) = state.save(&self.state_file) {
            tracing::warn!(component = %self.id, error = %err, "Cannot write the alert for-state file.");
        }
    }
}

async fn evaluate_forever(
    shared: Arc<Shared>,
    index: usize,
    stop: CancellationToken,
    shutdown: CancellationToken,
) {
    loop {
        let now = now_ms();
        let next = lock(&shared.groups[index]).next_eval(now + 1);
        let wait = std::time::Duration::from_millis((next - now).max(0) as u64);
        tokio::select! {
            biased;
            _ = stop.cancelled() => return,
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(wait) => {}
        }
        let shared = shared.clone();
        // Evaluation is CPU work under locks: off the async workers.
        if tokio::task::spawn_blocking(move || shared.evaluate(index, next))
            .await
            .is_err()
        {
            return;
        }
    }
}

fn string(key: &str, value: &str) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(AnyValue {
            value: Some(any_value::Value::StringValue(value.into())),
        }),
        ..Default::default()
    }
}

/// Recording rule results as OTLP gauges, one metric per recorded name, the labels as
/// point attributes.
fn recorded_request(series: &[(Labels, f64)], ts: i64) -> ExportMetricsServiceRequest {
    let mut by_name: BTreeMap<&str, Vec<NumberDataPoint>> = BTreeMap::new();
    for (labels, value) in series {
        let name = labels.get("__name__").map_or("", String::as_str);
        by_name.entry(name).or_default().push(NumberDataPoint {
            attributes: labels
                .iter()
                .filter(|(k, _)| k.as_str() != "__name__")
                .map(|(k, v)| string(k, v))
                .collect(),
            time_unix_nano: ts.max(0) as u64 * 1_000_000,
            value: Some(number_data_point::Value::AsDouble(*value)),
            ..Default::default()
        });
    }
    ExportMetricsServiceRequest {
        resource_metrics: vec![ResourceMetrics {
            resource: None,
            scope_metrics: vec![ScopeMetrics {
                scope: Some(InstrumentationScope {
                    name: record::SCOPE.into(),
                    ..Default::default()
                }),
                metrics: by_name
                    .into_iter()
                    .map(|(name, points)| Metric {
                        name: name.into(),
                        data: Some(metric::Data::Gauge(OtlpGauge {
                            data_points: points,
                        })),
                        ..Default::default()
                    })
                    .collect(),
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}
