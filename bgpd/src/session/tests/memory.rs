//! The session task end to end over in-memory streams: a scripted peer
//! on the other end, the core as a channel, the clock paused.

use std::net::Ipv4Addr;
use std::time::Duration;

use ferry_rib::peer::Role;
use ferry_wire::iana::notification::{self as code, cease, header, open as open_sub};
use ferry_wire::message::Capability;
use ferry_wire::{
    AsPath, Family, FamilySet, Message, Nlri, NlriEntry, Notification, Origin, PathAttributes,
    Update,
};
use tokio::time::Instant;

use super::peer::*;
use crate::core::CoreEvent;
use crate::fsm::{State, OPEN_HOLD_TIME};
use crate::session::{PeerCommand, MEMORY_BUFFER};

/// `secs` seconds after `start`, within a timer tick.
#[track_caller]
fn assert_at(start: Instant, secs: u64) {
    let elapsed = start.elapsed();
    let want = Duration::from_secs(secs);
    assert!(
        elapsed >= want && elapsed < want + Duration::from_millis(50),
        "after {elapsed:?}, expected {want:?}"
    );
}

#[track_caller]
fn assert_notification(n: &Notification, code: u8, subcode: u8) {
    assert_eq!((n.code, n.subcode), (code, subcode), "NOTIFICATION {n}");
}

/// An IPv4 unicast UPDATE announcing `prefixes` via `next_hop`.
fn ipv4_update(prefixes: impl IntoIterator<Item = String>, next_hop: Ipv4Addr) -> Update {
    Update {
        nlri: prefixes
            .into_iter()
            .map(|p| NlriEntry::new(Nlri::Ipv4(p.parse().unwrap())))
            .collect(),
        attributes: PathAttributes {
            origin: Some(Origin::Igp),
            as_path: Some(AsPath::empty()),
            next_hop: Some(next_hop),
            local_pref: Some(100),
            ..Default::default()
        },
        ..Default::default()
    }
}

/// Lets every task run until each waits (the clock is paused, so this
/// is one timer tick of virtual time).
async fn settle() {
    tokio::time::sleep(Duration::from_millis(1)).await;
}

/// The OPEN exchange of an accepted connection: our OPEN says who we
/// are, and the core hears of the session with what was negotiated.
#[tokio::test(start_paused = true)]
async fn open_exchange_reaches_established() {
    let (mut h, mut peer) = Harness::accepted();
    let ours = peer.establish(peer_open(60, PEER_ID)).await;
    assert_eq!(ours.version, 4);
    assert_eq!(ours.asn(), AS);
    assert_eq!(ours.hold_time, HOLD_TIME);
    assert_eq!(ours.bgp_identifier, LOCAL_ID);
    let caps: Vec<&Capability> = ours.capabilities().collect();
    for family in [Family::IPV4_UNICAST, Family::EVPN] {
        assert!(caps.contains(&&Capability::Multiprotocol { family }));
    }
    assert!(caps.contains(&&Capability::FourOctetAs { asn: AS }));

    let info = h.expect_up().await;
    assert_eq!(info.asn, AS);
    assert_eq!(info.router_id, PEER_ID);
    assert_eq!(info.address, PEER_ADDR);
    assert_eq!(info.local_address, LOCAL_ADDR.ip());
    assert_eq!(info.role, Role::Client);
    // Ours are IPv4 unicast and EVPN, the peer's IPv4 unicast and VPNv4.
    assert_eq!(info.families, FamilySet::from_iter([Family::IPV4_UNICAST]));
    assert!(info.encode.four_octet_as);
    assert!(
        !info.encode.extended_message,
        "the peer did not announce it"
    );

    let d = h.status.detail();
    assert_eq!(d.state, State::Established);
    let n = d.negotiated.expect("negotiated parameters shown");
    assert_eq!((n.hold_time, n.keepalive), (60, 20));
    assert_eq!(d.local_address, Some(LOCAL_ADDR.ip()));
}

