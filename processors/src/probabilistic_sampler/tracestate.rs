//! Reading and writing the OpenTelemetry (`ot=`) entry of a W3C `tracestate`: its
//! sub-keys are `key:value` pairs separated by `;` (`ot=th:c;rv:...`).

use super::threshold::{EncodingError, Randomness, Threshold};

/// What the `ot` entry says about sampling.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct OtSampling {
    /// `th`: the threshold an upstream sampler applied.
    pub threshold: Option<Threshold>,
    /// `rv`: explicit randomness, used instead of the trace ID's.
    pub randomness: Option<Randomness>,
}

/// The value of the W3C `tracestate` entry `key` (`vendor=value`), if present.
pub fn entry<'a>(tracestate: &'a str, key: &str) -> Option<&'a str> {
    tracestate
        .split(',')
        .filter_map(|entry| entry.trim().split_once('='))
        .find_map(|(k, v)| (k == key).then_some(v))
}

fn ot_value(tracestate: &str) -> Option<&str> {
    entry(tracestate, "ot")
}

/// Reads `th` and `rv` from the `ot` entry; a malformed value is an error.
pub fn read(tracestate: &str) -> Result<OtSampling, EncodingError> {
    let mut sampling = OtSampling::default();
    let Some(ot) = ot_value(tracestate) else {
        return Ok(sampling);
    };
    for field in ot.split(';') {
        if let Some(th) = field.strip_prefix("th:") {
            sampling.threshold = Some(Threshold::decode(th)?);
        } else if let Some(rv) = field.strip_prefix("rv:") {
            sampling.randomness = Some(Randomness::decode(rv)?);
        }
    }
    Ok(sampling)
}

/// `tracestate` with `th:<threshold>` in its `ot` entry: other `ot` sub-keys and other
/// vendors' entries are kept, and the changed `ot` entry moves to the front as W3C
/// trace context asks of a modified entry.
pub fn with_threshold(tracestate: &str, threshold: &str) -> String {
    let mut ot = format!("ot=th:{threshold}");
    if let Some(old) = ot_value(tracestate) {
        for field in old
            .split(';')
            .filter(|f| !f.is_empty() && !f.starts_with("th:"))
        {
            ot.push(';');
            ot.push_str(field);
        }
    }
    let others = tracestate
        .split(',')
        .map(str::trim)
        .filter(|entry| !entry.is_empty() && !entry.starts_with("ot="));
    let mut result = ot;
    for entry in others {
        result.push(',');
        result.push_str(entry);
    }
    result
}
