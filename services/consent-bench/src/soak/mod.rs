//! The fault soak: continuous writes and resuming subscribers while
//! `consentd` is killed with SIGKILL again and again — on SQLite, and on
//! PostgreSQL with two replicas, where the database server is also restarted
//! and one replica's commit-notice connection is frozen for a while.
//! Afterwards every acknowledged write must be in the database exactly once,
//! nothing else may be, and every subscriber's log must pass the feed
//! checker: strictly increasing revisions, each matching record once,
//! nothing missed.
//!
//! ```sh
//! cargo run --release -p consent-bench -- --soak            # 20 kills per backend
//! ```

mod load;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use consent_proto::v1 as pb;
use consent_store::testing::{Backend, ListenerFreezer, TestDatabase, postgres_server_url};
use tokio::sync::watch;
use tokio::time::Instant;

use crate::process::Server;
use load::{Acknowledged, Client, Delivered, Watch};

/// Writers at once.
const WRITERS: usize = 4;

/// Quick heartbeats (subscribers stop on one at the final head) and polls.
const CONFIG: &str = "[subscribe]\nheartbeat_interval_ms = 200\npoll_interval_ms = 200\n";

/// One consentd on fixed loopback ports, killed and started again.
struct Replica {
    name: &'static str,
    database_url: String,
    grpc: SocketAddr,
    http: SocketAddr,
    dir: PathBuf,
    server: Option<Server>,
}

impl Replica {
    fn new(name: &'static str, database_url: String, dir: &Path) -> Self {
        Self { name, database_url, grpc: free_port(), http: free_port(), dir: dir.to_owned(), server: None }
    }

    fn start(&mut self, binary: &Path) {
        let config = self.dir.join("soak.toml");
        std::fs::write(&config, CONFIG).expect("soak config");
        let (grpc, http, config) =
            (self.grpc.to_string(), self.http.to_string(), config.display().to_string());
        let env = [
            ("CONSENTD_DATABASE_URL", self.database_url.as_str()),
            ("CONSENTD_GRPC_LISTEN", grpc.as_str()),
            ("CONSENTD_HTTP_LISTEN", http.as_str()),
            ("CONSENTD_AUTH", "disabled"),
            ("CONSENTD_CONFIG", config.as_str()),
            // Faults make warnings by the hundred; errors still show.
            ("RUST_LOG", "error,consentd::server=info"),
        ];
        self.server = Some(tokio::task::block_in_place(|| Server::consentd_with(binary, &self.dir, &env)));
    }

    /// SIGKILL: no shutdown, no flush, no goodbye.
    fn kill(&mut self) {
        self.server = None;
    }
}

/// A loopback port nobody listens on now.
fn free_port() -> SocketAddr {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
    listener.local_addr().expect("its address")
}

/// What the soak on one backend did and found.
#[derive(Debug)]
pub(crate) struct SoakReport {
    pub(crate) backend: &'static str,
    pub(crate) kills: usize,
    pub(crate) other_faults: Vec<String>,
    pub(crate) seconds: f64,
    pub(crate) acknowledged: usize,
    pub(crate) retries: usize,
    pub(crate) stored: usize,
    pub(crate) subscribers: Vec<(String, usize, usize)>,
}

