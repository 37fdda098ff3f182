//! Turns the aggregation into one OTLP metrics request: per resource group, `calls`
//! (monotonic sum) and `duration` (histogram), with the configured temporality.

use sentinel_pipeline::otlp::collector::metrics::v1::ExportMetricsServiceRequest;
use sentinel_pipeline::otlp::common::v1::InstrumentationScope;
use sentinel_pipeline::otlp::metrics::v1::{
    exemplar, exponential_histogram_data_point, metric, number_data_point, AggregationTemporality,
    Exemplar as OtlpExemplar, ExponentialHistogram, ExponentialHistogramDataPoint, Histogram,
    HistogramDataPoint, Metric, NumberDataPoint, ResourceMetrics, ScopeMetrics, Sum,
};

use super::aggregate::{Exemplar, Series, Settings, State};
use super::config::Temporality;
use super::histogram::Buckets;

/// The scope name the Collector gives the connector's metrics.
pub const SCOPE_NAME: &str = "spanmetricsconnector";

/// Names and times of one flush.
pub struct Emit<'a> {
    pub calls_name: &'a str,
    pub duration_name: &'a str,
    pub temporality: Temporality,
    pub start_unix_nano: u64,
    pub now_unix_nano: u64,
}

impl Emit<'_> {
    /// The request for every series in `state`; `None` when there is none.
    pub fn request(
        &self,
        settings: &Settings,
        state: &State,
    ) -> Option<ExportMetricsServiceRequest> {
        let resource_metrics: Vec<ResourceMetrics> = state
            .groups
            .iter()
            .filter_map(|group| {
                let series: Vec<&Series> = group
                    .series
                    .iter()
                    .chain(&group.overflow)
                    .map(|&s| &state.series[s])
                    .collect();
                if series.is_empty() {
                    return None;
                }
                let mut metrics = vec![self.calls(&series)];
                metrics.extend(self.duration(settings, &series));
                Some(ResourceMetrics {
                    resource: Some(group.resource.clone()),
                    scope_metrics: vec![ScopeMetrics {
                        scope: Some(InstrumentationScope {
                            name: SCOPE_NAME.into(),
                            ..Default::default()
                        }),
                        metrics,
                        ..Default::default()
                    }],
                    ..Default::default()
                })
            })
            .collect();
        (!resource_metrics.is_empty()).then_some(ExportMetricsServiceRequest { resource_metrics })
    }

    fn temporality(&self) -> i32 {
        match self.temporality {
            Temporality::Cumulative => AggregationTemporality::Cumulative as i32,
            Temporality::Delta => AggregationTemporality::Delta as i32,
        }
    }

    fn calls(&self, series: &[&Series]) -> Metric {
        let data_points = series
            .iter()
            .map(|s| NumberDataPoint {
                attributes: s.attributes.clone(),
                start_time_unix_nano: self.start_unix_nano,
                time_unix_nano: self.now_unix_nano,
                value: Some(number_data_point::Value::AsInt(s.calls as i64)),
                ..Default::default()
            })
            .collect();
        Metric {
            name: self.calls_name.into(),
            data: Some(metric::Data::Sum(Sum {
                data_points,
                aggregation_temporality: self.temporality(),
                is_monotonic: true,
            })),
            ..Default::default()
        }
    }

    fn duration(&self, settings: &Settings, series: &[&Series]) -> Option<Metric> {
        let data = match series.first().map(|s| &s.buckets) {
            None | Some(Buckets::None) => return None,
            Some(Buckets::Explicit(_)) => metric::Data::Histogram(Histogram {
                data_points: series.iter().map(|s| self.explicit(settings, s)).collect(),
                aggregation_temporality: self.temporality(),
            }),
            Some(Buckets::Exponential(_)) => {
                metric::Data::ExponentialHistogram(ExponentialHistogram {
                    data_points: series.iter().map(|s| self.exponential(s)).collect(),
                    aggregation_temporality: self.temporality(),
                })
            }
        };
        Some(Metric {
            name: self.duration_name.into(),
            unit: settings.unit.as_str().into(),
            data: Some(data),
            ..Default::default()
        })
    }

    fn explicit(&self, settings: &Settings, s: &Series) -> HistogramDataPoint {
        let Buckets::Explicit(counts) = &s.buckets else {
            unreachable!("every series of a connector has the same bucket kind")
        };
        HistogramDataPoint {
            attributes: s.attributes.clone(),
            start_time_unix_nano: self.start_unix_nano,
            time_unix_nano: self.now_unix_nano,
            count: s.calls,
            sum: Some(s.sum),
            bucket_counts: counts.to_vec(),
            explicit_bounds: settings.bounds.clone(),
            exemplars: exemplars(&s.exemplars),
            min: (s.calls > 0).then_some(s.min),
            max: (s.calls > 0).then_some(s.max),
            ..Default::default()
        }
    }

    fn exponential(&self, s: &Series) -> ExponentialHistogramDataPoint {
        let Buckets::Exponential(e) = &s.buckets else {
            unreachable!("every series of a connector has the same bucket kind")
        };
        ExponentialHistogramDataPoint {
            attributes: s.attributes.clone(),
            start_time_unix_nano: self.start_unix_nano,
            time_unix_nano: self.now_unix_nano,
            count: s.calls,
            sum: Some(s.sum),
            scale: e.scale,
            zero_count: e.zero_count,
            positive: Some(exponential_histogram_data_point::Buckets {
                offset: e.offset,
                bucket_counts: e.counts.clone(),
            }),
            exemplars: exemplars(&s.exemplars),
            min: (s.calls > 0).then_some(s.min),
            max: (s.calls > 0).then_some(s.max),
            ..Default::default()
        }
    }
}

fn exemplars(kept: &[Exemplar]) -> Vec<OtlpExemplar> {
    kept.iter()
        .map(|e| OtlpExemplar {
            time_unix_nano: e.time_unix_nano,
            value: Some(exemplar::Value::AsDouble(e.value)),
            trace_id: e.trace_id.to_vec(),
            span_id: e.span_id.to_vec(),
            ..Default::default()
        })
        .collect()
}