/// An UPDATE from the peer reaches the core as it was sent.
#[tokio::test(start_paused = true)]
async fn update_reaches_the_core() {
    let (mut h, mut peer) = Harness::accepted();
    peer.establish(peer_open(HOLD_TIME, PEER_ID)).await;
    h.expect_up().await;
    let sent = ipv4_update(["10.1.0.0/24".to_string()], Ipv4Addr::new(10, 10, 93, 12));
    peer.send(&Message::Update(sent.clone())).await;
    match h.core_event().await {
        CoreEvent::Update { addr, update } => {
            assert_eq!(addr, PEER_ADDR);
            assert_eq!(update.nlri, sent.nlri);
            assert_eq!(update.attributes, sent.attributes);
            assert!(update.errors.is_empty(), "{:?}", update.errors);
        }
        other => panic!("expected Update, got {other:?}"),
    }
    assert_eq!(h.status.detail().state, State::Established);
}

/// The core's UPDATEs, queued on the writer it was handed with Up, go out
/// on the connection whole and in order; once the session is down the
/// writer takes no more.
#[tokio::test(start_paused = true)]
async fn the_cores_updates_reach_the_peer() {
    let (mut h, mut peer) = Harness::accepted();
    peer.establish(peer_open(HOLD_TIME, PEER_ID)).await;
    let (info, writer) = h.expect_up_with_writer().await;
    let updates: Vec<Update> = (0..3u8)
        .map(|i| ipv4_update([format!("10.2.{i}.0/24")], Ipv4Addr::new(10, 10, 93, 1)))
        .collect();
    let batch = updates
        .iter()
        .map(|u| Message::Update(u.clone()).to_bytes(&info.encode).unwrap())
        .collect();
    assert!(writer.send(batch));
    for sent in &updates {
        let got = peer.expect_update().await;
        assert_eq!(got.nlri, sent.nlri);
        assert_eq!(got.attributes, sent.attributes);
    }
    settle().await;
    assert_eq!(writer.queued_octets(), 0);
    drop(peer);
    h.expect_down().await;
    settle().await;
    assert!(
        !writer.send(Vec::new()),
        "the writer outlived its connection"
    );
}

/// A message header the framing rejects (RFC 4271 §6.1) on an
/// Established session: the NOTIFICATION with the offending field as its
/// data, the connection closed, the core told.
#[tokio::test(start_paused = true)]
async fn bad_header_is_answered_and_ends_the_session() {
    let keepalive = |len: u16| {
        let mut m = vec![0xff; 16];
        m.extend_from_slice(&len.to_be_bytes());
        m.push(4);
        m
    };
    // Seen before the header is complete: the session does not wait for
    // the rest.
    let bad_marker = vec![0xff, 0xff, 0xff, 0x00, 0xff];
    let mut long = keepalive(4097);
    long.resize(4097, 0);
    let cases: [(&str, Vec<u8>, u8, Vec<u8>); 4] = [
        (
            "bad marker",
            bad_marker,
            header::CONNECTION_NOT_SYNCHRONIZED,
            vec![],
        ),
        (
            "length 18",
            keepalive(18),
            header::BAD_MESSAGE_LENGTH,
            vec![0, 18],
        ),
        // Extended messages were not negotiated.
        (
            "length 4097",
            long,
            header::BAD_MESSAGE_LENGTH,
            vec![0x10, 0x01],
        ),
        (
            "KEEPALIVE of 20",
            {
                let mut m = keepalive(20);
                m.push(0);
                m
            },
            header::BAD_MESSAGE_LENGTH,
            vec![0, 20],
        ),
    ];
    for (what, bytes, subcode, data) in cases {
        let (mut h, mut peer) = Harness::accepted();
        peer.establish(peer_open(HOLD_TIME, PEER_ID)).await;
        h.expect_up().await;
        peer.send_raw(&bytes).await;
        let n = peer.expect_notification().await;
        assert_notification(&n, code::MESSAGE_HEADER_ERROR, subcode);
        assert_eq!(n.data, data, "{what}");
        h.expect_down().await;
        h.ended().await;
        assert_eq!(h.status.detail().state, State::Idle, "{what}");
    }
}

