//! One task per peer: runs the [`Fsm`] over a TCP connection, owns the
//! timers, reads and frames messages, and reports to the core task.
//!
//! ```text
//!  listener ──Incoming(stream)──▶ session task ──CoreEvent──▶ core task (RIB)
//!                                  │  ▲  reader: frames + decodes      │
//!                                  ▼  │                               │
//!                              writer task ◀──── UPDATE batches ──────┘
//! ```
//!
//! A configured peer's task lives as long as the peer is configured and
//! reconnects after failures; a dynamic peer's task (accepted from an
//! `allow` range) ends with its session.

use std::future::Future;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use ferry_rib::peer::{PeerInfo, Role};
use ferry_wire::context::MAX_MESSAGE_LEN;
use ferry_wire::iana::notification::cease;
use ferry_wire::{frame_length, DecodeContext, EncodeContext, Message, MessageError, Notification};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpSocket, TcpStream};
use tokio::sync::mpsc;
use tokio::time::{sleep_until, Instant};
use tracing::{debug, info, warn};

use crate::config::{NeighborConfig, PeerType};
use crate::core::CoreEvent;
use crate::fsm::{Action, Event, Fsm, State};
use crate::negotiate::{LocalParams, Negotiated};
use crate::peer_status::PeerStatus;

/// Orders a session task receives.
#[derive(Debug)]
pub enum PeerCommand {
    /// The listener accepted a connection from this peer.
    Incoming(TcpStream),
    /// Close the session with Cease/`subcode` and end the task.
    Stop(u8),
    /// A prefix limit was passed: close with Cease / Maximum Number of
    /// Prefixes Reached and, with a non-zero `restart`, start again after
    /// that many seconds (a dynamic neighbour may reconnect itself).
    PrefixLimit { restart: u16 },
}

/// Octets to write, as queued by the core task.
#[derive(Clone, Debug)]
pub struct WriterHandle {
    tx: mpsc::UnboundedSender<Vec<Bytes>>,
    status: Arc<PeerStatus>,
}

impl WriterHandle {
    /// Queues messages; false when the connection is gone.
    pub fn send(&self, messages: Vec<Bytes>) -> bool {
        // Counted before the writer can take them off the queue.
        self.status.queued(&messages);
        if self.tx.send(messages).is_ok() {
            true
        } else {
            self.status.queue_cleared();
            false
        }
    }
}

/// The writing half of a connection, owned by its own task so that a slow
/// peer never blocks the session or the core.
struct Writer {
    data: mpsc::UnboundedSender<Vec<Bytes>>,
    status: Arc<PeerStatus>,
    /// Close now, after writing this NOTIFICATION (skipping queued data).
    abort: mpsc::UnboundedSender<Option<Bytes>>,
}

impl Writer {
    fn spawn(mut half: OwnedWriteHalf, status: Arc<PeerStatus>) -> Writer {
        let shared = status.clone();
        let (data, mut rx) = mpsc::unbounded_channel::<Vec<Bytes>>();
        let (abort, mut abort_rx) = mpsc::unbounded_channel::<Option<Bytes>>();
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    biased;
                    last = abort_rx.recv() => {
                        if let Some(Some(n)) = last {
                            if half.write_all(&n).await.is_ok() {
                                status.sent(&n, false);
                            }
                        }
                        break;
                    }
                    batch = rx.recv() => {
                        let Some(batch) = batch else { break };
                        let mut failed = false;
                        for m in batch {
                            if half.write_all(&m).await.is_err() {
                                failed = true;
                                break;
                            }
                            status.sent(&m, true);
                        }
                        if failed {
                            break;
                        }
                    }
                }
            }
            let _ = half.shutdown().await;
            status.queue_cleared();
        });
        Writer {
            data,
            status: shared,
            abort,
        }
    }

    fn send(&self, m: Bytes) {
        let batch = vec![m];
        self.status.queued(&batch);
        if self.data.send(batch).is_err() {
            self.status.queue_cleared();
        }
    }

    fn close_with(&self, notification: Option<Bytes>) {
        let _ = self.abort.send(notification);
    }
}

