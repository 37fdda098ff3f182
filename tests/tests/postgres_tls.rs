//! `sslmode` against a real PostgreSQL that only accepts TLS, with a throwaway CA made by
//! `openssl`: `require` encrypts without checking, `verify-ca` checks the chain only,
//! `verify-full` also the host name, `disable` is refused by the server.

mod postgres_support;

use std::path::Path;
use std::process::Command;

use postgres_support::{sentinel, Pg, PgAgent};

fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .current_dir(dir)
        .args(args)
        .output()
        .expect("openssl");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A CA and a server certificate for `db.example` (not 127.0.0.1) signed by it.
fn make_certificates(dir: &Path) {
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
    openssl(
        dir,
        &[
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-subj",
            "/CN=db.example",
            "-keyout",
            "server.key",
            "-out",
            "server.csr",
        ],
    );
    std::fs::write(
        dir.join("ext.cnf"),
        "subjectAltName=DNS:db.example\nbasicConstraints=CA:FALSE\n",
    )
    .unwrap();
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.crt",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-days",
            "2",
            "-extfile",
            "ext.cnf",
            "-out",
            "server.crt",
        ],
    );
}

/// Turns TLS on and refuses plain connections.
fn require_tls(pg: &Pg, certs: &Path) {
    for file in ["server.crt", "server.key"] {
        let to = pg.data_dir.join(file);
        std::fs::copy(certs.join(file), &to).unwrap();
        let _ = Command::new("chown")
            .args(["postgres:postgres"])
            .arg(&to)
            .status();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&to, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
    let hba = pg.data_dir.join("pg_hba.conf");
    let old = std::fs::read_to_string(&hba).unwrap();
    std::fs::write(&hba, format!("hostnossl all all 0.0.0.0/0 reject\n{old}")).unwrap();
    pg.psql("postgres", "ALTER SYSTEM SET ssl = on");
    pg.psql("postgres", "SELECT pg_reload_conf()");
    std::thread::sleep(std::time::Duration::from_millis(500));
}

#[test]
fn sslmode_checks_what_it_promises() {
    let pg = Pg::start();
    let dir = tempfile::tempdir().unwrap();
    make_certificates(dir.path());
    require_tls(&pg, dir.path());
    let ca = dir.path().join("ca.crt").display().to_string();
    let migrate = |sslmode: &str, ca_file: Option<&str>| {
        let mut setup = PgAgent::new(dir.path(), &pg);
        let config = setup.config().replace("    sslmode: disable\n", "");
        setup.extra = format!(
            "    sslmode: {sslmode}\n{}",
            ca_file
                .map(|f| format!("    ca_file: {f}\n"))
                .unwrap_or_default()
        );
        let config = config.replace(
            "    sending_queue:",
            &format!("{}    sending_queue:", setup.extra),
        );
        let path = dir.path().join(format!("{sslmode}.yaml"));
        std::fs::write(&path, config).unwrap();
        let out = sentinel(
            &["db", "migrate", "--config", &path.display().to_string()],
            &[],
        );
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stderr).to_string(),
        )
    };
    let (ok, err) = migrate("disable", None);
    assert!(!ok, "the server refuses plain connections");
    assert!(
        err.contains("no encryption") || err.contains("pg_hba"),
        "{err}"
    );
    let (ok, err) = migrate("require", None);
    assert!(ok, "require encrypts without checking: {err}");
    let (ok, err) = migrate("prefer", None);
    assert!(ok, "prefer uses TLS when offered: {err}");
    let (ok, err) = migrate("verify-ca", Some(&ca));
    assert!(ok, "the chain is good; the name is not checked: {err}");
    let (ok, err) = migrate("verify-full", Some(&ca));
    assert!(!ok, "127.0.0.1 is not db.example");
    assert!(
        err.to_lowercase().contains("name") || err.contains("certificate"),
        "{err}"
    );
    let (ok, _) = migrate("verify-ca", None);
    assert!(!ok, "the test CA is not in the default roots");
}
