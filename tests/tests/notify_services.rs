//! Notification exporters against real services started by the test: Debian's
//! `prometheus-alertmanager` (v2 API) and an `aiosmtpd` SMTP server with STARTTLS and AUTH.

mod notify_support;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use notify_support::{agent_config, send_alerts, FAST_RETRY};
use sentinel_exporters::notify::testing::AlertSpec;
use sentinel_tests::{
    certs, eventually, free_port, http_get, read_json_lines, workspace_root, Agent,
};

struct Service(Child);

impl Drop for Service {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn alertmanager_bin() -> PathBuf {
    let path = PathBuf::from("/usr/bin/prometheus-alertmanager");
    assert!(
        path.exists(),
        "prometheus-alertmanager is not installed: apt-get install prometheus-alertmanager (tests/run-all.sh does)"
    );
    path
}

fn start_alertmanager(dir: &Path, port: u16) -> Service {
    let config = dir.join("alertmanager.yml");
    std::fs::write(
        &config,
        "route:\n  receiver: blackhole\n  group_wait: 1s\nreceivers:\n  - name: blackhole\n",
    )
    .unwrap();
    let child = Command::new(alertmanager_bin())
        .arg(format!("--config.file={}", config.display()))
        .arg(format!("--storage.path={}", dir.join("am-data").display()))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .arg("--cluster.listen-address=")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(dir.join("alertmanager.log")).unwrap())
        .spawn()
        .expect("start prometheus-alertmanager");
    let service = Service(child);
    let ready = eventually(Duration::from_secs(20), || {
        http_get(port, "/-/ready").is_some_and(|(status, _)| status == 200)
    });
    assert!(
        ready,
        "alertmanager not ready: {}",
        std::fs::read_to_string(dir.join("alertmanager.log")).unwrap_or_default()
    );
    service
}

fn am_alerts(port: u16) -> Vec<serde_json::Value> {
    http_get(port, "/api/v2/alerts")
        .and_then(|(_, body)| serde_json::from_str::<serde_json::Value>(&body).ok())
        .and_then(|v| v.as_array().cloned())
        .unwrap_or_default()
}

#[test]
fn alerts_appear_in_alertmanager_and_resolve() {
    let dir = tempfile::tempdir().unwrap();
    let am_port = free_port();
    let _am = start_alertmanager(dir.path(), am_port);
    let (otlp, admin) = (free_port(), free_port());
    let exporters =
        format!("  alertmanager:\n    api_url: http://127.0.0.1:{am_port}\n{FAST_RETRY}");
    let config = agent_config(dir.path(), otlp, admin, &exporters, &["alertmanager"]);
    let agent = Agent::start(dir.path(), "agent", &config, admin);
    let db = |i: &str| {
        AlertSpec::firing(
            "PoolSaturated",
            &[("instance", i), ("severity", "warning"), ("pool", "main")],
        )
    };
    send_alerts(otlp, &[db("db-1"), db("db-2")]);
    let arrived = eventually(Duration::from_secs(15), || am_alerts(am_port).len() == 2);
    assert!(
        arrived,
        "alertmanager has {:?}; log:\n{}",
        am_alerts(am_port),
        agent.log()
    );
    for alert in am_alerts(am_port) {
        assert_eq!(alert["labels"]["alertname"], "PoolSaturated");
        assert_eq!(alert["labels"]["severity"], "warning");
        assert_eq!(alert["labels"]["pool"], "main");
        assert!(["db-1", "db-2"].contains(&alert["labels"]["instance"].as_str().unwrap()));
        assert_eq!(alert["annotations"]["summary"], "PoolSaturated is firing");
        assert_eq!(alert["status"]["state"], "active");
    }
    send_alerts(otlp, &[db("db-1").resolved(), db("db-2").resolved()]);
    let resolved = eventually(Duration::from_secs(15), || {
        let now = std::time::SystemTime::now();
        am_alerts(am_port).iter().all(|a| {
            a["endsAt"]
                .as_str()
                .and_then(|t| humantime::parse_rfc3339_weak(t).ok())
                .is_some_and(|ends| ends <= now)
        })
    });
    assert!(resolved, "still active: {:?}", am_alerts(am_port));
    agent.terminate(Duration::from_secs(15));
}