/// One TCP connection of a session.
struct Connection {
    reader: OwnedReadHalf,
    buf: BytesMut,
    writer: Writer,
    /// We connected out (true) or accepted (false): decides collisions.
    outgoing: bool,
    local: SocketAddr,
}

impl Connection {
    fn new(stream: TcpStream, outgoing: bool, status: &Arc<PeerStatus>) -> io::Result<Connection> {
        stream.set_nodelay(true)?;
        let local = stream.local_addr()?;
        let (reader, writer) = stream.into_split();
        Ok(Connection {
            reader,
            buf: BytesMut::with_capacity(64 * 1024),
            writer: Writer::spawn(writer, status.clone()),
            outgoing,
            local,
        })
    }

    /// The next whole message. Cancel-safe: partial data stays buffered.
    async fn next_message(&mut self, max: usize) -> Result<Bytes, ReadError> {
        loop {
            match frame_length(&self.buf, max) {
                Ok(Some(len)) => return Ok(self.buf.split_to(len).freeze()),
                Ok(None) => {}
                Err(e) => return Err(ReadError::Framing(e)),
            }
            let n = self
                .reader
                .read_buf(&mut self.buf)
                .await
                .map_err(ReadError::Io)?;
            if n == 0 {
                return Err(ReadError::Closed);
            }
        }
    }
}

enum ReadError {
    Framing(MessageError),
    Io(io::Error),
    Closed,
}

type ConnectFuture = Pin<Box<dyn Future<Output = io::Result<TcpStream>> + Send>>;

/// Everything a session task needs.
pub struct SessionContext {
    pub neighbor: NeighborConfig,
    pub local: LocalParams,
    pub status: Arc<PeerStatus>,
    pub core: mpsc::Sender<CoreEvent>,
    /// The session's own command queue, handed to the core (prefix limits).
    pub commands: mpsc::UnboundedSender<PeerCommand>,
}

/// A timer that may be unset.
fn deadline(secs: u16) -> Option<Instant> {
    (secs > 0).then(|| Instant::now() + Duration::from_secs(secs as u64))
}

async fn wait(at: Option<Instant>) {
    match at {
        Some(t) => sleep_until(t).await,
        None => std::future::pending().await,
    }
}

fn encode(m: &Message) -> Bytes {
    m.to_bytes(&EncodeContext::default())
        .expect("OPEN, KEEPALIVE and NOTIFICATION always fit")
}

/// The state of one session task.
struct Session {
    ctx: SessionContext,
    fsm: Fsm,
    conn: Option<Connection>,
    /// A connection accepted while ours was opening (RFC 4271 §6.8).
    pending: Option<TcpStream>,
    connecting: Option<ConnectFuture>,
    connect_retry: Option<Instant>,
    hold: Option<Instant>,
    keepalive: Option<Instant>,
    restart: Option<Instant>,
    failures: u32,
    stopping: bool,
}

