//! A serde deserializer over [`Node`] that reports every error at the position of the value
//! (or key) that caused it, and rejects unknown keys with a "did you mean" suggestion.

use std::cell::RefCell;
use std::fmt;

use serde::de::{self, DeserializeSeed, Expected, IntoDeserializer, Unexpected, Visitor};

use super::node::{Node, NodeValue, Span};
use super::wording::{Mismatch, Wanted};

/// A decoding error, with the position once known.
#[derive(Debug)]
pub struct DeError {
    pub span: Option<Span>,
    pub message: String,
    /// A value of the wrong type whose message still waits for the key that holds it.
    mismatch: Option<Mismatch>,
    /// The field this is about: the one missing, or the one an unknown key resembles
    /// (a typo'd key makes its field "missing"; only the typo is worth reporting).
    pub(super) field: Option<&'static str>,
}

impl DeError {
    fn at(mut self, span: &Span) -> Self {
        if self.span.is_none() {
            self.span = Some(span.clone());
        }
        self
    }

    fn mismatch(mismatch: Mismatch) -> Self {
        DeError {
            span: None,
            message: mismatch.unkeyed(),
            mismatch: Some(mismatch),
            field: None,
        }
    }

    /// Names the key that holds the mismatched value, once (the innermost key wins).
    fn keyed(mut self, key: &Node, value: &Node) -> Self {
        if let (Some(mismatch), Some(name)) = (self.mismatch.take(), key.as_str()) {
            self.message = mismatch.keyed(name, value);
        }
        self
    }

    /// The mismatched value was an entry of a list.
    fn in_list(mut self) -> Self {
        if let Some(mismatch) = &mut self.mismatch {
            mismatch.in_list = true;
        }
        self
    }
}

/// Problems that do not stop decoding (unknown keys, which are skipped), gathered so that
/// one pass reports them together with whatever else is wrong.
pub type Gathered = RefCell<Vec<DeError>>;

impl fmt::Display for DeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for DeError {}

impl de::Error for DeError {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        DeError {
            span: None,
            message: msg.to_string(),
            mismatch: None,
            field: None,
        }
    }

    fn invalid_type(found: Unexpected<'_>, expected: &dyn Expected) -> Self {
        let wanted = Wanted::from_expected(&expected.to_string());
        DeError::mismatch(Mismatch::new(wanted, &found))
    }

    fn invalid_value(found: Unexpected<'_>, expected: &dyn Expected) -> Self {
        match Wanted::from_expected(&expected.to_string()) {
            wanted @ (Wanted::Whole { .. } | Wanted::Number | Wanted::Duration) => {
                DeError::mismatch(Mismatch::new(wanted, &found))
            }
            _ => Self::custom(format_args!("invalid value: {found}, expected {expected}")),
        }
    }

    fn missing_field(field: &'static str) -> Self {
        let mut err = Self::custom(format_args!("`{field}` is required"));
        err.field = Some(field);
        err
    }
}

/// The closest candidate to `unknown`, if it is close enough to be a likely typo.
pub fn suggest<'a>(
    unknown: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    candidates
        .into_iter()
        .map(|c| (c, strsim::jaro_winkler(unknown, c)))
        .filter(|(_, score)| *score >= 0.8)
        .max_by(|a, b| a.1.total_cmp(&b.1))
        .map(|(c, _)| c)
}

/// The message for a key that is not one of `valid`.
pub fn unknown_key_message(key: &str, valid: &[&str]) -> String {
    match suggest(key, valid.iter().copied()) {
        Some(best) => format!("unknown key {key:?}; did you mean {best:?}?"),
        None if valid.is_empty() => format!("unknown key {key:?}; no keys are allowed here"),
        None => format!("unknown key {key:?}; valid keys are: {}", valid.join(", ")),
    }
}

fn describe(node: &Node) -> Unexpected<'_> {
    match &node.value {
        NodeValue::Null => Unexpected::Unit,
        NodeValue::Bool(b) => Unexpected::Bool(*b),
        NodeValue::Int(i) => Unexpected::Signed(*i),
        NodeValue::Float(f) => Unexpected::Float(*f),
        NodeValue::String(s) => Unexpected::Str(s),
        NodeValue::Seq(_) => Unexpected::Seq,
        NodeValue::Map(_) => Unexpected::Map,
    }
}

#[derive(Clone, Copy)]
pub struct NodeDeserializer<'a> {
    pub node: &'a Node,
    gathered: &'a Gathered,
}

impl<'a> NodeDeserializer<'a> {
    pub fn new(node: &'a Node, gathered: &'a Gathered) -> Self {
        NodeDeserializer { node, gathered }
    }

    fn child(&self, node: &'a Node) -> Self {
        NodeDeserializer::new(node, self.gathered)
    }