/// The Python that has aiosmtpd: the test command's pip install, or Debian's package.
fn python_with_aiosmtpd() -> PathBuf {
    for python in ["python3", "/usr/bin/python3"] {
        let ok = Command::new(python)
            .args(["-c", "import aiosmtpd"])
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if ok {
            return PathBuf::from(python);
        }
    }
    panic!("aiosmtpd is not installed: pip install -r tests/python/requirements.txt (tests/run-all.sh does)");
}

fn start_smtp(dir: &Path, port: u16, out: &Path) -> Service {
    certs::make(dir, "localhost");
    let mut child = Command::new(python_with_aiosmtpd())
        .arg(workspace_root().join("tests/python/smtp_server.py"))
        .arg(port.to_string())
        .arg(dir.join("server.crt"))
        .arg(dir.join("server.key"))
        .arg(out)
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(dir.join("smtp.log")).unwrap())
        .spawn()
        .expect("start the SMTP server");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert_eq!(
        line.trim(),
        "ready",
        "smtp: {}",
        std::fs::read_to_string(dir.join("smtp.log")).unwrap_or_default()
    );
    Service(child)
}

#[test]
fn email_goes_through_starttls_and_auth_with_both_bodies() {
    let dir = tempfile::tempdir().unwrap();
    let (smtp_port, otlp, admin) = (free_port(), free_port(), free_port());
    let out = dir.path().join("mail.jsonl");
    let _smtp = start_smtp(dir.path(), smtp_port, &out);
    let exporters = format!(
        "  email:\n    to: ops@example.com, oncall@example.com\n    from: sentinel@example.com\n    smarthost: 127.0.0.1:{smtp_port}\n    auth_username: sentinel\n    auth_password: secret\n    tls:\n      ca_file: {}\n      server_name_override: localhost\n    route:\n      group_wait: 1s\n      group_interval: 2s\n{FAST_RETRY}",
        dir.path().join("ca.crt").display()
    );
    let config = agent_config(dir.path(), otlp, admin, &exporters, &["email"]);
    let agent = Agent::start(dir.path(), "agent", &config, admin);
    send_alerts(
        otlp,
        &[AlertSpec::firing(
            "DiskFull",
            &[("mountpoint", "/var"), ("severity", "critical")],
        )],
    );
    let received = eventually(Duration::from_secs(20), || out.exists());
    assert!(
        received,
        "no email; agent log:\n{}\nsmtp log:\n{}",
        agent.log(),
        std::fs::read_to_string(dir.path().join("smtp.log")).unwrap_or_default()
    );
    let mails = read_json_lines(&out);
    assert_eq!(mails.len(), 1);
    let mail = &mails[0];
    assert_eq!(mail["tls"], true, "STARTTLS");
    assert_eq!(mail["auth_user"], "sentinel", "AUTH");
    assert_eq!(mail["subject"], "[FIRING:1] DiskFull");
    assert_eq!(mail["from"], "sentinel@example.com");
    assert_eq!(mail["to"].as_array().unwrap().len(), 2);
    assert_eq!(mail["group_key"].as_str().unwrap().len(), 16);
    let text = mail["text"].as_str().unwrap().replace("\r\n", "\n");
    assert!(
        text.contains("DiskFull is firing") && text.contains("Remediation:\n1. Look at the host."),
        "{text}"
    );
    let html = mail["html"].as_str().unwrap().replace("\r\n", "\n");
    assert!(
        html.contains("<h4>Remediation</h4>") && html.contains("<td>mountpoint</td><td>/var</td>"),
        "{html}"
    );
    agent.terminate(Duration::from_secs(15));
}
