//! Config values with their source positions, and decoding them into component configs.
//!
//! YAML files become [`Node`] trees through [`parse_yaml`] (with file, line and column on
//! every value); the agent expands `${env:...}`, merges files, and hands each component
//! its node. A component decodes its node with [`decode`], which reports errors at the
//! exact place.

mod de;
pub mod matching;
mod node;
pub mod redact;
#[cfg(test)]
mod tests;
mod types;
mod validation;
mod wording;
mod yaml;

pub use de::{suggest, unknown_key_message};
pub use node::{decode, decode_all, decode_lenient, Diagnostic, Node, NodeValue, Severity, Span};
pub use types::{Endpoint, EndpointError, Secret};
pub use validation::ValidationError;
pub use yaml::{parse_yaml, YamlError, YamlProblem};

use serde::de::DeserializeOwned;
use serde::Serialize;

/// A component config: decodable, printable, and able to check itself beyond types.
pub trait ComponentConfig: DeserializeOwned + Serialize {
    /// Checks that serde cannot express (ranges, combinations). An error with a key path
    /// (`tls.ca_file`) is reported where that key is written; one without at the
    /// component's node.
    fn validate(&self) -> Result<(), ValidationError> {
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

/// Decodes and validates a component config. Unknown keys, a wrong value and the
/// config's own checks are reported together, so one pass shows every problem.
pub fn decode_valid<C: ComponentConfig>(node: &Node) -> Result<C, Vec<Diagnostic>> {
    let (config, mut problems) = decode_lenient::<C>(node);
    let Some(config) = config else {
        return Err(problems);
    };
    if let Err(err) = config.validate() {
        problems.push(Diagnostic::error(err.span_in(node), err.to_string()));
        problems.sort_by_key(|d| (d.span.line, d.span.col));
    }
    if problems.is_empty() {
        Ok(config)
    } else {
        Err(problems)
    }
}
