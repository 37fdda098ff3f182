//! Command-line redaction: values of secret-looking flags, `NAME=value` pairs and URL
//! passwords are replaced with `***` before the command line leaves the host.

/// Words that mark a flag or variable as secret (matched case-insensitively, anywhere in
/// the name: `--db-password`, `PGPASSWORD`, `--api_key`).
pub const DEFAULT_SECRET_WORDS: &[&str] = &[
    "password",
    "passwd",
    "pwd",
    "secret",
    "token",
    "apikey",
    "api_key",
    "api-key",
    "credential",
    "private_key",
    "private-key",
    "auth",
];

const MASK: &str = "***";

#[derive(Debug, Clone)]
pub struct Redactor {
    words: Vec<String>,
}

impl Redactor {
    pub fn new(extra_words: &[String]) -> Redactor {
        let mut words: Vec<String> = DEFAULT_SECRET_WORDS.iter().map(|w| w.to_string()).collect();
        words.extend(extra_words.iter().map(|w| w.to_ascii_lowercase()));
        Redactor { words }
    }

    fn secret(&self, name: &str) -> bool {
        let name = name.to_ascii_lowercase();
        self.words.iter().any(|w| name.contains(w.as_str()))
    }

    /// Joins `args` with spaces, redacting secrets.
    pub fn redact<'a>(&self, args: impl IntoIterator<Item = &'a str>) -> String {
        let mut out: Vec<String> = Vec::new();
        let mut hide_next = false;
        for arg in args {
            if std::mem::take(&mut hide_next) && !arg.starts_with('-') {
                out.push(MASK.into());
                continue;
            }
            if let Some(flag) = arg.strip_prefix('-') {
                let flag = flag.trim_start_matches('-');
                match flag.split_once('=') {
                    Some((name, _)) if self.secret(name) => {
                        let keep = arg.len() - flag.len() + name.len() + 1;
                        out.push(format!("{}{MASK}", &arg[..keep]));
                    }
                    Some(_) => out.push(redact_url(arg)),
                    None => {
                        hide_next = self.secret(flag);
                        out.push(arg.into());
                    }
                }
            } else if let Some((name, _)) = arg.split_once('=').filter(|(n, _)| is_variable(n)) {
                if self.secret(name) {
                    out.push(format!("{name}={MASK}"));
                } else {
                    out.push(redact_url(arg));
                }
            } else {
                out.push(redact_url(arg));
            }
        }
        out.join(" ")
    }
}

fn is_variable(name: &str) -> bool {
    !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.' || c == '-')
}

/// `scheme://user:password@host` → `scheme://user:***@host`.
fn redact_url(arg: &str) -> String {
    let Some(scheme_end) = arg.find("://") else {
        return arg.into();
    };
    let rest = &arg[scheme_end + 3..];
    let authority_end = rest.find('/').unwrap_or(rest.len());
    let Some(at) = rest[..authority_end].rfind('@') else {
        return arg.into();
    };
    let Some(colon) = rest[..at].find(':') else {
        return arg.into();
    };
    format!(
        "{}{}{MASK}{}",
        &arg[..scheme_end + 3],
        &rest[..colon + 1],
        &rest[at..]
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacts_flags_variables_and_urls() {
        let r = Redactor::new(&["sesame".into()]);
        let cases = [
            ("app --password=hunter2 -v", "app --password=*** -v"),
            ("app --token abc123 --port 80", "app --token *** --port 80"),
            (
                "env PGPASSWORD=s3cret DB_HOST=x run",
                "env PGPASSWORD=*** DB_HOST=x run",
            ),
            (
                "psql postgres://bob:pw@db:5432/app",
                "psql postgres://bob:***@db:5432/app",
            ),
            (
                "app --dsn=redis://u:p@h:6379",
                "app --dsn=redis://u:***@h:6379",
            ),
            (
                "app --open-sesame=1 --verbose",
                "app --open-sesame=*** --verbose",
            ),
            ("app --api-key --verbose", "app --api-key --verbose"),
            ("sleep 100", "sleep 100"),
        ];
        for (input, want) in cases {
            assert_eq!(r.redact(input.split(' ')), want, "{input}");
        }
    }
}
