//! Serde's type errors (`invalid type: string "x", expected u64`, `expected struct
//! MetricsOnly`) rephrased for people who write YAML: "`limit_mib` must be a whole number
//! of MiB, not `lots`". The deserializer records what was expected; the key is filled in
//! by the map entry that holds the value ([`Mismatch::keyed`]).

use std::fmt;

use serde::de::Unexpected;

use super::node::{Node, NodeValue};

/// What kind of value a setting takes, as users say it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Wanted {
    Map,
    List,
    /// A whole number; `range` when the type is narrow (`u8`: 0 to 255).
    Whole {
        range: Option<&'static str>,
    },
    Number,
    Bool,
    Text,
    Duration,
    Other(String),
}

impl Wanted {
    /// Reads serde's "expected ..." text (a visitor's `expecting`).
    pub fn from_expected(expected: &str) -> Wanted {
        let range = match expected {
            "u8" => Some("from 0 to 255"),
            "u16" => Some("from 0 to 65535"),
            "i8" => Some("from -128 to 127"),
            "i16" => Some("from -32768 to 32767"),
            _ => None,
        };
        match expected {
            "u8" | "u16" | "u32" | "u64" | "u128" | "usize" | "i8" | "i16" | "i32" | "i64"
            | "i128" | "isize" => Wanted::Whole { range },
            e if e.contains("integer") || e.starts_with("a nonzero") => {
                Wanted::Whole { range: None }
            }
            "f32" | "f64" => Wanted::Number,
            "a boolean" => Wanted::Bool,
            "a string" | "a borrowed string" | "a char" | "string" => Wanted::Text,
            e if e.starts_with("struct ") || e.starts_with("a map") || e == "map" => Wanted::Map,
            e if e.starts_with("a sequence") || e.starts_with("a tuple") || e == "sequence" => {
                Wanted::List
            }
            e if e.contains("duration") => Wanted::Duration,
            other => Wanted::Other(other.to_string()),
        }
    }

    fn phrase(&self, key: &str) -> String {
        match self {
            Wanted::Map => "a map".into(),
            Wanted::List => "a list".into(),
            Wanted::Whole { range } => {
                let unit = unit_of(key).map(|u| format!(" of {u}")).unwrap_or_default();
                match range {
                    Some(range) => format!("a whole number{unit} {range}"),
                    None => format!("a whole number{unit}"),
                }
            }
            Wanted::Number => "a number".into(),
            Wanted::Bool => "true or false".into(),
            Wanted::Text => "a string".into(),
            Wanted::Duration => "a duration like `5s` or `200ms`".into(),
            Wanted::Other(text) => text.clone(),
        }
    }
}

/// The unit a key's name promises (`limit_mib`).
fn unit_of(key: &str) -> Option<&'static str> {
    let key = key.to_ascii_lowercase();
    [("_mib", "MiB"), ("_kib", "KiB"), ("_bytes", "bytes")]
        .into_iter()
        .find(|(suffix, _)| key.ends_with(suffix))
        .map(|(_, unit)| unit)
}

/// A value of the wrong type (or out of range), waiting for its key.
#[derive(Debug, Clone, PartialEq)]
pub struct Mismatch {
    pub wanted: Wanted,
    /// What was written, in YAML words (`"lots"`, `a list`).
    pub found: String,
    /// The value was an entry of a list (the key names the list).
    pub in_list: bool,
}

impl Mismatch {
    pub fn new(wanted: Wanted, found: &Unexpected<'_>) -> Mismatch {
        Mismatch {
            wanted,
            found: found_text(found),
            in_list: false,
        }
    }

    /// The message once the key holding the value is known. `value` is the node that was
    /// written there, for a hint (`scrapers: [cpu]` → write `cpu: {}`).
    pub fn keyed(&self, key: &str, value: &Node) -> String {
        let wanted = self.wanted.phrase(key);
        if self.in_list {
            return format!("each entry of `{key}` must be {wanted}, not {}", self.found);
        }
        match (&self.wanted, &value.value) {
            (Wanted::Map, NodeValue::Seq(items)) => match items.first().and_then(Node::as_str) {
                Some(first) => format!("`{key}` is a map: write `{first}: {{}}`"),
                None => format!("`{key}` is a map, not a list"),
            },
            (Wanted::Map, NodeValue::String(_) | NodeValue::Bool(_)) => format!(
                "`{key}` must be a map, not {} (write `{key}: {{}}` for its defaults)",
                self.found
            ),
            (Wanted::List, NodeValue::String(text)) => {
                format!("`{key}` must be a list: write `[{text}]`")
            }
            _ => format!("`{key}` must be {wanted}, not {}", self.found),
        }
    }

    /// The message when no key holds the value (a whole component's settings).
    pub fn unkeyed(&self) -> String {
        format!(
            "this setting must be {}, not {}",
            self.wanted.phrase(""),
            self.found
        )
    }
}

impl fmt::Display for Mismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.unkeyed())
    }
}

fn found_text(found: &Unexpected<'_>) -> String {
    match found {
        Unexpected::Bool(b) => format!("`{b}`"),
        Unexpected::Unsigned(n) => format!("`{n}`"),
        Unexpected::Signed(n) => format!("`{n}`"),
        Unexpected::Float(n) => format!("`{n}`"),
        Unexpected::Str(s) => format!("`{s}`"),
        Unexpected::Char(c) => format!("`{c}`"),
        Unexpected::Unit => "empty".into(),
        Unexpected::Seq => "a list".into(),
        Unexpected::Map => "a map".into(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::node::Span;

    fn node(value: NodeValue) -> Node {
        Node::new(value, Span::unknown())
    }

    #[test]
    fn whole_numbers_name_the_unit_their_key_promises() {
        let m = Mismatch::new(Wanted::from_expected("u64"), &Unexpected::Str("lots"));
        assert_eq!(
            m.keyed("limit_mib", &node(NodeValue::String("lots".into()))),
            "`limit_mib` must be a whole number of MiB, not `lots`"
        );
        let m = Mismatch::new(Wanted::from_expected("u8"), &Unexpected::Signed(300));
        assert_eq!(
            m.keyed("level", &node(NodeValue::Int(300))),
            "`level` must be a whole number from 0 to 255, not `300`"
        );
    }

    #[test]
    fn a_list_where_a_map_belongs_shows_the_map_to_write() {
        let m = Mismatch::new(Wanted::from_expected("struct Scrapers"), &Unexpected::Seq);
        let written = node(NodeValue::Seq(vec![node(NodeValue::String("cpu".into()))]));
        assert_eq!(
            m.keyed("scrapers", &written),
            "`scrapers` is a map: write `cpu: {}`"
        );
        let m = Mismatch::new(
            Wanted::from_expected("struct MetricsOnly"),
            &Unexpected::Bool(true),
        );
        assert_eq!(
            m.keyed("cpu", &node(NodeValue::Bool(true))),
            "`cpu` must be a map, not `true` (write `cpu: {}` for its defaults)"
        );
    }

    #[test]
    fn other_kinds_in_plain_words() {
        for (expected, phrase) in [
            ("a boolean", "true or false"),
            ("a sequence", "a list"),
            ("a string", "a string"),
            ("a duration", "a duration like `5s` or `200ms`"),
            ("f64", "a number"),
        ] {
            let m = Mismatch::new(Wanted::from_expected(expected), &Unexpected::Map);
            assert_eq!(
                m.keyed("k", &node(NodeValue::Null)),
                format!("`k` must be {phrase}, not a map")
            );
        }
    }
}
