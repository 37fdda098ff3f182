//! `sslmode` against a real PostgreSQL that only accepts TLS, with a throwaway CA made by
//! `openssl`: `require` encrypts without checking, `verify-ca` checks the chain only,
//! `verify-full` also the host name, `disable` is refused by the server.

mod postgres_support;

use postgres_support::{sentinel, Pg, PgAgent};
use sentinel_tests::certs;

#[test]
fn sslmode_checks_what_it_promises() {
    let pg = Pg::start();
    let dir = tempfile::tempdir().unwrap();
    certs::make(dir.path(), "db.example");
    pg.require_tls(dir.path());
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
