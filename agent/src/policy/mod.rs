//! The dangerous-command policy shared by the `hooks` receiver and the `sentinel hook`
//! command. Rules are data (`config/hook-policy.yaml`); each names one check below, and
//! the checks see commands through [`shell::parse`], so chaining, substitution, `sudo` or
//! `bash -c` cannot hide what runs.

pub mod check;
mod checks;
mod paths;
pub mod shell;

use std::path::Path;

use serde::Deserialize;
use serde_json::Value;

pub use checks::Condition;

/// The default policy shipped with the agent.
const BUILTIN: &str = include_str!("../../../config/hook-policy.yaml");

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    Allow,
    Ask,
    Deny,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Allow => "allow",
            Action::Ask => "ask",
            Action::Deny => "deny",
        }
    }
}

/// The outcome for one hook event: the strongest action of the rules that matched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    pub action: Action,
    pub rule_id: Option<String>,
    pub reason: Option<String>,
}

impl Decision {
    fn allow() -> Decision {
        Decision {
            action: Action::Allow,
            rule_id: None,
            reason: None,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    #[error("cannot read policy {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("{0}")]
    Invalid(String),
}

/// One rule of the policy; a policy file is `rules:`, a list of these.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rule {
    /// Stable id, reported with every decision and counted in metrics.
    pub id: String,
    /// The hook event it applies to, e.g. `PreToolUse`.
    #[serde(default = "pre_tool_use")]
    pub event: String,
    /// Tool names it applies to (`Bash`, `Read`, …); `*` matches every tool.
    pub tools: Vec<String>,
    /// What to do on a match: `deny` or `ask`.
    pub action: Action,
    /// Shown to the user and to the model.
    pub reason: String,
    /// The check, exactly one of the kinds of [`Condition`].
    pub when: Condition,
}

fn pre_tool_use() -> String {
    "PreToolUse".to_string()
}

/// A loaded policy.
#[derive(Debug)]
pub struct Policy {
    rules: Vec<Rule>,
}

impl Policy {
    /// The policy shipped in `config/hook-policy.yaml`.
    pub fn builtin() -> Policy {
        Policy::from_yaml(BUILTIN, "config/hook-policy.yaml")
            .expect("the shipped policy is valid (checked by a test)")
    }

    pub fn load(path: &Path) -> Result<Policy, PolicyError> {
        let text = std::fs::read_to_string(path).map_err(|source| PolicyError::Read {
            path: path.display().to_string(),
            source,
        })?;
        Policy::from_yaml(&text, &path.display().to_string())
    }

    /// Parses a policy; errors carry `file:line:col`.
    pub fn from_yaml(text: &str, origin: &str) -> Result<Policy, PolicyError> {
        let (rules, diagnostics) = check::check(text, origin);
        match rules {
            Some(rules) => Ok(Policy { rules }),
            None => Err(PolicyError::Invalid(
                diagnostics
                    .iter()
                    .filter(|d| d.severity == sentinel_pipeline::config::Severity::Error)
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join("\n"),
            )),
        }
    }

    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }

    /// Decides on one hook event (the JSON Claude Code sends). Deny beats ask beats allow;
    /// among equals the first rule in the file wins.
    pub fn evaluate(&self, event: &Value) -> Decision {
        let hook = event
            .get("hook_event_name")
            .and_then(Value::as_str)
            .unwrap_or("");
        let tool = event.get("tool_name").and_then(Value::as_str).unwrap_or("");
        let input = event.get("tool_input").unwrap_or(&Value::Null);
        self.decide(hook, tool, &checks::Subject::new(tool, input))
    }

    /// [`Policy::evaluate`] as if `home` were the user's home directory.
    #[cfg(test)]
    pub fn evaluate_with_home(&self, event: &Value, home: Option<&str>) -> Decision {
        let field = |key: &str| event.get(key).and_then(Value::as_str).unwrap_or("");
        let input = event.get("tool_input").unwrap_or(&Value::Null);
        let subject = checks::Subject::new(field("tool_name"), input).with_home(home);
        self.decide(field("hook_event_name"), field("tool_name"), &subject)
    }

    fn decide(&self, hook: &str, tool: &str, subject: &checks::Subject) -> Decision {
        let mut decision = Decision::allow();
        for rule in &self.rules {
            if rule.event != hook
                || !rule.tools.iter().any(|t| t == "*" || t == tool)
                || rank(rule.action) <= rank(decision.action)
                || !rule.when.matches(subject)
            {
                continue;
            }
            decision = Decision {
                action: rule.action,
                rule_id: Some(rule.id.clone()),
                reason: Some(rule.reason.clone()),
            };
        }
        decision
    }
}

fn rank(action: Action) -> u8 {
    match action {
        Action::Allow => 0,
        Action::Ask => 1,
        Action::Deny => 2,
    }
}

#[cfg(test)]
mod tests;
