//! What a session runs over: a TCP connection (the daemon's listeners and
//! dials) or an in-memory stream (`tokio::io::duplex`), on which the
//! session's tests and benchmarks play the peer without sockets or root.
//!
//! Both give the session what it needs of a connection: halves to read and
//! write, the local address (the next hop the core announces), and, on the
//! writing half, the octets the peer has not yet acknowledged and a reset.
//! Over TCP those are the socket's (`SIOCOUTQ`, `SO_LINGER` 0, RST); an
//! in-memory peer has every octet written as soon as it is in the stream's
//! buffer, and a reset is closing the stream.

use std::future::Future;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, DuplexStream, ReadBuf};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpSocket, TcpStream};
use tokio::sync::mpsc;
use tracing::debug;

use crate::config::NeighborConfig;

/// One connection of a session, accepted or dialled.
#[derive(Debug)]
pub enum Stream {
    Tcp(TcpStream),
    /// An in-memory stream, with the local address the session reports
    /// for it.
    Memory {
        stream: DuplexStream,
        local: SocketAddr,
    },
}

impl From<TcpStream> for Stream {
    fn from(s: TcpStream) -> Stream {
        Stream::Tcp(s)
    }
}

/// The in-memory stream's buffer in each direction: a peer that stops
/// reading holds the writer at this many octets, as a full TCP window does.
pub const MEMORY_BUFFER: usize = 64 * 1024;

impl Stream {
    /// Messages go out as soon as they are written (no Nagle delay).
    pub(super) fn set_nodelay(&self) -> io::Result<()> {
        match self {
            Stream::Tcp(s) => s.set_nodelay(true),
            Stream::Memory { .. } => Ok(()),
        }
    }

    pub(super) fn local_addr(&self) -> io::Result<SocketAddr> {
        match self {
            Stream::Tcp(s) => s.local_addr(),
            Stream::Memory { local, .. } => Ok(*local),
        }
    }

    pub(super) fn into_split(self) -> (ReadHalf, WriteHalf) {
        match self {
            Stream::Tcp(s) => {
                let (r, w) = s.into_split();
                (ReadHalf::Tcp(r), WriteHalf::Tcp(w))
            }
            Stream::Memory { stream, .. } => {
                let (r, w) = tokio::io::split(stream);
                (ReadHalf::Memory(r), WriteHalf::Memory(w))
            }
        }
    }
}

/// The reading half of a [`Stream`].
pub(super) enum ReadHalf {
    Tcp(OwnedReadHalf),
    Memory(tokio::io::ReadHalf<DuplexStream>),
}

/// The writing half of a [`Stream`], owned by the writer task.
pub(super) enum WriteHalf {
    Tcp(OwnedWriteHalf),
    Memory(tokio::io::WriteHalf<DuplexStream>),
}

impl WriteHalf {
    /// Octets written but not yet acknowledged by the peer: the socket's
    /// send queue (`SIOCOUTQ`). In memory, what is written is delivered.
    pub(super) fn unacknowledged_octets(&self) -> io::Result<usize> {
        match self {
            WriteHalf::Tcp(w) => {
                crate::sockopt::unacknowledged_octets(std::os::fd::AsRawFd::as_raw_fd(w.as_ref()))
            }
            WriteHalf::Memory(_) => Ok(0),
        }
    }

    /// Closes the connection with a RST, discarding what is queued: over
    /// TCP `SO_LINGER` 0 and no FIN (the socket closes, with RST, when the
    /// read half is dropped too); in memory the half is dropped, and the
    /// stream closes with the read half likewise.
    pub(super) fn reset(self) {
        match self {
            WriteHalf::Tcp(w) => {
                let fd = std::os::fd::AsRawFd::as_raw_fd(w.as_ref());
                if let Err(e) = crate::sockopt::set_linger_zero(fd) {
                    debug!(error = %e, "SO_LINGER 0 not set");
                }
                w.forget();
            }
            WriteHalf::Memory(w) => drop(w),
        }
    }
}