/// An OPEN the session cannot accept (RFC 4271 §6.2) gets its OPEN
/// Message Error; the session never came up, so the core hears nothing.
#[tokio::test(start_paused = true)]
async fn bad_open_is_answered() {
    let encode = |open: ferry_wire::Open| {
        Message::Open(open)
            .to_bytes(&ferry_wire::EncodeContext::default())
            .unwrap()
            .to_vec()
    };
    let mut version_3 = encode(peer_open(HOLD_TIME, PEER_ID));
    version_3[19] = 3;
    let wrong_as = ferry_wire::Open::new(
        AS + 1,
        HOLD_TIME,
        PEER_ID,
        vec![Capability::FourOctetAs { asn: AS + 1 }],
    );
    let cases: [(&str, Vec<u8>, u8, Vec<u8>); 4] = [
        (
            "version 3",
            version_3,
            open_sub::UNSUPPORTED_VERSION_NUMBER,
            vec![0, 4],
        ),
        (
            "hold time 2",
            encode(peer_open(2, PEER_ID)),
            open_sub::UNACCEPTABLE_HOLD_TIME,
            vec![],
        ),
        ("wrong AS", encode(wrong_as), open_sub::BAD_PEER_AS, vec![]),
        (
            "our identifier",
            encode(peer_open(HOLD_TIME, LOCAL_ID)),
            open_sub::BAD_BGP_IDENTIFIER,
            vec![],
        ),
    ];
    for (what, bytes, subcode, data) in cases {
        let (mut h, mut peer) = Harness::accepted();
        peer.expect_open().await;
        peer.send_raw(&bytes).await;
        let n = peer.expect_notification().await;
        assert_notification(&n, code::OPEN_MESSAGE_ERROR, subcode);
        assert_eq!(n.data, data, "{what}");
        h.ended().await;
        assert!(h.core.try_recv().is_err(), "{what}: the core heard of it");
        assert!(
            h.last_error().contains("sent"),
            "{what}: {}",
            h.last_error()
        );
    }
}

/// A silent peer: KEEPALIVEs every third of the hold time, then Hold
/// Timer Expired when the hold time has passed without a message.
#[tokio::test(start_paused = true)]
async fn hold_timer_expires() {
    let (mut h, mut peer) = Harness::accepted();
    peer.establish(peer_open(HOLD_TIME, PEER_ID)).await;
    h.expect_up().await;
    let start = Instant::now();
    peer.expect_keepalive().await;
    assert_at(start, 30);
    peer.expect_keepalive().await;
    assert_at(start, 60);
    let n = peer.expect_notification().await;
    assert_at(start, 90);
    assert_notification(&n, code::HOLD_TIMER_EXPIRED, 0);
    h.expect_down().await;
    h.ended().await;
}

/// Before the peer's OPEN the hold timer is the large one of RFC 4271
/// §8.2.2 (4 minutes).
#[tokio::test(start_paused = true)]
async fn hold_timer_expires_waiting_for_open() {
    let (mut h, mut peer) = Harness::accepted();
    peer.expect_open().await;
    let start = Instant::now();
    let n = peer.expect_notification().await;
    assert_at(start, OPEN_HOLD_TIME as u64);
    assert_notification(&n, code::HOLD_TIMER_EXPIRED, 0);
    h.ended().await;
    assert!(h.core.try_recv().is_err());
}

/// The KEEPALIVE interval is a third of the negotiated hold time (the
/// peer's 9 s, lower than our 90 s), and a peer that keeps talking keeps
/// the session up.
#[tokio::test(start_paused = true)]
async fn keepalives_at_the_negotiated_interval() {
    let (mut h, mut peer) = Harness::accepted();
    peer.establish(peer_open(9, PEER_ID)).await;
    h.expect_up().await;
    let start = Instant::now();
    for i in 1..=10 {
        peer.expect_keepalive().await;
        assert_at(start, 3 * i);
        peer.send(&Message::Keepalive).await;
    }
    assert_eq!(h.status.detail().state, State::Established);
    assert!(h.core.try_recv().is_err(), "no Down");
}

