use std::time::Duration;

use hyper::header::{HeaderMap, HeaderValue, AUTHORIZATION};

use super::auth::constant_time_eq;
use super::*;
use crate::config::Secret;

fn auth_with(token: &str) -> Authenticator {
    ServerAuthConfig {
        bearer_token_file: None,
        bearer_token: Some(Secret::new(token)),
    }
    .authenticator()
    .unwrap()
}

fn headers(value: Option<&str>) -> HeaderMap {
    let mut headers = HeaderMap::new();
    if let Some(value) = value {
        headers.insert(AUTHORIZATION, HeaderValue::from_str(value).unwrap());
    }
    headers
}

#[test]
fn only_the_right_bearer_token_passes() {
    let auth = auth_with("s3cret");
    assert_eq!(auth.check(&headers(Some("Bearer s3cret"))), Ok(()));
    assert_eq!(auth.check(&headers(Some("bearer s3cret"))), Ok(()));
    assert_eq!(auth.check(&headers(None)), Err(Unauthenticated::Missing));
    assert_eq!(
        auth.check(&headers(Some("Basic s3cret"))),
        Err(Unauthenticated::Missing)
    );
    for wrong in ["Bearer s3cre", "Bearer s3cret2", "Bearer S3CRET", "Bearer "] {
        assert_eq!(
            auth.check(&headers(Some(wrong))),
            Err(Unauthenticated::Invalid),
            "{wrong}"
        );
    }
    assert!(!format!("{auth:?}").contains("s3cret"));
}

#[test]
fn constant_time_comparison_is_plain_equality() {
    assert!(constant_time_eq(b"abc", b"abc"));
    assert!(!constant_time_eq(b"abc", b"abd"));
    assert!(!constant_time_eq(b"abc", b"abcd"));
    assert!(constant_time_eq(b"", b""));
}

#[test]
fn the_token_file_is_read_and_trimmed_and_never_empty() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("token");
    std::fs::write(&file, "  from-file\n").unwrap();
    let config = ServerAuthConfig {
        bearer_token_file: Some(file.clone()),
        bearer_token: None,
    };
    assert!(config.validate().is_ok());
    let auth = config.authenticator().unwrap();
    assert_eq!(auth.check(&headers(Some("Bearer from-file"))), Ok(()));
    std::fs::write(&file, "\n").unwrap();
    assert!(matches!(
        config.authenticator(),
        Err(auth::AuthError::Empty)
    ));
    let missing = ServerAuthConfig {
        bearer_token_file: Some(dir.path().join("absent")),
        bearer_token: None,
    };
    let error = missing.authenticator().unwrap_err().to_string();
    assert!(error.contains("absent"), "{error}");
}

#[test]
fn auth_needs_exactly_one_token_source() {
    let both = ServerAuthConfig {
        bearer_token_file: Some("/t".into()),
        bearer_token: Some(Secret::new("x")),
    };
    assert!(both.validate().is_err());
    let neither = ServerAuthConfig {
        bearer_token_file: None,
        bearer_token: None,
    };
    assert!(neither.validate().is_err());
    let shown = serde_json::to_string(&ServerAuthConfig {
        bearer_token_file: None,
        bearer_token: Some(Secret::new("hidden-value")),
    })
    .unwrap();
    assert!(!shown.contains("hidden-value"), "{shown}");
}

#[test]
fn limits_and_tls_versions_are_checked() {
    let zero = ConnectionLimits {
        max: 0,
        ..ConnectionLimits::default()
    };
    assert!(zero.validate().unwrap_err().to_string().contains("max"));
    let no_idle = ConnectionLimits {
        idle_timeout: Duration::ZERO,
        ..ConnectionLimits::default()
    };
    let error = no_idle
        .validate()
        .unwrap_err()
        .within("connections")
        .to_string();
    assert!(error.contains("connections.idle_timeout"), "{error}");
    let tls = |version: &str| ServerTlsConfig {
        cert_file: "/c".into(),
        key_file: "/k".into(),
        client_ca_file: None,
        min_version: version.into(),
        reload_interval: None,
    };
    assert!(tls("1.2").validate().is_ok());
    assert!(tls("1.3").validate().is_ok());
    assert!(tls("1.1").validate().is_err());
    assert!(tls("2").validate().is_err());
}

#[test]
fn a_missing_certificate_fails_with_its_path() {
    let config = ServerTlsConfig {
        cert_file: "/nonexistent/server.crt".into(),
        key_file: "/nonexistent/server.key".into(),
        client_ca_file: None,
        min_version: "1.2".into(),
        reload_interval: None,
    };
    let error = config.server_config(ALPN_HTTP).unwrap_err().to_string();
    assert!(error.contains("/nonexistent/server.crt"), "{error}");
}
