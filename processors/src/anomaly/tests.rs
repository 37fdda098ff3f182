use std::sync::Arc;

use sentinel_pipeline::otlp::collector::metrics::v1::ExportMetricsServiceRequest;
use sentinel_pipeline::otlp::common::v1::{any_value, AnyValue, KeyValue};
use sentinel_pipeline::otlp::logs::v1::LogRecord;
use sentinel_pipeline::otlp::metrics::v1::{
    metric, number_data_point, AggregationTemporality, Gauge, Metric, NumberDataPoint,
    ResourceMetrics, ScopeMetrics, Sum,
};
use sentinel_pipeline::testing::{sinks_for, snippet, TestSink};
use sentinel_pipeline::{
    Acks, BuildContext, Connector, ConnectorFactory, Message, Outputs, Payload, SelfMetrics, Signal,
};
use tokio_util::sync::CancellationToken;

use super::detector::{Detector, DetectorConfig, SeriesState};
use super::{backtest_csv, AnomalyFactory, EVENT_NAME};

const T0: u64 = 1_767_225_600_000_000_000;
const STEP: u64 = 60_000_000_000;

/// A noisy, deterministic series around 10 with a spike to 30 at `spike` (if any).
fn series(len: usize, spike: Option<usize>) -> Vec<f64> {
    (0..len)
        .map(|i| {
            let noise = (i as f64 * 0.7).sin() * 0.5 + ((i * 7919) % 13) as f64 * 0.05;
            if Some(i) == spike {
                30.0
            } else {
                10.0 + noise
            }
        })
        .collect()
}

struct Harness {
    connector: Arc<dyn Connector>,
    outputs: Outputs,
    sinks: std::collections::BTreeMap<Signal, Arc<TestSink>>,
    metrics: Arc<SelfMetrics>,
}