    fn span(&self) -> &Span {
        &self.node.span
    }

    /// Numbers written as strings (env expansion yields strings) are accepted.
    fn number_text(&self) -> Option<&str> {
        self.node.as_str().map(str::trim)
    }
}

macro_rules! parse_number {
    ($method:ident, $visit:ident, $ty:ty) => {
        fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
            if let Some(text) = self.number_text() {
                return match text.parse::<$ty>() {
                    Ok(value) => visitor.$visit(value),
                    Err(_) => Err(de::Error::invalid_type(describe(self.node), &visitor)),
                }
                .map_err(|e: DeError| e.at(self.span()));
            }
            self.deserialize_any(visitor)
        }
    };
}

impl<'de> de::Deserializer<'de> for NodeDeserializer<'_> {
    type Error = DeError;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        let span = self.node.span.clone();
        match &self.node.value {
            NodeValue::Null => visitor.visit_unit(),
            NodeValue::Bool(b) => visitor.visit_bool(*b),
            NodeValue::Int(i) => visitor.visit_i64(*i),
            NodeValue::Float(f) => visitor.visit_f64(*f),
            NodeValue::String(s) => visitor.visit_str(s),
            NodeValue::Seq(items) => visitor.visit_seq(SeqAccess {
                items: items.iter(),
                gathered: self.gathered,
            }),
            NodeValue::Map(entries) => visitor.visit_map(MapAccess::new(entries, self.gathered)),
        }
        .map_err(|e| e.at(&span))
    }

    parse_number!(deserialize_i8, visit_i8, i8);
    parse_number!(deserialize_i16, visit_i16, i16);
    parse_number!(deserialize_i32, visit_i32, i32);
    parse_number!(deserialize_i64, visit_i64, i64);
    parse_number!(deserialize_u8, visit_u8, u8);
    parse_number!(deserialize_u16, visit_u16, u16);
    parse_number!(deserialize_u32, visit_u32, u32);
    parse_number!(deserialize_u64, visit_u64, u64);
    parse_number!(deserialize_f32, visit_f32, f32);
    parse_number!(deserialize_f64, visit_f64, f64);

    fn deserialize_bool<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        match self.node.as_str() {
            Some("true") => visitor.visit_bool(true),
            Some("false") => visitor.visit_bool(false),
            _ => self.deserialize_any(visitor),
        }
    }

    fn deserialize_str<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        self.deserialize_string(visitor)
    }

    fn deserialize_string<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        // Plain scalars such as `8080` or `true` are accepted where text is expected.
        match &self.node.value {
            NodeValue::Int(i) => visitor.visit_string(i.to_string()),
            NodeValue::Float(f) => visitor.visit_string(f.to_string()),
            NodeValue::Bool(b) => visitor.visit_string(b.to_string()),
            _ => self.deserialize_any(visitor),
        }
        .map_err(|e| e.at(&self.node.span))
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        match self.node.value {
            NodeValue::Null => visitor.visit_none(),
            _ => visitor.visit_some(self),
        }
    }

    fn deserialize_unit_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, DeError> {
        self.deserialize_any(visitor)
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, DeError> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_map<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        let span = self.node.span.clone();
        match &self.node.value {
            // `key:` with nothing under it is an empty map.
            NodeValue::Null => visitor.visit_map(MapAccess::new(&[], self.gathered)),
            _ => self.deserialize_any(visitor),
        }
        .map_err(|e| e.at(&span))
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, DeError> {
        let entries = match &self.node.value {
            NodeValue::Map(entries) => entries,
            NodeValue::Null => return self.deserialize_map(visitor),
            // serde would read a list as the fields in order; in YAML that is a mistake.
            _ => {
                let err = <DeError as de::Error>::invalid_type(describe(self.node), &visitor);
                return Err(err.at(&self.node.span));
            }
        };
        // Unknown keys are noted and skipped, so the rest still decodes and is checked.
        for (key, _) in entries {
            let Some(name) = key.as_str() else { continue };
            if !fields.contains(&name) {
                self.gathered.borrow_mut().push(DeError {
                    span: Some(key.span.clone()),
                    message: unknown_key_message(name, fields),
                    mismatch: None,
                    field: suggest(name, fields.iter().copied()),
                });
            }
        }
        let mut access = MapAccess::new(entries, self.gathered);
        access.fields = Some(fields);
        visitor.visit_map(access).map_err(|e| e.at(&self.node.span))
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, DeError> {
        let span = self.node.span.clone();
        let unknown = |name: &str| DeError {
            span: Some(span.clone()),
            message: match suggest(name, variants.iter().copied()) {
                Some(best) => format!("unknown value {name:?}; did you mean {best:?}?"),
                None => format!(
                    "unknown value {name:?}; expected one of: {}",
                    variants.join(", ")
                ),
            },
            mismatch: None,
            field: None,
        };
        match &self.node.value {
            NodeValue::String(name) => {
                if !variants.contains(&name.as_str()) {
                    return Err(unknown(name));
                }
                visitor.visit_enum(IntoDeserializer::<DeError>::into_deserializer(
                    name.as_str(),
                ))
            }
            NodeValue::Map(entries) if entries.len() == 1 => {
                let (key, value) = &entries[0];
                let name = key.as_str().unwrap_or_default();
                if !variants.contains(&name) {
                    return Err(unknown(name).at(&key.span));
                }
                visitor.visit_enum(EnumAccess {
                    variant: self.child(key),
                    value: self.child(value),
                })
            }
            _ => Err(<DeError as de::Error>::custom(format_args!(
                "expected one of {} (or a one-key map for a variant with options)",
                variants.join(", ")
            ))
            .at(&span)),
        }
        .map_err(|e| e.at(&span))
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        visitor.visit_unit()
    }

    serde::forward_to_deserialize_any! {
        char bytes byte_buf unit seq tuple tuple_struct identifier
    }
}

struct SeqAccess<'a> {
    items: std::slice::Iter<'a, Node>,
    gathered: &'a Gathered,
}

