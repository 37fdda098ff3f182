//! Secrets out of everything the agent shows: `print-config`, the status page's effective
//! config, and log lines that name an endpoint. Fields typed [`super::Secret`] already
//! print `[redacted]`; this catches what sits in plain strings: credentials in URLs (user
//! info, `api_key`-like query parameters, webhook paths), DSN passwords, header values,
//! and any field whose name says it holds a secret.

use serde_json::Value;

/// What a secret is replaced with.
pub const REDACTED: &str = "[redacted]";

/// Query parameters whose value is a credential (compared without case).
const SECRET_PARAMS: &[&str] = &[
    "api_key",
    "apikey",
    "api-key",
    "key",
    "token",
    "access_token",
    "auth",
    "auth_token",
    "secret",
    "client_secret",
    "password",
    "passwd",
    "pwd",
    "sig",
    "signature",
    "code",
    "x-api-key",
    "private_token",
    "session",
    "sessionid",
];

/// Whether a config key names a secret: passwords, tokens, keys and the like. Paths to
/// files holding them (`*_file`) are not secrets.
pub fn is_secret_key(key: &str) -> bool {
    let key = key.to_ascii_lowercase().replace('-', "_");
    if key.ends_with("_file") || key.ends_with("_path") {
        return false;
    }
    [
        "password",
        "passwd",
        "secret",
        "token",
        "credential",
        "cookie",
    ]
    .iter()
    .any(|word| key.contains(word))
        || key.ends_with("api_key")
        || key.ends_with("apikey")
        || matches!(
            key.as_str(),
            "authorization"
                | "proxy_authorization"
                | "routing_key"
                | "integration_key"
                | "service_key"
                | "dsn"
                | "pwd"
        )
}

/// Redacts, in place, every secret in a config rendered as JSON.
pub fn redact_value(value: &mut Value) {
    redact_under(None, value);
}

fn redact_under(key: Option<&str>, value: &mut Value) {
    match value {
        Value::Object(map) => {
            let headers = key.is_some_and(|k| k.eq_ignore_ascii_case("headers"));
            for (k, v) in map.iter_mut() {
                // Header values carry tokens under many names (tenant ids, API keys).
                if headers && v.is_string() {
                    *v = Value::String(REDACTED.into());
                } else {
                    redact_under(Some(k), v);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|v| redact_under(key, v)),
        Value::String(text) => {
            if text.is_empty() || text == REDACTED {
                return;
            }
            if key.is_some_and(is_secret_key) {
                *text = if key == Some("dsn") && text.contains("://") {
                    redact_url(text)
                } else {
                    REDACTED.into()
                };
            } else {
                *text = redact_text(text);
            }
        }
        _ => {}
    }
}

/// A free text (a config string, a log message) with the secrets of every URL, DSN
/// `password=` and `Bearer`/`Basic` credential in it replaced.
pub fn redact_text(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut hide_next = false;
    for word in text.split_inclusive(char::is_whitespace) {
        let trimmed = word.trim_end();
        let space = &word[trimmed.len()..];
        if hide_next && !trimmed.is_empty() {
            out.push_str(REDACTED);
            out.push_str(space);
            hide_next = false;
            continue;
        }
        // `Basic` only capitalised: the lowercase word is common prose ("verbosity basic").
        if trimmed.eq_ignore_ascii_case("bearer") || trimmed == "Basic" {
            hide_next = true;
            out.push_str(word);
            continue;
        }
        out.push_str(&redact_word(trimmed));
        out.push_str(space);
    }
    out
}

/// One whitespace-free word: a URL, a `key=value` DSN part, or left alone.
fn redact_word(word: &str) -> String {
    if let Some(start) = word.find("://") {
        // Keep what precedes the scheme (a quote, `url=`): find the scheme's start.
        let scheme_start = word[..start]
            .rfind(|c: char| !(c.is_ascii_alphanumeric() || "+-.".contains(c)))
            .map_or(0, |i| i + 1);
        return format!(
            "{}{}",
            &word[..scheme_start],
            redact_url(&word[scheme_start..])
        );
    }
    if let Some((before, host)) = word.rsplit_once('@') {
        // `user:password@host` without a scheme (a warning quoting an authority).
        let start = before
            .rfind(['`', '\'', '"', '(', '<', '[', '='])
            .map_or(0, |i| i + 1);
        if before[start..].contains(':') {
            return format!("{}{REDACTED}@{host}", &before[..start]);
        }
    }
    if let Some((key, _)) = word.split_once('=') {
        let bare = key.trim_start_matches(['"', '\'', '(', '[', '{']);
        let plain = bare
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c));
        if plain && is_secret_key(bare)
            || SECRET_PARAMS.contains(&bare.to_ascii_lowercase().as_str())
        {
            return format!("{key}={REDACTED}");
        }
    }
    word.to_string()
}

