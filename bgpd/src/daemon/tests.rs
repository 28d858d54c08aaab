//! The daemon's neighbour registry, over in-memory connections: who is
//! registered while connected, what an accepted connection is handed to,
//! what a stop and a reload leave behind.

use std::net::IpAddr;
use std::time::Duration;

use ferry_wire::iana::notification::{cease, CEASE};
use tokio::sync::mpsc;

use super::*;
use crate::fsm::State;
use crate::session::tests::peer::{peer_open, Peer, HOLD_TIME, PEER_ID};

const CONFIG: &str = r#"
router-id = "10.0.0.1"
local-as = 64512
cluster-id = "10.0.0.1"
control-socket = "/nonexistent/bgpd.sock"

[[group]]
name = "workers"
type = "internal"
peer-as = 64512
families = ["inet", "inet-vpn"]
route-reflector-client = true
passive = true
neighbors = ["10.10.93.20", "10.10.93.21"]
allow = ["10.10.93.0/24"]
"#;

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

/// A daemon without sockets: its sessions dial in-memory streams, its
/// core takes every event and does nothing with it.
struct Bed {
    daemon: Daemon,
    _dir: tempfile::TempDir,
}

impl Bed {
    fn new(text: &str) -> Bed {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bgpd.toml");
        std::fs::write(&path, text).unwrap();
        let cfg = config::load(&path).unwrap_or_else(|e| panic!("{e}"));
        let (core, mut core_rx) = mpsc::channel(CORE_QUEUE);
        tokio::spawn(async move { while core_rx.recv().await.is_some() {} });
        // Dialled connections go nowhere: the receiver is dropped, so an
        // attempt fails as a refused connection does.
        let (dialled, _) = mpsc::channel(1);
        let mut daemon = Daemon {
            config_path: path,
            config: Arc::new(std::sync::RwLock::new(Arc::new(cfg.clone()))),
            peers: Default::default(),
            core,
            sessions: JoinSet::new(),
            listeners: Vec::new(),
            bfd: BfdHandle::start(),
            dial: session::Dial::Memory {
                local: crate::session::tests::peer::LOCAL_ADDR,
                peer: dialled,
            },
        };
        for n in cfg.neighbors() {
            daemon.spawn_session(n, None);
        }
        Bed { daemon, _dir: dir }
    }

    fn registered(&self, addr: &str) -> Option<Neighbor> {
        self.daemon.peers.get(&ip(addr)).map(|n| n.clone())
    }

