//! Client-side TLS for components that dial out (database receivers, the `otlp`,
//! `otlphttp` and `postgres` exporters): the `tls` block with the keys of the Collector's
//! client TLS settings, and the one place rustls client settings are built. rustls with
//! the `ring` provider; no OpenSSL.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::{verify_tls12_signature, verify_tls13_signature, CryptoProvider};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{
    CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme,
};
use serde::{Deserialize, Serialize};

use crate::config::ValidationError;

/// `tls` of a component that connects to a server: the one client TLS block of every
/// Sentinel component (database receivers, `otlp` and `otlphttp` exporters). The keys and
/// the `insecure: false` default are the Collector's (`configtls` client settings), so a
/// Collector config reads the same here.
///
/// ```yaml
/// tls:
///   insecure: false            # use TLS
///   ca_file: /etc/ssl/db-ca.pem
///   cert_file: /etc/sentinel/client.crt   # only if the server asks for a client certificate
///   key_file: /etc/sentinel/client.key
/// ```
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ClientTlsConfig {
    /// `false` (the default): TLS is required; a server that does not offer it is an
    /// error, never a silent downgrade. `true`: plaintext, for loopback or a trusted
    /// network. Where a URL's scheme decides (`otlphttp`, `otlp` with `http://`), the
    /// component says how this key applies.
    pub insecure: bool,
    /// With TLS, accept any server certificate (encryption without authentication, like
    /// libpq's `sslmode=require`). The handshake signatures are still checked.
    /// Default `false`: the chain must lead to `ca_file` (or the bundled Mozilla roots
    /// when `ca_file` is not set) and the certificate must name the host.
    pub insecure_skip_verify: bool,
    /// PEM file with the CA certificate(s) to trust instead of the bundled Mozilla roots.
    pub ca_file: Option<PathBuf>,
    /// PEM client certificate chain, for servers that authenticate clients by
    /// certificate. Needs `key_file`.
    pub cert_file: Option<PathBuf>,
    /// PEM private key (PKCS#8, PKCS#1 or SEC1) of `cert_file`.
    pub key_file: Option<PathBuf>,
    /// Name the server certificate must carry, when it differs from the endpoint's host
    /// (for example connecting by IP address to a server whose certificate names it).
    pub server_name_override: Option<String>,
}

/// A `tls` block that cannot be used: a file that cannot be read or holds nothing usable.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("cannot read {path}: {reason}")]
    Read { path: PathBuf, reason: String },
    #[error("{path} holds no certificate")]
    NoCertificate { path: PathBuf },
    #[error("bad certificate in {path}: {reason}")]
    BadCertificate { path: PathBuf, reason: String },
    #[error("server_name_override: {0:?} is not a valid DNS name or IP address")]
    BadServerName(String),
    #[error("TLS settings rejected: {0}")]
    Rustls(#[from] rustls::Error),
}

impl ClientTlsConfig {
    /// Settings that contradict each other; checked when the config is read so the error
    /// carries the file position. Paths are relative to the TLS block: callers report them
    /// `within` the key that holds it.
    pub fn validate(&self) -> Result<(), ValidationError> {
        if self.insecure {
            let tls_only = [
                ("insecure_skip_verify", self.insecure_skip_verify),
                ("ca_file", self.ca_file.is_some()),
                ("cert_file", self.cert_file.is_some()),
                ("key_file", self.key_file.is_some()),
                ("server_name_override", self.server_name_override.is_some()),
            ];
            if let Some((key, _)) = tls_only.iter().find(|(_, set)| *set) {
                return Err(ValidationError::at(
                    *key,
                    "only applies to TLS connections, but `tls.insecure` is true \
                     (plaintext); set `insecure: false` to use TLS",
                ));
            }
            return Ok(());
        }
        if self.cert_file.is_some() != self.key_file.is_some() {
            return Err(ValidationError::new(
                "`cert_file` and `key_file` go together (a client certificate and its key)",
            ));
        }
        if let Some(name) = &self.server_name_override {
            ServerName::try_from(name.as_str()).map_err(|_| {
                ValidationError::at(
                    "server_name_override",
                    format!("{name:?} is not a valid DNS name or IP address"),
                )
            })?;
        }
        Ok(())
    }

