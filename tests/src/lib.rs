//! Harness for the end-to-end tests: builds the real `sentinel` binary, starts it with a
//! test config on free loopback ports, waits for `/readyz`, and stops it with signals.

pub mod certs;
pub mod docs;
pub mod kafka;
pub mod nab;
pub mod probes;
pub mod services;

use std::io::{BufRead, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// The workspace root.
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ sits in the workspace")
        .to_path_buf()
}

/// Path of the `sentinel` binary, built once per test process with the same profile.
pub fn sentinel_bin() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| build_bin("sentinel-agent", "sentinel"))
}

/// Path of the small `sentinel-hook` binary, built beside `sentinel`.
pub fn sentinel_hook_bin() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| build_bin("sentinel-agent", "sentinel-hook"))
}

/// Path of the load generator binary.
pub fn loadgen_bin() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| build_bin("sentinel-tests", "loadgen"))
}

fn build_bin(package: &str, bin: &str) -> PathBuf {
    let release = cfg!(not(debug_assertions));
    let mut cmd = Command::new(env!("CARGO"));
    cmd.current_dir(workspace_root())
        .args(["build", "--quiet", "-p", package, "--bin", bin]);
    if release {
        cmd.arg("--release");
    }
    let status = cmd.status().expect("run cargo build");
    assert!(
        status.success(),
        "cargo build -p {package} --bin {bin} failed"
    );
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("target"));
    target
        .join(if release { "release" } else { "debug" })
        .join(bin)
}

/// A free TCP port on 127.0.0.1 (the listener is closed before returning).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("bind an ephemeral port")
}

/// A running agent process.
pub struct Agent {
    pub child: Child,
    pub admin_port: u16,
    pub config_path: PathBuf,
    pub log_path: PathBuf,
}

impl Agent {
    /// Writes `config` into `dir`, starts the agent and waits until `/readyz` answers 200.
    /// `admin_port` must match `service.telemetry.metrics.address` in the config.
    pub fn start(dir: &Path, name: &str, config: &str, admin_port: u16) -> Agent {
        let mut agent = Agent::spawn(dir, name, config, admin_port);
        agent.wait_ready(Duration::from_secs(20));
        agent
    }

    /// Like [`Agent::start`], with extra environment variables for the agent.
    pub fn start_with_env(
        dir: &Path,
        name: &str,
        config: &str,
        admin_port: u16,
        envs: &[(&str, &str)],
    ) -> Agent {
        let mut agent = Agent::spawn_with_env(dir, name, config, admin_port, envs);
        agent.wait_ready(Duration::from_secs(20));
        agent
    }

    /// Starts the agent without waiting for readiness.
    pub fn spawn(dir: &Path, name: &str, config: &str, admin_port: u16) -> Agent {
        Agent::spawn_with_env(dir, name, config, admin_port, &[])
    }

    fn spawn_with_env(
        dir: &Path,
        name: &str,
        config: &str,
        admin_port: u16,
        envs: &[(&str, &str)],
    ) -> Agent {
        let config_path = dir.join(format!("{name}.yaml"));
        std::fs::write(&config_path, config).expect("write config");
        let log_path = dir.join(format!("{name}.log"));
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log_path)
            .expect("open agent log");
        let child = Command::new(sentinel_bin())
            .args(["run", "--config"])
            .arg(&config_path)
            .envs(envs.iter().copied())
            .stdout(log.try_clone().expect("clone log handle"))
            .stderr(log)
            .stdin(Stdio::null())
            .spawn()
            .expect("start sentinel");
        Agent {
            child,
            admin_port,
            config_path,
            log_path,
        }
    }

    pub fn wait_ready(&mut self, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!(
                    "agent exited with {status} before it was ready; log:\n{}",
                    self.log()
                );
            }
            if http_get(self.admin_port, "/readyz").is_some_and(|(status, _)| status == 200) {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("agent not ready after {timeout:?}; log:\n{}", self.log());
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log_path).unwrap_or_default()
    }

    /// Text of the agent's `/metrics`.
    pub fn metrics(&self) -> String {
        http_get(self.admin_port, "/metrics")
            .map(|(_, body)| body)
            .unwrap_or_default()
    }

    /// Value of one self-metric series; `selector` is the series name plus labels as they
    /// appear in the exposition (e.g. `sentinel_component_sent_items_total{...}`) or just a
    /// prefix that identifies one line.
    pub fn metric_value(&self, prefix: &str, must_contain: &[&str]) -> Option<f64> {
        self.metrics()
            .lines()
            .filter(|l| l.starts_with(prefix) && must_contain.iter().all(|m| l.contains(m)))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .reduce(|a, b| a + b)
    }

    /// Sends SIGTERM and waits for exit.
    pub fn terminate(mut self, timeout: Duration) -> ExitStatus {
        signal(self.child.id(), "TERM");
        wait_with_timeout(&mut self.child, timeout).unwrap_or_else(|| {
            panic!(
                "agent did not exit within {timeout:?}; log:\n{}",
                self.log()
            )
        })
    }

    /// SIGKILL: no chance to drain.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn kill9(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn signal(pid: u32, name: &str) {
    let status = Command::new("kill")
        .arg(format!("-{name}"))
        .arg(pid.to_string())
        .status()
        .expect("run kill");
    assert!(status.success(), "kill -{name} {pid} failed");
}

