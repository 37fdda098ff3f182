//! Secret redaction: every string of the hook JSON (object keys included) is scanned for
//! API keys, tokens, passwords, credentials in URLs and headers, and private keys
//! ([`patterns`]); the contents of secret files (`.env*`, `.envrc`, `.netrc`, …) read or
//! written by any tool are replaced whole ([`files`]).
//!
//! Cost: one case-insensitive multi-word scan per string finds which shapes can occur;
//! only their expressions run, each compiled the first time it is needed. Linear in the
//! text (the `regex` crate never backtracks).

mod files;
pub mod patterns;
#[cfg(test)]
mod table;

use std::sync::OnceLock;

use aho_corasick::{AhoCorasick, AhoCorasickKind};
use regex::Regex;
use serde_json::{Map, Value};

pub use files::{command_touches_secret_file, is_secret_file, touches_secret_file};
use patterns::{Check, Shape, SHAPES};

/// What every redacted secret is replaced with.
pub const REDACTED: &str = "[REDACTED]";

/// The redactor: built-in shapes plus the receiver's `redact_patterns`.
pub struct Redactor {
    /// Trigger words of every built-in shape, and which shape each belongs to.
    triggers: AhoCorasick,
    trigger_shape: Vec<usize>,
    /// Built-in expressions, compiled on first use.
    compiled: Vec<OnceLock<Option<Regex>>>,
    /// User patterns: every match is replaced whole; they always run.
    extra: Vec<Regex>,
}

impl Redactor {
    /// The built-in shapes plus `extra` (each match of which is replaced whole).
    pub fn new(extra: &[String]) -> Result<Redactor, regex::Error> {
        let mut words = Vec::new();
        let mut trigger_shape = Vec::new();
        for (index, shape) in SHAPES.iter().enumerate() {
            for word in shape.triggers {
                words.push(*word);
                trigger_shape.push(index);
            }
        }
        // The NFA builds in microseconds; a DFA (the default for few words) costs more to
        // build than `sentinel hook` spends on everything else.
        let triggers = AhoCorasick::builder()
            .kind(Some(AhoCorasickKind::NoncontiguousNFA))
            .ascii_case_insensitive(true)
            .build(&words)
            .expect("the trigger words are plain literals");
        Ok(Redactor {
            triggers,
            trigger_shape,
            compiled: SHAPES.iter().map(|_| OnceLock::new()).collect(),
            extra: extra
                .iter()
                .map(|p| Regex::new(p))
                .collect::<Result<_, _>>()?,
        })
    }

    /// Redacts one string; `None` when nothing matched.
    pub fn redact_str(&self, text: &str) -> Option<String> {
        let mut out: Option<String> = None;
        for index in self.candidate_shapes(text) {
            let Some(regex) = self.regex(index) else {
                continue;
            };
            let current = out.as_deref().unwrap_or(text);
            if let Some(replaced) = replace_secrets(regex, &SHAPES[index], current) {
                out = Some(replaced);
            }
        }
        for regex in &self.extra {
            let current = out.as_deref().unwrap_or(text);
            if regex.is_match(current) {
                out = Some(regex.replace_all(current, REDACTED).into_owned());
            }
        }
        out
    }

    /// Redacts the whole event in place.
    pub fn redact_event(&self, event: &mut Value) {
        if touches_secret_file(event) {
            files::blank_file_contents(event);
        }
        self.walk(event);
    }

    /// The shapes whose trigger words occur in `text`, in table order.
    fn candidate_shapes(&self, text: &str) -> Vec<usize> {
        let mut hit = vec![false; SHAPES.len()];
        for found in self.triggers.find_overlapping_iter(text) {
            hit[self.trigger_shape[found.pattern().as_usize()]] = true;
        }
        (0..SHAPES.len()).filter(|i| hit[*i]).collect()
    }

