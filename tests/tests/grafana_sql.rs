//! Every panel of every dashboard in deploy/grafana/dashboards/ runs against a real
//! PostgreSQL that the real agent filled: OpenTelemetry SDK traces (errors, a GenAI call,
//! span events), metrics (connection pools) and logs (one in a trace, a `sentinel.alert`
//! record), Claude Code hook events over HTTP, and the agent's own `hostmetrics` and
//! `postgresql` receivers. Each query is expanded with Grafana's macros and template
//! variables (grafana_support), must return rows, and must have the columns (names and
//! types) its panel type needs.

mod grafana_support;
mod postgres_support;

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use grafana_support::{expand, traffic, Interval, TimeRange, VarValue};
use postgres_support::{wait_for_count, Pg};
use sentinel_tests::{free_port, workspace_root, Agent};
use serde_json::Value;
use tokio_postgres::types::Type;

const INTERVAL: Interval = Interval {
    text: "5s",
    ms: 5000,
};

fn config(pg: &Pg, grpc: u16, hooks: u16, admin: u16, dir: &Path) -> String {
    format!(
        r#"receivers:
  otlp:
    protocols:
      grpc:
        endpoint: 127.0.0.1:{grpc}
  hooks:
    endpoint: 127.0.0.1:{hooks}
    spool_path: ""
  hostmetrics:
    collection_interval: 1s
    root_path: /
    scrapers:
      cpu:
        metrics:
          system.cpu.utilization: {{ enabled: true }}
      memory:
        metrics:
          system.memory.utilization: {{ enabled: true }}
      filesystem:
        metrics:
          system.filesystem.utilization: {{ enabled: true }}
      load:
      network:
  postgresql:
    endpoint: 127.0.0.1:{pg_port}
    username: postgres
    tls:
      insecure: true
    collection_interval: 1s
processors:
  llm_cost:
  resource:
    attributes:
      - key: host.name
        value: grafana-test-host
        action: upsert
connectors:
  llm_cost:
  hook_metrics:
exporters:
  postgres:
    dsn: {dsn}
    sslmode: disable
    sending_queue:
      type: disk
      directory: {queue}
      fsync:
        interval: 10ms
service:
  shutdown_timeout: 5s
  telemetry:
    metrics:
      address: 127.0.0.1:{admin}
  pipelines:
    traces:
      receivers: [otlp]
      processors: [llm_cost]
      exporters: [postgres, llm_cost]
    metrics:
      receivers: [otlp, llm_cost, hook_metrics, postgresql]
      exporters: [postgres]
    metrics/host:
      receivers: [hostmetrics]
      processors: [resource]
      exporters: [postgres]
    logs:
      receivers: [otlp, hooks]
      exporters: [postgres, hook_metrics]
"#,
        pg_port = pg.port,
        dsn = pg.dsn("postgres"),
        queue = dir.join("queue").display(),
    )
}

/// Waits until the agent has written what every panel needs.
fn wait_for_data(pg: &Pg) {
    let within = Duration::from_secs(60);
    let series = |name: &str| {
        format!("SELECT count(*) FROM sentinel.metric_points p JOIN sentinel.metric_series s USING (series_id) WHERE s.metric_name = '{name}'")
    };
    let checks = [
        ("SELECT count(*) FROM sentinel.spans".to_string(), 7),
        ("SELECT count(*) FROM sentinel.logs WHERE event_name = 'sentinel.alert'".into(), 2),
        ("SELECT count(*) FROM sentinel.logs WHERE trace_id IS NOT NULL".into(), 1),
        ("SELECT count(*) FROM sentinel.logs WHERE event_name LIKE 'claude_code.hook.%'".into(), 5),
        (series("sentinel.llm.cost"), 1),
        (series("sentinel.llm.unpriced"), 1),
        (series("sentinel.hook.tool_calls"), 2),
        (series("sentinel.hook.blocked"), 1),
        (series("sentinel.hook.sessions"), 1),
        (series("db.client.connection.count"), 2),
        (series("postgresql.backends"), 1),
        (series("postgresql.up"), 1),
        (series("system.cpu.utilization"), 1),
        // Rates need two scrapes of every interface.
        ("SELECT coalesce(min(n), 0) FROM (SELECT count(*) AS n FROM sentinel.metric_points p JOIN sentinel.metric_series s USING (series_id) WHERE s.metric_name = 'system.network.io' GROUP BY series_id) c".into(), 3),
    ];
    for (sql, want) in checks {
        let got = wait_for_count(pg, &sql, want, within);
        assert!(got >= want, "{sql}: {got} < {want}\n{}", pg.log());
    }
}

