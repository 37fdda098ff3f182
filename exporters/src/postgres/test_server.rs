//! A throwaway PostgreSQL cluster for this exporter's unit tests: `initdb` into a temp dir,
//! `pg_ctl start` on a free loopback port, `pg_ctl stop` when dropped. The end-to-end
//! harness (`tests/src/services.rs`) has a fuller one that unit tests cannot reach.
//! PostgreSQL refuses to run as root, so under root it runs as the `postgres` user of the
//! Debian package.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

pub struct TestServer {
    port: u16,
    bin: PathBuf,
    data_dir: PathBuf,
    _dir: tempfile::TempDir,
}

impl TestServer {
    pub fn start() -> TestServer {
        let bin = newest_bin_dir()
            .expect("PostgreSQL server binaries in /usr/lib/postgresql/<N>/bin (apt-get install postgresql)");
        let dir = tempfile::tempdir().expect("a temp dir");
        let data_dir = dir.path().join("data");
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        hand_over(dir.path());
        let server = TestServer {
            port,
            bin,
            data_dir,
            _dir: dir,
        };
        server.run("initdb", |cmd| {
            cmd.args([
                "-A",
                "trust",
                "-U",
                "postgres",
                "-E",
                "UTF8",
                "--no-sync",
                "-D",
            ])
            .arg(&server.data_dir)
        });
        let options = format!(
            "-p {port} -c listen_addresses=127.0.0.1 -c unix_socket_directories={} -c fsync=off",
            server.dir().display()
        );
        server.run("pg_ctl", |cmd| {
            cmd.arg("-D")
                .arg(&server.data_dir)
                .arg("-l")
                .arg(server.dir().join("postgres.log"))
                .args(["-w", "-o", &options, "start"])
        });
        server
    }

    /// `postgresql://postgres@127.0.0.1:PORT/postgres`.
    pub fn dsn(&self) -> String {
        format!("postgresql://postgres@127.0.0.1:{}/postgres", self.port)
    }

    fn dir(&self) -> &Path {
        self._dir.path()
    }

    /// Runs one of the server's programs (as `postgres` under root) and checks it worked.
    fn run(&self, program: &str, args: impl FnOnce(&mut Command) -> &mut Command) {
        let mut cmd = unprivileged(&self.bin.join(program));
        cmd.current_dir(self.dir()).stdin(Stdio::null());
        let out = args(&mut cmd).output().expect("run a PostgreSQL program");
        assert!(
            out.status.success(),
            "{program} failed: {}{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
            std::fs::read_to_string(self.dir().join("postgres.log")).unwrap_or_default()
        );
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        let _ = unprivileged(&self.bin.join("pg_ctl"))
            .current_dir(self.dir())
            .arg("-D")
            .arg(&self.data_dir)
            .args(["-m", "immediate", "-w", "stop"])
            .output();
    }
}

/// The newest `/usr/lib/postgresql/<N>/bin` that has `initdb`.
fn newest_bin_dir() -> Option<PathBuf> {
    std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .flatten()
        .filter_map(|e| {
            let version = e.file_name().to_str()?.parse::<u32>().ok()?;
            let bin = e.path().join("bin");
            bin.join("initdb").exists().then_some((version, bin))
        })
        .max()
        .map(|(_, bin)| bin)
}

/// The `postgres` user's uid and gid when we are root, else `None`.
fn postgres_user() -> Option<(u32, u32)> {
    let id = |args: &[&str]| -> Option<u32> {
        let out = Command::new("id").args(args).output().ok()?;
        String::from_utf8_lossy(&out.stdout).trim().parse().ok()
    };
    if id(&["-u"])? != 0 {
        return None;
    }
    let user = (id(&["-u", "postgres"]), id(&["-g", "postgres"]));
    match user {
        (Some(uid), Some(gid)) => Some((uid, gid)),
        _ => panic!("running as root needs the postgres user (apt-get install postgresql)"),
    }
}

fn unprivileged(program: &Path) -> Command {
    use std::os::unix::process::CommandExt;
    let mut cmd = Command::new(program);
    if let Some((uid, gid)) = postgres_user() {
        cmd.uid(uid).gid(gid);
    }
    cmd
}

/// Lets the `postgres` user own the temp dir (a no-op when not root).
fn hand_over(dir: &Path) {
    if let Some((uid, gid)) = postgres_user() {
        std::os::unix::fs::chown(dir, Some(uid), Some(gid)).expect("chown the temp dir");
    }
}
