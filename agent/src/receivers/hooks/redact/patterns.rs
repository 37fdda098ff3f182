//! The built-in secret shapes. Each has trigger words (matched case-insensitively in one
//! pass over the text) and a regular expression that runs only when a trigger occurs, and
//! is compiled only the first time it is needed: `sentinel hook` redacts before it spools
//! and must not pay for compiling forty expressions on every tool call.
//!
//! In each expression, the named group `s` is the secret and only it is replaced; the
//! rest (a label, a boundary character, a URL's host) stays. A quoted `s` keeps its quotes.

/// A boundary before a token: start of text, a non-alphanumeric character (`_` included,
/// so `KEY_sk-ant-…` is caught), or a URL-encoded character (`%3Dsk-ant-…`).
macro_rules! b {
    () => {
        r"(?:^|[^A-Za-z0-9]|%[0-9A-Fa-f]{2})"
    };
}

/// Labels whose value is a secret (in `NAME=value`, `name: value`, `"name": "value"`).
macro_rules! label {
    () => {
        r"(?:password|passwd|pwd|passphrase|secret[_-]?key|secret|token|api[_-]?key|access[_-]?key|private[_-]?key|client[_-]?secret|credentials?)"
    };
}

/// `=`, `:`, `:=`, `==`, URL-encoded `=` or `:`, with optional quotes before (the label's
/// closing quote, plain or JSON-escaped) and spaces around.
macro_rules! sep {
    () => {
        r#"(?:\\?["'])?\s*(?:[:=]=?|%3[DdAa])\s*"#
    };
}

/// A value: double-quoted, single-quoted, JSON-escaped-quoted, or a bare word.
macro_rules! value {
    () => {
        r#"(?P<s>"[^"\n]*"|'[^'\n]*'|\\"[^"\\\n]*\\"|[^\s'"\\&,;)}\]]+)"#
    };
}

/// Extra checks on a match, beyond the expression.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Check {
    None,
    /// The label is not a count, an id, a file path … (`max_tokens: 5`, `secret_name: x`).
    Label,
    /// Decodes as base64 to `user:password` (HTTP Basic), not an English word.
    BasicCredentials,
}

pub struct Shape {
    pub name: &'static str,
    /// Case-insensitive words of which one must occur for the expression to run.
    pub triggers: &'static [&'static str],
    pub pattern: &'static str,
    pub check: Check,
}

const fn shape(
    name: &'static str,
    triggers: &'static [&'static str],
    pattern: &'static str,
) -> Shape {
    Shape {
        name,
        triggers,
        pattern,
        check: Check::None,
    }
}

