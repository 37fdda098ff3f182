//! Making OTLP values safe for PostgreSQL: `text` and `jsonb` reject NUL, JSON has no NaN,
//! and one huge attribute must not make a row (or the whole batch) fail.
//!
//! - NUL characters become the six characters `\u0000` (escaped, so they stay visible).
//! - Bytes values are stored as lowercase hex (lossless); a bytes log body, which is meant
//!   to be read, is decoded as UTF-8 with invalid sequences replaced by U+FFFD.
//! - Strings longer than the limit are cut at a character boundary and the row gets
//!   `"sentinel.truncated": true` in its attributes.
//! - Non-finite doubles are stored in JSON as the strings `"NaN"`, `"Infinity"`,
//!   `"-Infinity"`.

use std::borrow::Cow;
use std::fmt::Write as _;

use opentelemetry_proto::tonic::common::v1::{any_value::Value, AnyValue, KeyValue};

/// The attribute added to a row whose values were cut.
pub const TRUNCATED_KEY: &str = "sentinel.truncated";
const NUL_ESCAPE: &str = "\\u0000";

/// Cleans the strings of one row and remembers whether anything was cut.
#[derive(Debug)]
pub struct Cleaner {
    limit: usize,
    pub truncated: bool,
}

impl Cleaner {
    pub fn new(limit: usize) -> Cleaner {
        Cleaner {
            limit,
            truncated: false,
        }
    }

    /// Starts a new row.
    pub fn reset(&mut self) {
        self.truncated = false;
    }

    /// NUL escaped, cut to the limit.
    pub fn text<'a>(&mut self, value: &'a str) -> Cow<'a, str> {
        let escaped = if value.contains('\0') {
            Cow::Owned(value.replace('\0', NUL_ESCAPE))
        } else {
            Cow::Borrowed(value)
        };
        if escaped.len() <= self.limit {
            return escaped;
        }
        self.truncated = true;
        let mut end = self.limit;
        while !escaped.is_char_boundary(end) {
            end -= 1;
        }
        match escaped {
            Cow::Borrowed(s) => Cow::Borrowed(&s[..end]),
            Cow::Owned(mut s) => {
                s.truncate(end);
                Cow::Owned(s)
            }
        }
    }

    /// Bytes meant as text: invalid UTF-8 replaced by U+FFFD, then cleaned.
    pub fn lossy_text(&mut self, value: &[u8]) -> String {
        self.text(&String::from_utf8_lossy(value)).into_owned()
    }

    /// Attributes as one JSON object; `extra_truncation_flag` adds the truncation marker
    /// when this row was cut anywhere (also in columns cleaned before).
    pub fn attributes_json(&mut self, attributes: &[KeyValue]) -> String {
        let mut out = String::with_capacity(16 + attributes.len() * 32);
        self.write_object(&mut out, attributes, 0);
        out
    }

    /// [`Cleaner::attributes_json`] into a buffer the caller reuses from row to row.
    pub fn attributes_json_into(&mut self, out: &mut String, attributes: &[KeyValue]) {
        out.clear();
        self.write_object(out, attributes, 0);
    }

    /// Adds `"sentinel.truncated": true` to a JSON object built by `attributes_json`.
    pub fn flag_truncated(json: &mut String) {
        debug_assert!(json.ends_with('}'));
        json.pop();
        if json.len() > 1 {
            json.push(',');
        }
        json.push('"');
        json.push_str(TRUNCATED_KEY);
        json.push_str("\":true}");
    }

    fn write_object(&mut self, out: &mut String, attributes: &[KeyValue], depth: usize) {
        out.push('{');
        for (index, kv) in attributes.iter().enumerate() {
            if index > 0 {
                out.push(',');
            }
            let key = self.text(&kv.key);
            write_json_string(out, &key);
            out.push(':');
            self.write_value(out, kv.value.as_ref(), depth);
        }
        out.push('}');
    }

    /// An AnyValue as JSON. Nesting deeper than 32 levels is stored as null (prost already
    /// bounds recursion when decoding; this keeps our output bounded too).
    pub fn write_value(&mut self, out: &mut String, value: Option<&AnyValue>, depth: usize) {
        let Some(value) = value.and_then(|v| v.value.as_ref()) else {
            out.push_str("null");
            return;
        };
        if depth > 32 {
            out.push_str("null");
            return;
        }
        match value {
            Value::StringValue(s) => {
                let s = self.text(s);
                write_json_string(out, &s);
            }
            Value::BoolValue(b) => out.push_str(if *b { "true" } else { "false" }),
            Value::IntValue(i) => {
                let _ = write!(out, "{i}");
            }
            // A string-table index (profiles); nothing to resolve it against here.
            Value::StringValueStrindex(i) => {
                let _ = write!(out, "{i}");
            }
            Value::DoubleValue(d) => write_json_double(out, *d),
            Value::BytesValue(bytes) => {
                let shown = &bytes[..bytes.len().min(self.limit / 2)];
                if shown.len() < bytes.len() {
                    self.truncated = true;
                }
                out.push('"');
                out.push_str(&const_hex::encode(shown));
                out.push('"');
            }
            Value::ArrayValue(array) => {
                out.push('[');
                for (index, item) in array.values.iter().enumerate() {
                    if index > 0 {
                        out.push(',');
                    }
                    self.write_value(out, Some(item), depth + 1);
                }
                out.push(']');
            }
            Value::KvlistValue(list) => self.write_object(out, &list.values, depth + 1),
        }
    }

    /// A log body: strings as they are, bytes as lossy UTF-8, anything else as JSON text.
    pub fn body(&mut self, body: Option<&AnyValue>) -> Option<String> {
        match body.and_then(|b| b.value.as_ref())? {
            Value::StringValue(s) => Some(self.text(s).into_owned()),
            Value::BytesValue(bytes) => Some(self.lossy_text(bytes)),
            _ => {
                let mut out = String::new();
                self.write_value(&mut out, body, 0);
                Some(out)
            }
        }
    }
}

