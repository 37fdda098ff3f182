//! A series value as the Prometheus samples it stands for: a number is one sample; a
//! histogram is cumulative `_bucket{le}` samples, `_sum` and `_count`; a summary is
//! `{quantile}` samples, `_sum` and `_count`.

use super::names::format_float;
use super::store::SeriesValue;

/// One Prometheus sample of a series: the metric name, at most one extra label (`le` or
/// `quantile`) on top of the series' labels, and the value.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample<'a> {
    pub name: &'a str,
    pub extra_label: Option<(&'static str, &'a str)>,
    pub value: f64,
}

impl SeriesValue {
    /// Calls `emit` with every sample of this value, named after `family`, in exposition order.
    pub fn for_each_sample(&self, family: &str, mut emit: impl FnMut(Sample<'_>)) {
        match self {
            SeriesValue::Number(v) => emit(Sample {
                name: family,
                extra_label: None,
                value: *v,
            }),
            SeriesValue::Histogram {
                bounds,
                counts,
                sum,
                count,
            } => {
                let bucket = format!("{family}_bucket");
                let mut cumulative = 0;
                for (i, c) in counts.iter().enumerate() {
                    cumulative += c;
                    let le = bounds
                        .get(i)
                        .map(|b| format_float(*b))
                        .unwrap_or_else(|| "+Inf".into());
                    emit(Sample {
                        name: &bucket,
                        extra_label: Some(("le", &le)),
                        value: cumulative as f64,
                    });
                }
                if counts.len() <= bounds.len() {
                    emit(Sample {
                        name: &bucket,
                        extra_label: Some(("le", "+Inf")),
                        value: *count as f64,
                    });
                }
                sum_and_count(family, *sum, *count, &mut emit);
            }
            SeriesValue::Summary {
                quantiles,
                sum,
                count,
            } => {
                for (q, v) in quantiles {
                    let quantile = format_float(*q);
                    emit(Sample {
                        name: family,
                        extra_label: Some(("quantile", &quantile)),
                        value: *v,
                    });
                }
                sum_and_count(family, *sum, *count, &mut emit);
            }
        }
    }
}

fn sum_and_count(family: &str, sum: f64, count: u64, emit: &mut impl FnMut(Sample<'_>)) {
    emit(Sample {
        name: &format!("{family}_sum"),
        extra_label: None,
        value: sum,
    });
    emit(Sample {
        name: &format!("{family}_count"),
        extra_label: None,
        value: count as f64,
    });
}
