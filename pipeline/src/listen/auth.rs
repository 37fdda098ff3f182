//! `auth`: bearer tokens on a server (the Collector's `bearertokenauth` idea). The token
//! comes from a file or from the config (an `${env:VAR}` there), is compared in constant
//! time and never printed.

use std::path::PathBuf;
use std::sync::Arc;

use hyper::header::{HeaderMap, AUTHORIZATION};
use serde::{Deserialize, Serialize};

use crate::config::{Secret, ValidationError};
use crate::http::{BadRequest, BadRequests};

/// `auth` of a server block: every request must carry `Authorization: Bearer <token>`.
/// Missing or wrong, it is answered HTTP `401` or gRPC `UNAUTHENTICATED`, counted in
/// `sentinel_receiver_bad_requests_total{reason="unauthenticated"}` where the server is a
/// receiver, and never handed on.
///
/// ```yaml
/// auth:
///   bearer_token_file: /run/secrets/sentinel/otlp-token
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerAuthConfig {
    /// File holding the token (surrounding white space ignored). Read at start; keep it
    /// readable by the agent's user only. Exactly one of `bearer_token_file` and
    /// `bearer_token` is set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bearer_token_file: Option<PathBuf>,
    /// The token itself, usually `${env:SENTINEL_OTLP_TOKEN}` so it stays out of the
    /// file. Shown as `[redacted]` by `print-config` and in logs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bearer_token: Option<Secret>,
}

/// Why the configured token cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("cannot read bearer_token_file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("the bearer token is empty")]
    Empty,
    #[error("set one of `bearer_token_file` and `bearer_token`")]
    NoToken,
}

impl ServerAuthConfig {
    /// Paths are relative to the block: callers report them `within("auth")`.
    pub fn validate(&self) -> Result<(), ValidationError> {
        match (&self.bearer_token_file, &self.bearer_token) {
            (Some(_), Some(_)) => Err(ValidationError::new(
                "set `bearer_token_file` or `bearer_token`, not both",
            )),
            (None, None) => Err(ValidationError::new(
                "set `bearer_token_file` (a file holding the token) or `bearer_token`",
            )),
            (None, Some(token)) if token.expose().trim().is_empty() => {
                Err(ValidationError::at("bearer_token", "is empty"))
            }
            _ => Ok(()),
        }
    }

    /// Reads the token now.
    pub fn authenticator(&self) -> Result<Authenticator, AuthError> {
        let token = match (&self.bearer_token_file, &self.bearer_token) {
            (Some(path), _) => std::fs::read_to_string(path).map_err(|source| AuthError::Read {
                path: path.clone(),
                source,
            })?,
            (None, Some(token)) => token.expose().to_string(),
            (None, None) => return Err(AuthError::NoToken),
        };
        let token = token.trim();
        if token.is_empty() {
            return Err(AuthError::Empty);
        }
        Ok(Authenticator {
            token: Arc::new(Secret::new(token)),
            refused: None,
        })
    }
}

/// A request without the right token.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Unauthenticated {
    #[error("missing bearer token")]
    Missing,
    #[error("invalid bearer token")]
    Invalid,
}

/// Checks `Authorization: Bearer <token>` against the configured token.
#[derive(Clone)]
pub struct Authenticator {
    token: Arc<Secret>,
    refused: Option<BadRequests>,
}

impl std::fmt::Debug for Authenticator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Authenticator([redacted])")
    }
}

impl Authenticator {
    /// Counts refused requests as bad requests of this receiver.
    pub fn counting(mut self, bad_requests: BadRequests) -> Authenticator {
        self.refused = Some(bad_requests);
        self
    }

    /// `Ok` when the headers carry the token; a refusal is counted.
    pub fn check(&self, headers: &HeaderMap) -> Result<(), Unauthenticated> {
        let outcome = match bearer(headers) {
            None => Err(Unauthenticated::Missing),
            Some(given) if constant_time_eq(given, self.token.expose().as_bytes()) => Ok(()),
            Some(_) => Err(Unauthenticated::Invalid),
        };
        if let (Err(why), Some(counter)) = (outcome, &self.refused) {
            counter.record(BadRequest::Unauthenticated, &why);
        }
        outcome
    }
}

/// The token of an `Authorization: Bearer` header (scheme case-insensitive).
fn bearer(headers: &HeaderMap) -> Option<&[u8]> {
    let value = headers.get(AUTHORIZATION)?.as_bytes();
    let scheme = value.get(..7)?;
    if !scheme.eq_ignore_ascii_case(b"bearer ") {
        return None;
    }
    Some(value[7..].trim_ascii())
}

/// Compares without an early exit, so the time taken does not tell how much of a guess
/// was right. The length is not secret.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let diff = a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y));
    std::hint::black_box(diff) == 0
}