/// RFC 9687: a peer that keeps its session up but reads nothing. Once the
/// connection's buffer is full, the writer makes no progress; after the
/// SendHoldTime (20 s here) the session is closed (Send Hold Timer
/// Expired, best effort), the core told, the expiry counted.
#[tokio::test(start_paused = true)]
async fn send_hold_timer_drops_a_peer_that_reads_nothing() {
    let (stream, mut peer) = Peer::connection();
    let mut n = neighbor(true, false);
    n.session.send_hold_time = Some(20);
    let mut h = Harness::start(n, Some(stream));
    peer.establish(peer_open(HOLD_TIME, PEER_ID)).await;
    let (info, writer) = h.expect_up_with_writer().await;
    let update = ipv4_update(
        (0..200u32).map(|i| format!("10.{}.{}.0/24", i / 256, i % 256)),
        Ipv4Addr::new(10, 10, 93, 1),
    );
    let bytes = Message::Update(update).to_bytes(&info.encode).unwrap();
    // Twice the connection's buffer: the writer stalls with output left.
    let copies = 2 * MEMORY_BUFFER / bytes.len() + 1;
    assert!(writer.send(vec![bytes; copies]));
    let start = Instant::now();
    // The peer talks (its KEEPALIVEs keep our hold timer running) but
    // never reads.
    peer.send(&Message::Keepalive).await;
    h.expect_down().await;
    let elapsed = start.elapsed();
    assert!(
        elapsed >= Duration::from_secs(20) && elapsed < Duration::from_secs(21),
        "down after {elapsed:?}, expected the 20 s SendHoldTime"
    );
    assert_eq!(
        h.status
            .send_hold_timer_expired
            .load(std::sync::atomic::Ordering::Relaxed),
        1
    );
    assert!(
        h.last_error().contains("send hold timer expired"),
        "{}",
        h.last_error()
    );
    assert_ne!(h.status.detail().state, State::Established);
}

/// Stopping the session: Cease / Administrative Shutdown on the wire, the
/// core told, the task ended (a configured neighbour's task ends only
/// when stopped).
#[tokio::test(start_paused = true)]
async fn stop_sends_administrative_shutdown() {
    let (stream, mut peer) = Peer::connection();
    let mut h = Harness::start(neighbor(false, true), Some(stream));
    peer.establish(peer_open(HOLD_TIME, PEER_ID)).await;
    h.expect_up().await;
    h.commands
        .send(PeerCommand::Stop(cease::ADMINISTRATIVE_SHUTDOWN))
        .await
        .unwrap();
    let n = peer.expect_notification().await;
    assert_notification(&n, code::CEASE, cease::ADMINISTRATIVE_SHUTDOWN);
    h.expect_down().await;
    h.ended().await;
    assert_eq!(h.status.detail().state, State::Idle);
}

/// The peer closing the connection ends the session; a dynamic
/// neighbour's task ends with it.
#[tokio::test(start_paused = true)]
async fn peer_closing_the_connection_ends_the_session() {
    let (mut h, mut peer) = Harness::accepted();
    peer.establish(peer_open(HOLD_TIME, PEER_ID)).await;
    h.expect_up().await;
    drop(peer);
    h.expect_down().await;
    h.ended().await;
    assert_eq!(h.last_error(), "connection closed by peer");
}

/// A NOTIFICATION from the peer ends the session without an answer.
#[tokio::test(start_paused = true)]
async fn notification_from_the_peer_ends_the_session() {
    let (mut h, mut peer) = Harness::accepted();
    peer.establish(peer_open(HOLD_TIME, PEER_ID)).await;
    h.expect_up().await;
    let n = Notification::new(code::CEASE, cease::ADMINISTRATIVE_RESET, Vec::new());
    peer.send(&Message::Notification(n)).await;
    peer.expect_closed().await;
    h.expect_down().await;
    h.ended().await;
    assert!(h.last_error().starts_with("received"), "{}", h.last_error());
}

/// A configured passive neighbour outlives its connection: after the peer
/// closes it, the session takes the peer's next connection.
#[tokio::test(start_paused = true)]
async fn a_configured_neighbor_takes_the_next_connection() {
    let (stream, mut peer) = Peer::connection();
    let mut h = Harness::start(neighbor(false, true), Some(stream));
    peer.establish(peer_open(HOLD_TIME, PEER_ID)).await;
    h.expect_up().await;
    drop(peer);
    h.expect_down().await;
    // Back to Active after its back-off, waiting for the peer.
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(h.status.detail().state, State::Active);
    assert!(!h.task.is_finished());
    let (stream, mut peer) = Peer::connection();
    h.commands
        .send(PeerCommand::Incoming(stream))
        .await
        .unwrap();
    peer.establish(peer_open(HOLD_TIME, PEER_ID)).await;
    h.expect_up().await;
}

