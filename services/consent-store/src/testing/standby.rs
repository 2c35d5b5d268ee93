//! A PostgreSQL primary with a hot standby, for the read-replica tests: a
//! cluster made by `initdb` in a temporary directory, and a standby made
//! from it by `pg_basebackup` (streaming replication, `-R`), each on its own
//! loopback port, stopped when the value is dropped.
//!
//! A cluster of its own rather than a standby of the shared test server:
//! the tests pause and stop the standby, and a copy of the shared server
//! would need its `pg_hba.conf` opened to replication. The binaries come
//! from `CONSENTD_TEST_PG_BIN`, else `pg_config --bindir`, else the newest
//! `/usr/lib/postgresql/*/bin`. Run as root, the servers run as `postgres`
//! (PostgreSQL refuses root).

use std::net::TcpListener;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use tempfile::TempDir;

/// A primary and its hot standby.
#[derive(Debug)]
pub struct ReplicatedPostgres {
    bin: PathBuf,
    primary: Server,
    standby: Server,
    _dir: TempDir,
}

#[derive(Debug)]
struct Server {
    data: PathBuf,
    port: u16,
}

impl ReplicatedPostgres {
    /// Makes and starts both; panics with the servers' own words if either
    /// cannot start.
    pub fn start() -> Self {
        let bin = bin_dir();
        let dir = tempfile::tempdir().expect("temporary directory");
        let as_root = std::fs::metadata("/proc/self").is_ok_and(|meta| meta.uid() == 0);
        if as_root {
            // The servers run as postgres and must own their directories.
            chown_to_postgres(dir.path());
        }
        let primary = Server { data: dir.path().join("primary"), port: free_port() };
        let standby = Server { data: dir.path().join("standby"), port: free_port() };
        let cluster = Self { bin, primary, standby, _dir: dir };
        cluster.run(
            "initdb",
            &[
                "-D",
                path(&cluster.primary.data),
                "-U",
                "postgres",
                "--auth=trust",
                "--no-sync",
                "--no-instructions",
                "-E",
                "UTF8",
            ],
        );
        cluster.start_server(&cluster.primary);
        cluster.run(
            "pg_basebackup",
            &[
                "-h",
                "127.0.0.1",
                "-p",
                &cluster.primary.port.to_string(),
                "-U",
                "postgres",
                "-D",
                path(&cluster.standby.data),
                "-R",
                "-X",
                "stream",
                "-c",
                "fast",
                "--no-sync",
            ],
        );
        cluster.start_server(&cluster.standby);
        cluster
    }

