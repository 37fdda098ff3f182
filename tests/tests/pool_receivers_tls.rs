//! The postgresql, pgbouncer and redis receivers over TLS against real servers that
//! refuse plaintext, with a throwaway CA made by `openssl`. The server certificate names
//! `db.example`, not 127.0.0.1, so each test shows the host-name check failing and
//! `server_name_override` passing; redis also asks for a client certificate.

mod pool_support;

use std::path::Path;

use pool_support::{agent_with, expect_value, latest};
use sentinel_tests::services::{
    postgres_bin_dir, EphemeralPgBouncer, EphemeralPostgres, EphemeralRedis,
};
use sentinel_tests::{certs, eventually, sentinel_bin};

/// The test CA and certificates, readable by the unprivileged `postgres` user that runs
/// PgBouncer.
fn certificates() -> tempfile::TempDir {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    certs::make(dir.path(), "db.example");
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    for entry in std::fs::read_dir(dir.path()).unwrap() {
        let path = entry.unwrap().path();
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o644)).unwrap();
    }
    dir
}

/// The `tls:` block, indented under a receiver.
fn tls_block(certs: &Path, lines: &[&str]) -> String {
    let mut block = String::from("    tls:\n");
    for line in lines {
        let line = line.replace("CERTS", &certs.display().to_string());
        block.push_str(&format!("      {line}\n"));
    }
    block
}

/// Starts one agent per `(name, tls block)` case against `endpoint`, with `receiver`
/// (`postgresql`, `pgbouncer` or `redis`) configured by `common` plus the case's block.
fn agents(
    work: &Path,
    receiver: &str,
    common: &str,
    cases: &[(&str, String)],
) -> Vec<(sentinel_tests::Agent, std::path::PathBuf)> {
    cases
        .iter()
        .map(|(name, tls)| {
            let dir = work.join(name);
            std::fs::create_dir_all(&dir).unwrap();
            let receivers = format!("  {receiver}:\n{common}    collection_interval: 300ms\n{tls}");
            agent_with(&dir, &receivers, receiver)
        })
        .collect()
}

#[test]
fn postgresql_over_tls_checks_the_certificate_it_is_told_to() {
    let certs = certificates();
    let pg = EphemeralPostgres::start();
    pg.require_tls(certs.path());
    let work = tempfile::tempdir().unwrap();
    let common = format!(
        "    endpoint: 127.0.0.1:{}\n    username: postgres\n",
        pg.port
    );
    let cases = [
        ("plaintext", tls_block(certs.path(), &["insecure: true"])),
        (
            "wrong-name",
            tls_block(certs.path(), &["insecure: false", "ca_file: CERTS/ca.crt"]),
        ),
        (
            "override",
            tls_block(
                certs.path(),
                &[
                    "insecure: false",
                    "ca_file: CERTS/ca.crt",
                    "server_name_override: db.example",
                ],
            ),
        ),
        // TLS is the default, as in the Collector: no `insecure: false` needed.
        (
            "skip-verify",
            tls_block(certs.path(), &["insecure_skip_verify: true"]),
        ),
        (
            "bundled-roots",
            tls_block(
                certs.path(),
                &["insecure: false", "server_name_override: db.example"],
            ),
        ),
    ];
    let agents = agents(work.path(), "postgresql", &common, &cases);
    let [plain, wrong_name, with_override, skip_verify, bundled] = &agents[..] else {
        unreachable!()
    };

    expect_value(
        &with_override.0,
        &with_override.1,
        "postgresql.up",
        &[],
        1.0,
    );
    expect_value(
        &with_override.0,
        &with_override.1,
        "postgresql.connection.max",
        &[],
        200.0,
    );
    expect_value(&skip_verify.0, &skip_verify.1, "postgresql.up", &[], 1.0);
    // The server refuses plaintext, and our sessions are encrypted.
    let encrypted = pg.psql(
        "postgres",
        "SELECT count(*) FILTER (WHERE s.ssl) || '/' || count(*) FROM pg_stat_ssl s \
         JOIN pg_stat_activity a USING (pid) WHERE a.application_name = 'sentinel-postgresql'",
    );
    assert_eq!(encrypted, "2/2", "both connected receivers use TLS");

    expect_value(&plain.0, &plain.1, "postgresql.up", &[], 0.0);
    assert!(plain.0.log().contains("no encryption"), "{}", plain.0.log());
    expect_value(&wrong_name.0, &wrong_name.1, "postgresql.up", &[], 0.0);
    let log = wrong_name.0.log();
    assert!(log.contains("not valid for name"), "{log}");
    expect_value(&bundled.0, &bundled.1, "postgresql.up", &[], 0.0);
    let log = bundled.0.log();
    assert!(
        log.contains("UnknownIssuer"),
        "the test CA is not a public root: {log}"
    );
}

