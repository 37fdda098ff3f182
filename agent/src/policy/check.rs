//! Checking a policy file the way `sentinel validate` checks an agent config: every
//! problem in one pass, each at `file:line:col`, unknown keys with "did you mean".

use std::collections::HashMap;
use std::path::Path;
use std::process::ExitCode;

use sentinel_pipeline::config::{
    decode, suggest, unknown_key_message, Diagnostic, Node, NodeValue, Severity, ValidationError,
};

use super::{Action, Rule};
use crate::hook::install::EVENTS;

/// The rules of a policy text and every problem found in it. The rules are `None` when
/// any problem is an error.
pub fn check(text: &str, origin: &str) -> (Option<Vec<Rule>>, Vec<Diagnostic>) {
    let mut out = Vec::new();
    let root = match crate::config::yaml::parse(origin, text) {
        Ok(root) => root,
        Err(diagnostic) => return (None, vec![diagnostic]),
    };
    let rules = match top_level(&root, &mut out) {
        Some(items) => rules(items, &mut out),
        None => Vec::new(),
    };
    out.sort_by_key(|d| (d.span.line, d.span.col));
    let failed = out.iter().any(|d| d.severity == Severity::Error);
    (if failed { None } else { Some(rules) }, out)
}

/// The `rules:` list, after reporting unknown keys beside it.
fn top_level<'a>(root: &'a Node, out: &mut Vec<Diagnostic>) -> Option<&'a [Node]> {
    let NodeValue::Map(entries) = &root.value else {
        out.push(Diagnostic::error(
            root.span.clone(),
            "a policy file is a map with a `rules:` list",
        ));
        return None;
    };
    for (key, _) in entries {
        if key.as_str() != Some("rules") {
            let name = key.as_str().unwrap_or("?");
            out.push(Diagnostic::error(
                key.span.clone(),
                unknown_key_message(name, &["rules"]),
            ));
        }
    }
    match root.get("rules").map(|n| (n, &n.value)) {
        Some((_, NodeValue::Seq(items))) => Some(items),
        Some((node, _)) => {
            out.push(Diagnostic::error(
                node.span.clone(),
                "`rules` is a list: write `- id: ...` entries",
            ));
            None
        }
        None => {
            out.push(Diagnostic::error(
                root.span.clone(),
                "missing `rules:` list",
            ));
            None
        }
    }
}

/// Decodes each rule on its own, so one bad rule does not hide the problems of the next.
fn rules(items: &[Node], out: &mut Vec<Diagnostic>) -> Vec<Rule> {
    let mut rules = Vec::new();
    let mut ids: HashMap<String, usize> = HashMap::new();
    for item in items {
        let rule: Rule = match decode(item) {
            Ok(rule) => rule,
            Err(diagnostic) => {
                out.push(diagnostic);
                continue;
            }
        };
        let at = |path: &str| ValidationError::at(path, "").span_in(item);
        if let Err(err) = rule.when.validate() {
            let span = ValidationError::at("when", "").span_in(item);
            out.push(Diagnostic::error(span, format!("rule {}: {err}", rule.id)));
        }
        match ids.get(&rule.id) {
            Some(line) => out.push(Diagnostic::error(
                at("id"),
                format!("duplicate rule id {:?} (first on line {line})", rule.id),
            )),
            None => {
                ids.insert(rule.id.clone(), at("id").line);
            }
        }
        warnings(&rule, &at, out);
        rules.push(rule);
    }
    rules
}

/// Rules that load but can never fire.
fn warnings(
    rule: &Rule,
    at: &dyn Fn(&str) -> sentinel_pipeline::config::Span,
    out: &mut Vec<Diagnostic>,
) {
    if !EVENTS.contains(&rule.event.as_str()) {
        let hint = match suggest(&rule.event, EVENTS) {
            Some(best) => format!("; did you mean {best:?}?"),
            None => String::new(),
        };
        out.push(Diagnostic::warning(
            at("event"),
            format!(
                "rule {}: {:?} is not a Claude Code hook event{hint}",
                rule.id, rule.event
            ),
        ));
    }
    if rule.tools.is_empty() {
        out.push(Diagnostic::warning(
            at("tools"),
            format!(
                "rule {}: `tools` is empty, so the rule never applies; `*` is every tool",
                rule.id
            ),
        ));
    }
    if rule.action == Action::Allow {
        out.push(Diagnostic::warning(
            at("action"),
            format!(
                "rule {}: an `allow` rule never changes a decision (allow is the default)",
                rule.id
            ),
        ));
    }
}

