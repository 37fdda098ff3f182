//! The error a component config's own checks return, and where in the file it points.

use super::node::{Node, NodeValue, Span};

/// A config value that decodes but cannot be used. `path` names the offending key below
/// the component's node (`tls.ca_file`), so the error is reported where that key is
/// written; an empty path means the component's node itself.
///
/// Displays as `path: message` (or just `message`), which is what users read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", self.render())]
pub struct ValidationError {
    pub path: String,
    pub message: String,
}

impl ValidationError {
    /// An error about the key at the dotted `path` (`tls.ca_file`).
    pub fn at(path: impl Into<String>, message: impl Into<String>) -> Self {
        ValidationError {
            path: path.into(),
            message: message.into(),
        }
    }

    /// An error about the component's node as a whole.
    pub fn new(message: impl Into<String>) -> Self {
        ValidationError::at("", message)
    }

    /// The same error seen from the parent: settings validated on their own (a `tls`
    /// block) are reported under the key that holds them.
    pub fn within(self, parent: &str) -> Self {
        let path = if self.path.is_empty() {
            parent.to_string()
        } else {
            format!("{parent}.{}", self.path)
        };
        ValidationError { path, ..self }
    }

    /// Where the key is written in `node`, or as near to it as the file goes (a key left
    /// to its default is not written anywhere: its nearest written ancestor, else `node`).
    pub fn span_in(&self, node: &Node) -> Span {
        let mut at = node;
        let mut span = node.span.clone();
        for key in self.path.split('.').filter(|k| !k.is_empty()) {
            match &at.value {
                NodeValue::Map(entries) => {
                    let Some((key_node, value)) =
                        entries.iter().find(|(k, _)| k.as_str() == Some(key))
                    else {
                        break;
                    };
                    span = key_node.span.clone();
                    at = value;
                }
                // A list entry is named by its index (`policies.1.name`).
                NodeValue::Seq(items) => {
                    let Some(item) = key.parse::<usize>().ok().and_then(|i| items.get(i)) else {
                        break;
                    };
                    span = item.span.clone();
                    at = item;
                }
                _ => break,
            }
        }
        span
    }

    fn render(&self) -> String {
        if self.path.is_empty() {
            self.message.clone()
        } else {
            format!("{}: {}", self.path, self.message)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::parse_yaml;

    #[test]
    fn a_path_through_a_list_points_at_the_entry_and_key() {
        let text = "policies:\n  - {name: a}\n  - name: b\n    probabilistic: {hash_salt: x}\n";
        let node = parse_yaml("p.yaml", text).unwrap().unwrap();
        let span = ValidationError::at("policies.1.probabilistic.hash_salt", "no").span_in(&node);
        assert_eq!((span.line, span.col), (4, 21));
        // An index past the end stops at the list's key.
        let span = ValidationError::at("policies.7.name", "no").span_in(&node);
        assert_eq!((span.line, span.col), (1, 1));
    }
}
