//! TEMPORARY (kit branch only): replaced by the shared loader at merge.

use std::sync::Arc;

use crate::config::{Diagnostic, Node, NodeValue, Span};
use saphyr::{LoadableYamlNode, MarkedYamlOwned, ScalarOwned, YamlDataOwned};

/// Parses one YAML document. An empty file is an empty map.
pub fn parse(file: &str, text: &str) -> Result<Node, Diagnostic> {
    let file: Arc<str> = Arc::from(file);
    let docs = MarkedYamlOwned::load_from_str(text).map_err(|err| {
        let mark = err.marker();
        Diagnostic::error(
            Span::new(file.clone(), mark.line(), mark.col() + 1),
            format!("invalid YAML: {}", err.info()),
        )
    })?;
    match docs.into_iter().next() {
        Some(doc) => convert(&file, &doc),
        None => Ok(Node::empty_map(Span::new(file, 1, 1))),
    }
}

fn convert(file: &Arc<str>, yaml: &MarkedYamlOwned) -> Result<Node, Diagnostic> {
    let span = Span::new(
        file.clone(),
        yaml.span.start.line(),
        yaml.span.start.col() + 1,
    );
    let value = match &yaml.data {
        YamlDataOwned::Value(scalar) => scalar_value(scalar),
        YamlDataOwned::Representation(text, _, _) => NodeValue::String(text.clone()),
        YamlDataOwned::Sequence(items) => NodeValue::Seq(
            items
                .iter()
                .map(|item| convert(file, item))
                .collect::<Result<_, _>>()?,
        ),
        YamlDataOwned::Mapping(entries) => NodeValue::Map(
            entries
                .iter()
                .map(|(k, v)| Ok((convert(file, k)?, convert(file, v)?)))
                .collect::<Result<_, Diagnostic>>()?,
        ),
        YamlDataOwned::Tagged(_, inner) => return convert(file, inner),
        YamlDataOwned::Alias(_) => {
            return Err(Diagnostic::error(span, "YAML aliases are not supported"))
        }
        YamlDataOwned::BadValue => return Err(Diagnostic::error(span, "invalid YAML value")),
    };
    Ok(Node::new(value, span))
}

fn scalar_value(scalar: &ScalarOwned) -> NodeValue {
    match scalar {
        ScalarOwned::Null => NodeValue::Null,
        ScalarOwned::Boolean(b) => NodeValue::Bool(*b),
        ScalarOwned::Integer(i) => NodeValue::Int(*i),
        ScalarOwned::FloatingPoint(f) => NodeValue::Float(f.into_inner()),
        ScalarOwned::String(s) => NodeValue::String(s.clone()),
    }
}
