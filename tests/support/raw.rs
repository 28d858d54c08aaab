//! A minimal BGP speaker for tests: OPEN, KEEPALIVE, then raw messages.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use ferry_wire::message::Capability;
use ferry_wire::{frame_length, DecodeContext, EncodeContext, Family, Message, Notification, Open};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

/// An Established session.
pub struct Session {
    pub stream: TcpStream,
    buf: BytesMut,
    /// Both OPENs had the extended message capability (RFC 8654):
    /// messages are decoded up to 65535 octets.
    pub extended_message: bool,
    /// The peer's OPEN, once received.
    pub peer_open: Option<Open>,
}

/// The capabilities of [`connect`]'s OPEN: EVPN, VPNv4, 4-octet AS
/// `asn`.
pub fn capabilities(asn: u32) -> Vec<Capability> {
    vec![
        Capability::Multiprotocol {
            family: Family::EVPN,
        },
        Capability::Multiprotocol {
            family: Family::VPNV4,
        },
        Capability::FourOctetAs { asn },
    ]
}

/// Connects from `local` to `peer`:179 as AS 64512 with the seed's
/// families and completes the OPEN exchange.
pub async fn connect(
    local: Ipv4Addr,
    peer: Ipv4Addr,
    router_id: Ipv4Addr,
) -> std::io::Result<Session> {
    connect_with(
        local,
        peer,
        Open::new(64512, 90, router_id, capabilities(64512)),
    )
    .await
}

/// Connects and completes the OPEN exchange with `open`; a NOTIFICATION
/// in answer is an error holding its text.
pub async fn connect_with(local: Ipv4Addr, peer: Ipv4Addr, open: Open) -> std::io::Result<Session> {
    let mut s = tcp(local, peer, None).await?;
    match s.handshake(&open).await? {
        Ok(_) => Ok(s),
        Err(n) => Err(std::io::Error::other(n.to_string())),
    }
}

/// A TCP connection from `local` to `peer`:179 with nothing sent yet;
/// `recv_buffer` sets SO_RCVBUF first.
pub async fn tcp(
    local: Ipv4Addr,
    peer: Ipv4Addr,
    recv_buffer: Option<u32>,
) -> std::io::Result<Session> {
    let socket = TcpSocket::new_v4()?;
    if let Some(size) = recv_buffer {
        socket.set_recv_buffer_size(size)?;
    }
    socket.bind(SocketAddr::new(IpAddr::V4(local), 0))?;
    let stream = socket
        .connect(SocketAddr::new(IpAddr::V4(peer), 179))
        .await?;
    Ok(Session {
        stream,
        buf: BytesMut::new(),
        extended_message: false,
        peer_open: None,
    })
}

impl Session {
    /// Sends `open`, answers the peer's OPEN with a KEEPALIVE and waits
    /// for its KEEPALIVE: the peer's OPEN, or the NOTIFICATION it sent.
    pub async fn handshake(&mut self, open: &Open) -> std::io::Result<Result<Open, Notification>> {
        self.send(&Message::Open(open.clone())).await?;
        let ours = open
            .capabilities()
            .any(|c| *c == Capability::ExtendedMessage);
        loop {
            match self.recv(Duration::from_secs(10)).await? {
                Message::Open(o) => {
                    self.extended_message =
                        ours && o.capabilities().any(|c| *c == Capability::ExtendedMessage);
                    self.peer_open = Some(o);
                    self.send(&Message::Keepalive).await?;
                }
                Message::Keepalive => {
                    return Ok(Ok(self.peer_open.clone().unwrap_or_else(|| open.clone())))
                }
                Message::Notification(n) => return Ok(Err(n)),
                _ => {}
            }
        }
    }

    /// How this session's messages are decoded.
    pub fn decode_context(&self) -> DecodeContext {
        DecodeContext {
            extended_message: self.extended_message,
            ..DecodeContext::default()
        }
    }

    pub async fn send(&mut self, m: &Message) -> std::io::Result<()> {
        let ctx = EncodeContext {
            extended_message: self.extended_message,
            ..EncodeContext::default()
        };
        let b = m.to_bytes(&ctx).map_err(std::io::Error::other)?;
        self.stream.write_all(&b).await
    }

    pub async fn send_raw(&mut self, b: &[u8]) -> std::io::Result<()> {
        self.stream.write_all(b).await
    }

    /// The next message, decoded.
    pub async fn recv(&mut self, timeout: Duration) -> std::io::Result<Message> {
        let raw = self.recv_raw(timeout).await?;
        Message::decode(&raw, &self.decode_context()).map_err(std::io::Error::other)
    }

    /// The next whole message, undecoded.
    pub async fn recv_raw(&mut self, timeout: Duration) -> std::io::Result<Bytes> {
        tokio::time::timeout(timeout, async {
            loop {
                if let Some(len) = frame_length(&self.buf, 65535).map_err(std::io::Error::other)? {
                    return Ok(self.buf.split_to(len).freeze());
                }
                if self.stream.read_buf(&mut self.buf).await? == 0 {
                    return Err(std::io::Error::new(
                        std::io::ErrorKind::UnexpectedEof,
                        "closed",
                    ));
                }
            }
        })
        .await
        .map_err(|_| std::io::Error::new(std::io::ErrorKind::TimedOut, "no message"))?
    }
}
