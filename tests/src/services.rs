//! Real backing services for the end-to-end tests, started from Debian's packages on free
//! loopback ports in temp dirs: an ephemeral PostgreSQL cluster (`initdb`), PgBouncer and
//! Redis. Each is stopped when dropped. PostgreSQL and PgBouncer refuse to run as root, so
//! under root they run as the `postgres` system user created by the Debian package.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::{eventually, free_port, wait_with_timeout};

/// Directory holding `initdb`, `postgres` and `pg_isready`: the newest
/// `/usr/lib/postgresql/<N>/bin`, or `$PATH` when none is found.
pub fn postgres_bin_dir() -> Option<PathBuf> {
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let v = e.file_name().to_str()?.parse::<u32>().ok()?;
            let bin = e.path().join("bin");
            bin.join("initdb").exists().then_some((v, bin))
        })
        .collect();
    versions.sort();
    versions.pop().map(|(_, bin)| bin)
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

/// A command that runs as the `postgres` user when we are root. The uid and gid are set
/// on the child itself (no `runuser` in between), so signals reach the server directly.
fn unprivileged(program: &Path) -> Command {
    use std::os::unix::process::CommandExt;
    let mut cmd = Command::new(program);
    if is_root() {
        let id = |flag: &str| -> u32 {
            let out = Command::new("id")
                .args([flag, "postgres"])
                .output()
                .expect("run id");
            String::from_utf8_lossy(&out.stdout)
                .trim()
                .parse()
                .expect("the postgres user exists (apt-get install postgresql)")
        };
        cmd.uid(id("-u")).gid(id("-g"));
    }
    cmd
}

/// Lets the `postgres` user own `path` (a no-op when not root).
fn hand_over(path: &Path) {
    if is_root() {
        let status = Command::new("chown")
            .args(["-R", "postgres:postgres"])
            .arg(path)
            .status()
            .expect("run chown");
        assert!(status.success(), "chown {} failed", path.display());
    }
}

/// A throwaway PostgreSQL cluster with trust authentication for user `postgres`.
pub struct EphemeralPostgres {
    pub port: u16,
    pub data_dir: PathBuf,
    socket_dir: PathBuf,
    bin: PathBuf,
    child: Option<Child>,
    _dir: tempfile::TempDir,
}

impl EphemeralPostgres {
    /// `initdb` into a fresh temp dir and start the server on a free port.
    pub fn start() -> EphemeralPostgres {
        let bin =
            postgres_bin_dir().expect("PostgreSQL server binaries (apt-get install postgresql)");
        let dir = tempfile::tempdir().expect("temp dir");
        // The postgres user must be able to traverse to its data directory.
        set_mode(dir.path(), 0o755);
        let data_dir = dir.path().join("data");
        let socket_dir = dir.path().join("sock");
        std::fs::create_dir_all(&socket_dir).expect("socket dir");
        hand_over(dir.path());
        let out = unprivileged(&bin.join("initdb"))
            .args([
                "-A",
                "trust",
                "-U",
                "postgres",
                "-E",
                "UTF8",
                "--no-sync",
                "-D",
            ])
            .arg(&data_dir)
            .stdin(Stdio::null())
            .output()
            .expect("run initdb");
        assert!(
            out.status.success(),
            "initdb failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let mut pg = EphemeralPostgres {
            port: free_port(),
            data_dir,
            socket_dir,
            bin,
            child: None,
            _dir: dir,
        };
        pg.start_server();
        pg
    }

    /// `postgresql://postgres@127.0.0.1:PORT/DB`.
    pub fn dsn(&self, database: &str) -> String {
        format!("postgresql://postgres@127.0.0.1:{}/{database}", self.port)
    }

