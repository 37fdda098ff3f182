//! Parsing with `promql-parser`, then a walk that rejects every construct our engine
//! does not evaluate, so an unsupported rule fails when the config is loaded.

use std::fmt;
use std::time::Duration;

use promql_parser::parser::{self as ast, Offset};

use super::locate;

/// Where in the expression text an error is, 1-based, columns counted in characters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Position {
    /// Line inside the expression text, from 1.
    pub line: usize,
    /// Column inside that line, from 1.
    pub column: usize,
}

/// Why an expression was refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PromqlError {
    /// The text is not PromQL (the parser's own message).
    #[error("{message}")]
    Syntax {
        /// The parser's message.
        message: String,
        /// Where, when it could be found.
        position: Option<Position>,
    },
    /// Valid PromQL that this engine does not evaluate; the message names the construct,
    /// e.g. "function `holt_winters` is not supported".
    #[error("{message}")]
    Unsupported {
        /// Names the construct.
        message: String,
        /// Where the construct starts, when it could be found.
        position: Option<Position>,
    },
}

impl PromqlError {
    /// Where in the expression text the error is, when known.
    pub fn position(&self) -> Option<Position> {
        match self {
            PromqlError::Syntax { position, .. } | PromqlError::Unsupported { position, .. } => {
                *position
            }
        }
    }
}

/// A parsed, checked PromQL expression: only constructs this engine evaluates.
#[derive(Debug, Clone)]
pub struct Expr {
    pub(crate) ast: ast::Expr,
    text: String,
}

impl Expr {
    /// The text it was parsed from.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// The parser's tree.
    pub fn ast(&self) -> &ast::Expr {
        &self.ast
    }

    /// The longest look into the past of any selector: its range plus its offset. The
    /// store must keep this much plus the lookback.
    pub fn range_needed(&self) -> Duration {
        range_needed(&self.ast)
    }
}

impl fmt::Display for Expr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// Parses `text` and checks that every construct in it is supported.
pub fn parse(text: &str) -> Result<Expr, PromqlError> {
    let tree = ast::parse(text).map_err(|message| {
        // Functions the parser does not know (e.g. Prometheus 2's `holt_winters`) are
        // reported like the ones we refuse.
        if let Some(name) = unknown_function(&message) {
            let found = Unsupported::Function(name.to_string());
            return PromqlError::Unsupported {
                message: found.message(),
                position: locate::construct(text, &found),
            };
        }
        PromqlError::Syntax {
            position: locate::syntax_error(text, &message),
            message,
        }
    })?;
    if let Some(found) = first_unsupported(&tree) {
        return Err(PromqlError::Unsupported {
            message: found.message(),
            position: locate::construct(text, &found),
        });
    }
    Ok(Expr {
        ast: tree,
        text: text.to_string(),
    })
}

/// The name in `promql-parser`'s "unknown function with name 'x'" message.
fn unknown_function(message: &str) -> Option<&str> {
    let rest = message.strip_prefix("unknown function with name '")?;
    rest.strip_suffix('\'')
}

/// The functions this engine evaluates.
pub(crate) const SUPPORTED_FUNCTIONS: &[&str] = &[
    "rate",
    "irate",
    "increase",
    "delta",
    "deriv",
    "predict_linear",
    "avg_over_time",
    "min_over_time",
    "max_over_time",
    "sum_over_time",
    "count_over_time",
    "quantile_over_time",
    "last_over_time",
    "stddev_over_time",
    "absent",
    "absent_over_time",
    "histogram_quantile",
    "abs",
    "clamp_min",
    "clamp_max",
    "round",
    "time",
    "vector",
    "scalar",
];

/// The aggregations this engine evaluates.
pub(crate) const SUPPORTED_AGGREGATIONS: &[&str] = &[
    "sum", "avg", "min", "max", "count", "topk", "bottomk", "quantile",
];

/// An unsupported construct, as found by the walk.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Unsupported {
    Function(String),
    Aggregation(String),
    Operator(String),
    At,
    Subquery,
    StringLiteral,
    OrMatchers,
    Fill,
    Extension,
}

