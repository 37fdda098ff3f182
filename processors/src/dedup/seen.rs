//! The seen-set of spans and data points: two bloom-filter generations over 64-bit
//! identities, with a fixed memory size. New identities go into the current generation;
//! a lookup checks both. The current generation becomes the previous one (and the old
//! previous one is forgotten) every `window`, or earlier once it holds as many
//! identities as it was sized for, so the false-positive bound holds whatever the traffic.

use std::time::Duration;

use tokio::time::Instant;

/// A bloom filter of `bits.len() * 64` bits probed `hashes` times per key.
struct Bloom {
    bits: Vec<u64>,
    hashes: u32,
    inserted: u64,
}

impl Bloom {
    fn new(words: usize, hashes: u32) -> Bloom {
        // Zeroed memory comes from the allocator untouched, so pages are only resident
        // once written.
        Bloom {
            bits: vec![0; words],
            hashes,
            inserted: 0,
        }
    }

    fn len_bits(&self) -> u64 {
        self.bits.len() as u64 * 64
    }

    /// Bit positions by double hashing (Kirsch and Mitzenmacher): the second hash is
    /// derived from the first with a 64-bit finaliser, and positions are reduced by
    /// multiply-shift rather than modulo.
    fn position(key: u64, second: u64, probe: u64, len_bits: u64) -> usize {
        let h = key.wrapping_add(probe.wrapping_mul(second));
        ((h as u128 * len_bits as u128) >> 64) as usize
    }

    fn contains(&self, key: u64) -> bool {
        let (second, len) = (mix(key) | 1, self.len_bits());
        (0..u64::from(self.hashes)).all(|probe| {
            let bit = Self::position(key, second, probe, len);
            self.bits[bit / 64] & (1 << (bit % 64)) != 0
        })
    }

    fn insert(&mut self, key: u64) {
        let (second, len) = (mix(key) | 1, self.len_bits());
        for probe in 0..u64::from(self.hashes) {
            let bit = Self::position(key, second, probe, len);
            self.bits[bit / 64] |= 1 << (bit % 64);
        }
        self.inserted += 1;
    }

    fn clear(&mut self) {
        let words = self.bits.len();
        // Free before allocating so the two never coexist.
        self.bits = Vec::new();
        self.bits = vec![0; words];
        self.inserted = 0;
    }
}

/// splitmix64's finaliser.
fn mix(mut x: u64) -> u64 {
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

/// How a seen-set of a given size and false-positive rate is laid out.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sizing {
    /// 64-bit words per generation.
    pub words_per_generation: usize,
    pub hashes: u32,
    /// Identities a generation holds before it rotates early.
    pub capacity: u64,
}

impl Sizing {
    /// Splits `bytes` into two generations, each allowed half of `false_positive_rate`
    /// (a lookup checks both, so their rates add up).
    pub fn new(bytes: u64, false_positive_rate: f64) -> Sizing {
        let words_per_generation = ((bytes / 2) / 8).max(1) as usize;
        let bits = words_per_generation as f64 * 64.0;
        let per_generation = false_positive_rate / 2.0;
        let ln2 = std::f64::consts::LN_2;
        let hashes = (-per_generation.log2()).round().max(1.0) as u32;
        // The largest n with (1 - e^(-k n / m))^k <= p for this k.
        let fill = 1.0 - per_generation.powf(1.0 / hashes as f64);
        let capacity = (-(bits / hashes as f64) * (1.0 - fill).ln()).floor();
        debug_assert!(capacity <= bits * ln2);
        Sizing {
            words_per_generation,
            hashes,
            capacity: (capacity as u64).max(1),
        }
    }

    /// Bytes of the whole seen-set per identity it is guaranteed to remember.
    pub fn bytes_per_key(&self) -> f64 {
        (self.words_per_generation * 8 * 2) as f64 / self.capacity as f64
    }
}

pub struct SeenSet {
    current: Bloom,
    previous: Bloom,
    sizing: Sizing,
    window: Duration,
    generation_started: Instant,
    /// Rotations forced by a full generation, not by time.
    pub early_rotations: u64,
}

