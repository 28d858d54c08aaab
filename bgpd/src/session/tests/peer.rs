//! A session task over in-memory streams, and the scripted peer at the
//! other end: messages encoded and decoded with `ferry_wire`, the core's
//! side as a plain channel.
//!
//! The tests run with the clock paused (`start_paused`): timers fire as
//! soon as every task waits, so a 90 s hold time takes no real time, and
//! the times the peer sees are exact.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use ferry_rib::peer::PeerInfo;
use ferry_wire::context::MAX_EXTENDED_MESSAGE_LEN;
use ferry_wire::message::Capability;
use ferry_wire::{
    frame_length, DecodeContext, EncodeContext, Family, FamilySet, Message, Notification, Open,
    Update,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::config::{NeighborConfig, PeerType, SessionSettings};
use crate::core::CoreEvent;
use crate::negotiate::LocalParams;
use crate::peer_status::PeerStatus;
use crate::session::{
    run, Dial, PeerCommand, SessionContext, Stream, WriterHandle, COMMAND_QUEUE, MEMORY_BUFFER,
};

pub const AS: u32 = 64512;
pub const LOCAL_ID: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
/// The peer's identifier: higher than ours.
pub const PEER_ID: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 2);
pub const PEER_ADDR: IpAddr = IpAddr::V4(Ipv4Addr::new(10, 10, 93, 12));
/// Our end of every in-memory connection.
pub const LOCAL_ADDR: SocketAddr = SocketAddr::new(IpAddr::V4(Ipv4Addr::new(10, 10, 93, 1)), 179);
pub const HOLD_TIME: u16 = 90;

/// Longer than any timer of a test: with the clock paused, a session that
/// never answers fails the test instead of hanging it.
const PATIENCE: Duration = Duration::from_secs(3600);

/// An iBGP route-reflector client carrying IPv4 unicast and EVPN.
/// `dynamic`: accepted from an allow range (its task ends with its
/// connection); otherwise configured, dialled unless `passive`.
pub fn neighbor(dynamic: bool, passive: bool) -> NeighborConfig {
    NeighborConfig {
        address: PEER_ADDR,
        group: "workers".into(),
        dynamic,
        session: SessionSettings {
            peer_type: PeerType::Internal,
            peer_as: AS,
            local_address: None,
            families: vec![Family::IPV4_UNICAST, Family::EVPN],
            route_reflector_client: true,
            hold_time: HOLD_TIME,
            connect_retry: 30,
            passive,
            peer_port: 179,
            authentication_key: None,
            ttl_security: None,
            send_hold_time: None,
            prefix_limits: Vec::new(),
            bfd: None,
        },
    }
}

/// The OPEN of a peer with `id`, announcing IPv4 unicast and VPNv4.
pub fn peer_open(hold_time: u16, id: Ipv4Addr) -> Open {
    Open::new(
        AS,
        hold_time,
        id,
        vec![
            Capability::Multiprotocol {
                family: Family::IPV4_UNICAST,
            },
            Capability::Multiprotocol {
                family: Family::VPNV4,
            },
            Capability::RouteRefresh,
            Capability::FourOctetAs { asn: AS },
        ],
    )
}

/// A session task, and what the daemon and the core would hold of it.
pub struct Harness {
    pub core: mpsc::Receiver<CoreEvent>,
    pub commands: mpsc::Sender<PeerCommand>,
    pub status: Arc<PeerStatus>,
    /// The peer's ends of the connections the session dials.
    pub dialled: mpsc::Receiver<DuplexStream>,
    pub task: JoinHandle<()>,
}

impl Harness {
    /// Starts a session for `n`, on `accepted` if given (a connection the
    /// listener took), dialling in memory.
    pub fn start(n: NeighborConfig, accepted: Option<Stream>) -> Harness {
        let (core_tx, core) = mpsc::channel(64);
        let (commands, mut rx) = mpsc::channel(COMMAND_QUEUE);
        let (dial_tx, dialled) = mpsc::channel(4);
        let status = Arc::new(PeerStatus::new(n.clone()));
        let ctx = SessionContext {
            local: LocalParams {
                asn: AS,
                router_id: LOCAL_ID,
                hold_time: n.session.hold_time,
                families: n.session.families.iter().copied().collect(),
                peer_as: n.session.peer_as,
                graceful_restart_time: None,
            },
            neighbor: n,
            status: status.clone(),
            core: core_tx,
            dial: Dial::Memory {
                local: LOCAL_ADDR,
                peer: dial_tx,
            },
        };
        let task = tokio::spawn(async move { run(ctx, &mut rx, accepted).await });
        Harness {
            core,
            commands,
            status,
            dialled,
            task,
        }
    }

    /// A dynamic neighbour's session on a connection it accepted, and the
    /// peer at the other end.
    pub fn accepted() -> (Harness, Peer) {
        let (stream, peer) = Peer::connection();
        (Harness::start(neighbor(true, false), Some(stream)), peer)
    }

    /// The peer's end of the session's next connection attempt.
    pub async fn next_dial(&mut self) -> Peer {
        let io = tokio::time::timeout(PATIENCE, self.dialled.recv())
            .await
            .expect("the session dials")
            .expect("dial channel open");
        Peer::new(io)
    }

    /// The next event the core hears.
    pub async fn core_event(&mut self) -> CoreEvent {
        tokio::time::timeout(PATIENCE, self.core.recv())
            .await
            .expect("an event for the core")
            .expect("core channel open")
    }

