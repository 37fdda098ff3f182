//! `receivers.hooks`: the Claude Code hook receiver's configuration.

use std::path::PathBuf;
use std::time::Duration;

use sentinel_pipeline::config::{ComponentConfig, Endpoint, ValidationError};
use sentinel_pipeline::listen::{
    check_listener, ConnectionLimits, ServerAuthConfig, ServerTlsConfig,
};
use serde::{Deserialize, Serialize};

/// Default listen address: loopback only, the hook JSON carries prompts and file contents.
pub const DEFAULT_ENDPOINT: &str = "127.0.0.1:4319";
/// Default URL path Claude Code's `"type": "http"` hooks post to.
pub const DEFAULT_PATH: &str = "/v1/hooks";
const KB: u64 = 1024;
const MIB: u64 = 1024 * 1024;

/// The hooks receiver. Written `hooks:` with nothing under it, it listens on
/// `127.0.0.1:4319/v1/hooks`, redacts secrets, applies the built-in policy and ingests the
/// default spool file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HooksReceiverConfig {
    /// Address to listen on, `host:port`. Default `127.0.0.1:4319` (loopback only). Port
    /// `0` picks a free port, which is logged at startup.
    pub endpoint: Endpoint,
    /// URL path that accepts `POST`ed hook events. Default `/v1/hooks`.
    pub path: String,
    /// Largest log-record body kept, in bytes of JSON. A larger payload is truncated
    /// (longest strings first) and marked `sentinel.truncated=true`. Requests larger than
    /// 4 times this (at least 1 MiB) are refused with `413`. Default 51200 (50 KB).
    pub max_payload_size: u64,
    /// Redact secrets (API keys, tokens, passwords, private keys, `.env` contents) in
    /// every string of the payload before it leaves the receiver. Default true.
    pub redact: bool,
    /// Extra regular expressions to redact, in addition to the built-in ones. Every match
    /// is replaced with `[REDACTED]`.
    pub redact_patterns: Vec<String>,
    /// Policy file evaluated on `PreToolUse` events (its decision is the HTTP reply).
    /// Default: the built-in policy.
    pub policy: Option<PathBuf>,
    /// Spool file that `sentinel hook` appends to when the agent is unreachable; ingested
    /// at start and every `spool_interval`. Default
    /// `$XDG_STATE_HOME/sentinel/hook-spool.jsonl`, else
    /// `$HOME/.local/state/sentinel/hook-spool.jsonl`. `""` disables spool ingestion.
    pub spool_path: Option<PathBuf>,
    /// How often the spool file is checked. Default `5s`.
    #[serde(with = "humantime_serde")]
    pub spool_interval: Duration,
    /// Server TLS (`cert_file`, `key_file`, `client_ca_file`, `min_version`,
    /// `reload_interval`). Default: plaintext.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls: Option<ServerTlsConfig>,
    /// Bearer token every hook POST must carry (`sentinel hook` sends the one in
    /// `SENTINEL_HOOK_TOKEN_FILE`); without it the request is answered `401` and nothing
    /// is ingested, so another local user cannot inject events. Default: none.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub auth: Option<ServerAuthConfig>,
    /// Connection cap and idle, header and body-read timeouts.
    pub connections: ConnectionLimits,
}

impl Default for HooksReceiverConfig {
    fn default() -> Self {
        HooksReceiverConfig {
            // A valid host:port constant.
            endpoint: Endpoint::new(DEFAULT_ENDPOINT).expect("default endpoint is valid"),
            path: DEFAULT_PATH.to_string(),
            max_payload_size: 50 * KB,
            redact: true,
            redact_patterns: Vec::new(),
            policy: None,
            spool_path: None,
            spool_interval: Duration::from_secs(5),
            tls: None,
            auth: None,
            connections: ConnectionLimits::default(),
        }
    }
}

impl HooksReceiverConfig {
    pub fn max_payload_bytes(&self) -> usize {
        usize::try_from(self.max_payload_size).unwrap_or(usize::MAX)
    }

    /// The hard limit on a request body: 4 times the payload cap, at least 1 MiB.
    pub fn max_request_bytes(&self) -> usize {
        let bytes = self.max_payload_size.saturating_mul(4).max(MIB);
        usize::try_from(bytes).unwrap_or(usize::MAX)
    }

    /// The spool file to ingest, `None` when disabled with `""`.
    pub fn spool_file(&self) -> Option<PathBuf> {
        match &self.spool_path {
            Some(path) if path.as_os_str().is_empty() => None,
            Some(path) => Some(path.clone()),
            None => crate::hook::spool::default_path(),
        }
    }
}

impl ComponentConfig for HooksReceiverConfig {
    fn validate(&self) -> Result<(), ValidationError> {
        check_listener(&self.tls, &self.auth, &self.connections)?;
        if !self.path.starts_with('/') {
            return Err(ValidationError::at(
                "path",
                format!("must start with `/`, got {:?}", self.path),
            ));
        }
        if self.max_payload_size < KB || self.max_payload_size > 64 * MIB {
            return Err(ValidationError::at(
                "max_payload_size",
                format!(
                    "must be from {KB} to {} bytes, got {}",
                    64 * MIB,
                    self.max_payload_size
                ),
            ));
        }
        if self.spool_interval.is_zero() {
            return Err(ValidationError::at("spool_interval", "must be more than 0"));
        }
        for (index, pattern) in self.redact_patterns.iter().enumerate() {
            regex::Regex::new(pattern).map_err(|err| {
                // The path walk does not index lists, so this lands on the component node.
                ValidationError::at(
                    format!("redact_patterns[{index}]"),
                    format!("invalid regex: {err}"),
                )
            })?;
        }
        Ok(())
    }
}
