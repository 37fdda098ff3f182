//! A parsed config tree where every value knows where it was written.

use std::fmt;
use std::sync::Arc;

use serde::de::DeserializeOwned;

/// A position in a config file (1-based line and column).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Span {
    pub file: Arc<str>,
    pub line: usize,
    pub col: usize,
}

impl Span {
    pub fn new(file: impl Into<Arc<str>>, line: usize, col: usize) -> Self {
        Span {
            file: file.into(),
            line,
            col,
        }
    }

    /// For values not read from a file (defaults, tests).
    pub fn unknown() -> Self {
        Span::new("<default>", 0, 0)
    }
}

impl fmt::Display for Span {
    /// `file:line:col`, or the file alone for a problem with the file as a whole (line 0).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line == 0 {
            return f.write_str(&self.file);
        }
        write!(f, "{}:{}:{}", self.file, self.line, self.col)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    Error,
    Warning,
}

/// One problem found in a config, printed as `FILE:LINE:COL: message`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    pub span: Span,
    pub severity: Severity,
    pub message: String,
}

impl Diagnostic {
    pub fn error(span: Span, message: impl Into<String>) -> Self {
        Diagnostic {
            span,
            severity: Severity::Error,
            message: message.into(),
        }
    }

    pub fn warning(span: Span, message: impl Into<String>) -> Self {
        Diagnostic {
            span,
            severity: Severity::Warning,
            message: message.into(),
        }
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.severity {
            Severity::Error => write!(f, "{}: {}", self.span, self.message),
            Severity::Warning => write!(f, "{}: warning: {}", self.span, self.message),
        }
    }
}

impl std::error::Error for Diagnostic {}

/// A config value and where it was written.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    pub value: NodeValue,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub enum NodeValue {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    String(String),
    Seq(Vec<Node>),
    /// Keys are kept as nodes so errors can point at the key itself. Order is preserved.
    Map(Vec<(Node, Node)>),
}

impl Node {
    pub fn new(value: NodeValue, span: Span) -> Self {
        Node { value, span }
    }

    /// An empty map, the config of a component written `otlp:` with nothing under it.
    pub fn empty_map(span: Span) -> Self {
        Node::new(NodeValue::Map(Vec::new()), span)
    }

    pub fn as_str(&self) -> Option<&str> {
        match &self.value {
            NodeValue::String(s) => Some(s),
            _ => None,
        }
    }

    /// Looks up a key in a map node.
    pub fn get(&self, key: &str) -> Option<&Node> {
        match &self.value {
            NodeValue::Map(entries) => entries
                .iter()
                .find(|(k, _)| k.as_str() == Some(key))
                .map(|(_, v)| v),
            _ => None,
        }
    }

    /// A plain JSON view of the value (positions dropped).
    pub fn to_json(&self) -> serde_json::Value {
        use serde_json::Value;
        match &self.value {
            NodeValue::Null => Value::Null,
            NodeValue::Bool(b) => Value::Bool(*b),
            NodeValue::Int(i) => Value::from(*i),
            NodeValue::Float(f) => Value::from(*f),
            NodeValue::String(s) => Value::String(s.clone()),
            NodeValue::Seq(items) => Value::Array(items.iter().map(Node::to_json).collect()),
            NodeValue::Map(entries) => Value::Object(
                entries
                    .iter()
                    .map(|(k, v)| (key_text(k), v.to_json()))
                    .collect(),
            ),
        }
    }
}

fn key_text(key: &Node) -> String {
    match &key.value {
        NodeValue::String(s) => s.clone(),
        other => Node::new(other.clone(), key.span.clone())
            .to_json()
            .to_string(),
    }
}

/// Decodes a node into a config struct. Errors carry the position of the offending value,
/// and unknown keys are reported at the key with a "did you mean" suggestion. Returns the
/// first problem; [`decode_all`] returns every one.
pub fn decode<T: DeserializeOwned>(node: &Node) -> Result<T, Diagnostic> {
    decode_all(node).map_err(|mut all| all.remove(0))
}

/// Decodes a node, reporting every unknown key together with the first wrong value.
pub fn decode_all<T: DeserializeOwned>(node: &Node) -> Result<T, Vec<Diagnostic>> {
    match decode_lenient(node) {
        (Some(value), problems) if problems.is_empty() => Ok(value),
        (_, problems) => Err(problems),
    }
}

/// Decodes what it can: unknown keys are reported and skipped, so the value comes back
/// (for further checks) unless a value has the wrong type. Problems are in file order.
pub fn decode_lenient<T: DeserializeOwned>(node: &Node) -> (Option<T>, Vec<Diagnostic>) {
    let gathered = super::de::Gathered::default();
    let result = T::deserialize(super::de::NodeDeserializer::new(node, &gathered));
    let place = |err: super::de::DeError| {
        let span = err.span.clone().unwrap_or_else(|| node.span.clone());
        Diagnostic::error(span, err.message)
    };
    let unknown = gathered.into_inner();
    // A key missing because it was misspelt is reported once, as the misspelling.
    let misspelt = |err: &super::de::DeError| {
        err.field.is_some() && unknown.iter().any(|u| u.field == err.field)
    };
    let value = match result {
        Ok(value) => Some(value),
        Err(err) if misspelt(&err) => None,
        Err(err) => {
            let mut problems: Vec<Diagnostic> = unknown.into_iter().map(place).collect();
            problems.push(place(err));
            problems.sort_by_key(|d| (d.span.line, d.span.col));
            return (None, problems);
        }
    };
    let mut problems: Vec<Diagnostic> = unknown.into_iter().map(place).collect();
    problems.sort_by_key(|d| (d.span.line, d.span.col));
    (value, problems)
}
