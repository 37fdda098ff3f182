//! What `httpcheck.tls.cert_remaining` reports of the server's leaf certificate: its
//! expiry and the Collector's attributes (issuer, common name, subject alternative
//! names), read with the DER parser already in the build (x509-cert).

use rustls::pki_types::CertificateDer;
use x509_cert::der::Decode;
use x509_cert::ext::pkix::name::GeneralName;
use x509_cert::ext::pkix::SubjectAltName;

#[derive(Debug, Clone, PartialEq)]
pub struct Certificate {
    /// `notAfter`, seconds since the Unix epoch.
    pub not_after: u64,
    /// The issuer's distinguished name (RFC 4514).
    pub issuer: String,
    /// The subject's common name; empty when it has none.
    pub common_name: String,
    /// DNS names and IP addresses of the subject alternative name extension.
    pub san: Vec<String>,
}

impl Certificate {
    /// Seconds until expiry at `now` (Unix seconds); negative once expired.
    pub fn remaining(&self, now: u64) -> i64 {
        self.not_after as i64 - now as i64
    }
}

/// Reads the certificate, or `None` when it does not parse (the handshake accepted it,
/// so only an odd encoding gets here; then no expiry is reported rather than a wrong one).
pub fn read(der: &CertificateDer<'_>) -> Option<Certificate> {
    let cert = x509_cert::Certificate::from_der(der.as_ref()).ok()?;
    let tbs = &cert.tbs_certificate;
    let subject = tbs.subject.to_string();
    let common_name = subject
        .split(',')
        .find_map(|part| part.strip_prefix("CN="))
        .unwrap_or_default()
        .to_string();
    let san = match tbs.get::<SubjectAltName>() {
        Ok(Some((_, names))) => names.0.iter().filter_map(general_name).collect(),
        _ => Vec::new(),
    };
    Some(Certificate {
        not_after: tbs.validity.not_after.to_unix_duration().as_secs(),
        issuer: tbs.issuer.to_string(),
        common_name,
        san,
    })
}

fn general_name(name: &GeneralName) -> Option<String> {
    match name {
        GeneralName::DnsName(dns) => Some(dns.to_string()),
        GeneralName::IpAddress(octets) => {
            let bytes = octets.as_bytes();
            let ip: std::net::IpAddr = match bytes.len() {
                4 => <[u8; 4]>::try_from(bytes).ok()?.into(),
                16 => <[u8; 16]>::try_from(bytes).ok()?.into(),
                _ => return None,
            };
            Some(ip.to_string())
        }
        _ => None,
    }
}
