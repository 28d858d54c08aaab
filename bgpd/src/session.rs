//! One task per peer: runs the [`Fsm`] over a connection (TCP, or in
//! memory for tests: [`Stream`]), owns the timers, reads and frames
//! messages, and reports to the core task.
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
//! `allow` range) ends with its connection, Established or not, and such
//! an address is never dialled. However a task ends — a panic included —
//! the core hears that the session is down.
//!
//! Closing a connection (hold timer, any NOTIFICATION, a peer gone) is
//! immediate even when the peer does not read: the writer gives the
//! NOTIFICATION at most one second and resets the connection (RST)
//! when octets are left unacknowledged.

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use ferry_rib::peer::PeerInfo;
use ferry_wire::iana::notification::cease;
use ferry_wire::message::HEADER_LEN;
use ferry_wire::{frame_length, EncodeContext, EncodeError, Message, MessageError, Notification};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::mpsc;
use tokio::time::{sleep_until, Instant};
use tracing::{debug, info, warn};

use crate::config::NeighborConfig;
use crate::core::CoreEvent;
use crate::fsm::{Action, Event, Fsm, State};
use crate::negotiate::LocalParams;
use crate::peer_status::PeerStatus;

/// Room for orders waiting for a session task: it takes them between
/// events, so more than a few only pile up when a peer opens connections
/// faster than its session can look at them, and those are refused.
pub const COMMAND_QUEUE: usize = 16;

/// Gives a session task an order. With its queue full (a peer flooding
/// connections) the order is delivered by a task of its own, so the
/// sender never waits and a Stop or a BFD Down is never lost; a session
/// that has ended needs no order.
pub fn order(to: &mpsc::Sender<PeerCommand>, command: PeerCommand) {
    match to.try_send(command) {
        Ok(()) | Err(mpsc::error::TrySendError::Closed(_)) => {}
        Err(mpsc::error::TrySendError::Full(command)) => {
            let to = to.clone();
            tokio::spawn(async move {
                let _ = to.send(command).await;
            });
        }
    }
}

/// Orders a session task receives.
#[derive(Debug)]
pub enum PeerCommand {
    /// The listener accepted a connection from this peer.
    Incoming(Stream),
    /// Close the session with Cease/`subcode` and end the task.
    Stop(u8),
    /// A prefix limit was passed: close with Cease / Maximum Number of
    /// Prefixes Reached and, with a non-zero `restart`, start again after
    /// that many seconds (a dynamic neighbour may reconnect itself).
    PrefixLimit { restart: u16 },
    /// The neighbour's BFD session went from Up to Down; the peer's BFD
    /// said, with its C bit, whether it survives a control-plane restart.
    BfdDown {
        peer_control_plane_independent: bool,
    },
}

mod transport;
mod writer;

use transport::{ConnectFuture, ReadHalf};
pub use transport::{Dial, Stream, MEMORY_BUFFER};
use writer::{Writer, Xon, CLOSE_TIME};
pub use writer::{WriterHandle, HIGH_WATER, LOW_WATER};

/// One connection of a session.
struct Connection {
    reader: ReadHalf,
    buf: BytesMut,
    writer: Writer,
    /// We connected out (true) or accepted (false): decides collisions.
    outgoing: bool,
    local: SocketAddr,
}