    /// Whether any key that only applies to TLS connections is set.
    pub fn is_set(&self) -> bool {
        self.insecure_skip_verify
            || self.ca_file.is_some()
            || self.cert_file.is_some()
            || self.key_file.is_some()
            || self.server_name_override.is_some()
    }

    /// The rustls client settings, or `None` for plaintext (`insecure: true`).
    pub fn client_config(&self) -> Result<Option<Arc<ClientConfig>>, TlsError> {
        if self.insecure {
            return Ok(None);
        }
        self.rustls_config().map(Some)
    }

    /// The rustls client settings of these keys whatever `insecure` says, for components
    /// where something else (a URL's scheme) decides whether a connection uses TLS.
    pub fn rustls_config(&self) -> Result<Arc<ClientConfig>, TlsError> {
        let verification = if self.insecure_skip_verify {
            Verification::None
        } else {
            match &self.server_name_override {
                Some(name) => Verification::Name(
                    ServerName::try_from(name.clone())
                        .map_err(|_| TlsError::BadServerName(name.clone()))?,
                ),
                None => Verification::Full,
            }
        };
        let identity = match (&self.cert_file, &self.key_file) {
            (Some(cert), Some(key)) => Some((cert.as_path(), key.as_path())),
            _ => None,
        };
        client_config(verification, self.ca_file.as_deref(), identity)
    }
}

/// How much of the server's certificate is checked.
#[derive(Debug, Clone)]
pub enum Verification {
    /// Chain to a trusted root and the host name connected to.
    Full,
    /// Chain to a trusted root and this name instead of the host connected to.
    Name(ServerName<'static>),
    /// Chain to a trusted root; any name (libpq's `verify-ca`).
    ChainOnly,
    /// Nothing but the handshake signatures (libpq's `require`).
    None,
}

/// Builds rustls client settings. `ca_file` replaces the bundled Mozilla roots;
/// `identity` is a client certificate chain and key, both PEM files.
pub fn client_config(
    verification: Verification,
    ca_file: Option<&Path>,
    identity: Option<(&Path, &Path)>,
) -> Result<Arc<ClientConfig>, TlsError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()?;
    let verifier: Arc<dyn ServerCertVerifier> = match verification {
        Verification::None => Arc::new(Unverified { provider }),
        checked => {
            let webpki =
                WebPkiServerVerifier::builder_with_provider(Arc::new(roots(ca_file)?), provider)
                    .build()
                    .map_err(|e| TlsError::Rustls(rustls::Error::General(e.to_string())))?;
            match checked {
                Verification::Full => webpki,
                Verification::Name(name) => Arc::new(Checked {
                    webpki,
                    name: NameCheck::Fixed(name),
                }),
                _ => Arc::new(Checked {
                    webpki,
                    name: NameCheck::Skip,
                }),
            }
        }
    };
    let builder = builder
        .dangerous()
        .with_custom_certificate_verifier(verifier);
    let config = match identity {
        None => builder.with_no_client_auth(),
        Some((cert_file, key_file)) => {
            let chain = certificates(cert_file)?;
            let key = PrivateKeyDer::from_pem_file(key_file).map_err(|e| TlsError::Read {
                path: key_file.to_path_buf(),
                reason: e.to_string(),
            })?;
            builder.with_client_auth_cert(chain, key)?
        }
    };
    Ok(Arc::new(config))
}

pub(crate) fn certificates(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let read = CertificateDer::pem_file_iter(path).map_err(|e| TlsError::Read {
        path: path.to_path_buf(),
        reason: e.to_string(),
    })?;
    let certs = read
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| TlsError::BadCertificate {
            path: path.to_path_buf(),
            reason: e.to_string(),
        })?;
    if certs.is_empty() {
        return Err(TlsError::NoCertificate {
            path: path.to_path_buf(),
        });
    }
    Ok(certs)
}

fn roots(ca_file: Option<&Path>) -> Result<RootCertStore, TlsError> {
    let mut roots = RootCertStore::empty();
    match ca_file {
        Some(path) => {
            for cert in certificates(path)? {
                roots.add(cert).map_err(|e| TlsError::BadCertificate {
                    path: path.to_path_buf(),
                    reason: e.to_string(),
                })?;
            }
        }
        None => roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned()),
    }
    Ok(roots)
}

