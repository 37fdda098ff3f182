//! Exactly-once into PostgreSQL across SIGKILL, a replayed queue and a 60 s database
//! outage, plus retention: real agent, real PostgreSQL, real kill -9.

mod postgres_support;

use std::collections::HashSet;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use postgres_support::{count, sentinel, wait_for_count, Pg, PgAgent};
use sentinel_tests::services::EphemeralPostgres;
use sentinel_tests::{eventually, loadgen_bin};

fn loadgen(grpc: u16, rate: u64, seconds: f64, start_seq: u64, ack_log: &Path) -> Child {
    Command::new(loadgen_bin())
        .args(["--endpoint", &format!("http://127.0.0.1:{grpc}")])
        .args([
            "--rate",
            &rate.to_string(),
            "--duration",
            &seconds.to_string(),
        ])
        .args([
            "--spans-per-request",
            "10",
            "--start-seq",
            &start_seq.to_string(),
        ])
        .arg("--ack-log")
        .arg(ack_log)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start loadgen")
}

fn acknowledged(ack_log: &Path) -> Vec<u64> {
    std::fs::read_to_string(ack_log)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| {
            let mut parts = l.split_whitespace();
            Some((
                parts.next()?.parse::<u64>().ok()?,
                parts.next()?.parse::<u64>().ok()?,
            ))
        })
        .flat_map(|(first, n)| first..first + n)
        .collect()
}

fn summary(child: Child) -> serde_json::Value {
    let out = child.wait_with_output().expect("loadgen ends");
    let text = String::from_utf8_lossy(&out.stdout);
    serde_json::from_str(text.lines().last().unwrap_or("{}")).unwrap_or_default()
}

/// Every acknowledged span is stored, and no span is stored twice.
fn assert_exactly_once(pg: &EphemeralPostgres, acked: &[u64], within: Duration) {
    let stored = || -> HashSet<u64> {
        pg.psql(
            "postgres",
            "SELECT attributes->>'load.seq' FROM sentinel.spans",
        )
        .lines()
        .filter_map(|l| l.parse().ok())
        .collect()
    };
    let complete = eventually(within, || {
        let stored = stored();
        acked.iter().all(|s| stored.contains(s))
    });
    let have = stored();
    let missing: Vec<&u64> = acked.iter().filter(|s| !have.contains(s)).collect();
    assert!(
        complete,
        "{} of {} acknowledged spans missing, e.g. {:?}",
        missing.len(),
        acked.len(),
        &missing[..missing.len().min(10)]
    );
    let duplicates = count(
        pg,
        "SELECT count(*) FROM (SELECT attributes->>'load.seq' FROM sentinel.spans GROUP BY 1 HAVING count(*) > 1) d",
    );
    assert_eq!(duplicates, 0, "spans stored more than once");
}

#[test]
fn kill_9_while_streaming_then_restart_stores_every_acknowledged_span_exactly_once() {
    let pg = Pg::start();
    let dir = tempfile::tempdir().unwrap();
    let setup = PgAgent::new(dir.path(), &pg);
    let ack_log = dir.path().join("acks.txt");
    let mut agent = setup.start(dir.path(), "agent");
    let client = loadgen(setup.grpc, 2_000, 12.0, 0, &ack_log);
    let mut rng = 0x2545f4914f6cdd1du64;
    for _ in 0..4 {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        std::thread::sleep(Duration::from_millis(600 + rng % 1500));
        agent.kill9();
        agent = setup.start(dir.path(), "agent");
    }
    let summary = summary(client);
    let acked = acknowledged(&ack_log);
    assert!(acked.len() > 5_000, "acks between kills: {summary}");
    assert_exactly_once(&pg, &acked, Duration::from_secs(60));
    eprintln!(
        "kill -9 x4: {} acknowledged, {} stored, duplicates skipped by the ledger after the last restart: {:?}",
        acked.len(),
        count(&pg, "SELECT count(*) FROM sentinel.spans"),
        agent.metric_value("sentinel_postgres_duplicate_records_skipped_total", &[])
    );
    assert!(agent.terminate(Duration::from_secs(15)).success());
}

/// The worst case for exactly-once, made deterministic: the records were committed but
/// the queue never learnt it (a copy of the queue taken before delivery is put back), so
/// every record is delivered again. The ledger must turn all of them into no-ops.
#[test]
fn a_queue_replayed_after_commit_adds_nothing() {
    let mut pg = Pg::start();
    let dir = tempfile::tempdir().unwrap();
    let setup = PgAgent::new(dir.path(), &pg);
    sentinel(
        &["db", "migrate", "--config", &{
            let path = dir.path().join("migrate.yaml");
            std::fs::write(&path, setup.config()).unwrap();
            path.display().to_string()
        }],
        &[],
    );
    pg.stop();
    let agent = setup.start(dir.path(), "agent");
    let ack_log = dir.path().join("acks.txt");
    summary(loadgen(setup.grpc, 1_000, 2.0, 0, &ack_log));
    let acked = acknowledged(&ack_log);
    assert!(acked.len() >= 1_000);
    agent.kill9();
    let backup = dir.path().join("queue-backup");
    copy_dir(&setup.queue_dir, &backup);

    pg.start_again();
    let agent = setup.start(dir.path(), "agent");
    assert_exactly_once(&pg, &acked, Duration::from_secs(30));
    let stored = count(&pg, "SELECT count(*) FROM sentinel.spans");
    assert!(agent.terminate(Duration::from_secs(15)).success());

    std::fs::remove_dir_all(&setup.queue_dir).unwrap();
    copy_dir(&backup, &setup.queue_dir);
    let agent = setup.start(dir.path(), "agent");
    let records = (acked.len() / 10) as f64;
    let skipped = eventually(Duration::from_secs(30), || {
        agent.metric_value("sentinel_postgres_duplicate_records_skipped_total", &[])
            >= Some(records)
    });
    assert!(
        skipped,
        "replay not skipped:\n{}\n{}",
        agent.metrics(),
        agent.log()
    );
    assert_eq!(count(&pg, "SELECT count(*) FROM sentinel.spans"), stored);
    assert_exactly_once(&pg, &acked, Duration::from_secs(1));
    assert!(agent.terminate(Duration::from_secs(15)).success());
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        if entry.file_type().unwrap().is_file() {
            std::fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
        }
    }
}

