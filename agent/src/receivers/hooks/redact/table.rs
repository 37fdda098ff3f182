//! The table of secret shapes the redactor must catch, and ordinary text it must leave
//! alone. Secrets are made up; each case names the secret that must not survive.

use serde_json::{json, Value};

use super::{Redactor, REDACTED};

/// (text containing a secret, the secret).
const SECRETS: &[(&str, &str)] = &[
    // Quoted and bare assignments.
    ("DB_PASSWORD='s3cr3t-pw'", "s3cr3t-pw"),
    ("DB_PASSWORD=\"s3cr3t pw\"", "s3cr3t pw"),
    ("DB_PASSWORD=s3cr3t-pw", "s3cr3t-pw"),
    ("export API_KEY='abc123def456'", "abc123def456"),
    ("password: hunter2x", "hunter2x"),
    ("{\"password\": \"hunter2x\"}", "hunter2x"),
    ("{\\\"password\\\": \\\"hunter2x\\\"}", "hunter2x"),
    ("client_secret = 'cs-998877'", "cs-998877"),
    ("SECRET_KEY=django-insecure-x9", "django-insecure-x9"),
    ("auth_token: tok_live_55aa", "tok_live_55aa"),
    ("passphrase=correct-horse", "correct-horse"),
    ("private_key = \"MIIBOgIBAAJBAK\"", "MIIBOgIBAAJBAK"),
    ("$password = 'phpPass99';", "phpPass99"),
    ("password := \"goPass77\"", "goPass77"),
    ("Server=db;User Id=sa;Password=Adm1nPass;", "Adm1nPass"),
    ("PGPASSWORD=pgpw123 psql -h db", "pgpw123"),
    ("STRIPE_KEY=rk_abcdefgh12345", "rk_abcdefgh12345"),
    ("//registry.npmjs.org/:_authToken=npmtok-1234", "npmtok-1234"),
    ("access_key: AKIDEXAMPLEVALUE", "AKIDEXAMPLEVALUE"),
    // URLs with user info and secret query parameters.
    ("postgres://app:Pg5ecret@db.internal:5432/app", "Pg5ecret"),
    (
        "DATABASE_URL=postgresql://user:p%40ss@host/db",
        "p%40ss",
    ),
    ("mysql://root:rootpw@127.0.0.1/x", "rootpw"),
    ("redis://:redispass@cache:6379/0", "redispass"),
    ("mongodb+srv://u:mongoPW@cluster0.x.net/db", "mongoPW"),
    ("amqp://guest:rabbitPW@mq:5672/", "rabbitPW"),
    ("https://user:gitPW@github.com/org/repo.git", "gitPW"),
    ("https://api.example.test/v1?api_key=qk-7788&x=1", "qk-7788"),
    ("https://api.example.test/v1?key=AbCdEf123", "AbCdEf123"),
    ("https://x.blob.core.windows.net/c?sv=2022&sig=AbC%2Bdef%3D", "AbC%2Bdef%3D"),
    ("https://api.example.test/cb?access_token=at-5566", "at-5566"),
    // Authorization headers.
    ("Authorization: Basic dXNlcjpwYXNzd29yZA==", "dXNlcjpwYXNzd29yZA=="),
    ("curl -H 'Authorization: Bearer abc.def-ghi'", "abc.def-ghi"),
    ("authorization: token ghtok12345", "ghtok12345"),
    ("{\"Authorization\": \"Bearer eyTok123456\"}", "eyTok123456"),
    ("-H \"Authorization:ApiKey k-99887766\"", "k-99887766"),
    ("use Basic dXNlcjpwYXNz for the proxy", "dXNlcjpwYXNz"),
    ("curl -u admin:curlPW https://x", "curlPW"),
    ("curl --user=admin:curlPW2 https://x", "curlPW2"),
    ("psql --password hunter2x", "hunter2x"),
    ("mysql -u root -pMyPass1 app", "MyPass1"),
    ("tool --api-key=ak-4455 run", "ak-4455"),
    ("machine api.example.test login me password netrcPW", "netrcPW"),
    // Provider tokens, bare and prefixed.
    ("sk-ant-api03-abcdefghijklmnopqrstuvwx", "sk-ant-api03-abcdefghijklmnopqrstuvwx"),
    ("KEY_sk-ant-api03-abcdefghijklmnopqrstuvwx", "abcdefghijklmnopqrstuvwx"),
    ("q=x%3Dsk-ant-api03-abcdefghijklmnopqrstuvwx", "abcdefghijklmnopqrstuvwx"),
    ("sk-ant-admin01-abcdefghijklmnopqrstuvwx", "abcdefghijklmnopqrstuvwx"),
    ("sk-proj-abcdefghijklmnopqrstuvwx", "abcdefghijklmnopqrstuvwx"),
    ("sk-svcacct-abcdefghijklmnopqrstuvwx", "abcdefghijklmnopqrstuvwx"),
    ("sk-abcdefghijklmnopqrstuvwx", "abcdefghijklmnopqrstuvwx"),
    ("AKIAIOSFODNN7EXAMPLE", "AKIAIOSFODNN7EXAMPLE"),
    ("ASIAIOSFODNN7EXAMPLE,", "ASIAIOSFODNN7EXAMPLE"),
    (
        "aws_secret_access_key=wJalrXUtnFEMI/K7MDENG/bPxRfiCY",
        "wJalrXUtnFEMI/K7MDENG/bPxRfiCY",
    ),
    ("AIzaSyA1234567890abcdefghijklmnopqrstuv", "AIzaSyA1234567890abcdefghijklmnopqrstuv"),
    ("ya29.a0AfH6SMBabcdefghijklmnopqrst", "ya29.a0AfH6SMBabcdefghijklmnopqrst"),
    ("GOCSPX-abcdefghijklmnopqrstuvwx", "GOCSPX-abcdefghijklmnopqrstuvwx"),
    (
        "DefaultEndpointsProtocol=https;AccountName=acct;AccountKey=azKey+abc/def==;",
        "azKey+abc/def==",
    ),
    (
        "Endpoint=sb://x.servicebus.windows.net/;SharedAccessKeyName=root;SharedAccessKey=sbKey123=",
        "sbKey123=",
    ),
    ("ghp_abcdefghijklmnopqrstuvwxyz0123456789", "ghp_abcdefghijklmnopqrstuvwxyz0123456789"),
    ("gho_abcdefghijklmnopqrstuvwxyz0123456789", "gho_abcdefghijklmnopqrstuvwxyz0123456789"),
    ("ghs_abcdefghijklmnopqrstuvwxyz0123456789", "ghs_abcdefghijklmnopqrstuvwxyz0123456789"),
    ("github_pat_11ABCDEFG0abcdefghijklmnop", "github_pat_11ABCDEFG0abcdefghijklmnop"),
    ("glpat-abcdefghijklmnopqrst", "glpat-abcdefghijklmnopqrst"),
    ("gldt-abcdefghijklmnopqrstuv", "gldt-abcdefghijklmnopqrstuv"),
    ("xoxb-1234567890-abcdefghij", "xoxb-1234567890-abcdefghij"),
    ("xoxp-1234567890-abcdefghij", "xoxp-1234567890-abcdefghij"),
    ("xapp-1-A0123-4567-abcdef", "xapp-1-A0123-4567-abcdef"),
    (
        "https://hooks.slack.com/services/T000/B000/XXXXabcd",
        "T000/B000/XXXXabcd",
    ),
    (
        "https://discord.com/api/webhooks/123456/abcDEF-xyz",
        "123456/abcDEF-xyz",
    ),
    ("sk_live_abcdefghij1234567890", "sk_live_abcdefghij1234567890"),
    ("rk_test_abcdefghij1234567890", "rk_test_abcdefghij1234567890"),
    ("whsec_abcdefghij1234567890", "whsec_abcdefghij1234567890"),
    ("npm_abcdefghijklmnopqrstuvwxyz0123456789", "npm_abcdefghijklmnopqrstuvwxyz0123456789"),
    ("hf_abcdefghijklmnopqrstuvwxyz01234", "hf_abcdefghijklmnopqrstuvwxyz01234"),
    (
        "SG.abcdefghijklmnopqrstuv.abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG",
        "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG",
    ),
    (
        "token eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U",
        "dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U",
    ),
    (
        "key:\n-----BEGIN RSA PRIVATE KEY-----\nMIIEabc\n-----END RSA PRIVATE KEY-----\nend",
        "MIIEabc",
    ),
    (
        "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXk\n-----END OPENSSH PRIVATE KEY-----",
        "b3BlbnNzaC1rZXk",
    ),
    (
        "-----BEGIN PGP PRIVATE KEY BLOCK-----\nlQOYBF\n-----END PGP PRIVATE KEY BLOCK-----",
        "lQOYBF",
    ),
    (
        "{\"private_key\": \"-----BEGIN PRIVATE KEY-----\\nMIIEvQ\\n-----END PRIVATE KEY-----\\n\"}",
        "MIIEvQ",
    ),
];

