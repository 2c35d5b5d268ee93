//! Real `consentd` processes and a loopback TCP proxy the tests control.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

/// A `consentd serve` child process on loopback ports it chose itself.
pub(crate) struct ConsentdProcess {
    child: Option<Child>,
    pub(crate) grpc_addr: String,
    pub(crate) http_addr: SocketAddr,
    /// The key `serve` created and printed on a database without keys.
    pub(crate) bootstrap_key: Option<String>,
    /// Every line the process wrote to stderr, for failure messages.
    log: Arc<Mutex<Vec<String>>>,
}

impl ConsentdProcess {
    /// Starts `consentd serve` in `dir` with extra environment, and waits for
    /// its "consentd is serving" log line.
    pub(crate) fn spawn(dir: &std::path::Path, env: &[(&str, &str)]) -> Self {
        let mut command = Command::new(env!("CARGO_BIN_EXE_consentd"));
        command
            .arg("serve")
            .current_dir(dir)
            .env("CONSENTD_GRPC_LISTEN", "127.0.0.1:0")
            .env("CONSENTD_HTTP_LISTEN", "127.0.0.1:0")
            .env("CONSENTD_LOG_FORMAT", "json")
            .env_remove("CONSENTD_DATABASE_URL")
            .stderr(Stdio::piped());
        for (key, value) in env {
            command.env(key, value);
        }
        let mut child = command.spawn().expect("consentd starts");
        let stderr = child.stderr.take();
        // Owned from here on, so a failed start still kills and reaps it.
        let mut process = Self {
            child: Some(child),
            grpc_addr: String::new(),
            http_addr: ([0, 0, 0, 0], 0).into(),
            bootstrap_key: None,
            log: Arc::default(),
        };
        let (lines, found) = std::sync::mpsc::channel();
        let log = process.log.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr.expect("stderr piped")).lines().map_while(Result::ok) {
                log.lock().unwrap().push(line.clone());
                let _ = lines.send(line);
            }
        });
        loop {
            let line = found.recv_timeout(Duration::from_secs(60)).expect("consentd logs its address");
            if let Some(key) =
                line.strip_prefix("consentd: created API key for tenant default (shown only now): ")
            {
                process.bootstrap_key = Some(key.to_owned());
                continue;
            }
            // Not every line is a log record: a panic message goes to stderr
            // as plain text.
            let Ok(json) = serde_json::from_str::<serde_json::Value>(&line) else { continue };
            if json["fields"]["message"] == "consentd is serving" {
                process.grpc_addr = json["fields"]["grpc_addr"].as_str().expect("grpc_addr").to_owned();
                process.http_addr =
                    json["fields"]["http_addr"].as_str().expect("http_addr").parse().expect("addr");
                return process;
            }
        }
    }

    /// Starts `consentd serve` in `dir` with `config` as its config file
    /// (`CONSENTD_CONFIG`) and extra environment, from async code.
    pub(crate) async fn start(dir: &std::path::Path, config: &str, env: &[(&str, &str)]) -> Self {
        let file = dir.join("consentd.toml");
        std::fs::write(&file, config).unwrap();
        let file = file.display().to_string();
        let dir = dir.to_owned();
        let env: Vec<(String, String)> =
            env.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
        tokio::task::spawn_blocking(move || {
            let mut env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
            env.push(("CONSENTD_CONFIG", &file));
            Self::spawn(&dir, &env)
        })
        .await
        .unwrap()
    }

    pub(crate) fn url(&self) -> String {
        format!("http://{}", self.grpc_addr)
    }

    /// What the process has written to stderr so far.
    pub(crate) fn log(&self) -> Vec<String> {
        self.log.lock().unwrap().clone()
    }

    /// Kills the process (SIGKILL) and reaps it: a crash, not a shutdown.
    pub(crate) fn kill(mut self) {
        if let Some(mut child) = self.child.take() {
            child.kill().unwrap();
            child.wait().unwrap();
        }
    }

    /// Sends SIGTERM and returns the exit status.
    pub(crate) async fn terminate(mut self) -> std::process::ExitStatus {
        let mut child = self.child.take().expect("running");
        let pid = child.id().to_string();
        assert!(Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
        tokio::task::spawn_blocking(move || child.wait()).await.unwrap().unwrap()
    }

    /// Sends SIGTERM and asserts a clean exit, showing the log if not.
    pub(crate) async fn stop(self) {
        let log = self.log.clone();
        let status = self.terminate().await;
        // The reader thread may still be draining the last lines.
        tokio::time::sleep(Duration::from_millis(if status.success() { 0 } else { 200 })).await;
        assert!(
            status.success(),
            "consentd exited with {status:?}; its log:\n{}",
            log.lock().unwrap().join("\n")
        );
    }
}

impl Drop for ConsentdProcess {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// A TCP proxy on loopback that the test can cut (close every connection and
/// refuse new ones) and restore — a database outage without touching the
/// shared server.
pub(crate) struct TcpProxy {
    pub(crate) addr: SocketAddr,
    cut: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

impl TcpProxy {
    pub(crate) async fn start(target: &str) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (cut, is_cut) = watch::channel(false);
        let target = target.to_owned();
        let task = tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                if *is_cut.borrow() {
                    continue; // dropped: the connection is refused
                }
                let mut is_cut = is_cut.clone();
                let target = target.clone();
                tokio::spawn(async move {
                    let Ok(mut outbound) = TcpStream::connect(&target).await else { return };
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound) => {}
                        _ = is_cut.wait_for(|cut| *cut) => {}
                    }
                });
            }
        });
        Self { addr, cut, task }
    }

    pub(crate) fn cut(&self) {
        self.cut.send_replace(true);
    }

    pub(crate) fn restore(&self) {
        self.cut.send_replace(false);
    }
}

impl Drop for TcpProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}