/// Runs a session until it is stopped (or, for a dynamic peer, until its
/// session ends).
pub async fn run(
    ctx: SessionContext,
    mut commands: mpsc::UnboundedReceiver<PeerCommand>,
    accepted: Option<TcpStream>,
) {
    let fsm = Fsm::new(ctx.local.clone());
    let mut s = Session {
        ctx,
        fsm,
        conn: None,
        pending: None,
        connecting: None,
        connect_retry: None,
        hold: None,
        keepalive: None,
        restart: None,
        failures: 0,
        stopping: false,
    };
    let addr = s.ctx.neighbor.address;
    if let Some(stream) = accepted {
        s.adopt(stream).await;
    } else {
        s.start().await;
    }
    loop {
        if s.fsm.state() == State::Idle
            && (s.stopping || (s.ctx.neighbor.dynamic && s.restart.is_none()))
        {
            break;
        }
        let max = s.fsm.negotiated().map_or(MAX_MESSAGE_LEN, |n| {
            if n.extended_message {
                65535
            } else {
                MAX_MESSAGE_LEN
            }
        });
        tokio::select! {
            cmd = commands.recv() => match cmd {
                Some(PeerCommand::Incoming(stream)) => s.incoming(stream).await,
                Some(PeerCommand::Stop(sub)) => s.stop(sub).await,
                Some(PeerCommand::PrefixLimit { restart }) => {
                    s.stop(cease::MAXIMUM_PREFIXES_REACHED).await;
                    if !s.ctx.neighbor.dynamic {
                        s.stopping = false;
                        s.restart = (restart > 0).then(|| Instant::now() + Duration::from_secs(restart as u64));
                    }
                }
                None => s.stop(cease::PEER_DECONFIGURED).await,
            },
            res = async { s.connecting.as_mut().expect("guarded").await }, if s.connecting.is_some() => {
                s.connecting = None;
                match res.and_then(|stream| Connection::new(stream, true, &s.ctx.status)) {
                    Ok(conn) => {
                        debug!(peer = %addr, "connected");
                        s.conn = Some(conn);
                        s.event(Event::TcpCrAcked).await;
                    }
                    Err(e) => {
                        debug!(peer = %addr, error = %e, "connect failed");
                        s.ctx.status.update(|d| d.last_error = Some(format!("connect: {e}")));
                        s.event(Event::TcpConnectionFails).await;
                    }
                }
            },
            msg = async { s.conn.as_mut().expect("guarded").next_message(max).await }, if s.conn.is_some() => {
                match msg {
                    Ok(bytes) => {
                        s.ctx.status.received(&bytes);
                        let ctx = s.fsm.negotiated().map_or(DecodeContext::default(), Negotiated::decode_context);
                        let ev = match Message::decode(&bytes, &ctx) {
                            Ok(Message::Open(o)) => Event::BgpOpen(Box::new(o)),
                            Ok(Message::Update(u)) => Event::UpdateMsg(Box::new(u)),
                            Ok(Message::Keepalive) => Event::KeepAliveMsg,
                            Ok(Message::Notification(n)) => Event::NotifMsg(n),
                            Ok(Message::RouteRefresh(r)) => Event::RouteRefreshMsg(r),
                            Err(e) => Event::MessageError(e),
                        };
                        s.event(ev).await;
                    }
                    Err(ReadError::Framing(e)) => s.event(Event::MessageError(e)).await,
                    Err(ReadError::Io(e)) => {
                        s.ctx.status.update(|d| d.last_error = Some(format!("read: {e}")));
                        s.event(Event::TcpConnectionFails).await
                    }
                    Err(ReadError::Closed) => s.event(Event::TcpConnectionFails).await,
                }
            },
            _ = wait(s.connect_retry) => { s.connect_retry = None; s.event(Event::ConnectRetryTimerExpires).await }
            _ = wait(s.hold) => { s.hold = None; s.event(Event::HoldTimerExpires).await }
            _ = wait(s.keepalive) => { s.keepalive = None; s.event(Event::KeepaliveTimerExpires).await }
            _ = wait(s.restart) => { s.restart = None; s.start().await }
        }
    }
    s.ctx.status.set_state(State::Idle);
}

impl Session {
    fn addr(&self) -> IpAddr {
        self.ctx.neighbor.address
    }

    /// Closes the session with Cease/`subcode` and ends the task.
    async fn stop(&mut self, subcode: u8) {
        self.stopping = true;
        self.restart = None;
        let ev = if subcode == cease::ADMINISTRATIVE_SHUTDOWN {
            Event::ManualStop
        } else {
            Event::AutomaticStop(subcode)
        };
        self.event(ev).await;
        // Stopping from Idle or while connecting: nothing to notify.
        self.connecting = None;
    }

    async fn start(&mut self) {
        let ev = if self.ctx.neighbor.passive || self.ctx.neighbor.dynamic {
            Event::StartPassive
        } else {
            Event::Start
        };
        self.event(ev).await;
    }