impl<'de> de::SeqAccess<'de> for SeqAccess<'_> {
    type Error = DeError;

    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, DeError> {
        match self.items.next() {
            Some(node) => seed
                .deserialize(NodeDeserializer::new(node, self.gathered))
                .map(Some)
                .map_err(|e| e.in_list().at(&node.span)),
            None => Ok(None),
        }
    }
}

struct MapAccess<'a> {
    entries: std::slice::Iter<'a, (Node, Node)>,
    /// The key and value being decoded.
    current: Option<(&'a Node, &'a Node)>,
    /// A struct's fields: other keys were reported as unknown and are skipped.
    fields: Option<&'static [&'static str]>,
    gathered: &'a Gathered,
}

impl<'a> MapAccess<'a> {
    fn new(entries: &'a [(Node, Node)], gathered: &'a Gathered) -> Self {
        MapAccess {
            entries: entries.iter(),
            current: None,
            fields: None,
            gathered,
        }
    }
}

/// Whether a struct declares `key` (every key of a plain map is known).
fn known(fields: Option<&'static [&'static str]>, key: &Node) -> bool {
    match (fields, key.as_str()) {
        (Some(fields), Some(name)) => fields.contains(&name),
        _ => true,
    }
}

impl<'de> de::MapAccess<'de> for MapAccess<'_> {
    type Error = DeError;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, DeError> {
        let fields = self.fields;
        let next = self.entries.by_ref().find(|(key, _)| known(fields, key));
        match next {
            Some((key, value)) => {
                self.current = Some((key, value));
                seed.deserialize(NodeDeserializer::new(key, self.gathered))
                    .map(Some)
                    .map_err(|e| e.at(&key.span))
            }
            None => Ok(None),
        }
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, DeError> {
        let (key, node) = self
            .current
            .take()
            .ok_or_else(|| <DeError as de::Error>::custom("value requested before key"))?;
        seed.deserialize(NodeDeserializer::new(node, self.gathered))
            .map_err(|e| e.keyed(key, node).at(&node.span))
    }
}

struct EnumAccess<'a> {
    variant: NodeDeserializer<'a>,
    value: NodeDeserializer<'a>,
}

impl<'de, 'a> de::EnumAccess<'de> for EnumAccess<'a> {
    type Error = DeError;
    type Variant = VariantAccess<'a>;

    fn variant_seed<S: DeserializeSeed<'de>>(
        self,
        seed: S,
    ) -> Result<(S::Value, Self::Variant), DeError> {
        let variant = seed.deserialize(self.variant)?;
        Ok((variant, VariantAccess { value: self.value }))
    }
}

struct VariantAccess<'a> {
    value: NodeDeserializer<'a>,
}

impl<'de> de::VariantAccess<'de> for VariantAccess<'_> {
    type Error = DeError;

    fn unit_variant(self) -> Result<(), DeError> {
        Ok(())
    }

    fn newtype_variant_seed<T: DeserializeSeed<'de>>(self, seed: T) -> Result<T::Value, DeError> {
        seed.deserialize(self.value)
            .map_err(|e| e.at(&self.value.node.span))
    }

    fn tuple_variant<V: Visitor<'de>>(self, _len: usize, visitor: V) -> Result<V::Value, DeError> {
        de::Deserializer::deserialize_seq(self.value, visitor)
    }

    fn struct_variant<V: Visitor<'de>>(
        self,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, DeError> {
        de::Deserializer::deserialize_struct(self.value, "", fields, visitor)
    }
}
