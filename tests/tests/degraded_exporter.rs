//! An exporter that cannot authenticate (a wrong PostgreSQL password) does not look healthy:
//! `/readyz` names it as degraded with the server's reason, the failure is logged once and
//! then summarised rather than once per retry, and shutdown says what is left on disk.

mod postgres_support;

use std::time::Duration;

use postgres_support::{Pg, PgAgent};
use sentinel_tests::{eventually, free_port, http_get, http_post_json, Agent};

#[test]
fn a_wrong_password_shows_as_degraded_and_shutdown_names_what_is_left() {
    let dir = tempfile::tempdir().unwrap();
    let pg = Pg::start();
    pg.require_password("sentinel", "right");
    let mut setup = PgAgent::new(dir.path(), &pg);
    setup.dsn = format!("postgresql://sentinel:wrong@127.0.0.1:{}/postgres", pg.port);
    let http = free_port();
    let config = setup.config().replace(
        "      grpc:\n",
        &format!("      http:\n        endpoint: 127.0.0.1:{http}\n      grpc:\n"),
    );
    let agent = Agent::start(dir.path(), "agent", &config, setup.admin);
    for name in ["a", "b", "c"] {
        let span = format!(
            r#"{{"resourceSpans":[{{"scopeSpans":[{{"spans":[{{"traceId":"5b8efff798038103d269b633813fc60c","spanId":"eee19b7ec3c1b17{}","name":"{name}"}}]}}]}}]}}"#,
            name.len()
        );
        assert_eq!(
            http_post_json(http, "/v1/traces", &span).0,
            200,
            "queued on disk and acknowledged"
        );
    }
    let readyz = || http_get(setup.admin, "/readyz").unwrap_or_default();
    assert!(
        eventually(Duration::from_secs(30), || {
            let (status, body) = readyz();
            status == 200
                && body.starts_with("degraded")
                && body.contains("exporter postgres is degraded")
        }),
        "readyz: {:?}\nlog:\n{}",
        readyz(),
        agent.log()
    );
    assert!(
        readyz().1.contains("password authentication failed"),
        "{:?}",
        readyz()
    );
    std::thread::sleep(Duration::from_secs(3)); // several retries with the test's fast backoff
    let log = agent.log();
    assert_eq!(
        log.matches("Export failed; retrying").count(),
        1,
        "logged once per streak:\n{log}"
    );

    assert!(agent.terminate(Duration::from_secs(20)).success());
    let log = std::fs::read_to_string(dir.path().join("agent.log")).unwrap();
    assert!(
        log.contains("Data left in the disk queue at shutdown") && log.contains("items=3"),
        "{log}"
    );
}
