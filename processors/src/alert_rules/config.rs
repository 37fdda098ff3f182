//! Config of the `alert_rules` connector.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use sentinel_pipeline::config::{ComponentConfig, Diagnostic, Node, ValidationError};
use serde::{Deserialize, Serialize};

use super::rules::{self, Group, GroupSpec};

/// `alert_rules` connector: evaluates Prometheus alerting and recording rules over the
/// metrics flowing through the pipeline.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AlertRulesConfig {
    /// Prometheus rule files to load; each entry may be a glob (`*` and `?` in the file
    /// name: `/etc/sentinel/alerts/*.yaml`). Relative paths are read from the working
    /// directory. Default: none.
    pub rule_files: Vec<String>,
    /// Rule groups written inline, in the rule-file format (`name`, `interval`,
    /// `query_offset`, `limit`, `rules`). Default: none.
    pub groups: Vec<GroupSpec>,
    /// How often a group is evaluated unless it sets `interval`. Default 15s.
    #[serde(with = "humantime_serde")]
    pub evaluation_interval: Duration,
    /// Labels added to every alert (and available to templates as `$externalLabels`).
    /// Default: none.
    pub external_labels: BTreeMap<String, String>,
    /// How far back the series window reaches; range selectors and `offset` cannot look
    /// further. An instant selector sees a sample up to 5m old, as in Prometheus. Default 5m.
    #[serde(with = "humantime_serde")]
    pub lookback: Duration,
    /// Most series kept; samples of further series are dropped and counted in
    /// `sentinel_alert_rules_limit_hits_total{limit="series"}`. Default 50000.
    pub max_series: usize,
    /// Most samples kept over all series; past it samples are dropped and counted in
    /// `sentinel_alert_rules_limit_hits_total{limit="samples"}`. Default 2000000.
    pub max_samples: usize,
    /// A firing alert is re-sent (a new `sentinel.alert` record) this often; resolved
    /// alerts are re-sent at the same cadence for 15 minutes. Default 1m (Prometheus's
    /// `--rules.alert.resend-delay`).
    #[serde(with = "humantime_serde")]
    pub resend_delay: Duration,
    /// Prometheus's `--rules.alert.for-grace-period`: after a restart an alert whose
    /// restored `for` would end sooner than this fires only this long after the start.
    /// Default 0s, so an alert pending 50s of a 60s `for` fires 10s after the restart
    /// (Prometheus's default is 10m).
    #[serde(with = "humantime_serde")]
    pub for_grace_period: Duration,
    /// Prometheus's `--rules.alert.for-outage-tolerance`: `for` state older than this is
    /// not restored. Default 1h.
    #[serde(with = "humantime_serde")]
    pub for_outage_tolerance: Duration,
}

impl Default for AlertRulesConfig {
    fn default() -> Self {
        AlertRulesConfig {
            rule_files: Vec::new(),
            groups: Vec::new(),
            evaluation_interval: Duration::from_secs(15),
            external_labels: BTreeMap::new(),
            lookback: Duration::from_secs(300),
            max_series: 50_000,
            max_samples: 2_000_000,
            resend_delay: Duration::from_secs(60),
            for_grace_period: Duration::ZERO,
            for_outage_tolerance: Duration::from_secs(3600),
        }
    }
}

impl ComponentConfig for AlertRulesConfig {
    fn validate(&self) -> Result<(), ValidationError> {
        for (key, value) in [
            ("evaluation_interval", self.evaluation_interval),
            ("lookback", self.lookback),
        ] {
            if value.is_zero() {
                return Err(ValidationError::at(key, "must be greater than 0"));
            }
        }
        for (key, value) in [
            ("max_series", self.max_series),
            ("max_samples", self.max_samples),
        ] {
            if value == 0 {
                return Err(ValidationError::at(key, "must be greater than 0"));
            }
        }
        if self.rule_files.is_empty() && self.groups.is_empty() {
            return Err(ValidationError::new(
                "set rule_files or groups (no rules to evaluate)",
            ));
        }
        Ok(())
    }
}

impl AlertRulesConfig {
    /// Every group: the rule files' (in the order written, each glob's matches sorted)
    /// then the inline ones. `node` is the connector's config node, for positions.
    pub fn load_groups(&self, node: &Node) -> Result<Vec<Group>, Vec<Diagnostic>> {
        let mut problems = Vec::new();
        let mut groups = Vec::new();
        for (i, pattern) in self.rule_files.iter().enumerate() {
            let at = node
                .get("rule_files")
                .and_then(|n| match &n.value {
                    sentinel_pipeline::config::NodeValue::Seq(items) => items.get(i),
                    _ => None,
                })
                .map_or_else(|| node.span.clone(), |n| n.span.clone());
            match expand_glob(pattern) {
                Ok(paths) if paths.is_empty() => problems.push(Diagnostic::error(
                    at,
                    format!("rule_files: {pattern:?} matches no file"),
                )),
                Ok(paths) => {
                    for path in paths {
                        match rules::load_file(&path) {
                            Ok(mut found) => groups.append(&mut found),
                            Err(mut found) => problems.append(&mut found),
                        }
                    }
                }
                Err(err) => problems.push(Diagnostic::error(at, format!("rule_files: {err}"))),
            }
        }
        let file = node.span.file.to_string();
        let text = std::fs::read_to_string(&file).ok();
        match rules::compile(&self.groups, node.get("groups"), &file, text.as_deref()) {
            Ok(mut found) => groups.append(&mut found),
            Err(mut found) => problems.append(&mut found),
        }
        if problems.is_empty() {
            Ok(groups)
        } else {
            Err(problems)
        }
    }
}

/// Files matching `pattern`: the directory part is taken as written, the file name may
/// hold `*` and `?`. Sorted, as Prometheus sorts a glob's matches.
pub fn expand_glob(pattern: &str) -> Result<Vec<PathBuf>, std::io::Error> {
    let path = PathBuf::from(pattern);
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_default();
    if !name.contains(['*', '?']) {
        return Ok(if path.exists() {
            vec![path]
        } else {
            Vec::new()
        });
    }
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let mut out: Vec<PathBuf> = std::fs::read_dir(&dir)?
        .filter_map(Result::ok)
        .filter(|e| wildcard(&name, &e.file_name().to_string_lossy()))
        .map(|e| dir.join(e.file_name()))
        .filter(|p| p.is_file())
        .collect();
    out.sort();
    Ok(out)
}

fn wildcard(pattern: &str, name: &str) -> bool {
    let (p, n): (Vec<char>, Vec<char>) = (pattern.chars().collect(), name.chars().collect());
    let (mut pi, mut ni, mut star, mut mark) = (0, 0, None, 0);
    while ni < n.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == n[ni]) {
            pi += 1;
            ni += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            mark = ni;
            pi += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ni = mark;
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}

#[cfg(test)]
mod tests {
    use super::wildcard;

    #[test]
    fn matches_globs() {
        assert!(wildcard("*.yaml", "host.yaml"));
        assert!(wildcard("h?st*", "host.yaml"));
        assert!(!wildcard("*.yaml", "host.yml"));
        assert!(wildcard("*", ""));
    }
}
