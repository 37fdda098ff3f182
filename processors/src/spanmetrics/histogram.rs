//! Duration histograms of one series: explicit bounds, or base-2 exponential buckets as
//! the OTLP data model defines them (bucket `i` at scale `s` holds values in
//! `(2^(i/2^s), 2^((i+1)/2^s)]`; zero durations go to the zero bucket).

/// The finest scale used: a new exponential histogram starts here and only scales down.
pub const MAX_SCALE: i32 = 20;

/// Buckets of one series.
#[derive(Debug, Clone)]
pub enum Buckets {
    /// Counts per explicit bucket: `bounds.len() + 1` entries, the bounds held once by
    /// the connector.
    Explicit(Box<[u64]>),
    Exponential(Exponential),
    /// `histogram.disable`.
    None,
}

impl Buckets {
    pub fn record(&mut self, bounds: &[f64], value: f64) {
        match self {
            // Upper bounds are inclusive: the first bound >= value.
            Buckets::Explicit(counts) => counts[bounds.partition_point(|b| *b < value)] += 1,
            Buckets::Exponential(e) => e.record(value),
            Buckets::None => {}
        }
    }

    /// Heap bytes held, for the series memory figure.
    pub fn heap_bytes(&self) -> usize {
        match self {
            Buckets::Explicit(counts) => counts.len() * 8,
            Buckets::Exponential(e) => e.counts.capacity() * 8,
            Buckets::None => 0,
        }
    }
}

/// Positive-range exponential buckets, rescaled down when the range outgrows `max_size`.
#[derive(Debug, Clone)]
pub struct Exponential {
    pub scale: i32,
    pub zero_count: u64,
    /// Bucket index of `counts[0]`.
    pub offset: i32,
    pub counts: Vec<u64>,
    max_size: usize,
}

impl Exponential {
    pub fn new(max_size: usize) -> Self {
        Exponential {
            scale: MAX_SCALE,
            zero_count: 0,
            offset: 0,
            counts: Vec::new(),
            max_size,
        }
    }

    pub fn record(&mut self, value: f64) {
        if value <= 0.0 || !value.is_finite() {
            self.zero_count += 1;
            return;
        }
        let mut index = map_to_index(value, self.scale);
        if self.counts.is_empty() {
            self.offset = index;
            self.counts.push(1);
            return;
        }
        let low = self.offset.min(index);
        let high = (self.offset + self.counts.len() as i32 - 1).max(index);
        let change = scale_change(low, high, self.max_size);
        if change > 0 {
            self.downscale(change);
            index = map_to_index(value, self.scale);
        }
        if index < self.offset {
            let grow = (self.offset - index) as usize;
            self.counts.splice(0..0, std::iter::repeat_n(0, grow));
            self.offset = index;
        }
        let at = (index - self.offset) as usize;
        if at >= self.counts.len() {
            self.counts.resize(at + 1, 0);
        }
        self.counts[at] += 1;
    }

    /// Halves the resolution `change` times, merging neighbouring buckets.
    fn downscale(&mut self, change: u32) {
        let new_offset = self.offset >> change;
        let mut merged: Vec<u64> = Vec::with_capacity(self.counts.len());
        for (i, count) in self.counts.iter().enumerate() {
            let at = (((self.offset + i as i32) >> change) - new_offset) as usize;
            if at >= merged.len() {
                merged.resize(at + 1, 0);
            }
            merged[at] += count;
        }
        self.offset = new_offset;
        self.counts = merged;
        self.scale -= change as i32;
    }
}

/// How many halvings make indexes `low..=high` fit in `max_size` buckets.
fn scale_change(mut low: i32, mut high: i32, max_size: usize) -> u32 {
    let mut change = 0;
    while (high as i64 - low as i64 + 1) > max_size as i64 {
        low >>= 1;
        high >>= 1;
        change += 1;
    }
    change
}

/// The bucket index of a positive finite `value` at `scale`. Exact powers of two are
/// placed by their exponent, so the inclusive upper bounds hold exactly there.
pub fn map_to_index(value: f64, scale: i32) -> i32 {
    let (exponent, exact_power) = base2_exponent(value);
    if scale <= 0 {
        let exp = if exact_power { exponent - 1 } else { exponent };
        return exp >> -scale;
    }
    if exact_power {
        return (exponent << scale) - 1;
    }
    let factor = f64::from(1u32 << scale) / std::f64::consts::LN_2;
    (value.ln() * factor).ceil() as i32 - 1
}

/// `floor(log2(value))` and whether `value` is exactly a power of two.
fn base2_exponent(value: f64) -> (i32, bool) {
    let bits = value.to_bits();
    let biased = ((bits >> 52) & 0x7ff) as i32;
    let mantissa = bits & ((1u64 << 52) - 1);
    if biased == 0 {
        // Subnormal: far below any span duration; the logarithm is close enough.
        return (value.log2().floor() as i32, mantissa.is_power_of_two());
    }
    (biased - 1023, mantissa == 0)
}

/// Lower bound of bucket `index` at `scale` (its upper bound is that of `index + 1`).
#[cfg(test)]
pub fn lower_bound(index: i32, scale: i32) -> f64 {
    (f64::from(index) / f64::from(scale).exp2()).exp2()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exponential_downscaling_keeps_every_count_in_its_bucket() {
        let mut histogram = Exponential::new(20);
        // Spread over six orders of magnitude, so the scale drops several times.
        let values: Vec<f64> = (0..500).map(|i| 0.001 * 1.03f64.powi(i)).collect();
        values.iter().for_each(|v| histogram.record(*v));
        assert!(histogram.counts.len() <= 20);
        let mut expected = vec![0u64; histogram.counts.len()];
        for v in &values {
            let index = map_to_index(*v, histogram.scale);
            expected[(index - histogram.offset) as usize] += 1;
        }
        assert_eq!(histogram.counts, expected);
        assert_eq!(histogram.counts.iter().sum::<u64>(), 500);
        // One scale finer would not fit.
        let lo = map_to_index(values[0], histogram.scale + 1);
        let hi = map_to_index(values[499], histogram.scale + 1);
        assert!(hi - lo + 1 > 20);
    }

    #[test]
    fn map_to_index_matches_the_bucket_definition() {
        for scale in [-2, 0, 3, 10, 20] {
            for v in [0.3, 1.0, 1.5, 2.0, 7.0, 8.0, 1000.0, 123_456.789] {
                let i = map_to_index(v, scale);
                let (lo, hi) = (lower_bound(i, scale), lower_bound(i + 1, scale));
                // Bounds from exp2 are within a few ulps; exact at powers of two.
                assert!(
                    lo < v * (1.0 + 1e-12) && v <= hi * (1.0 + 1e-12),
                    "{v} at {scale}: ({lo}, {hi}]"
                );
            }
        }
    }
}
