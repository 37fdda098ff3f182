//! A parsed filter condition and how it is evaluated against one item. The text form is
//! parsed by [`super::parse`]; the condition keeps that text so the effective config
//! prints as written.

use std::fmt;
use std::marker::PhantomData;

use regex::Regex;
use sentinel_pipeline::otlp::common::v1::{any_value, KeyValue};
use serde::de::{self, Deserialize, Deserializer};
use serde::{Serialize, Serializer};

use super::parse;

/// Which OTTL context a list of conditions is written for; decides the paths it may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContextKind {
    /// `traces.span`: `name`, `attributes`, `resource.attributes`.
    Span,
    /// `logs.log_record`: `attributes`, `resource.attributes`.
    LogRecord,
    /// `metrics.metric`: `name`, `resource.attributes`.
    Metric,
    /// `metrics.datapoint`: `metric.name`, `attributes`, `resource.attributes`.
    DataPoint,
}

/// Ties a condition list to its context at the type level, so a condition that names a
/// path its context lacks fails while decoding, at its own line.
pub trait Context {
    const KIND: ContextKind;
}

#[derive(Debug, Clone, PartialEq)]
pub struct SpanContext;
#[derive(Debug, Clone, PartialEq)]
pub struct LogRecordContext;
#[derive(Debug, Clone, PartialEq)]
pub struct MetricContext;
#[derive(Debug, Clone, PartialEq)]
pub struct DataPointContext;

impl Context for SpanContext {
    const KIND: ContextKind = ContextKind::Span;
}
impl Context for LogRecordContext {
    const KIND: ContextKind = ContextKind::LogRecord;
}
impl Context for MetricContext {
    const KIND: ContextKind = ContextKind::Metric;
}
impl Context for DataPointContext {
    const KIND: ContextKind = ContextKind::DataPoint;
}

/// What a condition reads from an item.
#[derive(Debug, Clone, PartialEq)]
pub enum Subject {
    /// The span's or metric's name (`metric.name` in the data point context).
    Name,
    /// `attributes["key"]` of the span, log record or data point.
    Attribute(String),
    /// `resource.attributes["key"]`.
    ResourceAttribute(String),
}

/// A literal on the right of `==` / `!=`.
#[derive(Debug, Clone, PartialEq)]
pub enum Literal {
    String(String),
    Int(i64),
    Double(f64),
    Bool(bool),
    /// `nil`: the attribute is absent.
    Nil,
}

/// The test a condition makes.
#[derive(Debug, Clone)]
pub enum Test {
    /// `subject == literal` (`equal`) or `subject != literal`.
    Compare {
        subject: Subject,
        equal: bool,
        literal: Literal,
    },
    /// `IsMatch(subject, "regex")`: the regex matches somewhere in the value.
    IsMatch { subject: Subject, regex: Regex },
}

/// One item as the conditions see it.
pub struct Item<'a> {
    /// The span's or metric's name; for a data point, its metric's name; empty for logs.
    pub name: &'a str,
    /// The item's own attributes (none for a metric).
    pub attributes: &'a [KeyValue],
    pub resource: &'a [KeyValue],
}

/// A condition could not be evaluated; `error_mode` decides what follows.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EvalError {
    #[error("IsMatch cannot read the {kind} value of {subject}: only strings, booleans and numbers are matched")]
    Unreadable { kind: &'static str, subject: String },
}

/// A condition from the config: its text and what it tests, for the context `C`.
#[derive(Debug, Clone)]
pub struct Condition<C> {
    source: String,
    test: Test,
    context: PhantomData<C>,
}

impl<C: Context> Condition<C> {
    /// Parses the text of a condition written for the context `C`.
    pub fn parse(source: &str) -> Result<Self, parse::ParseError> {
        Ok(Condition {
            source: source.to_string(),
            test: parse::parse(source, C::KIND)?,
            context: PhantomData,
        })
    }
}

impl<C> Condition<C> {
    pub fn source(&self) -> &str {
        &self.source
    }