/// Column names and PostgreSQL types of a query, and its rows as JSON, in order.
struct Frame {
    columns: Vec<(String, Type)>,
    rows: Vec<Value>,
}

fn run(rt: &tokio::runtime::Runtime, client: &tokio_postgres::Client, sql: &str) -> Frame {
    rt.block_on(async {
        let statement = client
            .prepare(sql)
            .await
            .unwrap_or_else(|e| panic!("query does not prepare: {e:?}\n{sql}"));
        let columns = statement
            .columns()
            .iter()
            .map(|c| (c.name().to_string(), c.type_().clone()))
            .collect();
        let wrapped = format!("SELECT row_to_json(q)::text FROM ({sql}) q");
        let rows = client
            .query(&wrapped, &[])
            .await
            .unwrap_or_else(|e| panic!("query fails: {e:?}\n{sql}"))
            .iter()
            .map(|r| serde_json::from_str(r.get::<_, &str>(0)).unwrap())
            .collect();
        Frame { columns, rows }
    })
}

fn is_number(t: &Type) -> bool {
    [
        Type::INT2,
        Type::INT4,
        Type::INT8,
        Type::FLOAT4,
        Type::FLOAT8,
        Type::NUMERIC,
    ]
    .contains(t)
}

/// A time-series frame: a `time` column (timestamp or epoch number), string columns as
/// labels, at least one numeric value column, rows sorted by time.
fn check_time_series(title: &str, r: &Frame) {
    let (name, ty) = &r.columns[0];
    assert!(
        name == "time" && (*ty == Type::TIMESTAMPTZ || is_number(ty)),
        "{title}: first column must be time, is {name} {ty}"
    );
    for (name, ty) in &r.columns[1..] {
        assert!(
            is_number(ty) || *ty == Type::TEXT,
            "{title}: column {name} is {ty}"
        );
    }
    assert!(
        r.columns[1..].iter().any(|(_, t)| is_number(t)),
        "{title}: no value column"
    );
    let times: Vec<String> = r.rows.iter().map(|row| row["time"].to_string()).collect();
    let numeric = r.columns[0].1 != Type::TIMESTAMPTZ;
    let key = |t: &String| -> (f64, String) {
        if numeric {
            (t.parse().unwrap(), String::new())
        } else {
            (0.0, t.clone())
        }
    };
    assert!(
        times
            .windows(2)
            .all(|w| key(&w[0]).partial_cmp(&key(&w[1])) != Some(std::cmp::Ordering::Greater)),
        "{title}: rows not sorted by time: {times:?}"
    );
}

/// Grafana's trace data frame (TraceSpanRow) field names and types.
fn check_trace(title: &str, r: &Frame) {
    let want: &[(&str, &[Type])] = &[
        ("traceID", &[Type::TEXT]),
        ("spanID", &[Type::TEXT]),
        ("parentSpanID", &[Type::TEXT]),
        ("operationName", &[Type::TEXT]),
        ("serviceName", &[Type::TEXT]),
        ("serviceTags", &[Type::JSONB]),
        ("startTime", &[Type::NUMERIC, Type::FLOAT8]),
        ("duration", &[Type::NUMERIC, Type::FLOAT8]),
        ("tags", &[Type::JSONB]),
        ("logs", &[Type::JSONB]),
    ];
    for (name, types) in want {
        let found = r.columns.iter().find(|(n, _)| n == name);
        assert!(
            found.is_some_and(|(_, t)| types.contains(t)),
            "{title}: column {name} missing or of the wrong type: {:?}",
            r.columns
        );
    }
    let trace: Vec<&Value> = r.rows.iter().map(|row| &row["traceID"]).collect();
    assert!(
        trace.iter().all(|t| *t == trace[0]),
        "{title}: spans of several traces"
    );
    let roots = r.rows.iter().filter(|row| row["parentSpanID"].is_null());
    assert_eq!(roots.count(), 1, "{title}: one root span: {:?}", r.rows);
    for row in &r.rows {
        assert_eq!(row["spanID"].as_str().unwrap().len(), 16, "{row}");
        assert!(row["tags"]
            .as_array()
            .unwrap()
            .iter()
            .all(|t| t["key"].is_string()));
    }
}

