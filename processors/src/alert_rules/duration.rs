//! Prometheus durations (`30s`, `1h30m`, `1d`, `500ms`): units ms, s, m, h, d, w, y
//! (y = 365d), largest first, each at most once, as in Prometheus's `model.ParseDuration`.

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A duration written the Prometheus way.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PromDuration(pub Duration);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a valid duration string: {0:?} (expected e.g. 30s, 5m, 1h30m, 1d)")]
pub struct DurationError(pub String);

const UNITS: [(&str, u64); 7] = [
    ("y", 365 * 86_400_000),
    ("w", 7 * 86_400_000),
    ("d", 86_400_000),
    ("h", 3_600_000),
    ("m", 60_000),
    ("s", 1_000),
    ("ms", 1),
];

impl PromDuration {
    pub fn parse(text: &str) -> Result<PromDuration, DurationError> {
        let bad = || DurationError(text.to_string());
        if text == "0" {
            return Ok(PromDuration(Duration::ZERO));
        }
        let mut rest = text;
        let mut total: u64 = 0;
        let mut last_unit = usize::MAX;
        if rest.is_empty() {
            return Err(bad());
        }
        while !rest.is_empty() {
            let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
            if digits == 0 {
                return Err(bad());
            }
            let n: u64 = rest[..digits].parse().map_err(|_| bad())?;
            rest = &rest[digits..];
            // `ms` before `m`: the longest unit name that matches.
            let (index, (unit, ms)) = UNITS
                .iter()
                .enumerate()
                .filter(|(_, (u, _))| rest.starts_with(u))
                .max_by_key(|(_, (u, _))| u.len())
                .ok_or_else(bad)?;
            if last_unit != usize::MAX && index <= last_unit {
                return Err(bad());
            }
            last_unit = index;
            rest = &rest[unit.len()..];
            total = n
                .checked_mul(*ms)
                .and_then(|v| total.checked_add(v))
                .ok_or_else(bad)?;
        }
        Ok(PromDuration(Duration::from_millis(total)))
    }

    pub fn millis(&self) -> i64 {
        self.0.as_millis() as i64
    }
}

impl fmt::Display for PromDuration {
    /// Prometheus's `model.Duration.String`: `1h30m`, `0s` for zero.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut ms = self.0.as_millis() as u64;
        if ms == 0 {
            return write!(f, "0s");
        }
        for (unit, size) in UNITS {
            if ms >= size {
                write!(f, "{}{unit}", ms / size)?;
                ms %= size;
            }
        }
        Ok(())
    }
}

impl Serialize for PromDuration {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_string())
    }
}

impl<'de> Deserialize<'de> for PromDuration {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        PromDuration::parse(&text).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_prints_like_prometheus() {
        for (text, ms) in [
            ("30s", 30_000),
            ("1h30m", 5_400_000),
            ("500ms", 500),
            ("1d", 86_400_000),
            ("1m30s500ms", 90_500),
            ("0", 0),
        ] {
            let d = PromDuration::parse(text).unwrap();
            assert_eq!(d.millis(), ms, "{text}");
        }
        assert_eq!(PromDuration::parse("90m").unwrap().to_string(), "1h30m");
        for bad in ["", "5", "m5", "1s1m", "5x", "1.5m", "-1m"] {
            assert!(PromDuration::parse(bad).is_err(), "{bad}");
        }
    }
}