/// Runs the soak on `backend` with `kills` SIGKILLs; panics naming what
/// did not hold.
pub(crate) async fn soak(binary: &Path, backend: Backend, kills: usize) -> SoakReport {
    let started = Instant::now();
    let database = TestDatabase::new(backend).await;
    let dir = tempfile::tempdir().expect("temporary directory");
    let postgres = backend == Backend::Postgres;
    // PostgreSQL: replica A reaches the database through a proxy that can
    // freeze its commit-notice connection; B directly.
    let freezer = if postgres {
        Some(ListenerFreezer::start(postgres_server_url().rsplit('@').next().expect("host:port")).await)
    } else {
        None
    };
    let mut replicas = replicas(&database, dir.path(), freezer.as_ref());
    for replica in &mut replicas {
        replica.start(binary);
    }
    let clients: Vec<Client> = replicas.iter().map(|replica| load::client(replica.grpc)).collect();

    let (stop, stopped) = watch::channel(false);
    let (head, final_head) = watch::channel(None);
    let acknowledged = Arc::new(Mutex::new(Vec::new()));
    let writers: Vec<_> = (0..WRITERS)
        .map(|writer| {
            tokio::spawn(load::write(writer, clients.clone(), stopped.clone(), Arc::clone(&acknowledged)))
        })
        .collect();
    let subscribers = spawn_subscribers(&clients, &final_head);

    let other_faults = inject_faults(binary, &mut replicas, freezer.as_ref(), kills).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    stop.send_replace(true);
    let mut retries = 0;
    for writer in writers {
        retries += writer.await.expect("writer");
    }
    let acknowledged =
        std::mem::take(&mut *acknowledged.lock().unwrap_or_else(std::sync::PoisonError::into_inner));

    // The database, read through the last replica: every record of the run.
    let mut reader = clients[clients.len() - 1].clone();
    let stored = history(&mut reader).await;
    head.send_replace(stored.last().map(|record| record.revision));
    let mut delivered = Vec::new();
    for subscriber in subscribers {
        delivered.push(
            tokio::time::timeout(Duration::from_secs(120), subscriber)
                .await
                .expect("subscriber finishes")
                .expect("subscriber"),
        );
    }
    check_writes(&acknowledged, &stored);
    for subscriber in &delivered {
        check_feed(subscriber, &stored);
    }
    SoakReport {
        backend: if postgres { "postgres" } else { "sqlite" },
        kills,
        other_faults,
        seconds: started.elapsed().as_secs_f64(),
        acknowledged: acknowledged.len(),
        retries,
        stored: stored.len(),
        subscribers: delivered.iter().map(|d| (d.name.clone(), d.revisions.len(), d.resumes)).collect(),
    }
}

/// Replica A, reaching the database through `freezer` when there is one,
/// and on PostgreSQL replica B beside it (not started yet).
fn replicas(database: &TestDatabase, dir: &Path, freezer: Option<&ListenerFreezer>) -> Vec<Replica> {
    let mut replicas = vec![Replica::new(
        "A",
        match freezer {
            Some(freezer) => format!(
                "postgres://postgres@{}/{}",
                freezer.addr,
                database.postgres_name().expect("a PostgreSQL database")
            ),
            None => database.url.clone(),
        },
        dir,
    )];
    if database.postgres_name().is_some() {
        let b = dir.join("b");
        std::fs::create_dir_all(&b).expect("replica directory");
        replicas.push(Replica::new("B", database.url.clone(), &b));
    }
    replicas
}

/// The subscribers of every replica: one watching everything and one
/// watching marketing from each, each resuming on the others when its
/// replica dies, until the final head is reached.
fn spawn_subscribers(
    clients: &[Client],
    final_head: &watch::Receiver<Option<i64>>,
) -> Vec<tokio::task::JoinHandle<Delivered>> {
    [("everything", Watch::Everything), ("marketing", Watch::Marketing)]
        .into_iter()
        .flat_map(|(name, watch)| {
            clients
                .iter()
                .enumerate()
                .map(move |(index, client)| (format!("{name} from {index}"), watch, client.clone()))
        })
        .map(|(name, watch, first)| {
            let mut own = vec![first];
            own.extend(clients.iter().cloned());
            tokio::spawn(load::subscribe(name, watch, own, final_head.clone()))
        })
        .collect()
}

/// `kills` SIGKILLs of the replicas in turn, each restarted at once; on
/// PostgreSQL also a frozen commit-notice connection (thawed later) and a
/// database restart. Returns the faults beyond the kills.
async fn inject_faults(
    binary: &Path,
    replicas: &mut [Replica],
    freezer: Option<&ListenerFreezer>,
    kills: usize,
) -> Vec<String> {
    let mut other_faults = Vec::new();
    for kill in 0..kills {
        tokio::time::sleep(Duration::from_millis(700 + (kill as u64 * 137) % 800)).await;
        let count = replicas.len();
        let replica = &mut replicas[kill % count];
        eprintln!("  kill -9 of replica {} ({}/{kills})", replica.name, kill + 1);
        replica.kill();
        tokio::time::sleep(Duration::from_millis(200)).await;
        replica.start(binary);
        if let Some(freezer) = freezer {
            if kill == kills / 4 {
                eprintln!("  freezing replica A's commit-notice connection");
                freezer.freeze_listeners();
                other_faults.push("replica A's commit-notice connection frozen".to_owned());
            }
            if kill == kills / 2 {
                eprintln!("  restarting PostgreSQL");
                restart_postgres();
                other_faults.push("PostgreSQL restarted".to_owned());
            }
            if kill == 3 * kills / 4 {
                eprintln!("  thawing replica A's commit-notice connection");
                freezer.thaw();
            }
        }
    }
    other_faults
}

