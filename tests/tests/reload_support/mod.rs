//! What the reload tests share: an agent started with `--watch-config`, an OTLP/gRPC logs
//! client that records which requests were acknowledged, and readers of the `file`
//! exporters' output.

#![allow(dead_code)]

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use opentelemetry_proto::tonic::collector::logs::v1::logs_service_client::LogsServiceClient;
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue};
use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
use sentinel_tests::{http_get, read_json_lines, sentinel_bin, wait_with_timeout};

/// A running `sentinel run --config FILE --watch-config`.
pub struct WatchedAgent {
    pub child: Child,
    pub admin: u16,
    pub config: PathBuf,
    pub log: PathBuf,
}

impl WatchedAgent {
    pub fn start(dir: &Path, config: &str, admin: u16) -> WatchedAgent {
        let path = dir.join("agent.yaml");
        std::fs::write(&path, config).expect("write config");
        let log = dir.join("agent.log");
        let out = std::fs::File::create(&log).expect("create log");
        let child = Command::new(sentinel_bin())
            .args([
                "run",
                "--watch-config",
                "--watch-config-interval",
                "200ms",
                "--config",
            ])
            .arg(&path)
            .stdout(out.try_clone().expect("clone log"))
            .stderr(out)
            .stdin(Stdio::null())
            .spawn()
            .expect("start sentinel");
        let agent = WatchedAgent {
            child,
            admin,
            config: path,
            log,
        };
        let ready = sentinel_tests::eventually(Duration::from_secs(20), || agent.ready());
        assert!(ready, "agent not ready; log:\n{}", agent.log());
        agent
    }

    pub fn ready(&self) -> bool {
        http_get(self.admin, "/readyz").is_some_and(|(status, _)| status == 200)
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    pub fn write_config(&self, config: &str) {
        std::fs::write(&self.config, config).expect("rewrite config");
    }

    /// `POST /-/reload`: status and body.
    pub fn reload(&self) -> (u16, String) {
        sentinel_tests::http_request(self.admin, "POST", "/-/reload", &[], b"")
    }

    /// `sentinel_config_reloads_total{result=...}`.
    pub fn reloads(&self, result: &str) -> f64 {
        let label = format!("result=\"{result}\"");
        http_get(self.admin, "/metrics")
            .map(|(_, body)| body)
            .unwrap_or_default()
            .lines()
            .filter(|l| l.starts_with("sentinel_config_reloads_total") && l.contains(&label))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum()
    }

    pub fn terminate(mut self) {
        sentinel_tests::signal(self.child.id(), "TERM");
        let status = wait_with_timeout(&mut self.child, Duration::from_secs(30));
        assert!(
            status.is_some_and(|s| s.success()),
            "agent did not stop cleanly ({status:?}); log:\n{}",
            self.log()
        );
    }
}

impl Drop for WatchedAgent {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Reload bookkeeping the load client reads: `started` is raised before a reload is
/// triggered, `finished` once it is known done. Generation `n` is the config after `n`
/// reloads.
#[derive(Default)]
pub struct Generations {
    pub started: AtomicUsize,
    pub finished: AtomicUsize,
}

/// One acknowledged request: its item and the generations that may have taken it.
#[derive(Debug, Clone)]
pub struct Acked {
    pub item: String,
    pub first: usize,
    pub last: usize,
}

#[derive(Default)]
pub struct LoadResult {
    pub acked: Mutex<Vec<Acked>>,
    pub refused: Mutex<Vec<String>>,
}

/// Sends one log record per request, acknowledged one at a time, from `clients`
/// connections until `stop` is set.
pub fn start_load(
    port: u16,
    clients: usize,
    generations: Arc<Generations>,
    stop: Arc<AtomicBool>,
) -> (Arc<LoadResult>, Vec<std::thread::JoinHandle<()>>) {
    let result = Arc::new(LoadResult::default());
    let threads = (0..clients)
        .map(|client| {
            let (result, generations, stop) = (result.clone(), generations.clone(), stop.clone());
            std::thread::spawn(move || {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("runtime");
                runtime.block_on(load(port, client, &generations, &stop, &result));
            })
        })
        .collect();
    (result, threads)
}

async fn load(port: u16, client: usize, gens: &Generations, stop: &AtomicBool, out: &LoadResult) {
    let mut otlp = LogsServiceClient::connect(format!("http://127.0.0.1:{port}"))
        .await
        .expect("connect to the otlp receiver");
    let mut seq = 0u64;
    while !stop.load(Ordering::Acquire) {
        seq += 1;
        let item = format!("c{client}-{seq}");
        let first = gens.finished.load(Ordering::Acquire);
        match otlp.export(request(&item)).await {
            Ok(_) => {
                let last = gens.started.load(Ordering::Acquire);
                out.acked.lock().unwrap().push(Acked { item, first, last });
            }
            Err(status) => out
                .refused
                .lock()
                .unwrap()
                .push(format!("{item}: {status}")),
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

fn request(body: &str) -> ExportLogsServiceRequest {
    ExportLogsServiceRequest {
        resource_logs: vec![ResourceLogs {
            scope_logs: vec![ScopeLogs {
                log_records: vec![LogRecord {
                    body: Some(AnyValue {
                        value: Some(any_value::Value::StringValue(body.to_string())),
                    }),
                    ..Default::default()
                }],
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}

/// Log bodies written by a `file` exporter.
pub fn bodies(path: &Path) -> HashSet<String> {
    let list = |v: &serde_json::Value, key: &str| v[key].as_array().cloned().unwrap_or_default();
    read_json_lines(path)
        .iter()
        .flat_map(|l| list(l, "resourceLogs"))
        .flat_map(|r| list(&r, "scopeLogs"))
        .flat_map(|s| list(&s, "logRecords"))
        .filter_map(|r| r["body"]["stringValue"].as_str().map(str::to_string))
        .collect()
}
