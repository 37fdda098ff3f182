//! The real backing services start, answer on their ports, and stop: later tests rely on them.

use sentinel_tests::services::{EphemeralPgBouncer, EphemeralPostgres, EphemeralRedis};
use std::io::{Read, Write};

#[test]
fn postgres_and_pgbouncer_answer_queries() {
    let mut pg = EphemeralPostgres::start();
    assert_eq!(pg.psql("postgres", "select 40 + 2"), "42");
    pg.psql("postgres", "create database app");
    let bouncer = EphemeralPgBouncer::start(pg.port, &["app"], 1, "session");
    let via_bouncer = std::process::Command::new(
        sentinel_tests::services::postgres_bin_dir()
            .unwrap()
            .join("psql"),
    )
    .args(["-X", "-A", "-t", "-c", "select current_database()"])
    .arg(format!(
        "postgresql://postgres@127.0.0.1:{}/app",
        bouncer.port
    ))
    .output()
    .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&via_bouncer.stdout).trim(),
        "app",
        "{}",
        bouncer.log()
    );
    pg.stop_server();
    let stopped = std::process::Command::new(
        sentinel_tests::services::postgres_bin_dir()
            .unwrap()
            .join("pg_isready"),
    )
    .args(["-q", "-h", "127.0.0.1", "-p", &pg.port.to_string()])
    .status()
    .unwrap();
    assert!(
        !stopped.success(),
        "the server still answers after stop_server"
    );
    pg.start_server();
    assert_eq!(pg.psql("app", "select 1"), "1");
}

#[test]
fn redis_answers_ping() {
    let redis = EphemeralRedis::start();
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", redis.port)).unwrap();
    stream.write_all(b"PING\r\n").unwrap();
    let mut buf = [0u8; 7];
    stream.read_exact(&mut buf).unwrap();
    assert_eq!(&buf, b"+PONG\r\n");
}
