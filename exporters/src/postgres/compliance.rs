use sentinel_pipeline::testing::ExporterCompliance;
use sentinel_pipeline::Signal;

use super::test_server::TestServer;
use super::PostgresFactory;
use crate::sending::compliance::start_for_compliance;

/// Rows in the view of `signal` (one per span, log record or metric point).
async fn rows_in(dsn: String, signal: Signal) -> u64 {
    let (client, connection) = tokio_postgres::connect(&dsn, tokio_postgres::NoTls)
        .await
        .expect("connect to the test server");
    tokio::spawn(connection);
    let view = match signal {
        Signal::Traces => "otel_spans",
        Signal::Metrics => "otel_metrics",
        Signal::Logs => "otel_logs",
    };
    let row = client
        .query_one(&format!("SELECT count(*) FROM sentinel.{view}"), &[])
        .await
        .expect("count the rows");
    row.get::<_, i64>(0) as u64
}

#[tokio::test]
async fn postgres_meets_the_exporter_contract() {
    let server = TestServer::start();
    for signal in Signal::ALL {
        let dsn = server.dsn();
        let config = format!("dsn: {dsn}\nsslmode: disable\n");
        ExporterCompliance::new(&PostgresFactory, &config, signal, start_for_compliance)
            .delivered_items(Box::new(move || Box::pin(rows_in(dsn.clone(), signal))))
            .run()
            .await;
    }
}