    /// Starts the server (again) on the same port and data directory.
    pub fn start_server(&mut self) {
        assert!(self.child.is_none(), "server already running");
        let log = std::fs::File::create(self.socket_dir.join("../postgres.log"))
            .expect("postgres log file");
        let child = unprivileged(&self.bin.join("postgres"))
            .arg("-D")
            .arg(&self.data_dir)
            .args([
                "-p",
                &self.port.to_string(),
                "-c",
                "listen_addresses=127.0.0.1",
            ])
            .arg("-c")
            .arg(format!(
                "unix_socket_directories={}",
                self.socket_dir.display()
            ))
            .args(["-c", "fsync=off", "-c", "max_connections=200"])
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("clone log"))
            .stderr(log)
            .spawn()
            .expect("start postgres");
        self.child = Some(child);
        let ready = eventually(Duration::from_secs(30), || {
            Command::new(self.bin.join("pg_isready"))
                .args(["-q", "-h", "127.0.0.1", "-p", &self.port.to_string()])
                .status()
                .is_ok_and(|s| s.success())
        });
        assert!(ready, "postgres did not become ready:\n{}", self.log());
    }

    /// Fast shutdown (SIGINT): clients are disconnected, the data is kept.
    pub fn stop_server(&mut self) {
        if let Some(mut child) = self.child.take() {
            crate::signal(child.id(), "INT");
            if wait_with_timeout(&mut child, Duration::from_secs(30)).is_none() {
                let _ = child.kill();
                let _ = child.wait();
            }
        }
    }

    /// Runs SQL through `psql` and returns its unaligned, tuples-only output.
    pub fn psql(&self, database: &str, sql: &str) -> String {
        let out = Command::new(self.bin.join("psql"))
            .args(["-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1"])
            .arg(self.dsn(database))
            .args(["-c", sql])
            .output()
            .expect("run psql");
        assert!(
            out.status.success(),
            "psql {sql:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.socket_dir.join("../postgres.log")).unwrap_or_default()
    }

    /// Creates login role `user` with `password` and makes TCP connections as that role
    /// authenticate with SCRAM (the cluster's other roles stay on trust).
    pub fn require_password(&self, user: &str, password: &str) {
        self.psql(
            "postgres",
            &format!("CREATE ROLE {user} LOGIN SUPERUSER PASSWORD '{password}'"),
        );
        let hba = self.data_dir.join("pg_hba.conf");
        let old = std::fs::read_to_string(&hba).expect("read pg_hba.conf");
        std::fs::write(
            &hba,
            format!("host all {user} 0.0.0.0/0 scram-sha-256\n{old}"),
        )
        .expect("write pg_hba.conf");
        self.psql("postgres", "SELECT pg_reload_conf()");
        std::thread::sleep(Duration::from_millis(500));
    }

    /// Turns TLS on with `server.crt` and `server.key` from `certs` (see
    /// [`crate::certs::make`]) and refuses every plaintext TCP connection.
    pub fn require_tls(&self, certs: &Path) {
        for file in ["server.crt", "server.key"] {
            let to = self.data_dir.join(file);
            std::fs::copy(certs.join(file), &to).expect("copy certificate");
            hand_over(&to);
            set_mode(&to, 0o600);
        }
        let hba = self.data_dir.join("pg_hba.conf");
        let old = std::fs::read_to_string(&hba).expect("read pg_hba.conf");
        std::fs::write(&hba, format!("hostnossl all all 0.0.0.0/0 reject\n{old}"))
            .expect("write pg_hba.conf");
        self.psql("postgres", "ALTER SYSTEM SET ssl = on");
        self.psql("postgres", "SELECT pg_reload_conf()");
        std::thread::sleep(Duration::from_millis(500));
    }
}

impl Drop for EphemeralPostgres {
    fn drop(&mut self) {
        self.stop_server();
    }
}

fn set_mode(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).expect("chmod");
}

/// A Redis server with persistence off.
pub struct EphemeralRedis {
    pub port: u16,
    child: Child,
    _dir: tempfile::TempDir,
}

impl EphemeralRedis {
    pub fn start() -> EphemeralRedis {
        let port = free_port();
        Self::start_with(port, &["--port", &port.to_string()])
    }

    /// Redis that speaks only TLS, with `server.crt`/`server.key` from `certs` (see
    /// [`crate::certs::make`]); clients must present a certificate signed by `ca.crt`
    /// when `client_certificates` is true.
    pub fn start_tls(certs: &Path, client_certificates: bool) -> EphemeralRedis {
        let port = free_port();
        let file = |name: &str| certs.join(name).display().to_string();
        let auth_clients = if client_certificates { "yes" } else { "no" };
        Self::start_with(
            port,
            &[
                "--port",
                "0",
                "--tls-port",
                &port.to_string(),
                "--tls-cert-file",
                &file("server.crt"),
                "--tls-key-file",
                &file("server.key"),
                "--tls-ca-cert-file",
                &file("ca.crt"),
                "--tls-auth-clients",
                auth_clients,
            ],
        )
    }

    fn start_with(port: u16, listen: &[&str]) -> EphemeralRedis {
        let dir = tempfile::tempdir().expect("temp dir");
        let child = Command::new("redis-server")
            .args(listen)
            .args(["--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no", "--daemonize", "no"])
            .arg("--dir")
            .arg(dir.path())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start redis-server (apt-get install redis-server)");
        let ready = eventually(Duration::from_secs(15), || {
            std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
        });
        assert!(ready, "redis-server did not listen on {port}");
        EphemeralRedis {
            port,
            child,
            _dir: dir,
        }
    }
}

impl Drop for EphemeralRedis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// PgBouncer in front of an [`EphemeralPostgres`], trusting user `postgres`, with its admin
/// console reachable as database `pgbouncer` by the same user.
pub struct EphemeralPgBouncer {
    pub port: u16,
    child: Child,
    dir: tempfile::TempDir,
}