/// Ordinary text that must come out unchanged.
const ORDINARY: &[&str] = &[
    "cargo test --workspace",
    "sk-short",
    "the task is done",
    "tokens: 12",
    "max_tokens=4096",
    "input_tokens: 1200, output_tokens: 300",
    "token_count: 5",
    "secret_name: db-credentials",
    "PASSWORD_FILE=/run/secrets/db",
    "password: ${env:DB_PASSWORD}",
    "password: \"\"",
    "password=$DB_PASSWORD",
    "git commit -m \"fix password reset flow\"",
    "the password is required",
    "Basic authentication is enabled",
    "Authorization header is missing",
    "http://localhost:8080/health",
    "postgres://localhost/app",
    "postgres://user@db/app",
    "https://example.test/search?page=2&sort=asc",
    "task-abcdefghijklmnopqrstuvwxyz",
    "a94a8fe5ccb19ba61c4c0873d391e987982fbbd3",
    "550e8400-e29b-41d4-a716-446655440000",
    "tokenizer=bert-base",
    "the bearer of bad news",
    "mysql -u root -p",
    "sudo -u postgres psql",
    "use std::collections::HashMap;",
];

fn redact(text: &str) -> String {
    Redactor::new(&[])
        .unwrap()
        .redact_str(text)
        .unwrap_or_else(|| text.to_string())
}

