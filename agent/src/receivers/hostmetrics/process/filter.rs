//! Which processes the process scraper reports: include/exclude by name or command line
//! (exact or regex), and an optional top-N by CPU or memory.

use serde::{Deserialize, Serialize};

use super::super::matching::{MatchType, NameSet, PatternError};

/// `include` / `exclude`: a process matches when its name or its command line matches.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MatchConfig {
    /// Executable names (`process.executable.name`).
    pub names: Vec<String>,
    /// Command lines, matched as reported (after redaction, so a filter never depends on a
    /// secret). With `strict`, a command line matches when it contains the text.
    pub command_lines: Vec<String>,
    /// `strict` (default): names equal, command lines contain. `regexp`: regex search on both.
    pub match_type: MatchType,
}

/// `top_n`: report only the `count` busiest processes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TopN {
    /// `cpu` (CPU time since the previous scrape) or `memory` (RSS).
    pub by: TopBy,
    /// How many processes to keep.
    pub count: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TopBy {
    Cpu,
    Memory,
}

/// A compiled `MatchConfig`.
#[derive(Debug)]
pub struct Matcher {
    names: NameSet,
    command_lines: NameSet,
}

impl Matcher {
    pub fn compile(config: &MatchConfig) -> Result<Matcher, PatternError> {
        Ok(Matcher {
            names: NameSet::compile(&config.names, config.match_type)?,
            command_lines: NameSet::compile_substrings(&config.command_lines, config.match_type)?,
        })
    }

    pub fn is_empty(&self) -> bool {
        self.names.is_empty() && self.command_lines.is_empty()
    }

    pub fn matches(&self, name: &str, command_line: &str) -> bool {
        self.names.matches(name) || self.command_lines.matches(command_line)
    }
}

/// Include (when given) then exclude.
#[derive(Debug)]
pub struct Filter {
    include: Matcher,
    exclude: Matcher,
}

impl Filter {
    pub fn new(include: &MatchConfig, exclude: &MatchConfig) -> Result<Filter, PatternError> {
        Ok(Filter {
            include: Matcher::compile(include)?,
            exclude: Matcher::compile(exclude)?,
        })
    }

    pub fn wants(&self, name: &str, command_line: &str) -> bool {
        (self.include.is_empty() || self.include.matches(name, command_line))
            && !self.exclude.matches(name, command_line)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn include_exclude_strict_and_regex() {
        let strict = |names: &[&str], lines: &[&str]| MatchConfig {
            names: names.iter().map(|s| s.to_string()).collect(),
            command_lines: lines.iter().map(|s| s.to_string()).collect(),
            match_type: MatchType::Strict,
        };
        let f = Filter::new(
            &strict(&["postgres", "redis-server"], &["--role=api"]),
            &strict(&[], &["autovacuum"]),
        )
        .unwrap();
        assert!(f.wants("postgres", "postgres -D /data"));
        assert!(!f.wants("postgres", "postgres: autovacuum launcher"));
        assert!(f.wants("python3", "python3 app.py --role=api"));
        assert!(!f.wants("postgresql", "x"));
        let re = MatchConfig {
            names: vec!["^py.*3$".into()],
            command_lines: vec![],
            match_type: MatchType::Regexp,
        };
        let f = Filter::new(&re, &MatchConfig::default()).unwrap();
        assert!(f.wants("python3", ""));
        assert!(!f.wants("python", ""));
        let bad = MatchConfig {
            names: vec!["(".into()],
            command_lines: vec![],
            match_type: MatchType::Regexp,
        };
        assert!(Filter::new(&bad, &MatchConfig::default())
            .unwrap_err()
            .to_string()
            .starts_with("invalid regex \"(\": "));
    }
}