#[derive(Debug)]
enum NameCheck {
    Fixed(ServerName<'static>),
    Skip,
}

/// WebPKI verification with the name replaced or not checked.
#[derive(Debug)]
struct Checked {
    webpki: Arc<WebPkiServerVerifier>,
    name: NameCheck,
}

impl ServerCertVerifier for Checked {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let name = match &self.name {
            NameCheck::Fixed(name) => name,
            NameCheck::Skip => server_name,
        };
        let verdict = self
            .webpki
            .verify_server_cert(end_entity, intermediates, name, ocsp, now);
        match (&self.name, verdict) {
            (
                NameCheck::Skip,
                Err(rustls::Error::InvalidCertificate(
                    CertificateError::NotValidForName
                    | CertificateError::NotValidForNameContext { .. },
                )),
            ) => Ok(ServerCertVerified::assertion()),
            (_, verdict) => verdict,
        }
    }
    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.webpki.verify_tls12_signature(message, cert, dss)
    }
    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.webpki.verify_tls13_signature(message, cert, dss)
    }
    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.webpki.supported_verify_schemes()
    }
}

/// Any certificate, but the handshake signatures are still checked.
#[derive(Debug)]
struct Unverified {
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for Unverified {
    fn verify_server_cert(
        &self,
        _: &CertificateDer<'_>,
        _: &[CertificateDer<'_>],
        _: &ServerName<'_>,
        _: &[u8],
        _: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }
    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        let algorithms = &self.provider.signature_verification_algorithms;
        verify_tls12_signature(message, cert, dss, algorithms)
    }
    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        let algorithms = &self.provider.signature_verification_algorithms;
        verify_tls13_signature(message, cert, dss, algorithms)
    }
    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tls() -> ClientTlsConfig {
        ClientTlsConfig::default()
    }

    fn plaintext() -> ClientTlsConfig {
        ClientTlsConfig {
            insecure: true,
            ..ClientTlsConfig::default()
        }
    }

    #[test]
    fn tls_is_the_default_as_in_the_collector() {
        let config = ClientTlsConfig::default();
        assert!(!config.insecure);
        assert!(config.validate().is_ok());
        assert!(config.client_config().unwrap().is_some());
    }

    #[test]
    fn plaintext_builds_nothing_unless_asked_for_the_rustls_settings() {
        let config = plaintext();
        assert!(config.validate().is_ok());
        assert!(config.client_config().unwrap().is_none());
        assert!(config.rustls_config().is_ok());
        assert!(!config.is_set());
    }

    #[test]
    fn tls_only_keys_are_refused_with_plaintext() {
        let config = ClientTlsConfig {
            ca_file: Some("/etc/ca.pem".into()),
            ..plaintext()
        };
        assert!(config.is_set());
        let error = config.validate().unwrap_err().within("tls").to_string();
        assert!(error.contains("tls.ca_file") && error.contains("insecure: false"));
    }

    #[test]
    fn a_client_certificate_needs_its_key() {
        let config = ClientTlsConfig {
            cert_file: Some("/etc/client.crt".into()),
            ..tls()
        };
        assert!(config
            .validate()
            .unwrap_err()
            .to_string()
            .contains("key_file"));
    }

    #[test]
    fn bad_server_name_override_is_refused() {
        let config = ClientTlsConfig {
            server_name_override: Some("not a name!".into()),
            ..tls()
        };
        assert!(config
            .validate()
            .unwrap_err()
            .to_string()
            .contains("server_name_override"));
    }

    #[test]
    fn tls_with_bundled_roots_builds() {
        assert!(tls().client_config().unwrap().is_some());
    }

    #[test]
    fn unreadable_and_empty_ca_files_are_errors() {
        let missing = ClientTlsConfig {
            ca_file: Some("/nonexistent/ca.pem".into()),
            ..tls()
        };
        let error = missing.client_config().unwrap_err().to_string();
        assert!(error.contains("/nonexistent/ca.pem"), "{error}");

        let dir = std::env::temp_dir().join(format!("sentinel-tls-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let empty = dir.join("empty.pem");
        std::fs::write(&empty, "not a certificate\n").unwrap();
        let config = ClientTlsConfig {
            ca_file: Some(empty.clone()),
            ..tls()
        };
        let error = config.client_config().unwrap_err();
        assert!(matches!(error, TlsError::NoCertificate { .. }), "{error}");
        let _ = std::fs::remove_dir_all(dir);
    }
}
