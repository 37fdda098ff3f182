//! Config values with their source positions, and decoding them into component configs.
//!
//! YAML files become [`Node`] trees through [`parse_yaml`] (with file, line and column on
//! every value); the agent expands `${env:...}`, merges files, and hands each component
//! its node. A component decodes its node with [`decode`], which reports errors at the
//! exact place.

mod de;
mod node;
#[cfg(test)]
mod tests;
mod types;
mod yaml;

pub use de::{suggest, unknown_key_message};
pub use node::{decode, Diagnostic, Node, NodeValue, Severity, Span};
pub use types::{Endpoint, Secret};
pub use yaml::{parse_yaml, YamlError, YamlProblem};

use serde::de::DeserializeOwned;
use serde::Serialize;

/// A component config: decodable, printable, and able to check itself beyond types.
pub trait ComponentConfig: DeserializeOwned + Serialize {
    /// Checks that serde cannot express (ranges, combinations). An error that starts with
    /// a key path (`tls.ca_file: ...`) is reported where that key is written; any other at
    /// the component's node.
    fn validate(&self) -> Result<(), String> {
        Ok(())
    }
}

/// Decodes, validates and returns the effective config as JSON (secrets redacted).
/// The body of almost every [`crate::component::Factory::check`].
pub fn check<C: ComponentConfig>(node: &Node) -> Result<serde_json::Value, Vec<Diagnostic>> {
    let config: C = decode_valid(node)?;
    serde_json::to_value(&config)
        .map_err(|err| vec![Diagnostic::error(node.span.clone(), err.to_string())])
}

/// Decodes and validates a component config.
pub fn decode_valid<C: ComponentConfig>(node: &Node) -> Result<C, Vec<Diagnostic>> {
    let config: C = decode(node).map_err(|d| vec![d])?;
    config
        .validate()
        .map_err(|message| vec![Diagnostic::error(span_of(node, &message), message)])?;
    Ok(config)
}

/// Where the key path that starts `message` (`a.b.c: ...`) is written, or as near to it
/// as the file goes (a key left to its default is not written anywhere).
fn span_of(node: &Node, message: &str) -> Span {
    let Some((path, _)) = message.split_once(": ") else {
        return node.span.clone();
    };
    let is_path = path
        .split('.')
        .all(|k| !k.is_empty() && k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'));
    if !is_path {
        return node.span.clone();
    }
    let mut at = node;
    let mut span = node.span.clone();
    for key in path.split('.') {
        let NodeValue::Map(entries) = &at.value else {
            break;
        };
        let Some((key_node, value)) = entries.iter().find(|(k, _)| k.as_str() == Some(key)) else {
            break;
        };
        span = key_node.span.clone();
        at = value;
    }
    span
}
