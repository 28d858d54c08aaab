//! Bidirectional Forwarding Detection (RFC 5880) for BGP neighbours, in
//! Asynchronous mode, without authentication: single-hop (RFC 5881, UDP
//! 3784, sent with TTL 255 and accepted only with TTL 255) between
//! workers and their reflectors, multihop (RFC 5883, UDP 4784) between
//! the reflectors of different clusters.
//!
//! ```text
//!  daemon ──Add/Remove──▶ BFD task ◀── UDP 3784 / 4784 (one socket per family)
//!  control ──Show──────▶    │  fsm::Session per neighbour (pure)
//!                           └──PeerCommand::BfdDown──▶ that neighbour's BGP session
//! ```
//!
//! The task runs inside bgpd, so it shares bgpd's fate: every packet says
//! so with the control-plane-independent (C) bit clear (RFC 5880 §6.8.1).
//! What a BFD Down does to BGP is decided by the session
//! ([`crate::session`]), which knows whether graceful restart was
//! negotiated.

pub mod fsm;
pub mod packet;

use std::collections::hash_map::Entry as MapEntry;
use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::os::fd::AsRawFd;
use std::time::Instant;

use ferry_control::BfdSessionInfo;
use tokio::io::Interest;
use tokio::net::UdpSocket;
use tokio::sync::{mpsc, oneshot};
use tracing::{debug, info, warn};

use crate::session::PeerCommand;
use fsm::{Output, Session, Timers};
use packet::{ControlPacket, State};

/// Single-hop control packets (RFC 5881 §4).
pub const SINGLE_HOP_PORT: u16 = 3784;
/// Multihop control packets (RFC 5883 §5).
pub const MULTIHOP_PORT: u16 = 4784;

/// BFD settings of a group (Junos `bfd-liveness-detection`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BfdConfig {
    /// `minimum-interval`: transmit and receive interval, milliseconds.
    pub minimum_interval_ms: u32,
    /// `multiplier`: packets missed before the session goes Down.
    pub multiplier: u8,
    /// RFC 5883 multihop (the cluster mesh) rather than RFC 5881.
    pub multihop: bool,
    /// FRR's `check-control-plane-failure`: a BFD Down is ignored when
    /// the peer's BFD shares its control plane's fate (C bit clear) and
    /// graceful restart was negotiated, so that a restarting peer keeps
    /// its routes (see [`crate::session`]).
    pub check_control_plane_failure: bool,
}

enum Request {
    Add {
        peer: IpAddr,
        local: Option<IpAddr>,
        config: BfdConfig,
        notify: mpsc::Sender<PeerCommand>,
        token: u64,
    },
    Remove {
        peer: IpAddr,
        token: u64,
    },
    Show(oneshot::Sender<Vec<BfdSessionInfo>>),
}

/// Orders to the BFD task. Bounded: the daemon adds and removes one
/// session per neighbour change and waits when the task is behind.
#[derive(Clone, Debug)]
pub struct BfdHandle {
    tx: mpsc::Sender<Request>,
}

impl std::fmt::Debug for Request {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Request::Add { peer, .. } => write!(f, "Add({peer})"),
            Request::Remove { peer, .. } => write!(f, "Remove({peer})"),
            Request::Show(_) => f.write_str("Show"),
        }
    }
}

impl BfdHandle {
    /// Starts the BFD task. It opens its sockets with the first session.
    pub fn start() -> BfdHandle {
        let (tx, rx) = mpsc::channel(1024);
        tokio::spawn(run(rx));
        BfdHandle { tx }
    }

    /// Runs BFD with `peer`; its Down is reported on `notify`. The
    /// session is kept (not restarted) when the same peer is added again
    /// with the same settings: a BGP reset does not flap BFD. `token`
    /// identifies this registration for [`BfdHandle::remove`].
    pub async fn add(
        &self,
        peer: IpAddr,
        local: Option<IpAddr>,
        config: BfdConfig,
        notify: mpsc::Sender<PeerCommand>,
        token: u64,
    ) {
        let _ = self
            .tx
            .send(Request::Add {
                peer,
                local,
                config,
                notify,
                token,
            })
            .await;
    }

    /// Ends the session of `peer` if it is still the one added with `token`.
    pub async fn remove(&self, peer: IpAddr, token: u64) {
        let _ = self.tx.send(Request::Remove { peer, token }).await;
    }

