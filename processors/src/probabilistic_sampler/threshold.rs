//! OTEP 235 (W3C trace context level 2) arithmetic: 56-bit randomness values, rejection
//! thresholds, their `th`/`rv` hex encodings, and the FNV hash `hash_seed` mode uses.

use thiserror::Error;

/// Randomness and thresholds are 56-bit numbers: 14 hex digits.
pub const BITS: u32 = 56;
pub const DIGITS: usize = 14;
/// 2^56: one more than the largest randomness value.
pub const SPACE: u64 = 1 << BITS;

/// `hash_seed` mode hashes into 2^14 buckets, the Collector's bucket count.
const HASH_BUCKET_BITS: u32 = 14;
const HASH_BUCKETS: u32 = 1 << HASH_BUCKET_BITS;

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum EncodingError {
    #[error("`{0}` is not 1 to 14 lowercase hex digits")]
    Threshold(String),
    #[error("`{0}` is not exactly 14 lowercase hex digits")]
    Randomness(String),
}

/// A rejection threshold: an item is kept when its randomness is at least this. Zero
/// keeps everything; [`SPACE`] keeps nothing (it has no `th` encoding).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Threshold(u64);

impl Threshold {
    pub const ALWAYS: Threshold = Threshold(0);
    pub const NEVER: Threshold = Threshold(SPACE);

    pub fn from_raw(value: u64) -> Threshold {
        Threshold(value.min(SPACE))
    }

    pub fn raw(self) -> u64 {
        self.0
    }

    /// The threshold keeping `probability` (0 to 1) of items, T = round((1 - p) * 2^56),
    /// rounded to `precision` significant hex digits so that `th` has at most that many.
    pub fn from_probability(probability: f64, precision: u8) -> Threshold {
        if probability.is_nan() || probability <= 0.0 {
            return Threshold::NEVER;
        }
        if probability >= 1.0 {
            return Threshold::ALWAYS;
        }
        // Multiply whichever of p and 1 - p is smaller, where f64 keeps every bit.
        let exact = if probability <= 0.5 {
            SPACE - (probability * SPACE as f64).round() as u64
        } else {
            ((1.0 - probability) * SPACE as f64).round() as u64
        };
        let dropped_digits = DIGITS as u32 - u32::from(precision.clamp(1, DIGITS as u8));
        if dropped_digits == 0 {
            return Threshold(exact.min(SPACE - 1));
        }
        let unit = 1u64 << (4 * dropped_digits);
        let rounded = (exact + unit / 2) / unit * unit;
        // A tiny probability must not round to "keep nothing".
        Threshold(if rounded >= SPACE {
            exact.min(SPACE - 1)
        } else {
            rounded
        })
    }

    /// The fraction of items this threshold keeps.
    pub fn probability(self) -> f64 {
        (SPACE - self.0) as f64 / SPACE as f64
    }

    pub fn keeps(self, randomness: Randomness) -> bool {
        randomness.0 >= self.0
    }

    /// The `th` value: 14 hex digits with trailing zeros removed, `0` for keep-all.
    /// `None` for [`Threshold::NEVER`], which nothing kept can carry.
    pub fn encode(self) -> Option<String> {
        if self.0 >= SPACE {
            return None;
        }
        if self.0 == 0 {
            return Some("0".to_string());
        }
        let full = format!("{:014x}", self.0);
        Some(full.trim_end_matches('0').to_string())
    }

    /// Parses a `th` value; missing trailing digits are zeros.
    pub fn decode(text: &str) -> Result<Threshold, EncodingError> {
        let valid = !text.is_empty()
            && text.len() <= DIGITS
            && text.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
        if !valid {
            return Err(EncodingError::Threshold(text.to_string()));
        }
        let value = u64::from_str_radix(text, 16).expect("checked hex digits");
        Ok(Threshold(value << (4 * (DIGITS - text.len()))))
    }
}

/// A 56-bit randomness value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Randomness(u64);

impl Randomness {
    /// The low 56 bits of a 16-byte trace ID; `None` for an invalid (empty, wrong
    /// length or all-zero) ID.
    pub fn from_trace_id(trace_id: &[u8]) -> Option<Randomness> {
        let id: &[u8; 16] = trace_id.try_into().ok()?;
        if id.iter().all(|b| *b == 0) {
            return None;
        }
        let mut low = [0u8; 8];
        low[1..].copy_from_slice(&id[9..]);
        Some(Randomness(u64::from_be_bytes(low)))
    }

    /// Parses an explicit `rv` value (exactly 14 hex digits).
    pub fn decode(text: &str) -> Result<Randomness, EncodingError> {
        let valid = text.len() == DIGITS && text.bytes().all(|b| b.is_ascii_hexdigit());
        if !valid {
            return Err(EncodingError::Randomness(text.to_string()));
        }
        let value = u64::from_str_radix(text, 16).expect("checked hex digits");
        Ok(Randomness(value))
    }

    /// `hash_seed` mode: the 14-bit FNV-1a hash of the seed (4 bytes, little-endian)
    /// followed by `bytes`, placed in the top bits of the 56-bit space.
    pub fn from_hash(seed: u32, bytes: &[u8]) -> Randomness {
        let bucket = fnv1a_32(&seed.to_le_bytes(), bytes) & (HASH_BUCKETS - 1);
        Randomness(u64::from(bucket) << (BITS - HASH_BUCKET_BITS))
    }

    pub fn raw(self) -> u64 {
        self.0
    }
}

/// `hash_seed` mode's threshold: the Collector keeps `percentage * 2^14 / 100` of the
/// 2^14 buckets (truncated), so the rejection threshold is the bucket count left over.
pub fn hash_seed_threshold(percentage: f32) -> Threshold {
    let scale = HASH_BUCKETS as f32 / 100.0;
    let kept_buckets = ((percentage * scale) as u32).min(HASH_BUCKETS);
    let rejected = u64::from(HASH_BUCKETS - kept_buckets);
    Threshold(rejected << (BITS - HASH_BUCKET_BITS))
}

/// 32-bit FNV-1a over the concatenation of `parts`.
pub(super) fn fnv1a_32(first: &[u8], second: &[u8]) -> u32 {
    const OFFSET_BASIS: u32 = 0x811c_9dc5;
    const PRIME: u32 = 0x0100_0193;
    first.iter().chain(second).fold(OFFSET_BASIS, |hash, byte| {
        (hash ^ u32::from(*byte)).wrapping_mul(PRIME)
    })
}