/// A URL with its user info, credential query parameters and (for webhooks, whose path
/// is the credential) its path replaced: `https://[redacted]@host/v1?api_key=[redacted]`.
/// Text that is not a URL comes back unchanged.
pub fn redact_url(url: &str) -> String {
    let Some(scheme_end) = url.find("://") else {
        return url.to_string();
    };
    let (scheme, rest) = url.split_at(scheme_end + 3);
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    let host = match authority.rsplit_once('@') {
        Some((_, host)) => format!("{REDACTED}@{host}"),
        None => authority.to_string(),
    };
    let (path_and_query, fragment) = match tail.split_once('#') {
        Some((before, fragment)) => (before, Some(fragment)),
        None => (tail, None),
    };
    let (path, query) = match path_and_query.split_once('?') {
        Some((path, query)) => (path, Some(query)),
        None => (path_and_query, None),
    };
    let mut out = format!("{scheme}{host}");
    if is_webhook(&host, path) {
        out.push('/');
        out.push_str(REDACTED);
    } else {
        out.push_str(path);
    }
    if let Some(query) = query {
        out.push('?');
        out.push_str(&redact_query(query));
    }
    if let Some(fragment) = fragment {
        out.push('#');
        out.push_str(if fragment.is_empty() { "" } else { REDACTED });
    }
    out
}

/// Webhook URLs carry their credential in the path: Slack's `/services/T../B../secret`,
/// Discord's and generic `/webhooks/<id>/<secret>` or `/hooks/<secret>`. A path that ends
/// at its `hooks` segment (the agent's own `/v1/hooks` receiver) holds nothing secret.
fn is_webhook(host: &str, path: &str) -> bool {
    let host = host.to_ascii_lowercase();
    let path = path.to_ascii_lowercase();
    let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    let hook_then_more = segments
        .iter()
        .position(|s| s.contains("hook"))
        .is_some_and(|i| i + 1 < segments.len());
    host.starts_with("hooks.")
        || host.contains(".hooks.")
        || path.contains("/services/")
        || hook_then_more
}

fn redact_query(query: &str) -> String {
    query
        .split('&')
        .map(|pair| match pair.split_once('=') {
            Some((key, value)) if !value.is_empty() && secret_param(key) => {
                format!("{key}={REDACTED}")
            }
            _ => pair.to_string(),
        })
        .collect::<Vec<_>>()
        .join("&")
}

