//! Rule files in Prometheus's format, and rule groups compiled from them: expressions
//! parsed, templates parsed, names checked. Every problem is a [`Diagnostic`] at the
//! FILE:LINE:COL of the offending key or, for expressions and templates, of the exact
//! character inside the value.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use sentinel_pipeline::config::{decode, parse_yaml, Diagnostic, Node, NodeValue, Span};
use serde::{Deserialize, Serialize};

use super::duration::PromDuration;
use super::engine::Query;
use super::template::Template;

/// A rule file: `groups: [...]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleFileSpec {
    pub groups: Vec<GroupSpec>,
}

/// One rule group, evaluated together every `interval`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GroupSpec {
    /// Unique within its file.
    pub name: String,
    /// Evaluation interval of this group. Default: the connector's `evaluation_interval`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interval: Option<PromDuration>,
    /// Evaluate at `now - query_offset` (data that arrives late). Default 0.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub query_offset: Option<PromDuration>,
    /// Most alerts (alerting rules) or series (recording rules) one rule may produce; over
    /// it the rule's evaluation fails, as in Prometheus. 0 = no limit.
    #[serde(default)]
    pub limit: usize,
    pub rules: Vec<RuleSpec>,
}

/// An alerting rule (`alert`) or a recording rule (`record`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleSpec {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub record: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alert: Option<String>,
    pub expr: String,
    #[serde(default, rename = "for", skip_serializing_if = "Option::is_none")]
    pub for_: Option<PromDuration>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keep_firing_for: Option<PromDuration>,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
}

/// What a rule produces.
#[derive(Debug, Clone)]
pub enum RuleKind {
    Alert {
        name: String,
        hold: Duration,
        keep_firing_for: Duration,
        annotations: Vec<(String, Template)>,
    },
    Record {
        name: String,
    },
}

/// A compiled rule.
#[derive(Debug, Clone)]
pub struct Rule {
    pub kind: RuleKind,
    pub query: Query,
    /// Added to (and overriding) the result's labels; templated for alerts.
    pub labels: Vec<(String, Template)>,
}

impl Rule {
    pub fn name(&self) -> &str {
        match &self.kind {
            RuleKind::Alert { name, .. } | RuleKind::Record { name } => name,
        }
    }
}

/// A compiled group.
#[derive(Debug, Clone)]
pub struct Group {
    pub name: String,
    /// The file it came from (the config file for inline groups).
    pub file: String,
    pub interval: Option<Duration>,
    pub query_offset: Duration,
    pub limit: usize,
    pub rules: Vec<Rule>,
}

/// Reads and compiles one rule file.
pub fn load_file(path: &Path) -> Result<Vec<Group>, Vec<Diagnostic>> {
    let name = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|err| {
        vec![Diagnostic::error(
            Span::new(name.as_str(), 0, 0),
            format!("cannot read rule file: {err}"),
        )]
    })?;
    load_text(&name, &text)
}

/// Compiles the text of a rule file named `name`.
pub fn load_text(name: &str, text: &str) -> Result<Vec<Group>, Vec<Diagnostic>> {
    let Some(node) = parse_yaml(name, text).map_err(|e| vec![Diagnostic::from(e)])? else {
        return Ok(Vec::new());
    };
    let spec: RuleFileSpec = decode(&node).map_err(|d| vec![d])?;
    let groups = node.get("groups").cloned();
    compile(&spec.groups, groups.as_ref(), name, Some(text))
}

/// The fuzz target's entry (fuzz/): a rule file's text, and the same text as one PromQL
/// expression.
#[doc(hidden)]
pub fn fuzz_load_text(data: &[u8]) {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = load_text("fuzz.rules.yaml", text);
        let _ = super::engine::Query::parse(text);
    }
}

