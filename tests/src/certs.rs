//! A throwaway certificate authority made with the `openssl` command line, for TLS tests:
//! `ca.crt`, a server certificate for one DNS name (`server.crt`, `server.key`) and a
//! client certificate (`client.crt`, `client.key`), all PEM, valid for two days.

use std::path::Path;
use std::process::Command;

fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .current_dir(dir)
        .args(args)
        .output()
        .expect("run openssl (apt-get install openssl)");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A key and a certificate named `name` (`server` or `client`), signed by the CA.
fn issue(dir: &Path, name: &str, subject: &str, extensions: &str) {
    let key = format!("{name}.key");
    let csr = format!("{name}.csr");
    let crt = format!("{name}.crt");
    let ext = format!("{name}.ext");
    openssl(
        dir,
        &[
            "req", "-newkey", "rsa:2048", "-nodes", "-subj", subject, "-keyout", &key, "-out", &csr,
        ],
    );
    std::fs::write(dir.join(&ext), extensions).expect("write extensions");
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            &csr,
            "-CA",
            "ca.crt",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-days",
            "2",
            "-extfile",
            &ext,
            "-out",
            &crt,
        ],
    );
}

/// Writes the CA, a server certificate valid for `server_dns_name` only (not for
/// 127.0.0.1, so host-name checks can be seen to fail) and a client certificate.
pub fn make(dir: &Path, server_dns_name: &str) {
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=Sentinel Test CA",
            "-keyout",
            "ca.key",
            "-out",
            "ca.crt",
        ],
    );
    issue(
        dir,
        "server",
        &format!("/CN={server_dns_name}"),
        &format!(
            "subjectAltName=DNS:{server_dns_name}\nbasicConstraints=CA:FALSE\n\
             extendedKeyUsage=serverAuth\n"
        ),
    );
    issue(
        dir,
        "client",
        "/CN=sentinel",
        "basicConstraints=CA:FALSE\nextendedKeyUsage=clientAuth\n",
    );
}