/// Every record, in revision order, following page tokens.
async fn history(client: &mut Client) -> Vec<pb::ConsentRecord> {
    let mut records = Vec::new();
    let mut token = String::new();
    loop {
        let page = loop {
            let request = pb::QueryConsentsRequest {
                history: true,
                page_size: 1000,
                page_token: token.clone(),
                ..Default::default()
            };
            match client.query_consents(request).await {
                Ok(page) => break page.into_inner(),
                Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        };
        records.extend(page.records);
        if page.next_page_token.is_empty() {
            return records;
        }
        token = page.next_page_token;
    }
}

/// Every acknowledged write is stored exactly once, as acknowledged, and
/// nothing unacknowledged is stored.
fn check_writes(acknowledged: &[Acknowledged], stored: &[pb::ConsentRecord]) {
    let mut by_identity: HashMap<&str, Vec<&pb::ConsentRecord>> = HashMap::new();
    for record in stored {
        let identity = record.identities.first().map_or("", |identity| identity.value.as_str());
        by_identity.entry(identity).or_default().push(record);
    }
    for write in acknowledged {
        let found = by_identity.get(write.identity.as_str()).map_or(&[][..], Vec::as_slice);
        assert_eq!(found.len(), 1, "acknowledged write {} is stored {} times", write.identity, found.len());
        assert_eq!(
            found[0].id, write.record_id,
            "acknowledged write {} has another record id",
            write.identity
        );
    }
    assert_eq!(stored.len(), acknowledged.len(), "records stored that no writer was acknowledged for");
}

/// The feed checker: strictly increasing revisions, and exactly the stored
/// records the subscriber's filter takes.
fn check_feed(subscriber: &Delivered, stored: &[pb::ConsentRecord]) {
    assert!(
        subscriber.revisions.windows(2).all(|pair| pair[0] < pair[1]),
        "{}: revisions out of order or repeated",
        subscriber.name
    );
    let expected: Vec<i64> = stored
        .iter()
        .filter(|record| match subscriber.watch {
            Watch::Everything => true,
            Watch::Marketing => record.purpose == "marketing",
        })
        .map(|record| record.revision)
        .collect();
    assert_eq!(subscriber.revisions.len(), expected.len(), "{}: missed or extra events", subscriber.name);
    assert_eq!(subscriber.revisions, expected, "{}: not the stored records", subscriber.name);
}

/// Restarts the local PostgreSQL server (its cluster tools, as CI starts it).
fn restart_postgres() {
    let version = std::fs::read_dir("/etc/postgresql")
        .ok()
        .and_then(|mut entries| entries.next())
        .and_then(Result::ok)
        .map(|entry| entry.file_name().to_string_lossy().into_owned())
        .expect("a PostgreSQL cluster under /etc/postgresql");
    let status = std::process::Command::new("pg_ctlcluster")
        .args(["--skip-systemctl-redirect", &version, "main", "restart"])
        .status()
        .expect("pg_ctlcluster runs");
    assert!(status.success(), "PostgreSQL did not restart");
}

impl SoakReport {
    /// One paragraph for docs/reliability.md.
    pub(crate) fn markdown(&self) -> String {
        let subscribers: Vec<String> = self
            .subscribers
            .iter()
            .map(|(name, events, resumes)| format!("{name}: {events} events, {resumes} resumes"))
            .collect();
        let others = if self.other_faults.is_empty() {
            String::new()
        } else {
            format!(", {}", self.other_faults.join(", "))
        };
        format!(
            "- {}: {} × `kill -9`{others} in {:.0} s; {} writes acknowledged ({} retries), {} records stored, \
             each acknowledged write exactly once; subscribers passed the feed checker ({})",
            self.backend,
            self.kills,
            self.seconds,
            self.acknowledged,
            self.retries,
            self.stored,
            subscribers.join("; ")
        )
    }
}
