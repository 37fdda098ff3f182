//! One probe against a fresh agent process: idle and peak RSS, and whether a normal
//! client is served while the probe holds its connections and after.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::{normal_client_served, rss, Probe, Target};
use crate::{free_port, http_get};

/// What one probe did to the agent.
#[derive(Debug, Clone)]
pub struct Measured {
    pub probe: Probe,
    /// What the agent answered (see [`Probe::run`]; for the stalled uploads, MiB each sent
    /// before the agent stopped reading; for the gRPC streams, answered and unanswered).
    pub answers: Vec<u32>,
    pub idle_rss: u64,
    pub peak_rss: u64,
    pub served_during: bool,
    pub served_after: bool,
}

impl Measured {
    pub fn peak_above_idle_mib(&self) -> f64 {
        self.peak_rss.saturating_sub(self.idle_rss) as f64 / (1024.0 * 1024.0)
    }
}

/// An agent process started from `bin` with `config` (the default config's
/// `SENTINEL_*` variables point it at free ports); killed on drop.
pub struct Process {
    child: Child,
    pub target: Target,
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Process {
    pub fn start(bin: &Path, config: &Path, log: &Path) -> Process {
        let (http, grpc, admin) = (free_port(), free_port(), free_port());
        let log = std::fs::File::create(log).expect("create the agent log");
        let child = Command::new(bin)
            .args(["run", "--config"])
            .arg(config)
            .env("SENTINEL_OTLP_HTTP_ENDPOINT", format!("127.0.0.1:{http}"))
            .env("SENTINEL_OTLP_GRPC_ENDPOINT", format!("127.0.0.1:{grpc}"))
            .env("SENTINEL_ADMIN_ADDRESS", format!("127.0.0.1:{admin}"))
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .stdin(Stdio::null())
            .spawn()
            .expect("start the agent");
        let deadline = Instant::now() + Duration::from_secs(30);
        while http_get(admin, "/readyz").map(|r| r.0) != Some(200) {
            assert!(Instant::now() < deadline, "the agent did not become ready");
            std::thread::sleep(Duration::from_millis(50));
        }
        Process {
            child,
            target: Target {
                http: ([127, 0, 0, 1], http).into(),
                grpc: ([127, 0, 0, 1], grpc).into(),
            },
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

/// Starts an agent, warms it with normal requests, runs `probe`, and measures.
pub fn measure(bin: &Path, config: &Path, dir: &Path, probe: Probe) -> Measured {
    let log = dir.join(format!("agent-{probe:?}.log"));
    let agent = Process::start(bin, config, &log);
    let target = agent.target;
    for _ in 0..20 {
        normal_client_served(target);
    }
    std::thread::sleep(Duration::from_millis(300));
    let idle_rss = rss(agent.pid()).1;
    let (answers, held) = probe.run(target);
    let served_during = normal_client_served(target);
    let peak_rss = rss(agent.pid()).0;
    drop(held);
    let deadline = Instant::now() + Duration::from_secs(15);
    let served_after = loop {
        if normal_client_served(target) {
            break true;
        }
        if Instant::now() > deadline {
            break false;
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    Measured {
        probe,
        answers,
        idle_rss,
        peak_rss: peak_rss.max(rss(agent.pid()).0),
        served_during,
        served_after,
    }
}