pub fn wait_with_timeout(child: &mut Child, timeout: Duration) -> Option<ExitStatus> {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if let Ok(Some(status)) = child.try_wait() {
            return Some(status);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    None
}

/// Minimal HTTP/1.0 GET on loopback; returns status and body.
pub fn http_get(port: u16, path: &str) -> Option<(u16, String)> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(stream, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    let status = response.split_whitespace().nth(1)?.parse().ok()?;
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    Some((status, body))
}

/// Minimal HTTP/1.1 request on loopback with `Connection: close`; returns the status and
/// the body. A server that answers before reading the whole body (413) is fine.
pub fn http_request(
    port: u16,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> (u16, String) {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("read timeout");
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: {}\r\nConnection: close\r\n",
        body.len()
    );
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).expect("send head");
    let _ = stream.write_all(body);
    let mut response = Vec::new();
    let _ = stream.read_to_end(&mut response);
    let text = String::from_utf8_lossy(&response).to_string();
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (status, body)
}

/// One HTTP/1.1 request read from a keep-alive connection, for the test servers that stand
/// in for sinks: its request line and its body (framed by `Content-Length`). `None` once the
/// client closed the connection or sent a request cut short.
pub fn read_http_request(reader: &mut impl BufRead) -> Option<(String, Vec<u8>)> {
    let mut request_line = String::new();
    if reader.read_line(&mut request_line).ok()? == 0 {
        return None;
    }
    let mut length = 0;
    loop {
        let mut header = String::new();
        if reader.read_line(&mut header).ok()? == 0 {
            return None;
        }
        if header == "\r\n" {
            break;
        }
        if let Some((name, value)) = header.split_once(':') {
            if name.eq_ignore_ascii_case("content-length") {
                length = value.trim().parse().unwrap_or(0);
            }
        }
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body).ok()?;
    Some((request_line, body))
}

/// Posts a JSON body; returns the status and the response body.
pub fn http_post_json(port: u16, path: &str, body: &str) -> (u16, String) {
    http_request(
        port,
        "POST",
        path,
        &[("Content-Type", "application/json")],
        body.as_bytes(),
    )
}

/// LiteLLM's bundled price map, through the installed package (tests/run-all.sh installs
/// `litellm` from tests/python/requirements.txt).
pub fn litellm_prices() -> PathBuf {
    let output = std::process::Command::new("python3")
        .args([
            "-c",
            // Locates the package without importing it: importing litellm fetches a
            // price map from the internet, and tests never leave loopback.
            "import importlib.util; print(list(importlib.util.find_spec('litellm').submodule_search_locations)[0])",
        ])
        .env("LITELLM_LOCAL_MODEL_COST_MAP", "True")
        .output()
        .expect("python3 runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let dir = stdout.lines().last().unwrap_or("").trim().to_string();
    assert!(
        output.status.success() && !dir.is_empty(),
        "litellm is not installed: pip install -r tests/python/requirements.txt\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    Path::new(&dir).join("model_prices_and_context_window_backup.json")
}

/// Polls `check` until it returns true or `timeout` passes.
pub fn eventually(timeout: Duration, mut check: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if check() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    check()
}

/// Reads an OTLP/JSON-lines file (the `file` exporter's output) into JSON values.
pub fn read_json_lines(path: &Path) -> Vec<serde_json::Value> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("bad JSON line {l:?}: {e}")))
        .collect()
}

/// Every span in a `file` exporter's OTLP/JSON-lines output, in the order written.
pub fn written_spans(path: &Path) -> Vec<serde_json::Value> {
    let list = |v: &serde_json::Value, key: &str| v[key].as_array().cloned().unwrap_or_default();
    read_json_lines(path)
        .iter()
        .flat_map(|l| list(l, "resourceSpans"))
        .flat_map(|r| list(&r, "scopeSpans"))
        .flat_map(|s| list(&s, "spans"))
        .collect()
}
