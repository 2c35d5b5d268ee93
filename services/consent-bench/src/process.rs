//! The servers under test run as child processes, so that their CPU time and
//! memory are theirs alone (read from `/proc`), not the load generator's.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{OnceLock, mpsc};
use std::time::Duration;

/// The environment variable that hands the canned response (hex) to the
/// bare server process.
pub(crate) const RESPONSE_ENV: &str = "CONSENT_BENCH_RESPONSE";

/// The CPUs consentd runs on, when the run was given some.
static SERVER_CPUS: OnceLock<String> = OnceLock::new();

/// Starts every consentd of this run under `taskset -c cpus`.
pub(crate) fn run_servers_on(cpus: &str) {
    SERVER_CPUS.set(cpus.to_owned()).expect("set once, at start");
}

/// A server child process and the addresses it announced.
#[derive(Debug)]
pub(crate) struct Server {
    child: Child,
    pub(crate) url: String,
    /// consentd's HTTP port (none for the bare baseline).
    pub(crate) http: Option<std::net::SocketAddr>,
}

impl Server {
    /// Starts `consentd serve` with `config` (a TOML file) and API keys
    /// required (hashed under `key_secret`) on loopback ports
    /// of its choosing and waits for its "consentd is serving" line.
    pub(crate) fn consentd(
        binary: &Path,
        database_url: &str,
        key_secret: &str,
        config: &Path,
        dir: &Path,
    ) -> Self {
        Self::consentd_with(
            binary,
            dir,
            &[
                ("CONSENTD_DATABASE_URL", database_url),
                ("CONSENTD_CONFIG", &config.display().to_string()),
                ("CONSENTD_KEY_SECRET", key_secret),
                ("CONSENTD_AUTH", "required"),
                ("CONSENTD_GRPC_LISTEN", "127.0.0.1:0"),
                ("CONSENTD_HTTP_LISTEN", "127.0.0.1:0"),
            ],
        )
    }

    /// Starts `consentd serve` in `dir` with `env` (JSON logs, warnings
    /// shown) and waits for its "consentd is serving" line.
    pub(crate) fn consentd_with(binary: &Path, dir: &Path, env: &[(&str, &str)]) -> Self {
        // taskset executes the binary in its own process: the child's pid
        // (and so its CPU and memory figures) stays consentd's.
        let mut command = match SERVER_CPUS.get() {
            Some(cpus) => {
                let mut taskset = Command::new("taskset");
                taskset.args(["-c", cpus]).arg(binary);
                taskset
            }
            None => Command::new(binary),
        };
        command
            .arg("serve")
            .current_dir(dir)
            .env("CONSENTD_LOG_FORMAT", "json")
            .env("RUST_LOG", "warn,consentd=info")
            .env_remove("OTEL_EXPORTER_OTLP_ENDPOINT");
        for (key, value) in env {
            command.env(key, value);
        }
        Self::spawn(command, |line| {
            let json: serde_json::Value = serde_json::from_str(line).ok()?;
            let fields = &json["fields"];
            (fields["message"] == "consentd is serving").then(|| {
                let grpc = fields["grpc_addr"].as_str()?.to_owned();
                Some((grpc, fields["http_addr"].as_str().and_then(|http| http.parse().ok())))
            })?
        })
    }

    /// Starts this harness's own bare tonic server (the gRPC baseline),
    /// which answers every check with `response` (an encoded
    /// `CheckConsentResponse`).
    pub(crate) fn bare_grpc(response: &[u8]) -> Self {
        let mut command = Command::new(std::env::current_exe().expect("own executable"));
        command.arg("--bare-grpc").env(RESPONSE_ENV, hex::encode(response));
        Self::spawn(command, |line| {
            line.strip_prefix("bare-grpc serving on ").map(|addr| (addr.to_owned(), None))
        })
    }

    /// Starts this harness's own bare axum server (the HTTP baseline),
    /// which answers Secure Privacy's `consent-given` with a canned body.
    pub(crate) fn bare_http() -> Self {
        let mut command = Command::new(std::env::current_exe().expect("own executable"));
        command.arg("--bare-http");
        Self::spawn(command, |line| {
            let addr = line.strip_prefix("bare-http serving on ")?;
            Some((addr.to_owned(), addr.parse().ok()))
        })
    }