fn build(yaml: &str) -> Harness {
    let metrics = SelfMetrics::new();
    let ctx = BuildContext {
        id: "anomaly/test".into(),
        metrics: metrics.clone(),
        shutdown: CancellationToken::new(),
        data_dir: sentinel_pipeline::testing::scratch_dir("anomaly"),
    };
    let connector = AnomalyFactory.build(&snippet(yaml), ctx).expect("builds");
    let (sinks, outputs) = sinks_for(AnomalyFactory.output_signals(), false);
    Harness {
        connector,
        outputs,
        sinks,
        metrics,
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

fn point(i: usize, value: f64, attributes: Vec<KeyValue>) -> NumberDataPoint {
    NumberDataPoint {
        attributes,
        time_unix_nano: T0 + i as u64 * STEP,
        value: Some(number_data_point::Value::AsDouble(value)),
        ..Default::default()
    }
}

fn request(metric: Metric) -> Payload {
    Payload::Metrics(ExportMetricsServiceRequest {
        resource_metrics: vec![ResourceMetrics {
            resource: None,
            scope_metrics: vec![ScopeMetrics {
                metrics: vec![metric],
                ..Default::default()
            }],
            ..Default::default()
        }],
    })
}

fn gauge(name: &str, points: Vec<NumberDataPoint>) -> Metric {
    Metric {
        name: name.into(),
        data: Some(metric::Data::Gauge(Gauge {
            data_points: points,
        })),
        ..Default::default()
    }
}

impl Harness {
    fn send(&self, payload: Payload) {
        self.connector
            .consume(Message::new(payload, Acks::none()), &self.outputs)
            .expect("accepted");
    }

    /// Sends `values` as one gauge point per request.
    fn send_gauge(&self, name: &str, values: &[f64], from: usize) {
        for (i, v) in values.iter().enumerate() {
            self.send(request(gauge(name, vec![point(from + i, *v, vec![])])));
        }
    }

    /// Every score point delivered: (metric.name attribute, score).
    fn scores(&self) -> Vec<(String, f64)> {
        let mut out = Vec::new();
        for payload in self.sinks[&Signal::Metrics].payloads() {
            let Payload::Metrics(req) = payload else {
                panic!("metrics")
            };
            for m in req.resource_metrics.iter().flat_map(|r| &r.scope_metrics) {
                for metric in &m.metrics {
                    let Some(metric::Data::Gauge(g)) = &metric.data else {
                        panic!("gauge")
                    };
                    for p in &g.data_points {
                        let name = p
                            .attributes
                            .iter()
                            .find(|kv| kv.key == "metric.name")
                            .map(super::select::value_text)
                            .expect("metric.name");
                        let Some(number_data_point::Value::AsDouble(s)) = p.value else {
                            panic!("double score")
                        };
                        out.push((name, s));
                    }
                }
            }
        }
        out
    }

    fn events(&self) -> Vec<LogRecord> {
        let mut out = Vec::new();
        for payload in self.sinks[&Signal::Logs].payloads() {
            let Payload::Logs(req) = payload else {
                panic!("logs")
            };
            for s in req.resource_logs.iter().flat_map(|r| &r.scope_logs) {
                out.extend(s.log_records.iter().cloned());
            }
        }
        out
    }
}

fn detector() -> Detector {
    Detector::new(DetectorConfig::default())
}

#[test]
fn series_state_fits_in_one_kib() {
    assert!(std::mem::size_of::<SeriesState>() <= 1024);
    assert!(std::mem::size_of::<super::store::Series>() <= 1024);
}

#[test]
fn probation_scores_zero_then_the_detector_speaks() {
    let d = detector();
    let mut state = SeriesState::default();
    let values = series(400, Some(300));
    let verdicts: Vec<_> = values.iter().map(|x| d.step(&mut state, *x)).collect();
    let probation = d.config.probation as usize;
    assert!(verdicts[..probation]
        .iter()
        .all(|v| v.score == 0.0 && !v.event));
    assert!(verdicts[probation..].iter().any(|v| v.score > 0.0));
}

#[test]
fn a_spike_after_probation_is_an_event_on_the_point_itself() {
    let d = detector();
    let mut state = SeriesState::default();
    let events: Vec<usize> = series(400, Some(300))
        .iter()
        .enumerate()
        .filter_map(|(i, x)| d.step(&mut state, *x).event.then_some(i))
        .collect();
    assert_eq!(events, vec![300]);
}

#[test]
fn a_flat_series_raises_nothing() {
    let d = detector();
    let mut state = SeriesState::default();
    for _ in 0..2000 {
        let v = d.step(&mut state, 42.0);
        assert!(!v.event);
        assert_eq!(v.score, 0.0);
    }
}

fn csv(values: &[f64]) -> String {
    let mut text = String::from("timestamp,value\n");
    for (i, v) in values.iter().enumerate() {
        text += &format!("2026-01-01 {:02}:{:02}:00,{v}\n", i / 60 % 24, i % 60);
    }
    text
}

/// (score, label) of each backtest row.
fn backtest_rows(output: &str) -> Vec<(f64, bool)> {
    output
        .lines()
        .skip(1)
        .map(|line| {
            let f: Vec<&str> = line.split(',').collect();
            (f[2].parse().unwrap(), f[3] == "1")
        })
        .collect()
}

#[test]
fn the_backtest_is_reproducible_and_keeps_every_row() {
    let input = csv(&series(500, Some(320)));
    let first = backtest_csv(&detector(), &input).unwrap();
    let second = backtest_csv(&detector(), &input).unwrap();
    assert_eq!(first, second);
    assert!(first.starts_with("timestamp,value,anomaly_score,label\n"));
    let rows = backtest_rows(&first);
    assert_eq!(rows.len(), 500);
    assert!(rows[320].1, "the spike is labelled");
}

#[test]
fn the_connector_scores_as_the_backtest_does() {
    let values = series(600, Some(450));
    let backtest = backtest_rows(&backtest_csv(&detector(), &csv(&values)).unwrap());
    let h = build("");
    h.send_gauge("system.cpu.utilization", &values, 0);
    let scores: Vec<f64> = h.scores().into_iter().map(|(_, s)| s).collect();
    let expected: Vec<f64> = backtest.iter().map(|(s, _)| *s).collect();
    assert_eq!(scores, expected);
    let events = h.events();
    let labelled = backtest.iter().filter(|(_, l)| *l).count();
    assert_eq!(events.len(), labelled);
    assert!(labelled > 0);
    let event = &events[0];
    assert_eq!(event.event_name, EVENT_NAME);
    assert_eq!(event.time_unix_nano, T0 + 450 * STEP);
    let attr = |k: &str| event.attributes.iter().find(|kv| kv.key == k).cloned();
    assert!(
        attr("anomaly.reason").is_some_and(|kv| super::select::value_text(&kv).contains("σ above"))
    );
    assert!(attr("anomaly.expected.upper").is_some());
    assert!(attr("metric.name")
        .is_some_and(|kv| super::select::value_text(&kv) == "system.cpu.utilization"));
}

fn temp_dir(tag: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("sentinel-anomaly-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

#[test]
fn a_restart_continues_from_the_snapshot() {
    let values = series(600, Some(450));
    let whole = build("");
    whole.send_gauge("m", &values, 0);
    let expected = whole.scores();

    let dir = temp_dir("restart");
    let yaml = format!("directory: {}", dir.display());
    let first = build(&yaml);
    first.send_gauge("m", &values[..300], 0);
    let mut scores = first.scores();
    drop(first); // the last snapshot is written on drop (shutdown)
    assert!(dir.join("anomaly_test.json").exists());
    let second = build(&yaml);
    second.send_gauge("m", &values[300..], 300);
    scores.extend(second.scores());
    assert_eq!(scores, expected);
    assert_eq!(second.events().len(), whole.events().len());
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn the_snapshot_round_trips() {
    let dir = temp_dir("roundtrip");
    let path = dir.join("s.json");
    let mut store = super::store::Store::new(10);
    let d = detector();
    for (i, key) in ["a", "b", "c"].iter().enumerate() {
        let (series, _) = store.touch(key);
        for x in series_values(i) {
            d.step(&mut series.state, x);
        }
    }
    store.save(&path).unwrap();
    let mut loaded = super::store::Store::load(&path, 10).unwrap();
    assert_eq!(loaded.len(), 3);
    for (i, key) in ["a", "b", "c"].iter().enumerate() {
        let mut fresh = SeriesState::default();
        for x in series_values(i) {
            d.step(&mut fresh, x);
        }
        assert_eq!(loaded.touch(key).0.state, fresh);
    }
    let _ = std::fs::remove_dir_all(&dir);
}

fn series_values(i: usize) -> Vec<f64> {
    series(150 + i * 10, Some(120))
}

#[test]
fn eviction_of_the_least_recently_updated_is_counted() {
    let h = build("max_series: 2");
    h.send_gauge("a", &[1.0], 0);
    h.send_gauge("b", &[1.0], 1);
    h.send_gauge("a", &[1.0], 2);
    h.send_gauge("c", &[1.0], 3); // evicts b, updated least recently
    h.send_gauge("a", &[1.0], 4); // a is still known
    let text = h.metrics.encode();
    let line = text
        .lines()
        .find(|l| {
            l.starts_with("anomaly_series_evicted_total{")
                || l.contains("anomaly_series_evicted_total{")
        })
        .unwrap_or_else(|| panic!("no eviction counter in\n{text}"));
    assert!(line.ends_with(" 1"), "{line}");
}

#[test]
fn include_and_exclude_select_by_name_and_attribute() {
    let h = build(
        "include: { match_type: regexp, metric_names: ['^system\\.'] }\n\
         exclude: { match_type: strict, attributes: [{ key: state, value: idle }] }",
    );
    let cpu = |state: &str| {
        request(gauge(
            "system.cpu.utilization",
            vec![point(0, 1.0, vec![string("state", state)])],
        ))
    };
    h.send(cpu("user"));
    h.send(cpu("idle"));
    h.send(request(gauge(
        "process.cpu.utilization",
        vec![point(0, 1.0, vec![])],
    )));
    let scored: Vec<String> = h.scores().into_iter().map(|(n, _)| n).collect();
    assert_eq!(scored, vec!["system.cpu.utilization".to_string()]);
}

#[test]
fn a_cumulative_sum_is_scored_on_its_rate() {
    let h = build("");
    let mut total = 0.0;
    let mut rates = Vec::new();
    for i in 0..400 {
        let rate = if i == 350 {
            500.0
        } else {
            10.0 + (i % 3) as f64
        };
        total += rate * 60.0;
        rates.push(rate);
        let sum = Metric {
            name: "system.network.io".into(),
            data: Some(metric::Data::Sum(Sum {
                data_points: vec![point(i, total, vec![])],
                aggregation_temporality: AggregationTemporality::Cumulative as i32,
                is_monotonic: true,
            })),
            ..Default::default()
        };
        h.send(request(sum));
    }
    // The first point has no rate; the others are scored on (Δvalue / Δt).
    assert_eq!(h.scores().len(), 399);
    let d = detector();
    let mut state = SeriesState::default();
    let expected: Vec<f64> = rates[1..]
        .iter()
        .enumerate()
        .map(|(k, r)| {
            let second_of_day = ((k + 1) as u64 * STEP / 1_000_000_000 % 86_400) as u32;
            d.step_at(&mut state, Some(second_of_day), *r).score
        })
        .collect();
    let got: Vec<f64> = h.scores().into_iter().map(|(_, s)| s).collect();
    assert_eq!(got, expected);
    assert_eq!(h.events().len(), 1);
}