impl AsyncRead for ReadHalf {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            ReadHalf::Tcp(r) => Pin::new(r).poll_read(cx, buf),
            ReadHalf::Memory(r) => Pin::new(r).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for WriteHalf {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            WriteHalf::Tcp(w) => Pin::new(w).poll_write(cx, buf),
            WriteHalf::Memory(w) => Pin::new(w).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            WriteHalf::Tcp(w) => Pin::new(w).poll_flush(cx),
            WriteHalf::Memory(w) => Pin::new(w).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            WriteHalf::Tcp(w) => Pin::new(w).poll_shutdown(cx),
            WriteHalf::Memory(w) => Pin::new(w).poll_shutdown(cx),
        }
    }
}

/// Writing to a whole stream: refusing a connection with a NOTIFICATION.
impl AsyncWrite for Stream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Stream::Tcp(s) => Pin::new(s).poll_write(cx, buf),
            Stream::Memory { stream, .. } => Pin::new(stream).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Tcp(s) => Pin::new(s).poll_flush(cx),
            Stream::Memory { stream, .. } => Pin::new(stream).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Tcp(s) => Pin::new(s).poll_shutdown(cx),
            Stream::Memory { stream, .. } => Pin::new(stream).poll_shutdown(cx),
        }
    }
}

/// How a session connects out.
#[derive(Clone, Debug)]
pub enum Dial {
    /// TCP to the neighbour's address and `peer-port`, from its
    /// `local-address`, with its MD5 key and GTSM: the daemon's sessions.
    Tcp,
    /// An in-memory stream per attempt: the session keeps one end (with
    /// `local` as its local address) and the other end goes to `peer`, the
    /// receiver playing the neighbour. With the receiver gone the attempt
    /// fails, as a refused connection does.
    Memory {
        local: SocketAddr,
        peer: mpsc::Sender<DuplexStream>,
    },
}

pub(super) type ConnectFuture = Pin<Box<dyn Future<Output = io::Result<Stream>> + Send>>;

impl Dial {
    /// One connection attempt to `neighbor`.
    pub(super) fn connect(&self, neighbor: &NeighborConfig) -> ConnectFuture {
        match self {
            Dial::Tcp => {
                let s = &neighbor.session;
                let fut = connect_tcp(
                    neighbor.address,
                    s.peer_port,
                    s.local_address,
                    s.authentication_key.clone(),
                    s.ttl_security,
                );
                Box::pin(async move { fut.await.map(Stream::Tcp) })
            }
            Dial::Memory { local, peer } => {
                let (local, peer) = (*local, peer.clone());
                Box::pin(async move {
                    let (ours, theirs) = tokio::io::duplex(MEMORY_BUFFER);
                    peer.send(theirs)
                        .await
                        .map_err(|_| io::Error::from(io::ErrorKind::ConnectionRefused))?;
                    Ok(Stream::Memory {
                        stream: ours,
                        local,
                    })
                })
            }
        }
    }
}

async fn connect_tcp(
    addr: IpAddr,
    port: u16,
    local: Option<IpAddr>,
    md5_key: Option<String>,
    ttl_security: Option<u8>,
) -> io::Result<TcpStream> {
    let socket = match addr {
        IpAddr::V4(_) => TcpSocket::new_v4()?,
        IpAddr::V6(_) => TcpSocket::new_v6()?,
    };
    let fd = std::os::fd::AsRawFd::as_raw_fd(&socket);
    if let Some(k) = md5_key {
        crate::sockopt::set_md5(fd, ipnet::IpNet::from(addr), k.as_bytes())?;
    }
    if let Some(hops) = ttl_security {
        crate::sockopt::set_gtsm(fd, addr, hops)?;
    }
    if let Some(l) = local {
        socket.bind(SocketAddr::new(l, 0))?;
    }
    socket.connect(SocketAddr::new(addr, port)).await
}