    /// Spawns `command` (stdout and stderr piped) and waits until `address`
    /// finds the gRPC address (and the HTTP one, if any) in one of its lines.
    fn spawn(
        mut command: Command,
        address: impl Fn(&str) -> Option<(String, Option<std::net::SocketAddr>)>,
    ) -> Self {
        command.stdout(Stdio::piped()).stderr(Stdio::piped());
        let child = command.spawn().unwrap_or_else(|err| panic!("cannot start {command:?}: {err}"));
        // Owned from here on: a child that never announces itself is still
        // killed and reaped.
        let mut server = Self { child, url: String::new(), http: None };
        let (found, announced) = mpsc::channel();
        for pipe in [
            server.child.stdout.take().map(|out| Box::new(out) as Box<dyn std::io::Read + Send>),
            server.child.stderr.take().map(|err| Box::new(err) as Box<dyn std::io::Read + Send>),
        ]
        .into_iter()
        .flatten()
        {
            let found = found.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(pipe).lines().map_while(Result::ok) {
                    // Keep draining after the address is found, so the child never
                    // blocks on a full pipe; show what it says about trouble.
                    if line.contains("\"level\":\"WARN\"") || line.contains("\"level\":\"ERROR\"") {
                        eprintln!("server: {line}");
                    }
                    let _ = found.send(line);
                }
            });
        }
        drop(found);
        loop {
            let line = announced
                .recv_timeout(Duration::from_secs(120))
                .unwrap_or_else(|_| panic!("{command:?} did not announce its address"));
            if let Some((grpc, http)) = address(&line) {
                server.url = format!("http://{grpc}");
                server.http = http;
                return server;
            }
        }
    }

    /// A handle for reading the process's CPU time and memory.
    pub(crate) fn stats(&self) -> ProcStats {
        ProcStats { pid: self.child.id() }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Reads a process's resource use from `/proc`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ProcStats {
    pid: u32,
}

impl ProcStats {
    /// This process: the load generator.
    pub(crate) fn own() -> Self {
        Self { pid: std::process::id() }
    }

    /// Another process on this machine.
    pub(crate) fn of(pid: u32) -> Self {
        Self { pid }
    }

    /// CPU seconds (user + system, all threads) the process has used so far.
    pub(crate) fn cpu_seconds(self) -> f64 {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.pid)).unwrap_or_default();
        // Fields after the parenthesised command name; utime and stime are
        // the 14th and 15th fields of the whole line.
        let after_name = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
        let fields: Vec<&str> = after_name.split_whitespace().collect();
        let ticks = |index: usize| fields.get(index).and_then(|f| f.parse::<u64>().ok()).unwrap_or(0);
        let per_second = rustix::param::clock_ticks_per_second() as f64;
        (ticks(11) + ticks(12)) as f64 / per_second
    }

    /// Starts the peak (`VmHWM`) over from the resident set now (Linux:
    /// `clear_refs` 5), so the next peak is that of what runs after.
    pub(crate) fn reset_peak(self) {
        if let Err(err) = std::fs::write(format!("/proc/{}/clear_refs", self.pid), "5") {
            eprintln!("  cannot reset the peak resident set: {err}");
        }
    }

    /// The resident set now (`VmRSS`) and its peak since start (`VmHWM`), in MiB.
    pub(crate) fn memory_mib(self) -> (f64, f64) {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid)).unwrap_or_default();
        let kib = |key: &str| {
            status
                .lines()
                .find_map(|line| line.strip_prefix(key))
                .and_then(|rest| rest.split_whitespace().next())
                .and_then(|n| n.parse::<f64>().ok())
                .unwrap_or(0.0)
        };
        (kib("VmRSS:") / 1024.0, kib("VmHWM:") / 1024.0)
    }
}

/// The release `consentd` binary: the one named, or the workspace's own,
/// built first with the cargo that runs this harness.
pub(crate) fn consentd_binary(named: Option<PathBuf>) -> PathBuf {
    if let Some(path) = named {
        // The server runs in its own directory: a relative path would miss.
        return std::fs::canonicalize(&path).unwrap_or_else(|err| panic!("{}: {err}", path.display()));
    }
    release_binary("consentd")
}

/// The workspace's release binary of `package` (named as its package),
/// built first with the cargo that runs this harness.
pub(crate) fn release_binary(package: &str) -> PathBuf {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let status = Command::new(cargo)
        .args(["build", "--release", "--locked", "-p", package])
        .current_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
        .status()
        .expect("cargo runs");
    assert!(status.success(), "cannot build {package}");
    // target/<profile>/consent-bench → target/release/<package>
    let own = std::env::current_exe().expect("own executable");
    let target = own.parent().and_then(Path::parent).expect("a target directory");
    target.join("release").join(package)
}