    fn regex(&self, index: usize) -> Option<&Regex> {
        self.compiled[index]
            .get_or_init(|| Regex::new(SHAPES[index].pattern).ok())
            .as_ref()
    }

    fn walk(&self, value: &mut Value) {
        match value {
            Value::String(text) => {
                if let Some(redacted) = self.redact_str(text) {
                    *text = redacted;
                }
            }
            Value::Array(items) => items.iter_mut().for_each(|v| self.walk(v)),
            Value::Object(map) => {
                self.redact_keys(map);
                for (key, v) in map.iter_mut() {
                    if is_secret_key(key) && !matches!(v, Value::Object(_) | Value::Array(_)) {
                        if !v.is_null() {
                            *v = Value::String(REDACTED.to_string());
                        }
                    } else {
                        self.walk(v);
                    }
                }
            }
            _ => {}
        }
    }

    /// A secret used as an object key (`{"sk-ant-…": …}`) is renamed; a clash with an
    /// existing key gets a `#n` suffix so no value is lost.
    fn redact_keys(&self, map: &mut Map<String, Value>) {
        let renamed: Vec<(String, String)> = map
            .keys()
            .filter_map(|key| self.redact_str(key).map(|new| (key.clone(), new)))
            .collect();
        for (old, new) in renamed {
            let Some(value) = map.remove(&old) else {
                continue;
            };
            let mut key = new.clone();
            let mut n = 2;
            while map.contains_key(&key) {
                key = format!("{new}#{n}");
                n += 1;
            }
            map.insert(key, value);
        }
    }
}

/// Replaces the `s` group (or the whole match) of every match that passes the shape's
/// check. `None` when nothing was replaced.
fn replace_secrets(regex: &Regex, shape: &Shape, text: &str) -> Option<String> {
    let mut out = String::new();
    let mut last = 0;
    for caps in regex.captures_iter(text) {
        let Some(secret) = caps.name("s").or_else(|| caps.get(0)) else {
            continue;
        };
        let value = secret.as_str();
        if patterns::value_is_placeholder(value) {
            continue;
        }
        let passes = match shape.check {
            Check::None => true,
            Check::Label => caps
                .name("label")
                .is_none_or(|l| patterns::label_is_secret(l.as_str())),
            Check::BasicCredentials => patterns::is_basic_credentials(value),
        };
        if !passes {
            continue;
        }
        let (open, close) = quotes(value);
        out.push_str(&text[last..secret.start() + open]);
        out.push_str(REDACTED);
        last = secret.end() - close;
    }
    if last == 0 && out.is_empty() {
        return None;
    }
    out.push_str(&text[last..]);
    Some(out)
}

/// Bytes of matching quotes around a value (`"x"`, `'x'`, `\"x\"`), kept in place.
fn quotes(value: &str) -> (usize, usize) {
    for quote in ["\\\"", "\"", "'"] {
        if value.len() >= 2 * quote.len() && value.starts_with(quote) && value.ends_with(quote) {
            return (quote.len(), quote.len());
        }
    }
    (0, 0)
}