fn secret_param(key: &str) -> bool {
    let lower = key.to_ascii_lowercase();
    SECRET_PARAMS.contains(&lower.as_str()) || is_secret_key(&lower)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn urls_lose_user_info_and_credential_parameters() {
        assert_eq!(
            redact_url("https://user:PASSWORD@otel.example.com:4318/v1?api_key=KEY&region=eu"),
            "https://[redacted]@otel.example.com:4318/v1?api_key=[redacted]&region=eu"
        );
        assert_eq!(
            redact_url("http://127.0.0.1:4318/v1/traces"),
            "http://127.0.0.1:4318/v1/traces"
        );
        assert_eq!(
            redact_url("https://h.example/x?sig=S1&Token=T2&apiKey=T3&page=2"),
            "https://h.example/x?sig=[redacted]&Token=[redacted]&apiKey=[redacted]&page=2"
        );
        assert_eq!(redact_url("not a url"), "not a url");
    }

    #[test]
    fn webhook_paths_are_credentials() {
        assert_eq!(
            redact_url("https://hooks.slack.com/services/T000/B000/XXXXSECRET"),
            "https://hooks.slack.com/[redacted]"
        );
        assert_eq!(
            redact_url("https://chat.example/api/webhooks/123/SECRET"),
            "https://chat.example/[redacted]"
        );
        assert_eq!(
            redact_url("http://127.0.0.1:4319/v1/hooks"),
            "http://127.0.0.1:4319/v1/hooks",
            "the hooks receiver's own address"
        );
    }

    #[test]
    fn dsns_and_auth_words_in_text() {
        assert_eq!(
            redact_text("cannot connect to postgres://app:PW@db:5432/t: refused"),
            "cannot connect to postgres://[redacted]@db:5432/t: refused"
        );
        assert_eq!(
            redact_text("host=db user=app password=PW dbname=t"),
            "host=db user=app password=[redacted] dbname=t"
        );
        assert_eq!(
            redact_text("to `user:PW@127.0.0.1` unencrypted, mail ops@example.com"),
            "to `[redacted]@127.0.0.1` unencrypted, mail ops@example.com"
        );
        assert_eq!(
            redact_text(r#"attributes["password"]=="x""#),
            r#"attributes["password"]=="x""#,
            "an expression is not a key=value pair"
        );
        assert_eq!(
            redact_text("header Authorization: Bearer TOKEN123 sent"),
            "header Authorization: Bearer [redacted] sent"
        );
        assert_eq!(
            redact_text("url=\"https://u:p@x.example/\""),
            "url=\"https://[redacted]@x.example/\""
        );
    }

    #[test]
    fn config_values_by_key_and_by_shape() {
        let mut config = json!({
            "exporters": {
                "otlphttp": {
                    "endpoint": "https://user:PW@collector.example/?api_key=K",
                    "headers": {"X-Tenant": "acme-secret-tenant"},
                    "timeout": "5s",
                    "tls": {"key_file": "/etc/key.pem", "insecure": false},
                },
                "custom": {"bearer_token": "TOK", "api_key": "K2", "auth_password": "", "routing_key": "R"},
                "postgres": {"dsn": "postgresql://app:PW@db/t"}
            }
        });
        redact_value(&mut config);
        let e = &config["exporters"];
        assert_eq!(
            e["otlphttp"]["endpoint"],
            "https://[redacted]@collector.example/?api_key=[redacted]"
        );
        assert_eq!(e["otlphttp"]["headers"]["X-Tenant"], REDACTED);
        assert_eq!(e["otlphttp"]["tls"]["key_file"], "/etc/key.pem");
        assert_eq!(e["otlphttp"]["timeout"], "5s");
        assert_eq!(e["custom"]["bearer_token"], REDACTED);
        assert_eq!(e["custom"]["api_key"], REDACTED);
        assert_eq!(e["custom"]["routing_key"], REDACTED);
        assert_eq!(
            e["custom"]["auth_password"], "",
            "unset stays visibly unset"
        );
        assert_eq!(e["postgres"]["dsn"], "postgresql://[redacted]@db/t");
    }

    #[test]
    fn secret_key_names() {
        for key in [
            "password",
            "bearer_token",
            "api_key",
            "X-Api-Key",
            "client_secret",
            "routing_key",
            "Authorization",
        ] {
            assert!(is_secret_key(key), "{key}");
        }
        for key in [
            "endpoint",
            "token_file",
            "bearer_token_file",
            "key_file",
            "timeout",
            "max_tokens_per_request_file",
        ] {
            assert!(!is_secret_key(key), "{key}");
        }
    }
}
