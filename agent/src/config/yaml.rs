//! Config files: YAML text to [`Node`] trees (the shared loader of
//! [`sentinel_pipeline::config`]), `${env:...}` expansion, and merging.

use sentinel_pipeline::config::{parse_yaml, Diagnostic, Node, NodeValue, Span};

/// Parses one YAML document (with the shared loader). An empty file is an empty map.
pub fn parse(file: &str, text: &str) -> Result<Node, Diagnostic> {
    Ok(parse_yaml(file, text)?.unwrap_or_else(|| Node::empty_map(Span::new(file, 1, 1))))
}

/// Types a plain scalar the way YAML would (for whole-scalar env references).
fn typed_scalar(text: &str) -> NodeValue {
    match text {
        "" | "~" | "null" => NodeValue::Null,
        "true" => NodeValue::Bool(true),
        "false" => NodeValue::Bool(false),
        _ => {
            if let Ok(i) = text.parse::<i64>() {
                NodeValue::Int(i)
            } else if let Ok(f) = text.parse::<f64>() {
                NodeValue::Float(f)
            } else {
                NodeValue::String(text.to_string())
            }
        }
    }
}

/// Expands `${env:VAR}` and `${env:VAR:-default}` in every string scalar (not in keys).
/// A value that is exactly one reference is re-typed, so `${env:PORT}` can be an integer.
pub fn expand_env(
    node: &mut Node,
    env: &dyn Fn(&str) -> Option<String>,
    errors: &mut Vec<Diagnostic>,
) {
    match &mut node.value {
        NodeValue::String(text) if text.contains("${") => match expand(text, env) {
            Ok((expanded, whole)) => {
                node.value = if whole {
                    typed_scalar(&expanded)
                } else {
                    NodeValue::String(expanded)
                };
            }
            Err(error) => errors.push(Diagnostic::error(node.span.clone(), error.to_string())),
        },
        NodeValue::Seq(items) => items.iter_mut().for_each(|i| expand_env(i, env, errors)),
        NodeValue::Map(entries) => entries
            .iter_mut()
            .for_each(|(_, v)| expand_env(v, env, errors)),
        _ => {}
    }
}

/// A `${...}` reference that cannot be expanded.
#[derive(Debug, thiserror::Error)]
enum ExpandError {
    #[error("unterminated reference in {0:?}: missing '}}'")]
    Unterminated(String),
    #[error(
        "unsupported reference ${{{0}}}: only ${{env:VAR}} and ${{env:VAR:-default}} are supported"
    )]
    Unsupported(String),
    #[error("invalid environment variable name {0:?}")]
    BadName(String),
    #[error(
        "environment variable {0} is not set and has no default (write ${{env:{0}:-default}})"
    )]
    Unset(String),
}

/// Returns the expanded text and whether the input was a single whole reference.
fn expand(text: &str, env: &dyn Fn(&str) -> Option<String>) -> Result<(String, bool), ExpandError> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    let mut references = 0;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let end = after
            .find('}')
            .ok_or_else(|| ExpandError::Unterminated(text.to_string()))?;
        let reference = &after[..end];
        let spec = reference
            .strip_prefix("env:")
            .ok_or_else(|| ExpandError::Unsupported(reference.to_string()))?;
        let (name, default) = match spec.split_once(":-") {
            Some((name, default)) => (name, Some(default)),
            None => (spec, None),
        };
        if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return Err(ExpandError::BadName(name.to_string()));
        }
        match (env(name), default) {
            (Some(value), _) => out.push_str(&value),
            (None, Some(default)) => out.push_str(default),
            (None, None) => return Err(ExpandError::Unset(name.to_string())),
        }
        references += 1;
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    let whole = references == 1 && text.starts_with("${") && text.ends_with('}');
    Ok((out, whole))
}

/// Merges `overlay` into `base`: maps merge key by key, anything else is replaced.
pub fn merge(base: &mut Node, overlay: Node) {
    match (&mut base.value, overlay.value) {
        (NodeValue::Map(base_entries), NodeValue::Map(overlay_entries)) => {
            for (key, value) in overlay_entries {
                let existing = base_entries
                    .iter_mut()
                    .find(|(k, _)| k.as_str().is_some() && k.as_str() == key.as_str());
                match existing {
                    Some((_, slot)) => merge(slot, value),
                    None => base_entries.push((key, value)),
                }
            }
        }
        (_, value) => {
            base.value = value;
            base.span = overlay.span;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(name: &str) -> Option<String> {
        match name {
            "PORT" => Some("4317".into()),
            "HOST" => Some("10.0.0.1".into()),
            _ => None,
        }
    }

    #[test]
    fn an_empty_file_is_an_empty_map() {
        let node = parse("empty.yaml", "").unwrap();
        assert_eq!(node.value, NodeValue::Map(Vec::new()));
        assert_eq!((node.span.line, node.span.col), (1, 1));
    }

    #[test]
    fn syntax_errors_have_positions() {
        let err = parse("bad.yaml", "a: [1, 2\nb: 3\n").unwrap_err();
        assert_eq!(&*err.span.file, "bad.yaml");
        assert!(
            err.span.line >= 1 && err.message.contains("invalid YAML"),
            "{err}"
        );
    }

    #[test]
    fn env_expansion_with_defaults_and_typing() {
        let mut node = parse(
            "e.yaml",
            "a: ${env:PORT}\nb: ${env:HOST}:${env:PORT}\nc: ${env:MISSING:-fallback}\nd: x${env:MISSING:-}y\n",
        )
        .unwrap();
        let mut errors = Vec::new();
        expand_env(&mut node, &env, &mut errors);
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(node.get("a").unwrap().value, NodeValue::Int(4317));
        assert_eq!(node.get("b").unwrap().as_str(), Some("10.0.0.1:4317"));
        assert_eq!(node.get("c").unwrap().as_str(), Some("fallback"));
        assert_eq!(node.get("d").unwrap().as_str(), Some("xy"));
    }

    #[test]
    fn unset_variable_without_default_is_an_error_at_the_value() {
        let mut node = parse("e.yaml", "a:\n  b: ${env:NOPE}\n").unwrap();
        let mut errors = Vec::new();
        expand_env(&mut node, &env, &mut errors);
        assert_eq!(errors.len(), 1);
        assert_eq!((errors[0].span.line, errors[0].span.col), (2, 6));
        assert!(errors[0].message.contains("NOPE"));
    }

    #[test]
    fn later_files_win_and_maps_merge() {
        let mut base = parse("a.yaml", "x:\n  keep: 1\n  over: 1\nlist: [1, 2]\n").unwrap();
        let overlay = parse("b.yaml", "x:\n  over: 2\n  new: 3\nlist: [9]\n").unwrap();
        merge(&mut base, overlay);
        let x = base.get("x").unwrap();
        assert_eq!(x.get("keep").unwrap().value, NodeValue::Int(1));
        assert_eq!(x.get("over").unwrap().value, NodeValue::Int(2));
        assert_eq!(&*x.get("over").unwrap().span.file, "b.yaml");
        assert_eq!(x.get("new").unwrap().value, NodeValue::Int(3));
        let NodeValue::Seq(list) = &base.get("list").unwrap().value else {
            panic!()
        };
        assert_eq!(list.len(), 1);
    }
}
