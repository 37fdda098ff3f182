//! The OCI image built by deploy/container/build-image.sh (umoci: no daemon, no registry)
//! runs: its config names a non-root user and the `run` entrypoint, and the binary from the
//! image's root filesystem, as that user, validates the shipped config and serves readiness.

use std::process::{Command, Stdio};
use std::time::Duration;

use sentinel_tests::{
    eventually, free_port, http_get, sentinel_bin, signal, wait_with_timeout, workspace_root,
};
use serde_json::Value;

fn run(command: &mut Command) -> std::process::Output {
    let output = command.output().expect("run");
    assert!(
        output.status.success(),
        "{command:?} failed:\n{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

#[test]
fn the_image_runs_the_agent_as_a_non_root_user() {
    assert!(
        Command::new("umoci").arg("--version").output().is_ok(),
        "umoci is missing (tests/run-all.sh installs Debian's umoci)"
    );
    // SAFETY: geteuid has no preconditions.
    let root = unsafe { libc_geteuid() } == 0;
    assert!(
        root,
        "this test unpacks the image and chroots into it, which needs root (CI runs as root)"
    );
    let dir = tempfile::tempdir().unwrap();
    let layout = dir.path().join("layout");
    run(
        Command::new(workspace_root().join("deploy/container/build-image.sh"))
            .arg(sentinel_bin())
            .arg(&layout)
            .arg("test"),
    );
    let bundle = dir.path().join("bundle");
    run(Command::new("umoci")
        .args(["unpack", "--image"])
        .arg(format!("{}:test", layout.display()))
        .arg(&bundle));

    let config: Value =
        serde_json::from_str(&std::fs::read_to_string(bundle.join("config.json")).unwrap())
            .unwrap();
    assert_eq!(config["process"]["user"]["uid"], 65532, "non-root");
    let args: Vec<&str> = config["process"]["args"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap())
        .collect();
    assert_eq!(
        args,
        [
            "/usr/local/bin/sentinel",
            "run",
            "--config",
            "/etc/sentinel/default.yaml"
        ]
    );

    let rootfs = bundle.join("rootfs");
    let in_image = |args: &[&str]| {
        let mut command = Command::new("chroot");
        command
            .arg("--userspec=65532:65532")
            .arg(&rootfs)
            .arg("/usr/local/bin/sentinel")
            .args(args);
        command
    };
    run(&mut in_image(&[
        "validate",
        "--config",
        "/etc/sentinel/claude-code.yaml",
    ]));

    let [grpc, http, admin] = [0; 3].map(|_| free_port());
    let mut agent = in_image(&["run", "--config", "/etc/sentinel/default.yaml"])
        .env("SENTINEL_OTLP_GRPC_ENDPOINT", format!("127.0.0.1:{grpc}"))
        .env("SENTINEL_OTLP_HTTP_ENDPOINT", format!("127.0.0.1:{http}"))
        .env("SENTINEL_ADMIN_ADDRESS", format!("127.0.0.1:{admin}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let ready = eventually(Duration::from_secs(20), || {
        http_get(admin, "/readyz").is_some_and(|(status, _)| status == 200)
    });
    signal(agent.id(), "TERM");
    let status = wait_with_timeout(&mut agent, Duration::from_secs(15)).expect("stops");
    assert!(ready, "the agent in the image never became ready");
    assert!(status.success());
}

extern "C" {
    #[link_name = "geteuid"]
    fn libc_geteuid() -> u32;
}