pub const SHAPES: &[Shape] = &[
    shape(
        "private key block",
        &["PRIVATE KEY"],
        r"(?P<s>-----BEGIN[A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?-----[\s\S]*?(?:-----END[A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?-----|$))",
    ),
    shape(
        "OpenAI / Anthropic key",
        &["sk-"],
        concat!(
            b!(),
            r"(?P<s>sk-(?:ant-|proj-|svcacct-|admin-)?[A-Za-z0-9_\-]{16,})"
        ),
    ),
    shape(
        "AWS access key id",
        &["AKIA", "ASIA", "ABIA", "ACCA"],
        concat!(
            b!(),
            r"(?P<s>(?:AKIA|ASIA|ABIA|ACCA)[0-9A-Z]{16})(?:[^0-9A-Za-z]|$)"
        ),
    ),
    shape(
        "GitHub token",
        &["ghp_", "gho_", "ghu_", "ghs_", "ghr_", "github_pat_"],
        concat!(
            b!(),
            r"(?P<s>gh[pousr]_[A-Za-z0-9]{20,}|github_pat_[A-Za-z0-9_]{20,})"
        ),
    ),
    shape(
        "GitLab token",
        &[
            "glpat-", "gldt-", "glrt-", "glptt-", "glcbt-", "glsoat-", "glft-", "glimt-", "gloas-",
        ],
        concat!(
            b!(),
            r"(?P<s>gl(?:pat|dt|rt|ptt|cbt|soat|ft|imt|oas)-[A-Za-z0-9_\-]{20,})"
        ),
    ),
    shape(
        "Slack token",
        &["xox", "xapp-"],
        concat!(b!(), r"(?P<s>(?:xox[abposr]|xapp)-[A-Za-z0-9\-]{10,})"),
    ),
    shape(
        "chat webhook URL",
        &["hooks.slack.com", "/api/webhooks/", "webhook.office.com"],
        r"(?:hooks\.slack\.com/(?:services|workflows|triggers)/|discord(?:app)?\.com/api/webhooks/|webhook\.office\.com/webhookb2/)(?P<s>[A-Za-z0-9_@/\-]+)",
    ),
    shape(
        "Stripe key",
        &["sk_live_", "sk_test_", "rk_live_", "rk_test_", "whsec_"],
        concat!(
            b!(),
            r"(?P<s>(?:sk|rk)_(?:live|test)_[A-Za-z0-9]{10,}|whsec_[A-Za-z0-9]{10,})"
        ),
    ),
    shape(
        "Google key or token",
        &["AIza", "ya29.", "GOCSPX-"],
        concat!(
            b!(),
            r"(?P<s>AIza[0-9A-Za-z_\-]{35}|ya29\.[0-9A-Za-z_\-]{20,}|GOCSPX-[0-9A-Za-z_\-]{20,})"
        ),
    ),
    shape(
        "JSON web token",
        &["eyJ"],
        concat!(
            b!(),
            r"(?P<s>eyJ[A-Za-z0-9_\-]{8,}\.eyJ[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]*)"
        ),
    ),
    shape(
        "package registry and SaaS token",
        &[
            "npm_",
            "hf_",
            "pypi-",
            "SG.",
            "dop_v1_",
            "shpat_",
            "shpss_",
            "dapi",
            "AGE-SECRET-KEY-",
            "xai-",
            "sq0csp-",
        ],
        concat!(
            b!(),
            r"(?P<s>npm_[A-Za-z0-9]{36}|hf_[A-Za-z0-9]{30,}|pypi-AgE[A-Za-z0-9_\-]{50,}",
            r"|SG\.[A-Za-z0-9_\-]{16,}\.[A-Za-z0-9_\-]{16,}|dop_v1_[a-f0-9]{64}|shp(?:at|ss|ca|pa)_[a-fA-F0-9]{32}",
            r"|dapi[a-f0-9]{32}|AGE-SECRET-KEY-1[0-9A-Z]{58}|xai-[A-Za-z0-9]{40,}|sq0csp-[A-Za-z0-9_\-]{40,})"
        ),
    ),
    shape(
        "Azure key or signature",
        &["AccountKey", "SharedAccessKey", "sig="],
        r#"(?i)(?:(?:AccountKey|SharedAccessKey)\s*=\s*|[?&]sig=)(?P<s>[^;&\s'"]+)"#,
    ),
    shape(
        "URL user info",
        &["://"],
        r#"(?i)\b[a-z][a-z0-9+.\-]*://[^\s/@:'"]*:(?P<s>[^\s/'"]+)@"#,
    ),
    shape(
        "URL query key",
        &["key=", "key%3d", "sig=", "signature=", "auth="],
        r##"(?i)[?&;](?:key|sig|signature|auth|code)(?:=|%3D)(?P<s>[^&\s'"#]+)"##,
    ),
    shape(
        "curl user",
        &["-u", "--user"],
        r#"(?:^|\s)(?:-u|--user)[=\s]+['"]?[^\s:'"]+:(?P<s>[^\s'"@]+)"#,
    ),
    shape(
        "password option",
        &["--pass", "--token", "--api-key", "--secret"],
        r#"(?i)--(?:password|passwd|pass|token|api-key|secret)[=\s]+(?P<s>[^\s'"]+)"#,
    ),
    shape(
        "mysql -p",
        &["mysql", "mariadb"],
        r#"\b(?:mysql|mysqldump|mysqladmin|mariadb)\b[^\n|;&]*?\s-p(?P<s>[^\s'"]+)"#,
    ),
    shape(
        "netrc password",
        &["machine"],
        r"(?i)\bmachine\s+\S+\s+login\s+\S+\s+password\s+(?P<s>\S+)",
    ),
    shape(
        "environment key",
        &["_key"],
        r#"\b[A-Z0-9_]*_KEY\s*=\s*(?P<s>"[^"\n]*"|'[^'\n]*'|[^\s'"]+)"#,
    ),
    Shape {
        name: "Authorization header",
        triggers: &["authorization"],
        pattern: concat!(
            r#"(?i)authorization\\?["']?\s*[:=]\s*\\?["']?(?:(?:bearer|basic|token|digest|negotiate|apikey|sso-key)\s+)?"#,
            r#"(?P<s>[^\s'"\\,;]+)"#
        ),
        check: Check::None,
    },
    shape(
        "bearer token",
        &["bearer"],
        r"(?i)\bbearer\s+(?P<s>[A-Za-z0-9\-._~+/]{8,}=*)",
    ),
    Shape {
        name: "basic credentials",
        triggers: &["basic"],
        pattern: r"(?i)\bbasic\s+(?P<s>[A-Za-z0-9+/]{6,}={0,2})",
        check: Check::BasicCredentials,
    },
    Shape {
        name: "labelled secret",
        triggers: &[
            "password",
            "passwd",
            "pwd",
            "passphrase",
            "secret",
            "token",
            "apikey",
            "api_key",
            "api-key",
            "access_key",
            "accesskey",
            "access-key",
            "private_key",
            "privatekey",
            "private-key",
            "credential",
        ],
        pattern: concat!(
            r"(?i)(?P<label>",
            label!(),
            r"(?:[_.\-][a-z0-9]+)*)",
            sep!(),
            value!()
        ),
        check: Check::Label,
    },
];