    /// The primary's `postgres` database.
    pub fn primary_url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.primary.port)
    }

    /// The standby's `postgres` database.
    pub fn standby_url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.standby.port)
    }

    /// Waits until the standby has replayed everything the primary has
    /// written so far.
    pub fn wait_for_replay(&self) {
        let written = self.query(&self.primary, "SELECT pg_current_wal_lsn()");
        let caught_up = format!("SELECT pg_last_wal_replay_lsn() >= '{written}'::pg_lsn");
        let deadline = Instant::now() + Duration::from_secs(60);
        while self.query(&self.standby, &caught_up) != "t" {
            assert!(Instant::now() < deadline, "the standby did not replay up to {written}");
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Stops applying WAL on the standby (`pg_wal_replay_pause()`): it keeps
    /// answering, from an older and older state.
    pub fn pause_replay(&self) {
        self.sql(&self.standby, "SELECT pg_wal_replay_pause()");
    }

    /// Applies WAL again.
    pub fn resume_replay(&self) {
        self.sql(&self.standby, "SELECT pg_wal_replay_resume()");
    }

    /// Stops the standby (fast shutdown: connections are cut).
    pub fn stop_standby(&self) {
        self.run("pg_ctl", &["-D", path(&self.standby.data), "-m", "fast", "-w", "stop"]);
    }

    /// Starts the standby again, on its port.
    pub fn start_standby(&self) {
        self.start_server(&self.standby);
    }

    fn start_server(&self, server: &Server) {
        let options = format!(
            "-p {} -c listen_addresses=127.0.0.1 -k {} -c shared_buffers=16MB -c max_connections=60",
            server.port,
            path(&server.data),
        );
        let log = server.data.with_extension("log");
        let started = self.try_run(
            "pg_ctl",
            &["-D", path(&server.data), "-l", path(&log), "-o", &options, "-w", "-t", "60", "start"],
        );
        if let Err(err) = started {
            let log = std::fs::read_to_string(&log).unwrap_or_default();
            panic!("a test PostgreSQL server did not start: {err}\n{log}");
        }
    }

    fn sql(&self, server: &Server, sql: &str) {
        self.query(server, sql);
    }

    /// The one value `sql` returns, as psql prints it.
    fn query(&self, server: &Server, sql: &str) -> String {
        let port = server.port.to_string();
        let args = ["-h", "127.0.0.1", "-p", &port, "-U", "postgres", "-d", "postgres", "-Atqc", sql];
        self.try_run("psql", &args).unwrap_or_else(|err| panic!("{err}")).trim().to_owned()
    }

    fn run(&self, program: &str, args: &[&str]) {
        if let Err(err) = self.try_run(program, args) {
            panic!("{err}");
        }
    }

    /// Runs a PostgreSQL program; its standard output when it succeeds.
    fn try_run(&self, program: &str, args: &[&str]) -> Result<String, String> {
        let program = self.bin.join(program);
        let as_root = std::fs::metadata("/proc/self").is_ok_and(|meta| meta.uid() == 0);
        let mut command = if as_root {
            let mut command = Command::new("runuser");
            command.args(["-u", "postgres", "--"]).arg(&program);
            command
        } else {
            Command::new(&program)
        };
        let output = command
            .args(args)
            // Every path it is given is absolute; postgres may not read the caller's.
            .current_dir("/")
            .output()
            .map_err(|err| format!("cannot run {}: {err}", program.display()))?;
        if output.status.success() {
            Ok(String::from_utf8_lossy(&output.stdout).into_owned())
        } else {
            Err(format!(
                "{} {} failed ({}): {}{}",
                program.display(),
                args.join(" "),
                output.status,
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            ))
        }
    }
}

impl Drop for ReplicatedPostgres {
    fn drop(&mut self) {
        for server in [&self.standby, &self.primary] {
            let _ = self.try_run("pg_ctl", &["-D", path(&server.data), "-m", "immediate", "-w", "stop"]);
        }
    }
}

/// Where the PostgreSQL server binaries are.
fn bin_dir() -> PathBuf {
    if let Ok(dir) = std::env::var("CONSENTD_TEST_PG_BIN") {
        return PathBuf::from(dir);
    }
    if let Ok(output) = Command::new("pg_config").arg("--bindir").output()
        && output.status.success()
    {
        let dir = PathBuf::from(String::from_utf8_lossy(&output.stdout).trim());
        if dir.join("initdb").exists() {
            return dir;
        }
    }
    let mut versions: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .map(|entries| entries.filter_map(|entry| Some(entry.ok()?.path().join("bin"))).collect())
        .unwrap_or_default();
    versions.retain(|dir| dir.join("initdb").exists());
    versions.sort_by_key(|dir| {
        dir.parent().and_then(|version| version.file_name()?.to_str()?.parse::<u32>().ok()).unwrap_or(0)
    });
    versions.pop().expect(
        "PostgreSQL server binaries (initdb, pg_ctl, pg_basebackup) are needed; set CONSENTD_TEST_PG_BIN",
    )
}

fn chown_to_postgres(dir: &Path) {
    let status = Command::new("chown").args(["postgres:postgres"]).arg(dir).status().expect("chown");
    assert!(status.success(), "cannot give {} to the postgres user", dir.display());
}

/// A loopback port nobody listens on now.
fn free_port() -> u16 {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        if let Ok(listener) = TcpListener::bind("127.0.0.1:0")
            && let Ok(addr) = listener.local_addr()
        {
            return addr.port();
        }
        assert!(Instant::now() < deadline, "no free loopback port");
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn path(path: &Path) -> &str {
    path.to_str().expect("temporary paths are UTF-8")
}