impl SeenSet {
    pub fn new(bytes: u64, false_positive_rate: f64, window: Duration) -> SeenSet {
        let sizing = Sizing::new(bytes, false_positive_rate);
        SeenSet {
            current: Bloom::new(sizing.words_per_generation, sizing.hashes),
            previous: Bloom::new(sizing.words_per_generation, sizing.hashes),
            sizing,
            window,
            generation_started: Instant::now(),
            early_rotations: 0,
        }
    }

    pub fn sizing(&self) -> Sizing {
        self.sizing
    }

    /// Bytes held by the filters.
    pub fn memory_bytes(&self) -> usize {
        (self.current.bits.capacity() + self.previous.bits.capacity()) * 8
    }

    /// Forgets the older generation if the current one is `window` old.
    pub fn rotate_if_due(&mut self, now: Instant) {
        if now.duration_since(self.generation_started) >= self.window {
            self.rotate(now);
        }
    }

    fn rotate(&mut self, now: Instant) {
        std::mem::swap(&mut self.current, &mut self.previous);
        self.current.clear();
        self.generation_started = now;
    }

    /// Whether `key` was seen before (or is a false positive), without remembering it.
    pub fn contains(&self, key: u64) -> bool {
        self.current.contains(key) || self.previous.contains(key)
    }

    /// Whether `key` was seen before (or is a false positive); remembers it either way.
    pub fn check_and_insert(&mut self, key: u64) -> bool {
        let seen = self.seen_before(key);
        if !seen {
            self.insert(key);
        }
        seen
    }

    /// Whether `key` was seen before (or is a false positive). One seen only in the
    /// previous generation is copied forward, so that it is remembered for a window
    /// after its last sighting.
    pub fn seen_before(&mut self, key: u64) -> bool {
        if self.current.contains(key) {
            return true;
        }
        if self.previous.contains(key) {
            self.insert(key);
            return true;
        }
        false
    }

    /// Remembers `key`, rotating first if the current generation is full.
    pub fn insert(&mut self, key: u64) {
        if self.current.inserted >= self.sizing.capacity {
            self.early_rotations += 1;
            self.rotate(Instant::now());
        }
        self.current.insert(key);
    }
}

/// What [`measure_false_positives`] found.
#[derive(Debug, Clone, Copy)]
pub struct Measured {
    /// Share of distinct keys taken for duplicates while they were inserted.
    pub while_filling: f64,
    /// Share of fresh keys taken for duplicates with both generations full: the worst case.
    pub when_full: f64,
    /// [`Sizing::bytes_per_key`] of the set measured.
    pub bytes_per_key: f64,
    /// Size of the set measured.
    pub memory_bytes: usize,
}

/// For tests and benchmarks: inserts `keys` distinct identities into a seen-set sized so
/// that they fill both generations to capacity, then looks up `keys` fresh ones.
pub fn measure_false_positives(keys: u64, rate: f64) -> Measured {
    let per_key = Sizing::new(1 << 30, rate).bytes_per_key();
    // Rounding slack so that the two generations hold at least `keys`.
    let budget = (keys as f64 * per_key / 2.0).ceil() as u64 + 128;
    let mut seen = SeenSet::new(budget, rate, Duration::from_secs(3600));
    let capacity = seen.sizing().capacity;
    assert!(2 * capacity >= keys, "{:?}", seen.sizing());
    let key = |i: u64| xxhash_rust::xxh64::xxh64(&i.to_le_bytes(), 1);
    let taken_while_filling = (0..2 * capacity)
        .filter(|i| seen.check_and_insert(key(*i)))
        .count();
    assert_eq!(seen.early_rotations, 1, "both generations are full");
    let taken_when_full = (2 * capacity..2 * capacity + keys)
        .filter(|i| seen.contains(key(*i)))
        .count();
    Measured {
        while_filling: taken_while_filling as f64 / (2 * capacity) as f64,
        when_full: taken_when_full as f64 / keys as f64,
        bytes_per_key: seen.sizing().bytes_per_key(),
        memory_bytes: seen.memory_bytes(),
    }
}
