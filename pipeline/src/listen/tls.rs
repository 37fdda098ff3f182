//! Server `tls`: the keys of the Collector's server TLS settings, and a certificate
//! resolver that re-reads the certificate and key files every `reload_interval`, so a
//! rotated certificate is served without a restart.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::PrivateKeyDer;
use rustls::server::{ClientHello, ResolvesServerCert, WebPkiClientVerifier};
use rustls::sign::CertifiedKey;
use rustls::{RootCertStore, ServerConfig};
use serde::{Deserialize, Serialize};

use crate::config::ValidationError;
use crate::tls::{certificates, TlsError};

/// ALPN of a server that speaks HTTP/2 and HTTP/1.1.
pub const ALPN_HTTP: &[&[u8]] = &[b"h2", b"http/1.1"];
/// ALPN of a gRPC server (HTTP/2 only).
pub const ALPN_GRPC: &[&[u8]] = &[b"h2"];

/// `tls` of a server block: with it the listener speaks TLS only.
///
/// ```yaml
/// tls:
///   cert_file: /etc/sentinel/tls/server.crt
///   key_file: /etc/sentinel/tls/server.key
///   client_ca_file: /etc/sentinel/tls/clients-ca.crt   # mTLS: clients need a certificate
///   min_version: "1.2"
///   reload_interval: 1h
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerTlsConfig {
    /// PEM certificate chain the server presents (leaf first). Required.
    pub cert_file: PathBuf,
    /// PEM private key (PKCS#8, PKCS#1 or SEC1) of `cert_file`. Required.
    pub key_file: PathBuf,
    /// PEM CA certificate(s). When set, every client must present a certificate that
    /// chains to one of them (mutual TLS); a client without one fails the handshake.
    /// Default: not set, no client certificate asked for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_ca_file: Option<PathBuf>,
    /// Oldest TLS version accepted: `"1.2"` (the default, as in the Collector) or
    /// `"1.3"`. Versions before 1.2 are not supported.
    #[serde(default = "default_min_version")]
    pub min_version: String,
    /// How often `cert_file` and `key_file` are read again, so a renewed certificate is
    /// served without a restart (a pair that fails to load is logged and the previous
    /// one kept). Default: not set, read once at start.
    #[serde(
        default,
        with = "humantime_serde",
        skip_serializing_if = "Option::is_none"
    )]
    pub reload_interval: Option<Duration>,
}

fn default_min_version() -> String {
    "1.2".to_string()
}

impl ServerTlsConfig {
    /// Paths are relative to the block: callers report them `within("tls")`.
    pub fn validate(&self) -> Result<(), ValidationError> {
        match self.min_version.as_str() {
            "1.2" | "1.3" => {}
            "1.0" | "1.1" => {
                return Err(ValidationError::at(
                    "min_version",
                    "TLS 1.0 and 1.1 are not supported; use \"1.2\" or \"1.3\"",
                ))
            }
            other => {
                return Err(ValidationError::at(
                    "min_version",
                    format!("{other:?} is not a TLS version; use \"1.2\" or \"1.3\""),
                ))
            }
        }
        if self.reload_interval.is_some_and(|i| i.is_zero()) {
            return Err(ValidationError::at(
                "reload_interval",
                "must be more than 0s",
            ));
        }
        Ok(())
    }

    /// The rustls server settings; the certificate, key and client CA are read now, so
    /// a bad file fails the start with its path.
    pub fn server_config(&self, alpn: &[&[u8]]) -> Result<Arc<ServerConfig>, TlsError> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let versions: &[&'static rustls::SupportedProtocolVersion] = match self.min_version.as_str()
        {
            "1.3" => &[&rustls::version::TLS13],
            _ => &[&rustls::version::TLS13, &rustls::version::TLS12],
        };
        let builder = ServerConfig::builder_with_provider(provider.clone())
            .with_protocol_versions(versions)?;
        let builder = match &self.client_ca_file {
            None => builder.with_no_client_auth(),
            Some(path) => {
                let mut roots = RootCertStore::empty();
                for cert in certificates(path)? {
                    roots.add(cert).map_err(|e| TlsError::BadCertificate {
                        path: path.clone(),
                        reason: e.to_string(),
                    })?;
                }
                let verifier =
                    WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone())
                        .build()
                        .map_err(|e| TlsError::Rustls(rustls::Error::General(e.to_string())))?;
                builder.with_client_cert_verifier(verifier)
            }
        };
        let resolver = RotatingCertificate::load(self, provider)?;
        let mut config = builder.with_cert_resolver(Arc::new(resolver));
        config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
        Ok(Arc::new(config))
    }
}

/// The served certificate, read again from its files once `interval` has passed (checked
/// at the next handshake, so an idle server reads nothing).
#[derive(Debug)]
struct RotatingCertificate {
    cert_file: PathBuf,
    key_file: PathBuf,
    interval: Option<Duration>,
    provider: Arc<CryptoProvider>,
    current: Mutex<Loaded>,
}

#[derive(Debug)]
struct Loaded {
    key: Arc<CertifiedKey>,
    read_at: Instant,
}

impl RotatingCertificate {
    fn load(
        config: &ServerTlsConfig,
        provider: Arc<CryptoProvider>,
    ) -> Result<RotatingCertificate, TlsError> {
        let key = certified_key(&config.cert_file, &config.key_file, &provider)?;
        Ok(RotatingCertificate {
            cert_file: config.cert_file.clone(),
            key_file: config.key_file.clone(),
            interval: config.reload_interval,
            provider,
            current: Mutex::new(Loaded {
                key,
                read_at: Instant::now(),
            }),
        })
    }

    fn current(&self) -> Arc<CertifiedKey> {
        let mut loaded = self.current.lock().unwrap_or_else(|p| p.into_inner());
        let due = self
            .interval
            .is_some_and(|interval| loaded.read_at.elapsed() >= interval);
        if due {
            loaded.read_at = Instant::now();
            match certified_key(&self.cert_file, &self.key_file, &self.provider) {
                Ok(key) => {
                    if key.cert != loaded.key.cert {
                        tracing::info!(cert_file = %self.cert_file.display(), "Serving the renewed TLS certificate.");
                    }
                    loaded.key = key;
                }
                Err(err) => tracing::warn!(
                    error = %err,
                    "Cannot reload the TLS certificate; still serving the previous one."
                ),
            }
        }
        loaded.key.clone()
    }
}

impl ResolvesServerCert for RotatingCertificate {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.current())
    }
}

fn certified_key(
    cert_file: &Path,
    key_file: &Path,
    provider: &CryptoProvider,
) -> Result<Arc<CertifiedKey>, TlsError> {
    let chain = certificates(cert_file)?;
    let key = PrivateKeyDer::from_pem_file(key_file).map_err(|e| TlsError::Read {
        path: key_file.to_path_buf(),
        reason: e.to_string(),
    })?;
    let signing = provider.key_provider.load_private_key(key)?;
    let certified = CertifiedKey::new(chain, signing);
    // A key that does not belong to the certificate fails here, not at the handshake.
    certified
        .keys_match()
        .map_err(|e| TlsError::BadCertificate {
            path: key_file.to_path_buf(),
            reason: format!("does not match {}: {e}", cert_file.display()),
        })?;
    Ok(Arc::new(certified))
}