impl Connection {
    fn new(stream: Stream, outgoing: bool, ctx: &SessionContext) -> io::Result<Connection> {
        stream.set_nodelay()?;
        let local = stream.local_addr()?;
        let (reader, writer) = stream.into_split();
        let xon = Xon {
            core: ctx.core.clone(),
            addr: ctx.neighbor.address,
        };
        Ok(Connection {
            reader,
            buf: BytesMut::with_capacity(64 * 1024),
            writer: Writer::spawn(writer, ctx.status.clone(), Some(xon)),
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

/// Everything a session task needs.
#[derive(Clone)]
pub struct SessionContext {
    pub neighbor: NeighborConfig,
    pub local: LocalParams,
    pub status: Arc<PeerStatus>,
    pub core: mpsc::Sender<CoreEvent>,
    /// How the session connects out: [`Dial::Tcp`] in the daemon.
    pub dial: Dial,
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

/// Encodes a message the session itself sends (OPEN, KEEPALIVE,
/// NOTIFICATION) for a peer that reads with `ctx`.
///
/// A NOTIFICATION's data is cut to what fits the peer's maximum message
/// length (4096 octets, or 65535 with RFC 8654): the data of an UPDATE
/// Message Error may be a whole attribute of a 65535-octet UPDATE, and
/// RFC 8654 §4 forbids sending a message longer than the peer accepts.
pub fn encode_message(m: &Message, ctx: &EncodeContext) -> Result<Bytes, EncodeError> {
    if let Message::Notification(n) = m {
        // Header, error code and subcode.
        let room = ctx.max_message_len().saturating_sub(HEADER_LEN + 2);
        if n.data.len() > room {
            let cut = Notification::new(n.code, n.subcode, n.data[..room].to_vec());
            return Message::Notification(cut).to_bytes(ctx);
        }
    }
    m.to_bytes(ctx)
}

/// The state of one session task.
struct Session {
    ctx: SessionContext,
    fsm: Fsm,
    conn: Option<Connection>,
    /// A connection accepted while ours was opening (RFC 4271 §6.8).
    pending: Option<Stream>,
    connecting: Option<ConnectFuture>,
    connect_retry: Option<Instant>,
    hold: Option<Instant>,
    keepalive: Option<Instant>,
    /// When to look again whether the peer reads (RFC 9687), and the
    /// SendHoldTime of the session.
    send_hold: Option<Instant>,
    send_hold_time: Option<Duration>,
    restart: Option<Instant>,
    failures: u32,
    stopping: bool,
    /// The core was told the session is up and not yet that it is down,
    /// with what graceful restart keeps if the task ends abruptly.
    up: Option<Option<crate::negotiate::GracefulRestart>>,
}

impl Drop for Session {
    /// However the task ends — a panic included — the core hears that the
    /// session is down, and `show neighbor` stops saying Established.
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.ctx
                .status
                .update(|d| d.last_error = Some("session task failed".into()));
        }
        self.ctx.status.set_state(State::Idle);
        if let Some(graceful) = self.up.take() {
            let ev = CoreEvent::Down {
                addr: self.ctx.neighbor.address,
                graceful,
            };
            if let Err(mpsc::error::TrySendError::Full(ev)) = self.ctx.core.try_send(ev) {
                let core = self.ctx.core.clone();
                if let Ok(rt) = tokio::runtime::Handle::try_current() {
                    rt.spawn(async move {
                        let _ = core.send(ev).await;
                    });
                }
            }
        }
    }
}

/// Runs a session until it is stopped (or, for a dynamic peer, until its
/// session ends).
///
/// The command queue is borrowed, not owned, so that it outlives a task
/// that fails: the daemon then starts the session again on the same queue.
pub async fn run(
    ctx: SessionContext,
    commands: &mut mpsc::Receiver<PeerCommand>,
    accepted: Option<Stream>,
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
        send_hold: None,
        send_hold_time: None,
        restart: None,
        failures: 0,
        stopping: false,
        up: None,
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
        // A dynamic neighbour lives as long as its connection: one that
        // closes before Established is forgotten, never dialled.
        if s.ctx.neighbor.dynamic && s.conn.is_none() && s.pending.is_none() {
            break;
        }
        let max = s.fsm.receive_context().max_message_len();
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
                Some(PeerCommand::BfdDown { peer_control_plane_independent }) => {
                    s.bfd_down(peer_control_plane_independent).await
                }
                None => s.stop(cease::PEER_DECONFIGURED).await,
            },
            res = async {
                match s.connecting.as_mut() {
                    Some(connecting) => connecting.await,
                    None => std::future::pending().await,
                }
            }, if s.connecting.is_some() => {
                s.connecting = None;
                match res.and_then(|stream| Connection::new(stream, true, &s.ctx)) {
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
            msg = async {
                match s.conn.as_mut() {
                    Some(conn) => conn.next_message(max).await,
                    None => std::future::pending().await,
                }
            }, if s.conn.is_some() => {
                match msg {
                    Ok(bytes) => {
                        s.ctx.status.received(&bytes);
                        let ev = Event::from_message(&bytes, &s.fsm.receive_context());
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
            _ = wait(s.send_hold) => { s.send_hold = None; s.check_send_hold().await }
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

    /// BFD says the path to the peer is gone: close the session now with
    /// Cease / BFD Down (RFC 9384) and drop its routes at once.
    ///
    /// The routes go even with graceful restart: the FSM sends the Cease
    /// as a Hard Reset when the N bit was negotiated (RFC 8538 §3) and
    /// does not keep routes after a Hard Reset or, without the N bit, after
    /// any NOTIFICATION (RFC 4724 §4.2). A bgpd restart while BFD stays
    /// up never comes here: the TCP connection fails and graceful restart
    /// keeps the routes as before.
    ///
    /// The C bit (RFC 5880 §6.8.1, RFC 5882 §4.3.2): Ferry's BFD runs in
    /// bgpd and sends C=0, so when a Ferry peer's bgpd restarts its BFD
    /// goes Down too, and a Down with C=0 cannot tell "the peer's control
    /// plane restarts, its forwarding goes on" from "the path is gone".
    /// Ferry, like FRR by default, takes it as the path being gone: the
    /// point of BFD here is sub-second withdrawal of a dead worker's
    /// routes, and with two reflectors per cluster a restarting reflector
    /// loses nothing, the other one still carries every route. With
    /// `check-control-plane-failure = true` (FRR's knob of that name) a
    /// Down from a peer with C=0 with which graceful restart was
    /// negotiated is ignored, leaving the TCP connection or the hold timer
    /// to end the session and graceful restart to keep its routes. A Down
    /// from a peer with C=1, whose BFD outlives its control plane, always
    /// means the forwarding path failed.
    async fn bfd_down(&mut self, peer_control_plane_independent: bool) {
        let check = self
            .ctx
            .neighbor
            .session
            .bfd
            .is_some_and(|b| b.check_control_plane_failure);
        let graceful = self
            .fsm
            .negotiated()
            .is_some_and(|n| n.graceful_restart.is_some());
        if check && graceful && !peer_control_plane_independent {
            info!(peer = %self.addr(), "BFD Down from a peer whose BFD shares its control plane's fate: left to graceful restart");
            return;
        }
        if self.fsm.state() == State::Idle {
            return;
        }
        warn!(peer = %self.addr(), "BFD Down: closing the session (Cease / BFD Down)");
        self.ctx
            .status
            .update(|d| d.last_error = Some("BFD Down".to_string()));
        self.event(Event::AutomaticStop(cease::BFD_DOWN)).await;
    }

    async fn start(&mut self) {
        let ev = if self.ctx.neighbor.session.passive || self.ctx.neighbor.dynamic {
            Event::StartPassive
        } else {
            Event::Start
        };
        self.event(ev).await;
    }

    /// Takes an accepted connection as the session's connection.
    async fn adopt(&mut self, stream: Stream) {
        self.connecting = None;
        match Connection::new(stream, false, &self.ctx) {
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

    async fn incoming(&mut self, stream: Stream) {
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
            self.send_hold = None;
            self.send_hold_time = None;
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
                    .min(self.ctx.neighbor.session.connect_retry.max(1) as u64);
                self.failures += 1;
                self.restart = Some(Instant::now() + Duration::from_secs(secs));
            }
        }
    }

    /// RFC 9687: closes the session when output has waited the whole
    /// SendHoldTime without the socket taking an octet of it; otherwise
    /// looks again when it could first be over.
    ///
    /// The timer runs only while there is output (an idle session, which
    /// writes nothing with a hold time of 0, never expires), so it is kept
    /// with a hold time of 0 too, where RFC 9687 §4.3 stops it: a peer
    /// that sends but does not read is dropped whatever the hold time.
    async fn check_send_hold(&mut self) {
        let Some(limit) = self.send_hold_time else {
            return;
        };
        let now = Instant::now();
        match self.ctx.status.stalled_since() {
            Some(since) if now.duration_since(since) >= limit => {
                let secs = limit.as_secs();
                warn!(peer = %self.addr(), send_hold_time = secs, "send hold timer expired: the peer read nothing; closing (RFC 9687)");
                self.ctx
                    .status
                    .send_hold_timer_expired
                    .fetch_add(1, Ordering::Relaxed);
                self.event(Event::SendHoldTimerExpires).await;
                self.ctx.status.update(|d| {
                    d.last_error = Some(format!(
                        "send hold timer expired: nothing written for {secs} s (RFC 9687)"
                    ))
                });
            }
            Some(since) => self.send_hold = Some(since + limit),
            None => self.send_hold = Some(now + limit),
        }
    }

    /// Queues a message of the session's own (OPEN, KEEPALIVE).
    fn send(&mut self, m: &Message) {
        let Some(c) = &self.conn else { return };
        match encode_message(m, &self.fsm.send_context()) {
            Ok(bytes) => c.writer.send(bytes),
            Err(e) => {
                // Cannot happen for Ferry's own OPEN and KEEPALIVE; a
                // connection without them would never come up.
                warn!(peer = %self.addr(), error = %e, "message not encoded; closing the connection");
                c.writer.close_with(None);
            }
        }
    }

    async fn act(&mut self, action: Action) {
        let addr = self.addr();
        match action {
            Action::InitiateConnect if self.ctx.neighbor.dynamic => {
                // An address from an allow range is never dialled.
                self.connecting = None;
            }
            Action::InitiateConnect => {
                self.connecting = Some(self.ctx.dial.connect(&self.ctx.neighbor));
            }
            Action::DropConnection => {
                self.connecting = None;
                if let Some(conn) = self.conn.take() {
                    conn.writer.close_with(None);
                }
            }
            Action::SendOpen(open) => self.send(&Message::Open(*open)),
            Action::SendKeepalive => self.send(&Message::Keepalive),
            Action::SendNotification(n) => {
                if let Some(c) = &self.conn {
                    let m = Message::Notification(n);
                    match encode_message(&m, &self.fsm.send_context()) {
                        Ok(bytes) => c.writer.close_with(Some(bytes)),
                        Err(e) => {
                            warn!(peer = %addr, error = %e, "NOTIFICATION not encoded; closing without it");
                            c.writer.close_with(None);
                        }
                    }
                }
            }
            Action::StartConnectRetryTimer => {
                self.connect_retry = deadline(self.ctx.neighbor.session.connect_retry)
            }
            Action::StopConnectRetryTimer => self.connect_retry = None,
            Action::StartHoldTimer(secs) => self.hold = deadline(secs),
            Action::StartKeepaliveTimer(secs) => self.keepalive = deadline(secs),
            Action::Established(n) => {
                self.failures = 0;
                self.send_hold_time = self.ctx.neighbor.session.send_hold_time(n.hold_time);
                self.send_hold = self.send_hold_time.map(|d| Instant::now() + d);
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
                let info = PeerInfo {
                    role: self.ctx.neighbor.session.role(),
                    asn: n.peer_as,
                    router_id: n.peer_router_id,
                    address: addr,
                    local_address,
                    families: n.families,
                    encode: n.encode_context(),
                    enhanced_refresh: n.enhanced_route_refresh,
                };
                self.ctx.status.xoff.store(false, Ordering::SeqCst);
                let writer = WriterHandle {
                    tx: conn.writer.data.clone(),
                    status: self.ctx.status.clone(),
                };
                let graceful = n.graceful_restart;
                // If the task ends without a SessionDown, the transport is
                // what failed (RFC 4724 §4.2).
                self.up = Some(graceful.filter(|gr| !gr.families.is_empty()));
                let _ = self
                    .ctx
                    .core
                    .send(CoreEvent::Up {
                        addr,
                        info,
                        writer,
                        graceful,
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
                self.up = None;
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
async fn refuse(mut stream: Stream, subcode: u8) {
    let m = Message::Notification(Notification::new(
        ferry_wire::iana::notification::CEASE,
        subcode,
        Vec::new(),
    ));
    if let Ok(n) = encode_message(&m, &EncodeContext::default()) {
        let _ = tokio::time::timeout(CLOSE_TIME, async {
            let _ = stream.write_all(&n).await;
            let _ = stream.shutdown().await;
        })
        .await;
    }
}

#[cfg(test)]
pub(crate) mod tests;