    /// Whether the item matches (and so is dropped).
    pub fn matches(&self, item: &Item) -> Result<bool, EvalError> {
        match &self.test {
            Test::Compare {
                subject,
                equal,
                literal,
            } => Ok(compare(lookup(subject, item), literal) == *equal),
            Test::IsMatch { subject, regex } => match lookup(subject, item) {
                None => Ok(false),
                Some(found) => Ok(regex.is_match(&as_text(found, subject)?)),
            },
        }
    }
}

impl<C> PartialEq for Condition<C> {
    fn eq(&self, other: &Self) -> bool {
        self.source == other.source
    }
}

impl<'de, C: Context> Deserialize<'de> for Condition<C> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Condition::parse(&text).map_err(de::Error::custom)
    }
}

impl<C> Serialize for Condition<C> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.source)
    }
}

/// A value found on the item.
#[derive(Clone, Copy)]
enum Found<'a> {
    Name(&'a str),
    Value(&'a any_value::Value),
}

fn lookup<'a>(subject: &Subject, item: &Item<'a>) -> Option<Found<'a>> {
    let attribute = |attributes: &'a [KeyValue], key: &str| {
        attributes
            .iter()
            .find(|kv| kv.key == key)?
            .value
            .as_ref()?
            .value
            .as_ref()
            .map(Found::Value)
    };
    match subject {
        Subject::Name => Some(Found::Name(item.name)),
        Subject::Attribute(key) => attribute(item.attributes, key),
        Subject::ResourceAttribute(key) => attribute(item.resource, key),
    }
}

/// OTTL equality: same type and value; integers and doubles compare as numbers; an
/// absent value equals only `nil`.
fn compare(found: Option<Found>, literal: &Literal) -> bool {
    use any_value::Value as V;
    let Some(found) = found else {
        return *literal == Literal::Nil;
    };
    match (found, literal) {
        (Found::Name(name), Literal::String(s)) => name == s,
        (Found::Value(V::StringValue(v)), Literal::String(s)) => v == s,
        (Found::Value(V::IntValue(v)), Literal::Int(i)) => v == i,
        (Found::Value(V::IntValue(v)), Literal::Double(d)) => *v as f64 == *d,
        (Found::Value(V::DoubleValue(v)), Literal::Double(d)) => v == d,
        (Found::Value(V::DoubleValue(v)), Literal::Int(i)) => *v == *i as f64,
        (Found::Value(V::BoolValue(v)), Literal::Bool(b)) => v == b,
        _ => false,
    }
}

/// The text `IsMatch` runs its regex on: strings as they are, booleans and numbers in
/// their usual decimal form (as OTTL does).
fn as_text<'a>(
    found: Found<'a>,
    subject: &Subject,
) -> Result<std::borrow::Cow<'a, str>, EvalError> {
    use any_value::Value as V;
    let unreadable = |kind| EvalError::Unreadable {
        kind,
        subject: subject.to_string(),
    };
    Ok(match found {
        Found::Name(name) => name.into(),
        Found::Value(V::StringValue(s)) => s.as_str().into(),
        Found::Value(V::BoolValue(b)) => b.to_string().into(),
        Found::Value(V::IntValue(i)) => i.to_string().into(),
        Found::Value(V::DoubleValue(d)) => d.to_string().into(),
        Found::Value(V::BytesValue(_)) => return Err(unreadable("bytes")),
        Found::Value(V::KvlistValue(_)) => return Err(unreadable("map")),
        Found::Value(V::ArrayValue(_)) => return Err(unreadable("list")),
        Found::Value(V::StringValueStrindex(_)) => return Err(unreadable("string-table index")),
    })
}

impl fmt::Display for Subject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Subject::Name => f.write_str("name"),
            Subject::Attribute(key) => write!(f, "attributes[{key:?}]"),
            Subject::ResourceAttribute(key) => write!(f, "resource.attributes[{key:?}]"),
        }
    }
}
