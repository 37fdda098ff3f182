//! What a response is checked against: the expected status codes (Sentinel's) and the
//! Collector's body `validations`, compiled once at start.

use regex::Regex;

use super::config::Validation;
use super::probe::{Response, BODY_CAP};

/// A `validations` entry that cannot be compiled.
#[derive(Debug, thiserror::Error)]
pub enum CheckError {
    #[error("regex: {0}")]
    Regex(#[from] regex::Error),
    #[error("an entry sets no check")]
    NoCheck,
}

/// One compiled body check.
#[derive(Debug, Clone)]
pub enum Check {
    Contains(String),
    NotContains(String),
    Regex(Regex),
    MaxSize(u64),
    MinSize(u64),
}

impl Check {
    /// Compiles a config entry (validated: exactly one key set, the regex valid).
    pub fn compile(validation: &Validation) -> Result<Check, CheckError> {
        Ok(match validation {
            Validation {
                contains: Some(text),
                ..
            } => Check::Contains(text.clone()),
            Validation {
                not_contains: Some(text),
                ..
            } => Check::NotContains(text.clone()),
            Validation {
                regex: Some(pattern),
                ..
            } => Check::Regex(Regex::new(pattern)?),
            Validation {
                max_size: Some(n), ..
            } => Check::MaxSize(*n),
            Validation {
                min_size: Some(n), ..
            } => Check::MinSize(*n),
            _ => return Err(CheckError::NoCheck),
        })
    }

    /// The Collector's `validation.type` value.
    pub fn kind(&self) -> &'static str {
        match self {
            Check::Contains(_) => "contains",
            Check::NotContains(_) => "not_contains",
            Check::Regex(_) => "regex",
            Check::MaxSize(_) => "max_size",
            Check::MinSize(_) => "min_size",
        }
    }

    /// Whether `response` passes. Text checks see the body as UTF-8 (invalid bytes
    /// replaced); a body past [`BODY_CAP`] fails them, since the rest was not kept.
    pub fn passes(&self, response: &Response) -> bool {
        let truncated = response.size > BODY_CAP as u64;
        let text = || String::from_utf8_lossy(&response.body);
        match self {
            Check::Contains(needle) => !truncated && text().contains(needle.as_str()),
            Check::NotContains(needle) => !truncated && !text().contains(needle.as_str()),
            Check::Regex(regex) => !truncated && regex.is_match(&text()),
            Check::MaxSize(max) => response.size <= *max,
            Check::MinSize(min) => response.size >= *min,
        }
    }
}

/// The checks of one target.
#[derive(Debug, Clone, Default)]
pub struct Expectations {
    pub status: Vec<u16>,
    pub checks: Vec<Check>,
}

/// How a response measured up.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Verdict {
    /// `error.message` when the status is not one of `expected_status`.
    pub unexpected_status: Option<String>,
    /// Per `validation.type`: how many checks passed and failed.
    pub validations: Vec<(&'static str, i64, i64)>,
}

impl Expectations {
    /// Judges a response; no response (a failed probe) has no verdict.
    pub fn judge(&self, response: Option<&Response>) -> Verdict {
        let Some(response) = response else {
            return Verdict::default();
        };
        let unexpected_status =
            (!self.status.is_empty() && !self.status.contains(&response.status)).then(|| {
                format!(
                    "unexpected status {}, expected {:?}",
                    response.status, self.status
                )
            });
        let mut validations: Vec<(&'static str, i64, i64)> = Vec::new();
        for check in &self.checks {
            let passed = check.passes(response);
            let entry = match validations.iter_mut().find(|(k, ..)| *k == check.kind()) {
                Some(entry) => entry,
                None => {
                    validations.push((check.kind(), 0, 0));
                    validations.last_mut().expect("just pushed")
                }
            };
            if passed {
                entry.1 += 1;
            } else {
                entry.2 += 1;
            }
        }
        Verdict {
            unexpected_status,
            validations,
        }
    }
}