/// Keys whose values are secrets whatever they look like (`password`, `api_key`,
/// `client_secret`, `Authorization`), but not `max_tokens`, `secret_name`, `token_type`.
fn is_secret_key(key: &str) -> bool {
    let lower = key.to_ascii_lowercase();
    if lower.ends_with("tokens") || lower.ends_with("_id") || !patterns::label_is_secret(&lower) {
        return false;
    }
    [
        "password",
        "passwd",
        "passphrase",
        "secret",
        "token",
        "api_key",
        "apikey",
        "api-key",
        "private_key",
        "access_key",
        "credential",
        "authorization",
        "cookie",
    ]
    .iter()
    .any(|word| lower.contains(word))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn redact(text: &str) -> String {
        Redactor::new(&[])
            .unwrap()
            .redact_str(text)
            .unwrap_or_else(|| text.to_string())
    }

    #[test]
    fn api_keys_are_redacted() {
        for secret in [
            "sk-abcdefghijklmnopqrstuvwx",
            "sk-ant-api03-abcdefghijklmnopqrstuvwx",
            "sk-proj-abcdefghijklmnopqrstuvwx",
            "AKIAIOSFODNN7EXAMPLE",
            "ghp_abcdefghijklmnopqrstuvwxyz0123456789",
            "gho_abcdefghijklmnopqrstuvwxyz0123456789",
            "github_pat_11ABCDEFG0abcdefghijklmnop",
            "xoxb-1234567890-abcdefghij",
            "xoxp-1234567890-abcdefghij",
        ] {
            let out = redact(&format!("export KEY={secret} # here"));
            assert!(!out.contains(secret), "{secret} survived in {out}");
            assert!(out.contains(REDACTED), "{out}");
        }
    }

    #[test]
    fn labelled_secrets_keep_their_label() {
        let cases = [
            (
                "curl -H 'Authorization: Bearer abc.def-ghi'",
                "abc.def-ghi",
                "Bearer ",
            ),
            (
                "aws_secret_access_key=wJalrXUtnFEMI/K7MDENG",
                "wJalrXUtnFEMI",
                "aws_secret_access_key=",
            ),
            ("mysql -u root password=hunter2x", "hunter2x", "password="),
            (r#"{"password": "hunter2x"}"#, "hunter2x", "password"),
            ("psql --password hunter2x", "hunter2x", "--password "),
        ];
        for (text, secret, label) in cases {
            let out = redact(text);
            assert!(!out.contains(secret), "{secret} survived in {out}");
            assert!(out.contains(label), "label lost in {out}");
        }
    }

    #[test]
    fn private_key_blocks_are_redacted() {
        let text =
            "key:\n-----BEGIN RSA PRIVATE KEY-----\nMIIEabc\n-----END RSA PRIVATE KEY-----\nend";
        let out = redact(text);
        assert!(!out.contains("MIIEabc"));
        assert!(out.ends_with("\nend"));
    }

    #[test]
    fn ordinary_text_is_untouched() {
        let redactor = Redactor::new(&[]).unwrap();
        for text in [
            "cargo test --workspace",
            "sk-short",
            "the task is done",
            "tokens: 12",
        ] {
            assert_eq!(redactor.redact_str(text), None, "{text}");
        }
    }

    #[test]
    fn secret_keys_and_env_files_in_events() {
        let redactor = Redactor::new(&["internal-[0-9]+".to_string()]).unwrap();
        let mut event = json!({
            "hook_event_name": "PostToolUse",
            "tool_use_id": "toolu_1",
            "tool_input": {"file_path": "/repo/.env", "content": "DB=postgres://x"},
            "tool_response": {"file": {"content": "DB=postgres://x"}},
            "config": {"api_key": "plain", "client_secret": "plain2", "input_tokens": 3},
            "note": "ticket internal-42"
        });
        redactor.redact_event(&mut event);
        let text = event.to_string();
        for gone in ["postgres://x", "plain", "internal-42"] {
            assert!(!text.contains(gone), "{gone} survived in {text}");
        }
        assert_eq!(event["tool_use_id"], "toolu_1");
        assert_eq!(event["config"]["input_tokens"], 3);
    }

    #[test]
    fn env_example_files_are_kept() {
        assert!(is_secret_file("/a/.env"));
        assert!(is_secret_file("/a/.env.local"));
        assert!(!is_secret_file("/a/.env.example"));
        assert!(!is_secret_file("/a/.env.sample"));
        assert!(!is_secret_file("/a/environment.rs"));
        let mut event = json!({"tool_input": {"file_path": "/a/.env.example", "content": "A=1"}});
        Redactor::new(&[]).unwrap().redact_event(&mut event);
        assert_eq!(event["tool_input"]["content"], "A=1");
    }
}
