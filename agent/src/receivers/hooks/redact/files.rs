//! Secret files: when a tool reads or writes one (`.env*`, `.envrc`, `.netrc`, `.pgpass`,
//! cloud credentials, SSH private keys), the file's contents in the event are replaced
//! whole, whatever they look like. Read/Write/Edit name the file in `tool_input`; Bash
//! names it in its command (`cat .env`, `grep KEY .env.local`, `cat .e*`, `python -c
//! "open('.env')"`); Grep names it in `path` or `glob`.

use serde_json::{Map, Value};

use super::REDACTED;
use crate::policy::shell;

/// Template files that hold no secrets.
const TEMPLATE_SUFFIXES: &[&str] = &[".example", ".sample", ".template", ".dist", ".tmpl"];
/// Names of files that hold credentials, besides the `.env` family.
const SECRET_NAMES: &[&str] = &[
    ".envrc",
    ".netrc",
    "_netrc",
    ".pgpass",
    ".git-credentials",
    ".npmrc",
    ".pypirc",
    ".dockercfg",
    "id_rsa",
    "id_dsa",
    "id_ecdsa",
    "id_ed25519",
];
/// Programs whose arguments are not file reads (`echo .env` prints a word).
const NOT_READERS: &[&str] = &["echo", "printf", "ls", "test", "[", "touch", "rm", "mkdir"];
/// Fields of `tool_input` and `tool_response` that carry a file's text or a command's output.
const CONTENT_KEYS: &[&str] = &[
    "content",
    "new_string",
    "old_string",
    "edits",
    "stdout",
    "stderr",
    "output",
    "text",
    "result",
];

/// True for `.env`, `.env.local`, `prod.env`, `.envrc`, `.netrc`, `~/.aws/credentials`,
/// `id_rsa`; false for `.env.example`, `environment.rs`, `id_rsa.pub`.
pub fn is_secret_file(path: &str) -> bool {
    let name = path.rsplit(['/', '\\']).next().unwrap_or(path);
    if TEMPLATE_SUFFIXES.iter().any(|s| name.ends_with(s)) || name.ends_with(".pub") {
        return false;
    }
    let env = name == ".env" || name.starts_with(".env.") || name.ends_with(".env");
    let cloud = path.ends_with(".aws/credentials")
        || path.ends_with("gcloud/application_default_credentials.json")
        || path.ends_with(".docker/config.json")
        || path.ends_with(".kube/config");
    env || cloud || SECRET_NAMES.contains(&name)
}

/// True when the shell glob `pattern` could name a secret file (`.e*`, `.env*`, `*.env`).
/// A leading `*` does not match a leading dot, as in the shell.
fn glob_names_secret_file(pattern: &str) -> bool {
    let name = pattern.rsplit('/').next().unwrap_or(pattern);
    // A bare `*` could name anything; only a pattern with some literal part is judged.
    if !name.contains(['*', '?', '[']) || name.chars().all(|c| "*?[]".contains(c)) {
        return false;
    }
    [
        ".env",
        ".env.local",
        ".env.production",
        "x.env",
        ".envrc",
        ".netrc",
        ".pgpass",
    ]
    .iter()
    .any(|candidate| {
        (candidate.starts_with('.') == name.starts_with('.') || !name.starts_with(['*', '?']))
            && shell::glob_matches(name, candidate)
    })
}

/// True when an argument, or a word inside an interpreter one-liner, names a secret file.
fn word_names_secret_file(word: &str) -> bool {
    let value = word.rsplit('=').next().unwrap_or(word);
    if is_secret_file(word) || is_secret_file(value) || glob_names_secret_file(value) {
        return true;
    }
    // `open('.env')`, `File.read(".env")`, `readFileSync('.env.local')`, dotenv.
    word.contains("dotenv")
        || word
            .split(|c: char| "'\"()[]{},;+` ".contains(c))
            .any(|token| !token.is_empty() && token != word && is_secret_file(token))
}

/// True when the Bash command reads or writes a secret file.
pub fn command_touches_secret_file(command: &str) -> bool {
    shell::parse(command).iter().any(|pipeline| {
        pipeline.commands.iter().any(|c| {
            c.redirects.iter().any(|r| is_secret_file(r))
                || (!NOT_READERS.contains(&c.program())
                    && c.args().iter().any(|a| word_names_secret_file(a)))
        })
    })
}

/// True when the event's tool touches a secret file.
pub fn touches_secret_file(event: &Value) -> bool {
    let Some(input) = event.get("tool_input") else {
        return false;
    };
    let by_path = ["file_path", "path", "notebook_path"].iter().any(|key| {
        input
            .get(*key)
            .and_then(Value::as_str)
            .is_some_and(is_secret_file)
    });
    let by_glob = input
        .get("glob")
        .and_then(Value::as_str)
        .is_some_and(|g| is_secret_file(g) || glob_names_secret_file(g));
    let by_command = input
        .get("command")
        .and_then(Value::as_str)
        .is_some_and(command_touches_secret_file);
    by_path || by_glob || by_command
}

/// Replaces every file-content and output field of a tool event on a secret file.
pub fn blank_file_contents(event: &mut Value) {
    for section in ["tool_input", "tool_response"] {
        if let Some(Value::Object(map)) = event.get_mut(section) {
            blank_keys(map);
        }
    }
    if let Some(Value::Object(file)) = event.pointer_mut("/tool_response/file") {
        blank_keys(file);
    }
    // A bare string response is the file's text or the command's output.
    if let Some(response @ Value::String(_)) = event.get_mut("tool_response") {
        *response = Value::String(REDACTED.to_string());
    }
}

fn blank_keys(map: &mut Map<String, Value>) {
    for key in CONTENT_KEYS {
        if let Some(v) = map.get_mut(*key) {
            if !v.is_null() {
                *v = Value::String(REDACTED.to_string());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_files_by_name() {
        for path in [
            ".env",
            "/a/.env.local",
            "prod.env",
            ".envrc",
            "/home/a/.netrc",
            "~/.pgpass",
            "/home/a/.aws/credentials",
            "/home/a/.ssh/id_ed25519",
        ] {
            assert!(is_secret_file(path), "{path}");
        }
        for path in [
            ".env.example",
            "/a/.env.sample",
            "environment.rs",
            "id_rsa.pub",
            "src/env.rs",
            "README.md",
        ] {
            assert!(!is_secret_file(path), "{path}");
        }
    }

    #[test]
    fn commands_that_read_secret_files() {
        for command in [
            "cat .env",
            "cat ./app/.env.production",
            "grep -r KEY .env.local",
            "cat .e*",
            "cat .env*",
            "head -n 5 < .env",
            "less .envrc",
            "cat ~/.netrc",
            "python -c \"print(open('.env').read())\"",
            "node -e \"require('dotenv').config(); console.log(process.env)\"",
            "ruby -e 'puts File.read(\".env\")'",
            "sudo cat /srv/app/.env",
            "cd app && cat .env | grep DB",
        ] {
            assert!(command_touches_secret_file(command), "{command}");
        }
        for command in [
            "cat README.md",
            "cat *",
            "ls -la .env",
            "echo .env",
            "cat .env.example",
            "grep -r env src/",
            "cargo test",
            "python -c 'print(1)'",
        ] {
            assert!(!command_touches_secret_file(command), "{command}");
        }
    }
}
