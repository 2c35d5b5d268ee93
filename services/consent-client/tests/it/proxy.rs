//! A TCP proxy whose backend can be switched, whose connections can be cut,
//! and which can refuse new ones for a while.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

#[derive(Debug, Clone)]
pub(crate) struct Proxy {
    pub(crate) addr: SocketAddr,
    backend: Arc<Mutex<Option<SocketAddr>>>,
    cuts: watch::Sender<u64>,
}

impl Proxy {
    pub(crate) async fn start(backend: SocketAddr) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("proxy binds");
        let addr = listener.local_addr().expect("address");
        let backend = Arc::new(Mutex::new(Some(backend)));
        let (cuts, _) = watch::channel(0);
        let proxy = Self { addr, backend: backend.clone(), cuts: cuts.clone() };
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                // Down: the connection is closed at once, like a refusal.
                let Some(target) = *backend.lock().expect("backend") else { continue };
                let mut cut = cuts.subscribe();
                tokio::spawn(async move {
                    let Ok(mut server) = TcpStream::connect(target).await else { return };
                    let mut client = client;
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut client, &mut server) => {}
                        _ = cut.changed() => {}
                    }
                });
            }
        });
        proxy
    }

    /// Closes every open connection.
    pub(crate) fn cut(&self) {
        self.cuts.send_modify(|n| *n += 1);
    }

    /// New connections go to `backend`; `None` refuses them.
    pub(crate) fn point(&self, backend: Option<SocketAddr>) {
        *self.backend.lock().expect("backend") = backend;
    }
}