    /// Every session, for `bgpctl show bfd session`.
    pub async fn show(&self) -> Vec<BfdSessionInfo> {
        let (tx, rx) = oneshot::channel();
        if self.tx.send(Request::Show(tx)).await.is_err() {
            return Vec::new();
        }
        rx.await.unwrap_or_default()
    }
}

struct Entry {
    session: Session,
    local: Option<IpAddr>,
    config: BfdConfig,
    notify: mpsc::Sender<PeerCommand>,
    token: u64,
    last_change: Instant,
    up_since: Option<Instant>,
    flaps: u64,
}

/// The receiving sockets of one port, IPv4 and IPv6.
#[derive(Default)]
struct Receivers {
    v4: Option<UdpSocket>,
    v6: Option<UdpSocket>,
}

struct Bfd {
    sessions: HashMap<IpAddr, Entry>,
    by_discriminator: HashMap<u32, IpAddr>,
    single: Receivers,
    multi: Receivers,
    /// Sending sockets by (local address, multihop, IPv6).
    senders: HashMap<(Option<IpAddr>, bool, bool), UdpSocket>,
    next_discriminator: u32,
}

fn set_int(fd: i32, level: i32, name: i32, value: i32) -> io::Result<()> {
    // SAFETY: setsockopt with a valid int option value.
    let r = unsafe {
        libc::setsockopt(
            fd,
            level,
            name,
            &value as *const i32 as *const libc::c_void,
            std::mem::size_of::<i32>() as libc::socklen_t,
        )
    };
    if r == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

fn udp(addr: SocketAddr) -> io::Result<socket2::Socket> {
    use socket2::{Domain, Protocol, Socket, Type};
    let domain = if addr.is_ipv4() {
        Domain::IPV4
    } else {
        Domain::IPV6
    };
    let s = Socket::new(domain, Type::DGRAM, Some(Protocol::UDP))?;
    if addr.is_ipv6() {
        s.set_only_v6(true)?;
    }
    s.set_nonblocking(true)?;
    let fd = s.as_raw_fd();
    if addr.is_ipv4() {
        set_int(fd, libc::IPPROTO_IP, libc::IP_TTL, 255)?;
        set_int(fd, libc::IPPROTO_IP, libc::IP_RECVTTL, 1)?;
    } else {
        set_int(fd, libc::IPPROTO_IPV6, libc::IPV6_UNICAST_HOPS, 255)?;
        set_int(fd, libc::IPPROTO_IPV6, libc::IPV6_RECVHOPLIMIT, 1)?;
    }
    Ok(s)
}

/// A receiving socket on `port` of every address of one family.
fn receiver(v6: bool, port: u16) -> io::Result<UdpSocket> {
    let ip = if v6 {
        IpAddr::V6(Ipv6Addr::UNSPECIFIED)
    } else {
        IpAddr::V4(Ipv4Addr::UNSPECIFIED)
    };
    let addr = SocketAddr::new(ip, port);
    let s = udp(addr)?;
    s.set_reuse_address(true)?;
    s.bind(&addr.into())?;
    UdpSocket::from_std(s.into())
}

/// A sending socket: TTL 255, source port in 49152–65535 (RFC 5881 §4),
/// from `local` when given.
fn sender(local: Option<IpAddr>, v6: bool) -> io::Result<UdpSocket> {
    let ip = local.unwrap_or(if v6 {
        IpAddr::V6(Ipv6Addr::UNSPECIFIED)
    } else {
        IpAddr::V4(Ipv4Addr::UNSPECIFIED)
    });
    let start = 49152 + (std::process::id() % 16384) as u16;
    let mut last = io::Error::other("no source port free in 49152..=65535");
    for i in 0..16384u16 {
        let port = 49152 + (start - 49152).wrapping_add(i) % 16384;
        let addr = SocketAddr::new(ip, port);
        let s = udp(addr)?;
        match s.bind(&addr.into()) {
            Ok(()) => return UdpSocket::from_std(s.into()),
            Err(e) => last = e,
        }
    }
    Err(last)
}

/// One datagram with the TTL (hop limit) it arrived with.
struct Datagram {
    len: usize,
    from: SocketAddr,
    ttl: Option<u8>,
}

fn recv_with_ttl(fd: i32, buf: &mut [u8]) -> io::Result<Datagram> {
    // SAFETY: plain old data, zero is valid.
    let mut from: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
    let mut iov = libc::iovec {
        iov_base: buf.as_mut_ptr() as *mut libc::c_void,
        iov_len: buf.len(),
    };
    let mut control = [0u64; 16];
    // SAFETY: plain old data, zero is valid.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_name = &mut from as *mut _ as *mut libc::c_void;
    msg.msg_namelen = std::mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.as_mut_ptr() as *mut libc::c_void;
    msg.msg_controllen = std::mem::size_of_val(&control) as _;
    // SAFETY: msg points at live buffers of the given sizes.
    let n = unsafe { libc::recvmsg(fd, &mut msg, libc::MSG_DONTWAIT) };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    let mut ttl = None;
    // SAFETY: walking the control messages the kernel wrote into msg.
    unsafe {
        let mut c = libc::CMSG_FIRSTHDR(&msg);
        while !c.is_null() {
            let h = &*c;
            let ipv4 = h.cmsg_level == libc::IPPROTO_IP && h.cmsg_type == libc::IP_TTL;
            let ipv6 = h.cmsg_level == libc::IPPROTO_IPV6 && h.cmsg_type == libc::IPV6_HOPLIMIT;
            if ipv4 || ipv6 {
                let v = std::ptr::read_unaligned(libc::CMSG_DATA(c) as *const i32);
                ttl = u8::try_from(v).ok();
            }
            c = libc::CMSG_NXTHDR(&msg, c);
        }
    }
    let from = match from.ss_family as i32 {
        libc::AF_INET => {
            // SAFETY: the kernel wrote a sockaddr_in.
            let a = unsafe { *(&from as *const _ as *const libc::sockaddr_in) };
            SocketAddr::new(
                IpAddr::V4(Ipv4Addr::from(a.sin_addr.s_addr.to_ne_bytes())),
                u16::from_be(a.sin_port),
            )
        }
        libc::AF_INET6 => {
            // SAFETY: the kernel wrote a sockaddr_in6.
            let a = unsafe { *(&from as *const _ as *const libc::sockaddr_in6) };
            SocketAddr::new(
                IpAddr::V6(Ipv6Addr::from(a.sin6_addr.s6_addr)).to_canonical(),
                u16::from_be(a.sin6_port),
            )
        }
        _ => return Err(io::Error::other("datagram without a source address")),
    };
    Ok(Datagram {
        len: n as usize,
        from,
        ttl,
    })
}

async fn recv(sock: &Option<UdpSocket>, buf: &mut [u8]) -> io::Result<Datagram> {
    match sock {
        Some(s) => {
            s.async_io(Interest::READABLE, || recv_with_ttl(s.as_raw_fd(), buf))
                .await
        }
        None => std::future::pending().await,
    }
}

async fn run(mut rx: mpsc::Receiver<Request>) {
    let mut bfd = Bfd {
        sessions: HashMap::new(),
        by_discriminator: HashMap::new(),
        single: Receivers::default(),
        multi: Receivers::default(),
        senders: HashMap::new(),
        next_discriminator: (std::process::id().wrapping_mul(2_654_435_761)) | 1,
    };
    let mut b1 = [0u8; 512];
    let mut b2 = [0u8; 512];
    let mut b3 = [0u8; 512];
    let mut b4 = [0u8; 512];
    loop {
        let next = bfd
            .sessions
            .values()
            .map(|e| e.session.next_deadline())
            .min()
            .map(tokio::time::Instant::from_std);
        tokio::select! {
            req = rx.recv() => match req {
                Some(r) => bfd.request(r).await,
                None => return,
            },
            d = recv(&bfd.single.v4, &mut b1) => bfd.datagram(d, &b1, false).await,
            d = recv(&bfd.single.v6, &mut b2) => bfd.datagram(d, &b2, false).await,
            d = recv(&bfd.multi.v4, &mut b3) => bfd.datagram(d, &b3, true).await,
            d = recv(&bfd.multi.v6, &mut b4) => bfd.datagram(d, &b4, true).await,
            _ = async { match next { Some(t) => tokio::time::sleep_until(t).await, None => std::future::pending().await } } => {
                bfd.tick().await;
            }
        }
    }
}

impl Bfd {
    fn open_receivers(&mut self, multihop: bool, v6: bool) {
        let (r, port) = if multihop {
            (&mut self.multi, MULTIHOP_PORT)
        } else {
            (&mut self.single, SINGLE_HOP_PORT)
        };
        let slot = if v6 { &mut r.v6 } else { &mut r.v4 };
        if slot.is_some() {
            return;
        }
        match receiver(v6, port) {
            Ok(s) => {
                info!(port, ipv6 = v6, "BFD listening");
                *slot = Some(s);
            }
            Err(e) => {
                warn!(port, ipv6 = v6, error = %e, "BFD socket not opened: sessions on it stay Down")
            }
        }
    }

    async fn request(&mut self, r: Request) {
        match r {
            Request::Add {
                peer,
                local,
                config,
                notify,
                token,
            } => {
                self.open_receivers(config.multihop, peer.is_ipv6());
                if let Some(e) = self.sessions.get_mut(&peer) {
                    if e.config == config && e.local == local {
                        e.notify = notify;
                        e.token = token;
                        return;
                    }
                    let d = e.session.local_discriminator;
                    self.by_discriminator.remove(&d);
                }
                let mut d = self.next_discriminator;
                while d == 0 || self.by_discriminator.contains_key(&d) {
                    d = d.wrapping_add(1);
                }
                self.next_discriminator = d.wrapping_add(1);
                let timers = Timers {
                    min_interval_us: config.minimum_interval_ms.saturating_mul(1000),
                    multiplier: config.multiplier,
                };
                info!(peer = %peer, multihop = config.multihop, interval_ms = config.minimum_interval_ms, multiplier = config.multiplier, "BFD session added");
                let now = Instant::now();
                self.by_discriminator.insert(d, peer);
                self.sessions.insert(
                    peer,
                    Entry {
                        session: Session::new(d, timers, now),
                        local,
                        config,
                        notify,
                        token,
                        last_change: now,
                        up_since: None,
                        flaps: 0,
                    },
                );
            }
            Request::Remove { peer, token } => {
                if self.sessions.get(&peer).is_some_and(|e| e.token == token) {
                    if let Some(mut e) = self.sessions.remove(&peer) {
                        self.by_discriminator.remove(&e.session.local_discriminator);
                        if e.session.state != State::Down {
                            // A few copies: the session is gone after
                            // this, and one lost packet would make the
                            // peer see a failure.
                            let p = e.session.admin_down();
                            for _ in 0..3 {
                                self.send(peer, e.local, e.config.multihop, &p);
                            }
                        }
                        info!(peer = %peer, "BFD session removed (AdminDown sent)");
                    }
                }
            }
            Request::Show(reply) => {
                let now = Instant::now();
                let mut v: Vec<BfdSessionInfo> = self
                    .sessions
                    .iter()
                    .map(|(a, e)| info(*a, e, now))
                    .collect();
                v.sort_by_key(|i| i.address);
                let _ = reply.send(v);
            }
        }
    }

    async fn datagram(&mut self, d: io::Result<Datagram>, buf: &[u8], multihop: bool) {
        let d = match d {
            Ok(d) => d,
            Err(e) => {
                debug!(error = %e, "BFD receive");
                return;
            }
        };
        let from = d.from.ip();
        let p = match ControlPacket::decode(&buf[..d.len.min(buf.len())]) {
            Ok(p) => p,
            Err(e) => {
                debug!(from = %from, error = %e, "BFD packet discarded");
                return;
            }
        };
        let peer = if p.your_discriminator != 0 {
            match self.by_discriminator.get(&p.your_discriminator) {
                Some(a) => *a,
                None => {
                    debug!(from = %from, discriminator = p.your_discriminator, "BFD packet for no session");
                    return;
                }
            }
        } else {
            from
        };
        let Some(e) = self.sessions.get_mut(&peer) else {
            debug!(from = %from, "BFD packet from a peer without a session");
            return;
        };
        if peer != from || e.config.multihop != multihop {
            debug!(from = %from, "BFD packet from the wrong address or port: discarded");
            return;
        }
        // RFC 5881 §5: single-hop packets arrive with TTL 255, or were
        // forwarded and are discarded.
        if !multihop && d.ttl != Some(255) {
            debug!(from = %from, ttl = ?d.ttl, "single-hop BFD packet with TTL below 255: discarded");
            return;
        }
        if p.your_discriminator == 0 && !matches!(e.session.state, State::Down | State::AdminDown) {
            // §6.8.6: Your Discriminator zero selects only a session that
            // is not yet Up.
            return;
        }
        let out = e.session.receive(&p, Instant::now());
        self.outputs(peer, out).await;
    }

    async fn tick(&mut self) {
        let now = Instant::now();
        let due: Vec<IpAddr> = self
            .sessions
            .iter()
            .filter(|(_, e)| e.session.next_deadline() <= now)
            .map(|(a, _)| *a)
            .collect();
        for peer in due {
            if let Some(e) = self.sessions.get_mut(&peer) {
                let out = e.session.tick(now);
                self.outputs(peer, out).await;
            }
        }
    }

    async fn outputs(&mut self, peer: IpAddr, out: Vec<Output>) {
        let now = Instant::now();
        for o in out {
            let Some(e) = self.sessions.get_mut(&peer) else {
                return;
            };
            match o {
                Output::Changed {
                    from,
                    to,
                    diagnostic,
                } => {
                    e.last_change = now;
                    if to == State::Up {
                        e.up_since = Some(now);
                        info!(peer = %peer, "BFD session Up");
                    }
                    if from == State::Up && e.session.remote_state == State::AdminDown {
                        // RFC 5882 §3.2: the peer stopped BFD on purpose
                        // (its neighbour removed, its bgpd stopping); not
                        // a path failure, so the BGP session is left to
                        // its own events (graceful restart included).
                        e.up_since = None;
                        e.flaps += 1;
                        info!(peer = %peer, "BFD session Down: the peer took it administratively down; BGP left alone");
                    } else if from == State::Up {
                        e.up_since = None;
                        e.flaps += 1;
                        warn!(peer = %peer, %diagnostic, "BFD session Down");
                        crate::session::order(
                            &e.notify,
                            PeerCommand::BfdDown {
                                peer_control_plane_independent: e
                                    .session
                                    .remote_control_plane_independent,
                            },
                        );
                    }
                }
                Output::Send(p) => {
                    let (local, multihop) = (e.local, e.config.multihop);
                    self.send(peer, local, multihop, &p);
                }
            }
        }
    }

    /// Sends one packet to `peer` from the socket for its local address,
    /// hop mode and family (opened on first use).
    fn send(&mut self, peer: IpAddr, local: Option<IpAddr>, multihop: bool, p: &ControlPacket) {
        let key = (local, multihop, peer.is_ipv6());
        let port = if multihop {
            MULTIHOP_PORT
        } else {
            SINGLE_HOP_PORT
        };
        let socket = match self.senders.entry(key) {
            MapEntry::Occupied(o) => o.into_mut(),
            MapEntry::Vacant(v) => match sender(key.0, key.2) {
                Ok(s) => v.insert(s),
                Err(err) => {
                    warn!(peer = %peer, error = %err, "BFD sending socket not opened");
                    return;
                }
            },
        };
        if let Err(err) = socket.try_send_to(&p.encode(), SocketAddr::new(peer, port)) {
            debug!(peer = %peer, error = %err, "BFD send");
        }
    }
}

fn info(address: IpAddr, e: &Entry, now: Instant) -> BfdSessionInfo {
    let s = &e.session;
    BfdSessionInfo {
        address,
        local_address: e.local,
        state: s.state,
        remote_state: s.remote_state,
        multihop: e.config.multihop,
        local_diagnostic: s.diagnostic.to_string(),
        local_discriminator: s.local_discriminator,
        remote_discriminator: s.remote_discriminator,
        minimum_interval_ms: e.config.minimum_interval_ms,
        transmit_interval_ms: s.tx_interval_us() / 1000,
        receive_interval_ms: s.rx_interval_us() / 1000,
        multiplier: s.timers.multiplier,
        remote_multiplier: s.remote_multiplier,
        detection_time_ms: s.detection_time().as_millis() as u64,
        uptime_secs: e
            .up_since
            .map(|t| now.saturating_duration_since(t).as_secs()),
        last_change_secs: now.saturating_duration_since(e.last_change).as_secs(),
        flaps: e.flaps,
        remote_control_plane_independent: s.remote_control_plane_independent,
    }
}