impl EphemeralPgBouncer {
    /// `databases` lists the database names to route to `postgres_port`, each with
    /// `pool_size`; `pool_mode` is `session`, `transaction` or `statement`.
    pub fn start(
        postgres_port: u16,
        databases: &[&str],
        pool_size: u32,
        pool_mode: &str,
    ) -> EphemeralPgBouncer {
        Self::start_with(postgres_port, databases, pool_size, pool_mode, "")
    }

    /// As [`EphemeralPgBouncer::start`], with `settings` (lines of `key = value`) added to
    /// the `[pgbouncer]` section, e.g. `client_tls_*`.
    pub fn start_with(
        postgres_port: u16,
        databases: &[&str],
        pool_size: u32,
        pool_mode: &str,
        settings: &str,
    ) -> EphemeralPgBouncer {
        let dir = tempfile::tempdir().expect("temp dir");
        set_mode(dir.path(), 0o755);
        let port = free_port();
        let mut ini = String::from("[databases]\n");
        for db in databases {
            ini.push_str(&format!(
                "{db} = host=127.0.0.1 port={postgres_port} dbname={db} pool_size={pool_size}\n"
            ));
        }
        ini.push_str(&format!(
            "[pgbouncer]\nlisten_addr = 127.0.0.1\nlisten_port = {port}\n\
             unix_socket_dir =\nauth_type = trust\nauth_file = {auth}\n\
             admin_users = postgres\nstats_users = postgres\npool_mode = {pool_mode}\n\
             default_pool_size = {pool_size}\nlogfile = {log}\n",
            auth = dir.path().join("users.txt").display(),
            log = dir.path().join("pgbouncer.log").display(),
        ));
        ini.push_str(settings);
        std::fs::write(dir.path().join("users.txt"), "\"postgres\" \"\"\n").expect("auth file");
        let ini_path = dir.path().join("pgbouncer.ini");
        std::fs::write(&ini_path, ini).expect("pgbouncer.ini");
        hand_over(dir.path());
        let child = unprivileged(Path::new("/usr/sbin/pgbouncer"))
            .arg(&ini_path)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start pgbouncer (apt-get install pgbouncer)");
        let ready = eventually(Duration::from_secs(15), || {
            std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
        });
        let bouncer = EphemeralPgBouncer { port, child, dir };
        assert!(
            ready,
            "pgbouncer did not listen on {port}:\n{}",
            bouncer.log()
        );
        bouncer
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("pgbouncer.log")).unwrap_or_default()
    }
}

impl Drop for EphemeralPgBouncer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A server binary a test started (Prometheus, VictoriaMetrics, ...), killed when dropped.
pub struct ServerProcess {
    child: Child,
    pub port: u16,
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Fails with the install hint when `binary` is not on the PATH (the test command
/// installs every Debian package the tests use).
pub fn require_binary(binary: &str) {
    let found = Command::new("sh")
        .args(["-c", &format!("command -v {binary}")])
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        found,
        "`{binary}` is not installed: tests/run-all.sh installs it from Debian"
    );
}

/// Starts `program args` with its output in `dir/NAME.log`, and waits until `GET ready`
/// on `port` answers 200.
pub fn start_server(
    dir: &Path,
    name: &str,
    program: &str,
    args: &[String],
    port: u16,
    ready: &str,
) -> ServerProcess {
    require_binary(program);
    let log_path = dir.join(format!("{name}.log"));
    let log = std::fs::File::create(&log_path).expect("server log");
    let child = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(log.try_clone().expect("clone log handle"))
        .stderr(log)
        .spawn()
        .unwrap_or_else(|e| panic!("start {program}: {e}"));
    let server = ServerProcess { child, port };
    assert!(
        crate::eventually(Duration::from_secs(60), || {
            crate::http_get(port, ready).is_some_and(|(status, _)| status == 200)
        }),
        "{name} not ready; log:\n{}",
        std::fs::read_to_string(&log_path).unwrap_or_default()
    );
    server
}

/// Debian's Prometheus on a free loopback port with `config` (prometheus.yml text), its
/// TSDB in `tsdb` (which may hold blocks already) and `extra` flags.
pub fn start_prometheus(dir: &Path, config: &str, tsdb: &Path, extra: &[&str]) -> ServerProcess {
    let port = crate::free_port();
    let config_path = dir.join("prometheus.yml");
    std::fs::write(&config_path, config).expect("write prometheus.yml");
    let mut args = vec![
        format!("--config.file={}", config_path.display()),
        format!("--storage.tsdb.path={}", tsdb.display()),
        format!("--web.listen-address=127.0.0.1:{port}"),
    ];
    args.extend(extra.iter().map(|a| a.to_string()));
    start_server(dir, "prometheus", "prometheus", &args, port, "/-/ready")
}
