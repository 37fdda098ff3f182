//! Attribute actions shared by the `attributes` and `resource` processors.

use sentinel_pipeline::config::ValidationError;
use sentinel_pipeline::otlp::common::v1::{any_value, AnyValue, KeyValue};
use serde::{Deserialize, Serialize};

/// One change to an attribute list, matched by key.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ActionConfig {
    /// The attribute key the action applies to.
    pub key: String,
    /// The value to write (string, integer, float or boolean). Not used by `delete`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<AttributeValue>,
    /// Copy the value of this attribute instead of a literal `value`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from_attribute: Option<String>,
    /// `insert` (only if absent), `update` (only if present), `upsert` (always), `delete`.
    pub action: ActionKind,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ActionKind {
    Insert,
    Update,
    Upsert,
    Delete,
}

/// A literal attribute value as written in YAML.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum AttributeValue {
    Bool(bool),
    Int(i64),
    Double(f64),
    String(String),
}

impl AttributeValue {
    fn to_otlp(&self) -> AnyValue {
        let value = match self {
            AttributeValue::Bool(b) => any_value::Value::BoolValue(*b),
            AttributeValue::Int(i) => any_value::Value::IntValue(*i),
            AttributeValue::Double(d) => any_value::Value::DoubleValue(*d),
            AttributeValue::String(s) => any_value::Value::StringValue(s.clone()),
        };
        AnyValue { value: Some(value) }
    }
}

/// Checks a list of actions; the message names the offending action.
/// Errors are about the component's node: the list is `actions` in one processor and
/// `attributes` in the other.
pub fn validate(actions: &[ActionConfig]) -> Result<(), ValidationError> {
    if actions.is_empty() {
        return Err(ValidationError::new(
            "`actions` must list at least one action",
        ));
    }
    for (index, action) in actions.iter().enumerate() {
        if action.key.is_empty() {
            return Err(ValidationError::new(format!(
                "actions[{index}]: `key` must not be empty"
            )));
        }
        let sources = action.value.is_some() as u8 + action.from_attribute.is_some() as u8;
        match (action.action, sources) {
            (ActionKind::Delete, 0) => {}
            (ActionKind::Delete, _) => {
                return Err(ValidationError::new(format!(
                    "actions[{index}] ({}): delete takes no value",
                    action.key
                )))
            }
            (_, 1) => {}
            _ => {
                return Err(ValidationError::new(format!(
                    "actions[{index}] ({}): set exactly one of `value` or `from_attribute`",
                    action.key
                )))
            }
        }
    }
    Ok(())
}

/// Applies the actions in order to one attribute list.
pub fn apply(actions: &[ActionConfig], attributes: &mut Vec<KeyValue>) {
    for action in actions {
        let position = attributes.iter().position(|kv| kv.key == action.key);
        if action.action == ActionKind::Delete {
            if let Some(index) = position {
                attributes.remove(index);
            }
            continue;
        }
        let value = match (&action.value, &action.from_attribute) {
            (Some(literal), _) => Some(literal.to_otlp()),
            (None, Some(source)) => attributes
                .iter()
                .find(|kv| &kv.key == source)
                .and_then(|kv| kv.value.clone()),
            (None, None) => None,
        };
        // A missing `from_attribute` source leaves the target alone.
        let Some(value) = value else { continue };
        match (action.action, position) {
            (ActionKind::Insert | ActionKind::Upsert, None) => attributes.push(KeyValue {
                key: action.key.clone(),
                value: Some(value),
                ..Default::default()
            }),
            (ActionKind::Update | ActionKind::Upsert, Some(index)) => {
                attributes[index].value = Some(value)
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_data::kv;

    fn action(key: &str, value: Option<&str>, kind: ActionKind) -> ActionConfig {
        ActionConfig {
            key: key.into(),
            value: value.map(|v| AttributeValue::String(v.into())),
            from_attribute: None,
            action: kind,
        }
    }

    fn get<'a>(attrs: &'a [KeyValue], key: &str) -> Option<&'a any_value::Value> {
        attrs
            .iter()
            .find(|kv| kv.key == key)?
            .value
            .as_ref()?
            .value
            .as_ref()
    }

    #[test]
    fn insert_update_upsert_delete() {
        let mut attrs = vec![kv("a", "1"), kv("b", "2"), kv("gone", "x")];
        apply(
            &[
                action("a", Some("new"), ActionKind::Insert),
                action("c", Some("3"), ActionKind::Insert),
                action("b", Some("22"), ActionKind::Update),
                action("d", Some("4"), ActionKind::Update),
                action("a", Some("11"), ActionKind::Upsert),
                action("e", Some("5"), ActionKind::Upsert),
                action("gone", None, ActionKind::Delete),
            ],
            &mut attrs,
        );
        let s = |v: &str| Some(any_value::Value::StringValue(v.into()));
        assert_eq!(get(&attrs, "a").cloned(), s("11"));
        assert_eq!(get(&attrs, "b").cloned(), s("22"));
        assert_eq!(get(&attrs, "c").cloned(), s("3"));
        assert_eq!(get(&attrs, "d"), None, "update never creates");
        assert_eq!(get(&attrs, "e").cloned(), s("5"));
        assert_eq!(get(&attrs, "gone"), None);
        assert_eq!(attrs.len(), 4);
    }

    #[test]
    fn from_attribute_and_typed_values() {
        let mut attrs = vec![kv("src", "copied")];
        let actions = vec![
            ActionConfig {
                key: "dst".into(),
                value: None,
                from_attribute: Some("src".into()),
                action: ActionKind::Insert,
            },
            ActionConfig {
                key: "n".into(),
                value: Some(AttributeValue::Int(7)),
                from_attribute: None,
                action: ActionKind::Upsert,
            },
        ];
        validate(&actions).unwrap();
        apply(&actions, &mut attrs);
        assert_eq!(
            get(&attrs, "dst").cloned(),
            Some(any_value::Value::StringValue("copied".into()))
        );
        assert_eq!(
            get(&attrs, "n").cloned(),
            Some(any_value::Value::IntValue(7))
        );
    }

    #[test]
    fn validation_requires_exactly_one_source() {
        assert!(validate(&[action("k", None, ActionKind::Insert)]).is_err());
        assert!(validate(&[action("k", Some("v"), ActionKind::Delete)]).is_err());
        assert!(validate(&[]).is_err());
        assert!(validate(&[action("k", None, ActionKind::Delete)]).is_ok());
    }
}