    /// Takes an accepted connection as the session's connection.
    async fn adopt(&mut self, stream: TcpStream) {
        self.connecting = None;
        match Connection::new(stream, false, &self.ctx.status) {
            Ok(conn) => {
                if self.fsm.state() == State::Idle {
                    self.event(Event::StartPassive).await;
                }
                self.conn = Some(conn);
                self.event(Event::TcpConnectionConfirmed).await;
            }
            Err(e) => warn!(peer = %self.addr(), error = %e, "accepted connection unusable"),
        }
    }

    async fn incoming(&mut self, stream: TcpStream) {
        match self.fsm.state() {
            State::Idle | State::Connect | State::Active => {
                if let Some(old) = self.conn.take() {
                    old.writer.close_with(None);
                }
                self.restart = None;
                self.adopt(stream).await;
            }
            State::OpenSent => {
                // The peer's identifier is not known yet: resolve the
                // collision once its OPEN arrives (RFC 4271 §6.8).
                self.pending = Some(stream);
            }
            State::OpenConfirm => {
                self.pending = Some(stream);
                self.resolve_collision().await;
            }
            State::Established => refuse(stream, cease::CONNECTION_COLLISION_RESOLUTION).await,
        }
    }

    /// RFC 4271 §6.8: keep the connection opened by the speaker with the
    /// higher BGP identifier.
    async fn resolve_collision(&mut self) {
        let Some(stream) = self.pending.take() else {
            return;
        };
        let (Some(n), Some(conn)) = (self.fsm.negotiated(), self.conn.as_ref()) else {
            // Our connection is gone: the accepted one takes its place.
            self.adopt(stream).await;
            return;
        };
        let local_wins = u32::from(self.ctx.local.router_id) > u32::from(n.peer_router_id);
        // Keep the existing connection when it was opened by the winner.
        let keep_existing = conn.outgoing == local_wins || !conn.outgoing;
        if keep_existing {
            debug!(peer = %self.addr(), "collision: keeping the established connection");
            refuse(stream, cease::CONNECTION_COLLISION_RESOLUTION).await;
        } else {
            info!(peer = %self.addr(), "collision: the peer's connection wins");
            self.event(Event::OpenCollisionDump).await;
            self.restart = None;
            self.adopt(stream).await;
        }
    }

    /// Feeds one event to the FSM and carries out its actions.
    async fn event(&mut self, event: Event) {
        let before = self.fsm.state();
        let actions = self.fsm.handle(event);
        for a in actions {
            self.act(a).await;
        }
        let after = self.fsm.state();
        if before != after {
            debug!(peer = %self.addr(), from = %before, to = %after, "state change");
            self.ctx.status.set_state(after);
        }
        if after == State::OpenConfirm && self.pending.is_some() {
            Box::pin(self.resolve_collision()).await;
        }
        if after == State::Idle && before != State::Idle {
            self.hold = None;
            self.keepalive = None;
            self.connect_retry = None;
            if let Some(stream) = self.pending.take() {
                if !self.stopping {
                    Box::pin(self.adopt(stream)).await;
                    return;
                }
            }
            if !self.stopping && !self.ctx.neighbor.dynamic {
                // Back off: 1 s, 2 s, 4 s, … up to the connect-retry time.
                let secs = (1u64 << self.failures.min(5))
                    .min(self.ctx.neighbor.connect_retry.max(1) as u64);
                self.failures += 1;
                self.restart = Some(Instant::now() + Duration::from_secs(secs));
            }
        }
    }