    /// The core hears that the session is up: what it says of the peer.
    pub async fn expect_up(&mut self) -> PeerInfo {
        self.expect_up_with_writer().await.0
    }

    /// Like [`Harness::expect_up`], with the writer the core is handed.
    pub async fn expect_up_with_writer(&mut self) -> (PeerInfo, WriterHandle) {
        match self.core_event().await {
            CoreEvent::Up {
                addr, info, writer, ..
            } => {
                assert_eq!(addr, PEER_ADDR);
                (info, writer)
            }
            other => panic!("expected Up, got {other:?}"),
        }
    }

    /// The core hears that the session is down (without graceful restart).
    pub async fn expect_down(&mut self) {
        match self.core_event().await {
            CoreEvent::Down { addr, graceful } => {
                assert_eq!(addr, PEER_ADDR);
                assert_eq!(graceful, None);
            }
            other => panic!("expected Down, got {other:?}"),
        }
    }

    /// Waits for the session task to end.
    pub async fn ended(&mut self) {
        tokio::time::timeout(PATIENCE, &mut self.task)
            .await
            .expect("the session task ends")
            .expect("the session task did not panic");
    }

    pub fn last_error(&self) -> String {
        self.status.detail().last_error.unwrap_or_default()
    }
}

/// The scripted neighbour: one end of an in-memory connection.
pub struct Peer {
    io: DuplexStream,
    buf: BytesMut,
    /// How the peer reads what the session sends: 4-octet AS numbers, and
    /// messages up to 65535 octets so that an oversized one is seen whole.
    decode: DecodeContext,
}

impl Peer {
    fn new(io: DuplexStream) -> Peer {
        Peer {
            io,
            buf: BytesMut::new(),
            decode: DecodeContext {
                four_octet_as: true,
                add_path: FamilySet::EMPTY,
                extended_message: true,
            },
        }
    }

    /// A connection as the listener would hand it to the session, and
    /// the peer at its other end.
    pub fn connection() -> (Stream, Peer) {
        let (ours, theirs) = tokio::io::duplex(MEMORY_BUFFER);
        let stream = Stream::Memory {
            stream: ours,
            local: LOCAL_ADDR,
        };
        (stream, Peer::new(theirs))
    }

    pub async fn send(&mut self, m: &Message) {
        let bytes = m.to_bytes(&EncodeContext::default()).expect("encodable");
        self.send_raw(&bytes).await;
    }

    pub async fn send_raw(&mut self, bytes: &[u8]) {
        self.io.write_all(bytes).await.expect("the session reads");
    }

    /// The next whole message the session wrote, or `None` once it closed
    /// the connection.
    pub async fn recv_raw(&mut self) -> Option<Bytes> {
        tokio::time::timeout(PATIENCE, async {
            loop {
                match frame_length(&self.buf, MAX_EXTENDED_MESSAGE_LEN) {
                    Ok(Some(len)) => return Some(self.buf.split_to(len).freeze()),
                    Ok(None) => {}
                    Err(e) => panic!("the session wrote a bad frame: {e}"),
                }
                let n = self.io.read_buf(&mut self.buf).await.unwrap_or(0);
                if n == 0 {
                    assert!(self.buf.is_empty(), "closed inside a message");
                    return None;
                }
            }
        })
        .await
        .expect("the session writes or closes")
    }

    /// The next message the session wrote; `None` once it closed.
    pub async fn recv(&mut self) -> Option<Message> {
        let bytes = self.recv_raw().await?;
        Some(Message::decode(&bytes, &self.decode).expect("the session's message decodes"))
    }

    pub async fn expect_open(&mut self) -> Open {
        match self.recv().await {
            Some(Message::Open(o)) => o,
            other => panic!("expected OPEN, got {other:?}"),
        }
    }

    pub async fn expect_keepalive(&mut self) {
        match self.recv().await {
            Some(Message::Keepalive) => {}
            other => panic!("expected KEEPALIVE, got {other:?}"),
        }
    }

    pub async fn expect_update(&mut self) -> Update {
        match self.recv().await {
            Some(Message::Update(u)) => u,
            other => panic!("expected UPDATE, got {other:?}"),
        }
    }

    /// The session's NOTIFICATION, and then the end of the connection.
    pub async fn expect_notification(&mut self) -> Notification {
        let n = match self.recv().await {
            Some(Message::Notification(n)) => n,
            other => panic!("expected NOTIFICATION, got {other:?}"),
        };
        self.expect_closed().await;
        n
    }

    /// Like [`Peer::expect_notification`], with KEEPALIVEs before it.
    pub async fn expect_notification_after_keepalives(&mut self) -> Notification {
        loop {
            match self.recv().await {
                Some(Message::Keepalive) => {}
                Some(Message::Notification(n)) => {
                    self.expect_closed().await;
                    return n;
                }
                other => panic!("expected NOTIFICATION, got {other:?}"),
            }
        }
    }

    /// The session closed the connection, with nothing more written.
    pub async fn expect_closed(&mut self) {
        if let Some(m) = self.recv_raw().await {
            panic!("expected the connection closed, got {m:?}");
        }
    }

    /// The OPEN exchange up to Established: reads the session's OPEN,
    /// answers with `open` and a KEEPALIVE, and reads the session's
    /// KEEPALIVE. Returns the session's OPEN.
    pub async fn establish(&mut self, open: Open) -> Open {
        let ours = self.expect_open().await;
        self.send(&Message::Open(open)).await;
        self.expect_keepalive().await;
        self.send(&Message::Keepalive).await;
        ours
    }
}