/// The columns of each table and stat panel, by title.
fn table_columns(title: &str) -> &'static [&'static str] {
    match title {
        "Operations" => &["service", "operation", "calls", "errors", "p95 ms"],
        "Recent errors" => &[
            "time",
            "service",
            "operation",
            "trace ID",
            "message",
            "duration ms",
        ],
        "Traces (root spans)" => &[
            "time",
            "trace ID",
            "service",
            "root operation",
            "duration ms",
            "status",
            "spans",
        ],
        "Logs of the trace" => &["time", "service", "severity", "event", "body", "span ID"],
        "Targets" => &["check", "service", "last seen", "up"],
        "Cost by session" => &["session", "models", "first", "last", "USD"],
        "Tool calls by tool" => &["tool", "success", "failure", "blocked"],
        "Sessions" => &[
            "session",
            "first event",
            "last event",
            "events",
            "tool requests",
            "denied",
            "cwd",
        ],
        "Denied tool calls" => &["time", "session", "tool", "rule", "event"],
        "Firing now (latest state per alert)" => &[
            "alert",
            "state",
            "severity",
            "since",
            "labels",
            "summary",
            "value",
            "fingerprint",
        ],
        "State changes" => &[
            "time",
            "alert",
            "state",
            "severity",
            "labels",
            "summary",
            "value",
            "group",
            "fingerprint",
        ],
        other => panic!("no expected columns for table panel {other:?}: add them here"),
    }
}

fn check_panel(panel: &Value, r: &Frame) {
    let title = panel["title"].as_str().unwrap();
    let kind = panel["type"].as_str().unwrap();
    assert!(!r.rows.is_empty(), "{title}: no rows");
    let names: Vec<&str> = r.columns.iter().map(|(n, _)| n.as_str()).collect();
    match kind {
        "timeseries" => check_time_series(title, r),
        "traces" => check_trace(title, r),
        "stat" => {
            assert_eq!(r.rows.len(), 1, "{title}");
            assert!(
                r.columns.len() == 1 && is_number(&r.columns[0].1),
                "{title}: {names:?}"
            );
            assert!(
                r.rows[0][names[0]].as_f64().unwrap() > 0.0,
                "{title}: {:?}",
                r.rows
            );
        }
        "table" => assert_eq!(names, table_columns(title), "{title}"),
        other => panic!("{title}: panel type {other} is not checked"),
    }
}

/// The dashboard's variables: query variables take all their options (Grafana's "All"),
/// textboxes their default; `overrides` replace single values.
fn variables(
    dashboard: &Value,
    run_sql: &dyn Fn(&str) -> Frame,
    range: TimeRange,
    overrides: &[(&str, &str)],
) -> BTreeMap<String, VarValue> {
    let mut vars = BTreeMap::new();
    for var in dashboard["templating"]["list"].as_array().unwrap() {
        let name = var["name"].as_str().unwrap().to_string();
        let value = match var["type"].as_str().unwrap() {
            "query" => {
                let sql = expand(var["query"].as_str().unwrap(), &vars, range, INTERVAL).unwrap();
                let r = run_sql(&sql);
                let options: Vec<String> = r
                    .rows
                    .iter()
                    .filter_map(|row| row[&r.columns[0].0].as_str().map(str::to_string))
                    .collect();
                assert!(
                    !options.is_empty(),
                    "variable {name} has no options:\n{sql}"
                );
                VarValue::Multi(options)
            }
            "textbox" => VarValue::Single(var["query"].as_str().unwrap().to_string()),
            other => panic!("variable type {other}"),
        };
        vars.insert(name, value);
    }
    for (name, value) in overrides {
        vars.insert(name.to_string(), VarValue::Single(value.to_string()));
    }
    vars
}