fn write_json_double(out: &mut String, d: f64) {
    if d.is_finite() {
        // `{:?}` keeps a decimal point or exponent, so it reads back as the same double.
        let _ = write!(out, "{d:?}");
    } else if d.is_nan() {
        out.push_str("\"NaN\"");
    } else if d > 0.0 {
        out.push_str("\"Infinity\"");
    } else {
        out.push_str("\"-Infinity\"");
    }
}

/// A JSON string literal. The input holds no NUL (cleaned before).
pub fn write_json_string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// The string value of a string attribute, if present.
pub fn string_attribute<'a>(attributes: &'a [KeyValue], key: &str) -> Option<&'a str> {
    attributes.iter().find(|kv| kv.key == key).and_then(|kv| {
        match kv.value.as_ref()?.value.as_ref()? {
            Value::StringValue(s) => Some(s.as_str()),
            _ => None,
        }
    })
}

/// The integer value of an int attribute, if present.
pub fn int_attribute(attributes: &[KeyValue], key: &str) -> Option<i64> {
    attributes.iter().find(|kv| kv.key == key).and_then(|kv| {
        match kv.value.as_ref()?.value.as_ref()? {
            Value::IntValue(i) => Some(*i),
            _ => None,
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry_proto::tonic::common::v1::{ArrayValue, KeyValueList};

    fn kv(key: &str, value: Value) -> KeyValue {
        KeyValue {
            key: key.into(),
            value: Some(AnyValue { value: Some(value) }),
            ..Default::default()
        }
    }

    #[test]
    fn nul_is_escaped_and_long_text_is_cut_at_a_char_boundary() {
        let mut c = Cleaner::new(8);
        assert_eq!(c.text("a\0b"), "a\\u0000b");
        assert!(!c.truncated);
        assert_eq!(c.text("ééééé"), "éééé");
        assert!(c.truncated);
        c.reset();
        assert!(!c.truncated);
    }

    #[test]
    fn attributes_become_valid_json_with_every_value_type() {
        let mut c = Cleaner::new(1024);
        let attrs = vec![
            kv("s", Value::StringValue("x\"\n\0".into())),
            kv("b", Value::BoolValue(true)),
            kv("i", Value::IntValue(-3)),
            kv("d", Value::DoubleValue(1.0)),
            kv("nan", Value::DoubleValue(f64::NAN)),
            kv("raw", Value::BytesValue(vec![0xff, 0x00, 0xfe])),
            kv(
                "arr",
                Value::ArrayValue(ArrayValue {
                    values: vec![AnyValue {
                        value: Some(Value::IntValue(1)),
                    }],
                }),
            ),
            kv(
                "map",
                Value::KvlistValue(KeyValueList {
                    values: vec![kv("k", Value::StringValue("v".into()))],
                }),
            ),
        ];
        let json = c.attributes_json(&attrs);
        let parsed: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(parsed["s"], "x\"\n\\u0000");
        assert_eq!(parsed["b"], true);
        assert_eq!(parsed["i"], -3);
        assert_eq!(parsed["d"], 1.0);
        assert_eq!(parsed["nan"], "NaN");
        assert_eq!(parsed["raw"], "ff00fe");
        assert_eq!(parsed["arr"][0], 1);
        assert_eq!(parsed["map"]["k"], "v");
        assert!(!json.contains('\0'));
    }

    #[test]
    fn truncation_is_flagged_in_the_json() {
        let mut c = Cleaner::new(16);
        let mut json = c.attributes_json(&[kv("big", Value::StringValue("y".repeat(100)))]);
        assert!(c.truncated);
        Cleaner::flag_truncated(&mut json);
        let parsed: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(parsed["big"].as_str().unwrap().len(), 16);
        assert_eq!(parsed[TRUNCATED_KEY], true);
        let mut empty = String::from("{}");
        Cleaner::flag_truncated(&mut empty);
        assert_eq!(empty, "{\"sentinel.truncated\":true}");
    }

    #[test]
    fn a_bytes_body_with_invalid_utf8_is_replaced() {
        let mut c = Cleaner::new(64);
        let body = AnyValue {
            value: Some(Value::BytesValue(vec![b'o', b'k', 0xff, 0x00])),
        };
        assert_eq!(c.body(Some(&body)).unwrap(), "ok\u{fffd}\\u0000");
    }
}
