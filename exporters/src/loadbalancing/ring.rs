//! Consistent hashing with bounded load.
//!
//! Every backend owns [`POINTS_PER_BACKEND`] points on a 64-bit ring (hashes of its
//! endpoint); a key belongs to the first point at or after its own hash. Adding or removing
//! a backend moves only the keys next to its points (about 1/N of them).
//!
//! Bounded load (Mirrokni, Thorup, Zadimoghaddam 2018): a backend already carrying more
//! than `load_factor` × the mean load is passed over for the next distinct backend on the
//! ring. The load is the number of items in flight to each backend from *other* exports,
//! sampled when a batch is routed, so a backend that answers slowly stops taking new keys
//! while the others keep theirs.

use xxhash_rust::xxh64::xxh64;

/// Points per backend: enough for a spread within a few percent with a handful of backends.
pub const POINTS_PER_BACKEND: usize = 160;

#[derive(Debug, Clone, Default)]
pub struct Ring {
    /// `(point, backend index)`, sorted by point.
    points: Vec<(u64, usize)>,
    backends: usize,
}

impl Ring {
    /// The ring of these endpoints; backend indexes follow the slice's order.
    pub fn new(endpoints: &[String]) -> Ring {
        let mut points = Vec::with_capacity(endpoints.len() * POINTS_PER_BACKEND);
        for (index, endpoint) in endpoints.iter().enumerate() {
            for replica in 0..POINTS_PER_BACKEND {
                points.push((xxh64(endpoint.as_bytes(), replica as u64), index));
            }
        }
        points.sort_unstable();
        Ring {
            points,
            backends: endpoints.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.backends == 0
    }

    /// The backend owning `key` without regard to load.
    pub fn owner(&self, key: u64) -> Option<usize> {
        self.walk(key).next()
    }

    /// Distinct backends in ring order starting at `key`'s owner.
    fn walk(&self, key: u64) -> impl Iterator<Item = usize> + '_ {
        let start = self.points.partition_point(|(p, _)| *p < key);
        let mut seen = Vec::new();
        self.points[start..]
            .iter()
            .chain(&self.points[..start])
            .map(|(_, b)| *b)
            .filter(move |b| {
                if seen.contains(b) {
                    false
                } else {
                    seen.push(*b);
                    true
                }
            })
            .take(self.backends)
    }

    /// The backend for `key` given each backend's current load: the owner, unless its load
    /// exceeds `load_factor` × the mean, then the next backend on the ring within the
    /// bound. Returns the backend and whether it differs from the owner.
    pub fn choose(&self, key: u64, loads: &[usize], load_factor: f64) -> Option<(usize, bool)> {
        let owner = self.owner(key)?;
        let total: usize = loads.iter().sum();
        if load_factor == 0.0 || total == 0 {
            return Some((owner, false));
        }
        let bound = load_factor * total as f64 / self.backends as f64;
        let within = |b: usize| loads.get(b).copied().unwrap_or(0) as f64 <= bound;
        match self.walk(key).find(|b| within(*b)) {
            Some(b) => Some((b, b != owner)),
            None => Some((owner, false)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn endpoints(n: usize) -> Vec<String> {
        (0..n).map(|i| format!("10.0.0.{i}:4317")).collect()
    }

    #[test]
    fn keys_spread_evenly_and_few_move_when_a_backend_leaves() {
        let ring = Ring::new(&endpoints(4));
        let keys: Vec<u64> = (0..40_000u64).map(|k| xxh64(&k.to_le_bytes(), 7)).collect();
        let mut counts = [0usize; 4];
        for key in &keys {
            counts[ring.owner(*key).unwrap()] += 1;
        }
        for count in counts {
            // 10 000 each if perfectly even; 160 points each keep it within 15%.
            assert!((8_500..11_500).contains(&count), "{counts:?}");
        }
        // Remove backend 3: only its keys move, and they spread over the rest.
        let smaller = Ring::new(&endpoints(3));
        let mut moved = 0;
        for key in &keys {
            let before = ring.owner(*key).unwrap();
            let after = smaller.owner(*key).unwrap();
            if before != 3 {
                assert_eq!(before, after, "a key of a remaining backend moved");
            } else {
                moved += 1;
            }
        }
        assert_eq!(moved, counts[3]);
    }

    #[test]
    fn an_overloaded_backend_is_passed_over_and_others_keep_their_keys() {
        let ring = Ring::new(&endpoints(3));
        let key = (0..u64::MAX)
            .map(|k| xxh64(&k.to_le_bytes(), 1))
            .find(|k| ring.owner(*k) == Some(0))
            .unwrap();
        // Balanced or idle: the owner.
        assert_eq!(ring.choose(key, &[0, 0, 0], 1.25), Some((0, false)));
        assert_eq!(ring.choose(key, &[10, 10, 10], 1.25), Some((0, false)));
        // Backend 0 carries 90 of 100 in flight: bound 41.7, so the next one takes it.
        let (chosen, diverted) = ring.choose(key, &[90, 5, 5], 1.25).unwrap();
        assert!(diverted && chosen != 0);
        // Off: always the owner.
        assert_eq!(ring.choose(key, &[90, 5, 5], 0.0), Some((0, false)));
        assert_eq!(Ring::new(&[]).choose(key, &[], 1.25), None);
    }
}