/// Compiles groups decoded from `node` (a `groups` sequence). `text` is the file's text,
/// when known, to place expression errors on the exact character.
pub fn compile(
    specs: &[GroupSpec],
    node: Option<&Node>,
    file: &str,
    text: Option<&str>,
) -> Result<Vec<Group>, Vec<Diagnostic>> {
    let mut problems = Vec::new();
    let mut groups = Vec::new();
    let mut names = std::collections::BTreeSet::new();
    for (g, spec) in specs.iter().enumerate() {
        let group_node = child(node, &g.to_string());
        let at = |key: &str| span_of(group_node, key, file);
        if spec.name.is_empty() {
            problems.push(Diagnostic::error(
                at("name"),
                "group name must not be empty",
            ));
        } else if !names.insert(spec.name.clone()) {
            problems.push(Diagnostic::error(
                at("name"),
                format!("group name {:?} is repeated in the same file", spec.name),
            ));
        }
        if spec.interval.is_some_and(|i| i.0.is_zero()) {
            problems.push(Diagnostic::error(
                at("interval"),
                "interval must be greater than 0",
            ));
        }
        let mut rules = Vec::new();
        let rules_node = group_node.and_then(|n| n.get("rules"));
        for (r, rule) in spec.rules.iter().enumerate() {
            let ctx = Place {
                node: child(rules_node, &r.to_string()),
                file,
                text,
                group: &spec.name,
                index: r + 1,
            };
            match compile_rule(rule, &ctx) {
                Ok(rule) => rules.push(rule),
                Err(mut found) => problems.append(&mut found),
            }
        }
        groups.push(Group {
            name: spec.name.clone(),
            file: file.to_string(),
            interval: spec.interval.map(|i| i.0),
            query_offset: spec.query_offset.map_or(Duration::ZERO, |o| o.0),
            limit: spec.limit,
            rules,
        });
    }
    if problems.is_empty() {
        Ok(groups)
    } else {
        Err(problems)
    }
}

/// Where a rule is written, for its diagnostics.
struct Place<'a> {
    node: Option<&'a Node>,
    file: &'a str,
    text: Option<&'a str>,
    group: &'a str,
    index: usize,
}

impl Place<'_> {
    fn error(&self, key: &str, message: impl std::fmt::Display) -> Diagnostic {
        Diagnostic::error(
            span_of(self.node, key, self.file),
            format!("group {:?}, rule {}: {message}", self.group, self.index),
        )
    }

    /// An error at `line`:`col` inside the string value of `key`.
    fn inside(
        &self,
        key: &str,
        line: usize,
        col: usize,
        message: impl std::fmt::Display,
    ) -> Diagnostic {
        let span = match self.node.and_then(|n| n.get(key)) {
            Some(value) => inner_span(value, self.text, line, col),
            None => span_of(self.node, key, self.file),
        };
        Diagnostic::error(
            span,
            format!(
                "group {:?}, rule {}: {key}: {message}",
                self.group, self.index
            ),
        )
    }
}

