//! PLACEHOLDER, REPLACED AT MERGE by the real policy engine from the `sentinel hook`
//! branch. Only the interface matters here; `evaluate` allows everything.

/// A loaded policy (placeholder: no rules).
pub struct Policy;

/// What the policy decided for one hook event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Allow,
    Ask,
    Deny,
}

/// The decision, with the rule that made it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    pub action: Action,
    pub rule_id: Option<String>,
    pub reason: Option<String>,
}

/// A policy file that cannot be loaded (the real one is an enum; only use `Display`).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct PolicyError(pub String);

impl Policy {
    /// The built-in default policy.
    pub fn builtin() -> Policy {
        Policy
    }

    /// Loads a policy file.
    pub fn load(path: &std::path::Path) -> Result<Policy, PolicyError> {
        std::fs::metadata(path)
            .map(|_| Policy)
            .map_err(|err| PolicyError(format!("{}: {err}", path.display())))
    }

    /// Evaluates one hook event (the hook JSON). Placeholder: allows everything.
    pub fn evaluate(&self, _event: &serde_json::Value) -> Decision {
        Decision {
            action: Action::Allow,
            rule_id: None,
            reason: None,
        }
    }
}