/// `sentinel policy check FILE`: prints every problem, exits 1 on errors.
pub fn run(path: &Path) -> ExitCode {
    let origin = path.display().to_string();
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(err) => {
            eprintln!("{origin}: cannot read: {err}");
            return ExitCode::FAILURE;
        }
    };
    let (rules, diagnostics) = check(&text, &origin);
    for diagnostic in &diagnostics {
        eprintln!("{diagnostic}");
    }
    match rules {
        Some(rules) => {
            println!("policy is valid ({} rules)", rules.len());
            ExitCode::SUCCESS
        }
        None => ExitCode::FAILURE,
    }
}

#[cfg(test)]
mod tests {
    use super::check;

    fn problems(text: &str) -> Vec<String> {
        check(text, "p.yaml")
            .1
            .iter()
            .map(|d| d.to_string())
            .collect()
    }

    #[test]
    fn the_shipped_policy_has_no_problems() {
        let text = include_str!("../../../config/hook-policy.yaml");
        let (rules, diagnostics) = check(text, "hook-policy.yaml");
        assert!(diagnostics.is_empty(), "{diagnostics:?}");
        assert!(rules.unwrap().len() >= 8);
    }

    #[test]
    fn every_problem_is_reported_in_one_pass_with_its_position() {
        let text = "\
rules:
  - id: a
    tools: [Bash]
    action: deny
    reason: r
    whenn: {program: [x]}
  - id: b
    tools: [Bash]
    action: deny
    reason: r
    when: {fork_bomb: true, program: [x]}
  - id: b
    event: PreToolUze
    tools: []
    action: allow
    reason: r
    when: {program: [y]}
rule: 1
";
        let (rules, _) = check(text, "p.yaml");
        assert!(rules.is_none());
        assert_eq!(
            problems(text),
            [
                "p.yaml:6:5: unknown key \"whenn\"; did you mean \"when\"?",
                "p.yaml:11:5: rule b: `when` takes exactly one check",
                "p.yaml:12:5: duplicate rule id \"b\" (first on line 7)",
                "p.yaml:13:5: warning: rule b: \"PreToolUze\" is not a Claude Code hook event; did you mean \"PreToolUse\"?",
                "p.yaml:14:5: warning: rule b: `tools` is empty, so the rule never applies; `*` is every tool",
                "p.yaml:15:5: warning: rule b: an `allow` rule never changes a decision (allow is the default)",
                "p.yaml:18:1: unknown key \"rule\"; did you mean \"rules\"?",
            ]
        );
    }

    #[test]
    fn warnings_alone_leave_the_policy_usable() {
        let text = "rules:\n  - {id: a, tools: [], action: ask, reason: r, when: {program: [x]}}\n";
        let (rules, diagnostics) = check(text, "p.yaml");
        assert_eq!(rules.map(|r| r.len()), Some(1));
        assert_eq!(diagnostics.len(), 1, "{diagnostics:?}");
    }

    #[test]
    fn structural_mistakes_say_what_to_write() {
        assert_eq!(
            problems("rules: {}\n"),
            ["p.yaml:1:8: `rules` is a list: write `- id: ...` entries"]
        );
        assert_eq!(problems("{}\n"), ["p.yaml:1:1: missing `rules:` list"]);
        assert_eq!(
            problems("- a\n"),
            ["p.yaml:1:1: a policy file is a map with a `rules:` list"]
        );
        let syntax = problems("rules: [\n");
        assert!(syntax[0].starts_with("p.yaml:"), "{syntax:?}");
    }
}
