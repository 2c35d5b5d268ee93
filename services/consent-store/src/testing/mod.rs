//! Throw-away databases for tests: a SQLite file in a temporary directory, or
//! a fresh PostgreSQL database that is dropped again when the value is.
//!
//! PostgreSQL comes from `CONSENTD_TEST_POSTGRES_URL` (default
//! `postgres://postgres@127.0.0.1:5432`). A PostgreSQL test never skips
//! itself: if the server is not there, the test fails.

mod standby;

pub use standby::ReplicatedPostgres;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};

use sea_orm::{ConnectionTrait, Database};
use tempfile::TempDir;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

/// The PostgreSQL server tests use.
pub fn postgres_server_url() -> String {
    std::env::var("CONSENTD_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".to_owned())
}

/// Which database engine a test runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// An embedded SQLite file.
    Sqlite,
    /// A database on the PostgreSQL test server.
    Postgres,
}

/// A database that exists for one test.
#[derive(Debug)]
pub struct TestDatabase {
    /// The URL to connect to.
    pub url: String,
    /// The backend.
    pub backend: Backend,
    postgres_name: Option<String>,
    _dir: Option<TempDir>,
}

impl TestDatabase {
    /// A fresh database on `backend`.
    pub async fn new(backend: Backend) -> Self {
        match backend {
            Backend::Sqlite => Self::sqlite(),
            Backend::Postgres => Self::postgres().await,
        }
    }

    /// A SQLite file in a new temporary directory.
    pub fn sqlite() -> Self {
        let dir = tempfile::tempdir().expect("temporary directory");
        let url = format!("sqlite://{}?mode=rwc", dir.path().join("consentd.db").display());
        Self { url, backend: Backend::Sqlite, postgres_name: None, _dir: Some(dir) }
    }

    /// A new database on the PostgreSQL test server.
    pub async fn postgres() -> Self {
        static COUNTER: AtomicU32 = AtomicU32::new(0);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let name = format!(
            "consentd_test_{}_{}_{nanos}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        );
        let server = postgres_server_url();
        let admin = Database::connect(format!("{server}/postgres"))
            .await
            .unwrap_or_else(|err| panic!("PostgreSQL test server at {server} is not reachable: {err}"));
        admin.execute_unprepared(&format!("CREATE DATABASE \"{name}\"")).await.expect("create test database");
        admin.close().await.ok();
        Self {
            url: format!("{server}/{name}"),
            backend: Backend::Postgres,
            postgres_name: Some(name),
            _dir: None,
        }
    }
}

impl TestDatabase {
    /// The PostgreSQL database's name (`None` for SQLite).
    pub fn postgres_name(&self) -> Option<&str> {
        self.postgres_name.as_deref()
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let Some(name) = self.postgres_name.take() else {
            return;
        };
        // Drop may run inside a runtime; a thread with its own runtime can
        // block on the async driver wherever it runs.
        let server = postgres_server_url();
        let dropper = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().ok()?;
            runtime.block_on(async {
                let admin = Database::connect(format!("{server}/postgres")).await.ok()?;
                admin
                    .execute_unprepared(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
                    .await
                    .ok()?;
                admin.close().await.ok()
            })
        });
        let _ = dropper.join();
    }
}

/// A TCP proxy to PostgreSQL that can **freeze** the connections that issued
/// `LISTEN` (the commit-notice listener's): from then on it forwards nothing
/// on them in either direction but keeps both sockets open, as a half-open
/// connection or a stalled middlebox would. Other connections (the pool's)
/// keep working.
#[derive(Debug)]
pub struct ListenerFreezer {
    /// Where to connect instead of the server.
    pub addr: SocketAddr,
    frozen: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

impl ListenerFreezer {
    /// A proxy on loopback forwarding to `target` (`host:port`).
    pub async fn start(target: &str) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (frozen, is_frozen) = watch::channel(false);
        let target = target.to_owned();
        let task = tokio::spawn(async move {
            while let Ok((inbound, _)) = listener.accept().await {
                let (target, is_frozen) = (target.clone(), is_frozen.clone());
                tokio::spawn(async move {
                    let Ok(outbound) = TcpStream::connect(&target).await else { return };
                    let listening = Arc::new(AtomicBool::new(false));
                    let (client_read, client_write) = inbound.into_split();
                    let (server_read, server_write) = outbound.into_split();
                    let up = forward(
                        client_read,
                        server_write,
                        Some(Arc::clone(&listening)),
                        listening.clone(),
                        is_frozen.clone(),
                    );
                    let down = forward(server_read, client_write, None, listening, is_frozen);
                    tokio::join!(up, down);
                });
            }
        });
        Self { addr, frozen, task }
    }

    /// Freezes the listening connections, now and any that listen later.
    pub fn freeze_listeners(&self) {
        self.frozen.send_replace(true);
    }

    /// Lets connections that listen from now on through again (frozen ones
    /// stay frozen).
    pub fn thaw(&self) {
        self.frozen.send_replace(false);
    }
}

impl Drop for ListenerFreezer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Copies one direction of a proxied connection. `mark` (client to server
/// only) is set once the client sends `LISTEN`; once the connection is a
/// listener and the proxy is frozen, this direction holds what it read and
/// its sockets, forever.
async fn forward(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    mark: Option<Arc<AtomicBool>>,
    listening: Arc<AtomicBool>,
    frozen: watch::Receiver<bool>,
) {
    let mut buffer = vec![0; 16 * 1024];
    loop {
        let Ok(read) = from.read(&mut buffer).await else { return };
        if read == 0 {
            let _ = to.shutdown().await;
            return;
        }
        let chunk = &buffer[..read];
        if let Some(mark) = &mark
            && chunk.windows(7).any(|window| window == b"LISTEN ")
        {
            mark.store(true, Ordering::Release);
        }
        if listening.load(Ordering::Acquire) && *frozen.borrow() {
            // Hold the sockets and forward nothing, ever.
            std::future::pending::<()>().await;
        }
        if to.write_all(chunk).await.is_err() {
            return;
        }
    }
}
