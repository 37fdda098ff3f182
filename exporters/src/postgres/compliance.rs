use sentinel_pipeline::testing::ExporterCompliance;
use sentinel_pipeline::Signal;

use sentinel_tests::services::EphemeralPostgres;

use super::PostgresFactory;
use crate::sending::compliance::start_for_compliance;

/// Rows in the view of `signal` in `schema` (one per span, log record or metric point).
async fn rows_in(dsn: String, schema: &str, signal: Signal) -> u64 {
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
        .query_one(&format!("SELECT count(*) FROM {schema}.{view}"), &[])
        .await
        .expect("count the rows");
    row.get::<_, i64>(0) as u64
}

#[tokio::test]
async fn postgres_meets_the_exporter_contract() {
    let server = EphemeralPostgres::start();
    // One writer, and two that write concurrently; each in a schema of its own.
    for connections in [1, 2] {
        let schema = format!("compliance_{connections}");
        for signal in Signal::ALL {
            let dsn = server.dsn("postgres");
            let config = format!(
                "dsn: {dsn}\nsslmode: disable\nschema: {schema}\nconnections: {connections}\n"
            );
            let schema = schema.clone();
            ExporterCompliance::new(&PostgresFactory, &config, signal, start_for_compliance)
                .delivered_items(Box::new(move || {
                    let (dsn, schema) = (dsn.clone(), schema.clone());
                    Box::pin(async move { rows_in(dsn, &schema, signal).await })
                }))
                .run()
                .await;
        }
    }
}