/// An active neighbour is dialled, comes up, and is dialled again after a
/// back-off of 1 s once the connection fails.
#[tokio::test(start_paused = true)]
async fn an_active_session_dials_and_redials() {
    let mut h = Harness::start(neighbor(false, false), None);
    let mut peer = h.next_dial().await;
    peer.establish(peer_open(HOLD_TIME, PEER_ID)).await;
    let info = h.expect_up().await;
    assert_eq!(info.local_address, LOCAL_ADDR.ip());
    drop(peer);
    h.expect_down().await;
    let down = Instant::now();
    let mut peer = h.next_dial().await;
    assert_at(down, 1);
    peer.establish(peer_open(HOLD_TIME, PEER_ID)).await;
    h.expect_up().await;
}

/// A connection that fails before the peer's OPEN is dialled again
/// after the ConnectRetry time (Active, RFC 4271 §8.2.2); a refused
/// attempt is shown and retried.
#[tokio::test(start_paused = true)]
async fn failed_dials_are_retried() {
    let mut h = Harness::start(neighbor(false, false), None);
    let mut peer = h.next_dial().await;
    peer.expect_open().await;
    drop(peer);
    let failed = Instant::now();
    let peer = h.next_dial().await;
    assert_at(failed, 30);
    drop(peer);
    // Nobody answers any more: refused.
    h.dialled.close();
    tokio::time::sleep(Duration::from_secs(60)).await;
    assert_eq!(h.last_error(), "connect: connection refused");
    assert_ne!(h.status.detail().state, State::Established);
    assert!(!h.task.is_finished());
}

/// RFC 4271 §6.8, a connection accepted while ours waits for the peer's
/// OPEN: the peer's identifier is higher, so its connection wins; ours
/// is closed with Cease / Connection Collision Resolution.
#[tokio::test(start_paused = true)]
async fn collision_won_by_the_peer() {
    let mut h = Harness::start(neighbor(false, false), None);
    let mut ours = h.next_dial().await;
    ours.expect_open().await;
    let (stream, mut theirs) = Peer::connection();
    h.commands
        .send(PeerCommand::Incoming(stream))
        .await
        .unwrap();
    // The session holds it, OpenSent, until the OPEN tells who wins.
    settle().await;
    ours.send(&Message::Open(peer_open(HOLD_TIME, PEER_ID)))
        .await;
    // The OPEN was answered (a KEEPALIVE, unless the close overtook it).
    let n = ours.expect_notification_after_keepalives().await;
    assert_notification(&n, code::CEASE, cease::CONNECTION_COLLISION_RESOLUTION);
    theirs.establish(peer_open(HOLD_TIME, PEER_ID)).await;
    let info = h.expect_up().await;
    assert_eq!(info.router_id, PEER_ID);
    assert!(h.core.try_recv().is_err(), "one Up, no Down");
}

/// The collision seen in OpenConfirm: our identifier is higher, so our
/// connection stays and the peer's is refused.
#[tokio::test(start_paused = true)]
async fn collision_won_by_us() {
    let lower = Ipv4Addr::new(9, 0, 0, 1);
    let mut h = Harness::start(neighbor(false, false), None);
    let mut ours = h.next_dial().await;
    ours.expect_open().await;
    ours.send(&Message::Open(peer_open(HOLD_TIME, lower))).await;
    ours.expect_keepalive().await;
    let (stream, mut theirs) = Peer::connection();
    h.commands
        .send(PeerCommand::Incoming(stream))
        .await
        .unwrap();
    let n = theirs.expect_notification().await;
    assert_notification(&n, code::CEASE, cease::CONNECTION_COLLISION_RESOLUTION);
    ours.send(&Message::Keepalive).await;
    let info = h.expect_up().await;
    assert_eq!(info.router_id, lower);
}

/// A connection from an Established peer is refused; the session stays.
#[tokio::test(start_paused = true)]
async fn a_connection_colliding_with_established_is_refused() {
    let (mut h, mut peer) = Harness::accepted();
    peer.establish(peer_open(9, PEER_ID)).await;
    h.expect_up().await;
    let (stream, mut second) = Peer::connection();
    h.commands
        .send(PeerCommand::Incoming(stream))
        .await
        .unwrap();
    let n = second.expect_notification().await;
    assert_notification(&n, code::CEASE, cease::CONNECTION_COLLISION_RESOLUTION);
    // The first connection carries on.
    peer.expect_keepalive().await;
    assert_eq!(h.status.detail().state, State::Established);
    assert!(h.core.try_recv().is_err(), "no Down");
}
