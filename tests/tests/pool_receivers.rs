//! The postgresql, pgbouncer and redis receivers against real servers, end to end: the
//! real `sentinel` binary scrapes every 300ms into the `file` exporter, and the tests
//! read the latest reported values back.

mod pool_support;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use pool_support::{agent_with, expect_value, latest, WAIT};
use sentinel_tests::services::{
    postgres_bin_dir, EphemeralPgBouncer, EphemeralPostgres, EphemeralRedis,
};
use sentinel_tests::{eventually, http_get, read_json_lines};

/// `psql` sessions killed when the test ends, pass or fail.
struct Sessions(Vec<Child>);

impl Sessions {
    /// A session that runs `input` and then stays connected, reading more input.
    fn open(&mut self, dsn: &str, input: &str) {
        let mut child = Command::new(postgres_bin_dir().unwrap().join("psql"))
            .args(["-X", "-q"])
            .arg(dsn)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("psql");
        child
            .stdin
            .as_mut()
            .unwrap()
            .write_all(input.as_bytes())
            .unwrap();
        self.0.push(child);
    }
}

impl Drop for Sessions {
    fn drop(&mut self) {
        for child in &mut self.0 {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

#[test]
fn postgresql_counts_sessions_by_state_exactly() {
    // Build the agent first: the sessions below must not age while cargo runs.
    sentinel_tests::sentinel_bin();
    let pg = EphemeralPostgres::start();
    pg.psql("postgres", "create database app");
    let dsn = format!("{}?application_name=pool-test", pg.dsn("app"));
    let (idle, active, idle_in_transaction) = (3, 2, 2);
    let mut sessions = Sessions(Vec::new());
    for _ in 0..idle {
        sessions.open(&dsn, "");
    }
    for _ in 0..active {
        sessions.open(&dsn, "select pg_sleep(30);\n");
    }
    for _ in 0..idle_in_transaction {
        sessions.open(&dsn, "begin;\nselect 1;\n");
    }

    let dir = tempfile::tempdir().unwrap();
    let receivers = format!(
        "  postgresql:\n    endpoint: 127.0.0.1:{}\n    username: postgres\n    password: ${{env:SENTINEL_TEST_UNSET_PG_PASSWORD:-}}\n    databases: [app, postgres]\n    tls:\n      insecure: true\n    collection_interval: 300ms\n",
        pg.port
    );
    let (agent, out) = agent_with(dir.path(), &receivers, "postgresql");

    let by_state = |state| {
        [
            ("db.namespace", "app"),
            ("postgresql.application.name", "pool-test"),
            ("postgresql.connection.state", state),
        ]
    };
    expect_value(
        &agent,
        &out,
        "postgresql.connection.count",
        &by_state("idle"),
        idle as f64,
    );
    expect_value(
        &agent,
        &out,
        "postgresql.connection.count",
        &by_state("active"),
        active as f64,
    );
    expect_value(
        &agent,
        &out,
        "postgresql.connection.count",
        &by_state("idle in transaction"),
        idle_in_transaction as f64,
    );
    let pool = format!("127.0.0.1:{}/app", pg.port);
    let in_pool = |state| {
        [
            ("db.client.connection.pool.name", pool.as_str()),
            ("db.client.connection.state", state),
        ]
    };
    expect_value(
        &agent,
        &out,
        "db.client.connection.count",
        &in_pool("used"),
        (active + idle_in_transaction) as f64,
    );
    expect_value(
        &agent,
        &out,
        "db.client.connection.count",
        &in_pool("idle"),
        idle as f64,
    );
    // The receiver's own session (in `postgres`) is not counted.
    let own_pool = format!("127.0.0.1:{}/postgres", pg.port);
    expect_value(
        &agent,
        &out,
        "db.client.connection.count",
        &[
            ("db.client.connection.pool.name", own_pool.as_str()),
            ("db.client.connection.state", "used"),
        ],
        0.0,
    );
    expect_value(&agent, &out, "postgresql.connection.max", &[], 200.0);
    expect_value(&agent, &out, "postgresql.up", &[], 1.0);
    let app = [("db.namespace", "app")];
    let ages = eventually(WAIT, || {
        latest(&out, "postgresql.transaction.longest_age", &app).is_some_and(|s| s >= 1.0)
            && latest(&out, "postgresql.query.longest_age", &app).is_some_and(|s| s >= 1.0)
    });
    assert!(ages, "oldest transaction and query ages grow past 1s");
    assert!(latest(&out, "postgresql.db_size", &app).is_some_and(|b| b > 1_000_000.0));
    assert!(latest(&out, "postgresql.commits", &app).is_some_and(|c| c >= 1.0));
    assert!(latest(&out, "postgresql.rollbacks", &app).is_some());
    assert_eq!(latest(&out, "postgresql.deadlocks", &app), Some(0.0));
    assert!(http_get(agent.admin_port, "/readyz").is_some_and(|(s, _)| s == 200));
}

#[test]
fn pgbouncer_reports_waiting_clients_and_growing_maxwait() {
    // Build the agent first: waiting clients give up after query_wait_timeout (120s).
    sentinel_tests::sentinel_bin();
    let pg = EphemeralPostgres::start();
    pg.psql("postgres", "create database app");
    let bouncer = EphemeralPgBouncer::start(pg.port, &["app"], 1, "session");
    let dsn = format!("postgresql://postgres@127.0.0.1:{}/app", bouncer.port);
    let mut sessions = Sessions(Vec::new());
    // Session mode with pool_size=1: the first client keeps the only server connection.
    sessions.open(&dsn, "select 1;\n");
    std::thread::sleep(Duration::from_millis(500));
    sessions.open(&dsn, "select 2;\n");
    sessions.open(&dsn, "select 3;\n");

    let dir = tempfile::tempdir().unwrap();
    let receivers = format!(
        "  pgbouncer:\n    endpoint: 127.0.0.1:{}\n    username: postgres\n    databases: [app]\n    tls:\n      insecure: true\n    collection_interval: 300ms\n",
        bouncer.port
    );
    let (agent, out) = agent_with(dir.path(), &receivers, "pgbouncer");
    let pool = [("db.client.connection.pool.name", "app/postgres")];
    expect_value(&agent, &out, "pgbouncer.pool.client.waiting", &pool, 2.0);
    expect_value(
        &agent,
        &out,
        "db.client.connection.pending_requests",
        &pool,
        2.0,
    );
    expect_value(
        &agent,
        &out,
        "db.client.connection.count",
        &[pool[0], ("db.client.connection.state", "used")],
        1.0,
    );
    expect_value(&agent, &out, "db.client.connection.max", &pool, 1.0);
    expect_value(&agent, &out, "pgbouncer.up", &[], 1.0);
    let first = latest(&out, "pgbouncer.pool.maxwait", &pool).expect("maxwait reported");
    let grew = eventually(WAIT, || {
        latest(&out, "pgbouncer.pool.maxwait", &pool).is_some_and(|later| later >= first + 1.0)
    });
    assert!(
        grew,
        "maxwait grows from {first}: {:?}\n{}",
        latest(&out, "pgbouncer.pool.maxwait", &pool),
        bouncer.log()
    );
    assert!(latest(&out, "pgbouncer.stats.queries", &[("db.namespace", "app")]).is_some());
}

fn redis_command(stream: &mut TcpStream, command: &str) -> String {
    stream
        .write_all(format!("{command}\r\n").as_bytes())
        .unwrap();
    let mut buf = [0u8; 256];
    let n = stream.read(&mut buf).unwrap();
    String::from_utf8_lossy(&buf[..n]).into_owned()
}

#[test]
fn redis_reports_clients_hits_and_misses() {
    let redis = EphemeralRedis::start();
    let clients = 5;
    let mut streams: Vec<TcpStream> = (0..clients)
        .map(|_| TcpStream::connect(("127.0.0.1", redis.port)).unwrap())
        .collect();
    for stream in &mut streams {
        assert_eq!(redis_command(stream, "PING"), "+PONG\r\n");
    }
    let script = &mut streams[0];
    assert_eq!(redis_command(script, "SET k1 v"), "+OK\r\n");
    for (command, hit) in [
        ("GET k1", true),
        ("GET k1", true),
        ("GET nope1", false),
        ("GET nope2", false),
        ("GET nope3", false),
    ] {
        let reply = redis_command(script, command);
        assert_eq!(reply.starts_with("$-1"), !hit, "{command}: {reply}");
    }

    let dir = tempfile::tempdir().unwrap();
    let receivers = format!(
        "  redis:\n    endpoint: 127.0.0.1:{}\n    password: ${{env:SENTINEL_TEST_UNSET_REDIS_PASSWORD:-}}\n    tls:\n      insecure: true\n    collection_interval: 300ms\n",
        redis.port
    );
    let (agent, out) = agent_with(dir.path(), &receivers, "redis");
    // The receiver's own connection is one of the connected clients.
    expect_value(
        &agent,
        &out,
        "redis.clients.connected",
        &[],
        (clients + 1) as f64,
    );
    let pool = format!("127.0.0.1:{}", redis.port);
    expect_value(
        &agent,
        &out,
        "db.client.connection.count",
        &[
            ("db.client.connection.pool.name", pool.as_str()),
            ("db.client.connection.state", "used"),
        ],
        (clients + 1) as f64,
    );
    expect_value(&agent, &out, "redis.keyspace.hits", &[], 2.0);
    expect_value(&agent, &out, "redis.keyspace.misses", &[], 3.0);
    expect_value(&agent, &out, "redis.clients.blocked", &[], 0.0);
    expect_value(&agent, &out, "redis.up", &[], 1.0);
    let max = latest(&out, "redis.clients.max", &[]).expect("maxclients");
    assert!(max >= 1.0);
    assert_eq!(
        latest(
            &out,
            "db.client.connection.max",
            &[("db.client.connection.pool.name", pool.as_str())]
        ),
        Some(max)
    );
    assert!(latest(&out, "redis.memory.used", &[]).is_some_and(|b| b > 0.0));
    assert!(latest(&out, "redis.maxmemory", &[]).is_some());
    drop(streams);
    expect_value(&agent, &out, "redis.clients.connected", &[], 1.0);
}

#[test]
fn down_targets_report_up_zero_log_once_and_keep_the_agent_healthy() {
    let closed = || {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let (pg, bouncer, redis) = (closed(), closed(), closed());
    let dir = tempfile::tempdir().unwrap();
    let receivers = format!(
        "  postgresql:\n    endpoint: 127.0.0.1:{pg}\n    tls: {{insecure: true}}\n    collection_interval: 200ms\n  pgbouncer:\n    endpoint: 127.0.0.1:{bouncer}\n    tls: {{insecure: true}}\n    collection_interval: 200ms\n  redis:\n    endpoint: 127.0.0.1:{redis}\n    tls: {{insecure: true}}\n    collection_interval: 200ms\n"
    );
    let (agent, out) = agent_with(dir.path(), &receivers, "postgresql, pgbouncer, redis");
    for up in ["postgresql.up", "pgbouncer.up", "redis.up"] {
        expect_value(&agent, &out, up, &[], 0.0);
    }
    // Several more failed scrapes: still one warning per receiver.
    std::thread::sleep(Duration::from_secs(2));
    let ups = read_json_lines(&out).len();
    assert!(ups >= 15, "every receiver keeps scraping: {ups} exports");
    assert_eq!(
        agent.log().matches("scrape failed").count(),
        3,
        "{}",
        agent.log()
    );
    assert!(http_get(agent.admin_port, "/readyz").is_some_and(|(s, _)| s == 200));
    let status = agent.terminate(Duration::from_secs(10));
    assert!(status.success(), "clean shutdown: {status}");
}

#[test]
fn passwords_come_from_the_environment_and_print_config_redacts_them() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("pools.yaml");
    std::fs::write(
        &file,
        "receivers:\n  postgresql:\n    password: ${env:SENTINEL_TEST_PG_PASSWORD}\n  pgbouncer:\n    password: ${env:SENTINEL_TEST_PG_PASSWORD}\n  redis:\n    password: ${env:SENTINEL_TEST_PG_PASSWORD}\nexporters:\n  debug:\nservice:\n  pipelines:\n    metrics:\n      receivers: [postgresql, pgbouncer, redis]\n      exporters: [debug]\n",
    )
    .unwrap();
    let output = Command::new(sentinel_tests::sentinel_bin())
        .args(["print-config", "--config"])
        .arg(&file)
        .env("SENTINEL_TEST_PG_PASSWORD", "s3cret-value")
        .output()
        .unwrap();
    let printed = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(!printed.contains("s3cret-value"), "{printed}");
    assert_eq!(
        printed.matches("password: \"[redacted]\"").count(),
        3,
        "{printed}"
    );
}
