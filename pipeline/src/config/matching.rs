//! Name lists that match `strict`ly or by `regexp`, as the Collector's filtersets do
//! (hostmetrics `include`/`exclude`, the anomaly connector's selectors). `strict` compares
//! whole names; `regexp` searches the name (unanchored), so write `^loop\d+$` for a
//! whole-name match.

use regex::Regex;
use serde::{Deserialize, Serialize};

/// How the entries of a list are compared.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MatchType {
    /// The whole name equals one of the entries (the default).
    #[default]
    Strict,
    /// One of the entries, a regular expression, matches somewhere in the name.
    Regexp,
}

/// A `regexp` entry that is not a regular expression.
#[derive(Debug, thiserror::Error)]
#[error("invalid regex {pattern:?}: {error}")]
pub struct PatternError {
    pub pattern: String,
    error: regex::Error,
}

/// A compiled list of names or patterns.
#[derive(Debug, Default, Clone)]
pub struct NameSet(Vec<NamePattern>);

#[derive(Debug, Clone)]
enum NamePattern {
    Exact(String),
    Contains(String),
    Search(Regex),
}

impl NameSet {
    /// `strict` entries match whole names.
    pub fn compile(names: &[String], match_type: MatchType) -> Result<NameSet, PatternError> {
        NameSet::compile_with(names, match_type, NamePattern::Exact)
    }

    /// `strict` entries match anywhere in the text (for command lines).
    pub fn compile_substrings(
        texts: &[String],
        match_type: MatchType,
    ) -> Result<NameSet, PatternError> {
        NameSet::compile_with(texts, match_type, NamePattern::Contains)
    }

    fn compile_with(
        names: &[String],
        match_type: MatchType,
        strict: fn(String) -> NamePattern,
    ) -> Result<NameSet, PatternError> {
        names
            .iter()
            .map(|name| match match_type {
                MatchType::Strict => Ok(strict(name.clone())),
                MatchType::Regexp => {
                    Regex::new(name)
                        .map(NamePattern::Search)
                        .map_err(|error| PatternError {
                            pattern: name.clone(),
                            error,
                        })
                }
            })
            .collect::<Result<_, _>>()
            .map(NameSet)
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn matches(&self, name: &str) -> bool {
        self.0.iter().any(|p| match p {
            NamePattern::Exact(exact) => exact == name,
            NamePattern::Contains(part) => name.contains(part.as_str()),
            NamePattern::Search(re) => re.is_match(name),
        })
    }
}