/// Label suffixes whose values are not secrets: `max_tokens`, `token_count`,
/// `secret_name`, `password_file`, `secretRef` …
pub fn label_is_secret(label: &str) -> bool {
    let label = label.to_ascii_lowercase();
    const HARMLESS: &[&str] = &[
        "count", "counts", "id", "ids", "type", "types", "limit", "len", "length", "size", "usage",
        "name", "names", "ref", "file", "path", "dir", "env", "prompt", "min", "max", "expiry",
        "expires", "ttl", "url", "endpoint", "header",
    ];
    let last = label
        .rsplit(['_', '-', '.'])
        .next()
        .unwrap_or(label.as_str());
    !HARMLESS.contains(&last) || label.len() == last.len()
}

/// Values that are placeholders, not secrets: empty, `null`, a variable reference,
/// something already redacted, a masked `****`.
pub fn value_is_placeholder(value: &str) -> bool {
    let inner = value.trim_matches(['"', '\'', '\\']);
    inner.is_empty()
        || inner.starts_with('$')
        || inner.starts_with("[REDACTED")
        || inner.starts_with('<') && inner.ends_with('>')
        || inner.starts_with("{{")
        || inner
            .chars()
            .all(|c| c == '*' || c == 'x' || c == 'X' || c == '.')
        || ["null", "none", "true", "false", "undefined", "nil"]
            .contains(&inner.to_ascii_lowercase().as_str())
}

/// True when `text` is base64 of `user:password`: HTTP Basic credentials, not a word.
pub fn is_basic_credentials(text: &str) -> bool {
    let decoded = decode_base64(text.trim_end_matches('='));
    decoded.is_some_and(|bytes| {
        bytes.iter().all(|b| (0x20..0x7f).contains(b)) && bytes.contains(&b':')
    })
}

fn decode_base64(text: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(text.len() * 3 / 4);
    let (mut buffer, mut bits) = (0u32, 0u32);
    for c in text.bytes() {
        let value = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        };
        buffer = (buffer << 6) | u32::from(value);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((buffer >> bits) as u8);
            buffer &= (1 << bits) - 1;
        }
    }
    Some(out)
}