#[test]
fn pgbouncer_over_tls_reports_its_pools() {
    let certs = certificates();
    let pg = EphemeralPostgres::start();
    pg.psql("postgres", "create database app");
    let file = |name: &str| certs.path().join(name).display().to_string();
    let settings = format!(
        "client_tls_sslmode = require\nclient_tls_cert_file = {}\nclient_tls_key_file = {}\n\
         client_tls_ca_file = {}\n",
        file("server.crt"),
        file("server.key"),
        file("ca.crt")
    );
    let bouncer = EphemeralPgBouncer::start_with(pg.port, &["app"], 3, "session", &settings);
    let work = tempfile::tempdir().unwrap();
    let common = format!(
        "    endpoint: 127.0.0.1:{}\n    username: postgres\n",
        bouncer.port
    );
    let cases = [
        ("plaintext", tls_block(certs.path(), &["insecure: true"])),
        (
            "override",
            tls_block(
                certs.path(),
                &["ca_file: CERTS/ca.crt", "server_name_override: db.example"],
            ),
        ),
    ];
    let agents = agents(work.path(), "pgbouncer", &common, &cases);
    let [plain, with_override] = &agents[..] else {
        unreachable!()
    };
    expect_value(&with_override.0, &with_override.1, "pgbouncer.up", &[], 1.0);
    // A client over TLS makes PgBouncer open the app pool; its server connection stays
    // idle in the pool afterwards.
    let psql = std::process::Command::new(postgres_bin_dir().unwrap().join("psql"))
        .args(["-X", "-q", "-c", "select 1"])
        .arg(format!(
            "postgresql://postgres@127.0.0.1:{}/app?sslmode=require",
            bouncer.port
        ))
        .output()
        .unwrap();
    assert!(
        psql.status.success(),
        "{}",
        String::from_utf8_lossy(&psql.stderr)
    );
    let pool = [("db.client.connection.pool.name", "app/postgres")];
    expect_value(
        &with_override.0,
        &with_override.1,
        "db.client.connection.max",
        &pool,
        3.0,
    );
    expect_value(
        &with_override.0,
        &with_override.1,
        "db.client.connection.count",
        &[pool[0], ("db.client.connection.state", "idle")],
        1.0,
    );
    expect_value(&plain.0, &plain.1, "pgbouncer.up", &[], 0.0);
    assert!(
        plain.0.log().to_lowercase().contains("ssl"),
        "PgBouncer says why: {}",
        plain.0.log()
    );
}

#[test]
fn redis_over_mutual_tls_needs_the_client_certificate() {
    let certs = certificates();
    let redis = EphemeralRedis::start_tls(certs.path(), true);
    let work = tempfile::tempdir().unwrap();
    let common = format!("    endpoint: 127.0.0.1:{}\n", redis.port);
    let verified = ["ca_file: CERTS/ca.crt", "server_name_override: db.example"];
    let with_client_certificate = [
        &verified[..],
        &["cert_file: CERTS/client.crt", "key_file: CERTS/client.key"],
    ]
    .concat();
    let cases = [
        ("plaintext", tls_block(certs.path(), &["insecure: true"])),
        ("no-client-cert", tls_block(certs.path(), &verified)),
        ("mutual", tls_block(certs.path(), &with_client_certificate)),
    ];
    let agents = agents(work.path(), "redis", &common, &cases);
    let [plain, no_client_cert, mutual] = &agents[..] else {
        unreachable!()
    };
    expect_value(&mutual.0, &mutual.1, "redis.up", &[], 1.0);
    assert!(
        eventually(pool_support::WAIT, || {
            latest(&mutual.1, "redis.clients.connected", &[]).is_some_and(|n| n >= 1.0)
        }),
        "INFO read over TLS:\n{}",
        mutual.0.log()
    );
    expect_value(&no_client_cert.0, &no_client_cert.1, "redis.up", &[], 0.0);
    expect_value(&plain.0, &plain.1, "redis.up", &[], 0.0);
}

#[test]
fn unusable_tls_settings_stop_the_agent_with_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    let run = |tls: &str| {
        let config = format!(
            "receivers:\n  postgresql:\n    endpoint: 127.0.0.1:1\n    tls:\n{tls}exporters:\n  \
             blackhole:\nservice:\n  pipelines:\n    metrics:\n      receivers: [postgresql]\n      \
             exporters: [blackhole]\n"
        );
        let path = dir.path().join("agent.yaml");
        std::fs::write(&path, config).unwrap();
        let out = std::process::Command::new(sentinel_bin())
            .args(["run", "--config"])
            .arg(&path)
            .output()
            .unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stderr).to_string(),
        )
    };
    // Read at start: a missing CA file is named.
    let (code, err) = run("      insecure: false\n      ca_file: /nonexistent/ca.pem\n");
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("/nonexistent/ca.pem"), "{err}");
    // Contradictions are config errors with the position.
    let (code, err) = run("      insecure: true\n      ca_file: /etc/ca.pem\n");
    assert_eq!(code, Some(1), "{err}");
    assert!(
        err.contains("agent.yaml:6:7:") && err.contains("insecure: false"),
        "{err}"
    );
    let (code, err) = run("      insecure: false\n      cert_file: /etc/client.crt\n");
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("key_file"), "{err}");
}
