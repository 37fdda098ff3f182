//! `include` / `exclude` selection of series, shaped like the hostmetrics filters:
//! `{ match_type: strict | regexp, metric_names: [...], attributes: [{ key, value }] }`.
//! `strict` compares whole strings; `regexp` searches (unanchored, as the Collector's
//! filterset does). A selector matches a series when its name matches one of
//! `metric_names` (or the list is empty) and every listed attribute matches.

pub use sentinel_pipeline::config::matching::{MatchType, NameSet, PatternError};
use sentinel_pipeline::otlp::common::v1::{any_value, KeyValue};
use serde::{Deserialize, Serialize};

/// One attribute condition: the point's (or its resource's) attribute `key` matches `value`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AttributeMatch {
    pub key: String,
    pub value: String,
}

/// `include` or `exclude`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Selector {
    /// `strict` (default) or `regexp`, for names and attribute values alike.
    pub match_type: MatchType,
    /// Metric names; empty matches every name.
    pub metric_names: Vec<String>,
    /// Attribute conditions, all of which must hold.
    pub attributes: Vec<AttributeMatch>,
}

/// A compiled [`Selector`].
#[derive(Debug, Clone)]
pub struct Matcher {
    names: NameSet,
    /// Each condition's key and its value as a one-entry set.
    attributes: Vec<(String, NameSet)>,
}

impl Selector {
    pub fn compile(&self) -> Result<Matcher, PatternError> {
        let names = NameSet::compile(&self.metric_names, self.match_type)?;
        let attributes = self
            .attributes
            .iter()
            .map(|a| {
                let value = NameSet::compile(std::slice::from_ref(&a.value), self.match_type)?;
                Ok((a.key.clone(), value))
            })
            .collect::<Result<_, PatternError>>()?;
        Ok(Matcher { names, attributes })
    }
}

/// An attribute's value as text, as a matcher compares it.
pub fn value_text(kv: &KeyValue) -> String {
    match kv.value.as_ref().and_then(|v| v.value.as_ref()) {
        Some(any_value::Value::StringValue(s)) => s.clone(),
        Some(any_value::Value::IntValue(i)) => i.to_string(),
        Some(any_value::Value::DoubleValue(d)) => d.to_string(),
        Some(any_value::Value::BoolValue(b)) => b.to_string(),
        _ => String::new(),
    }
}

impl Matcher {
    /// Whether a series named `name` with these attribute lists (point, then resource)
    /// matches.
    pub fn matches(&self, name: &str, attribute_lists: &[&[KeyValue]]) -> bool {
        let name_ok = self.names.is_empty() || self.names.matches(name);
        name_ok
            && self.attributes.iter().all(|(key, pattern)| {
                attribute_lists
                    .iter()
                    .flat_map(|list| list.iter())
                    .find(|kv| &kv.key == key)
                    .is_some_and(|kv| pattern.matches(&value_text(kv)))
            })
    }
}

/// `include` and `exclude` together.
#[derive(Debug, Clone, Default)]
pub struct Selection {
    include: Option<Matcher>,
    exclude: Option<Matcher>,
}

impl Selection {
    pub fn new(
        include: Option<&Selector>,
        exclude: Option<&Selector>,
    ) -> Result<Self, PatternError> {
        Ok(Selection {
            include: include.map(Selector::compile).transpose()?,
            exclude: exclude.map(Selector::compile).transpose()?,
        })
    }

    pub fn selects(&self, name: &str, attribute_lists: &[&[KeyValue]]) -> bool {
        self.include
            .as_ref()
            .is_none_or(|m| m.matches(name, attribute_lists))
            && !self
                .exclude
                .as_ref()
                .is_some_and(|m| m.matches(name, attribute_lists))
    }
}