impl Unsupported {
    fn message(&self) -> String {
        match self {
            Unsupported::Function(name) => format!("function `{name}` is not supported"),
            Unsupported::Aggregation(op) => format!("aggregation `{op}` is not supported"),
            Unsupported::Operator(op) => format!("operator `{op}` is not supported"),
            Unsupported::At => "`@` modifier is not supported".into(),
            Unsupported::Subquery => "subqueries are not supported".into(),
            Unsupported::StringLiteral => "string literals are not supported".into(),
            Unsupported::OrMatchers => "`or` inside label matchers is not supported".into(),
            Unsupported::Fill => "`fill` modifiers are not supported".into(),
            Unsupported::Extension => "extension expressions are not supported".into(),
        }
    }
}

/// The first unsupported construct in evaluation order (left to right), if any.
pub(crate) fn first_unsupported(expr: &ast::Expr) -> Option<Unsupported> {
    match expr {
        ast::Expr::Aggregate(a) => {
            let op = a.op.to_string();
            if !SUPPORTED_AGGREGATIONS.contains(&op.as_str()) {
                return Some(Unsupported::Aggregation(op));
            }
            let param = a.param.as_deref().and_then(first_unsupported);
            param.or_else(|| first_unsupported(&a.expr))
        }
        ast::Expr::Unary(u) => first_unsupported(&u.expr),
        ast::Expr::Binary(b) => {
            let op = b.op.to_string();
            if op == "atan2" {
                return Some(Unsupported::Operator(op));
            }
            if let Some(m) = &b.modifier {
                if m.fill_values.lhs.is_some() || m.fill_values.rhs.is_some() {
                    return Some(Unsupported::Fill);
                }
            }
            first_unsupported(&b.lhs).or_else(|| first_unsupported(&b.rhs))
        }
        ast::Expr::Paren(p) => first_unsupported(&p.expr),
        ast::Expr::Subquery(_) => Some(Unsupported::Subquery),
        ast::Expr::NumberLiteral(_) => None,
        ast::Expr::StringLiteral(_) => Some(Unsupported::StringLiteral),
        ast::Expr::VectorSelector(vs) => selector_unsupported(vs),
        ast::Expr::MatrixSelector(ms) => selector_unsupported(&ms.vs),
        ast::Expr::Call(call) => {
            if !SUPPORTED_FUNCTIONS.contains(&call.func.name) {
                return Some(Unsupported::Function(call.func.name.to_string()));
            }
            call.args.args.iter().find_map(|a| first_unsupported(a))
        }
        ast::Expr::Extension(_) => Some(Unsupported::Extension),
    }
}

fn selector_unsupported(vs: &ast::VectorSelector) -> Option<Unsupported> {
    if vs.at.is_some() {
        Some(Unsupported::At)
    } else if !vs.matchers.or_matchers.is_empty() {
        Some(Unsupported::OrMatchers)
    } else {
        None
    }
}

fn offset_back(offset: &Option<Offset>) -> Duration {
    match offset {
        Some(Offset::Pos(d)) => *d,
        Some(Offset::Neg(_)) | None => Duration::ZERO,
    }
}

fn range_needed(expr: &ast::Expr) -> Duration {
    match expr {
        ast::Expr::Aggregate(a) => {
            let param = a.param.as_deref().map(range_needed).unwrap_or_default();
            param.max(range_needed(&a.expr))
        }
        ast::Expr::Unary(u) => range_needed(&u.expr),
        ast::Expr::Binary(b) => range_needed(&b.lhs).max(range_needed(&b.rhs)),
        ast::Expr::Paren(p) => range_needed(&p.expr),
        ast::Expr::Subquery(s) => s.range + range_needed(&s.expr) + offset_back(&s.offset),
        ast::Expr::VectorSelector(vs) => offset_back(&vs.offset),
        ast::Expr::MatrixSelector(ms) => ms.range + offset_back(&ms.vs.offset),
        ast::Expr::Call(call) => call
            .args
            .args
            .iter()
            .map(|a| range_needed(a))
            .max()
            .unwrap_or_default(),
        ast::Expr::NumberLiteral(_) | ast::Expr::StringLiteral(_) | ast::Expr::Extension(_) => {
            Duration::ZERO
        }
    }
}