/// The committed JSON is what deploy/grafana/build_dashboards.py writes.
fn assert_generated(dashboards_dir: &Path) {
    let out = tempfile::tempdir().unwrap();
    let status = std::process::Command::new("python3")
        .arg(workspace_root().join("deploy/grafana/build_dashboards.py"))
        .arg(out.path())
        .stdout(std::process::Stdio::null())
        .status()
        .expect("python3 is installed by the test command");
    assert!(status.success());
    for entry in std::fs::read_dir(out.path()).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap();
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            std::fs::read_to_string(dashboards_dir.join(name)).unwrap_or_default(),
            "deploy/grafana/dashboards/{name:?} differs from build_dashboards.py's output: rerun it"
        );
    }
}

#[test]
fn every_dashboard_panel_query_runs_on_agent_written_data() {
    let pg = Pg::start();
    let dir = tempfile::tempdir().unwrap();
    let (grpc, hooks, admin) = (free_port(), free_port(), free_port());
    let agent = Agent::start(
        dir.path(),
        "agent",
        &config(&pg, grpc, hooks, admin, dir.path()),
        admin,
    );
    let sent = traffic::send(grpc, hooks);
    wait_for_data(&pg);

    let rt = tokio::runtime::Runtime::new().unwrap();
    let (client, connection) = rt
        .block_on(tokio_postgres::connect(
            &format!(
                "host=127.0.0.1 port={} user=postgres dbname=postgres",
                pg.port
            ),
            tokio_postgres::NoTls,
        ))
        .unwrap();
    rt.spawn(connection);
    let run_sql = |sql: &str| run(&rt, &client, sql);
    let now_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let range = TimeRange {
        from_ms: now_ms - 3_600_000,
        to_ms: now_ms + 60_000,
    };

    // The panels name the data source by the uid the provisioning file gives it.
    let datasource = std::fs::read_to_string(
        workspace_root().join("deploy/grafana/provisioning/datasources/sentinel-postgres.yaml"),
    )
    .unwrap();
    assert!(datasource.contains("type: grafana-postgresql-datasource"));
    assert!(datasource.contains("uid: sentinel-postgres"));
    let dashboards_dir = workspace_root().join("deploy/grafana/dashboards");
    assert_generated(&dashboards_dir);
    let mut files: Vec<_> = std::fs::read_dir(&dashboards_dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    assert_eq!(files.len(), 7, "{files:?}");
    let mut checked = 0;
    for file in &files {
        let dashboard: Value = serde_json::from_str(&std::fs::read_to_string(file).unwrap())
            .unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        // The trace dashboard runs twice: the default (slowest trace) and a chosen trace.
        let mut variants: Vec<Vec<(&str, &str)>> = vec![vec![]];
        if dashboard["uid"] == "sentinel-traces" {
            variants.push(vec![("trace_id", sent.error_trace_id.as_str())]);
        }
        for overrides in &variants {
            let vars = variables(&dashboard, &run_sql, range, overrides);
            for panel in dashboard["panels"].as_array().unwrap() {
                let title = panel["title"].as_str().unwrap();
                assert_eq!(panel["datasource"]["uid"], "sentinel-postgres", "{title}");
                for target in panel["targets"].as_array().unwrap() {
                    let raw = target["rawSql"].as_str().unwrap();
                    let sql = expand(raw, &vars, range, INTERVAL)
                        .unwrap_or_else(|e| panic!("{title}: {e}"));
                    let r = run_sql(&sql);
                    check_panel(panel, &r);
                    if panel["type"] == "traces" {
                        let want = overrides
                            .first()
                            .map(|(_, id)| id.to_string())
                            .unwrap_or_else(|| sent.slow_trace_id.clone());
                        assert_eq!(r.rows[0]["traceID"], want.as_str(), "{title} {overrides:?}");
                    }
                    eprintln!("ok {} / {title}: {} rows", file.display(), r.rows.len());
                    checked += 1;
                }
            }
        }
    }
    assert!(checked >= 34, "only {checked} panel queries ran");
    assert!(agent.terminate(Duration::from_secs(15)).success());
}