#[test]
fn postgres_down_60s_under_load_then_everything_arrives_exactly_once() {
    let mut pg = Pg::start();
    let dir = tempfile::tempdir().unwrap();
    let setup = PgAgent::new(dir.path(), &pg);
    let agent = setup.start(dir.path(), "agent");
    let ack_log = dir.path().join("acks.txt");
    let started = Instant::now();
    let client = loadgen(setup.grpc, 1_000, 70.0, 0, &ack_log);
    std::thread::sleep(Duration::from_secs(3));
    pg.stop();
    std::thread::sleep(Duration::from_secs(63).saturating_sub(started.elapsed()));
    pg.start_again();
    let summary = summary(client);
    let acked = acknowledged(&ack_log);
    assert!(
        acked.len() > 30_000,
        "the agent kept acknowledging during the outage: {summary}"
    );
    assert_exactly_once(&pg, &acked, Duration::from_secs(90));
    assert!(
        eventually(Duration::from_secs(20), || {
            agent.metric_value(
                "sentinel_component_queue_size",
                &["component_id=\"postgres\""],
            ) == Some(0.0)
        }),
        "queue did not drain:\n{}",
        agent.metrics()
    );
    assert_eq!(
        agent
            .metric_value("sentinel_queue_dead_lettered_total", &[])
            .unwrap_or(0.0),
        0.0,
        "an outage must never dead-letter data"
    );
    assert!(agent.terminate(Duration::from_secs(15)).success());
}

#[test]
fn retention_drops_backdated_partitions_and_tomorrow_exists() {
    let pg = Pg::start();
    let dir = tempfile::tempdir().unwrap();
    let mut setup = PgAgent::new(dir.path(), &pg);
    setup.extra =
        "    retention: 2d\n    partitions_ahead: 2\n    maintenance_interval: 1s\n".into();
    let config = dir.path().join("pg.yaml");
    std::fs::write(&config, setup.config()).unwrap();
    let out = sentinel(
        &["db", "migrate", "--config", &config.display().to_string()],
        &[],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for table in ["spans", "logs", "metric_points"] {
        pg.psql(
            "postgres",
            &format!(
                "CREATE TABLE sentinel.{table}_p20200101 PARTITION OF sentinel.{table} \
                 FOR VALUES FROM ('2020-01-01 00:00:00+00') TO ('2020-01-02 00:00:00+00')"
            ),
        );
    }
    pg.psql(
        "postgres",
        "INSERT INTO sentinel.logs (ts, service_name, severity_number, flags, attributes, resource_attributes) \
         VALUES ('2020-01-01 12:00:00+00', 'old', 9, 0, '{}', '{}')",
    );
    pg.psql(
        "postgres",
        "INSERT INTO sentinel.batch_ledger (queue_id, seq, committed_at) \
         VALUES (gen_random_uuid(), 1, now() - interval '10 days')",
    );
    assert_eq!(count(&pg, "SELECT count(*) FROM sentinel.logs"), 1);

    let agent = setup.start(dir.path(), "agent");
    let dropped = eventually(Duration::from_secs(15), || {
        count(
            &pg,
            "SELECT count(*) FROM pg_class WHERE relname LIKE '%_p20200101'",
        ) == 0
    });
    assert!(
        dropped,
        "backdated partitions not dropped:\n{}",
        agent.log()
    );
    assert_eq!(count(&pg, "SELECT count(*) FROM sentinel.logs"), 0);
    assert_eq!(
        count(&pg, "SELECT count(*) FROM sentinel.batch_ledger"),
        0,
        "old ledger rows pruned"
    );
    let day = |offset: i32| {
        pg.psql(
            "postgres",
            &format!("SELECT to_char((now() AT TIME ZONE 'UTC')::date + {offset}, 'YYYYMMDD')"),
        )
    };
    for table in [
        "spans",
        "logs",
        "metric_points",
        "metric_histograms",
        "metric_other",
    ] {
        for offset in [-2, 0, 1, 2] {
            let name = format!("{table}_p{}", day(offset));
            assert!(postgres_support::table_exists(&pg, &name), "{name} missing");
        }
        let too_old = format!("{table}_p{}", day(-3));
        assert!(
            !postgres_support::table_exists(&pg, &too_old),
            "{too_old} kept"
        );
        assert_eq!(
            count(&pg, &format!("SELECT count(*) FROM pg_inherits WHERE inhparent = 'sentinel.{table}'::regclass")),
            5,
            "{table}: today-2 .. today+2"
        );
    }
    // Data still flows after maintenance.
    let ack_log = dir.path().join("acks.txt");
    summary(loadgen(setup.grpc, 100, 0.5, 0, &ack_log));
    wait_for_count(
        &pg,
        "SELECT count(*) FROM sentinel.spans",
        1,
        Duration::from_secs(20),
    );
    assert!(agent.terminate(Duration::from_secs(15)).success());
}
