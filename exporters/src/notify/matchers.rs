//! Alertmanager label matchers: `name=value`, `!=`, `=~` and `!~` (regexes are anchored).

use std::fmt;

use regex::Regex;
use serde::{Deserialize, Serialize};

use super::alert::Labels;

/// Why a matcher cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum MatcherError {
    #[error("matcher {0:?}: expected name=value, name!=value, name=~regex or name!~regex")]
    Syntax(String),
    #[error("matcher {text:?}: invalid regex: {source}")]
    Regex { text: String, source: regex::Error },
    #[error("matcher {0:?}: the label name is empty")]
    EmptyName(String),
}

/// One matcher in Alertmanager's API form (`isRegex`, `isEqual`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Matcher {
    pub name: String,
    pub value: String,
    #[serde(default)]
    pub is_regex: bool,
    #[serde(default = "yes")]
    pub is_equal: bool,
    #[serde(skip)]
    compiled: Option<Regex>,
}

fn yes() -> bool {
    true
}

impl PartialEq for Matcher {
    fn eq(&self, other: &Self) -> bool {
        (&self.name, &self.value, self.is_regex, self.is_equal)
            == (&other.name, &other.value, other.is_regex, other.is_equal)
    }
}

impl Matcher {
    pub fn new(
        name: &str,
        value: &str,
        is_regex: bool,
        is_equal: bool,
    ) -> Result<Matcher, MatcherError> {
        let mut matcher = Matcher {
            name: name.to_string(),
            value: value.to_string(),
            is_regex,
            is_equal,
            compiled: None,
        };
        matcher.compile()?;
        Ok(matcher)
    }

    /// Compiles the regex of a matcher read from JSON; checks the name.
    pub fn compile(&mut self) -> Result<(), MatcherError> {
        if self.name.is_empty() {
            return Err(MatcherError::EmptyName(self.to_string()));
        }
        if self.is_regex {
            let regex = Regex::new(&format!("^(?:{})$", self.value)).map_err(|source| {
                MatcherError::Regex {
                    text: self.to_string(),
                    source,
                }
            })?;
            self.compiled = Some(regex);
        }
        Ok(())
    }

    /// Parses `name=value`, `name!="value"`, `name=~"re.*"`, `name!~re`.
    pub fn parse(text: &str) -> Result<Matcher, MatcherError> {
        let syntax = || MatcherError::Syntax(text.to_string());
        let at = text.find(['=', '!']).ok_or_else(syntax)?;
        let (name, rest) = text.split_at(at);
        let (is_equal, is_regex, value) = if let Some(v) = rest.strip_prefix("=~") {
            (true, true, v)
        } else if let Some(v) = rest.strip_prefix("!~") {
            (false, true, v)
        } else if let Some(v) = rest.strip_prefix("!=") {
            (false, false, v)
        } else if let Some(v) = rest.strip_prefix('=') {
            (true, false, v)
        } else {
            return Err(syntax());
        };
        let value = value.trim();
        let value = match value.strip_prefix('"').and_then(|v| v.strip_suffix('"')) {
            Some(inner) => inner.replace("\\\"", "\""),
            None => value.to_string(),
        };
        Matcher::new(name.trim(), &value, is_regex, is_equal)
    }

    /// A missing label matches as the empty string, as in Alertmanager.
    pub fn matches(&self, labels: &Labels) -> bool {
        let value = labels.get(&self.name).map(String::as_str).unwrap_or("");
        let hit = match &self.compiled {
            Some(regex) => regex.is_match(value),
            None => value == self.value,
        };
        hit == self.is_equal
    }
}

impl fmt::Display for Matcher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let op = match (self.is_equal, self.is_regex) {
            (true, false) => "=",
            (false, false) => "!=",
            (true, true) => "=~",
            (false, true) => "!~",
        };
        write!(f, "{}{}{:?}", self.name, op, self.value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> Labels {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn the_four_operators_match_like_alertmanager() {
        let l = labels(&[("alertname", "HighCpu"), ("instance", "db-1")]);
        assert!(Matcher::parse("alertname=HighCpu").unwrap().matches(&l));
        assert!(!Matcher::parse("alertname!=HighCpu").unwrap().matches(&l));
        assert!(Matcher::parse("instance=~\"db-.*\"").unwrap().matches(&l));
        assert!(
            !Matcher::parse("instance=~db").unwrap().matches(&l),
            "anchored"
        );
        assert!(Matcher::parse("instance!~web.*").unwrap().matches(&l));
        assert!(Matcher::parse("missing=\"\"").unwrap().matches(&l));
        assert!(Matcher::parse("severity!=critical").unwrap().matches(&l));
    }

    #[test]
    fn bad_matchers_are_named() {
        assert!(matches!(
            Matcher::parse("novalue"),
            Err(MatcherError::Syntax(_))
        ));
        assert!(matches!(
            Matcher::parse("a=~("),
            Err(MatcherError::Regex { .. })
        ));
        assert!(matches!(
            Matcher::parse("=x"),
            Err(MatcherError::EmptyName(_))
        ));
    }
}
