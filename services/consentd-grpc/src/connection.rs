//! A connection to the gRPC port, and what the calls on it share: the
//! client's address and the connection's call slots
//! (`[limits] concurrency_per_connection`).
//!
//! tonic puts a connection's [`ConnectionInfo`] into every request's
//! extensions, so the request pipeline (`pipeline::steps::Admit`) can refuse a call
//! beyond the connection's limit itself. tonic's own per-connection limit
//! answers before the request has been read, which leaves the stream for
//! HTTP/2 to reset: see `pipeline::refusal::drained`.

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::sync::Semaphore;
use tonic::transport::server::Connected;

/// An accepted TCP connection to the gRPC port.
#[derive(Debug)]
pub struct GrpcConnection {
    tcp: TcpStream,
    info: ConnectionInfo,
}

impl GrpcConnection {
    /// A connection on which at most `concurrency` calls run at once.
    pub fn new(tcp: TcpStream, concurrency: usize) -> Self {
        let remote = tcp.peer_addr().ok();
        Self { tcp, info: ConnectionInfo { remote, slots: Arc::new(Semaphore::new(concurrency)) } }
    }

    #[cfg(test)]
    pub(crate) fn tcp(&self) -> &TcpStream {
        &self.tcp
    }
}

/// What every call on one connection sees.
#[derive(Debug, Clone)]
pub struct ConnectionInfo {
    /// The client's address.
    pub remote: Option<SocketAddr>,
    slots: Arc<Semaphore>,
}

impl ConnectionInfo {
    /// The connection's call slots: the request pipeline holds one per call
    /// until the call's response is ready.
    pub fn slots(&self) -> &Arc<Semaphore> {
        &self.slots
    }
}

impl Connected for GrpcConnection {
    type ConnectInfo = ConnectionInfo;

    fn connect_info(&self) -> ConnectionInfo {
        self.info.clone()
    }
}

impl AsyncRead for GrpcConnection {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().tcp).poll_read(cx, buf)
    }
}

impl AsyncWrite for GrpcConnection {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().tcp).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().tcp).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.tcp.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().tcp).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().tcp).poll_shutdown(cx)
    }
}
