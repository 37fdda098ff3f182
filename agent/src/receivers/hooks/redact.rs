//! Secret redaction: every string of the hook JSON is scanned for API keys, tokens,
//! passwords and private keys; `.env` file contents are replaced whole.

use regex::Regex;
use serde_json::Value;

/// What every redacted secret is replaced with.
pub const REDACTED: &str = "[REDACTED]";

/// Patterns whose whole match is a secret.
const SECRET_PATTERNS: &[&str] = &[
    r"-----BEGIN [A-Z ]*PRIVATE KEY-----[\s\S]*?(?:-----END [A-Z ]*PRIVATE KEY-----|$)",
    r"\bsk-(?:ant-|proj-)?[A-Za-z0-9_\-]{16,}",
    r"\bAKIA[0-9A-Z]{16}\b",
    r"\b(?:ghp|gho|ghu|ghs|ghr)_[A-Za-z0-9]{20,}",
    r"\bgithub_pat_[A-Za-z0-9_]{20,}",
    r"\bxox[abprs]-[A-Za-z0-9\-]{10,}",
];

/// Patterns whose first group is a label kept as is and whose second group is the secret.
const LABELLED_PATTERNS: &[&str] = &[
    r"(?i)(\bbearer\s+)([A-Za-z0-9\-._~+/]+=*)",
    r"(?i)(aws_secret_access_key\s*[=:]\s*)([^\s'\x22]+)",
    r#"(?i)((?:password|passwd|pwd|secret|token|api_?key)\x22?\s*[=:]\s*\x22?)([^\s'\x22&,;]+)"#,
    r"(?i)(--password[=\s]+)([^\s'\x22]+)",
];

/// The redactor, compiled once per receiver.
pub struct Redactor {
    secrets: Vec<Regex>,
    labelled: Vec<Regex>,
}

impl Redactor {
    /// The built-in patterns plus `extra` (each match of which is replaced whole).
    pub fn new(extra: &[String]) -> Result<Redactor, regex::Error> {
        let mut secrets = SECRET_PATTERNS
            .iter()
            .map(|p| Regex::new(p))
            .collect::<Result<Vec<_>, _>>()?;
        for pattern in extra {
            secrets.push(Regex::new(pattern)?);
        }
        let labelled = LABELLED_PATTERNS
            .iter()
            .map(|p| Regex::new(p))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Redactor { secrets, labelled })
    }

    /// Redacts one string; borrows it back when nothing matched.
    pub fn redact_str(&self, text: &str) -> Option<String> {
        let mut out: Option<String> = None;
        for pattern in &self.secrets {
            let current = out.as_deref().unwrap_or(text);
            if pattern.is_match(current) {
                out = Some(pattern.replace_all(current, REDACTED).into_owned());
            }
        }
        for pattern in &self.labelled {
            let current = out.as_deref().unwrap_or(text);
            if pattern.is_match(current) {
                let replaced = pattern.replace_all(current, |caps: &regex::Captures| {
                    format!("{}{REDACTED}", &caps[1])
                });
                out = Some(replaced.into_owned());
            }
        }
        out
    }

    /// Redacts the whole event in place.
    pub fn redact_event(&self, event: &mut Value) {
        if touches_env_file(event) {
            blank_file_contents(event);
        }
        self.walk(event);
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
}

/// Keys whose values are secrets whatever they look like.
fn is_secret_key(key: &str) -> bool {
    let key = key.to_ascii_lowercase();
    // `tool_use_id`, `max_tokens`, `input_tokens` are not secrets.
    if key.ends_with("tokens") || key.ends_with("_id") {
        return false;
    }
    [
        "password",
        "passwd",
        "secret",
        "token",
        "api_key",
        "apikey",
        "private_key",
    ]
    .iter()
    .any(|word| key.contains(word))
}

/// True for `.env`, `.env.local`, `prod.env`; false for `.env.example` and `.env.sample`.
pub fn is_env_file(path: &str) -> bool {
    let name = path.rsplit(['/', '\\']).next().unwrap_or(path);
    if name.ends_with(".example") || name.ends_with(".sample") || name.ends_with(".template") {
        return false;
    }
    name == ".env" || name.starts_with(".env.") || name.ends_with(".env")
}

fn touches_env_file(event: &Value) -> bool {
    ["file_path", "path", "notebook_path"].iter().any(|key| {
        event
            .pointer(&format!("/tool_input/{key}"))
            .and_then(Value::as_str)
            .is_some_and(is_env_file)
    })
}

/// Replaces every file-content field of a tool event on a `.env` file.
fn blank_file_contents(event: &mut Value) {
    const CONTENT_KEYS: &[&str] = &["content", "new_string", "old_string", "edits", "stdout"];
    for section in ["tool_input", "tool_response"] {
        if let Some(Value::Object(map)) = event.get_mut(section) {
            blank_keys(map, CONTENT_KEYS);
        }
    }
    if let Some(Value::Object(file)) = event.pointer_mut("/tool_response/file") {
        blank_keys(file, CONTENT_KEYS);
    }
    // A bare string response is the file's text.
    if let Some(response @ Value::String(_)) = event.get_mut("tool_response") {
        *response = Value::String(REDACTED.to_string());
    }
}

fn blank_keys(map: &mut serde_json::Map<String, Value>, keys: &[&str]) {
    for key in keys {
        if let Some(v) = map.get_mut(*key) {
            *v = Value::String(REDACTED.to_string());
        }
    }
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
        assert!(is_env_file("/a/.env"));
        assert!(is_env_file("/a/.env.local"));
        assert!(!is_env_file("/a/.env.example"));
        assert!(!is_env_file("/a/.env.sample"));
        assert!(!is_env_file("/a/environment.rs"));
        let mut event = json!({"tool_input": {"file_path": "/a/.env.example", "content": "A=1"}});
        Redactor::new(&[]).unwrap().redact_event(&mut event);
        assert_eq!(event["tool_input"]["content"], "A=1");
    }
}
