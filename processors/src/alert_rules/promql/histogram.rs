//! `histogram_quantile` over classic (`le`-labelled) bucket series.

use std::collections::HashMap;

use super::labels::{Labels, METRIC_NAME};
use super::Sample;

/// Relative difference under which two bucket counts are taken as equal, so float
/// noise in cumulative counts does not count as a non-monotonic bucket.
const SMALL_DELTA_TOLERANCE: f64 = 1e-12;

#[derive(Debug, Clone, Copy)]
struct Bucket {
    upper: f64,
    count: f64,
}

/// Groups the bucket series by their labels without `le` and `__name__`, and gives each
/// group's φ-quantile. Series without a parsable `le` are ignored.
pub(crate) fn histogram_quantile(phi: f64, input: Vec<Sample>) -> Vec<Sample> {
    let mut order: Vec<Labels> = Vec::new();
    let mut groups: HashMap<Labels, Vec<Bucket>> = HashMap::new();
    for s in input {
        let Some(upper) = s.labels.get("le").and_then(parse_le) else {
            continue;
        };
        let key = s.labels.without(&["le", METRIC_NAME]);
        let buckets = groups.entry(key.clone()).or_insert_with(|| {
            order.push(key);
            Vec::new()
        });
        buckets.push(Bucket {
            upper,
            count: s.value,
        });
    }
    order
        .into_iter()
        .map(|labels| {
            let buckets = groups.remove(&labels).unwrap_or_default();
            Sample {
                labels,
                value: bucket_quantile(phi, buckets),
            }
        })
        .collect()
}

/// `le` values as Prometheus parses them (Go's ParseFloat: "+Inf", "Inf", numbers).
fn parse_le(s: &str) -> Option<f64> {
    match s.trim() {
        "+Inf" | "Inf" | "+inf" | "inf" => Some(f64::INFINITY),
        "-Inf" | "-inf" => Some(f64::NEG_INFINITY),
        other => other.parse().ok(),
    }
}

/// The quantile with linear interpolation inside the bucket the rank falls in; the
/// lowest bucket starts at 0 (unless its bound is ≤ 0); a rank in the +Inf bucket
/// gives the highest finite bound. NaN without a +Inf bucket or observations.
fn bucket_quantile(phi: f64, mut buckets: Vec<Bucket>) -> f64 {
    if phi.is_nan() {
        return f64::NAN;
    }
    if phi < 0.0 {
        return f64::NEG_INFINITY;
    }
    if phi > 1.0 {
        return f64::INFINITY;
    }
    buckets.sort_by(|a, b| a.upper.total_cmp(&b.upper));
    if buckets.last().is_none_or(|b| b.upper != f64::INFINITY) {
        return f64::NAN;
    }
    let mut buckets = coalesce(buckets);
    make_monotonic(&mut buckets);
    if buckets.len() < 2 {
        return f64::NAN;
    }
    let observations = buckets[buckets.len() - 1].count;
    if observations == 0.0 {
        return f64::NAN;
    }
    let mut rank = phi * observations;
    let searched = &buckets[..buckets.len() - 1];
    let b = searched.partition_point(|bucket| bucket.count < rank);
    if b == buckets.len() - 1 {
        return buckets[buckets.len() - 2].upper;
    }
    if b == 0 && buckets[0].upper <= 0.0 {
        return buckets[0].upper;
    }
    let end = buckets[b].upper;
    let mut count = buckets[b].count;
    let mut start = 0.0;
    if b > 0 {
        start = buckets[b - 1].upper;
        count -= buckets[b - 1].count;
        rank -= buckets[b - 1].count;
    }
    start + (end - start) * (rank / count)
}

/// Buckets with the same bound (e.g. `le="1"` and `le="1.0"`) are one bucket.
fn coalesce(buckets: Vec<Bucket>) -> Vec<Bucket> {
    let mut out: Vec<Bucket> = Vec::with_capacity(buckets.len());
    for b in buckets {
        match out.last_mut() {
            Some(last) if last.upper == b.upper => last.count += b.count,
            _ => out.push(b),
        }
    }
    out
}

/// Cumulative counts must not fall: a lower count is raised to the highest before it,
/// and counts within the tolerance of the previous one are made equal to it.
fn make_monotonic(buckets: &mut [Bucket]) {
    let Some(first) = buckets.first() else {
        return;
    };
    let mut prev = first.count;
    for b in buckets.iter_mut().skip(1) {
        let curr = b.count;
        if curr == prev {
            continue;
        }
        let close = (curr - prev).abs() <= SMALL_DELTA_TOLERANCE * curr.abs().max(prev.abs());
        if close || curr < prev {
            b.count = prev;
            continue;
        }
        prev = curr;
    }
}