    /// Waits (at most 5 s) until `f` holds.
    async fn until(&self, what: &str, f: impl Fn(&Bed) -> bool) {
        for _ in 0..500 {
            if f(self) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("{what}: not within 5 s");
    }

    /// Waits until the neighbour's session is Established.
    async fn established(&self, addr: &str) {
        self.until(&format!("{addr} Established"), |b| {
            b.registered(addr)
                .is_some_and(|n| n.detail().state == State::Established)
        })
        .await;
    }

    fn rewrite(&self, text: &str) {
        std::fs::write(&self.daemon.config_path, text).unwrap();
    }
}

#[tokio::test]
async fn a_dynamic_neighbor_is_registered_while_its_connection_lasts() {
    let mut bed = Bed::new(CONFIG);
    let (stream, peer) = Peer::connection();
    accept(&mut bed.daemon, stream, ip("10.10.93.12"));
    let n = bed.registered("10.10.93.12").expect("registered on accept");
    assert!(n.config().dynamic, "from the allow range");
    assert_eq!(n.config().group, "workers");

    // Its connection ends: the neighbour is forgotten.
    drop(peer);
    bed.until("the dynamic neighbour forgotten", |b| {
        b.registered("10.10.93.12").is_none()
    })
    .await;

    // It connects again and is registered anew, up to Established.
    let (stream, mut peer) = Peer::connection();
    accept(&mut bed.daemon, stream, ip("10.10.93.12"));
    peer.establish(peer_open(HOLD_TIME, PEER_ID)).await;
    bed.established("10.10.93.12").await;
}

#[tokio::test]
async fn a_connection_from_outside_every_range_is_closed_and_not_registered() {
    let mut bed = Bed::new(CONFIG);
    let (stream, mut peer) = Peer::connection();
    accept(&mut bed.daemon, stream, ip("10.10.94.1"));
    assert!(bed.registered("10.10.94.1").is_none());
    peer.expect_closed().await;
    assert_eq!(bed.daemon.peers.len(), 2, "the two configured neighbours");
}

#[tokio::test]
async fn an_accepted_connection_goes_to_the_configured_neighbors_session() {
    let mut bed = Bed::new(CONFIG);
    let before = bed.registered("10.10.93.20").expect("configured");
    let (stream, mut peer) = Peer::connection();
    accept(&mut bed.daemon, stream, ip("10.10.93.20"));
    peer.establish(peer_open(HOLD_TIME, PEER_ID)).await;
    bed.established("10.10.93.20").await;
    let after = bed.registered("10.10.93.20").unwrap();
    assert!(
        Arc::ptr_eq(&before.status, &after.status),
        "the same registry entry, not a new neighbour"
    );
    assert!(!after.config().dynamic);
}

#[tokio::test]
async fn a_stopped_neighbor_leaves_the_registry_and_its_session_ends_with_cease() {
    let mut bed = Bed::new(CONFIG);
    let (stream, mut peer) = Peer::connection();
    accept(&mut bed.daemon, stream, ip("10.10.93.21"));
    peer.establish(peer_open(HOLD_TIME, PEER_ID)).await;
    bed.established("10.10.93.21").await;
    bed.daemon
        .stop(ip("10.10.93.21"), cease::ADMINISTRATIVE_SHUTDOWN);
    assert!(bed.registered("10.10.93.21").is_none());
    let n = peer.expect_notification_after_keepalives().await;
    assert_eq!((n.code, n.subcode), (CEASE, cease::ADMINISTRATIVE_SHUTDOWN));
    // One session task left: the other configured neighbour's.
    tokio::time::timeout(Duration::from_secs(5), bed.daemon.sessions.join_next())
        .await
        .expect("the stopped session's task ends")
        .expect("a task")
        .expect("ended without a panic");
    assert_eq!(bed.daemon.sessions.len(), 1);
}

#[tokio::test]
async fn a_reload_leaves_the_registry_as_the_new_configuration_says() {
    let mut bed = Bed::new(CONFIG);
    let before = bed.registered("10.10.93.21").unwrap();
    // A dynamic neighbour of a range the reload removes.
    let (stream, mut dynamic) = Peer::connection();
    accept(&mut bed.daemon, stream, ip("10.10.93.12"));
    dynamic.establish(peer_open(HOLD_TIME, PEER_ID)).await;
    bed.established("10.10.93.12").await;

    bed.rewrite(
        &CONFIG
            .replace(
                r#"neighbors = ["10.10.93.20", "10.10.93.21"]"#,
                r#"neighbors = ["10.10.93.21", "10.10.93.30"]"#,
            )
            .replace(r#"allow = ["10.10.93.0/24"]"#, "")
            .replace("passive = true", "passive = true\nhold-time = 30"),
    );
    let Response::Ok {
        body: Body::Reloaded(report),
    } = bed.daemon.reload().await
    else {
        panic!("the reload is refused");
    };
    let mut removed = report.removed.clone();
    removed.sort();
    assert_eq!(removed, ["10.10.93.12", "10.10.93.20"]);
    assert_eq!(report.changed, ["10.10.93.21"]);
    assert_eq!(report.added, ["10.10.93.30"]);

    assert!(bed.registered("10.10.93.20").is_none());
    assert!(bed.registered("10.10.93.12").is_none());
    let now = bed.registered("10.10.93.21").expect("still configured");
    assert!(
        !Arc::ptr_eq(&now.status, &before.status),
        "a changed neighbour is a new session"
    );
    assert_eq!(now.config().session.hold_time, 30);
    assert!(bed.registered("10.10.93.30").is_some());
    assert_eq!(bed.daemon.peers.len(), 2);

    // The dynamic neighbour was told why.
    let n = dynamic.expect_notification_after_keepalives().await;
    assert_eq!(
        (n.code, n.subcode),
        (CEASE, cease::OTHER_CONFIGURATION_CHANGE)
    );
    // And it may not come back: nothing allows it any more.
    let (stream, mut again) = Peer::connection();
    accept(&mut bed.daemon, stream, ip("10.10.93.12"));
    again.expect_closed().await;
    assert!(bed.registered("10.10.93.12").is_none());
}