    async fn act(&mut self, action: Action) {
        let addr = self.addr();
        match action {
            Action::InitiateConnect => {
                let local = self.ctx.neighbor.local_address;
                let port = self.ctx.neighbor.peer_port;
                let key = self.ctx.neighbor.authentication_key.clone();
                let ttl = self.ctx.neighbor.ttl_security;
                self.connecting = Some(Box::pin(connect(addr, port, local, key, ttl)));
            }
            Action::DropConnection => {
                self.connecting = None;
                if let Some(conn) = self.conn.take() {
                    conn.writer.close_with(None);
                }
            }
            Action::SendOpen(open) => {
                if let Some(c) = &self.conn {
                    c.writer.send(encode(&Message::Open(*open)));
                }
            }
            Action::SendKeepalive => {
                if let Some(c) = &self.conn {
                    c.writer.send(encode(&Message::Keepalive));
                }
            }
            Action::SendNotification(n) => {
                if let Some(c) = &self.conn {
                    c.writer.close_with(Some(encode(&Message::Notification(n))));
                }
            }
            Action::StartConnectRetryTimer => {
                self.connect_retry = deadline(self.ctx.neighbor.connect_retry)
            }
            Action::StopConnectRetryTimer => self.connect_retry = None,
            Action::StartHoldTimer(secs) => self.hold = deadline(secs),
            Action::StartKeepaliveTimer(secs) => self.keepalive = deadline(secs),
            Action::Established(n) => {
                self.failures = 0;
                let Some(conn) = &self.conn else { return };
                let local_address = conn.local.ip();
                info!(
                    peer = %addr,
                    asn = n.peer_as,
                    router_id = %n.peer_router_id,
                    hold_time = n.hold_time,
                    families = ?n.families,
                    "session Established"
                );
                self.ctx.status.update(|d| {
                    d.negotiated = Some((*n).clone());
                    d.local_address = Some(local_address);
                    d.last_error = None;
                });
                let role = match (
                    self.ctx.neighbor.peer_type,
                    self.ctx.neighbor.route_reflector_client,
                ) {
                    (PeerType::External, _) => Role::External,
                    (PeerType::Internal, true) => Role::Client,
                    (PeerType::Internal, false) => Role::NonClient,
                };
                let info = PeerInfo {
                    role,
                    asn: n.peer_as,
                    router_id: n.peer_router_id,
                    address: addr,
                    local_address,
                    families: n.families,
                    encode: n.encode_context(),
                    enhanced_refresh: n.enhanced_route_refresh,
                };
                let writer = WriterHandle {
                    tx: conn.writer.data.clone(),
                    status: self.ctx.status.clone(),
                };
                let graceful = n.graceful_restart;
                let _ = self
                    .ctx
                    .core
                    .send(CoreEvent::Up {
                        addr,
                        info,
                        writer,
                        graceful,
                        commands: self.ctx.commands.clone(),
                    })
                    .await;
            }
            Action::SessionDown { reason, graceful } => {
                match graceful {
                    Some(gr) => {
                        warn!(peer = %addr, %reason, restart_time = gr.restart_time, "session down; keeping its routes (graceful restart)")
                    }
                    None => warn!(peer = %addr, %reason, "session down"),
                }
                let _ = self.ctx.core.send(CoreEvent::Down { addr, graceful }).await;
            }
            Action::DeliverUpdate(update) => {
                if !update.errors.is_empty() {
                    for e in &update.errors {
                        warn!(peer = %addr, error = %e, "malformed UPDATE attribute");
                    }
                    let last = update.errors.last().map(|e| e.to_string());
                    self.ctx.status.update(|d| d.last_error = last);
                }
                let _ = self.ctx.core.send(CoreEvent::Update { addr, update }).await;
            }
            Action::DeliverRouteRefresh(refresh) => {
                let _ = self
                    .ctx
                    .core
                    .send(CoreEvent::RouteRefresh { addr, refresh })
                    .await;
            }
            Action::RecordError(e) => {
                if self.fsm.state() == State::Established || !e.contains("connect") {
                    warn!(peer = %addr, error = %e, "session error");
                }
                self.ctx.status.update(|d| d.last_error = Some(e));
            }
        }
    }
}

/// Refuses an accepted connection with a Cease NOTIFICATION.
async fn refuse(mut stream: TcpStream, subcode: u8) {
    let n = encode(&Message::Notification(Notification::new(
        ferry_wire::iana::notification::CEASE,
        subcode,
        Vec::new(),
    )));
    let _ = stream.write_all(&n).await;
    let _ = stream.shutdown().await;
}

async fn connect(
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
