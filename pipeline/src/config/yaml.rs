//! The one YAML loader: text (with the name of the file it came from) to a [`Node`] tree
//! where every value carries its file, line and column. The agent's config files and the
//! LLM price file both read YAML through it.

use std::sync::Arc;

use saphyr::{LoadableYamlNode, MarkedYamlOwned, ScalarOwned, YamlDataOwned};

use super::node::{Diagnostic, Node, NodeValue, Span};

/// YAML that cannot become a config tree, and where.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{span}: {problem}")]
pub struct YamlError {
    pub span: Span,
    pub problem: YamlProblem,
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum YamlProblem {
    #[error("invalid YAML: {0}")]
    Syntax(String),
    /// An alias left unresolved by the parser.
    #[error("YAML aliases are not supported")]
    Alias,
    #[error("invalid YAML value")]
    BadValue,
}

impl From<YamlError> for Diagnostic {
    fn from(error: YamlError) -> Diagnostic {
        Diagnostic::error(error.span, error.problem.to_string())
    }
}

/// Parses the first YAML document of `text`; `None` when there is none (an empty file,
/// or only comments). Positions are 1-based and name `file`.
pub fn parse_yaml(file: &str, text: &str) -> Result<Option<Node>, YamlError> {
    let file: Arc<str> = Arc::from(file);
    let docs = MarkedYamlOwned::load_from_str(text).map_err(|err| {
        let mark = err.marker();
        YamlError {
            span: Span::new(file.clone(), mark.line(), mark.col() + 1),
            problem: YamlProblem::Syntax(err.info().to_string()),
        }
    })?;
    docs.first().map(|doc| convert(&file, doc)).transpose()
}

fn convert(file: &Arc<str>, yaml: &MarkedYamlOwned) -> Result<Node, YamlError> {
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
                .collect::<Result<_, YamlError>>()?,
        ),
        YamlDataOwned::Tagged(_, inner) => return convert(file, inner),
        YamlDataOwned::Alias(_) => return Err(at(span, YamlProblem::Alias)),
        YamlDataOwned::BadValue => return Err(at(span, YamlProblem::BadValue)),
    };
    Ok(Node::new(value, span))
}

fn at(span: Span, problem: YamlProblem) -> YamlError {
    YamlError { span, problem }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_keep_their_one_based_positions() {
        let node = parse_yaml("a.yaml", "receivers:\n  otlp:\n    x: 1\n")
            .unwrap()
            .unwrap();
        let otlp = node.get("receivers").unwrap().get("otlp").unwrap();
        let NodeValue::Map(entries) = &otlp.value else {
            panic!("a map")
        };
        assert_eq!((entries[0].0.span.line, entries[0].0.span.col), (3, 5));
        assert_eq!((entries[0].1.span.line, entries[0].1.span.col), (3, 8));
        assert_eq!(&*entries[0].1.span.file, "a.yaml");
        assert_eq!(entries[0].1.value, NodeValue::Int(1));
    }

    #[test]
    fn an_empty_text_has_no_document() {
        assert_eq!(parse_yaml("e.yaml", ""), Ok(None));
        assert_eq!(parse_yaml("e.yaml", "# only a comment\n"), Ok(None));
    }

    #[test]
    fn errors_say_where() {
        let error = parse_yaml("bad.yaml", "a: [1, 2\nb: 3\n").unwrap_err();
        assert!(matches!(error.problem, YamlProblem::Syntax(_)), "{error}");
        assert!(error.to_string().starts_with("bad.yaml:"), "{error}");

        let diagnostic = Diagnostic::from(error.clone());
        assert_eq!(diagnostic.span, error.span);
        assert!(
            diagnostic.message.starts_with("invalid YAML: "),
            "{diagnostic}"
        );
    }
}
