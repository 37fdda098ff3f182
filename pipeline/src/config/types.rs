//! Value types with their own validation, shared by component configs.

use std::fmt;
use std::net::SocketAddr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A string that must not be printed: `print-config` and logs show `[redacted]`.
#[derive(Clone, PartialEq, Eq, Default, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

impl Serialize for Secret {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str("[redacted]")
    }
}

/// A listen or connect address written `host:port`, checked when the config is read.
#[derive(Clone, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct Endpoint(String);

/// Why a text is not a `host:port` endpoint.
#[derive(Debug, thiserror::Error)]
pub enum EndpointError {
    #[error("invalid endpoint {0:?}: expected host:port")]
    NotHostPort(String),
    #[error("invalid endpoint {0:?}: the host is empty")]
    EmptyHost(String),
    #[error("invalid endpoint {0:?}: expected host:port without a scheme or path")]
    SchemeOrPath(String),
    #[error("invalid endpoint {text:?}: port {port:?} is not a number from 0 to 65535")]
    BadPort { text: String, port: String },
}

impl Endpoint {
    pub fn new(text: &str) -> Result<Endpoint, EndpointError> {
        let (host, port) = text
            .rsplit_once(':')
            .ok_or_else(|| EndpointError::NotHostPort(text.to_string()))?;
        let host = host.trim_start_matches('[').trim_end_matches(']');
        if host.is_empty() {
            return Err(EndpointError::EmptyHost(text.to_string()));
        }
        if host.contains('/') || host.contains(' ') {
            return Err(EndpointError::SchemeOrPath(text.to_string()));
        }
        port.parse::<u16>().map_err(|_| EndpointError::BadPort {
            text: text.to_string(),
            port: port.to_string(),
        })?;
        Ok(Endpoint(text.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Resolves to a socket address (`localhost` included).
    pub fn socket_addr(&self) -> std::io::Result<SocketAddr> {
        use std::net::ToSocketAddrs;
        self.0.to_socket_addrs()?.next().ok_or_else(|| {
            std::io::Error::new(
                std::io::ErrorKind::NotFound,
                format!("{} does not resolve", self.0),
            )
        })
    }
}

impl fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for Endpoint {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Endpoint::new(&text).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints() {
        assert!(Endpoint::new("127.0.0.1:4317").is_ok());
        assert!(Endpoint::new("localhost:0").is_ok());
        assert!(Endpoint::new("[::1]:4318").is_ok());
        assert!(Endpoint::new("127.0.0.1").is_err());
        assert!(Endpoint::new("127.0.0.1:99999").is_err());
        assert!(Endpoint::new("http://x:1").is_err());
        assert!(Endpoint::new(":4317").is_err());
    }

    #[test]
    fn secrets_are_redacted() {
        let s = Secret::new("hunter2");
        assert_eq!(serde_json::to_string(&s).unwrap(), "\"[redacted]\"");
        assert_eq!(format!("{s:?}"), "[redacted]");
        assert_eq!(s.expose(), "hunter2");
    }
}