#[test]
fn every_secret_shape_is_redacted() {
    assert!(SECRETS.len() >= 60, "{} shapes", SECRETS.len());
    let mut missed = Vec::new();
    for (text, secret) in SECRETS {
        let out = redact(text);
        if out.contains(secret) || !out.contains(REDACTED) {
            missed.push(format!("{text:?} -> {out:?}"));
        }
    }
    assert!(missed.is_empty(), "missed:\n{}", missed.join("\n"));
}

#[test]
fn ordinary_text_is_left_alone() {
    let redactor = Redactor::new(&[]).unwrap();
    let changed: Vec<String> = ORDINARY
        .iter()
        .filter_map(|text| {
            redactor
                .redact_str(text)
                .map(|out| format!("{text:?} -> {out:?}"))
        })
        .collect();
    assert!(changed.is_empty(), "changed:\n{}", changed.join("\n"));
}

#[test]
fn labels_and_quotes_stay_around_the_secret() {
    assert_eq!(redact("DB_PASSWORD='x1'"), "DB_PASSWORD='[REDACTED]'");
    assert_eq!(
        redact("postgres://app:pw1@db/app"),
        "postgres://app:[REDACTED]@db/app"
    );
    assert_eq!(
        redact("Authorization: Basic dXNlcjpwYXNz"),
        "Authorization: Basic [REDACTED]"
    );
}

fn redacted(mut event: Value) -> String {
    Redactor::new(&[]).unwrap().redact_event(&mut event);
    event.to_string()
}

/// Secret files read or written by any tool: their contents go whatever they look like.
#[test]
fn secret_file_contents_are_blanked_for_every_tool() {
    let events = [
        json!({"tool_name": "Read", "tool_input": {"file_path": "/r/.envrc"},
               "tool_response": {"file": {"content": "export FOO=plainvalue"}}}),
        json!({"tool_name": "Read", "tool_input": {"file_path": "/r/.env.local"},
               "tool_response": "FOO=plainvalue"}),
        json!({"tool_name": "Bash", "tool_input": {"command": "cat .env"},
               "tool_response": {"stdout": "FOO=plainvalue\nBAR=other", "stderr": ""}}),
        json!({"tool_name": "Bash", "tool_input": {"command": "grep FOO .env.production"},
               "tool_response": {"stdout": "FOO=plainvalue"}}),
        json!({"tool_name": "Bash", "tool_input": {"command": "cat .e*"},
               "tool_response": {"stdout": "FOO=plainvalue"}}),
        json!({"tool_name": "Bash",
               "tool_input": {"command": "python3 -c \"print(open('.env').read())\""},
               "tool_response": {"stdout": "FOO=plainvalue"}}),
        json!({"tool_name": "Grep", "tool_input": {"pattern": "FOO", "path": ".env"},
               "tool_response": {"content": "FOO=plainvalue"}}),
        json!({"tool_name": "Grep", "tool_input": {"pattern": "FOO", "glob": ".env*"},
               "tool_response": {"content": ".env:1:FOO=plainvalue"}}),
        json!({"tool_name": "Write", "tool_input": {"file_path": "/r/.env",
               "content": "FOO=plainvalue"}}),
        json!({"tool_name": "Edit", "tool_input": {"file_path": "/r/.env",
               "old_string": "FOO=old", "new_string": "FOO=plainvalue"}}),
    ];
    for event in events {
        let out = redacted(event.clone());
        assert!(!out.contains("plainvalue"), "{event} -> {out}");
    }
    let kept = json!({"tool_name": "Bash", "tool_input": {"command": "cat .env.example"},
                      "tool_response": {"stdout": "FOO=plainvalue"}});
    assert!(redacted(kept).contains("plainvalue"));
}

#[test]
fn secrets_used_as_json_keys_are_renamed_without_losing_values() {
    let out = redacted(json!({
        "tool_input": {
            "sk-ant-api03-abcdefghijklmnopqrstuvwx": "one",
            "ghp_abcdefghijklmnopqrstuvwxyz0123456789": "two",
            "plain": "three"
        }
    }));
    assert!(!out.contains("abcdefghijklmnopqrstuvwx"), "{out}");
    for value in ["one", "two", "three"] {
        assert!(out.contains(value), "{value} lost: {out}");
    }
}

#[test]
fn secret_keys_redact_their_values_but_counts_stay() {
    let out = redacted(json!({
        "config": {"api_key": "plain1", "client_secret": "plain2", "Authorization": "plain3",
                   "input_tokens": 3, "secret_name": "kept-name", "tool_use_id": "toolu_1"}
    }));
    for gone in ["plain1", "plain2", "plain3"] {
        assert!(!out.contains(gone), "{gone} survived in {out}");
    }
    for kept in ["kept-name", "toolu_1", "\"input_tokens\":3"] {
        assert!(out.contains(kept), "{kept} lost in {out}");
    }
}