fn compile_rule(spec: &RuleSpec, at: &Place<'_>) -> Result<Rule, Vec<Diagnostic>> {
    let mut problems = Vec::new();
    let query = match Query::parse(&spec.expr) {
        Ok(query) => Some(query),
        Err(err) => {
            problems.push(at.inside("expr", err.line, err.col, &err.message));
            None
        }
    };
    let mut template = |key: &str, sub: &str, text: &str| match Template::parse(text) {
        Ok(t) => Some(t),
        Err(err) => {
            let diag = match at.node.and_then(|n| n.get(key)).and_then(|m| m.get(sub)) {
                Some(value) => Diagnostic::error(
                    inner_span(value, at.text, err.line, err.col),
                    format!(
                        "group {:?}, rule {}: {key}.{sub}: {}",
                        at.group, at.index, err.message
                    ),
                ),
                None => at.error(key, format!("{sub}: {err}")),
            };
            problems.push(diag);
            None
        }
    };
    let labels: Vec<(String, Template)> = spec
        .labels
        .iter()
        .filter_map(|(k, v)| template("labels", k, v).map(|t| (k.clone(), t)))
        .collect();
    let annotations: Vec<(String, Template)> = spec
        .annotations
        .iter()
        .filter_map(|(k, v)| template("annotations", k, v).map(|t| (k.clone(), t)))
        .collect();
    for key in spec.labels.keys() {
        if !valid_label_name(key) || key == "__name__" {
            problems.push(at.error("labels", format!("invalid label name {key:?}")));
        }
    }
    let kind = match (&spec.alert, &spec.record) {
        (Some(name), None) => {
            if name.is_empty() {
                problems.push(at.error("alert", "alert name must not be empty"));
            }
            Some(RuleKind::Alert {
                name: name.clone(),
                hold: spec.for_.map_or(Duration::ZERO, |d| d.0),
                keep_firing_for: spec.keep_firing_for.map_or(Duration::ZERO, |d| d.0),
                annotations,
            })
        }
        (None, Some(name)) => {
            if !valid_metric_name(name) {
                problems.push(at.error("record", format!("invalid recording rule name {name:?}")));
            }
            for (key, set) in [
                ("annotations", !spec.annotations.is_empty()),
                ("for", spec.for_.is_some()),
                ("keep_firing_for", spec.keep_firing_for.is_some()),
            ] {
                if set {
                    problems
                        .push(at.error(key, format!("invalid field {key:?} in recording rule")));
                }
            }
            Some(RuleKind::Record { name: name.clone() })
        }
        (Some(_), Some(_)) => {
            problems.push(at.error("record", "only one of 'record' and 'alert' must be set"));
            None
        }
        (None, None) => {
            problems.push(at.error("expr", "one of 'record' or 'alert' must be set"));
            None
        }
    };
    match (kind, query) {
        (Some(kind), Some(query)) if problems.is_empty() => Ok(Rule {
            kind,
            query,
            labels,
        }),
        _ => Err(problems),
    }
}

fn valid_label_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

fn valid_metric_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == ':')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}

fn child<'a>(node: Option<&'a Node>, key: &str) -> Option<&'a Node> {
    let node = node?;
    match &node.value {
        NodeValue::Seq(items) => key.parse::<usize>().ok().and_then(|i| items.get(i)),
        NodeValue::Map(_) => node.get(key),
        _ => None,
    }
}

/// The key's position in a map node (the node itself when the key is not written).
fn span_of(node: Option<&Node>, key: &str, file: &str) -> Span {
    let Some(node) = node else {
        return Span::new(file, 0, 0);
    };
    if let NodeValue::Map(entries) = &node.value {
        if let Some((k, _)) = entries.iter().find(|(k, _)| k.as_str() == Some(key)) {
            return k.span.clone();
        }
    }
    node.span.clone()
}

/// The file position of `line`:`col` (1-based) inside a string value: a plain or quoted
/// scalar continues on its own line; a block scalar (`|`, `>`) starts on the next line at
/// its indentation, read from the file's text.
fn inner_span(value: &Node, text: Option<&str>, line: usize, col: usize) -> Span {
    let start = &value.span;
    let first = text.and_then(|t| t.lines().nth(start.line.saturating_sub(1)));
    let tail: Option<&str> = first.map(|l| {
        let skip: usize = l
            .chars()
            .take(start.col.saturating_sub(1))
            .map(char::len_utf8)
            .sum();
        &l[skip.min(l.len())..]
    });
    match tail.and_then(|t| t.chars().next()) {
        Some('|') | Some('>') => {
            let file_line = start.line + line;
            let indent = text
                .and_then(|t| t.lines().nth(file_line - 1))
                .map_or(0, |l| l.len() - l.trim_start().len());
            Span::new(start.file.clone(), file_line, indent + col)
        }
        Some('"') | Some('\'') if line == 1 => {
            Span::new(start.file.clone(), start.line, start.col + col)
        }
        _ if line == 1 => Span::new(start.file.clone(), start.line, start.col + col - 1),
        _ => Span::new(start.file.clone(), start.line + line - 1, col),
    }
}
